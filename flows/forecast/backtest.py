"""Rolling-origin backtest with weekly retraining, against RTE's J-1 and naive baselines.

Every target day T in [start, end] is forecast from issue day T-1 (day-ahead, like RTE's
J-1), with a model retrained every `retrain_every_days` on rows whose targets were published
before the first issue of its block. Features are issue-time honest per row (see features.py),
so one feature frame serves every origin.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from flows.forecast.features import (
    DAY,
    FeatureConfig,
    as_day,
    attach_target,
    build_features,
    feature_names,
    last_known_hour_utc,
    normalize_consumption,
)
from flows.forecast.model import FALLBACK_EXPERT, ModelConfig, train_model
from flows.forecast.online import OnlineConfig, online_forecast
from flows.settings import Settings

log = logging.getLogger(__name__)

FORECASTERS = ("model", "model_offline", "rte_j1", "naive_week", "linear_regression")


@dataclass
class BacktestResult:
    """Hourly predictions of every forecaster and their metrics, hourly and daily."""

    start: date
    end: date
    hourly: pd.DataFrame  # hour_utc, target_date, actual, model, p10, p90, baselines...
    metrics: dict[str, dict[str, dict[str, float]]]
    retrains: int
    train_seconds: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """The report's JSON body."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "retrains": self.retrains,
            "train_seconds": round(self.train_seconds, 2),
            "notes": self.notes,
            **self.metrics,
        }


def score(actual: pd.Series, predicted: pd.Series) -> dict[str, float]:
    """MAPE (%), RMSE and bias (mean predicted - actual, in the unit of the data), n."""
    ok = actual.notna() & predicted.notna() & (actual != 0)
    err = predicted[ok] - actual[ok]
    n = int(ok.sum())
    if n == 0:
        return {"mape": float("nan"), "rmse": float("nan"), "bias": float("nan"), "n": 0}
    return {
        "mape": float((err.abs() / actual[ok]).mean() * 100),
        "rmse": float(np.sqrt((err**2).mean())),
        "bias": float(err.mean()),
        "n": n,
    }


def daily_energy(hourly: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Energy per local target day (MWh), NaN for a forecaster missing any hour of the day."""
    return hourly.groupby("target_date")[columns].agg(lambda v: v.sum(min_count=len(v)))


def metrics_of(hourly: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """Hourly and daily scores for each forecaster present in the frame."""
    present = [f for f in FORECASTERS if f in hourly.columns and hourly[f].notna().any()]
    daily = daily_energy(hourly, ["actual", *present])
    return {
        "hourly": {f: score(hourly["actual"], hourly[f]) for f in present},
        "daily": {f: score(daily["actual"], daily[f]) for f in present},
    }


# --- the calendar/temperature regression baseline ----------------------------------------
def _design(frame: pd.DataFrame) -> np.ndarray:
    """Hour x day-type intercepts, hour-wise heating slopes, cooling, month, holidays."""
    hour = frame["hour_local"].to_numpy()
    wd = frame["weekday"].to_numpy()
    off = (frame["is_holiday"].to_numpy() == 1) | (wd == 6)
    daytype = np.select([off, wd == 5, wd == 0, wd == 4], [4, 3, 0, 2], 1)
    cols = [np.eye(24 * 5)[hour * 5 + daytype]]
    cols.append(np.eye(24)[hour] * frame["hdd"].to_numpy()[:, None])
    cols.append(frame[["cdd", "is_bridge", "is_christmas"]].to_numpy(dtype=float))
    cols.append(np.eye(12)[frame["month"].to_numpy() - 1][:, 1:])
    return np.hstack(cols)


def fit_linear(frame: pd.DataFrame, target: pd.Series) -> np.ndarray:
    """Least-squares coefficients of the regression baseline."""
    x, y = _design(frame), target.to_numpy(dtype=float)
    ok = ~np.isnan(x).any(axis=1) & ~np.isnan(y)
    coef, *_ = np.linalg.lstsq(x[ok], y[ok], rcond=None)
    return coef


def predict_linear(frame: pd.DataFrame, coef: np.ndarray) -> np.ndarray:
    """The regression baseline's predictions."""
    return _design(frame) @ coef


# --- the rolling origin ------------------------------------------------------------------
def origins(start: date, end: date, every_days: int) -> list[pd.Timestamp]:
    """First target day of each retraining block."""
    return list(pd.date_range(as_day(start), as_day(end), freq=f"{every_days}D"))


def backtest(
    consumption: pd.DataFrame,
    temperatures: pd.DataFrame,
    start: date,
    end: date,
    feature_cfg: FeatureConfig | None = None,
    model_cfg: ModelConfig | None = None,
    retrain_every_days: int = 35,
    training_days: int = 1461,
    weather_hourly: pd.DataFrame | None = None,
    online_cfg: OnlineConfig | None = None,
    adaptation_days: int = 42,
    progress: bool = False,
) -> BacktestResult:
    """Forecast every day of [start, end] day-ahead, retraining on what was known at the time.

    The experts also forecast the `adaptation_days` before `start` (unscored): the online
    correction, the aggregation and the band learn there, as they would have in production.
    """
    feature_cfg = feature_cfg or FeatureConfig()
    model_cfg = model_cfg or ModelConfig()
    online_cfg = online_cfg or OnlineConfig.for_features(feature_cfg, model_cfg)
    if end < start:
        raise ValueError(f"backtest window {start} .. {end} is empty")
    consumption = normalize_consumption(consumption)
    data_start = consumption["hour_utc"].min().normalize() + 8 * DAY
    first_target = max(as_day(start) - timedelta(days=adaptation_days), data_start + 2 * DAY)
    first_issue = max(first_target - timedelta(days=training_days), data_start)
    issues = pd.date_range(first_issue, as_day(end) - DAY)
    features = build_features(issues, consumption, temperatures, feature_cfg, weather_hourly)
    features["actual"] = attach_target(features, consumption)
    names = feature_names(features.drop(columns=["actual"]))
    notes: list[str] = []
    preds, train_seconds = [], 0.0
    blocks = origins(first_target.date(), end, retrain_every_days)
    bar = tqdm(blocks, desc="backtest", unit="block", disable=not progress)
    for origin in bar:
        block_end = min(origin + (retrain_every_days - 1) * DAY, as_day(end))
        known = last_known_hour_utc(origin - DAY, feature_cfg)
        train = features[
            (features["hour_utc"] <= known)
            & (features["issue_date"] >= origin - DAY - timedelta(days=training_days))
            & features["actual"].notna()
        ]
        test = features[
            (features["horizon"] == 1)
            & (features["target_date"] >= origin)
            & (features["target_date"] <= block_end)
        ].copy()
        tick = time.perf_counter()
        model = train_model(train, train["actual"], names, model_cfg)
        train_seconds += time.perf_counter() - tick
        experts = model.predict(test)
        test = pd.concat([test, experts], axis=1)
        coef = fit_linear(train, train["actual"])
        test["linear_regression"] = predict_linear(test, coef)
        preds.append(test)
        bar.set_postfix(trained_rows=len(train))
        log.info("backtest block %s: trained on %d rows", origin.date(), len(train))
    hourly = pd.concat(preds, ignore_index=True)
    panel = [e for e in model_cfg.experts if e != FALLBACK_EXPERT and f"{e}_mw" in hourly]
    fallback = FALLBACK_EXPERT if f"{FALLBACK_EXPERT}_mw" in hourly else None
    combined = online_forecast(hourly, panel, fallback, online_cfg, feature_cfg.timezone)
    hourly["model"] = combined["p50"].to_numpy()
    hourly["p10"] = combined["p10"].to_numpy()
    hourly["p90"] = combined["p90"].to_numpy()
    hourly["model_offline"] = combined["offline"].to_numpy()
    hourly["forecaster"] = combined["forecaster"].to_numpy()
    hourly["forecaster_reason"] = combined["forecaster_reason"].to_numpy()
    hourly["naive_week"] = hourly["lag_week"]
    hourly = hourly[hourly["target_date"] >= as_day(start)].reset_index(drop=True)
    if "forecast_j1_mw" in consumption.columns:
        j1 = consumption.set_index("hour_utc")["forecast_j1_mw"].astype(float)
        hourly["rte_j1"] = j1.reindex(pd.DatetimeIndex(hourly["hour_utc"])).to_numpy()
    keep = ["hour_utc", "target_date", "actual", "model", "p10", "p90", "model_offline"]
    keep += ["naive_week", "linear_regression"]
    keep += ["rte_j1"] if "rte_j1" in hourly.columns else []
    keep += ["forecaster", "forecaster_reason", "temperature_filled"]
    keep += [f"{e}_mw" for e in model_cfg.experts if f"{e}_mw" in hourly.columns]
    hourly = hourly[keep]
    if "rte_j1" not in hourly.columns or hourly["rte_j1"].isna().all():
        notes.append("no RTE J-1 forecast in the data: rte_j1 not scored")
    unforecast = int(hourly["model"].isna().sum())
    if unforecast:
        notes.append(f"{unforecast} target hours got no forecast")
    return BacktestResult(
        start=start,
        end=end,
        hourly=hourly,
        metrics=metrics_of(hourly),
        retrains=len(blocks),
        train_seconds=train_seconds,
        notes=notes,
    )


def backtest_from_settings(
    consumption: pd.DataFrame,
    temperatures: pd.DataFrame,
    start: date,
    end: date,
    settings: Settings,
    progress: bool = True,
) -> BacktestResult:
    """`backtest` with the features, models, retraining and adaptation the settings name."""
    return backtest(
        consumption,
        temperatures,
        start,
        end,
        feature_cfg=FeatureConfig.from_settings(settings),
        model_cfg=ModelConfig.from_settings(settings),
        retrain_every_days=settings.forecast_retrain_every_days,
        training_days=settings.forecast_training_days,
        online_cfg=OnlineConfig.from_settings(settings),
        adaptation_days=settings.forecast_adaptation_days,
        progress=progress,
    )


def forecaster_shares(hourly: pd.DataFrame) -> dict[str, float]:
    """Share (%) of target hours produced by each forecaster, and of hours not forecast."""
    counts = hourly["forecaster"].fillna("none").value_counts()
    return {str(k): float(v / len(hourly) * 100) for k, v in counts.items()}


def hours_forecast_pct(hourly: pd.DataFrame) -> float:
    """Share (%) of target hours with a P50."""
    return float(hourly["model"].notna().mean() * 100) if len(hourly) else float("nan")


def coverage(hourly: pd.DataFrame) -> float:
    """Share of actuals inside [P10, P90] (80 % is calibrated)."""
    ok = hourly[["actual", "p10", "p90"]].notna().all(axis=1)
    inside = (hourly["actual"] >= hourly["p10"]) & (hourly["actual"] <= hourly["p90"])
    return float(inside[ok].mean()) if ok.any() else float("nan")
