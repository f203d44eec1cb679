"""Warehouse reads of the forecast: exactly the window a step needs, never the full history.

Tables (schemas from Settings): production.energy_mix_hourly (consumption and RTE's J-1),
staging.odre__temperature_quotidienne_regionale (observed), staging.meteofrance__temperature_daily
(forecast runs, partitioned by run day `day`). SQL is plain and portable (DuckDB, BigQuery).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from flows.errors import InputMissingError
from flows.forecast.features import days, utc_naive
from flows.settings import Settings
from flows.warehouse import Warehouse

CONSUMPTION_TABLE = "energy_mix_hourly"
OBSERVED_TABLE = "odre__temperature_quotidienne_regionale"
FORECAST_TABLE = "meteofrance__temperature_daily"
TEMPERATURE_COLUMNS = ["date", "code_insee_region", "tmin", "tmax", "tmoy"]


def _ts(value: pd.Timestamp) -> str:
    return f"timestamp '{pd.Timestamp(value):%Y-%m-%d %H:%M:%S}'"


def _day(value: date | pd.Timestamp) -> str:
    return f"date '{pd.Timestamp(value):%Y-%m-%d}'"


def _require(wh: Warehouse, dataset: str, table: str) -> str:
    if not wh.table_exists(dataset, table):
        raise InputMissingError(
            f"table {dataset}.{table} does not exist (run load/transform first)"
        )
    return f"{dataset}.{table}"


def read_consumption(
    wh: Warehouse, settings: Settings, start_utc: pd.Timestamp, end_utc: pd.Timestamp
) -> pd.DataFrame:
    """Hourly consumption and RTE's J-1 for start <= hour_utc < end; null hours left out."""
    table = _require(wh, settings.production_dataset, CONSUMPTION_TABLE)
    frame = wh.query(
        f"select hour_utc, consumption_mw, forecast_j1_mw from {table}"
        f" where hour_utc >= {_ts(start_utc)} and hour_utc < {_ts(end_utc)}"
        " and consumption_mw is not null order by hour_utc"
    )
    frame["hour_utc"] = utc_naive(frame["hour_utc"]).to_numpy()
    for col in ("consumption_mw", "forecast_j1_mw"):
        frame[col] = pd.to_numeric(frame[col]).astype(float)
    return frame


def read_observed_temperatures(
    wh: Warehouse, settings: Settings, start: date, end: date
) -> pd.DataFrame:
    """Observed daily regional temperatures for start <= date <= end."""
    table = _require(wh, settings.staging_dataset, OBSERVED_TABLE)
    frame = wh.query(
        f"select {', '.join(TEMPERATURE_COLUMNS)} from {table}"
        f" where date between {_day(start)} and {_day(end)} and code_insee_region > 0"
    )
    return _typed_temperatures(frame)


def read_forecast_temperatures(
    wh: Warehouse,
    settings: Settings,
    first_run_day: date,
    last_run_day: date,
    start: date,
    end: date,
) -> pd.DataFrame:
    """Forecast daily regional temperatures of the configured model from runs of those days."""
    table = _require(wh, settings.staging_dataset, FORECAST_TABLE)
    frame = wh.query(
        f"select {', '.join(TEMPERATURE_COLUMNS)}, run_time from {table}"
        f" where day between {_day(first_run_day)} and {_day(last_run_day)}"
        f" and date between {_day(start)} and {_day(end)}"
        f" and model = '{settings.forecast_weather_model}'"
        f" and grid = '{settings.forecast_weather_grid}' and code_insee_region > 0"
    )
    frame = _typed_temperatures(frame)
    frame["run_time"] = utc_naive(frame["run_time"]).to_numpy()
    return frame


def archived_forecast_temperatures(
    wh: Warehouse, settings: Settings, start: date, end: date
) -> pd.DataFrame:
    """Temperatures as each issue day saw them (`issue_date` column), from archived runs.

    For issue day D: the days before D from the latest run of D-1 or earlier (as close to an
    observation as forecasts get), and D onwards from the run of day D.
    """
    lookback = settings.forecast_temperature_warmup_days + 1
    runs = read_forecast_temperatures(
        wh,
        settings,
        start - timedelta(days=lookback),
        end,
        start - timedelta(days=lookback),
        end + timedelta(days=settings.forecast_horizon_days),
    )
    if runs.empty:
        return runs.assign(issue_date=pd.Series(dtype="datetime64[us]"))
    runs["run_day"] = runs["run_time"].dt.normalize()
    latest = runs.sort_values("run_time").drop_duplicates(
        ["run_day", "date", "code_insee_region"], keep="last"
    )
    parts = []
    for issue in pd.date_range(start, end):
        own = latest[(latest["run_day"] == issue) & (latest["date"] >= issue)]
        past = latest[
            (latest["run_day"] < issue)
            & (latest["date"] < issue)
            & (latest["date"] >= issue - pd.Timedelta(days=lookback))
        ]
        past = past.drop_duplicates(["date", "code_insee_region"], keep="last")
        parts.append(pd.concat([past, own]).assign(issue_date=issue))
    out = pd.concat(parts, ignore_index=True)
    return out[["issue_date", *TEMPERATURE_COLUMNS]]


def archived_forecast_days(wh: Warehouse, settings: Settings) -> int:
    """How many distinct run days of the configured weather model are archived."""
    if not wh.table_exists(settings.staging_dataset, FORECAST_TABLE):
        return 0
    found = wh.query(
        f"select count(distinct day) as n from {settings.staging_dataset}.{FORECAST_TABLE}"
        f" where model = '{settings.forecast_weather_model}'"
        f" and grid = '{settings.forecast_weather_grid}'"
    )
    return int(found["n"].iloc[0] or 0)


def _typed_temperatures(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["date"] = days(frame["date"]).to_numpy()
    frame["code_insee_region"] = pd.to_numeric(frame["code_insee_region"]).astype(int)
    for col in ("tmin", "tmax", "tmoy"):
        frame[col] = pd.to_numeric(frame[col]).astype(float)
    return frame
