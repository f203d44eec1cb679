"""The ridge GAM expert: additive effects it can extrapolate, stored and read back exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.errors import ModelError
from flows.forecast.features import FeatureConfig, attach_target, build_features
from flows.forecast.gam import GAM_EXPERT, GAM_FEATURES, RidgeGam
from flows.forecast.model import ModelConfig, model_from_strings, train_model


@pytest.fixture(scope="module")
def training(consumption, temps) -> pd.DataFrame:
    days = pd.date_range("2020-01-10", "2020-04-10")
    frame = build_features(days, consumption, temps, FeatureConfig())
    frame["actual"] = attach_target(frame, consumption)
    return frame.dropna()


def _rows(n: int, t_smooth: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """GAM inputs for n rows: random calendar, the given smoothed temperature."""
    angle = rng.uniform(0, 2 * np.pi, n)
    rows = pd.DataFrame(
        {
            "hour_local": rng.integers(0, 24, n),
            "day_type": rng.integers(0, 7, n),
            "doy_sin": np.sin(angle),
            "doy_cos": np.cos(angle),
            "t_smooth": t_smooth,
            "t_max": t_smooth + 5,
        }
    )
    for name in GAM_FEATURES:
        if name not in rows:
            rows[name] = 0.0
    return rows[list(GAM_FEATURES)]


def _truth(rows: pd.DataFrame) -> np.ndarray:
    """Load in MW: heating below 15 °C, a quieter Sunday, a daily cycle."""
    heating = 0.02 * np.maximum(15 - rows["t_smooth"], 0)
    sunday = -0.15 * (rows["day_type"] == 6)
    cycle = 0.1 * np.sin(2 * np.pi * rows["hour_local"] / 24)
    return 55_000 * np.exp(heating + sunday + cycle).to_numpy()


def test_the_gam_learns_additive_effects_and_carries_the_heating_slope_into_a_cold_wave():
    rng = np.random.default_rng(3)
    train = _rows(5000, rng.uniform(2, 25, 5000), rng)
    gam = RidgeGam.fit(train.to_numpy(dtype=float), _truth(train), penalty=1.0)
    mild = _rows(500, rng.uniform(2, 25, 500), rng)
    assert np.abs(gam.predict(mild.to_numpy(dtype=float)) / _truth(mild) - 1).mean() < 0.01
    # 6 °C colder than any training day: trees would hold the coldest leaf, the GAM's
    # heating hinges keep rising.
    cold = _rows(500, np.full(500, -4.0), rng)
    assert np.abs(gam.predict(cold.to_numpy(dtype=float)) / _truth(cold) - 1).mean() < 0.03


def test_a_stored_gam_predicts_the_same_and_a_damaged_one_is_named(training) -> None:
    names = [c for c in training.columns if c != "actual" and c in GAM_FEATURES] + ["lag_week"]
    cfg = ModelConfig(experts=(GAM_EXPERT,))
    model = train_model(training, training["actual"], names, cfg)
    text = model.boosters[GAM_EXPERT].model_to_string()
    again = model_from_strings(names, {GAM_EXPERT: text})
    pd.testing.assert_frame_equal(model.predict(training), again.predict(training))
    err = (model.predict(training)[f"{GAM_EXPERT}_mw"] - training["actual"]).abs()
    assert (err / training["actual"]).mean() < 0.05
    with pytest.raises(ModelError, match=f"model file {GAM_EXPERT} is corrupt"):
        model_from_strings(names, {GAM_EXPERT: text[: len(text) // 2]})
    with pytest.raises(ModelError, match="basis differ"):
        model_from_strings(names, {GAM_EXPERT: text.replace('"coef": [', '"coef": [0.0, ')})


def test_a_feature_set_without_the_gam_inputs_names_them_and_the_setting(training) -> None:
    names = [c for c in training.columns if c not in ("actual", "t_range")]
    cfg = ModelConfig(experts=(GAM_EXPERT,))
    with pytest.raises(ModelError, match="t_range.*AGGREGAT_FORECAST_EXPERTS"):
        train_model(training, training["actual"], names, cfg)
