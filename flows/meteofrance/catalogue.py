"""The Météo-France products we fetch: model, grid, package, run → group files, URLs, lake keys.

A *product* is one package of one model grid at one run hour (`arpege/01/SP1/00`); each run
of it is published as a handful of *group* files, each holding a range of forecast steps.
The object store names them `{model}__{grid}__{PKG}__{GROUP}__{RUN}.grib2`; the portail-api
serves byte-identical copies behind an API key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote, urlencode

from flows.errors import CatalogueError
from flows.lake import run_label, run_segment
from flows.meteofrance.grib import (
    RH2M,
    SSRD,
    T2M,
    TP,
    U10,
    V10,
    ExpectedContent,
    Grid,
    ParamKey,
)
from flows.settings import Settings


@dataclass(frozen=True)
class ModelGrid:
    """One model on one grid: its runs, group files, size and portail-api names."""

    model: str
    grid: str
    runs: tuple[int, ...]
    groups: tuple[str, ...]
    shape: tuple[int, int]  # (Ni, Nj) points along longitude, latitude
    bounds: tuple[
        float, float, float, float
    ]  # first lat, first lon, last lat, last lon (-180..180)
    hourly_until: int | None  # beyond this step only every third hour is guaranteed
    api_service: str
    api_model: str
    api_grid: str
    api_product: str

    @property
    def key(self) -> str:
        return f"{self.model}/{self.grid}"


def _hour_groups(last: int) -> tuple[str, ...]:
    return tuple(f"{h:02d}H" for h in range(last + 1))


MODEL_GRIDS: dict[str, ModelGrid] = {
    g.key: g
    for g in (
        ModelGrid(
            "arpege",
            "01",
            (0, 6, 12, 18),
            ("000H012H", "013H024H", "025H036H", "037H048H", "049H060H")
            + ("061H072H", "073H084H", "085H096H", "097H102H"),
            (741, 521),
            (72.0, -32.0, 20.0, 42.0),
            48,
            "DPPaquetARPEGE",
            "ARPEGE",
            "0.1",
            "productARP",
        ),
        ModelGrid(
            "arpege",
            "025",
            (0, 6, 12, 18),
            ("000H024H", "025H048H", "049H072H", "073H102H"),
            (1440, 721),
            (90.0, 0.0, -90.0, -0.25),
            48,
            "DPPaquetARPEGE",
            "ARPEGE",
            "0.25",
            "productARP",
        ),
        ModelGrid(
            "arome",
            "0025",
            tuple(range(0, 24, 3)),
            ("00H06H", "07H12H", "13H18H", "19H24H", "25H30H", "31H36H", "37H42H")
            + ("43H48H", "49H51H"),
            (1121, 717),
            (55.4, -12.0, 37.5, 16.0),
            None,
            "DPPaquetAROME",
            "AROME",
            "0.025",
            "productARO",
        ),
        ModelGrid(
            "arome",
            "001",
            tuple(range(0, 24, 3)),
            _hour_groups(51),
            (2801, 1791),
            (55.4, -12.0, 37.5, 16.0),
            None,
            "DPPaquetAROME",
            "AROME",
            "0.01",
            "productARO",
        ),
    )
}

PACKAGES = ("SP1", "SP2", "SP3", "IP1", "IP2", "IP3", "IP4", "IP5", "HP1", "HP2", "HP3")
_GROUP = re.compile(r"^(\d+)H(?:(\d+)H)?$")


def group_range(group: str) -> tuple[int, int]:
    """First and last forecast step (hours) a group file covers: `013H024H` → (13, 24)."""
    match = _GROUP.match(group)
    if not match:
        raise CatalogueError(f"not a forecast group name: {group!r}")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else first
    return first, last


def group_steps(model_grid: ModelGrid, group: str) -> tuple[int, ...]:
    """The steps a group file must hold: hourly, then every third hour past `hourly_until`."""
    first, last = group_range(group)
    cut = model_grid.hourly_until
    return tuple(h for h in range(first, last + 1) if cut is None or h <= cut or h % 3 == 0)


@dataclass(frozen=True)
class Product:
    """One package of one model grid at one run hour, written `arpege/01/SP1/00`."""

    model: str
    grid: str
    package: str
    run_hour: int

    @classmethod
    def parse(cls, text: str) -> Product:
        """A product from its `model/grid/package/run hour` name, checked against the catalogue."""
        parts = text.strip().strip("/").split("/")
        if len(parts) != 4:
            raise CatalogueError(
                f"product {text!r}: expected model/grid/package/run hour, e.g. arpege/01/SP1/00"
            )
        model, grid, package, hour = parts
        model_grid = MODEL_GRIDS.get(f"{model.lower()}/{grid}")
        if model_grid is None:
            raise CatalogueError(
                f"product {text!r}: unknown model/grid; known: {', '.join(MODEL_GRIDS)}"
            )
        if package.upper() not in PACKAGES:
            raise CatalogueError(f"product {text!r}: unknown package; known: {', '.join(PACKAGES)}")
        if not hour.isdigit() or int(hour) not in model_grid.runs:
            runs = ", ".join(f"{h:02d}" for h in model_grid.runs)
            raise CatalogueError(f"product {text!r}: {model_grid.key} runs only at {runs} UTC")
        return cls(model_grid.model, model_grid.grid, package.upper(), int(hour))

    @property
    def name(self) -> str:
        return f"{self.model}/{self.grid}/{self.package}/{self.run_hour:02d}"

    @property
    def model_grid(self) -> ModelGrid:
        return MODEL_GRIDS[f"{self.model}/{self.grid}"]

    @property
    def model_grid_key(self) -> str:
        return self.model_grid.key

    def run_time(self, day: date) -> datetime:
        """The nominal (UTC) time of this product's run on a day."""
        return datetime.combine(day, time(self.run_hour), tzinfo=UTC)

    def __str__(self) -> str:
        return self.name


def products_from_settings(settings: Settings, names: list[str] | None = None) -> list[Product]:
    """The configured products (or the given names), parsed, in order, without duplicates."""
    products: list[Product] = []
    for text in names if names is not None else settings.meteofrance_products:
        product = Product.parse(text)
        if product not in products:
            products.append(product)
    if not products:
        raise CatalogueError("no Météo-France product configured (AGGREGAT_METEOFRANCE_PRODUCTS)")
    return products


def expected_shape(settings: Settings, model_grid: ModelGrid) -> tuple[int, int]:
    """The grid size files must have: the real one unless the settings override it."""
    text = settings.meteofrance_grid_shapes.get(model_grid.key)
    if text is None:
        return model_grid.shape
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match:
        raise CatalogueError(
            f"grid shape override for {model_grid.key}: {text!r} is not NIxNJ (e.g. 741x521)"
        )
    return int(match.group(1)), int(match.group(2))


def expected_grid(settings: Settings, model_grid: ModelGrid) -> Grid:
    """The grid files must be on: the real one, or the same domain at an overridden size."""
    ni, nj = expected_shape(settings, model_grid)
    lat_first, lon_first, lat_last, lon_last = model_grid.bounds
    if lon_last < lon_first:
        # A global grid wraps: its last longitude is one step short of the first plus 360.
        di = 360.0 / ni
        lon_last = (lon_first + 360.0 - di + 180.0) % 360.0 - 180.0
    else:
        di = (lon_last - lon_first) / (ni - 1)
    return Grid(
        ni=ni,
        nj=nj,
        lat_first=lat_first,
        lon_first=lon_first,
        lat_last=lat_last,
        lon_last=lon_last,
        di=di,
        dj=(lat_first - lat_last) / (nj - 1),
    )


# Fields every file of a package must carry. Accumulations are absent at step 0, hence
# "optional per step".
ACCUMULATED = frozenset({TP, SSRD})
EXPECTED_PARAMS: dict[tuple[str, str], frozenset[ParamKey]] = {
    ("arpege", "SP1"): frozenset({T2M, RH2M, U10, V10, TP, SSRD}),
    ("arome", "SP1"): frozenset({T2M, RH2M, U10, V10, TP}),
}


def expected_content(settings: Settings, file: GroupFile) -> ExpectedContent:
    """What a group file must hold to be archived: its run, steps, fields and grid."""
    product = file.product
    params = EXPECTED_PARAMS.get((product.model, product.package), frozenset())
    return ExpectedContent(
        steps=frozenset(float(s) for s in file.steps),
        params=params,
        per_step_optional=params & ACCUMULATED,
        grid=expected_grid(settings, product.model_grid),
        run_time=file.run_time,
    )


def stamp(run_time: datetime) -> str:
    """The source's run stamp, `2026-05-11T00:00:00Z`."""
    return run_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class GroupFile:
    """One group file of one product run: where it is published and what it must hold."""

    product: Product
    run_time: datetime
    group: str

    @property
    def file_name(self) -> str:
        p = self.product
        return f"{p.model}__{p.grid}__{p.package}__{self.group}__{stamp(self.run_time)}.grib2"

    @property
    def object_path(self) -> str:
        """The path below the bucket's base URL, unquoted."""
        p = self.product
        return f"{stamp(self.run_time)}/{p.model}/{p.grid}/{p.package}/{self.file_name}"

    @property
    def steps(self) -> tuple[int, ...]:
        return group_steps(self.product.model_grid, self.group)

    @property
    def label(self) -> str:
        return f"{self.product.name} {run_label(self.run_time)} {self.group}"


def bucket_url(base_url: str, file: GroupFile) -> str:
    """The public object URL; `:` in the keys is percent-encoded like S3 clients do."""
    return f"{base_url.rstrip('/')}/{quote(file.object_path, safe='/')}"


def api_url(api_base_url: str, file: GroupFile) -> str:
    """The portail-api URL of the same file (needs the `apikey` header)."""
    g = file.product.model_grid
    path = (
        f"{g.api_service}/v1/models/{g.api_model}/grids/{g.api_grid}"
        f"/packages/{file.product.package}/{g.api_product}"
    )
    query = urlencode(
        {"referencetime": stamp(file.run_time), "time": file.group, "format": "grib2"}
    )
    return f"{api_base_url.rstrip('/')}/{path}?{query}"


def source_request(settings: Settings, file: GroupFile) -> tuple[str, dict[str, str]]:
    """URL and headers to fetch a file: the portail-api when a key is configured, else the bucket."""
    if settings.meteofrance_api_key is not None:
        key = settings.meteofrance_api_key.get_secret_value()
        return api_url(settings.meteofrance_api_base_url, file), {"apikey": key}
    return bucket_url(settings.meteofrance_base_url, file), {}


def group_files(settings: Settings, product: Product, day: date) -> list[GroupFile]:
    """The group files of a product's run on a day, within the configured horizon, in order."""
    horizon = settings.meteofrance_horizon_hours
    run_time = product.run_time(day)
    return [
        GroupFile(product, run_time, group)
        for group in product.model_grid.groups
        if horizon is None or group_range(group)[0] <= horizon
    ]


def lake_key(file: GroupFile) -> str:
    """Where the raw file is archived: `raw/meteofrance/<model>/<grid>/<package>/run=<RUN>/<name>`."""
    return f"{run_prefix(file.product, file.run_time)}{file.file_name}"


def run_prefix(product: Product, run_time: datetime) -> str:
    """The lake folder of one product run's raw files."""
    p = product
    return f"raw/meteofrance/{p.model}/{p.grid}/{p.package}/{run_segment(run_time)}/"


def ready_at(settings: Settings, run_time: datetime) -> datetime:
    """When a run may first be asked for: nominal time plus the publication delay."""
    return run_time + timedelta(hours=settings.meteofrance_publication_delay_hours)


def late_at(settings: Settings, run_time: datetime) -> datetime:
    """After this, a run whose last group is absent is a gap rather than 'not ready'."""
    return run_time + timedelta(hours=settings.meteofrance_late_after_hours)


def still_at_source(settings: Settings, run_time: datetime, now: datetime) -> bool:
    """Whether the source should still keep a run (it deletes runs after its retention)."""
    return now - run_time <= timedelta(days=settings.meteofrance_retention_days)


# Packages whose fields feed the weather features; the others are archived raw only.
FEATURE_PACKAGES = frozenset({"SP1"})


@dataclass(frozen=True)
class ModelRun:
    """One run of one model grid, with the configured packages fetched for it."""

    model_grid: ModelGrid
    run_time: datetime
    products: tuple[Product, ...]

    @property
    def label(self) -> str:
        return f"{self.model_grid.key} {run_label(self.run_time)}"

    @property
    def feature_products(self) -> tuple[Product, ...]:
        """The packages decoded into features; the run is curated once all are complete."""
        return tuple(p for p in self.products if p.package in FEATURE_PACKAGES)


def model_runs(products: list[Product], day: date) -> list[ModelRun]:
    """The products' runs on a day, grouped by model grid and run hour, in configured order."""
    grouped: dict[tuple[str, int], list[Product]] = {}
    for p in products:
        grouped.setdefault((p.model_grid_key, p.run_hour), []).append(p)
    return [
        ModelRun(MODEL_GRIDS[key], ps[0].run_time(day), tuple(ps))
        for (key, _), ps in grouped.items()
    ]
