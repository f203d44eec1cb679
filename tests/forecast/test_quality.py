"""Data-quality gates: a prediction is refused, naming what is missing."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from flows.errors import DataQualityError
from flows.forecast.quality import check_consumption, prediction_temperatures
from tests.forecast.synthetic import make_forecast_runs

ISSUE = date(2020, 4, 20)


def test_complete_window_passes(consumption, feature_cfg) -> None:
    window = check_consumption(consumption, ISSUE, feature_cfg, 8, 6)
    assert window["hour_utc"].max() == pd.Timestamp("2020-04-20 06:00")
    assert window["hour_utc"].min() == pd.Timestamp("2020-04-11 22:00")  # local midnight of D-8


def test_a_hole_is_named(consumption, feature_cfg) -> None:
    holed = consumption[
        ~consumption["hour_utc"].between(
            pd.Timestamp("2020-04-16 03:00"), pd.Timestamp("2020-04-16 05:00")
        )
    ]
    with pytest.raises(
        DataQualityError, match=r"3 hours missing.*2020-04-16 03:00\.\.2020-04-16 05:00"
    ):
        check_consumption(holed, ISSUE, feature_cfg, 8, 6, source="production.energy_mix_hourly")


def test_data_not_yet_published_is_a_hole(consumption, feature_cfg) -> None:
    late = consumption[consumption["hour_utc"] < pd.Timestamp("2020-04-20 02:00")]
    with pytest.raises(DataQualityError, match="2020-04-20 02:00..2020-04-20 06:00"):
        check_consumption(late, ISSUE, feature_cfg, 8, 6)


def test_a_flat_lined_feed_is_refused(consumption, feature_cfg) -> None:
    stuck = consumption.copy()
    hours = stuck["hour_utc"].between(
        pd.Timestamp("2020-04-19 00:00"), pd.Timestamp("2020-04-19 07:00")
    )
    stuck.loc[hours, "consumption_mw"] = 51_234.0
    with pytest.raises(DataQualityError, match="flat-lined at 51234 MW for 8 hours"):
        check_consumption(stuck, ISSUE, feature_cfg, 8, 6)


def test_a_conflicting_duplicate_day_is_refused(consumption, feature_cfg) -> None:
    day = consumption[consumption["hour_utc"].dt.date == date(2020, 4, 17)]
    dup = pd.concat([consumption, day.assign(consumption_mw=day["consumption_mw"] * 1.1)])
    with pytest.raises(DataQualityError, match="2020-04-17"):
        check_consumption(dup, ISSUE, feature_cfg, 8, 6)


def test_weather_run_missing_stale_or_short_is_named_not_raised(temps, feature_cfg) -> None:
    """A bad run leaves D+1..D+H out and says why: the forecast falls back, flagged."""
    observed = temps[pd.to_datetime(temps["date"]) < pd.Timestamp(ISSUE)]
    ahead = pd.date_range("2020-04-21", "2020-04-22")
    out, problem = prediction_temperatures(
        observed,
        make_forecast_runs(temps, [date(2020, 4, 21)]),
        ISSUE,
        feature_cfg,
        30,
        "arpege/01",
    )
    assert problem.startswith("weather run missing: no arpege/01 run")
    assert not pd.to_datetime(out["date"]).isin(ahead).any()
    old = make_forecast_runs(temps, [date(2020, 4, 18)])
    _, problem = prediction_temperatures(observed, old, ISSUE, feature_cfg, 30, "arpege/01")
    assert re.search("stale: latest arpege/01 run 2020-04-18.*56 h old", problem)
    short = make_forecast_runs(temps, [ISSUE])
    short = short[pd.to_datetime(short["date"]) < pd.Timestamp("2020-04-22")]
    out, problem = prediction_temperatures(observed, short, ISSUE, feature_cfg, 30, "arpege/01")
    assert "lacks regions for days ['2020-04-22']" in problem
    assert (pd.to_datetime(out["date"]) == pd.Timestamp("2020-04-21")).sum() == 13
    fresh, problem = prediction_temperatures(
        observed, make_forecast_runs(temps, [ISSUE]), ISSUE, feature_cfg, 30, "arpege/01"
    )
    assert problem is None and pd.to_datetime(fresh["date"]).isin(ahead).sum() == 26


def test_past_days_fall_back_to_earlier_runs(temps, feature_cfg) -> None:
    """Observations lag: the days they lack come from earlier runs; with neither, left out."""
    observed = temps[pd.to_datetime(temps["date"]) < pd.Timestamp("2020-04-18")]
    runs = make_forecast_runs(
        temps, [date(2020, 4, 17), date(2020, 4, 18), date(2020, 4, 19), ISSUE]
    )
    out, problem = prediction_temperatures(observed, runs, ISSUE, feature_cfg, 30)
    assert problem is None
    window = out[pd.to_datetime(out["date"]) >= pd.Timestamp("2020-04-13")]
    days = pd.to_datetime(window["date"])
    assert days.max() == pd.Timestamp("2020-04-22")
    assert window.groupby("date").size().eq(13).all() and days.nunique() == 10
    out, _ = prediction_temperatures(
        observed, make_forecast_runs(temps, [ISSUE]), ISSUE, feature_cfg, 30
    )
    present = set(pd.to_datetime(out["date"]))
    assert pd.Timestamp("2020-04-18") not in present and pd.Timestamp("2020-04-19") not in present


def test_a_run_without_its_own_day_uses_the_previous_run_for_it(temps, feature_cfg) -> None:
    """A 00 UTC run does not hold its own local day whole: the day before's run covers it."""
    observed = temps[pd.to_datetime(temps["date"]) < pd.Timestamp(ISSUE)]
    runs = make_forecast_runs(temps, [date(2020, 4, 19), ISSUE])
    own_day = (runs["run_time"] == pd.Timestamp(ISSUE)) & (
        pd.to_datetime(runs["date"]) == pd.Timestamp(ISSUE)
    )
    out, _ = prediction_temperatures(observed, runs[~own_day], ISSUE, feature_cfg, 30)
    window = out[pd.to_datetime(out["date"]) >= pd.Timestamp("2020-04-13")]
    assert window.groupby("date").size().eq(13).all() and len(window) == 13 * 10
