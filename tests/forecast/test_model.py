"""The LightGBM model: reproducible, quantiles ordered, never fed NaNs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.forecast.features import attach_target, build_features, feature_names
from flows.forecast.model import ModelError, train_model


@pytest.fixture(scope="module")
def training(consumption, temps):
    from flows.forecast.features import FeatureConfig

    frame = build_features(
        pd.date_range("2020-01-10", "2020-04-10"), consumption, temps, FeatureConfig()
    )
    frame["actual"] = attach_target(frame, consumption)
    return frame.dropna()


def test_training_is_reproducible_and_quantiles_are_ordered(training, model_cfg) -> None:
    names = feature_names(training.drop(columns=["actual"]))
    first = train_model(training, training["actual"], names, model_cfg)
    second = train_model(training, training["actual"], names, model_cfg)
    a, b = first.predict(training.head(200)), second.predict(training.head(200))
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["p10_mw", "p50_mw", "p90_mw"]
    assert (a["p10_mw"] <= a["p50_mw"]).all() and (a["p50_mw"] <= a["p90_mw"]).all()
    # The synthetic truth is learnable: in-sample error of a few percent.
    err = (a["p50_mw"] - training["actual"].head(200)).abs() / training["actual"].head(200)
    assert err.mean() < 0.05


def test_prediction_refuses_nans_and_missing_features(training, model_cfg) -> None:
    names = feature_names(training.drop(columns=["actual"]))
    model = train_model(training, training["actual"], names, model_cfg)
    holed = training.head(5).copy()
    holed.loc[holed.index[0], "t_smooth"] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        model.predict(holed)
    with pytest.raises(ModelError, match="t_smooth"):
        model.predict(training.head(5).drop(columns=["t_smooth"]))


def test_too_little_data_is_a_clear_error(training, model_cfg) -> None:
    names = feature_names(training.drop(columns=["actual"]))
    with pytest.raises(ModelError, match="too few"):
        train_model(training.head(50), training["actual"].head(50), names, model_cfg)


def test_band_scale_restores_nominal_coverage() -> None:
    from flows.forecast.model import band_scale

    rng = np.random.default_rng(5)
    actual = pd.Series(50_000 + rng.normal(0, 1_000, 5_000))
    # A band half as wide as it should be: P10/P90 at +-0.64 sigma instead of +-1.28.
    narrow = pd.DataFrame(
        {"p10_mw": 50_000 - 640.0, "p50_mw": 50_000.0, "p90_mw": 50_000 + 640.0}, index=actual.index
    )
    low, high = band_scale(narrow, actual)
    assert 1.8 < low < 2.2 and 1.8 < high < 2.2
    widened = narrow.assign(p10_mw=50_000 - low * 640, p90_mw=50_000 + high * 640)
    inside = (actual >= widened["p10_mw"]) & (actual <= widened["p90_mw"])
    assert inside.mean() == pytest.approx(0.8, abs=0.01)
    assert band_scale(narrow.head(10), actual.head(10)) == (1.0, 1.0)  # too few rows: unchanged


def test_band_scale_widens_predictions_and_keeps_order(training, model_cfg) -> None:
    names = feature_names(training.drop(columns=["actual"]))
    model = train_model(training, training["actual"], names, model_cfg)
    raw = model.predict(training.head(100))
    model.band_scale = (2.0, 3.0)
    wide = model.predict(training.head(100))
    assert np.allclose(wide["p50_mw"], raw["p50_mw"])
    assert np.allclose(raw["p50_mw"] - wide["p10_mw"], 2 * (raw["p50_mw"] - raw["p10_mw"]))
    assert np.allclose(wide["p90_mw"] - raw["p50_mw"], 3 * (raw["p90_mw"] - raw["p50_mw"]))
