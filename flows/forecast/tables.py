"""The forecast's output as a source like the others: lake partitions, then staging tables.

The predict flow writes one lake partition per issue day (`date=<issue day>`: hourly.parquet
and daily.parquet, replaced whole when the day is re-issued); the staging load copies them
into the two tables below, and dbt builds the production marts from those.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa

from flows.lake import DAY, Lake, day_segment
from flows.staging import LakeSource
from flows.warehouse import TableSpec, Warehouse

LAKE_PREFIX = "curated/forecast/consumption/"
HOURLY_FILE = "hourly.parquet"
DAILY_FILE = "daily.parquet"
HOURLY_TABLE = "forecast__consumption_hourly"
DAILY_TABLE = "forecast__consumption_daily"


def hourly_spec(name: str = HOURLY_TABLE) -> TableSpec:
    """Hourly national consumption forecast, one row per issue day and target hour."""
    return TableSpec(
        name=name,
        columns={
            "issue_date": "date",
            "issue_time_utc": "timestamp",
            "horizon_days": "int64",
            "target_date": "date",
            "target_hour_utc": "timestamp",
            "target_hour_local": "string",
            "p10_mw": "float64",
            "p50_mw": "float64",
            "p90_mw": "float64",
            "p50_before_memory_mw": "float64",
            "forecaster": "string",
            "forecaster_reason": "string",
            "model_version": "string",
            "created_at": "timestamp",
        },
        partition_by="issue_date",
        cluster_by=("target_hour_utc",),
        description="Hourly national electricity consumption forecast (MW), P10/P50/P90.",
        column_descriptions={
            "issue_date": "Local day the forecast was issued (partition).",
            "issue_time_utc": "UTC instant of issue: the data known then, nothing later.",
            "horizon_days": "Days ahead of the issue day: 1 (D+1) or 2 (D+2).",
            "target_date": "Local (Europe/Paris) day of the target hour.",
            "target_hour_utc": "UTC start of the target hour.",
            "target_hour_local": "Local start of the target hour, ISO 8601 with offset.",
            "p10_mw": "10th percentile of consumption, MW.",
            "p50_mw": "Central forecast of consumption, MW.",
            "p90_mw": "90th percentile of consumption, MW.",
            "p50_before_memory_mw": "P50 before the holiday memory: the error that later years'"
            " same holiday learns from (equal to p50_mw on ordinary days).",
            "forecaster": "Which forecaster produced the row: `online_panel` (the experts"
            " corrected and aggregated online), `fallback_calendar` (no temperatures) or"
            " `naive_week` (last resort).",
            "forecaster_reason": "Why that forecaster produced the row, in words.",
            "model_version": "Registry version of the model that made the forecast.",
            "created_at": "When the row was written (UTC).",
        },
    )


def daily_spec(name: str = DAILY_TABLE) -> TableSpec:
    """Daily energy of the forecast, one row per issue day and target day."""
    return TableSpec(
        name=name,
        columns={
            "issue_date": "date",
            "horizon_days": "int64",
            "target_date": "date",
            "hours": "int64",
            "energy_p10_mwh": "float64",
            "energy_p50_mwh": "float64",
            "energy_p90_mwh": "float64",
            "peak_p50_mw": "float64",
            "model_version": "string",
            "created_at": "timestamp",
        },
        partition_by="issue_date",
        cluster_by=("target_date",),
        description="Daily national consumption energy forecast (MWh).",
        column_descriptions={
            "issue_date": "Local day the forecast was issued (partition).",
            "horizon_days": "Days ahead of the issue day.",
            "target_date": "Local (Europe/Paris) target day.",
            "hours": "Hours in the local day (23 or 25 on DST days).",
            "energy_p10_mwh": "Sum of hourly P10 (a conservative band, not the daily P10).",
            "energy_p50_mwh": "Sum of hourly P50, MWh.",
            "energy_p90_mwh": "Sum of hourly P90 (a conservative band, not the daily P90).",
            "peak_p50_mw": "Highest hourly P50 of the day, MW.",
            "model_version": "Registry version of the model that made the forecast.",
            "created_at": "When the row was written (UTC).",
        },
    )


def partition_key(issue_day: date, file_name: str) -> str:
    """The lake key of one issue day's hourly or daily forecast rows."""
    return f"{LAKE_PREFIX}{day_segment(issue_day)}/{file_name}"


def write_partition(
    lake: Lake, issue_day: date, hourly: pd.DataFrame, daily: pd.DataFrame
) -> list[str]:
    """Replace the issue day's partition in the lake (each object atomically); its keys."""
    written = []
    for spec, file_name, frame in (
        (hourly_spec(), HOURLY_FILE, hourly),
        (daily_spec(), DAILY_FILE, daily),
    ):
        key = partition_key(issue_day, file_name)
        lake.write_parquet(key, spec.conform(frame))
        written.append(key)
    return written


# Columns added after partitions were written without them, and the column whose value they
# had then: a forecast issued before the holiday memory existed had none.
_ADDED_COLUMNS = {"p50_before_memory_mw": "p50_mw"}


def with_added_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows written before a column was added, with the value that column had then."""
    missing = {c: frame[was] for c, was in _ADDED_COLUMNS.items() if c not in frame.columns}
    return frame.assign(**missing) if missing else frame


def _conformed(spec: TableSpec):
    def to_frame(table: pa.Table, key: str) -> pd.DataFrame:
        frame = table.to_pandas()
        return spec.conform(with_added_columns(frame) if spec.name == HOURLY_TABLE else frame)

    return to_frame


def lake_sources() -> list[LakeSource]:
    """Forecast partitions → staging tables, one partition per issue day (key `date`)."""
    return [
        LakeSource(LAKE_PREFIX, DAY, spec, file_name=name, to_frame=_conformed(spec))
        for spec, name in ((hourly_spec(), HOURLY_FILE), (daily_spec(), DAILY_FILE))
    ]


def export_warehouse_rows(
    wh: Warehouse, lake: Lake, dataset: str, hourly_table: str, daily_table: str
) -> list[date]:
    """One-off migration: issue days of warehouse tables written by an older predict, to the lake.

    Before the forecast marts were dbt models, predict wrote them itself; the first dbt build
    replaces those tables with what staging holds, so their rows are copied to the lake first
    (an issue day already in the lake is left as it is). Returns the issue days copied.
    """
    if not wh.table_exists(dataset, hourly_table):
        return []
    in_lake = {date.fromisoformat(v[:10]) for v in lake.list_partitions(LAKE_PREFIX, DAY)}
    hourly = with_added_columns(wh.query(f"select * from {dataset}.{hourly_table}"))
    daily = (
        wh.query(f"select * from {dataset}.{daily_table}")
        if wh.table_exists(dataset, daily_table)
        else pd.DataFrame(columns=list(daily_spec().columns))
    )
    copied = []
    for issue, rows in hourly.groupby(pd.to_datetime(hourly["issue_date"]).dt.date):
        if issue in in_lake:
            continue
        days_rows = daily[pd.to_datetime(daily["issue_date"]).dt.date == issue]
        write_partition(lake, issue, rows, days_rows)
        copied.append(issue)
    return sorted(copied)
