"""Weather staging tables and the curated lake objects that load into them.

Both tables are partitioned by `day`, the run's UTC date: a run is reloaded as a whole day
partition (with the other runs of that day), so loads are idempotent per run.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa

from flows.errors import LakeKeyError
from flows.lake import RUN, partition_day
from flows.meteofrance.archive import CURATED_ROOT, FEATURES, TEMPERATURE_DAILY
from flows.staging import LakeSource
from flows.warehouse import TableSpec

_RUN = {
    "model": "Model name (arpege, arome).",
    "grid": "Grid key as in the source's paths (01 = 0.1°, 0025 = 0.025°, ...).",
    "run_time": "Nominal time of the forecast run, UTC.",
}
_DAY = {"day": "UTC date of the run (the partition)."}
_LOADED = {"ingested_at": "When the curated object was written, UTC."}
_AREA = {
    "code_insee_region": "INSEE region code; 0 is the national population-weighted series.",
    "region": "Region name as in the ODRÉ temperature dataset; 'France' for the nation.",
}

FEATURES_HOURLY = TableSpec(
    name="meteofrance__features_hourly",
    columns={
        "day": "date",
        "model": "string",
        "grid": "string",
        "run_time": "timestamp",
        "valid_time": "timestamp",
        "step_hours": "float64",
        "code_insee_region": "int64",
        "region": "string",
        "t2m_c": "float64",
        "rh2m_pct": "float64",
        "wind10m_ms": "float64",
        "ssrd_wh_m2": "float64",
        "tcc_pct": "float64",
        "precip_mm": "float64",
        "ingested_at": "timestamp",
    },
    partition_by="day",
    cluster_by=("run_time", "valid_time", "code_insee_region"),
    description="Météo-France forecast weather per region and valid time, one row per run.",
    column_descriptions={
        **_DAY,
        **_RUN,
        "valid_time": "Time the values are valid at (end of the step for amounts), UTC.",
        "step_hours": "Lead time: valid_time - run_time, hours.",
        **_AREA,
        "t2m_c": "2 m temperature, °C.",
        "rh2m_pct": "2 m relative humidity, %.",
        "wind10m_ms": "10 m wind speed, m/s.",
        "ssrd_wh_m2": "Downward short-wave radiation over the step ending at valid_time, Wh/m².",
        "tcc_pct": "Total cloud cover, %.",
        "precip_mm": "Precipitation over the step ending at valid_time, mm.",
        **_LOADED,
    },
)

TEMPERATURE_DAILY_SPEC = TableSpec(
    name="meteofrance__temperature_daily",
    columns={
        "day": "date",
        "date": "date",
        "code_insee_region": "int64",
        "region": "string",
        "tmin": "float64",
        "tmax": "float64",
        "tmoy": "float64",
        "model": "string",
        "grid": "string",
        "run_time": "timestamp",
        "ingested_at": "timestamp",
    },
    partition_by="day",
    cluster_by=("run_time", "date", "code_insee_region"),
    description="Forecast daily 2 m temperature per region, shaped like the observed ODRÉ table.",
    column_descriptions={
        **_DAY,
        "date": "Local (Europe/Paris) calendar day forecast; only full days are kept.",
        **_AREA,
        "tmin": "Daily minimum 2 m temperature, °C.",
        "tmax": "Daily maximum 2 m temperature, °C.",
        "tmoy": "(tmin + tmax) / 2, °C, as in the observed table.",
        **_RUN,
        **_LOADED,
    },
)

SPECS = (FEATURES_HOURLY, TEMPERATURE_DAILY_SPEC)


def _run_day(key: str) -> date:
    day = partition_day(key, RUN)
    if day is None:
        raise LakeKeyError(f"{key}: no run= partition")
    return day


def curated_to_frame(spec: TableSpec):
    """A LakeSource reader adding the run date as the `day` partition."""

    def to_frame(table: pa.Table, key: str) -> pd.DataFrame:
        frame = table.to_pandas()
        frame["day"] = _run_day(key)
        return spec.conform(frame)

    return to_frame


def lake_sources() -> list[LakeSource]:
    """Curated weather objects → staging tables, one partition per run date (key `run`)."""
    return [
        LakeSource(
            CURATED_ROOT,
            "run",
            FEATURES_HOURLY,
            file_name=FEATURES,
            to_frame=curated_to_frame(FEATURES_HOURLY),
        ),
        LakeSource(
            CURATED_ROOT,
            "run",
            TEMPERATURE_DAILY_SPEC,
            file_name=TEMPERATURE_DAILY,
            to_frame=curated_to_frame(TEMPERATURE_DAILY_SPEC),
        ),
    ]
