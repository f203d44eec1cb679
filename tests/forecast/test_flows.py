"""The Prefect flows end to end on a DuckDB warehouse of synthetic data."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from flows.backends import open_lake
from flows.forecast.flow import forecast_cli, forecast_step, predict, train
from flows.forecast.registry import Registry
from flows.warehouse import DuckDBWarehouse
from tests.forecast.synthetic import load_consumption, load_observed, load_runs, make_forecast_runs

ISSUE = date(2020, 5, 4)


@pytest.fixture
def warehouse(forecast_settings, consumption, temps):
    wh = DuckDBWarehouse(forecast_settings.duckdb_path)
    load_consumption(
        wh,
        forecast_settings,
        consumption[consumption["hour_utc"] < pd.Timestamp("2020-05-04 08:00")],
    )
    load_observed(wh, forecast_settings, temps[pd.to_datetime(temps["date"]) < pd.Timestamp(ISSUE)])
    runs = make_forecast_runs(temps, list(pd.date_range("2020-04-20", "2020-05-12").date))
    load_runs(wh, forecast_settings, runs)
    return wh


def _count(wh, settings, table: str, issue: date | None = None) -> int:
    where = f" where issue_date = date '{issue}'" if issue else ""
    return int(
        wh.query(f"select count(*) as n from {settings.production_dataset}.{table}{where}")["n"][0]
    )


def test_predict_trains_first_then_reissuing_replaces_rows(
    prefect_server, forecast_settings, warehouse, consumption
) -> None:
    first = predict(as_of=ISSUE)
    assert first.trained is not None and first.trained.promoted
    assert first.rows == 48 and len(first.daily) == 2
    registry = Registry(open_lake(forecast_settings))
    assert registry.champion() == first.model_version

    again = forecast_step(ISSUE)
    assert again.trained is None and again.rows == 48
    assert f"forecast issued {ISSUE}" in again.describe()
    assert _count(warehouse, forecast_settings, "consumption_forecast") == 48
    assert _count(warehouse, forecast_settings, "consumption_forecast_daily") == 2

    rows = warehouse.query(
        f"select * from {forecast_settings.production_dataset}.consumption_forecast order by target_hour_utc"
    )
    assert (rows["p10_mw"] <= rows["p50_mw"]).all() and (rows["p50_mw"] <= rows["p90_mw"]).all()
    assert rows["target_hour_utc"].min() == pd.Timestamp("2020-05-04 22:00")
    assert set(rows["horizon_days"]) == {1, 2}
    assert rows["model_version"].unique().tolist() == [first.model_version]
    assert set(rows["forecaster"]) == {"online_panel"}
    assert rows["forecaster_reason"].str.contains("online aggregation").all()
    # The forecast is close to the synthetic truth.
    actual = (
        consumption.set_index("hour_utc")["consumption_mw"]
        .reindex(rows["target_hour_utc"])
        .to_numpy()
    )
    assert (abs(rows["p50_mw"].to_numpy() - actual) / actual).mean() < 0.06

    # The next day's issue adds its own rows.
    load_consumption(
        warehouse,
        forecast_settings,
        consumption[consumption["hour_utc"] < pd.Timestamp("2020-05-05 12:00")],
    )
    predict(as_of=date(2020, 5, 5))
    assert _count(warehouse, forecast_settings, "consumption_forecast") == 96

    # Consumption revised after the issue: the next issue adapts to the revision, the issued
    # forecast is not rewritten.
    table = f"{forecast_settings.production_dataset}.consumption_forecast"
    order = " order by target_hour_utc"
    issued = warehouse.query(f"select * from {table} where issue_date = date '{ISSUE}'{order}")
    before = warehouse.query(f"select * from {table} where issue_date = date '2020-05-05'{order}")
    revised = consumption[consumption["hour_utc"] < pd.Timestamp("2020-05-05 12:00")].copy()
    day = revised["hour_utc"].between(pd.Timestamp("2020-05-03"), pd.Timestamp("2020-05-04"))
    revised.loc[day, "consumption_mw"] *= 1.05
    load_consumption(warehouse, forecast_settings, revised)
    predict(as_of=date(2020, 5, 5))
    after = warehouse.query(f"select * from {table} where issue_date = date '2020-05-05'{order}")
    again = warehouse.query(f"select * from {table} where issue_date = date '{ISSUE}'{order}")
    pd.testing.assert_frame_equal(issued, again)
    assert after["p50_mw"].mean() > before["p50_mw"].mean()  # the +5 % day pulls it up


def test_unusable_inputs_and_models_fail_clearly_and_keep_the_champion(
    prefect_server, forecast_settings, warehouse, capsys
) -> None:
    result = train(as_of=ISSUE)
    assert result.promoted and "no champion" in result.reason
    registry = Registry(open_lake(forecast_settings))
    pointer = registry.lake.read_bytes("models/consumption/champion.json")

    # The same data again: the challenger is not worse, so it is promoted; both decisions kept.
    second = train(as_of=ISSUE)
    assert second.promoted and second.champion_mape == pytest.approx(second.challenger_mape)
    assert len(registry.decisions()) == 2
    pointer = registry.lake.read_bytes("models/consumption/champion.json")

    # The weather run absent at issue time: every hour still forecast, by the named fallback.
    warehouse.query(
        f"delete from {forecast_settings.staging_dataset}.meteofrance__temperature_daily where day >= date '2020-05-03'"
    )
    fallback = predict(as_of=ISSUE)
    assert fallback.rows == 48
    rows = warehouse.query(
        f"select * from {forecast_settings.production_dataset}.consumption_forecast"
    )
    assert set(rows["forecaster"]) == {"fallback_calendar"}
    assert rows["forecaster_reason"].str.contains("weather run stale").all()
    assert rows["p50_mw"].notna().all() and (rows["p10_mw"] <= rows["p90_mw"]).all()

    # A corrupt champion: the command fails with a clear message; the pointer is unchanged.
    key = f"models/consumption/{second.version}/model_gbm_weather.txt"
    registry.lake.write_bytes(key, b"tree\nnot a model")
    assert forecast_cli("predict", ISSUE) == 1
    assert "model_gbm_weather.txt is corrupt" in capsys.readouterr().err
    assert registry.lake.read_bytes("models/consumption/champion.json") == pointer

    # Training again replaces an unusable champion, and says why.
    third = train(as_of=ISSUE)
    assert third.promoted and "champion unusable" in third.reason
    decisions = registry.decisions()
    assert len(decisions) == 3 and decisions[-1]["promoted"] is True
    assert (
        json.loads(registry.lake.read_bytes("models/consumption/champion.json"))["version"]
        == third.version
    )
