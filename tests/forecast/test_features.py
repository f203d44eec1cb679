"""Features: calendar, temperatures, lags known at issue time, and no leakage."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from flows.errors import FeatureError
from flows.forecast.features import (
    FeatureConfig,
    build_features,
    calendar_features,
    feature_names,
    fill_temperature_gaps,
    holiday_flags,
    issue_time_utc,
    last_known_hour_utc,
    require_complete,
    school_holiday_flags,
    sun_times_utc,
    target_grid,
    temperature_view,
)
from flows.forecast.model import train_model

ISSUE = date(2020, 4, 20)


def test_issue_time_and_last_known_hour_follow_local_time(feature_cfg: FeatureConfig) -> None:
    # 10:00 in Paris is 08:00 UTC in summer, 09:00 UTC in winter.
    assert issue_time_utc(date(2020, 4, 20), feature_cfg) == pd.Timestamp("2020-04-20 08:00")
    assert issue_time_utc(date(2020, 1, 20), feature_cfg) == pd.Timestamp("2020-01-20 09:00")
    # Published one hour late and start-labelled: the 06:00-07:00 UTC hour is the last known.
    assert last_known_hour_utc(date(2020, 4, 20), feature_cfg) == pd.Timestamp("2020-04-20 06:00")


def test_target_grid_covers_local_days_including_dst(feature_cfg: FeatureConfig) -> None:
    grid = target_grid([date(2020, 3, 27), date(2020, 3, 28)], feature_cfg)
    per_day = grid.groupby(["issue_date", "target_date"]).size()
    # 2020-03-29 (spring forward) has 23 local hours.
    assert per_day[(pd.Timestamp("2020-03-27"), pd.Timestamp("2020-03-29"))] == 23
    assert per_day[(pd.Timestamp("2020-03-28"), pd.Timestamp("2020-03-29"))] == 23
    assert per_day[(pd.Timestamp("2020-03-28"), pd.Timestamp("2020-03-30"))] == 24
    fall = target_grid([date(2020, 10, 24)], feature_cfg).groupby("target_date").size()
    assert fall[pd.Timestamp("2020-10-25")] == 25
    assert set(grid["horizon"]) == {1, 2}


def test_holiday_on_a_weekend_bridges_and_christmas() -> None:
    index = pd.DatetimeIndex(
        [
            "2020-11-01",
            "2020-11-02",
            "2019-05-30",
            "2019-05-31",
            "2018-04-30",
            "2018-05-09",
            "2018-05-16",
            "2020-12-28",
            "2020-06-10",
        ]
    )
    flags = holiday_flags(index)
    # All Saints' Day 2020 is a Sunday: a holiday, and the Monday after is no bridge.
    assert flags.loc["2020-11-01", "is_holiday"] == 1
    assert flags.loc["2020-11-02", ["is_holiday", "is_bridge"]].tolist() == [0, 0]
    # Ascension 2019 is a Thursday: the Friday is a bridge; 1 May 2018 a Tuesday: Monday is.
    assert flags.loc["2019-05-30", "is_holiday"] == 1
    assert flags.loc["2019-05-31", "is_bridge"] == 1
    assert flags.loc["2018-04-30", "is_bridge"] == 1
    # Wednesday 9 May 2018 sits between two holidays (8 May, Ascension); the next is ordinary.
    assert flags.loc["2018-05-09", ["is_holiday", "is_bridge"]].tolist() == [0, 1]
    assert flags.loc["2018-05-16", "is_bridge"] == 0
    assert flags.loc["2020-12-28", "is_christmas"] == 1
    assert flags.loc["2020-06-10"].sum() == 0


def test_calendar_features_use_local_time(feature_cfg: FeatureConfig) -> None:
    hours = pd.Series(pd.to_datetime(["2020-11-01 10:00", "2020-03-29 12:00", "2020-07-01 22:00"]))
    cal = calendar_features(hours, feature_cfg)
    assert cal["hour_local"].tolist() == [11, 14, 0]
    assert cal["weekday"].tolist() == [6, 6, 3]  # 2020-07-02 local is a Thursday
    assert cal["is_holiday"].tolist() == [1, 0, 0]
    assert cal["is_dst_day"].tolist() == [0, 1, 0]


def test_holidays_count_as_sundays_for_the_models(feature_cfg: FeatureConfig) -> None:
    hours = pd.Series(pd.to_datetime(["2019-05-01 10:00", "2019-05-02 10:00", "2019-05-05 10:00"]))
    cal = calendar_features(hours, feature_cfg)
    assert cal["weekday"].tolist() == [2, 3, 6]
    assert cal["day_type"].tolist() == [6, 3, 6]  # 1 May: a Wednesday, loaded like a Sunday
    assert "weekday" not in feature_names(cal) and "day_type" in feature_names(cal)


def test_school_holidays_per_zone_and_national_share() -> None:
    index = pd.DatetimeIndex(["2019-04-08", "2019-04-15", "2019-04-29", "2019-05-14"])
    flags = school_holiday_flags(index)
    # Spring 2019: zone B from 6 April, A from 13 April, C from 20 April (two weeks each).
    assert flags[["school_holiday_a", "school_holiday_b", "school_holiday_c"]].values.tolist() == [
        [0, 1, 0],
        [1, 1, 0],
        [0, 0, 1],
        [0, 0, 0],
    ]
    assert flags["school_holiday_share"].iloc[1] > flags["school_holiday_share"].iloc[0] > 0
    assert flags["school_holiday_share"].iloc[3] == 0


def test_school_holidays_beyond_the_package_dates_are_a_clear_error() -> None:
    with pytest.raises(FeatureError, match="vacances-scolaires-france"):
        school_holiday_flags(pd.DatetimeIndex(["2199-01-05"]))


def test_sun_times_and_dusk_follow_the_season_and_daylight_saving(feature_cfg) -> None:
    sun = sun_times_utc(pd.DatetimeIndex(["2019-03-20", "2019-06-21", "2019-12-21"]))
    day_length = sun["sunset_utc"] - sun["sunrise_utc"]
    # About 12 h at the equinox, 15.8 h and 8.4 h at the solstices, at 46.8 N.
    assert day_length.iloc[0] == pytest.approx(12.1, abs=0.2)
    assert day_length.iloc[1] == pytest.approx(15.8, abs=0.2)
    assert day_length.iloc[2] == pytest.approx(8.5, abs=0.2)
    hours = pd.Series(pd.to_datetime(["2019-03-30 17:00", "2019-04-01 17:00"]))
    cal = calendar_features(hours, feature_cfg)
    # The clocks go forward on 31 March: dusk jumps an hour later in local time.
    assert cal["sunset_local"].diff().iloc[1] == pytest.approx(1.05, abs=0.05)
    assert cal["after_sunset"].tolist() == pytest.approx(
        (cal["hour_local"] + 0.5 - cal["sunset_local"]).tolist()
    )


def test_lags_say_when_their_days_were_holidays(consumption, temps, feature_cfg) -> None:
    # Issued on 2020-05-07 for 05-08 (a holiday): a week before the target is 1 May.
    features = build_features(
        [date(2020, 5, 7), date(2020, 5, 20)], consumption, temps, feature_cfg
    )
    day1 = features[(features["horizon"] == 1) & (features["issue_date"] == "2020-05-07")]
    assert (day1["lag_week_was_holiday"] == 1).all()
    assert (day1["lag_week_holidays"] == 1).all()  # 1 May among 30 April .. 6 May
    later = features[(features["horizon"] == 1) & (features["issue_date"] == "2020-05-20")]
    # Ascension (21 May) is the target itself, not a lagged day; 8 May is 12 days before.
    assert (later["lag_week_was_holiday"] == 0).all() and (later["lag_week_holidays"] == 0).all()
    assert (features["t_range"] == features["t_max"] - features["t_min"]).all()


def test_temperature_view_weights_smooths_and_gives_degrees(temps, feature_cfg) -> None:
    view = temperature_view(temps, [ISSUE], feature_cfg)
    assert len(view) == feature_cfg.warmup_days + feature_cfg.horizon_days + 1
    day = view[view["date"] == pd.Timestamp(ISSUE)].iloc[0]
    from flows.regions import population_weights

    rows = temps[pd.to_datetime(temps["date"]) == pd.Timestamp(ISSUE)]
    expected = sum(
        population_weights()[c] * t
        for c, t in zip(rows["code_insee_region"], rows["tmoy"], strict=True)
    )
    assert day["t_mean"] == pytest.approx(expected)
    # Smoothing lags the daily series and never leaves its range.
    assert view["t_smooth"].between(view["t_mean"].min(), view["t_mean"].max()).all()
    assert (view["hdd"] == np.maximum(15 - view["t_smooth"], 0)).all()


def test_a_missing_region_gives_nan_not_a_reweighted_mean(temps, feature_cfg) -> None:
    holed = temps[
        ~(
            (pd.to_datetime(temps["date"]) == pd.Timestamp("2020-04-21"))
            & (temps["code_insee_region"] == 11)
        )
    ]
    view = temperature_view(holed, [ISSUE], feature_cfg)
    assert np.isnan(view.loc[view["date"] == pd.Timestamp("2020-04-21"), "t_mean"]).all()


def test_features_are_complete_on_clean_data(consumption, temps, feature_cfg) -> None:
    features = build_features([ISSUE], consumption, temps, feature_cfg)
    names = feature_names(features)
    require_complete(features, names)
    assert len(features) == 48
    assert {"lag_week", "lag_mean_week", "t_smooth", "hdd", "is_holiday", "t_hour"} <= set(names)


def test_a_hole_in_consumption_makes_incomplete_features_named(
    consumption, temps, feature_cfg
) -> None:
    holed = consumption[
        ~consumption["hour_utc"].between(
            pd.Timestamp("2020-04-18 00:00"), pd.Timestamp("2020-04-18 05:00")
        )
    ]
    features = build_features([ISSUE], holed, temps, feature_cfg)
    with pytest.raises(FeatureError, match="lag_mean_week"):
        require_complete(features, feature_names(features))


def test_an_exact_duplicate_day_is_harmless_a_conflicting_one_is_refused(
    consumption, temps, feature_cfg
) -> None:
    day = consumption[consumption["hour_utc"].dt.date == date(2020, 4, 15)]
    twice = pd.concat([consumption, day], ignore_index=True)
    clean = build_features([ISSUE], consumption, temps, feature_cfg)
    pd.testing.assert_frame_equal(build_features([ISSUE], twice, temps, feature_cfg), clean)
    conflicting = pd.concat([consumption, day.assign(consumption_mw=day["consumption_mw"] + 500)])
    with pytest.raises(FeatureError, match="2020-04-15"):
        build_features([ISSUE], conflicting, temps, feature_cfg)


def test_no_leakage_data_after_issue_time_changes_nothing(
    consumption, temps, feature_cfg, model_cfg
) -> None:
    """Scramble every consumption value published after the issue time: same features, same forecast."""
    issues = pd.date_range("2020-04-15", "2020-04-25")
    features = build_features(issues, consumption, temps, feature_cfg)
    known = consumption["hour_utc"] <= last_known_hour_utc(date(2020, 4, 15), feature_cfg)
    rng = np.random.default_rng(0)
    scrambled = consumption.copy()
    scrambled.loc[~known, "consumption_mw"] = rng.uniform(10_000, 90_000, (~known).sum())
    first_issue = features["issue_date"] == pd.Timestamp("2020-04-15")
    again = build_features(issues, scrambled, temps, feature_cfg)
    names = feature_names(features)
    pd.testing.assert_frame_equal(features[first_issue], again[first_issue])
    # Sanity: later issue days do see the (scrambled) later data.
    assert not features[~first_issue][names].equals(again[~first_issue][names])

    history = build_features(
        pd.date_range("2020-01-10", "2020-04-12"), consumption, temps, feature_cfg
    )
    from flows.forecast.features import attach_target

    history["actual"] = attach_target(history, consumption)
    history = history.dropna()
    model = train_model(history, history["actual"], names, model_cfg)
    pd.testing.assert_frame_equal(
        model.predict(features[first_issue]), model.predict(again[first_issue])
    )


def test_lags_never_reach_past_the_issue_time(consumption, temps, feature_cfg) -> None:
    """Even with a horizon long enough for `lag_week` to fall after the issue, it is masked."""
    long = FeatureConfig(horizon_days=9)
    features = build_features([ISSUE], consumption, temps, long)
    late = features["hour_utc"] - pd.Timedelta(days=7) > last_known_hour_utc(ISSUE, long)
    assert late.any()
    assert features.loc[late, "lag_week"].isna().all()
    assert features.loc[~late, "lag_week"].notna().all()


def test_regional_temperatures_are_a_setting(consumption, temps) -> None:
    plain = build_features([ISSUE], consumption, temps, FeatureConfig(regional_temperatures=False))
    regional = build_features([ISSUE], consumption, temps, FeatureConfig())
    assert not any(c.startswith("t_region_") for c in plain.columns)
    assert {f"t_region_{r}" for r in (11, 93, 94)} <= set(regional.columns)


def _without(temps: pd.DataFrame, days: list[str], region: int | None = None) -> pd.DataFrame:
    gone = pd.to_datetime(temps["date"]).isin(pd.to_datetime(days))
    if region is not None:
        gone &= temps["code_insee_region"] == region
    return temps[~gone]


def test_a_missing_temperature_day_is_filled_and_flagged(consumption, temps) -> None:
    """A day without any observation, inside the issue window: filled, flagged, complete."""
    holed = _without(temps, ["2020-04-18"])
    features = build_features([ISSUE], consumption, holed, FeatureConfig())
    require_complete(features, feature_names(features))
    assert (features["temperature_filled"] == 1).all()  # the hole is in every row's window
    clean = build_features([ISSUE], consumption, temps, FeatureConfig())
    assert (clean["temperature_filled"] == 0).all()
    assert np.allclose(features["t_smooth"], clean["t_smooth"], atol=1.5)


def test_a_region_missing_for_a_week_is_filled_from_the_others(consumption, temps) -> None:
    week = [d.date().isoformat() for d in pd.date_range("2020-04-14", "2020-04-20")]
    holed = _without(temps, week, region=93)
    filled, days = fill_temperature_gaps(holed, 3)
    assert list(days.date.astype(str)) == week
    truth = temps.assign(date=pd.to_datetime(temps["date"]))
    merged = filled.merge(truth, on=["date", "code_insee_region"], suffixes=("", "_true"))
    region = merged[(merged["code_insee_region"] == 93) & merged["date"].isin(days)]
    assert len(region) == 7 and (region["tmoy"] - region["tmoy_true"]).abs().max() < 3.0
    features = build_features([ISSUE], consumption, holed, FeatureConfig())
    require_complete(features, feature_names(features))


def test_a_hole_longer_than_the_limit_stays_missing(consumption, temps) -> None:
    """Five days without observations exceed the 3-day limit: the targets lose their weather."""
    days = [d.date().isoformat() for d in pd.date_range("2020-04-21", "2020-04-25")]
    holed = _without(temps, days)
    _, filled = fill_temperature_gaps(holed, 3)
    assert filled.empty
    features = build_features([ISSUE], consumption, holed, FeatureConfig())
    assert features["t_mean"].isna().all()
    assert features["lag_week"].notna().all()  # the calendar fallback can still forecast
    longer = build_features([ISSUE], consumption, holed, FeatureConfig(max_temperature_gap_days=5))
    require_complete(longer, feature_names(longer))
