"""Online adaptation: issue-time honesty, the correction's effect, aggregation and bands."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from flows.forecast.online import (
    OnlineConfig,
    adapt,
    aggregate,
    conformal_bands,
    daily_errors,
    holiday_memory,
    kalman_corrections,
    online_forecast,
    recurring_day_key,
    recurring_days_before,
)

DAYS = pd.date_range("2021-01-01", periods=120, freq="D")


def _matrix(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(values, index=DAYS, columns=range(24))


def _truth(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shape = 50_000 + 8_000 * np.sin(np.arange(24) / 24 * 2 * np.pi)
    level = 1 + np.cumsum(rng.normal(0, 0.004, len(DAYS)))  # a drifting level
    return _matrix(np.outer(level, shape) * (1 + rng.normal(0, 0.005, (len(DAYS), 24))))


def test_a_correction_uses_only_what_was_known_at_its_issue() -> None:
    rng = np.random.default_rng(1)
    residuals = _matrix(rng.normal(0, 0.02, (len(DAYS), 24)))
    cfg = OnlineConfig()
    clean = kalman_corrections(residuals, cfg)
    t = 60  # target day; issued on day t-1 at 10:00, when hours 0..8 of day t-1 are known
    later = residuals.copy()
    later.iloc[t - 1, cfg.known_hours :] += 0.5
    later.iloc[t:] -= 0.5
    dirty = kalman_corrections(later, cfg)
    pd.testing.assert_frame_equal(clean.iloc[: t + 1], dirty.iloc[: t + 1])
    assert not np.allclose(clean.iloc[t + 1], dirty.iloc[t + 1])
    # The morning of the issue day does move the correction.
    morning = residuals.copy()
    morning.iloc[t - 1, : cfg.known_hours] += 0.05
    assert (kalman_corrections(morning, cfg).iloc[t] > clean.iloc[t]).all()


def test_adaptation_removes_a_persistent_bias() -> None:
    truth = _truth()
    biased = truth * 1.04  # an offline model 4 % too high
    adapted = adapt(biased, truth, OnlineConfig())
    late = slice(30, None)
    before = ((biased - truth).abs() / truth).iloc[late].to_numpy().mean()
    after = ((adapted - truth).abs() / truth).iloc[late].to_numpy().mean()
    assert after < before / 3


def test_an_unusual_day_teaches_the_correction_nothing() -> None:
    truth = _truth()
    forecast = truth * 1.0
    forecast.iloc[70] *= 1.06  # the model misreads a holiday badly
    unusual = np.zeros(len(DAYS), dtype=bool)
    unusual[70] = True
    naive = adapt(forecast, truth, OnlineConfig())
    careful = adapt(forecast, truth, OnlineConfig(), unusual)
    after = slice(71, 75)
    err = lambda f: ((f - truth).abs() / truth).iloc[after].to_numpy().mean()  # noqa: E731
    # Carried over, the holiday's error would spoil the ordinary days after it.
    assert err(careful) < err(naive) / 3
    pd.testing.assert_frame_equal(careful.iloc[:71], naive.iloc[:71])


def test_aggregation_leans_to_the_better_expert_and_skips_missing_ones() -> None:
    truth = _truth()
    good, bad = truth * 1.002, truth * 1.05
    cfg = OnlineConfig(eta=0.5)
    combined, weights = aggregate({"good": good, "bad": bad}, truth, cfg)
    assert weights["good"].iloc[-1] > 0.9
    assert ((combined - truth).abs() / truth).iloc[-30:].to_numpy().mean() < 0.005
    holed = good.copy()
    holed.iloc[50] = np.nan
    combined, _ = aggregate({"good": holed, "bad": bad}, truth, cfg)
    pd.testing.assert_series_equal(combined.iloc[50], bad.iloc[50], check_names=False)


def test_a_prior_weight_gives_an_expert_its_share_until_the_losses_speak() -> None:
    truth = _truth()
    low, high = truth * 0.99, truth * 1.01  # equally wrong: the weights never move
    _, weights = aggregate({"low": low, "high": high}, truth, OnlineConfig(), {"high": 3.0})
    assert np.allclose(weights["high"], 0.75)
    worse = truth * 1.04
    _, weights = aggregate({"low": low, "high": worse}, truth, OnlineConfig(eta=0.5), {"high": 3.0})
    assert weights["high"].iloc[0] == pytest.approx(0.75) and weights["high"].iloc[-1] < 0.05


def test_conformal_bands_cover_about_eighty_percent() -> None:
    truth = _truth(3)
    rng = np.random.default_rng(5)
    forecast = truth * (1 + rng.normal(0, 0.015, truth.shape))
    p10, p90 = conformal_bands(forecast, truth, OnlineConfig())
    inside = ((truth >= p10) & (truth <= p90)).iloc[20:].to_numpy().mean()
    assert 0.75 < inside < 0.85
    assert (p10 <= forecast).all().all() and (forecast <= p90).all().all()


def _two_years() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Truth over Nov 2022 .. Dec 2023 and a forecast right on it except on Christmas days."""
    days = pd.date_range("2022-11-01", "2023-12-31", freq="D")
    rng = np.random.default_rng(3)
    shape = 50_000 + 8_000 * np.sin(np.arange(24) / 24 * 2 * np.pi)
    truth = pd.DataFrame(
        np.outer(1 + rng.normal(0, 0.003, len(days)), shape), index=days, columns=range(24)
    )
    forecast = truth.copy()
    # The trees read 26 December (a workday in both years) 8 % too high, each year.
    for day in ("2022-12-26", "2023-12-26"):
        forecast.loc[day] *= 1.08
    # 23 December 2022 is a Friday, in 2023 a Saturday: a workday says nothing of a weekend.
    forecast.loc["2022-12-23"] *= 1.10
    return truth, forecast


def _day_error(forecast: pd.DataFrame, truth: pd.DataFrame, day: str) -> float:
    return float(((forecast.loc[day] - truth.loc[day]) / truth.loc[day]).mean())


def test_a_holiday_learns_from_the_same_day_a_year_earlier() -> None:
    truth, forecast = _two_years()
    remembered = holiday_memory(forecast, truth, OnlineConfig(holiday_memory=0.5))
    # Last year's -7.4 % error, half of it taken off: 8 % too high becomes 4 %.
    assert abs(_day_error(remembered, truth, "2023-12-26") - 0.04) < 0.002
    assert _day_error(remembered, truth, "2022-12-26") == _day_error(forecast, truth, "2022-12-26")
    pd.testing.assert_series_equal(remembered.loc["2023-12-23"], forecast.loc["2023-12-23"])
    ordinary = [d for d in truth.index if recurring_day_key(d) is None]
    pd.testing.assert_frame_equal(remembered.loc[ordinary], forecast.loc[ordinary])
    # Nothing of the year being forecast leaks in: its own actuals change nothing.
    later = truth.copy()
    later.loc["2023-12-01":] *= 0.9
    pd.testing.assert_frame_equal(
        holiday_memory(forecast, later, OnlineConfig(holiday_memory=0.5)).loc["2023"],
        remembered.loc["2023"],
    )
    assert holiday_memory(forecast, truth, OnlineConfig(holiday_memory=0.0)) is forecast


def test_errors_issued_before_the_frame_are_remembered_like_the_frame_s_own() -> None:
    truth, forecast = _two_years()
    cfg = OnlineConfig(holiday_memory=0.5)
    whole = holiday_memory(forecast, truth, cfg)
    # Production's frame is only the last weeks; last year's errors come from the warehouse.
    recent = slice("2023-11-15", None)
    past = daily_errors(forecast, truth).loc[:"2023-01-31"]
    alone = holiday_memory(forecast.loc[recent], truth.loc[recent], cfg)
    remembered = holiday_memory(forecast.loc[recent], truth.loc[recent], cfg, past)
    pd.testing.assert_frame_equal(remembered, whole.loc[recent])
    assert _day_error(alone, truth, "2023-12-26") == _day_error(forecast, truth, "2023-12-26")
    # Errors dated inside the frame or after it are not the past: they are ignored.
    future = pd.Series([0.5], index=[pd.Timestamp("2023-12-20")])
    pd.testing.assert_frame_equal(
        holiday_memory(forecast.loc[recent], truth.loc[recent], cfg, pd.concat([past, future])),
        remembered,
    )


def test_the_days_to_remember_are_the_same_kind_of_day_in_earlier_years() -> None:
    frame = [date(2023, 12, 25), date(2023, 12, 26), date(2023, 11, 30)]
    found = recurring_days_before(frame, years=2)
    # 25 December 2023 is a Monday, and fell on a weekend in 2022 and 2021: nothing to learn.
    # 26 December 2023 is a Tuesday: 2022's was a Monday (kept), 2021's a Sunday (not).
    assert found == [date(2022, 12, 26)]
    assert recurring_days_before([date(2023, 11, 30)], years=3) == []
    assert date(2022, 7, 14) in recurring_days_before([date(2023, 7, 14)], years=1)


def test_the_online_forecast_applies_the_memory_and_keeps_what_it_was_before() -> None:
    truth, forecast = _two_years()
    days = np.repeat(truth.index.to_numpy(), 24)
    hourly = pd.DataFrame(
        {
            "hour_utc": days + np.tile(np.arange(24), len(truth)) * np.timedelta64(1, "h"),
            "target_date": days,
            "actual": truth.to_numpy().ravel(),
            "e1_mw": forecast.to_numpy().ravel(),
        }
    )
    christmas = (hourly["target_date"] == pd.Timestamp("2023-12-26")).to_numpy()
    actual = hourly["actual"].to_numpy()[christmas]
    on = online_forecast(hourly, ["e1"], None, OnlineConfig(holiday_memory=0.5), "UTC")
    off = online_forecast(hourly, ["e1"], None, OnlineConfig(holiday_memory=0.0), "UTC")
    assert np.mean(on["p50"].to_numpy()[christmas] / actual - 1) < (
        np.mean(off["p50"].to_numpy()[christmas] / actual - 1) - 0.02
    )
    np.testing.assert_allclose(on["p50_before_memory"], off["p50"])
    ordinary = ~hourly["target_date"].map(recurring_day_key).notna().to_numpy()
    np.testing.assert_allclose(on["p50"].to_numpy()[ordinary], on["p50_before_memory"][ordinary])
