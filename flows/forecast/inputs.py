"""Warehouse reads of the forecast: one dbt mart, exactly the window a step needs.

Everything comes from production.forecast_inputs_hourly (dbt/models/marts/forecast), per UTC
hour and series: 'measured' rows (consumption, RTE's J-1, observed daily temperatures) and
one row per weather run and hour (the run's daily temperatures and hourly weather, stamped
with its `run_at`). The national temperature is the mart's, computed once in dbt; here the
rows are only reshaped into the frames the features take. SQL is plain and portable (DuckDB,
BigQuery) and always bounded by days, so BigQuery prunes the mart's partitions.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

import numpy as np
import pandas as pd

from flows.errors import InputMissingError
from flows.forecast.features import (
    WEATHER_COLUMNS,
    FeatureConfig,
    days,
    issue_time_utc,
    local_day_bounds_utc,
    utc_naive,
)
from flows.regions import NATIONAL_CODE, REGIONS
from flows.settings import Settings
from flows.warehouse import Warehouse

INPUTS_TABLE = "forecast_inputs_hourly"
MEASURED = "measured"
TEMPERATURE_COLUMNS = ["date", "code_insee_region", "tmin", "tmax", "tmoy"]
# The mart's daily measures and the features' names for them.
_MEASURES = {"tmin_c": "tmin", "tmax_c": "tmax", "tmean_c": "tmoy"}


def region_slug(name: str) -> str:
    """A region's name as the mart's column suffix (Île-de-France -> ile_de_france)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")


# (region code, mart column prefix); the national values carry no suffix.
_AREAS = [(NATIONAL_CODE, ""), *((r.code, f"_{region_slug(r.name)}") for r in REGIONS)]
_DAILY_COLUMNS = [f"{m}{suffix}" for _, suffix in _AREAS for m in _MEASURES]


def _ts(value: pd.Timestamp) -> str:
    return f"timestamp '{pd.Timestamp(value):%Y-%m-%d %H:%M:%S}'"


def _day(value: date | pd.Timestamp) -> str:
    return f"date '{pd.Timestamp(value):%Y-%m-%d}'"


def _table(wh: Warehouse, settings: Settings) -> str:
    if not wh.table_exists(settings.production_dataset, INPUTS_TABLE):
        raise InputMissingError(
            f"table {settings.production_dataset}.{INPUTS_TABLE} does not exist"
            " (run load/transform first)"
        )
    return f"{settings.production_dataset}.{INPUTS_TABLE}"


def weather_source(settings: Settings) -> str:
    """The mart's `source` of the configured weather model's runs (model/grid)."""
    return f"{settings.forecast_weather_model}/{settings.forecast_weather_grid}"


def read_consumption(
    wh: Warehouse, settings: Settings, start_utc: pd.Timestamp, end_utc: pd.Timestamp
) -> pd.DataFrame:
    """Hourly consumption and RTE's J-1 (scoring only) for start <= hour_utc < end."""
    frame = wh.query(
        f"select hour_utc, consumption_mw, rte_j1_mw as forecast_j1_mw from {_table(wh, settings)}"
        f" where source = '{MEASURED}'"
        f" and date_local between {_day(start_utc - pd.Timedelta(days=1))}"
        f" and {_day(end_utc + pd.Timedelta(days=1))}"
        f" and hour_utc >= {_ts(start_utc)} and hour_utc < {_ts(end_utc)}"
        " and consumption_mw is not null order by hour_utc"
    )
    frame["hour_utc"] = utc_naive(frame["hour_utc"]).to_numpy()
    for col in ("consumption_mw", "forecast_j1_mw"):
        frame[col] = pd.to_numeric(frame[col]).astype(float)
    return frame


def read_issued_errors(
    wh: Warehouse, settings: Settings, target_days: list[date], timezone: str
) -> pd.Series:
    """Per local day of `target_days`: the mean relative error of our D+1 forecast as issued,
    before its holiday memory; only days whose every hour has both values."""
    if not target_days:
        return pd.Series(dtype=float)
    listed = ", ".join(_day(d) for d in sorted(set(target_days)))
    frame = wh.query(
        "select date_local, count(*) as hours, avg((consumption_mw - issued_d1_p50_before_memory_mw)"
        " / issued_d1_p50_before_memory_mw) as error"
        f" from {_table(wh, settings)} where source = '{MEASURED}' and date_local in ({listed})"
        " and consumption_mw is not null and issued_d1_p50_before_memory_mw is not null"
        " group by date_local order by date_local"
    )
    day_index = days(frame["date_local"])
    bounds = [local_day_bounds_utc(pd.Timestamp(d), timezone) for d in day_index]
    expected = [round((end - start) / pd.Timedelta(hours=1)) for start, end in bounds]
    complete = pd.to_numeric(frame["hours"]).to_numpy() == np.array(expected, dtype=int)
    errors = pd.Series(pd.to_numeric(frame["error"]).astype(float).to_numpy(), index=day_index)
    return errors[complete]


def _long_temperatures(wide: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mart rows (one per day, areas side by side) as one row per day and area."""
    parts = []
    for code, suffix in _AREAS:
        part = wide[keys].copy()
        part["code_insee_region"] = code
        for measure, name in _MEASURES.items():
            part[name] = pd.to_numeric(wide[f"{measure}{suffix}"]).astype(float)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.dropna(subset=list(_MEASURES.values()), how="all")
    frame["date"] = days(frame["date"]).to_numpy()
    frame["code_insee_region"] = frame["code_insee_region"].astype(int)
    return frame.sort_values([*keys, "code_insee_region"], ignore_index=True)


def read_observed_temperatures(
    wh: Warehouse, settings: Settings, start: date, end: date
) -> pd.DataFrame:
    """Observed daily temperatures for start <= date <= end: each region, and the nation (0)."""
    frame = wh.query(
        f"select distinct date_local as date, {', '.join(_DAILY_COLUMNS)} from"
        f" {_table(wh, settings)} where source = '{MEASURED}'"
        f" and date_local between {_day(start)} and {_day(end)}"
    )
    return _long_temperatures(frame, ["date"])[TEMPERATURE_COLUMNS]


def read_forecast_temperatures(
    wh: Warehouse,
    settings: Settings,
    first_run_day: date,
    last_run_day: date,
    start: date,
    end: date,
) -> pd.DataFrame:
    """Forecast daily temperatures of the configured model from runs of those (UTC) days."""
    frame = wh.query(
        f"select distinct run_at as run_time, date_local as date, {', '.join(_DAILY_COLUMNS)}"
        f" from {_table(wh, settings)} where source = '{weather_source(settings)}'"
        f" and run_at >= {_ts(pd.Timestamp(first_run_day))}"
        f" and run_at < {_ts(pd.Timestamp(last_run_day) + pd.Timedelta(days=1))}"
        f" and date_local between {_day(start)} and {_day(end)}"
    )
    frame["run_time"] = utc_naive(frame["run_time"]).to_numpy()
    return _long_temperatures(frame, ["run_time", "date"])[[*TEMPERATURE_COLUMNS, "run_time"]]


def read_weather_hourly(
    wh: Warehouse,
    settings: Settings,
    first_run_day: date,
    last_run_day: date,
    start_utc: pd.Timestamp,
    end_utc: pd.Timestamp,
) -> pd.DataFrame:
    """Hourly national weather of the configured model's runs of those days, per run and hour."""
    frame = wh.query(
        f"select run_at as run_time, hour_utc, {', '.join(WEATHER_COLUMNS)}"
        f" from {_table(wh, settings)} where source = '{weather_source(settings)}'"
        f" and run_at >= {_ts(pd.Timestamp(first_run_day))}"
        f" and run_at < {_ts(pd.Timestamp(last_run_day) + pd.Timedelta(days=1))}"
        f" and date_local between {_day(start_utc - pd.Timedelta(days=1))}"
        f" and {_day(end_utc + pd.Timedelta(days=1))}"
        f" and hour_utc >= {_ts(start_utc)} and hour_utc < {_ts(end_utc)}"
        " order by run_at, hour_utc"
    )
    for col in ("run_time", "hour_utc"):
        frame[col] = utc_naive(frame[col]).to_numpy()
    for col in WEATHER_COLUMNS:
        frame[col] = pd.to_numeric(frame[col]).astype(float)
    return frame


def weather_as_issued(
    runs: pd.DataFrame, issue_days: list[date], cfg: FeatureConfig
) -> pd.DataFrame:
    """Per issue day, the hourly weather of the latest run issued by its issue time.

    The features' `weather_hourly` frame: `issue_date`, `hour_utc` and the weather columns;
    an issue day without a run by then has no rows (its features stay missing).
    """
    columns = ["issue_date", "hour_utc", *WEATHER_COLUMNS]
    if runs.empty or not issue_days:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    issues = pd.DataFrame({"issue_date": [pd.Timestamp(d) for d in issue_days]})
    issues["issued_at"] = [issue_time_utc(d, cfg) for d in issue_days]
    run_times = pd.DataFrame({"run_time": np.sort(runs["run_time"].unique())})
    # One asof join finds each issue's run, then one merge brings that run's hours.
    chosen = pd.merge_asof(
        issues.sort_values("issued_at"),
        run_times,
        left_on="issued_at",
        right_on="run_time",
        direction="backward",
    ).dropna(subset=["run_time"])
    out = chosen[["issue_date", "run_time"]].merge(runs, on="run_time")
    return out.sort_values(["issue_date", "hour_utc"], ignore_index=True)[columns]


def archived_weather_hourly(
    wh: Warehouse, settings: Settings, first_issue: date, last_issue: date, cfg: FeatureConfig
) -> pd.DataFrame:
    """The hourly weather each issue day of [first_issue, last_issue] saw, from archived runs."""
    runs = read_weather_hourly(
        wh,
        settings,
        first_issue - timedelta(days=1),
        last_issue,
        local_day_bounds_utc(first_issue, cfg.timezone)[0],
        local_day_bounds_utc(last_issue + timedelta(days=cfg.horizon_days + 1), cfg.timezone)[0],
    )
    return weather_as_issued(runs, list(pd.date_range(first_issue, last_issue).date), cfg)


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
    if not wh.table_exists(settings.production_dataset, INPUTS_TABLE):
        return 0
    found = wh.query(
        f"select count(distinct cast(run_at as date)) as n from {_table(wh, settings)}"
        f" where source = '{weather_source(settings)}'"
    )
    return int(found["n"].iloc[0] or 0)
