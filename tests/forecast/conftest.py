"""Fixtures of the forecast tests: small synthetic history and settings for a small model."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.forecast.features import FeatureConfig
from flows.forecast.model import ModelConfig
from tests.forecast.synthetic import make_consumption, make_temperatures

START, END = "2020-01-01", "2020-05-31"

SMALL_MODEL = {
    "AGGREGAT_FORECAST_NUM_BOOST_ROUND": "40",
    "AGGREGAT_FORECAST_NUM_LEAVES": "15",
    "AGGREGAT_FORECAST_MIN_DATA_IN_LEAF": "20",
    "AGGREGAT_FORECAST_LEARNING_RATE": "0.15",
    "AGGREGAT_FORECAST_TRAINING_DAYS": "110",
    "AGGREGAT_FORECAST_MIN_TRAINING_DAYS": "28",
    "AGGREGAT_FORECAST_PROMOTION_WEEKS": "2",
}


@pytest.fixture(scope="session")
def temps() -> pd.DataFrame:
    """Daily regional temperatures, December 2019 to June 2020."""
    return make_temperatures("2019-12-01", "2020-06-10")


@pytest.fixture(scope="session")
def consumption(temps: pd.DataFrame) -> pd.DataFrame:
    """Hourly consumption, January to May 2020."""
    return make_consumption(START, END, temps)


@pytest.fixture
def feature_cfg() -> FeatureConfig:
    return FeatureConfig()


@pytest.fixture
def model_cfg() -> ModelConfig:
    return ModelConfig(num_boost_round=40, num_leaves=15, min_data_in_leaf=20, learning_rate=0.15)


@pytest.fixture
def forecast_settings(settings, monkeypatch: pytest.MonkeyPatch):
    """Settings on a temporary lake and DuckDB with a small, fast model."""
    from flows.settings import Settings, get_settings

    for key, value in SMALL_MODEL.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield Settings()
    get_settings.cache_clear()
