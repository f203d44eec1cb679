"""Every read the dashboard makes: SQL on the production marts, through the project's warehouse.

The pages call only this module. Nothing here computes a figure the marts do not hold: the
queries pick columns, periods and joins, and name what is wrong when a mart is absent, empty
or lacks a column. DuckDB is opened read-only for each query and closed at once (a writer
and a reader cannot share the file), retried while the pipeline holds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pandas as pd

from flows.backends import on_gcp, open_warehouse, warehouse_location
from flows.errors import GcpConfigError
from flows.settings import Settings
from flows.warehouse import DuckDBWarehouse, Warehouse

T = TypeVar("T")
# The pipeline holds the DuckDB file for a whole dbt build (tens of seconds): a page waits a
# few seconds for it, then says so rather than hanging.
LOCK_ATTEMPTS = 6
LOCK_WAIT_SECONDS = 0.5
HOW_TO_BUILD = "run `make run` (see the README's demo to run it on the fake sources)"


class DashboardError(RuntimeError):
    """What a page shows instead of its charts: what is wrong and what to do about it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class WarehouseMissing(DashboardError):
    """No warehouse yet (a fresh install)."""


class WarehouseBusy(DashboardError):
    """The pipeline holds the DuckDB file longer than a page waits."""


class WarehouseUnreachable(DashboardError):
    """BigQuery (or its credentials) does not answer."""


class MartMissing(DashboardError):
    """A production mart is absent or holds no rows."""


class MartColumnsMissing(DashboardError):
    """A mart lacks columns the dashboard needs (a model changed)."""


@dataclass(frozen=True)
class Mart:
    """A production table the dashboard reads: the columns it needs and those it can do without."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    built_by: str = "the transform step"
    # The partition column of a mart BigQuery only reads with a filter on it
    # (`require_partition_filter`, set in dbt for the large hourly marts).
    partition_filter: str | None = None


ENERGY_SOURCES = ("nuclear", "wind", "solar", "hydro", "gas", "coal", "oil", "bioenergy")
REGION_COLUMNS = (
    "tmean_c_ile_de_france",
    "tmean_c_centre_val_de_loire",
    "tmean_c_bourgogne_franche_comte",
    "tmean_c_normandie",
    "tmean_c_hauts_de_france",
    "tmean_c_grand_est",
    "tmean_c_pays_de_la_loire",
    "tmean_c_bretagne",
    "tmean_c_nouvelle_aquitaine",
    "tmean_c_occitanie",
    "tmean_c_auvergne_rhone_alpes",
    "tmean_c_provence_alpes_cote_d_azur",
    "tmean_c_corse",
)
FORECAST = Mart(
    "consumption_forecast",
    (
        "issue_date",
        "horizon_days",
        "target_date",
        "target_hour_utc",
        "target_hour_local",
        "p10_mw",
        "p50_mw",
        "p90_mw",
        "model_version",
        "created_at",
    ),
    optional=("forecaster", "forecaster_reason"),
    built_by="the forecast step",
)
FORECAST_DAILY = Mart(
    "consumption_forecast_daily",
    (
        "issue_date",
        "horizon_days",
        "target_date",
        "hours",
        "energy_p10_gwh",
        "energy_p50_gwh",
        "energy_p90_gwh",
        "model_version",
    ),
    built_by="the forecast step",
)
ENERGY_HOURLY = Mart(
    "energy_mix_hourly",
    (
        "hour_utc",
        "hour_local",
        "date_local",
        "consumption_mw",
        "forecast_j1_mw",
        *(f"{s}_mw" for s in ENERGY_SOURCES),
        "pumping_mw",
        "exchanges_mw",
        "co2_g_per_kwh",
        "production_total_mw",
        "loaded_at",
    ),
    partition_filter="hour_utc",
)
DAILY = Mart(
    "daily_merged",
    (
        "date",
        "consumption_gwh",
        "consumption_peak_mw",
        "is_consumption_complete",
        *(f"{s}_gwh" for s in ENERGY_SOURCES),
        "pumping_gwh",
        "exchanges_gwh",
        "production_gwh",
        *(f"{s}_share" for s in ENERGY_SOURCES),
        "co2_g_per_kwh",
        "gas_stock_gwh",
        "is_gas_stock_complete",
        "tmin_c",
        "tmean_c",
        "tmax_c",
        "temperature_regions_reported",
        *REGION_COLUMNS,
    ),
)
GAS = Mart(
    "gas_storage_daily",
    (
        "gas_day",
        "level",
        "storage_group",
        "stock_gwh",
        "working_capacity_gwh",
        "capacity_basis",
        "fill_level_pct",
        "status",
    ),
)
SKILL_DAILY = Mart(
    "forecast_skill_daily",
    (
        "date_local",
        "horizon_days",
        "model_version",
        "forecast_hours",
        "measured_hours",
        "forecast_energy_gwh",
        "rte_j1_energy_gwh",
        "actual_energy_gwh",
        "energy_ape_pct",
        "rte_energy_ape_pct",
        "mape_pct",
        "rte_mape_pct",
        "bias_mw",
        "rte_bias_mw",
        "mape_7d_pct",
        "rte_mape_7d_pct",
        "bias_7d_mw",
        "rte_bias_7d_mw",
        "mape_28d_pct",
        "rte_mape_28d_pct",
        "bias_28d_mw",
        "rte_bias_28d_mw",
        *(
            f"{who}daily_{measure}_{window}d_{unit}"
            for window in (7, 28)
            for measure, unit in (("mape", "pct"), ("bias", "gwh"))
            for who in ("", "rte_")
        ),
    ),
    built_by="the forecast step (it rebuilds the skill marts)",
)
WEATHER_RUN = Mart(
    "weather_forecast_current_run",
    (
        "forecast_model",
        "run_at",
        "valid_at",
        "lead_hours",
        "region_code",
        "region_name",
        "t2m_c",
        "wind10m_ms",
        "ssrd_wh_m2",
        "tcc_pct",
        "ingested_at",
    ),
    built_by="the weather and transform steps",
)
WEATHER_RECENT = Mart(
    "weather_forecast_recent",
    ("forecast_model", "run_at", "run_day", "ingested_at"),
    built_by="the weather and transform steps",
)
WEATHER_ERROR = Mart(
    "weather_temperature_error_daily",
    (
        "date",
        "region_code",
        "region_name",
        "forecast_model",
        "run_at",
        "lead_days",
        "forecast_tmean_c",
        "observed_tmean_c",
        "error_tmean_c",
        "abs_error_tmean_c",
    ),
    built_by="the weather and transform steps",
)


def forecast_marts(settings: Settings) -> tuple[Mart, Mart]:
    """The forecast marts under the names the settings give them."""
    return (
        Mart(settings.forecast_table, FORECAST.required, FORECAST.optional, FORECAST.built_by),
        Mart(settings.forecast_daily_table, FORECAST_DAILY.required, (), FORECAST_DAILY.built_by),
    )


def _is_lock(exc: BaseException) -> bool:
    return "lock" in str(exc).lower() and "conflicting" in str(exc).lower()


class MartReader:
    """Read-only access to the production dataset of the warehouse the settings name."""

    def __init__(
        self,
        settings: Settings,
        attempts: int = LOCK_ATTEMPTS,
        wait_seconds: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self.settings = settings
        self.dataset = settings.production_dataset
        self.attempts = attempts
        self.wait_seconds = wait_seconds
        # A BigQuery client holds no lock: keep it, its checks cost a round trip.
        self._bigquery: Warehouse | None = None

    @property
    def where(self) -> str:
        """The warehouse, as a user would name it."""
        return warehouse_location(self.settings)

    def _open(self) -> Warehouse:
        if self._bigquery is not None:
            return self._bigquery
        if not on_gcp(self.settings):
            path = Path(self.settings.duckdb_path).expanduser().resolve()
            if not path.exists():
                raise WarehouseMissing(
                    f"There is no warehouse yet: {path} does not exist.",
                    f"To build it, {HOW_TO_BUILD}.",
                )
        try:
            warehouse = open_warehouse(self.settings, read_only=True)
        except GcpConfigError as exc:
            raise WarehouseUnreachable(
                f"BigQuery cannot be reached: {exc}",
                "Check AGGREGAT_GCP_PROJECT, AGGREGAT_BIGQUERY_API_ENDPOINT and the credentials"
                " (docs/gcp.md).",
            ) from exc
        if not isinstance(warehouse, DuckDBWarehouse):
            self._bigquery = warehouse
        return warehouse

    def _with_warehouse(self, work: Callable[[Warehouse], T]) -> T:
        """Run `work` on a freshly opened warehouse, closed after; waits while the file is locked."""
        for attempt in range(1, self.attempts + 1):
            warehouse = self._open()
            try:
                return work(warehouse)
            except Exception as exc:  # duckdb.IOException: the pipeline holds the file
                if not _is_lock(exc):
                    raise
                if attempt == self.attempts:
                    raise WarehouseBusy(
                        f"The warehouse is busy: the pipeline is writing to {self.where}"
                        f" (waited {self.attempts * self.wait_seconds:.0f} s).",
                        "Reload the page in a minute, once the run's step has finished.",
                    ) from exc
                time.sleep(self.wait_seconds)
            finally:
                if warehouse is not self._bigquery:
                    warehouse.close()
        raise AssertionError("unreachable")

    def sql(self, text: str) -> pd.DataFrame:
        """One query, read-only, the connection closed after it."""
        try:
            return self._with_warehouse(lambda wh: wh.query(text))
        except DashboardError:
            raise
        except Exception as exc:  # duckdb.Error, Google API errors: shown, not a traceback
            raise DashboardError(
                f"A query failed on {self.where}: {exc}",
                "If a model changed, rebuild the marts (`make run`); the query was: " + text,
            ) from exc

    def table(self, mart: Mart) -> str:
        """The mart in SQL: `dataset.table` (BigQuery resolves it in the job's project).

        A mart that requires a partition filter is read through a subquery that has one (the
        filter dbt-bigquery itself uses), so every query on it is accepted by BigQuery.
        """
        name = f"{self.dataset}.{mart.name}"
        if mart.partition_filter:
            column = mart.partition_filter
            return f"(select * from {name} where {column} is not null)"
        return name

    def columns(self, mart: Mart) -> list[str]:
        """The mart's columns; a clear error when it does not exist."""
        exists = self._with_warehouse(lambda wh: wh.table_exists(self.dataset, mart.name))
        if not exists:
            raise MartMissing(
                f"The production table {self.dataset}.{mart.name} does not exist in {self.where}.",
                f"It is built by {mart.built_by}: {HOW_TO_BUILD}.",
            )
        return list(self.sql(f"select * from {self.table(mart)} limit 0").columns)

    def check(self, mart: Mart) -> set[str]:
        """The optional columns the mart has; a clear error naming required ones it lacks."""
        have = set(self.columns(mart))
        missing = [c for c in mart.required if c not in have]
        if missing:
            raise MartColumnsMissing(
                f"The production table {self.dataset}.{mart.name} lacks the column"
                f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} the dashboard reads.",
                "A model changed: rebuild the marts (`make run ARGS='--steps transform,forecast'`)"
                " or update dashboard/queries.py to the new columns.",
            )
        return {c for c in mart.optional if c in have}

    def select(
        self,
        mart: Mart,
        where: str = "",
        order_by: str = "",
        columns: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of one mart: its required columns (or `columns`) and the optional ones it has.

        Optional columns it lacks come back as empty columns, for the page to say so.
        """
        present = self.check(mart)
        wanted = list(columns or mart.required) + [c for c in mart.optional if c in present]
        text = f"select {', '.join(wanted)} from {self.table(mart)}"
        text += f" where {where}" if where else ""
        text += f" order by {order_by}" if order_by else ""
        frame = self.sql(text)
        for col in mart.optional:
            if col not in frame:
                frame[col] = pd.Series([pd.NA] * len(frame), dtype="object")
        return frame

    def span(self, mart: Mart, column: str, where: str = "") -> tuple[date, date]:
        """First and last day of a mart's date column; a clear error when it has no rows."""
        self.check(mart)
        found = self.sql(
            f"select min({column}) as first, max({column}) as last, count(*) as n"
            f" from {self.table(mart)}" + (f" where {where}" if where else "")
        )
        if not len(found) or not int(found["n"].iloc[0]):
            raise MartMissing(
                f"The production table {self.dataset}.{mart.name} has no rows yet.",
                f"It is filled by {mart.built_by}: {HOW_TO_BUILD}.",
            )
        return as_day(found["first"].iloc[0]), as_day(found["last"].iloc[0])


def as_day(value: object) -> date:
    """A date from whatever the backend returned (date, datetime, Timestamp)."""
    return pd.Timestamp(value).date()


def day_literal(day: date) -> str:
    """A DATE literal both backends read."""
    return f"date '{day.isoformat()}'"


def between(column: str, start: date, end: date) -> str:
    """A filter on a DATE column, both ends included."""
    return f"{column} between {day_literal(start)} and {day_literal(end)}"


def between_hours(column: str, start: date, end: date) -> str:
    """A filter on a TIMESTAMP column covering the UTC days [start, end]."""
    stop = end + timedelta(days=1)
    return (
        f"{column} >= timestamp '{start.isoformat()} 00:00:00'"
        f" and {column} < timestamp '{stop.isoformat()} 00:00:00'"
    )


# --- Forecast ------------------------------------------------------------------------------


def forecast_issues(reader: MartReader) -> list[date]:
    """Issue days of the forecast, newest first."""
    hourly, _ = forecast_marts(reader.settings)
    reader.span(hourly, "issue_date")
    found = reader.sql(
        f"select distinct issue_date from {reader.table(hourly)} order by issue_date desc"
    )
    return [as_day(d) for d in found["issue_date"]]


def forecast_hourly(reader: MartReader, issue: date) -> pd.DataFrame:
    """One issue's hours: our P10/P50/P90, the forecaster, RTE's J-1 and the actual."""
    hourly, _ = forecast_marts(reader.settings)
    present = reader.check(hourly)
    reader.check(ENERGY_HOURLY)
    extra = "".join(f", f.{c}" for c in hourly.optional if c in present)
    frame = reader.sql(
        "select f.issue_date, f.horizon_days, f.target_date, f.target_hour_utc,"
        " f.target_hour_local, f.p10_mw, f.p50_mw, f.p90_mw, f.model_version" + extra + ","
        " e.forecast_j1_mw as rte_j1_mw, e.consumption_mw as actual_mw"
        f" from {reader.table(hourly)} as f"
        f" left join {reader.table(ENERGY_HOURLY)} as e on e.hour_utc = f.target_hour_utc"
        f" where f.issue_date = {day_literal(issue)}"
        " order by f.horizon_days, f.target_hour_utc"
    )
    for col in hourly.optional:
        if col not in frame:
            frame[col] = pd.Series([pd.NA] * len(frame), dtype="object")
    return frame


def forecast_daily(reader: MartReader, issue: date) -> pd.DataFrame:
    """One issue's days: our energy and band, RTE's J-1 and the actual over the measured hours."""
    _, daily = forecast_marts(reader.settings)
    reader.check(daily)
    reader.check(SKILL_DAILY)
    return reader.sql(
        "select d.target_date, d.horizon_days, d.hours, d.energy_p10_gwh, d.energy_p50_gwh,"
        " d.energy_p90_gwh, d.model_version, s.measured_hours, s.rte_j1_energy_gwh,"
        " s.actual_energy_gwh"
        f" from {reader.table(daily)} as d"
        f" left join {reader.table(SKILL_DAILY)} as s"
        " on s.date_local = d.target_date and s.horizon_days = d.horizon_days"
        f" where d.issue_date = {day_literal(issue)}"
        " order by d.horizon_days"
    )


# --- Skill ---------------------------------------------------------------------------------


def skill_span(reader: MartReader) -> tuple[date, date]:
    """Days the skill mart covers."""
    return reader.span(SKILL_DAILY, "date_local")


def skill_daily(reader: MartReader, start: date, end: date) -> pd.DataFrame:
    """Daily and rolling skill of ours and RTE's J-1 over a period."""
    return reader.select(
        SKILL_DAILY, where=between("date_local", start, end), order_by="date_local, horizon_days"
    )


def skill_headline(reader: MartReader) -> pd.DataFrame:
    """Per horizon, the 28-day skill on the latest fully measured day (one row per horizon)."""
    frame = reader.select(
        SKILL_DAILY,
        where="measured_hours = forecast_hours and mape_28d_pct is not null",
        order_by="horizon_days, date_local desc",
    )
    return frame.groupby("horizon_days", as_index=False).head(1).reset_index(drop=True)


# --- Energy mix ----------------------------------------------------------------------------


def daily_span(reader: MartReader) -> tuple[date, date]:
    """Days of the daily mart with consumption."""
    return reader.span(DAILY, "date", where="consumption_gwh is not null")


def energy_daily(reader: MartReader, start: date, end: date) -> pd.DataFrame:
    """Daily consumption, production by source, shares, CO2 and exchanges."""
    return reader.select(DAILY, where=between("date", start, end), order_by="date")


def energy_hourly(reader: MartReader, start: date, end: date) -> pd.DataFrame:
    """Hourly consumption, production by source, CO2 and exchanges, by local day."""
    return reader.select(
        ENERGY_HOURLY, where=between("date_local", start, end), order_by="hour_utc"
    )


def latest_complete_day(reader: MartReader) -> pd.DataFrame:
    """The newest day whose consumption is complete (one row, or none)."""
    return reader.select(
        DAILY,
        where="is_consumption_complete",
        order_by="date desc",
        columns=("date", "consumption_gwh", "consumption_peak_mw", "co2_g_per_kwh"),
    ).head(1)


# --- Gas and temperature -------------------------------------------------------------------


def gas_span(reader: MartReader) -> tuple[date, date]:
    """Gas days covered."""
    return reader.span(GAS, "gas_day")


def gas_storage(reader: MartReader, start: date, end: date) -> pd.DataFrame:
    """National and per-group stock and fill level, with the status that marks estimates."""
    return reader.select(
        GAS, where=between("gas_day", start, end), order_by="gas_day, level, storage_group"
    )


def temperatures(reader: MartReader, start: date, end: date) -> pd.DataFrame:
    """National min/mean/max and regional mean temperatures per day."""
    return reader.select(
        DAILY,
        where=between("date", start, end),
        order_by="date",
        columns=("date", "tmin_c", "tmean_c", "tmax_c", "temperature_regions_reported")
        + REGION_COLUMNS,
    )


# --- Weather -------------------------------------------------------------------------------


def weather_current_run(reader: MartReader) -> pd.DataFrame:
    """The newest run of each forecast series, every hour and region."""
    reader.span(WEATHER_RUN, "valid_at")
    return reader.select(WEATHER_RUN, order_by="forecast_model, region_code, valid_at")


def weather_error_span(reader: MartReader) -> tuple[date, date]:
    """Days the forecast-vs-observed temperature error covers."""
    return reader.span(WEATHER_ERROR, "date")


def weather_error(reader: MartReader, start: date, end: date) -> pd.DataFrame:
    """Forecast minus observed daily mean temperature, per region, run and lead."""
    return reader.select(
        WEATHER_ERROR,
        where=between("date", start, end),
        order_by="date, forecast_model, region_code, lead_days",
    )


# --- Pipeline health -----------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    """A dataset as the marts show it: where its days are and how often new ones are due."""

    name: str
    mart: Mart
    day_column: str
    cadence_hours: float
    present: str = ""  # a filter: the rows that count as the day being there
    stamp_column: str = ""  # when the mart last took rows of it


FEEDS = (
    Feed(
        "electricity (eCO2mix)",
        ENERGY_HOURLY,
        "date_local",
        1,
        "consumption_mw is not null",
        "loaded_at",
    ),
    Feed("gas storage", GAS, "gas_day", 24, "level = 'national' and status = 'reported'"),
    Feed("regional temperatures", DAILY, "date", 24, "temperature_regions_reported > 0"),
    Feed("weather runs", WEATHER_RECENT, "run_day", 6, "", "ingested_at"),
    Feed("consumption forecast", FORECAST, "issue_date", 24, "", "created_at"),
)
# A day is due this long after it ends, plus the cadence: the sources publish with a delay.
PUBLICATION_SLACK_HOURS = 24


def _feed_mart(reader: MartReader, feed: Feed) -> Mart:
    return forecast_marts(reader.settings)[0] if feed.mart is FORECAST else feed.mart


def _days_present(reader: MartReader, feed: Feed) -> list[date]:
    mart = _feed_mart(reader, feed)
    where = f" where {feed.present}" if feed.present else ""
    days = reader.sql(
        f"select distinct cast({feed.day_column} as date) as day from {reader.table(mart)}{where}"
    )
    return sorted({as_day(d) for d in days["day"]})


def feed_days(reader: MartReader) -> pd.DataFrame:
    """(dataset, day) for every day a dataset's mart holds: the holes are the gaps."""
    frames = []
    for feed in FEEDS:
        try:
            reader.check(_feed_mart(reader, feed))
        except MartMissing:
            continue
        days = _days_present(reader, feed)
        frames.append(pd.DataFrame({"dataset": feed.name, "day": pd.to_datetime(days)}))
    if not frames:
        raise MartMissing("No production table holds any day yet.", f"{HOW_TO_BUILD}.")
    return pd.concat(frames, ignore_index=True)


def feed_health(reader: MartReader, now: datetime | None = None) -> pd.DataFrame:
    """Per dataset: first and latest day, days missing in between, last load, and freshness."""
    now = (now or datetime.now(UTC)).replace(tzinfo=None)
    rows = []
    for feed in FEEDS:
        mart = _feed_mart(reader, feed)
        row: dict[str, object] = {"dataset": feed.name, "table": reader.table(mart)}
        rows.append(row)
        try:
            reader.check(mart)
        except MartMissing as exc:
            row["status"] = exc.message
            continue
        present = _days_present(reader, feed)
        if not present:
            row["status"] = "no rows yet"
            continue
        missing = sorted(set(pd.date_range(present[0], present[-1], freq="D").date) - set(present))
        # Hours since the latest day present ended: a day is complete only once it is over.
        ended = datetime.combine(present[-1] + timedelta(days=1), datetime.min.time())
        age_hours = max((now - ended).total_seconds() / 3600, 0.0)
        stamp = None
        if feed.stamp_column:
            stamp = reader.sql(
                f"select max({feed.stamp_column}) as stamp from {reader.table(mart)}"
            )["stamp"].iloc[0]
        row.update(
            {
                "first_day": present[0],
                "latest_day": present[-1],
                "days_missing": len(missing),
                "missing_days": ", ".join(d.isoformat() for d in missing[:10])
                + (" …" if len(missing) > 10 else ""),
                "last_loaded_utc": stamp,
                "expected_every_hours": feed.cadence_hours,
                "hours_since_latest_day": round(age_hours, 1),
                "status": "late"
                if age_hours > feed.cadence_hours + PUBLICATION_SLACK_HOURS
                else "fresh",
            }
        )
    return pd.DataFrame(rows)


def model_history(reader: MartReader) -> pd.DataFrame:
    """The models that issued forecasts, in order: the latest is the champion in use."""
    hourly, _ = forecast_marts(reader.settings)
    reader.span(hourly, "issue_date")
    return reader.sql(
        "select model_version, min(issue_date) as first_issue, max(issue_date) as last_issue,"
        " count(distinct issue_date) as issues, max(created_at) as last_written_utc"
        f" from {reader.table(hourly)} group by model_version order by first_issue, last_issue"
    )


# --- Pipeline health: runs and promotions ---------------------------------------------------

PIPELINE_RUNS = Mart(
    "pipeline_runs",
    (
        "step_name",
        "status",
        "needs_attention",
        "started_at",
        "ended_at",
        "duration_seconds",
        "as_of",
        "row_count",
        "day_partitions",
        "message",
        "flow_name",
        "run_id",
        "runs_ago",
        "is_latest",
    ),
    built_by="the transform step, from the summaries each run writes to the lake",
)
MODEL_PROMOTIONS = Mart(
    "model_promotions",
    (
        "model_version",
        "decided_at",
        "decision",
        "is_champion",
        "champion_since",
        "champion_before",
        "challenger_mape_pct",
        "champion_mape_pct",
        "mape_change_points",
        "holdout_start",
        "holdout_end",
        "reason",
    ),
    built_by="the transform step, from the decisions each training publishes to the lake",
)
# The steps in the order the daily pipeline runs them, then the flows only run on their own.
STEP_ORDER = ("odre", "weather", "audit", "load", "transform", "forecast", "train", "backfill")
NO_RUNS_HINT = (
    f"Every run records how its steps ended; to record one, {HOW_TO_BUILD}."
    " A run's record reaches this page with the transform step."
)


def _in_step_order(frame: pd.DataFrame) -> pd.DataFrame:
    rank = {step: i for i, step in enumerate(STEP_ORDER)}
    order = frame["step_name"].map(lambda s: rank.get(s, len(rank)))
    return (
        frame.assign(_order=order)
        .sort_values(["_order", "step_name", "runs_ago"])
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def step_runs(reader: MartReader, per_step: int = 10) -> pd.DataFrame:
    """The last `per_step` runs of each step (runs_ago 1 = the latest), in pipeline order."""
    runs = reader.select(PIPELINE_RUNS, where=f"runs_ago <= {int(per_step)}")
    if runs.empty:
        raise MartMissing(
            f"No pipeline run is recorded in {reader.dataset}.{PIPELINE_RUNS.name} yet.",
            NO_RUNS_HINT,
        )
    return _in_step_order(runs)


def last_runs(reader: MartReader) -> pd.DataFrame:
    """The latest run of each step, in pipeline order."""
    return step_runs(reader, per_step=1)


def promotions(reader: MartReader) -> pd.DataFrame:
    """Every promotion decision of the model registry, newest first."""
    found = reader.select(MODEL_PROMOTIONS, order_by="decided_at desc, model_version desc")
    if found.empty:
        raise MartMissing(
            f"No promotion decision is recorded in {reader.dataset}.{MODEL_PROMOTIONS.name} yet.",
            "Each training decides whether its model becomes champion; the forecast step trains"
            f" a first model when there is none: {HOW_TO_BUILD}.",
        )
    return found
