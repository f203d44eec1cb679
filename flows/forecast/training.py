"""Training and scoring on plain frames: the challenger, its evaluation window, its metadata.

The latest `promotion_weeks` weeks before the training day are held out: the challenger is fit
on what came before, and both the challenger and the champion are scored on those weeks,
which neither has seen (a champion is always trained on an earlier day, so its own hold-out
ended before this one starts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from flows.errors import ModelError, TrainingError
from flows.forecast.features import (
    FEATURE_SET_VERSION,
    FeatureConfig,
    as_day,
    attach_target,
    build_features,
    feature_names,
    incomplete_rows,
)
from flows.forecast.model import ConsumptionModel, ModelConfig, panel_mean, train_model
from flows.forecast.registry import ModelMetadata, data_fingerprint, new_version


@dataclass(frozen=True)
class TrainingWindow:
    """Issue days whose rows train, and target days held out for scoring."""

    first_issue: pd.Timestamp
    eval_start: pd.Timestamp  # first held-out target day
    eval_end: pd.Timestamp  # last held-out target day (the day before the training day)

    @classmethod
    def of(
        cls, as_of: date, training_days: int, promotion_weeks: int, adaptation_days: int = 0
    ) -> TrainingWindow:
        """The window of a training run on `as_of`.

        At least `adaptation_days` are held out: the online correction learns from the
        model's errors on those days, which must be out of sample to be honest errors.
        """
        day = as_day(as_of)
        held_out = max(7 * promotion_weeks, adaptation_days)
        return cls(
            first_issue=day - timedelta(days=training_days),
            eval_start=day - timedelta(days=held_out),
            eval_end=day - timedelta(days=1),
        )


@dataclass
class Challenger:
    """A fitted challenger, its metadata and the held-out rows it was scored on."""

    model: ConsumptionModel
    meta: ModelMetadata
    holdout: pd.DataFrame  # features + `actual` of the held-out weeks


def mape(model: ConsumptionModel, rows: pd.DataFrame) -> float:
    """Hourly MAPE (%) of the mean of a model's panel experts (before online correction)."""
    ok = rows[model.features].notna().all(axis=1) & rows["actual"].notna()
    if not ok.any():
        return float("nan")
    pred = panel_mean(model.predict(rows[ok])).to_numpy()
    actual = rows.loc[ok, "actual"].to_numpy()
    return float(np.mean(np.abs(pred - actual) / actual) * 100)


def fit_challenger(
    consumption: pd.DataFrame,
    temperatures: pd.DataFrame,
    as_of: date,
    feature_cfg: FeatureConfig,
    model_cfg: ModelConfig,
    window: TrainingWindow,
    min_training_days: int,
    temperatures_kind: str = "observed",
    weather_hourly: pd.DataFrame | None = None,
    progress: bool = False,
) -> Challenger:
    """Fit on the training window, score on the held-out weeks, describe in metadata.

    With `weather_hourly` (archived runs as each issue day saw them), the model also learns
    the hourly weather, and predictions then read it from the run of their issue day.
    """
    issues = pd.date_range(window.first_issue, window.eval_end - timedelta(days=1))
    features = build_features(issues, consumption, temperatures, feature_cfg, weather_hourly)
    features["actual"] = attach_target(features, consumption)
    names = feature_names(features.drop(columns=["actual"]))
    usable = features[~incomplete_rows(features, names) & features["actual"].notna()]
    train = usable[usable["target_date"] < window.eval_start]
    holdout = features[
        (features["target_date"] >= window.eval_start)
        & (features["target_date"] <= window.eval_end)
    ]
    train_days = train["target_date"].nunique()
    if train_days < min_training_days:
        raise TrainingError(
            f"not enough history to train on {as_of}: {train_days} complete days of consumption"
            f" and temperatures before {window.eval_start.date()} (need {min_training_days};"
            f" window from {window.first_issue.date()})"
        )
    try:
        model = train_model(train, train["actual"], names, model_cfg, progress=progress)
    except ModelError as exc:
        raise TrainingError(f"training on {as_of} failed: {exc}") from exc
    fingerprint = data_fingerprint(train[[*names, "actual"]])
    meta = ModelMetadata(
        version=new_version(as_of.isoformat(), fingerprint),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        feature_set_version=FEATURE_SET_VERSION,
        features=names,
        quantiles=list(model_cfg.quantiles),
        training_window={
            "first_issue_date": train["issue_date"].min().date().isoformat(),
            "last_target_date": train["target_date"].max().date().isoformat(),
            "holdout_start": window.eval_start.date().isoformat(),
            "holdout_end": window.eval_end.date().isoformat(),
        },
        training_rows=len(train),
        data_fingerprint=fingerprint,
        params={"model": asdict(model_cfg), "features": asdict(feature_cfg)},
        temperatures=temperatures_kind,
    )
    meta.metrics = {
        "holdout_mape": mape(model, holdout),
        "holdout_rows": int(len(holdout)),
        "experts": sorted(model.boosters),
    }
    return Challenger(model=model, meta=meta, holdout=holdout)
