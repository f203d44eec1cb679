"""Data-quality gates of a prediction: refuse, naming what is missing, rather than guess."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from flows.errors import DataQualityError
from flows.forecast.features import (
    DAY,
    HOUR,
    REGION_CODES,
    FeatureConfig,
    as_day,
    days,
    issue_time_utc,
    last_known_hour_utc,
    local_day_bounds_utc,
    normalize_consumption,
)


def _ranges(hours: pd.DatetimeIndex) -> list[str]:
    """Contiguous runs of hours, written `first..last`."""
    if hours.empty:
        return []
    breaks = np.flatnonzero(np.diff(hours.to_numpy()) != np.timedelta64(1, "h")) + 1
    runs = np.split(np.arange(len(hours)), breaks)
    return [f"{hours[r[0]]:%Y-%m-%d %H:%M}..{hours[r[-1]]:%Y-%m-%d %H:%M}" for r in runs]


def check_consumption(
    consumption: pd.DataFrame,
    issue_day: date,
    cfg: FeatureConfig,
    window_days: int,
    flatline_hours: int,
    source: str = "consumption",
) -> pd.DataFrame:
    """The recent consumption window, complete and alive, or a DataQualityError naming hours."""
    try:
        frame = normalize_consumption(consumption)
    except ValueError as exc:
        raise DataQualityError(f"{source}: {exc}") from exc
    first, _ = local_day_bounds_utc(as_day(issue_day) - window_days * DAY, cfg.timezone)
    last = last_known_hour_utc(issue_day, cfg)
    expected = pd.date_range(first, last, freq="h").astype("datetime64[us]")
    have = frame.loc[frame["consumption_mw"].notna(), "hour_utc"]
    missing = expected.difference(pd.DatetimeIndex(have))
    if len(missing):
        raise DataQualityError(
            f"{source}: {len(missing)} hours missing (UTC) in the window {first} .. {last}"
            f" needed for issue day {issue_day}: {', '.join(_ranges(missing)[:5])}"
        )
    window = frame[frame["hour_utc"].between(first, last)].set_index("hour_utc")["consumption_mw"]
    run = _longest_flat_run(window)
    if run is not None and run[1] >= flatline_hours:
        raise DataQualityError(
            f"{source}: flat-lined at {window[run[0]]:.0f} MW for {run[1]} hours from"
            f" {run[0]} UTC (a stuck feed?) in the window for issue day {issue_day}"
        )
    return frame[frame["hour_utc"].between(first, last)].reset_index(drop=True)


def _longest_flat_run(series: pd.Series) -> tuple[pd.Timestamp, int] | None:
    """Start and length of the longest run of identical consecutive values."""
    if series.empty:
        return None
    change = series.ne(series.shift()).cumsum()
    lengths = change.groupby(change).transform("size")
    idx = lengths.idxmax()
    start = change[change == change[idx]].index[0]
    return start, int(lengths.max())


def select_weather_run(
    forecasts: pd.DataFrame, issue_day: date, cfg: FeatureConfig, max_age_hours: int, what: str
) -> pd.Timestamp:
    """The latest run issued before the issue time, refused when absent or stale."""
    issue = issue_time_utc(issue_day, cfg)
    runs = (
        pd.DatetimeIndex(pd.to_datetime(forecasts["run_time"]).unique()) if len(forecasts) else []
    )
    runs = [r for r in runs if r <= issue]
    if not runs:
        raise DataQualityError(
            f"weather run missing: no {what} run issued by {issue} UTC for issue day {issue_day}"
        )
    latest = max(runs)
    age = (issue - latest) / HOUR
    if age > max_age_hours:
        raise DataQualityError(
            f"weather run stale: latest {what} run {latest} UTC is {age:.0f} h old at issue"
            f" time {issue} UTC (limit {max_age_hours} h) for issue day {issue_day}"
        )
    return latest


def prediction_temperatures(
    observed: pd.DataFrame,
    forecasts: pd.DataFrame,
    issue_day: date,
    cfg: FeatureConfig,
    max_age_hours: int,
    what: str = "weather",
) -> tuple[pd.DataFrame, str | None]:
    """Daily regional temperatures as known at issue, and what is wrong with them (or None).

    Days D+1..D+H come from the latest run (fresh, issued by the issue time); the warm-up
    days up to the issue day itself from observations, else from the latest run that covered
    them (a 00 UTC run does not hold its own local day whole). A missing or stale run is not
    an error: its days are left out, the problem is returned, and the forecast of those days
    falls back to the calendar expert, saying why. Short holes are filled in the features.
    """
    fc = forecasts.copy()
    fc["date"] = days(fc["date"]).to_numpy()
    fc["run_time"] = pd.to_datetime(fc["run_time"])
    fc = fc[fc["run_time"] <= issue_time_utc(issue_day, cfg)]
    cols = ["date", "code_insee_region", "tmin", "tmax", "tmoy"]
    d0 = as_day(issue_day)
    problem = None
    try:
        run = select_weather_run(forecasts, issue_day, cfg, max_age_hours, what)
    except DataQualityError as exc:
        run, problem = None, str(exc)
    ahead_days = pd.date_range(d0 + DAY, d0 + cfg.horizon_days * DAY)
    ahead = fc[(fc["run_time"] == run) & fc["date"].isin(ahead_days)]
    short = _short_days(ahead, ahead_days) if run is not None else []
    if short:
        problem = f"{what} run {run} UTC lacks regions for days {short}"
    past_days = pd.date_range(d0 - cfg.warmup_days * DAY, d0)
    obs = observed.copy()
    obs["date"] = days(obs["date"]).to_numpy()
    obs = obs[obs["date"] <= d0]
    obs = obs[obs[["tmin", "tmax", "tmoy"]].notna().all(axis=1)]
    full_obs = obs.groupby("date")["code_insee_region"].nunique()
    obs_days = set(full_obs[full_obs >= len(REGION_CODES)].index)
    older = fc[fc["date"].isin(past_days) & ~fc["date"].isin(obs_days)]
    older = older.dropna(subset=["tmin", "tmax", "tmoy"])
    older = older.sort_values("run_time").drop_duplicates(
        ["date", "code_insee_region"], keep="last"
    )
    # Observations win where both exist; runs complete the days observations lack.
    temps = pd.concat([obs[cols], older[cols], ahead[cols]], ignore_index=True)
    temps = temps.drop_duplicates(["date", "code_insee_region"], keep="first")
    return temps, problem


def _short_days(frame: pd.DataFrame, wanted: pd.DatetimeIndex) -> list[str]:
    """Days of `wanted` lacking a complete row for some region."""
    present = frame[frame["code_insee_region"].isin(REGION_CODES)]
    complete = present.dropna(subset=["tmin", "tmax", "tmoy"])
    counts = complete.groupby("date")["code_insee_region"].nunique()
    return [d.date().isoformat() for d in wanted if counts.get(d, 0) < len(REGION_CODES)]
