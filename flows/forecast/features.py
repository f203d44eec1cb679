"""Features of the consumption forecast, built per (issue day, target hour) from plain frames.

A row answers: "on issue day D at the issue time, what do we know about target hour t of day
D+h?". Calendar features describe t; temperatures come from a *temperature view* — the daily
temperatures as known on D (observations standing in for forecasts in training, the weather run
in prediction: one schema); consumption lags only use hours published before the issue time,
and any lag that would reach past it is masked, so leakage cannot happen by construction.

Frames (timestamps naive UTC, days as naive midnight datetime64):
- consumption: `hour_utc`, `consumption_mw` (optionally `forecast_j1_mw`);
- temperatures: `date`, `code_insee_region`, `tmin`, `tmax`, `tmoy` (+ optional `issue_date`
  when the values depend on the issue day, as archived forecasts do);
- weather_hourly (optional): `issue_date`, `hour_utc` and the columns of WEATHER_COLUMNS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import holidays
import numpy as np
import pandas as pd
from vacances_scolaires_france import SchoolHolidayDates, UnsupportedYearException

from flows.errors import FeatureError
from flows.regions import NATIONAL_CODE, REGIONS, population_weights
from flows.settings import Settings

T = TypeVar("T")

# Bump when the meaning of a feature changes: models of another version are refused.
FEATURE_SET_VERSION = 3

REGION_CODES = tuple(r.code for r in REGIONS)
WEATHER_COLUMNS = ("t2m_c", "rh2m_pct", "wind10m_ms", "ssrd_wh_m2", "tcc_pct", "precip_mm")
HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)


def setting_default(name: str) -> Any:
    """The default of a Settings field: configs take their defaults from this one place."""
    return Settings.model_fields[name].default


def configured(cls: type[T], settings: Settings, fields: dict[str, str]) -> T:
    """An instance of a config dataclass whose fields are read from the named settings."""
    return cls(**{field: getattr(settings, name) for field, name in fields.items()})


# FeatureConfig field -> the Settings field it comes from.
FEATURE_SETTINGS = {
    "timezone": "forecast_timezone",
    "issue_hour_local": "forecast_issue_hour_local",
    "horizon_days": "forecast_horizon_days",
    "consumption_delay_hours": "forecast_consumption_delay_hours",
    "warmup_days": "forecast_temperature_warmup_days",
    "smoothing_alpha": "forecast_smoothing_alpha",
    "heating_base_c": "forecast_heating_base_c",
    "cooling_base_c": "forecast_cooling_base_c",
    "regional_temperatures": "forecast_regional_temperatures",
    "max_temperature_gap_days": "forecast_temperature_max_gap_days",
}


def _from(name: str) -> Any:
    return setting_default(FEATURE_SETTINGS[name])


@dataclass(frozen=True)
class FeatureConfig:
    """What features depend on: issue time, horizon, smoothing and degree-day bases."""

    timezone: str = _from("timezone")
    issue_hour_local: int = _from("issue_hour_local")
    horizon_days: int = _from("horizon_days")
    consumption_delay_hours: int = _from("consumption_delay_hours")
    warmup_days: int = _from("warmup_days")
    smoothing_alpha: float = _from("smoothing_alpha")
    heating_base_c: float = _from("heating_base_c")
    cooling_base_c: float = _from("cooling_base_c")
    regional_temperatures: bool = _from("regional_temperatures")
    max_temperature_gap_days: int = _from("max_temperature_gap_days")

    @classmethod
    def from_settings(cls, settings: Settings) -> FeatureConfig:
        """The feature configuration named by the settings' forecasting section."""
        return configured(cls, settings, FEATURE_SETTINGS)

    @property
    def last_known_local_hour(self) -> int:
        """Latest local hour of the issue day whose consumption is published at issue time."""
        return self.issue_hour_local - self.consumption_delay_hours - 1


# --- time helpers ------------------------------------------------------------------------
def as_day(value: date | str | pd.Timestamp) -> pd.Timestamp:
    """A day as naive midnight."""
    return pd.Timestamp(value).normalize().tz_localize(None)


def utc_naive(values: Iterable) -> pd.Series:
    """Timestamps as naive UTC at microsecond resolution (tz-aware ones are converted)."""
    stamps = pd.to_datetime(pd.Series(values), utc=True)
    return stamps.dt.tz_localize(None).astype("datetime64[us]")


def days(values: Iterable) -> pd.Series:
    """Dates (or timestamps) as naive midnight datetime64."""
    return pd.to_datetime(pd.Series(values)).dt.normalize().astype("datetime64[us]")


def issue_time_utc(issue_day: date | pd.Timestamp, cfg: FeatureConfig) -> pd.Timestamp:
    """The UTC instant of the issue: issue day at the issue hour, local time."""
    local = as_day(issue_day) + pd.Timedelta(hours=cfg.issue_hour_local)
    return local.tz_localize(cfg.timezone).tz_convert("UTC").tz_localize(None)


def last_known_hour_utc(issue_day: date | pd.Timestamp, cfg: FeatureConfig) -> pd.Timestamp:
    """Start of the latest consumption hour published at issue time (hours are start-labelled)."""
    published_by = issue_time_utc(issue_day, cfg) - cfg.consumption_delay_hours * HOUR
    return published_by.floor("h") - HOUR


def local_day_bounds_utc(day: date | pd.Timestamp, tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First hour (UTC) of a local day and first hour of the next."""
    start = as_day(day).tz_localize(tz).tz_convert("UTC").tz_localize(None)
    end = (as_day(day) + DAY).tz_localize(tz).tz_convert("UTC").tz_localize(None)
    return start, end


def target_grid(issue_days: Iterable, cfg: FeatureConfig) -> pd.DataFrame:
    """One row per (issue day, horizon, target hour): every hour of the local days D+1..D+H."""
    issues = pd.DatetimeIndex(sorted(set(days(issue_days))))
    if issues.empty:
        return pd.DataFrame(columns=["issue_date", "horizon", "target_date", "hour_utc"])
    first, _ = local_day_bounds_utc(issues.min() + DAY, cfg.timezone)
    _, last = local_day_bounds_utc(issues.max() + cfg.horizon_days * DAY, cfg.timezone)
    hours = pd.date_range(first, last - HOUR, freq="h")
    local_days = hours.tz_localize("UTC").tz_convert(cfg.timezone).tz_localize(None).normalize()
    parts = []
    for h in range(1, cfg.horizon_days + 1):
        issue = local_days - h * DAY
        keep = issue.isin(issues)
        parts.append(
            pd.DataFrame(
                {
                    "issue_date": issue[keep],
                    "horizon": h,
                    "target_date": local_days[keep],
                    "hour_utc": hours[keep],
                }
            )
        )
    grid = pd.concat(parts, ignore_index=True)
    for col in ("issue_date", "target_date", "hour_utc"):
        grid[col] = grid[col].astype("datetime64[us]")
    return grid.sort_values(["issue_date", "hour_utc"], ignore_index=True)


# --- calendar ----------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _holidays_of(year: int) -> frozenset[date]:
    return frozenset(holidays.France(years=year))


# The Christmas–New Year period: offices close, and the load sits far below the season's.
CHRISTMAS_FIRST = (12, 22)
CHRISTMAS_LAST = (1, 2)


def is_christmas_period(day: date) -> bool:
    """Whether a day falls in the Christmas–New Year period."""
    return (day.month, day.day) >= CHRISTMAS_FIRST or (day.month, day.day) <= CHRISTMAS_LAST


def christmas_dates(year: int) -> list[date]:
    """The days of a calendar year inside the Christmas–New Year period."""

    def span(first: date, last: date) -> list[date]:
        return [first + timedelta(days=k) for k in range((last - first).days + 1)]

    return span(date(year, 1, 1), date(year, *CHRISTMAS_LAST)) + span(
        date(year, *CHRISTMAS_FIRST), date(year, 12, 31)
    )


def holiday_flags(day_index: pd.DatetimeIndex) -> pd.DataFrame:
    """Per day: public holiday, bridge day, Christmas–New Year period, DST-change day."""
    dates = [d.date() for d in day_index]
    hol = np.array([d in _holidays_of(d.year) for d in dates])
    weekday = day_index.weekday.to_numpy()
    next_hol = np.array([(d + pd.Timedelta(days=1)) in _holidays_of((d + DAY).year) for d in dates])
    prev_hol = np.array([(d - pd.Timedelta(days=1)) in _holidays_of((d - DAY).year) for d in dates])
    # A bridge day: a workday between two days off, one of them a holiday (Monday before a
    # Tuesday holiday, Friday after a Thursday one, Wednesday 9 May 2018 between two).
    next_off = next_hol | (weekday == 4) | (weekday == 5)
    prev_off = prev_hol | (weekday == 0) | (weekday == 6)
    bridge = next_off & prev_off & (next_hol | prev_hol) & (weekday < 5) & ~hol
    christmas = np.array([is_christmas_period(d) for d in dates])
    return pd.DataFrame(
        {
            "is_holiday": hol.astype(int),
            "is_bridge": bridge.astype(int),
            "is_christmas": christmas,
            "holiday_before": prev_hol & ~hol,
            "holiday_after": next_hol & ~hol,
        },
        index=day_index,
    ).astype(int)


@lru_cache(maxsize=1)
def _school_calendar() -> SchoolHolidayDates:
    return SchoolHolidayDates()  # the package ships its dates: no network


# Pupils per school-holiday zone (A, B, C), rounded shares of metropolitan France: the
# national share on holiday is what moves the load (families away, schools unheated).
SCHOOL_ZONE_WEIGHTS = {"A": 0.30, "B": 0.37, "C": 0.33}


def school_holiday_flags(day_index: pd.DatetimeIndex) -> pd.DataFrame:
    """Per day: school holidays in zones A, B and C, and the pupil-weighted national share."""
    cal = _school_calendar()
    out = pd.DataFrame(index=day_index)
    for zone in SCHOOL_ZONE_WEIGHTS:
        try:
            flags = [cal.is_holiday_for_zone(d.date(), zone) for d in day_index]
        except UnsupportedYearException as exc:
            raise FeatureError(
                f"school holidays: vacances-scolaires-france has no dates for {exc};"
                " upgrade the package"
            ) from exc
        out[f"school_holiday_{zone.lower()}"] = np.array(flags, dtype=int)
    out["school_holiday_share"] = sum(
        w * out[f"school_holiday_{z.lower()}"] for z, w in SCHOOL_ZONE_WEIGHTS.items()
    )
    return out


# Where the sun is reckoned for the whole country: near the population's centre of mass.
SUN_LATITUDE, SUN_LONGITUDE = 46.8, 2.6


def sun_times_utc(day_index: pd.DatetimeIndex) -> pd.DataFrame:
    """Sunrise and sunset (hours after midnight UTC) per day, from the solar declination.

    The usual low-precision almanac formulas (a minute or two off): lighting load follows
    dusk, and dusk moves by almost two hours between March and June.
    """
    doy = day_index.dayofyear.to_numpy()
    gamma = 2 * np.pi / 365 * (doy - 1)
    decl = (
        0.006918
        - 0.399912 * np.cos(gamma)
        + 0.070257 * np.sin(gamma)
        - 0.006758 * np.cos(2 * gamma)
        + 0.000907 * np.sin(2 * gamma)
    )
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * np.cos(gamma)
        - 0.032077 * np.sin(gamma)
        - 0.014615 * np.cos(2 * gamma)
        - 0.040849 * np.sin(2 * gamma)
    )
    lat = np.radians(SUN_LATITUDE)
    # Sun's centre 0.833 degrees below the horizon: refraction and the disc's radius.
    cos_ha = (np.cos(np.radians(90.833)) - np.sin(lat) * np.sin(decl)) / (
        np.cos(lat) * np.cos(decl)
    )
    half_day = np.degrees(np.arccos(np.clip(cos_ha, -1, 1))) * 4  # minutes
    noon = 720 - 4 * SUN_LONGITUDE - eqtime
    return pd.DataFrame(
        {"sunrise_utc": (noon - half_day) / 60, "sunset_utc": (noon + half_day) / 60},
        index=day_index,
    )


def calendar_features(hours_utc: pd.Series, cfg: FeatureConfig) -> pd.DataFrame:
    """Local hour, weekday, season, holidays, bridges, Christmas, DST, school holidays, dusk."""
    local = pd.DatetimeIndex(hours_utc).tz_localize("UTC").tz_convert(cfg.timezone)
    local_day = local.tz_localize(None).normalize()
    doy = local.dayofyear.to_numpy()
    out = pd.DataFrame(
        {
            "hour_local": local.hour,
            "weekday": local.weekday,
            "month": local.month,
            "doy_sin": np.sin(2 * np.pi * doy / 365.25),
            "doy_cos": np.cos(2 * np.pi * doy / 365.25),
        }
    )
    unique_days = pd.DatetimeIndex(sorted(set(local_day)))
    flags = holiday_flags(unique_days)
    starts = unique_days.tz_localize(cfg.timezone)
    ends = (unique_days + DAY).tz_localize(cfg.timezone)
    flags["is_dst_day"] = ((ends - starts) != DAY).astype(int)
    flags = flags.join(school_holiday_flags(unique_days))
    sun = sun_times_utc(unique_days)
    # Local clock hours of dawn and dusk: daylight saving moves them, and the load with them.
    noon = (unique_days + 12 * HOUR).tz_localize(cfg.timezone).tz_convert("UTC")
    offset = (noon.tz_localize(None) - unique_days) / HOUR - 12
    flags["sunrise_local"] = sun["sunrise_utc"].to_numpy() - offset
    flags["sunset_local"] = sun["sunset_utc"].to_numpy() - offset
    out = out.join(flags.reindex(local_day).reset_index(drop=True))
    # A public holiday's load looks like a Sunday's: give the trees three years of Sundays to
    # learn it from instead of some thirty holidays.
    out["day_type"] = np.where(out["is_holiday"] == 1, 6, out["weekday"])
    # Hours between the target hour's middle and dusk/dawn: lights go on around them.
    mid = out["hour_local"] + 0.5
    out["after_sunset"] = mid - out["sunset_local"]
    out["after_sunrise"] = mid - out["sunrise_local"]
    return out


# --- temperatures ------------------------------------------------------------------------
def national_daily(temps: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per key (date, or issue day and date): national tmin/tmax/tmoy and each region's tmoy.

    The nation's own rows (code 0: the inputs mart's, computed once in dbt) give the national
    values; a key without one (a day filled here, or a frame of regions only) takes the
    population-weighted mean of the 13 regions, NaN when any is missing: the gate decides.
    """
    frame = temps[temps["code_insee_region"].isin(REGION_CODES)].copy()
    frame["code_insee_region"] = frame["code_insee_region"].astype(int)
    dup = frame.duplicated(keys + ["code_insee_region"], keep=False)
    if dup.any():
        sample = frame.loc[dup, keys].drop_duplicates().head(3).to_dict("records")
        raise FeatureError(f"temperatures: duplicate region rows for {sample}")
    wide = frame.pivot_table(
        index=keys, columns="code_insee_region", values=["tmin", "tmax", "tmoy"], dropna=False
    )
    wide = wide.reindex(
        columns=pd.MultiIndex.from_product([["tmin", "tmax", "tmoy"], REGION_CODES])
    )
    weights = pd.Series(population_weights()).reindex(REGION_CODES).to_numpy()
    out = pd.DataFrame(index=wide.index)
    for var, name in (("tmoy", "t_mean"), ("tmin", "t_min"), ("tmax", "t_max")):
        values = wide[var].to_numpy(dtype=float)
        out[name] = values @ weights  # NaN when any region is missing
    for code in REGION_CODES:
        out[f"t_region_{code}"] = wide[("tmoy", code)].to_numpy(dtype=float)
    for code in REGION_CODES:
        # Sunny regions warm up more between dawn and afternoon.
        out[f"t_region_range_{code}"] = (wide[("tmax", code)] - wide[("tmin", code)]).to_numpy(
            dtype=float
        )
    nation = temps[temps["code_insee_region"] == NATIONAL_CODE]
    if not nation.empty:
        given = nation.drop_duplicates(keys, keep="last").set_index(keys)
        for var, name in (("tmoy", "t_mean"), ("tmin", "t_min"), ("tmax", "t_max")):
            out[name] = given[var].astype(float).reindex(out.index).fillna(out[name])
    return out.reset_index()


TEMPERATURE_VARS = ("tmin", "tmax", "tmoy")


def fill_temperature_gaps(
    temps: pd.DataFrame, max_gap_days: int
) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Observed regional temperatures with short holes filled, and the days that were filled.

    A region missing on a day other regions report takes their mean plus its own usual
    offset to them (the mean offset over the surrounding month); a day no region reports
    is interpolated between its neighbours when the hole lasts at most `max_gap_days` days.
    Longer holes, and days past the last observation, stay missing (the forecast then falls
    back to the calendar expert). Forecast frames (with `issue_date`) are returned unchanged.
    """
    if temps.empty or "issue_date" in temps.columns:
        return temps, pd.DatetimeIndex([])
    # The nation's rows pass through: a filled day has none, and takes the regions' mean.
    nation = temps.loc[
        temps["code_insee_region"] == NATIONAL_CODE,
        ["date", "code_insee_region", *TEMPERATURE_VARS],
    ]
    frame = temps[temps["code_insee_region"].isin(REGION_CODES)].copy()
    frame["code_insee_region"] = frame["code_insee_region"].astype(int)
    frame["date"] = days(frame["date"]).to_numpy()
    frame = frame.drop_duplicates(["date", "code_insee_region"], keep="last")
    full = pd.date_range(frame["date"].min(), frame["date"].max(), freq="D")
    wide = frame.pivot(index="date", columns="code_insee_region", values=list(TEMPERATURE_VARS))
    wide = wide.reindex(
        index=full, columns=pd.MultiIndex.from_product([TEMPERATURE_VARS, REGION_CODES])
    )
    blocks = {}
    for var in TEMPERATURE_VARS:
        block = wide[var]
        others = block.mean(axis=1)  # over the regions present that day
        offset = block.sub(others, axis=0).rolling(31, center=True, min_periods=3).mean()
        filled = block.fillna(offset.add(others, axis=0))
        filled = filled.interpolate(limit=max_gap_days, limit_area="inside")
        # interpolate() would fill the first days of a longer hole: such holes stay whole.
        blocks[var] = filled.mask(_in_long_hole(block.isna(), max_gap_days))
    before = wide.isna()
    wide = pd.concat(blocks, axis=1)
    filled_days = full[(before & wide.notna()).any(axis=1).to_numpy()]
    tidy = wide.stack(level=1, future_stack=True).reset_index()
    tidy.columns = ["date", "code_insee_region", *tidy.columns[2:]]
    tidy = tidy.dropna(subset=list(TEMPERATURE_VARS), how="all")
    if not nation.empty:
        nation = nation.assign(date=days(nation["date"]).to_numpy())
        tidy = pd.concat([tidy, nation], ignore_index=True)
    return tidy, pd.DatetimeIndex(filled_days).astype("datetime64[us]")


def _in_long_hole(missing: pd.DataFrame, max_gap_days: int) -> pd.DataFrame:
    """Cells inside a run of whole missing days (no region at all) longer than the limit."""
    whole = missing.all(axis=1)
    run = whole.ne(whole.shift()).cumsum()
    length = whole.groupby(run).transform("sum")
    long_days = whole & (length > max_gap_days)
    return pd.DataFrame(
        np.repeat(long_days.to_numpy()[:, None], missing.shape[1], axis=1),
        index=missing.index,
        columns=missing.columns,
    )


def _exp_smooth(raw: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential smoothing along each row (one issue day's window), NaN propagating."""
    smooth = np.empty_like(raw)
    smooth[:, 0] = raw[:, 0]
    for j in range(1, raw.shape[1]):
        smooth[:, j] = alpha * raw[:, j] + (1 - alpha) * smooth[:, j - 1]
    return smooth


def temperature_view(temps: pd.DataFrame, issue_days: Iterable, cfg: FeatureConfig) -> pd.DataFrame:
    """Daily national temperatures as known on each issue day, for D-warmup .. D+H, smoothed.

    Without an `issue_date` column the same values serve every issue day (observations);
    with one, each issue day sees its own rows (forecasts as issued).
    """
    issues = pd.DatetimeIndex(sorted(set(days(issue_days))))
    offsets = np.arange(-cfg.warmup_days, cfg.horizon_days + 1)
    grid = pd.DataFrame(
        {
            "issue_date": np.repeat(issues.to_numpy(), len(offsets)),
            "date": (
                np.repeat(issues.to_numpy(), len(offsets)) + np.tile(offsets, len(issues)) * DAY
            ),
        }
    )
    grid["issue_date"] = grid["issue_date"].astype("datetime64[us]")
    grid["date"] = grid["date"].astype("datetime64[us]")
    temps = temps.copy()
    temps["date"] = days(temps["date"]).to_numpy()
    if "issue_date" in temps.columns:
        temps["issue_date"] = days(temps["issue_date"]).to_numpy()
        nat = national_daily(temps, ["issue_date", "date"])
        view = grid.merge(nat, on=["issue_date", "date"], how="left")
    else:
        nat = national_daily(temps, ["date"])
        view = grid.merge(nat, on="date", how="left")
    # Exponential smoothing within each issue day's window, NaN propagating forward.
    raw = view["t_mean"].to_numpy().reshape(len(issues), len(offsets))
    smooth = _exp_smooth(raw, cfg.smoothing_alpha)
    view["t_smooth"] = smooth.reshape(-1)
    # Buildings of different inertia: a fast and a slow time constant beside the main one.
    for name, alpha in (("t_smooth_fast", 0.6), ("t_smooth_slow", 0.12)):
        view[name] = _exp_smooth(raw, alpha).reshape(-1)
    view["hdd"] = np.maximum(cfg.heating_base_c - view["t_smooth"], 0.0).where(
        view["t_smooth"].notna()
    )
    view["cdd"] = np.maximum(view["t_max"] - cfg.cooling_base_c, 0.0).where(view["t_max"].notna())
    return view


# --- consumption -------------------------------------------------------------------------
def normalize_consumption(consumption: pd.DataFrame) -> pd.DataFrame:
    """Hourly consumption sorted by naive-UTC hour; exact duplicates dropped, conflicts refused."""
    frame = consumption.copy()
    frame["hour_utc"] = utc_naive(frame["hour_utc"]).to_numpy()
    frame["consumption_mw"] = pd.to_numeric(frame["consumption_mw"]).astype(float)
    frame = frame.drop_duplicates(["hour_utc", "consumption_mw"])
    dup = frame["hour_utc"].duplicated(keep=False)
    if dup.any():
        bad = sorted({h.date().isoformat() for h in frame.loc[dup, "hour_utc"]})
        raise FeatureError(
            f"consumption: conflicting duplicate rows for the same hour on days {bad[:5]}"
        )
    return frame.sort_values("hour_utc", ignore_index=True)


def _hourly_series(consumption: pd.DataFrame) -> pd.Series:
    """Consumption on a complete hourly index (holes are NaN)."""
    series = consumption.set_index("hour_utc")["consumption_mw"].astype(float)
    if series.empty:
        return series
    full = pd.date_range(series.index.min(), series.index.max(), freq="h").astype("datetime64[us]")
    return series.reindex(full)


def _daily_stats(series: pd.Series, cfg: FeatureConfig) -> pd.DataFrame:
    """Per local day: mean of all hours and of the morning hours known at issue time (NaN if a hole)."""
    local = pd.DatetimeIndex(series.index).tz_localize("UTC").tz_convert(cfg.timezone)
    frame = pd.DataFrame(
        {
            "value": series.to_numpy(),
            "day": local.tz_localize(None).normalize(),
            "morning": local.hour <= cfg.last_known_local_hour,
        }
    )
    full = frame.groupby("day")["value"].agg(lambda v: v.mean(skipna=False))
    count = frame.groupby("day")["value"].size()
    # Partial days at the edges of the series are not days.
    full[(count < 23).reindex(full.index).to_numpy()] = np.nan
    morning = frame[frame["morning"]].groupby("day")["value"].agg(lambda v: v.mean(skipna=False))
    out = pd.DataFrame({"day_mean": full, "morning_mean": morning})
    out.index = out.index.astype("datetime64[us]")
    return out


def _value_at(series: pd.Series, times: pd.Series, known_until: pd.Series) -> np.ndarray:
    """Consumption at given hours, NaN where unknown at issue time (the leakage guard)."""
    values = series.reindex(pd.DatetimeIndex(times)).to_numpy(dtype=float, copy=True)
    values[(times > known_until).to_numpy()] = np.nan
    return values


def _holiday_count(last_days: pd.Series, span: int) -> np.ndarray:
    """Public holidays and bridge days among the `span` days ending on each given day."""
    wanted = pd.DatetimeIndex(last_days.unique())
    cal = pd.date_range(wanted.min() - span * DAY, wanted.max())
    flags = holiday_flags(cal)
    off = ((flags["is_holiday"] + flags["is_bridge"]) > 0).astype(int)
    count = off.rolling(span, min_periods=1).sum()
    return count.reindex(pd.DatetimeIndex(last_days)).to_numpy(dtype=float)


def lag_features(grid: pd.DataFrame, consumption: pd.DataFrame, cfg: FeatureConfig) -> pd.DataFrame:
    """Consumption lags known at issue time for each (issue day, horizon, target hour) row."""
    series = _hourly_series(consumption)
    issue = grid["issue_date"]
    known_until = (
        pd.Series({d: last_known_hour_utc(d, cfg) for d in issue.unique()}, dtype="datetime64[us]")
        .reindex(issue)
        .reset_index(drop=True)
    )
    t = grid["hour_utc"].reset_index(drop=True)
    h = grid["horizon"].reset_index(drop=True)
    out = pd.DataFrame(index=grid.index)
    out["lag_week"] = _value_at(series, t - 7 * DAY, known_until)
    out["lag_day_before_issue"] = _value_at(series, t - (h + 1) * DAY, known_until)
    out["lag_last_known"] = _value_at(series, known_until, known_until)
    # A holiday among the lagged days makes their levels misleading: say so.
    out["lag_week_was_holiday"] = _holiday_count(grid["target_date"] - 7 * DAY, 1)
    out["lag_week_holidays"] = _holiday_count(issue - DAY, 7)

    daily = _daily_stats(series, cfg)
    by_issue = pd.DataFrame(index=pd.DatetimeIndex(issue.unique()).astype("datetime64[us]"))
    by_issue["mean_d1"] = daily["day_mean"].reindex(by_issue.index - DAY).to_numpy()
    week = np.column_stack(
        [daily["day_mean"].reindex(by_issue.index - k * DAY).to_numpy() for k in range(1, 8)]
    )
    by_issue["mean_week"] = week.mean(axis=1)
    morning = daily["morning_mean"].reindex(by_issue.index).to_numpy()
    morning_last_week = daily["morning_mean"].reindex(by_issue.index - 7 * DAY).to_numpy()
    by_issue["morning_mean"] = morning
    by_issue["morning_ratio"] = morning / morning_last_week
    joined = by_issue.reindex(issue).reset_index(drop=True)
    for col in joined.columns:
        out[f"lag_{col}"] = joined[col].to_numpy()
    return out


# --- assembly ----------------------------------------------------------------------------
def build_features(
    issue_days: Iterable,
    consumption: pd.DataFrame,
    temps: pd.DataFrame,
    cfg: FeatureConfig,
    weather_hourly: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Key columns (issue_date, horizon, target_date, hour_utc) plus every feature column."""
    grid = target_grid(issue_days, cfg)
    if grid.empty:
        raise FeatureError("no issue day to build features for")
    consumption = normalize_consumption(consumption)
    out = pd.concat(
        [grid, calendar_features(grid["hour_utc"], cfg), lag_features(grid, consumption, cfg)],
        axis=1,
    )
    temps, filled_days = fill_temperature_gaps(temps, cfg.max_temperature_gap_days)
    view = temperature_view(temps, grid["issue_date"], cfg)
    cols = [c for c in view.columns if c not in ("issue_date", "date")]
    target_t = view.rename(columns={"date": "target_date"})
    out = out.merge(target_t, on=["issue_date", "target_date"], how="left")
    # What the lag days felt like, so the model can turn lag levels into target levels.
    lagday = view.loc[
        view["date"] == view["issue_date"] - DAY, ["issue_date", "t_mean", "t_smooth"]
    ].assign(t_range=view["t_max"] - view["t_min"])
    lagday = lagday.rename(
        columns={"t_mean": "t_mean_d1", "t_smooth": "t_smooth_d1", "t_range": "t_range_d1"}
    )
    weekly = view[
        (view["date"] < view["issue_date"]) & (view["date"] >= view["issue_date"] - 7 * DAY)
    ]
    weekly = weekly.groupby("issue_date")["t_mean"].agg(lambda v: v.mean(skipna=False))
    out = out.merge(lagday, on="issue_date", how="left")
    out["t_mean_week"] = weekly.reindex(out["issue_date"]).to_numpy()
    out["t_smooth_delta_d1"] = out["t_smooth"] - out["t_smooth_d1"]
    # A wide gap between night and afternoon means clear skies: sun lights and warms rooms.
    out["t_range"] = out["t_max"] - out["t_min"]
    # Buildings answer the last days' weather too: the two days before the target.
    for k in (1, 2):
        before = view[["issue_date", "date", "t_mean"]].rename(columns={"t_mean": f"t_mean_t{k}"})
        before["target_date"] = before["date"] + k * DAY
        out = out.merge(before.drop(columns="date"), on=["issue_date", "target_date"], how="left")
    # A daily cycle between the day's min and max (coolest near dawn, warmest mid-afternoon).
    cycle = (out["t_max"] - out["t_min"]) / 2 * np.cos(2 * np.pi * (out["hour_local"] - 15) / 24)
    out["t_hour"] = out["t_mean"] + cycle
    out["t_hour_smooth"] = out["t_smooth"] + cycle
    if not cfg.regional_temperatures:
        out = out.drop(columns=[c for c in cols if c.startswith("t_region_")])
    out["temperature_filled"] = _touches_filled(out, filled_days, cfg.warmup_days)
    if weather_hourly is not None:
        hourly = weather_hourly.copy()
        hourly["issue_date"] = days(hourly["issue_date"]).to_numpy()
        hourly["hour_utc"] = utc_naive(hourly["hour_utc"]).to_numpy()
        keep = ["issue_date", "hour_utc", *WEATHER_COLUMNS]
        missing = [c for c in keep if c not in hourly.columns]
        if missing:
            raise FeatureError(f"weather_hourly: missing columns {missing}")
        out = out.merge(hourly[keep], on=["issue_date", "hour_utc"], how="left")
    return out


def _touches_filled(rows: pd.DataFrame, filled: pd.DatetimeIndex, warmup_days: int) -> np.ndarray:
    """Rows whose temperature window (issue day - warm-up .. target day) holds a filled day."""
    if filled.empty:
        return np.zeros(len(rows), dtype=int)
    first = rows["issue_date"] - warmup_days * DAY
    cal = pd.date_range(
        min(first.min(), filled.min()), max(rows["target_date"].max(), filled.max())
    )
    count = pd.Series(cal.isin(filled).astype(int), index=cal.astype("datetime64[us]")).cumsum()
    upto = count.reindex(rows["target_date"]).to_numpy()
    before = count.reindex(first - DAY).fillna(0).to_numpy()
    return (upto - before > 0).astype(int)


KEY_COLUMNS = ("issue_date", "horizon", "target_date", "hour_utc")
# Columns of a feature frame that describe rows but are not model inputs (the calendar
# weekday: models read `day_type`, where holidays count as Sundays).
FLAG_COLUMNS = ("temperature_filled", "weekday")


def feature_names(features: pd.DataFrame) -> list[str]:
    """The model inputs of a feature frame: everything except the keys."""
    return [c for c in features.columns if c not in KEY_COLUMNS + FLAG_COLUMNS]


def incomplete_rows(features: pd.DataFrame, names: list[str]) -> pd.Series:
    """Rows with any missing feature."""
    return features[names].isna().any(axis=1)


def require_complete(features: pd.DataFrame, names: list[str]) -> None:
    """Refuse features with NaNs, naming the columns and target hours concerned."""
    missing = features[names].isna()
    if not missing.to_numpy().any():
        return
    cols = [c for c in names if missing[c].any()]
    hours = features.loc[missing.any(axis=1), "hour_utc"]
    raise FeatureError(
        f"features incomplete: {len(hours)} target hours ({hours.min()} .. {hours.max()} UTC)"
        f" lack {cols}"
    )


def attach_target(features: pd.DataFrame, consumption: pd.DataFrame) -> pd.Series:
    """The actual consumption of each row's target hour (NaN where unknown)."""
    series = normalize_consumption(consumption).set_index("hour_utc")["consumption_mw"]
    return pd.Series(
        series.reindex(pd.DatetimeIndex(features["hour_utc"])).to_numpy(dtype=float),
        index=features.index,
        name="consumption_mw",
    )
