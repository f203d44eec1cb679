"""Warehouse reads: only the window a step needs; archived forecasts as each issue day saw them."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from flows.forecast import inputs
from flows.forecast.features import REGION_CODES, WEATHER_COLUMNS, FeatureConfig
from flows.forecast.flow import load_prediction_inputs
from flows.forecast.training import TrainingWindow, fit_challenger
from flows.warehouse import DuckDBWarehouse
from tests.forecast.synthetic import load_consumption, load_observed, load_runs, make_forecast_runs

ISSUE = date(2020, 5, 4)


@pytest.fixture
def wh(forecast_settings, consumption, temps):
    wh = DuckDBWarehouse(forecast_settings.duckdb_path)
    load_consumption(wh, forecast_settings, consumption)
    load_observed(wh, forecast_settings, temps[pd.to_datetime(temps["date"]) < pd.Timestamp(ISSUE)])
    load_runs(
        wh,
        forecast_settings,
        make_forecast_runs(temps, list(pd.date_range("2020-01-01", "2020-05-10").date)),
    )
    return wh


def test_reads_are_bounded_by_their_window(wh, forecast_settings) -> None:
    frame = inputs.read_consumption(
        wh, forecast_settings, pd.Timestamp("2020-04-01 00:00"), pd.Timestamp("2020-04-02 00:00")
    )
    assert len(frame) == 24 and frame["hour_utc"].min() == pd.Timestamp("2020-04-01 00:00")
    temps = inputs.read_observed_temperatures(
        wh, forecast_settings, date(2020, 4, 1), date(2020, 4, 3)
    )
    # The 13 regions and the nation (code 0), whose value the mart computed.
    assert len(temps) == 3 * 14 and set(temps["code_insee_region"]) == {0, *REGION_CODES}
    runs = inputs.read_forecast_temperatures(
        wh,
        forecast_settings,
        date(2020, 4, 1),
        date(2020, 4, 1),
        date(2020, 4, 1),
        date(2020, 4, 30),
    )
    assert set(runs["run_time"]) == {pd.Timestamp("2020-04-01")} and len(runs) == 4 * 14
    hourly = inputs.read_weather_hourly(
        wh,
        forecast_settings,
        date(2020, 4, 1),
        date(2020, 4, 2),
        pd.Timestamp("2020-04-02 00:00"),
        pd.Timestamp("2020-04-03 00:00"),
    )
    assert len(hourly) == 2 * 24 and set(hourly["run_time"].dt.day) == {1, 2}
    assert hourly[list(WEATHER_COLUMNS)].notna().all().all()


def test_prediction_ignores_bad_history_outside_its_window(
    wh, forecast_settings, consumption
) -> None:
    """A broken day two months back cannot reach a prediction: it reads the recent weeks only."""
    wh.query(
        f"update {forecast_settings.production_dataset}.{inputs.INPUTS_TABLE}"
        " set consumption_mw = 1 where source = 'measured' and date_local = date '2020-03-02'"
    )
    data = load_prediction_inputs.fn(ISSUE)
    days = (
        forecast_settings.forecast_adaptation_days
        + forecast_settings.forecast_consumption_window_days
    )
    first = pd.Timestamp(ISSUE) - pd.Timedelta(days=days + 1)
    assert data.consumption["hour_utc"].min() >= first
    assert (data.consumption["consumption_mw"] > 1).all()
    assert pd.to_datetime(data.temperatures["date"]).min() >= first - pd.Timedelta(days=7)
    assert data.weather_problem is None
    # Each issue day of the window gets the hourly weather of its own latest run, no later one.
    weather = data.weather_hourly
    issues = pd.date_range(
        ISSUE - pd.Timedelta(days=forecast_settings.forecast_adaptation_days), ISSUE
    )
    assert set(weather["issue_date"]) == set(issues)
    own = weather[weather["issue_date"] == pd.Timestamp(ISSUE)]
    runs = inputs.read_weather_hourly(
        wh, forecast_settings, ISSUE, ISSUE, own["hour_utc"].min(), own["hour_utc"].max()
    )
    assert np.allclose(own["t2m_c"].iloc[:-1], runs["t2m_c"])


def test_missing_table_is_named(forecast_settings) -> None:
    wh = DuckDBWarehouse(forecast_settings.duckdb_path)
    with pytest.raises(
        inputs.InputMissingError, match="production.forecast_inputs_hourly does not exist"
    ):
        inputs.read_consumption(
            wh, forecast_settings, pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-02")
        )


def test_archived_forecasts_train_a_model_with_the_same_schema(
    wh, forecast_settings, consumption, model_cfg
) -> None:
    archived = inputs.archived_forecast_temperatures(
        wh, forecast_settings, date(2020, 2, 1), date(2020, 5, 3)
    )
    one = archived[archived["issue_date"] == pd.Timestamp("2020-04-10")]
    # Its own run from the issue day on, earlier runs before it.
    assert pd.to_datetime(one["date"]).min() == pd.Timestamp("2020-04-02")
    assert pd.to_datetime(one["date"]).max() == pd.Timestamp("2020-04-13")
    assert one.groupby("date").size().eq(14).all()
    assert inputs.archived_forecast_days(wh, forecast_settings) == 131
    window = TrainingWindow.of(ISSUE, 80, 2)
    challenger = fit_challenger(
        consumption, archived, ISSUE, FeatureConfig(), model_cfg, window, 28, "archived_forecasts"
    )
    assert challenger.meta.temperatures == "archived_forecasts"
    assert challenger.meta.metrics["holdout_mape"] < 8


def test_archived_hourly_weather_is_what_each_issue_day_saw_and_is_learnt(
    wh, forecast_settings, consumption, model_cfg
) -> None:
    cfg = FeatureConfig()
    weather = inputs.archived_weather_hourly(
        wh, forecast_settings, date(2020, 2, 1), date(2020, 4, 19), cfg
    )
    assert weather["issue_date"].nunique() == 79
    # Issued at 10:00 local on 2020-04-10: the run of that day (00 UTC), not the next one.
    one = weather[weather["issue_date"] == pd.Timestamp("2020-04-10")]
    runs = inputs.read_weather_hourly(
        wh,
        forecast_settings,
        date(2020, 4, 10),
        date(2020, 4, 11),
        one["hour_utc"].min(),
        one["hour_utc"].max() + pd.Timedelta(hours=1),
    )
    own = runs[runs["run_time"] == pd.Timestamp("2020-04-10")].set_index("hour_utc")["t2m_c"]
    later = runs[runs["run_time"] == pd.Timestamp("2020-04-11")].set_index("hour_utc")["t2m_c"]
    seen = one.set_index("hour_utc")["t2m_c"]
    assert np.allclose(seen, own.reindex(seen.index))
    shared = seen.index.intersection(later.index)
    assert len(shared) >= 24 and not np.allclose(seen[shared], later[shared])

    archived = inputs.archived_forecast_temperatures(
        wh, forecast_settings, date(2020, 1, 20), date(2020, 5, 3)
    )
    window = TrainingWindow.of(ISSUE, 80, 2)
    challenger = fit_challenger(
        consumption,
        archived,
        ISSUE,
        cfg,
        model_cfg,
        window,
        28,
        "archived_forecasts",
        inputs.archived_weather_hourly(
            wh, forecast_settings, window.first_issue.date(), window.eval_end.date(), cfg
        ),
    )
    assert set(WEATHER_COLUMNS) <= set(challenger.model.features)
    boosters = challenger.model.boosters
    assert set(WEATHER_COLUMNS) <= set(boosters["gbm_weather"].feature_name())
    # The fallback must still forecast when the weather run is missing.
    assert not set(WEATHER_COLUMNS) & set(boosters["gbm_calendar"].feature_name())
    assert challenger.meta.metrics["holdout_mape"] < 8
