"""Synthetic consumption and temperatures with a realistic shape, and warehouse tables of them.

Consumption follows the local hour, the weekday, holidays and a heating response to smoothed
national temperature, plus noise; RTE's J-1 is the truth with 1.5 % noise; forecast runs are
the observed temperatures with a little noise, issued at 00 UTC each day for D..D+3.
"""

from __future__ import annotations

from datetime import date

import holidays
import numpy as np
import pandas as pd

from flows.regions import REGIONS, population_weights
from flows.settings import Settings
from flows.warehouse import TableSpec, Warehouse

TZ = "Europe/Paris"
PROFILE = (
    np.array(
        [
            52,
            50,
            48,
            47,
            47,
            49,
            54,
            60,
            63,
            64,
            64,
            64,
            63,
            62,
            60,
            59,
            59,
            61,
            64,
            65,
            63,
            60,
            58,
            55,
        ]
    )
    / 58.0
)


def make_temperatures(start: str, end: str, seed: int = 1) -> pd.DataFrame:
    """Daily tmin/tmax/tmoy per region: a seasonal wave, weather spells, regional offsets."""
    rng = np.random.default_rng(seed)
    day_index = pd.date_range(start, end)
    doy = day_index.dayofyear.to_numpy()
    spell = pd.Series(rng.normal(0, 2.5, len(day_index))).ewm(alpha=0.3).mean().to_numpy()
    base = 12 - 8 * np.cos(2 * np.pi * (doy - 15) / 365.25) + spell
    rows = []
    for i, region in enumerate(REGIONS):
        offset = (i % 5) - 2 + (4 if region.code in (93, 94) else 0)
        tmoy = base + offset + rng.normal(0, 0.7, len(day_index))
        rows.append(
            pd.DataFrame(
                {
                    "date": day_index.date,
                    "code_insee_region": region.code,
                    "region": region.name,
                    "tmin": tmoy - 4,
                    "tmax": tmoy + 5,
                    "tmoy": tmoy,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def national(temps: pd.DataFrame) -> pd.Series:
    """Population-weighted national mean temperature per day."""
    weights = temps["code_insee_region"].map(population_weights())
    return (temps["tmoy"] * weights).groupby(pd.to_datetime(temps["date"])).sum()


def make_consumption(start: str, end: str, temps: pd.DataFrame, seed: int = 2) -> pd.DataFrame:
    """Hourly national consumption (UTC hours of the local days start..end) and RTE's J-1."""
    rng = np.random.default_rng(seed)
    first = pd.Timestamp(start).tz_localize(TZ).tz_convert("UTC")
    last = (pd.Timestamp(end) + pd.Timedelta(days=1)).tz_localize(TZ).tz_convert("UTC")
    hours = pd.date_range(first, last, freq="h", inclusive="left")
    local = hours.tz_convert(TZ)
    day = local.tz_localize(None).normalize()
    smooth = national(temps).ewm(alpha=0.5).mean()
    t = smooth.reindex(day).to_numpy()
    fr = holidays.France(years=range(hours[0].year, hours[-1].year + 1))
    off = np.array([d.date() in fr for d in day]) | (local.weekday == 6)
    sat = local.weekday == 5
    level = 55_000 * PROFILE[local.hour] * np.where(off, 0.86, np.where(sat, 0.92, 1.0))
    heating = 1_600 * np.maximum(15 - t, 0)
    noise = rng.normal(0, 400, len(hours))
    consumption = np.round(level + heating + noise)
    j1 = np.round(consumption * (1 + rng.normal(0, 0.015, len(hours))))
    return pd.DataFrame(
        {
            "hour_utc": hours.tz_localize(None).astype("datetime64[us]"),
            "consumption_mw": consumption,
            "forecast_j1_mw": j1,
        }
    )


def make_forecast_runs(
    temps: pd.DataFrame,
    run_days: list[date],
    model: str = "arpege",
    grid: str = "01",
    seed: int = 3,
) -> pd.DataFrame:
    """Forecast runs at 00 UTC of each day for D..D+3, in the temperature_daily shape."""
    rng = np.random.default_rng(seed)
    temps = temps.assign(date=pd.to_datetime(temps["date"]))
    parts = []
    for run_day in run_days:
        run_day = pd.Timestamp(run_day)
        covered = temps[
            (temps["date"] >= run_day) & (temps["date"] <= run_day + pd.Timedelta(days=3))
        ]
        noisy = covered.copy()
        delta = rng.normal(0, 0.5, len(noisy))
        for col in ("tmin", "tmax", "tmoy"):
            noisy[col] = noisy[col] + delta
        noisy["model"], noisy["grid"] = model, grid
        noisy["run_time"] = run_day
        noisy["day"] = run_day.date()
        parts.append(noisy)
    out = pd.concat(parts, ignore_index=True)
    out["date"] = out["date"].dt.date
    return out


# --- warehouse tables as the other parts define them ---------------------------------------
ENERGY_MIX_HOURLY = TableSpec(
    name="energy_mix_hourly",
    columns={
        "hour_utc": "timestamp",
        "hour_local": "timestamp",
        "date_local": "date",
        "consumption_mw": "float64",
        "forecast_j1_mw": "float64",
        "forecast_j_mw": "float64",
    },
    partition_by="date_local",
)
OBSERVED = TableSpec(
    name="odre__temperature_quotidienne_regionale",
    columns={
        "date": "date",
        "code_insee_region": "int64",
        "region": "string",
        "tmin": "float64",
        "tmax": "float64",
        "tmoy": "float64",
    },
    partition_by="date",
)
FORECAST_DAILY = TableSpec(
    name="meteofrance__temperature_daily",
    columns={
        "date": "date",
        "code_insee_region": "int64",
        "region": "string",
        "tmin": "float64",
        "tmax": "float64",
        "tmoy": "float64",
        "model": "string",
        "grid": "string",
        "run_time": "timestamp",
        "day": "date",
    },
    partition_by="day",
)


def load_consumption(wh: Warehouse, settings: Settings, consumption: pd.DataFrame) -> None:
    """Write consumption as production.energy_mix_hourly."""
    local = pd.DatetimeIndex(consumption["hour_utc"]).tz_localize("UTC").tz_convert(TZ)
    frame = consumption.assign(
        hour_local=local.tz_localize(None),
        date_local=local.tz_localize(None).normalize().date,
        forecast_j_mw=consumption["forecast_j1_mw"],
    )
    wh.ensure_table(settings.production_dataset, ENERGY_MIX_HOURLY)
    wh.replace_partitions(
        settings.production_dataset, ENERGY_MIX_HOURLY, frame, set(frame["date_local"])
    )


def load_observed(wh: Warehouse, settings: Settings, temps: pd.DataFrame) -> None:
    """Write observed temperatures as the ODRÉ staging table."""
    wh.ensure_table(settings.staging_dataset, OBSERVED)
    wh.replace_partitions(
        settings.staging_dataset, OBSERVED, temps, set(pd.to_datetime(temps["date"]).dt.date)
    )


def load_runs(wh: Warehouse, settings: Settings, runs: pd.DataFrame) -> None:
    """Write forecast runs as the weather staging table."""
    wh.ensure_table(settings.staging_dataset, FORECAST_DAILY)
    wh.replace_partitions(settings.staging_dataset, FORECAST_DAILY, runs, set(runs["day"]))
