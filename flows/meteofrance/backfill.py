"""Rebuild weather days from the lake's archive, or from the source while it still has them.

For each day and product, in order of cost:
- `archived`: the run's curated features are in the lake (raw only, for packages that are
  not decoded into features) — nothing to do, no network;
- `rebuilt`: every raw file of the run is in the lake — decoded again, no network at all;
- `downloaded`: the source still has the run (it keeps about 15 days) — fetched, validated,
  archived, decoded;
- `missing`: neither — unrecoverable, reported.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from tqdm import tqdm

from flows.backends import open_lake
from flows.errors import ArchiveError
from flows.lake import Lake
from flows.meteofrance.archive import curated_present, local_copies, raw_files, write_curated
from flows.meteofrance.catalogue import (
    ModelRun,
    Product,
    group_files,
    lake_key,
    model_runs,
    products_from_settings,
    still_at_source,
)
from flows.meteofrance.download import ProductRun, fetch_product_run, make_client
from flows.runs import run_name
from flows.settings import Settings, get_settings
from flows.status import BackfillRow, BackfillStatus, RunStatus


def missing_in_lake(settings: Settings, lake: Lake, product: Product, day: date) -> list[str]:
    """Group names of a product's run on a day that the lake does not hold."""
    files = group_files(settings, product, day)
    held = set(raw_files(lake, product, product.run_time(day)).values())
    return [f.group for f in files if lake_key(f) not in held]


def curate_run(settings: Settings, lake: Lake, run: ModelRun) -> int:
    """Decode a model run's feature packages from the lake and write its curated objects.

    Raises ArchiveError when a file is missing (nothing is written), GribError on a bad file.
    """
    from flows.meteofrance.features import daily_temperature, run_features

    keys: list[str] = []
    for product in run.feature_products:
        files = group_files(settings, product, run.run_time.date())
        lacking = [f.group for f in files if not lake.exists(lake_key(f))]
        if lacking:
            raise ArchiveError(f"{product.name} {run.label}: groups {lacking} not in the lake")
        keys += [lake_key(f) for f in files]
    if not keys:
        return 0
    with (
        tempfile.TemporaryDirectory(prefix="weather-decode-") as tmp,
        local_copies(lake, keys, Path(tmp)) as paths,
    ):
        g = run.model_grid
        gap = settings.meteofrance_max_gap_hours
        workers = settings.meteofrance_decode_workers
        hourly = run_features(paths, g.model, g.grid, workers=workers, max_gap_hours=gap)
        daily = daily_temperature(hourly, max_gap_hours=gap)
    write_curated(lake, run.model_grid, run.run_time, hourly, daily)
    return len(hourly)


def _status_rows(
    day: date,
    run: ModelRun,
    status: BackfillStatus,
    detail: str,
    products: tuple[Product, ...] | None = None,
) -> list[BackfillRow]:
    return [
        BackfillRow(day, p.name, status, detail)
        for p in (run.products if products is None else products)
    ]


def backfill_model_run(
    settings: Settings,
    lake: Lake,
    run: ModelRun,
    now: datetime,
    offline: bool,
    client: httpx.Client | None = None,
) -> list[BackfillRow]:
    """Archived, rebuilt, downloaded or missing, for each product of one model run."""
    day = run.run_time.date()
    curated = bool(run.feature_products) and curated_present(lake, run.model_grid, run.run_time)
    lacking = {p: missing_in_lake(settings, lake, p, day) for p in run.products}
    rows: list[BackfillRow] = []
    fetched: dict[Product, ProductRun] = {}
    for p in run.products:
        if not lacking[p] or (curated and p in run.feature_products):
            continue
        if offline or not still_at_source(settings, run.run_time, now):
            why = (
                "offline"
                if offline
                else f"older than the source's {settings.meteofrance_retention_days}-day retention"
            )
            rows.append(
                BackfillRow(
                    day,
                    p.name,
                    BackfillStatus.MISSING,
                    f"groups {lacking[p]} not in the lake ({why})",
                )
            )
            continue
        fetched[p] = fetch_product_run(settings, lake, p, day, now, client)
        if fetched[p].status != RunStatus.COMPLETE:
            rows.append(BackfillRow(day, p.name, BackfillStatus.MISSING, fetched[p].describe()))
    failed = {r.product for r in rows}
    # Raw-only packages: archived, or downloaded now.
    for p in run.products:
        if p in run.feature_products or p.name in failed:
            continue
        status = BackfillStatus.DOWNLOADED if p in fetched else BackfillStatus.ARCHIVED
        rows.append(BackfillRow(day, p.name, status, "raw files in the lake"))
    features = run.feature_products
    if not features:
        return _ordered(rows, run)
    if curated:
        return _ordered(
            rows
            + _status_rows(
                day, run, BackfillStatus.ARCHIVED, "curated features in the lake", features
            ),
            run,
        )
    blocked = [p.name for p in features if p.name in failed]
    if blocked:
        rest = tuple(p for p in features if p.name not in failed)
        detail = f"features not built: {', '.join(blocked)} incomplete"
        return _ordered(rows + _status_rows(day, run, BackfillStatus.MISSING, detail, rest), run)
    try:
        count = curate_run(settings, lake, run)
    except Exception as exc:  # noqa: BLE001 - a bad archived file is reported per row, not raised
        return _ordered(
            rows
            + _status_rows(day, run, BackfillStatus.MISSING, f"decode failed: {exc}", features),
            run,
        )
    for p in features:
        status = BackfillStatus.DOWNLOADED if p in fetched else BackfillStatus.REBUILT
        how = "fetched from the source" if p in fetched else "from the lake's archive"
        rows.append(BackfillRow(day, p.name, status, f"{how}, {count} feature rows"))
    return _ordered(rows, run)


def _ordered(rows: list[BackfillRow], run: ModelRun) -> list[BackfillRow]:
    order = {p.name: i for i, p in enumerate(run.products)}
    return sorted(rows, key=lambda r: order[r.product])


def backfill_weather(
    start: date,
    end: date,
    products: list[str] | None = None,
    offline: bool = False,
    settings: Settings | None = None,
    lake: Lake | None = None,
    now: datetime | None = None,
) -> list[BackfillRow]:
    """For each day × product in [start, end]: archived, rebuilt, downloaded or missing."""
    if end < start:
        raise ValueError(f"weather backfill: end {end} is before start {start}")
    settings = settings or get_settings()
    lake = lake or open_lake(settings)
    now = now or datetime.now(UTC)
    chosen = products_from_settings(settings, products)
    rows: list[BackfillRow] = []
    # No client at all when offline: nothing can reach the network by mistake.
    client = None if offline else make_client(settings)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    runs = [run for day in days for run in model_runs(chosen, day)]
    try:
        for run in tqdm(
            runs, desc=f"weather {start}..{end}", unit="run", disable=not settings.show_progress
        ):
            rows += backfill_model_run(settings, lake, run, now, offline, client)
    finally:
        if client is not None:
            client.close()
    return rows


def rows_table(rows: list[BackfillRow]) -> list[dict[str, str]]:
    """Rows as a table artifact's records."""
    return [
        {"day": r.day.isoformat(), "product": r.product, "status": r.status, "detail": r.detail}
        for r in rows
    ]


@flow(name="backfill-weather", flow_run_name=run_name("backfill-weather"))
def backfill_weather_flow(
    start: date, end: date, products: list[str] | None = None, offline: bool = False
) -> list[BackfillRow]:
    """Rebuild weather days from the lake's archive, downloading what the source still has."""
    logger = get_run_logger()
    rows = backfill_weather(start, end, products, offline)
    for r in rows:
        log = logger.warning if r.status == BackfillStatus.MISSING else logger.info
        log("%s %s: %s %s", r.day, r.product, r.status, r.detail)
    create_table_artifact(
        key="backfill-weather",
        table=rows_table(rows),
        description=f"Weather backfill {start} .. {end}",
    )
    return rows
