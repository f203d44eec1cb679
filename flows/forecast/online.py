"""Online adaptation of day-ahead forecasts: a Kalman filter on each expert's residuals, then
an exponentially weighted aggregation of the corrected experts, then conformal bands.

Everything works on day x local-hour matrices (rows: target days, columns: local hours 0..23)
and respects the issue time: the correction of target day T (issued on D = T-1) uses the
residuals of every day up to D-1 in full and of the hours of D published at issue time
(`known_hours` local hours from midnight), nothing later. Deterministic: no randomness.

Residuals are relative, (actual - forecast) / forecast, so one filter serves summer and winter.
The filter's state is the 24-hour residual profile, a damped random walk (`rho`); its
covariance comes from the residuals known at each issue, shrunk towards a smooth prior, so the
morning hours of D tell the filter about the afternoon of D and, through `rho`, about D+1.
Holidays and the Christmas period feed the filter nothing; the combined forecast's error on the
same recurring day of earlier years (the frame's own days, or those issued before it) corrects
them instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

import holidays
import numpy as np
import pandas as pd

from flows.forecast.features import (
    FeatureConfig,
    christmas_dates,
    is_christmas_period,
    setting_default,
)
from flows.forecast.gam import GAM_EXPERT

if TYPE_CHECKING:
    from flows.forecast.model import ModelConfig
    from flows.settings import Settings

HOURS = 24


@dataclass(frozen=True)
class OnlineConfig:
    """Hyper-parameters of the adaptation (chosen on 2018, checked on the 2019 backtest)."""

    # Local hours 00..08 of the issue day are published by 10:00.
    known_hours: int = FeatureConfig().last_known_local_hour + 1
    rho: float = setting_default("forecast_kalman_rho")  # damping of the last day's profile
    q_share: float = setting_default("forecast_kalman_drift_share")  # of it, daily drift
    covariance_days: int = 120  # days of known residuals that estimate the covariance
    prior_std: float = 0.02  # residual std assumed before enough days are known
    eta: float = setting_default("forecast_aggregation_eta")  # per percentage point of error
    gam_weight: float = setting_default("forecast_aggregation_gam_weight")  # its prior weight
    holiday_memory: float = setting_default("forecast_holiday_memory")  # share of past error
    band_days: int = 56  # days of known residuals that calibrate the band
    band_low: float = min(setting_default("forecast_quantiles"))
    band_high: float = max(setting_default("forecast_quantiles"))

    @classmethod
    def for_features(cls, features: FeatureConfig, model: ModelConfig) -> OnlineConfig:
        """Defaults, with the hours known at issue and the band's quantiles of the configs."""
        return cls(
            known_hours=features.last_known_local_hour + 1,
            band_low=min(model.quantiles),
            band_high=max(model.quantiles),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OnlineConfig:
        """The adaptation named by the settings' forecasting section."""
        from flows.forecast.model import ModelConfig

        base = cls.for_features(
            FeatureConfig.from_settings(settings), ModelConfig.from_settings(settings)
        )
        return replace(
            base,
            rho=settings.forecast_kalman_rho,
            q_share=settings.forecast_kalman_drift_share,
            eta=settings.forecast_aggregation_eta,
            gam_weight=settings.forecast_aggregation_gam_weight,
            holiday_memory=settings.forecast_holiday_memory,
        )


def day_matrix(frame: pd.DataFrame, column: str, timezone: str) -> pd.DataFrame:
    """A column of an hourly frame (`hour_utc`, `target_date`) as target day x local hour.

    The repeated hour of the autumn DST day keeps its first value; the missing spring hour
    is NaN.
    """
    local = pd.DatetimeIndex(frame["hour_utc"]).tz_localize("UTC").tz_convert(timezone)
    tidy = pd.DataFrame(
        {"day": pd.to_datetime(frame["target_date"]).to_numpy(), "hour": local.hour}
    )
    tidy["value"] = frame[column].to_numpy(dtype=float)
    tidy = tidy.drop_duplicates(["day", "hour"])
    wide = tidy.pivot(index="day", columns="hour", values="value")
    wide = wide.reindex(columns=range(HOURS))
    full = pd.date_range(wide.index.min(), wide.index.max(), freq="D")
    return wide.reindex(full)


def to_hourly(matrix: pd.DataFrame, frame: pd.DataFrame, timezone: str) -> np.ndarray:
    """Values of a day x local-hour matrix at the rows of an hourly frame."""
    local = pd.DatetimeIndex(frame["hour_utc"]).tz_localize("UTC").tz_convert(timezone)
    rows = matrix.index.get_indexer(pd.to_datetime(frame["target_date"]))
    values = matrix.to_numpy(dtype=float)
    out = np.full(len(frame), np.nan)
    ok = rows >= 0
    out[ok] = values[rows[ok], local.hour[ok]]
    return out


def _prior(std: float) -> np.ndarray:
    """A smooth covariance: neighbouring hours' residuals move together."""
    lag = np.abs(np.subtract.outer(np.arange(HOURS), np.arange(HOURS)))
    lag = np.minimum(lag, HOURS - lag)
    return std**2 * (0.5 + 0.5 * np.exp(-lag / 4.0))


def _covariance(residuals: np.ndarray, cfg: OnlineConfig) -> np.ndarray:
    """Covariance of the complete known residual days, shrunk towards the prior."""
    complete = residuals[~np.isnan(residuals).any(axis=1)][-cfg.covariance_days :]
    prior = _prior(cfg.prior_std)
    if len(complete) < 14:
        return prior
    weight = len(complete) / (len(complete) + 30.0)
    return weight * np.cov(complete.T) + (1 - weight) * prior + 1e-8 * np.eye(HOURS)


def _update(
    state: np.ndarray, cov: np.ndarray, obs: np.ndarray, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Kalman update of the profile with the observed hours of one day (NaN = unobserved)."""
    seen = ~np.isnan(obs)
    if not seen.any():
        return state, cov
    h = np.eye(HOURS)[seen]
    innovation = h @ cov @ h.T + noise[np.ix_(seen, seen)]
    gain = cov @ h.T @ np.linalg.inv(innovation)
    return state + gain @ (obs[seen] - state[seen]), cov - gain @ h @ cov


def kalman_corrections(residuals: pd.DataFrame, cfg: OnlineConfig) -> pd.DataFrame:
    """Per target day T, the relative correction known at T-1's issue time.

    `residuals` is a day x hour matrix of relative residuals on consecutive days; row T of the
    result uses rows up to T-2 whole and the first `known_hours` of row T-1.
    """
    values = residuals.to_numpy(dtype=float)
    n = len(values)
    out = np.zeros((n, HOURS))
    state = np.zeros(HOURS)
    cov = _prior(cfg.prior_std)
    morning = np.full(HOURS, np.nan)
    for t in range(n):
        # State after day t-2 in full; what the filter knows of day t-1 by the issue time.
        known = values[: max(t - 1, 0)]
        total = _covariance(known, cfg)
        drift, noise = cfg.q_share * total, (1 - cfg.q_share) * total
        pred_state, pred_cov = cfg.rho * state, cfg.rho**2 * cov + drift
        if t >= 1:
            morning[:] = np.nan
            morning[: cfg.known_hours] = values[t - 1, : cfg.known_hours]
            issue_state, _ = _update(pred_state, pred_cov, morning, noise)
        else:
            issue_state = pred_state
        out[t] = cfg.rho * issue_state
        # Day t-1 in full becomes known at the next issue: fold it into the state.
        if t >= 1:
            state, cov = _update(pred_state, pred_cov, values[t - 1], noise)
    return pd.DataFrame(out, index=residuals.index, columns=residuals.columns)


def adapt(
    forecast: pd.DataFrame,
    actual: pd.DataFrame,
    cfg: OnlineConfig,
    unusual: np.ndarray | None = None,
) -> pd.DataFrame:
    """An expert's day x hour forecast corrected by the filter on its own residuals.

    Days flagged `unusual` (holidays, bridges, Christmas week) feed the filter nothing: their
    errors say how the model misreads that day, not how the next ordinary day will go.
    """
    residuals = (actual - forecast) / forecast
    if unusual is not None:
        residuals[unusual] = np.nan
    return forecast * (1 + kalman_corrections(residuals, cfg).fillna(0.0))


UNUSUAL_DAY_FLAGS = ("is_holiday", "is_bridge", "is_christmas")


def unusual_days(hourly: pd.DataFrame, index: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    """Per day of `index`: does any calendar flag of UNUSUAL_DAY_FLAGS mark it (False if absent)."""
    flags = [c for c in UNUSUAL_DAY_FLAGS if c in hourly.columns]
    if not flags:
        return np.zeros(len(index), dtype=bool)
    frame = hourly[["hour_utc", "target_date"]].assign(flag=hourly[flags].max(axis=1))
    matrix = day_matrix(frame, "flag", timezone).reindex(index)
    return (matrix.max(axis=1).fillna(0) > 0).to_numpy()


@lru_cache(maxsize=64)
def _holiday_names(year: int) -> dict[date, str]:
    return dict(holidays.France(years=year))


def recurring_day_key(day: date) -> str | None:
    """What a day recurs as each year: its public holiday or its Christmas-period date, with
    whether it is a workday; None for an ordinary day.

    The workday part matters: 24 December on a Monday empties offices, on a Sunday it is a
    Sunday, so only days of the same kind teach each other.
    """
    day = pd.Timestamp(day).date()
    kind = "workday" if day.weekday() < 5 else "weekend"
    if is_christmas_period(day):
        return f"christmas-{day:%m-%d}-{kind}"
    name = _holiday_names(day.year).get(day)
    return f"{name}-{kind}" if name else None


def recurring_days_before(days: list[date], years: int) -> list[date]:
    """The days of the `years` years before `days` that share a recurring key with one of them."""
    wanted = {k for k in map(recurring_day_key, days) if k}
    if not wanted:
        return []
    first, last = min(days).year - years, max(days).year
    candidates = [
        d
        for year in range(first, last + 1)
        for d in (*_holiday_names(year), *christmas_dates(year))
    ]
    start = min(days) - timedelta(days=366 * years)
    return sorted(
        {d for d in candidates if start <= d < min(days) and recurring_day_key(d) in wanted}
    )


def daily_errors(forecast: pd.DataFrame, actual: pd.DataFrame) -> pd.Series:
    """Per day of a day x hour forecast: its mean relative error, (actual - forecast) / forecast."""
    return ((actual - forecast) / forecast).mean(axis=1)


def holiday_memory(
    forecast: pd.DataFrame,
    actual: pd.DataFrame,
    cfg: OnlineConfig,
    past_errors: pd.Series | None = None,
) -> pd.DataFrame:
    """A forecast with `holiday_memory` x its mean relative error on the same recurring day of
    earlier years taken off (holidays, the Christmas period).

    The trees fit each past holiday in-sample and read a new one like an average of them, so
    their error on one holiday repeats the next year (Christmas on workdays: +5 to +10 %); the
    filter cannot see it, unusual days feed it nothing. The errors are the frame's own days and
    `past_errors` (per day, of the forecasts issued before the frame); only days of an earlier
    year count, so all their hours were known at the issue. Days without such a past stay.
    """
    if cfg.holiday_memory == 0:
        return forecast
    errors = daily_errors(forecast, actual)
    if past_errors is not None and len(past_errors):
        older = past_errors[pd.DatetimeIndex(past_errors.index) < forecast.index.min()]
        errors = pd.concat([older.set_axis(pd.DatetimeIndex(older.index)), errors])
    errors = errors.dropna()
    keys = pd.Series([recurring_day_key(d) for d in errors.index], index=errors.index)
    factor = np.ones(len(forecast))
    for t, day in enumerate(forecast.index):
        key = recurring_day_key(day)
        if key is None:
            continue
        past = errors[(keys == key) & (errors.index.year < day.year)]
        if len(past):
            factor[t] = 1 + cfg.holiday_memory * float(past.mean())
    return forecast.mul(factor, axis=0)


def aggregate(
    experts: dict[str, pd.DataFrame],
    actual: pd.DataFrame,
    cfg: OnlineConfig,
    prior: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exponentially weighted average of experts, weights per local hour, from known losses.

    Each expert starts at its `prior` weight (1 when absent). The weights for target day T
    use the experts' errors on days up to T-2 (the last day whose every hour is known at
    T-1's issue). A NaN expert gets no weight that day. Returns the combined forecast and the
    weights (mean over hours, per day and expert).
    """
    names = sorted(experts)
    stack = np.stack([experts[n].to_numpy(dtype=float) for n in names], axis=-1)
    truth = actual.to_numpy(dtype=float)
    n_days = stack.shape[0]
    start = np.log([(prior or {}).get(n, 1.0) for n in names])
    log_w = np.tile(start, (HOURS, 1))
    combined = np.full((n_days, HOURS), np.nan)
    mean_w = np.zeros((n_days, len(names)))
    for t in range(n_days):
        if t >= 2:
            loss = np.abs(stack[t - 2] - truth[t - 2][:, None]) / truth[t - 2][:, None] * 100
            log_w -= cfg.eta * np.nan_to_num(loss, nan=0.0)
            log_w -= log_w.max(axis=1, keepdims=True)
        w = np.exp(log_w) * ~np.isnan(stack[t])
        total = w.sum(axis=1, keepdims=True)
        w = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
        combined[t] = np.where(total[:, 0] > 0, (np.nan_to_num(stack[t]) * w).sum(axis=1), np.nan)
        mean_w[t] = w.mean(axis=0)
    index, columns = actual.index, actual.columns
    return (
        pd.DataFrame(combined, index=index, columns=columns),
        pd.DataFrame(mean_w, index=index, columns=names),
    )


def conformal_bands(
    forecast: pd.DataFrame, actual: pd.DataFrame, cfg: OnlineConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """P10 and P90 from the empirical quantiles of the recent known relative residuals.

    For target day T the residuals of the `band_days` days up to T-2 are used (issue-time
    honest); before 14 such days exist, a band of +-1.28 prior standard deviations.
    """
    rel = ((actual - forecast) / forecast).to_numpy(dtype=float)
    lo = np.full(len(rel), -1.2816 * cfg.prior_std)
    hi = np.full(len(rel), 1.2816 * cfg.prior_std)
    for t in range(len(rel)):
        past = rel[max(t - 1 - cfg.band_days, 0) : max(t - 1, 0)]
        past = past[~np.isnan(past)]
        if past.size >= 14 * HOURS:
            lo[t], hi[t] = np.quantile(past, [cfg.band_low, cfg.band_high])
    p10 = forecast.mul(1 + lo, axis=0)
    p90 = forecast.mul(1 + hi, axis=0)
    return p10, p90


# --- the forecast of record ----------------------------------------------------------------
PANEL = "online_panel"
FALLBACK = "fallback_calendar"
LAST_RESORT = "naive_week"
REASONS = {
    PANEL: "weather and consumption complete: online aggregation of {n} Kalman-corrected experts",
    FALLBACK: "temperatures missing for this target day: calendar-and-lags expert, Kalman-corrected",
    LAST_RESORT: "features incomplete: consumption of the same hour a week earlier",
}


def online_forecast(
    hourly: pd.DataFrame,
    experts: list[str],
    fallback: str | None,
    cfg: OnlineConfig,
    timezone: str,
    fallback_reason: str | None = None,
    past_errors: pd.Series | None = None,
) -> pd.DataFrame:
    """P50, P10, P90 and the forecaster of each row of a day-ahead hourly frame.

    `hourly` holds one row per target hour (`hour_utc`, `target_date`, `actual`, NaN when
    unknown or in the future), the experts' forecasts as `<expert>_mw` and optionally
    `lag_week` and `temperature_filled`. Rows are corrected and combined with what was
    known at their issue time. `fallback_reason` names why weather is missing, when known;
    `past_errors` are the daily errors of forecasts issued before the frame, before their
    holiday memory (`p50_before_memory`, which the result carries for the years to come).
    """
    actual = day_matrix(hourly, "actual", timezone)
    unusual = unusual_days(hourly, actual.index, timezone)
    adapted = {
        e: adapt(
            day_matrix(hourly, f"{e}_mw", timezone).reindex(actual.index), actual, cfg, unusual
        )
        for e in experts
    }
    # The trees err alike; the GAM starts with the weight of several so it is not drowned.
    panel, _ = aggregate(adapted, actual, cfg, {GAM_EXPERT: cfg.gam_weight})
    p50 = panel.copy()
    who = pd.DataFrame(np.where(panel.notna(), PANEL, ""), index=panel.index, columns=panel.columns)
    if fallback is not None:
        fb = adapt(
            day_matrix(hourly, f"{fallback}_mw", timezone).reindex(actual.index),
            actual,
            cfg,
            unusual,
        )
        use = p50.isna() & fb.notna()
        p50 = p50.mask(use, fb)
        who = who.mask(use, FALLBACK)
    before_memory = p50
    p50 = holiday_memory(before_memory, actual, cfg, past_errors)
    p10, p90 = conformal_bands(p50, actual, cfg)
    out = pd.DataFrame(index=hourly.index)
    out["p50"] = to_hourly(p50, hourly, timezone)
    out["p50_before_memory"] = to_hourly(before_memory, hourly, timezone)
    out["p10"] = to_hourly(p10, hourly, timezone)
    out["p90"] = to_hourly(p90, hourly, timezone)
    out["offline"] = hourly[[f"{e}_mw" for e in experts]].mean(axis=1, skipna=False).to_numpy()
    codes = {name: i for i, name in enumerate(("", PANEL, FALLBACK))}
    code_matrix = who.replace(codes).astype(float)
    names = np.array(["", PANEL, FALLBACK], dtype=object)
    idx = to_hourly(code_matrix, hourly, timezone)
    out["forecaster"] = np.where(np.isnan(idx), "", names[np.nan_to_num(idx).astype(int)])
    if "lag_week" in hourly.columns:
        last = (out["forecaster"] == "") & hourly["lag_week"].notna().to_numpy()
        out.loc[last, "p50"] = hourly.loc[last, "lag_week"].to_numpy()
        out.loc[last, "p50_before_memory"] = out.loc[last, "p50"]
        out.loc[last, "forecaster"] = LAST_RESORT
    out["forecaster"] = out["forecaster"].replace("", None)
    reasons = {k: v.format(n=len(experts)) for k, v in REASONS.items()}
    if fallback_reason:
        reasons[FALLBACK] = f"{fallback_reason}: calendar-and-lags expert, Kalman-corrected"
    out["forecaster_reason"] = out["forecaster"].map(reasons)
    if "temperature_filled" in hourly.columns:
        filled = (hourly["temperature_filled"].to_numpy() == 1) & (out["forecaster"] == PANEL)
        out.loc[filled, "forecaster_reason"] += (
            "; a short hole in observed temperatures filled from neighbouring days and regions"
        )
    return out
