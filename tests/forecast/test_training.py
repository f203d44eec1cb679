"""Training on frames: holes in history are skipped, too little history is a clear error."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from flows.errors import TrainingError
from flows.forecast.features import FeatureConfig
from flows.forecast.training import TrainingWindow, fit_challenger

AS_OF = date(2020, 5, 4)


def test_a_hole_in_history_drops_only_the_rows_it_touches(consumption, temps, model_cfg) -> None:
    window = TrainingWindow.of(AS_OF, 80, 2)
    clean = fit_challenger(consumption, temps, AS_OF, FeatureConfig(), model_cfg, window, 28)
    hole = consumption["hour_utc"].between(
        pd.Timestamp("2020-03-10"), pd.Timestamp("2020-03-11 23:00")
    )
    holed = fit_challenger(consumption[~hole], temps, AS_OF, FeatureConfig(), model_cfg, window, 28)
    lost = clean.meta.training_rows - holed.meta.training_rows
    # The two days as targets, and as lags (same hour last week, last week's mean) of others.
    assert 2 * 48 < lost < 20 * 48
    assert holed.meta.data_fingerprint != clean.meta.data_fingerprint
    assert holed.meta.metrics["holdout_mape"] < 8
    assert clean.meta.training_window["holdout_start"] == "2020-04-20"
    assert clean.meta.training_window["last_target_date"] == "2020-04-19"


def test_the_same_data_gives_the_same_fingerprint_and_model(consumption, temps, model_cfg) -> None:
    window = TrainingWindow.of(AS_OF, 60, 2)
    a = fit_challenger(consumption, temps, AS_OF, FeatureConfig(), model_cfg, window, 28)
    b = fit_challenger(consumption, temps, AS_OF, FeatureConfig(), model_cfg, window, 28)
    assert a.meta.data_fingerprint == b.meta.data_fingerprint
    assert a.meta.metrics == b.meta.metrics


def test_too_little_history_names_the_window(consumption, temps, model_cfg) -> None:
    recent = consumption[consumption["hour_utc"] >= pd.Timestamp("2020-04-01")]
    with pytest.raises(
        TrainingError,
        match=r"not enough history to train on 2020-05-04: \d+ complete days.*need 28",
    ):
        fit_challenger(
            recent, temps, AS_OF, FeatureConfig(), model_cfg, TrainingWindow.of(AS_OF, 120, 2), 28
        )
