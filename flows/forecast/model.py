"""The consumption model: a panel of LightGBM experts (native API) and a ridge GAM (gam.py),
seeded and deterministic.

Each expert sees a different slice of the features (weather without consumption lags, with
regional temperatures, with lags, or calendar and lags only for when weather is missing) and
predicts consumption in MW. Their errors differ, which is what the online aggregation
(online.py) feeds on; the calendar expert is the named fallback when temperatures are absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from flows.errors import ModelError
from flows.forecast.features import WEATHER_COLUMNS, configured, setting_default
from flows.forecast.gam import GAM_EXPERT, GAM_FEATURES, RidgeGam, is_gam_dump
from flows.settings import Settings

CATEGORICAL = ("hour_local", "day_type")


def _is_lag(name: str) -> bool:
    return name.startswith("lag_")


def _is_region(name: str) -> bool:
    return name.startswith("t_region_")


def _is_weather(name: str) -> bool:
    return name.startswith("t_") or name in ("hdd", "cdd", *WEATHER_COLUMNS)


@dataclass(frozen=True)
class Expert:
    """One booster of the panel: which features it reads and its tree size."""

    name: str
    keeps: Callable[[str], bool]
    num_leaves: int | None = None  # None: the configured size
    level: str | None = None  # learn consumption / this column (a ratio) instead of MW
    linear: bool = False  # a linear model of the inputs in each leaf (LightGBM's linear_tree)
    # Feature groups; each tree branch splits within one (interaction_constraints); None: any.
    groups: tuple[Callable[[str], bool], ...] | None = None

    def features(self, names: list[str]) -> list[str]:
        """The expert's inputs among a feature list, in its order."""
        return [n for n in names if self.keeps(n)]

    def constraints(self, cols: list[str]) -> list[list[int]] | None:
        """Per group, the indices of its features among the expert's columns."""
        if self.groups is None:
            return None
        return [[i for i, c in enumerate(cols) if keeps(c)] for keeps in self.groups]


def _additive(*kinds: Callable[[str], bool]) -> tuple[Callable[[str], bool], ...]:
    """Feature groups no tree branch may cross: the calendar alone, then each kind (weather,
    lags) with the hour, the day type and the season it is read against."""
    anchors = ("hour_local", "day_type", "doy_cos")

    def calendar(n: str) -> bool:
        return not any(kind(n) for kind in kinds)

    def with_anchors(kind: Callable[[str], bool]) -> Callable[[str], bool]:
        return lambda n: kind(n) or n in anchors

    return (calendar, *(with_anchors(k) for k in kinds))


# Trees read levels poorly from recent lags when the lagged days were unusual (a holiday a
# week ago), so most experts forecast from calendar and weather only and leave the level to
# the online correction; the lag expert disagrees with them in useful ways.
EXPERTS: dict[str, Expert] = {
    e.name: e
    for e in (
        Expert("gbm_weather", lambda n: not _is_lag(n) and not _is_region(n)),
        Expert("gbm_weather_small", lambda n: not _is_lag(n) and not _is_region(n), 15),
        Expert("gbm_weather_large", lambda n: not _is_lag(n) and not _is_region(n), 63),
        Expert("gbm_regional", lambda n: not _is_lag(n)),
        Expert("gbm_lags", lambda n: not _is_region(n)),
        Expert("gbm_ratio", lambda n: not _is_region(n), level="lag_mean_week"),
        # Plain trees hold a leaf's value flat past the coldest day they have seen; linear
        # leaves carry the heating slope on into a cold wave (February 2018: 2 years of history).
        Expert("gbm_linear", lambda n: not _is_lag(n) and not _is_region(n), linear=True),
        Expert("gbm_linear_regional", lambda n: not _is_lag(n), linear=True),
        Expert("gbm_linear_lags", lambda n: not _is_region(n), linear=True),
        # Additive: calendar, weather and lag effects on separate branches, each read against
        # the hour, day type and season, so a cold wave on a bridge day sums two effects where
        # plain trees would need to have seen the combination.
        Expert(
            "gbm_additive",
            lambda n: not _is_lag(n) and not _is_region(n),
            linear=True,
            groups=_additive(_is_weather),
        ),
        Expert(
            "gbm_additive_lags",
            lambda n: not _is_region(n),
            linear=True,
            groups=_additive(_is_weather, _is_lag),
        ),
        Expert(
            "gbm_additive_regional",
            lambda n: not _is_lag(n),
            linear=True,
            groups=_additive(_is_weather),
        ),
        Expert("gbm_calendar", lambda n: not _is_weather(n)),
        # Not a tree: a ridge GAM (gam.py), trained and stored by its own code.
        Expert(GAM_EXPERT, lambda n: n in GAM_FEATURES),
    )
}
# The expert that needs no temperature: the fallback when weather is missing.
FALLBACK_EXPERT = "gbm_calendar"


# ModelConfig field -> the Settings field it comes from.
MODEL_SETTINGS = {
    "quantiles": "forecast_quantiles",
    "p50_objective": "forecast_p50_objective",
    "num_boost_round": "forecast_num_boost_round",
    "learning_rate": "forecast_learning_rate",
    "num_leaves": "forecast_num_leaves",
    "min_data_in_leaf": "forecast_min_data_in_leaf",
    "feature_fraction": "forecast_feature_fraction",
    "lambda_l2": "forecast_lambda_l2",
    "num_threads": "forecast_num_threads",
    "seed": "forecast_seed",
    "experts": "forecast_experts",
    "gam_penalty": "forecast_gam_penalty",
}


def _from(name: str) -> Any:
    return setting_default(MODEL_SETTINGS[name])


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters, the experts to fit and the band's quantiles."""

    quantiles: tuple[float, ...] = _from("quantiles")
    p50_objective: str = _from("p50_objective")
    num_boost_round: int = _from("num_boost_round")
    learning_rate: float = _from("learning_rate")
    num_leaves: int = _from("num_leaves")
    min_data_in_leaf: int = _from("min_data_in_leaf")
    feature_fraction: float = _from("feature_fraction")
    lambda_l2: float = _from("lambda_l2")
    num_threads: int = _from("num_threads")
    seed: int = _from("seed")
    experts: tuple[str, ...] = _from("experts")
    gam_penalty: float = _from("gam_penalty")

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelConfig:
        """The model configuration named by the settings' forecasting section."""
        cfg = configured(cls, settings, MODEL_SETTINGS)
        return replace(cfg, quantiles=tuple(cfg.quantiles), experts=tuple(cfg.experts))

    def params(self, expert: Expert) -> dict:
        """LightGBM parameters of one expert's booster."""
        if self.p50_objective == "l2":
            objective: dict = {"objective": "regression"}
        else:
            objective = {"objective": "quantile", "alpha": 0.5}
        return {
            **objective,
            "learning_rate": self.learning_rate,
            "num_leaves": expert.num_leaves or self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": 1.0,
            "lambda_l2": self.lambda_l2,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
            **({"linear_tree": True, "linear_lambda": 1.0} if expert.linear else {}),
        }

    def expert_params(self, expert: Expert, cols: list[str]) -> dict:
        """`params` plus the expert's interaction constraints over its columns."""
        groups = expert.constraints(cols)
        return self.params(expert) | ({"interaction_constraints": groups} if groups else {})


@dataclass
class ConsumptionModel:
    """Boosters per expert, each over its own ordered slice of a fixed feature list."""

    features: list[str]
    boosters: dict[str, lgb.Booster | RidgeGam] = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each expert's forecast (MW) per row, `<expert>_mw`; NaN where its inputs are missing."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise ModelError(f"model needs features the frame lacks: {missing}")
        out = pd.DataFrame(index=frame.index)
        for name in sorted(self.boosters):
            booster = self.boosters[name]
            x = frame[booster.feature_name()].to_numpy(dtype=float)
            ok = ~np.isnan(x).any(axis=1)
            values = np.full(len(frame), np.nan)
            if ok.any():
                values[ok] = booster.predict(x[ok]) * _level(frame, EXPERTS.get(name))[ok]
            out[f"{name}_mw"] = values
        return out


def panel_mean(predicted: pd.DataFrame) -> pd.Series:
    """Plain mean of the panel experts' forecasts (the fallback expert left out)."""
    cols = [c for c in predicted.columns if c != f"{FALLBACK_EXPERT}_mw"]
    return predicted[cols].mean(axis=1, skipna=False)


def _level(frame: pd.DataFrame, expert: Expert | None) -> np.ndarray:
    """The divisor of an expert's target (ones for experts that learn MW)."""
    if expert is None or expert.level is None:
        return np.ones(len(frame))
    return frame[expert.level].to_numpy(dtype=float)


def train_model(
    frame: pd.DataFrame,
    target: pd.Series,
    features: list[str],
    cfg: ModelConfig,
    progress: bool = False,
) -> ConsumptionModel:
    """Fit each configured expert on the rows where its own inputs are complete; with
    `progress`, a bar over every boosting round of every expert, with its ETA."""
    unknown = [e for e in cfg.experts if e not in EXPERTS]
    if unknown:
        raise ModelError(f"unknown experts {unknown}; known: {sorted(EXPERTS)}")
    y = target.to_numpy(dtype=float)
    model = ConsumptionModel(features=list(features))
    bar = tqdm(
        total=len(cfg.experts) * cfg.num_boost_round,
        desc="training",
        unit="round",
        disable=not progress,
    )
    for name in cfg.experts:
        expert = EXPERTS[name]
        cols = expert.features(list(features))
        if not cols:
            continue  # e.g. the regional expert without regional temperatures
        if name == GAM_EXPERT:
            model.boosters[name] = _train_gam(frame, y, features, cfg)
            bar.update(cfg.num_boost_round)
            continue
        x = frame[cols].to_numpy(dtype=float)
        label = y / _level(frame, expert)
        ok = ~np.isnan(x).any(axis=1) & np.isfinite(label)
        if ok.sum() < 24 * 7:
            raise ModelError(f"too few complete training rows for {name}: {int(ok.sum())}")
        data = lgb.Dataset(
            x[ok],
            label=label[ok],
            feature_name=cols,
            categorical_feature=[cols.index(c) for c in CATEGORICAL if c in cols],
            free_raw_data=True,
            params={"verbosity": -1, "seed": cfg.seed, "num_threads": cfg.num_threads},
        )
        bar.set_postfix_str(name)
        model.boosters[name] = lgb.train(
            cfg.expert_params(expert, cols),
            data,
            num_boost_round=cfg.num_boost_round,
            callbacks=[lambda _env: bar.update(1)],
        )
    bar.close()
    return model


def _train_gam(
    frame: pd.DataFrame, y: np.ndarray, features: list[str], cfg: ModelConfig
) -> RidgeGam:
    """The GAM expert on the rows where its inputs are complete."""
    missing = [c for c in GAM_FEATURES if c not in features]
    if missing:
        raise ModelError(
            f"the {GAM_EXPERT} expert needs features {missing}; leave it out of"
            " AGGREGAT_FORECAST_EXPERTS or add them"
        )
    x = frame[list(GAM_FEATURES)].to_numpy(dtype=float)
    ok = ~np.isnan(x).any(axis=1) & np.isfinite(y) & (y > 0)
    if ok.sum() < 24 * 7:
        raise ModelError(f"too few complete training rows for {GAM_EXPERT}: {int(ok.sum())}")
    return RidgeGam.fit(x[ok], y[ok], cfg.gam_penalty)


def _load(name: str, text: str) -> lgb.Booster | RidgeGam:
    """One expert's model from its file's text; a corrupt file is a ModelError naming it."""
    try:
        return RidgeGam.from_string(text) if is_gam_dump(text) else lgb.Booster(model_str=text)
    except Exception as exc:  # LightGBM raises its own error types, and ValueError
        raise ModelError(f"model file {name} is corrupt: {exc}") from exc


def model_from_strings(features: list[str], texts: dict[str, str]) -> ConsumptionModel:
    """A model from its boosters' text dumps; a corrupt dump is a ModelError naming it."""
    model = ConsumptionModel(features=list(features))
    for name, text in texts.items():
        booster = _load(name, text)
        unknown = [f for f in booster.feature_name() if f not in features]
        if unknown:
            raise ModelError(
                f"model file {name} was trained on features {unknown[:5]}..."
                " absent from its metadata"
            )
        model.boosters[name] = booster
    return model
