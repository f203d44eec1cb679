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

from flows.forecast import inputs
from flows.forecast.features import WEATHER_COLUMNS
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


# --- the forecast's inputs mart, as dbt builds it (dbt/models/marts/forecast) ---------------
# The loaders below write production.forecast_inputs_hourly the way dbt fills it, national
# temperature included (population-weighted over the regions present, as
# int_forecast__temperature_daily computes it); tests/forecast/test_inputs_mart.py checks the
# real dbt model against the same reads. Each loader replaces its own kind of values on the
# days it is given and keeps the others, as a rebuild of the mart after that load would.
_DAILY = [f"{m}{suffix}" for _, suffix in inputs._AREAS for m in inputs._MEASURES]
INPUTS = TableSpec(
    name=inputs.INPUTS_TABLE,
    columns={
        "hour_utc": "timestamp",
        "date_local": "date",
        "source": "string",
        "run_at": "timestamp",
        "lead_hours": "float64",
        "consumption_mw": "float64",
        "rte_j1_mw": "float64",
        "issued_d1_p50_before_memory_mw": "float64",
        **dict.fromkeys(_DAILY, "float64"),
        "regions_reported": "int64",
        **dict.fromkeys(WEATHER_COLUMNS, "float64"),
    },
    partition_by="date_local",
)
_KEYS = ["source", "run_at", "hour_utc"]


def _local_hours(days_: pd.Series) -> pd.DataFrame:
    """(date_local, hour_utc) for every UTC hour of the given local days."""
    parts = []
    for day in sorted(set(pd.to_datetime(days_))):
        start = day.tz_localize(TZ).tz_convert("UTC").tz_localize(None)
        end = (day + pd.Timedelta(days=1)).tz_localize(TZ).tz_convert("UTC").tz_localize(None)
        hours = pd.date_range(start, end, freq="h", inclusive="left")
        parts.append(pd.DataFrame({"date_local": day, "hour_utc": hours}))
    return pd.concat(parts, ignore_index=True)


def _daily_wide(temps: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Regional rows as one row per key: national (weighted over regions present) and each region."""
    frame = temps.assign(date=pd.to_datetime(temps["date"]))
    frame = frame[frame["code_insee_region"].isin(population_weights())]
    weights = frame["code_insee_region"].map(population_weights())
    out = frame.groupby(keys)[[]].size().to_frame("regions_reported")
    for measure, name in inputs._MEASURES.items():
        weighted = (frame[name] * weights).groupby([frame[k] for k in keys]).sum()
        present = weights.where(frame[name].notna()).groupby([frame[k] for k in keys]).sum()
        out[measure] = weighted / present
    for code, suffix in inputs._AREAS[1:]:
        region = frame[frame["code_insee_region"] == code].set_index(keys)
        for measure, name in inputs._MEASURES.items():
            out[f"{measure}{suffix}"] = region[name].reindex(out.index)
    return out.reset_index().rename(columns={"date": "date_local"})


def _existing(wh: Warehouse, settings: Settings) -> pd.DataFrame:
    if not wh.table_exists(settings.production_dataset, INPUTS.name):
        return pd.DataFrame(columns=list(INPUTS.columns))
    return wh.query(f"select * from {settings.production_dataset}.{INPUTS.name}")


def _write(wh: Warehouse, settings: Settings, rows: pd.DataFrame) -> None:
    wh.ensure_table(settings.production_dataset, INPUTS)
    for col in INPUTS.columns:
        if col not in rows:
            rows[col] = np.nan
    before = _existing(wh, settings)
    days_ = set(pd.to_datetime(rows["date_local"]).dt.date) | set(
        pd.to_datetime(before["date_local"]).dt.date
    )
    wh.replace_partitions(settings.production_dataset, INPUTS, INPUTS.conform(rows), days_)


def _update_measured(
    wh: Warehouse, settings: Settings, values: pd.DataFrame, columns: list[str]
) -> None:
    """Replace `columns` of the measured rows on the local days `values` covers."""
    table = _existing(wh, settings)
    for col in ("hour_utc", "date_local", "run_at"):
        table[col] = pd.to_datetime(table[col])
    measured = table[table["source"] == inputs.MEASURED].copy()
    values = values.assign(date_local=pd.to_datetime(values["date_local"]))
    touched = measured["date_local"].isin(set(values["date_local"]))
    measured.loc[touched, columns] = np.nan
    hours = pd.concat([measured[["hour_utc", "date_local"]], values[["hour_utc", "date_local"]]])
    merged = hours.drop_duplicates("hour_utc").merge(
        measured.drop(columns="date_local"), on="hour_utc", how="left"
    )
    merged = merged.set_index("hour_utc")
    update = values.set_index("hour_utc")[columns]
    merged.loc[update.index, columns] = update
    merged["source"] = inputs.MEASURED
    rows = pd.concat([table[table["source"] != inputs.MEASURED], merged.reset_index()])
    _write(wh, settings, rows.reset_index(drop=True))


def load_consumption(wh: Warehouse, settings: Settings, consumption: pd.DataFrame) -> None:
    """Consumption and RTE's J-1 into the measured rows of the inputs mart."""
    local = pd.DatetimeIndex(consumption["hour_utc"]).tz_localize("UTC").tz_convert(TZ)
    values = pd.DataFrame(
        {
            "hour_utc": pd.to_datetime(consumption["hour_utc"]).to_numpy(),
            "date_local": local.tz_localize(None).normalize(),
            "consumption_mw": consumption["consumption_mw"].to_numpy(),
            "rte_j1_mw": consumption["forecast_j1_mw"].to_numpy(),
        }
    )
    _update_measured(wh, settings, values, ["consumption_mw", "rte_j1_mw"])


def load_issued(wh: Warehouse, settings: Settings, day: date, actual: float, issued: float) -> None:
    """One local day of measured rows whose D+1 forecast was issued at `issued` before memory."""
    hours = _local_hours(pd.Series([pd.Timestamp(day)]))
    values = hours.assign(consumption_mw=actual, issued_d1_p50_before_memory_mw=issued)
    _update_measured(wh, settings, values, ["consumption_mw", "issued_d1_p50_before_memory_mw"])


def load_observed(wh: Warehouse, settings: Settings, temps: pd.DataFrame) -> None:
    """Observed daily temperatures into the measured rows of their local days."""
    wide = _daily_wide(temps, ["date"])
    values = _local_hours(wide["date_local"]).merge(wide, on="date_local")
    _update_measured(wh, settings, values, [*_DAILY, "regions_reported"])


def load_runs(wh: Warehouse, settings: Settings, runs: pd.DataFrame) -> None:
    """Forecast runs (temperature_daily shape) as run rows, with an hourly weather of them."""
    wide = _daily_wide(runs.assign(run_time=pd.to_datetime(runs["run_time"])), ["run_time", "date"])
    rows = _local_hours(wide["date_local"]).merge(wide, on="date_local")
    hour = pd.DatetimeIndex(rows["hour_utc"]).tz_localize("UTC").tz_convert(TZ).hour
    cycle = (rows["tmax_c"] - rows["tmin_c"]) / 2 * np.cos(2 * np.pi * (hour - 15) / 24)
    model, grid = runs["model"].iloc[0], runs["grid"].iloc[0]
    rows = rows.rename(columns={"run_time": "run_at"}).assign(
        source=f"{model}/{grid}",
        lead_hours=(rows["hour_utc"] - rows["run_time"]) / pd.Timedelta(hours=1),
        t2m_c=rows["tmean_c"] + cycle,
        rh2m_pct=80.0,
        wind10m_ms=5.0,
        ssrd_wh_m2=np.where((hour >= 8) & (hour <= 17), 200.0, 0.0),
        tcc_pct=50.0,
        precip_mm=0.0,
    )
    table = _existing(wh, settings)
    keep = table[table["source"] != f"{model}/{grid}"]
    _write(wh, settings, pd.concat([keep, rows], ignore_index=True))
