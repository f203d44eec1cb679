"""Online adaptation: issue-time honesty, the correction's effect, aggregation and bands."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flows.forecast.online import (
    OnlineConfig,
    adapt,
    aggregate,
    conformal_bands,
    kalman_corrections,
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


def test_conformal_bands_cover_about_eighty_percent() -> None:
    truth = _truth(3)
    rng = np.random.default_rng(5)
    forecast = truth * (1 + rng.normal(0, 0.015, truth.shape))
    p10, p90 = conformal_bands(forecast, truth, OnlineConfig())
    inside = ((truth >= p10) & (truth <= p90)).iloc[20:].to_numpy().mean()
    assert 0.75 < inside < 0.85
    assert (p10 <= forecast).all().all() and (forecast <= p90).all().all()
