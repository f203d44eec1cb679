"""Rolling-origin backtest and its reports."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from flows.forecast.backtest import (
    backtest,
    forecaster_shares,
    hours_forecast_pct,
    metrics_of,
    score,
)
from flows.forecast.flow import backtest_cli
from flows.warehouse import DuckDBWarehouse
from tests.forecast.synthetic import load_consumption, load_observed

KEYS = {"mape", "rmse", "bias", "n"}


def test_score_definitions() -> None:
    actual = pd.Series([100.0, 200.0, None])
    pred = pd.Series([110.0, 180.0, 50.0])
    s = score(actual, pred)
    assert s == {
        "mape": pytest.approx(10.0),
        "rmse": pytest.approx((250) ** 0.5),
        "bias": -5.0,
        "n": 2,
    }


SCORED = {"model", "model_offline", "rte_j1", "naive_week", "linear_regression"}


def test_backtest_retrains_by_block_and_scores_every_forecaster(
    consumption, temps, model_cfg
) -> None:
    result = backtest(
        consumption,
        temps,
        date(2020, 4, 27),
        date(2020, 5, 10),
        model_cfg=model_cfg,
        training_days=90,
    )
    assert result.retrains == 2
    days = pd.to_datetime(result.hourly["target_date"])
    assert days.min() == pd.Timestamp("2020-04-27") and days.max() == pd.Timestamp("2020-05-10")
    assert len(result.hourly) == 14 * 24
    for level in ("hourly", "daily"):
        assert set(result.metrics[level]) == SCORED
        for entry in result.metrics[level].values():
            assert set(entry) == KEYS
    assert result.metrics["daily"]["model"]["n"] == 14
    # Trained on winter only, the experts misjudge May; the online correction repairs most
    # of it (on years of real data it is what takes the model below RTE's J-1).
    hourly = result.metrics["hourly"]
    assert hourly["model"]["mape"] < 0.6 * hourly["model_offline"]["mape"]
    # Every hour forecast, by the panel on complete data, each row saying so.
    assert hours_forecast_pct(result.hourly) == 100.0
    assert forecaster_shares(result.hourly) == {"online_panel": 100.0}
    assert result.hourly["forecaster_reason"].str.contains("online aggregation").all()
    assert (result.hourly["p10"] <= result.hourly["model"]).all()
    assert (result.hourly["model"] <= result.hourly["p90"]).all()


def test_backtest_never_trains_on_the_block_it_forecasts(consumption, temps, model_cfg) -> None:
    """Data published after the block's first issue never reaches its model."""
    start, end = date(2020, 5, 4), date(2020, 5, 10)
    clean = backtest(consumption, temps, start, end, model_cfg=model_cfg, training_days=60)
    scrambled = consumption.copy()
    later = scrambled["hour_utc"] >= pd.Timestamp("2020-05-03 08:00")
    scrambled.loc[later, "consumption_mw"] = scrambled.loc[later, "consumption_mw"] * 1.3
    dirty = backtest(scrambled, temps, start, end, model_cfg=model_cfg, training_days=60)
    # The first day's forecast was issued before any scrambled hour: had the block's model been
    # trained on the scrambled actuals, it would differ. Later days' lags see them, legitimately.
    first_day = clean.hourly["target_date"] == pd.Timestamp("2020-05-04")
    # Neither the experts nor the online correction of the first day saw a scrambled hour.
    for col in ("model", "p10", "p90", "gbm_weather_mw", "gbm_lags_mw"):
        pd.testing.assert_series_equal(clean.hourly[col][first_day], dirty.hourly[col][first_day])
    assert not clean.hourly["model"][~first_day].equals(dirty.hourly["model"][~first_day])
    assert not clean.hourly["actual"].equals(dirty.hourly["actual"])


def test_without_rte_forecast_the_entry_is_absent(consumption, temps, model_cfg) -> None:
    result = backtest(
        consumption.drop(columns=["forecast_j1_mw"]),
        temps,
        date(2020, 5, 4),
        date(2020, 5, 6),
        model_cfg=model_cfg,
        training_days=60,
    )
    assert "rte_j1" not in metrics_of(result.hourly)["hourly"]
    assert any("RTE J-1" in n for n in result.notes)


def _backtest_run(name: str):
    """The backtest's flow run of that name, and its keyed artifacts (not its result records)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterName,
    )

    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
    return run, [a for a in artifacts if a.key]


def test_backtest_cli_reads_the_warehouse_and_writes_reports(
    prefect_server, forecast_settings, consumption, temps, tmp_path, capsys
) -> None:
    wh = DuckDBWarehouse(forecast_settings.duckdb_path)
    load_consumption(wh, forecast_settings, consumption)
    load_observed(wh, forecast_settings, temps)
    assert backtest_cli(date(2020, 5, 11), date(2020, 5, 17), str(tmp_path / "reports")) == 0
    stem = tmp_path / "reports" / "backtest_2020-05-11_2020-05-17"
    body = json.loads(stem.with_suffix(".json").read_text())
    for level in ("hourly", "daily"):
        assert set(body[level]) == SCORED
        assert all(set(v) == KEYS for v in body[level].values())
    assert any("observed temperatures stand in" in n for n in body["notes"])
    assert "| RTE J-1 |" in stem.with_suffix(".md").read_text()
    assert stem.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert "hourly MAPE" in capsys.readouterr().out
    assert body["hours_forecast_pct"] == 100.0
    assert "Target hours forecast: 100.0 %" in stem.with_suffix(".md").read_text()
    # A flow like the others: a named Prefect run whose artifact is the Markdown report.
    run, artifacts = _backtest_run("backtest-2020-05-11..17")
    assert run.state.is_completed()
    assert [a.key for a in artifacts] == ["consumption-backtest"]
    assert artifacts[0].data == stem.with_suffix(".md").read_text()


def test_backtest_cli_without_data_fails_clearly(
    prefect_server, forecast_settings, tmp_path, capsys
) -> None:
    assert backtest_cli(date(2020, 6, 11), date(2020, 6, 17), str(tmp_path / "reports")) == 1
    assert "forecast_inputs_hourly does not exist" in capsys.readouterr().err
    run, artifacts = _backtest_run("backtest-2020-06-11..17")
    assert run.state.is_failed() and not artifacts and not (tmp_path / "reports").exists()


def test_holes_in_temperatures_still_forecast_every_hour_and_name_the_fallback(
    consumption, temps, model_cfg
) -> None:
    """A missing day in training, one in the scored window, a region gone for a week and five
    days without any temperature: every target hour is forecast, each row says by whom."""
    dates = pd.to_datetime(temps["date"])
    holed = temps[
        ~dates.isin([pd.Timestamp("2020-03-10"), pd.Timestamp("2020-05-02")])  # short holes
        & ~(dates.between("2020-04-01", "2020-04-07") & (temps["code_insee_region"] == 84))
        & ~dates.between("2020-05-06", "2020-05-10")  # too long to fill
    ]
    result = backtest(
        consumption,
        holed,
        date(2020, 4, 27),
        date(2020, 5, 10),
        model_cfg=model_cfg,
        training_days=90,
    )
    hourly = result.hourly
    assert hours_forecast_pct(hourly) == 100.0
    shares = forecaster_shares(hourly)
    assert set(shares) == {"online_panel", "fallback_calendar"}
    fallback = hourly["forecaster"] == "fallback_calendar"
    days = set(pd.to_datetime(hourly.loc[fallback, "target_date"]).dt.date)
    assert days == {date(2020, 5, d) for d in range(6, 11)}
    assert hourly.loc[fallback, "forecaster_reason"].str.contains("temperatures missing").all()
    flagged = hourly["forecaster_reason"].str.contains("filled from neighbouring days")
    assert flagged.any() and (hourly.loc[flagged, "forecaster"] == "online_panel").all()
    assert hourly[["p10", "p90"]].notna().all().all()
