"""The LightGBM expert panel: reproducible, each expert on its own inputs."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from flows.errors import ModelError
from flows.forecast.features import attach_target, build_features, feature_names
from flows.forecast.model import FALLBACK_EXPERT, panel_mean, train_model


@pytest.fixture(scope="module")
def training(consumption, temps):
    from flows.forecast.features import FeatureConfig

    frame = build_features(
        pd.date_range("2020-01-10", "2020-04-10"), consumption, temps, FeatureConfig()
    )
    frame["actual"] = attach_target(frame, consumption)
    return frame.dropna()


def test_training_is_reproducible_and_every_expert_predicts(training, model_cfg) -> None:
    names = feature_names(training.drop(columns=["actual"]))
    first = train_model(training, training["actual"], names, model_cfg)
    second = train_model(training, training["actual"], names, model_cfg)
    a, b = first.predict(training.head(200)), second.predict(training.head(200))
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == [f"{e}_mw" for e in sorted(model_cfg.experts)]
    # The synthetic truth is learnable: in-sample error of a few percent for the panel.
    err = (panel_mean(a) - training["actual"].head(200)).abs() / training["actual"].head(200)
    assert err.mean() < 0.05
    # Each expert reads its own slice: no lags for the weather experts, no weather for the
    # calendar fallback.
    weather = first.boosters["gbm_weather"].feature_name()
    assert not any(c.startswith("lag_") for c in weather) and "t_smooth" in weather
    calendar = first.boosters[FALLBACK_EXPERT].feature_name()
    assert "lag_week" in calendar and not any(c.startswith("t_") for c in calendar)


def test_missing_inputs_blank_only_the_experts_that_need_them(training, model_cfg) -> None:
    names = feature_names(training.drop(columns=["actual"]))
    model = train_model(training, training["actual"], names, model_cfg)
    holed = training.head(5).copy()
    holed["t_smooth"] = np.nan  # the weather is missing
    out = model.predict(holed)
    assert out[f"{FALLBACK_EXPERT}_mw"].notna().all()
    assert out.drop(columns=f"{FALLBACK_EXPERT}_mw").isna().all().all()
    with pytest.raises(ModelError, match="t_smooth"):
        model.predict(training.head(5).drop(columns=["t_smooth"]))


def test_too_little_data_is_a_clear_error(training, model_cfg) -> None:
    names = feature_names(training.drop(columns=["actual"]))
    with pytest.raises(ModelError, match="too few"):
        train_model(training.head(50), training["actual"].head(50), names, model_cfg)


def test_an_unknown_expert_is_named(training, model_cfg) -> None:
    from dataclasses import replace

    names = feature_names(training.drop(columns=["actual"]))
    with pytest.raises(ModelError, match="gbm_nope"):
        train_model(training, training["actual"], names, replace(model_cfg, experts=("gbm_nope",)))


def test_training_shows_its_progress_by_boosting_round_when_asked(
    training, model_cfg, capsys
) -> None:
    names = feature_names(training.drop(columns=["actual"]))
    train_model(training, training["actual"], names, model_cfg)
    assert "training" not in capsys.readouterr().err
    train_model(training, training["actual"], names, model_cfg, progress=True)
    bar = capsys.readouterr().err.split("\r")[-1]
    total = len(model_cfg.experts) * model_cfg.num_boost_round
    assert bar.startswith("training: 100%") and f"{total}/{total}" in bar
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", bar)  # elapsed < time left (the ETA)


def _paths(node: dict, names: list[str], above: frozenset = frozenset()) -> list[frozenset]:
    """The features split on along each root-to-leaf path of a dumped tree."""
    if "split_feature" not in node:
        return [above]
    here = above | {names[node["split_feature"]]}
    return _paths(node["left_child"], names, here) + _paths(node["right_child"], names, here)


def test_an_additive_expert_never_mixes_weather_with_calendar_or_lags_on_one_path(
    training, model_cfg
) -> None:
    from dataclasses import replace

    names = feature_names(training.drop(columns=["actual"]))
    cfg = replace(model_cfg, experts=("gbm_additive_lags",))
    booster = train_model(training, training["actual"], names, cfg).boosters["gbm_additive_lags"]
    cols = booster.feature_name()
    anchors = {"hour_local", "day_type", "doy_cos"}
    seen = [False, False, False]
    for tree in booster.dump_model()["tree_info"]:
        for path in _paths(tree["tree_structure"], cols):
            used = path - anchors
            weather = any(c.startswith("t_") or c in ("hdd", "cdd") for c in used)
            lags = any(c.startswith("lag_") for c in used)
            calendar = any(
                not c.startswith(("t_", "lag_")) and c not in ("hdd", "cdd") for c in used
            )
            assert weather + lags + calendar <= 1, f"a path mixes kinds: {sorted(used)}"
            seen = [s or k for s, k in zip(seen, (weather, lags, calendar), strict=True)]
    # Each kind still gets splits of its own: three effects summed, not one of them alone.
    assert all(seen)
