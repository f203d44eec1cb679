"""The consumption model: one LightGBM booster per quantile (native API), seeded and deterministic."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from flows.settings import Settings

CATEGORICAL = ("hour_local", "weekday")


class ModelError(RuntimeError):
    """A model cannot be trained, loaded or applied; the message names the cause."""


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters and the quantiles to fit."""

    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    p50_objective: str = "l2"
    num_boost_round: int = 600
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 40
    feature_fraction: float = 0.9
    lambda_l2: float = 1.0
    num_threads: int = 2
    seed: int = 42

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelConfig:
        """The model configuration named by the settings' forecasting section."""
        return cls(
            quantiles=tuple(settings.forecast_quantiles),
            p50_objective=settings.forecast_p50_objective,
            num_boost_round=settings.forecast_num_boost_round,
            learning_rate=settings.forecast_learning_rate,
            num_leaves=settings.forecast_num_leaves,
            min_data_in_leaf=settings.forecast_min_data_in_leaf,
            feature_fraction=settings.forecast_feature_fraction,
            lambda_l2=settings.forecast_lambda_l2,
            num_threads=settings.forecast_num_threads,
            seed=settings.forecast_seed,
        )

    def params(self, quantile: float) -> dict:
        """LightGBM parameters of the booster of one quantile."""
        if quantile == 0.5 and self.p50_objective == "l2":
            objective: dict = {"objective": "regression"}
        else:
            objective = {"objective": "quantile", "alpha": quantile}
        return {
            **objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": 1.0,
            "lambda_l2": self.lambda_l2,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }


def quantile_name(q: float) -> str:
    """`p10`, `p50`, `p90`..."""
    return f"p{round(q * 100):02d}"


# The target is the ratio of consumption to last week's mean: the trees then learn shapes and
# temperature responses, while the level follows the data (trees cannot extrapolate levels).
LEVEL_COLUMN = "lag_mean_week"


@dataclass
class ConsumptionModel:
    """Boosters per quantile over a fixed, ordered feature list."""

    features: list[str]
    boosters: dict[str, lgb.Booster] = field(default_factory=dict)
    # Widening of the P10 and P90 distances to P50, calibrated out of sample (see band_scale).
    band_scale: tuple[float, float] = (1.0, 1.0)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """P10/P50/P90 (MW) per row, sorted so that P10 <= P50 <= P90 always holds."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise ModelError(f"model needs features the frame lacks: {missing}")
        x = frame[self.features].to_numpy(dtype=float)
        if np.isnan(x).any():
            raise ModelError("refusing to predict from features with NaNs")
        names = sorted(self.boosters)
        level = frame[LEVEL_COLUMN].to_numpy(dtype=float)
        raw = np.column_stack([self.boosters[n].predict(x) * level for n in names])
        raw.sort(axis=1)  # quantile crossing is rare but must never reach users
        if raw.shape[1] == 3:
            mid = raw[:, 1]
            raw[:, 0] = mid - self.band_scale[0] * (mid - raw[:, 0])
            raw[:, 2] = mid + self.band_scale[1] * (raw[:, 2] - mid)
        return pd.DataFrame(raw, columns=[f"{n}_mw" for n in names], index=frame.index)


def train_model(
    frame: pd.DataFrame, target: pd.Series, features: list[str], cfg: ModelConfig
) -> ConsumptionModel:
    """Fit one booster per quantile on complete rows."""
    if LEVEL_COLUMN not in features:
        raise ModelError(f"feature list must hold the level column {LEVEL_COLUMN}")
    x = frame[features].to_numpy(dtype=float)
    y = target.to_numpy(dtype=float) / frame[LEVEL_COLUMN].to_numpy(dtype=float)
    ok = ~np.isnan(x).any(axis=1) & np.isfinite(y)
    if ok.sum() < 24 * 7:
        raise ModelError(f"too few complete training rows: {int(ok.sum())}")
    categorical = [features.index(c) for c in CATEGORICAL if c in features]
    model = ConsumptionModel(features=list(features))
    for q in cfg.quantiles:
        data = lgb.Dataset(
            x[ok],
            label=y[ok],
            feature_name=list(features),
            categorical_feature=categorical,
            free_raw_data=True,
            params={"verbosity": -1, "seed": cfg.seed, "num_threads": cfg.num_threads},
        )
        model.boosters[quantile_name(q)] = lgb.train(
            cfg.params(q), data, num_boost_round=cfg.num_boost_round
        )
    return model


def model_from_strings(features: list[str], texts: dict[str, str]) -> ConsumptionModel:
    """A model from its boosters' text dumps; a corrupt dump is a ModelError naming it."""
    model = ConsumptionModel(features=list(features))
    for name, text in texts.items():
        try:
            booster = lgb.Booster(model_str=text)
        except Exception as exc:  # LightGBM raises its own error types, and ValueError
            raise ModelError(f"model file {name} is corrupt: {exc}") from exc
        if booster.feature_name() != list(features):
            raise ModelError(
                f"model file {name} was trained on features {booster.feature_name()[:5]}..."
                " which differ from its metadata"
            )
        model.boosters[name] = booster
    return model


def band_scale(
    predicted: pd.DataFrame, actual: pd.Series, low: float = 0.1, high: float = 0.9
) -> tuple[float, float]:
    """Factors on (P50 - P10) and (P90 - P50) that make out-of-sample coverage nominal.

    Quantile boosters fit their training rows too well, so raw bands are too narrow on new
    data; scaling each side by the quantile of its normalised errors (a split-conformal
    calibration) restores the intended 10 % below P10 and 10 % above P90.
    """
    ok = actual.notna().to_numpy() & predicted.notna().all(axis=1).to_numpy()
    if ok.sum() < 48:
        return (1.0, 1.0)
    y = actual.to_numpy(dtype=float)[ok]
    p10, p50, p90 = (predicted[c].to_numpy(dtype=float)[ok] for c in ("p10_mw", "p50_mw", "p90_mw"))
    below = (p50 - y) / np.maximum(p50 - p10, 1.0)
    above = (y - p50) / np.maximum(p90 - p50, 1.0)
    lo = float(np.clip(np.quantile(below, 1 - low), 0.5, 5.0))
    hi = float(np.clip(np.quantile(above, high), 0.5, 5.0))
    return (round(lo, 4), round(hi, 4))
