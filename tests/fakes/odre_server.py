"""A fake ODRÉ Explore v2.1 exports endpoint on 127.0.0.1, with synthetic data and faults.

It serves `GET .../catalog/datasets/<id>/exports/parquet` for the four datasets from
in-memory frames (UTC), honouring the `where` date window, `timezone` and `order_by` the way
the real API does, and can misbehave on demand (see `Fault`).

    python -m tests.fakes.odre_server --port 8765 --start 2025-01-01 --end 2025-03-31

then `AGGREGAT_ODRE_BASE_URL=http://127.0.0.1:8765/api/explore/v2.1 make run`.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flows.odre.schemas import ECO2MIX_MEASURES
from flows.regions import REGIONS
from tests.fakes.http import LocalServer

PARIS = ZoneInfo("Europe/Paris")
API_PREFIX = "/api/explore/v2.1"
ECO2MIX_IDS = ("eco2mix-national-tr", "eco2mix-national-cons-def")
TIME_FIELDS = {
    "eco2mix-national-tr": "date_heure",
    "eco2mix-national-cons-def": "date_heure",
    "stock-quotidien-stockages-gaz": "date",
    "temperature-quotidienne-regionale": "date",
}
GAS_GROUPS = (  # (source, pits, working capacity GWh)
    ("Storengy", "Centre", 60000.0),
    ("Storengy", "Saline", 9000.0),
    ("Storengy", "Sediane", 20000.0),
    ("Storengy", "Sediane B", 5000.0),
    ("Storengy", "Serene", 19000.0),
    ("Teréga", "Teréga", 34000.0),
)
WHERE = re.compile(
    r"^\s*(?P<field>\w+)\s*>=\s*date'(?P<start>[^']+)'\s+AND\s+(?P=field)\s*<\s*date'(?P<end>[^']+)'\s*$",
    re.IGNORECASE,
)

# Fields the source serves as strings because they can hold "ND" (see SOURCES.md).
ND_STRING_FIELDS = (
    "eolien_terrestre",
    "eolien_offshore",
    "stockage_batterie",
    "destockage_batterie",
)


# --- synthetic data -------------------------------------------------------------------------


def _days(start: date, end: date) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq="D")


def eco2mix_frame(
    start: date, end: date, consolidated: bool = False, seed: int = 0
) -> pd.DataFrame:
    """eCO2mix rows every 15 minutes (UTC) from `start` to `end` inclusive, with daily,
    weekly and seasonal shapes; consolidated data has values on :00/:30 only."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(
        pd.Timestamp(start, tz="UTC"),
        pd.Timestamp(end + timedelta(days=1), tz="UTC"),
        freq="15min",
        inclusive="left",
    )
    local = times.tz_convert(PARIS)
    n = len(times)
    hour = local.hour + local.minute / 60
    season = np.cos(2 * np.pi * (local.day_of_year - 15) / 365.25)
    daily = 4000 * np.exp(-((hour - 9.5) ** 2) / 6) + 5000 * np.exp(-((hour - 19.5) ** 2) / 4)
    night = -6000 * np.exp(-((hour - 4.0) ** 2) / 5)
    weekend = np.where(local.day_of_week >= 5, -5000, 0)
    cons = 52000 + 14000 * season + daily + night + weekend + rng.normal(0, 600, n)
    sun = np.clip(np.sin(np.pi * (hour - 6.5) / 13), 0, None) * (9000 - 4000 * season)
    wind = np.clip(8000 + np.cumsum(rng.normal(0, 120, n)) % 9000, 500, None)
    nuclear = 42000 + 6000 * season + rng.normal(0, 300, n)
    hydro = 6000 + 2500 * season + daily / 3
    gas = np.clip(cons - nuclear - wind - sun - hydro, 500, 9000)
    frame = pd.DataFrame(
        {
            "consommation": cons,
            "prevision_j1": cons + rng.normal(0, 900, n),
            "prevision_j": cons + rng.normal(0, 400, n),
            "fioul": 100 + rng.normal(0, 5, n),
            "charbon": np.where(season > 0.5, 400.0, 0.0),
            "gaz": gas,
            "nucleaire": nuclear,
            "eolien": wind,
            "solaire": sun,
            "hydraulique": hydro,
            "pompage": np.where(hour < 6, -1500.0, 0.0),
            "bioenergies": 1000 + rng.normal(0, 20, n),
        }
    )
    production = frame[["fioul", "charbon", "gaz", "nucleaire", "eolien", "solaire", "hydraulique"]]
    frame["ech_physiques"] = cons - production.sum(axis=1) - frame["bioenergies"] - frame["pompage"]
    frame["taux_co2"] = (frame.gaz * 400 + frame.charbon * 960 + frame.fioul * 800) / cons
    for name, share, of in (
        ("ech_comm_angleterre", 0.3, "ech_physiques"),
        ("ech_comm_espagne", 0.2, "ech_physiques"),
        ("ech_comm_italie", 0.2, "ech_physiques"),
        ("ech_comm_suisse", 0.1, "ech_physiques"),
        ("ech_comm_allemagne_belgique", 0.2, "ech_physiques"),
        ("fioul_tac", 0.1, "fioul"),
        ("fioul_cogen", 0.8, "fioul"),
        ("fioul_autres", 0.1, "fioul"),
        ("gaz_tac", 0.05, "gaz"),
        ("gaz_cogen", 0.35, "gaz"),
        ("gaz_ccg", 0.55, "gaz"),
        ("gaz_autres", 0.05, "gaz"),
        ("hydraulique_fil_eau_eclusee", 0.7, "hydraulique"),
        ("hydraulique_lacs", 0.25, "hydraulique"),
        ("hydraulique_step_turbinage", 0.05, "hydraulique"),
        ("bioenergies_dechets", 0.35, "bioenergies"),
        ("bioenergies_biomasse", 0.4, "bioenergies"),
        ("bioenergies_biogaz", 0.25, "bioenergies"),
        ("eolien_terrestre", 0.9, "eolien"),
        ("eolien_offshore", 0.1, "eolien"),
        ("stockage_batterie", -0.01, "solaire"),
        ("destockage_batterie", 0.01, "solaire"),
    ):
        frame[name] = frame[of] * share
    frame = frame[list(ECO2MIX_MEASURES)].round().astype("Int64")
    if consolidated:  # the :15/:45 rows of consolidated data carry only the forecasts
        quarter = np.asarray(local.minute % 30 != 0)
        values = [c for c in ECO2MIX_MEASURES if c not in ("prevision_j1", "prevision_j")]
        frame.loc[quarter, values] = pd.NA
    head = pd.DataFrame(
        {
            "perimetre": "France",
            "nature": "Données consolidées" if consolidated else "Données temps réel",
            "date": local.strftime("%Y-%m-%d"),
            "heure": local.strftime("%H:%M"),
            "date_heure": times,
        }
    )
    return pd.concat([head, frame], axis=1)


def gas_frame(start: date, end: date, seed: int = 1) -> pd.DataFrame:
    """End-of-day stock per storage group, filling in summer and drawn in winter."""
    rng = np.random.default_rng(seed)
    days = _days(start, end)
    fill = 0.55 - 0.35 * np.cos(2 * np.pi * (days.day_of_year - 30) / 365.25)
    rows = [
        pd.DataFrame(
            {
                "date": days.date,
                "stock_fin_de_journee": capacity * fill * (1 + rng.normal(0, 0.01, len(days))),
                "source": source,
                "pits": pits,
            }
        )
        for source, pits, capacity in GAS_GROUPS
    ]
    return pd.concat(rows, ignore_index=True).sort_values(["date", "pits"], ignore_index=True)


def temperature_frame(start: date, end: date, seed: int = 2) -> pd.DataFrame:
    """Daily tmin/tmax/tmoy per region: a seasonal cycle, regional offsets, noise."""
    rng = np.random.default_rng(seed)
    days = _days(start, end)
    season = 12 + 8 * np.sin(2 * np.pi * (days.day_of_year - 110) / 365.25)
    rows = []
    for i, region in enumerate(REGIONS):
        offset = {93: 3.0, 94: 4.0, 76: 2.0, 44: -1.5, 27: -1.0}.get(region.code, 0.0) + i * 0.05
        tmoy = season + offset + rng.normal(0, 2, len(days))
        spread = 3 + rng.uniform(0, 3, len(days))
        rows.append(
            pd.DataFrame(
                {
                    "id": [f"{d.isoformat()}T00:00:00-{region.code}" for d in days.date],
                    "date": days.date,
                    "code_insee_region": region.code,
                    "region": region.name,
                    "tmin": (tmoy - spread).round(2),
                    "tmax": (tmoy + spread).round(2),
                    "tmoy": tmoy.round(2),
                }
            )
        )
    return pd.concat(rows, ignore_index=True).sort_values(
        ["date", "code_insee_region"], ignore_index=True
    )


def synthetic_data(start: date, end: date) -> dict[str, pd.DataFrame]:
    """Source-shaped frames of the four datasets for `start`..`end` inclusive."""
    return {
        "eco2mix-national-tr": eco2mix_frame(start, end),
        "eco2mix-national-cons-def": eco2mix_frame(start, end, consolidated=True),
        "stock-quotidien-stockages-gaz": gas_frame(start, end),
        "temperature-quotidienne-regionale": temperature_frame(start, end),
    }


def spring_forward_days(start: date, end: date) -> list[date]:
    """Last Sundays of March between two days: 02:00-03:00 does not exist in Paris."""
    out = []
    for year in range(start.year, end.year + 1):
        day = date(year, 3, 31)
        day -= timedelta(days=(day.weekday() + 1) % 7)
        if start <= day <= end:
            out.append(day)
    return out


# --- faults ---------------------------------------------------------------------------------

FAULT_KINDS = (
    "rate_limit",  # 429 with an ODS JSON body (reset_time) and X-RateLimit-* headers
    "server_error",  # 500
    "truncated",  # a 200 whose Parquet body is cut short
    "not_parquet",  # a 200 with an HTML page
    "empty",  # a valid Parquet answer with no rows
    "extra_column",  # an unknown new column
    "missing_column",  # `column` is dropped
    "rename_column",  # `column` is renamed `new_name` (a schema change at the source)
    "nd",  # `column` becomes strings with "ND" in every other row
    "dst_duplicates",  # spring-forward null duplicate rows, as the real dataset writes them
    "revise",  # `column` of every row is multiplied by `factor` (a revision at the source)
)


@dataclass
class Fault:
    """A misbehaviour applied to the next `times` matching requests (None: forever)."""

    kind: str
    dataset: str | None = None  # None: any dataset
    times: int | None = 1
    column: str | None = None
    reset_seconds: float = 0.05
    factor: float = 1.1
    new_name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; choose from {FAULT_KINDS}")


@dataclass
class Request:
    """One request the fake answered."""

    dataset: str
    params: dict[str, str]
    status: int
    rows: int


class BadRequest(Exception):
    pass


# --- the server -----------------------------------------------------------------------------


@dataclass
class FakeOdre:
    """The fake server's state: data, faults, and what was asked."""

    data: dict[str, pd.DataFrame] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._http = LocalServer()

    # life cycle
    def start(self) -> FakeOdre:
        self.port = self._http.start(_handler(self), self.host, self.port)
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> FakeOdre:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give as AGGREGAT_ODRE_BASE_URL."""
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    # bookkeeping
    @property
    def rows_served(self) -> int:
        return sum(r.rows for r in self.requests)

    def add_fault(self, kind: str, **kwargs: object) -> Fault:
        fault = Fault(kind, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take_faults(self, dataset: str) -> list[Fault]:
        with self._lock:
            taken = []
            for fault in self.faults:
                if fault.dataset in (None, dataset) and fault.times != 0:
                    taken.append(fault)
                    if fault.times is not None:
                        fault.times -= 1
            return taken

    # answers
    def answer(
        self, dataset: str, params: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes, int]:
        """Status, headers, body and row count for one export request."""
        if dataset not in self.data:
            body = {"error_code": "DatasetNotFound", "message": f"dataset {dataset} not found"}
            return 404, {"Content-Type": "application/json"}, json.dumps(body).encode(), 0
        faults = self._take_faults(dataset)
        kinds = {f.kind for f in faults}
        if "rate_limit" in kinds:
            fault = next(f for f in faults if f.kind == "rate_limit")
            reset = datetime.now(UTC) + timedelta(seconds=fault.reset_seconds)
            body = {
                "errorcode": 10002,
                "reset_time": reset.isoformat(),
                "limit_time_unit": "day",
                "call_limit": 5000,
                "error": "Too many requests on the domain. Please contact the domain administrator.",
            }
            headers = {
                "Content-Type": "application/json",
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(reset.timestamp())),
            }
            return 429, headers, json.dumps(body).encode(), 0
        if "server_error" in kinds:
            return 500, {"Content-Type": "text/plain"}, b"Internal Server Error", 0
        if "not_parquet" in kinds:
            page = b"<html><body><h1>Service temporarily unavailable</h1></body></html>"
            return 200, {"Content-Type": "text/html"}, page, 0
        try:
            frame = self.select(dataset, params)
        except BadRequest as exc:
            body = {"error_code": "ODSQLError", "message": str(exc)}
            return 400, {"Content-Type": "application/json"}, json.dumps(body).encode(), 0
        frame = apply_data_faults(dataset, frame, faults)
        body = to_parquet(dataset, frame)
        if "truncated" in kinds:
            body = body[: len(body) // 2]
        return 200, {"Content-Type": "application/octet-stream"}, body, len(frame)

    def select(self, dataset: str, params: dict[str, str]) -> pd.DataFrame:
        """The rows an export asks for, timestamps in the requested timezone."""
        frame = self.data[dataset]
        time_field = TIME_FIELDS[dataset]
        try:
            tz = ZoneInfo(params.get("timezone", "UTC"))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise BadRequest(f"unknown timezone {params.get('timezone')!r}") from exc
        if "where" in params:
            match = WHERE.match(params["where"])
            if not match or match["field"] != time_field:
                raise BadRequest(f"unsupported where clause {params['where']!r}")
            lo, hi = (pd.Timestamp(match[k]) for k in ("start", "end"))
            column = frame[time_field]
            if time_field == "date_heure":
                lo, hi = (t.tz_localize(tz) if t.tzinfo is None else t for t in (lo, hi))
                keep = (column >= lo) & (column < hi)
            else:
                keep = (column >= lo.date()) & (column < hi.date())
            frame = frame[keep]
        frame = frame.copy()
        if time_field == "date_heure":
            frame[time_field] = frame[time_field].dt.tz_convert(tz)
        order = params.get("order_by")
        if order:
            frame = frame.sort_values(order.split()[0], kind="stable")
        else:  # the real API promises no order
            frame = frame.sample(frac=1.0, random_state=0)
        return frame.reset_index(drop=True)


def apply_data_faults(dataset: str, frame: pd.DataFrame, faults: list[Fault]) -> pd.DataFrame:
    """Change an answer's rows or columns the way the real source has."""
    for fault in faults:
        if fault.kind == "empty":
            frame = frame.iloc[0:0]
        elif fault.kind == "extra_column":
            frame = frame.assign(colonne_nouvelle="x")
        elif fault.kind == "missing_column":
            frame = frame.drop(columns=[fault.column])
        elif fault.kind == "rename_column":
            frame = frame.rename(columns={fault.column: fault.new_name})
        elif fault.kind == "nd":
            text = frame[fault.column].astype("string")
            text.iloc[::2] = "ND"
            frame = frame.assign(**{fault.column: text})
        elif fault.kind == "revise":
            frame = frame.assign(**{fault.column: frame[fault.column] * fault.factor})
        elif fault.kind == "dst_duplicates" and dataset in ECO2MIX_IDS:
            frame = _with_dst_duplicates(frame)
    return frame


def _with_dst_duplicates(frame: pd.DataFrame) -> pd.DataFrame:
    """Null copies of the 03:00-03:45 CEST rows of spring-forward days, as local 02:xx rows."""
    stamps = frame["date_heure"]
    utc = stamps.dt.tz_convert("UTC")
    if not len(frame):
        return frame
    days = spring_forward_days(utc.min().date(), utc.max().date())
    extra = []
    for day in days:
        for minute in (0, 15, 30, 45):
            instant = pd.Timestamp(datetime(day.year, day.month, day.day, 1, minute), tz="UTC")
            if (utc == instant).any():
                row = {c: pd.NA for c in frame.columns}
                row.update(
                    perimetre="France",
                    nature=frame["nature"].iloc[0],
                    date=day.isoformat(),
                    heure=f"02:{minute:02d}",
                    date_heure=instant.tz_convert(stamps.dt.tz),
                )
                extra.append(row)
    if not extra:
        return frame
    dupes = pd.DataFrame(extra).astype(frame.dtypes.to_dict())
    # Interleaved, as in real exports: the null duplicate comes before the row with values.
    return pd.concat([dupes, frame], ignore_index=True)


def to_parquet(dataset: str, frame: pd.DataFrame) -> bytes:
    """A frame as the real exports type it: MW as int64, `ND`-prone fields as strings."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if dataset in ECO2MIX_IDS:
        fields = []
        for f in table.schema:
            if f.name in ND_STRING_FIELDS:
                fields.append(pa.field(f.name, pa.string()))
            elif f.name == "date_heure":
                fields.append(pa.field(f.name, pa.timestamp("ms", tz=f.type.tz)))
            else:
                fields.append(f)
        table = table.cast(pa.schema(fields))
    table = table.replace_schema_metadata(None)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    return buf.getvalue()


def _handler(state: FakeOdre) -> type[BaseHTTPRequestHandler]:
    route = re.compile(r"^.*/catalog/datasets/(?P<dataset>[^/]+)/exports/(?P<fmt>[^/]+)$")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlparse(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            match = route.match(url.path)
            if not match:
                self._send(404, {"Content-Type": "text/plain"}, b"not found")
                return
            dataset = match["dataset"]
            if match["fmt"] != "parquet":
                status, headers, body, rows = 400, {}, b"the fake serves parquet only", 0
            else:
                status, headers, body, rows = state.answer(dataset, params)
            with state._lock:
                state.requests.append(Request(dataset, params, status, rows))
            self._send(status, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake ODRÉ exports API with synthetic data.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date.today())
    args = parser.parse_args(argv)
    server = FakeOdre(synthetic_data(args.start, args.end), port=args.port).start()
    print(f"fake ODRÉ serving {args.start}..{args.end} at {server.url}", flush=True)
    print(
        f"  export AGGREGAT_ODRE_BASE_URL={server.url} AGGREGAT_HISTORY_START={args.start}",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
