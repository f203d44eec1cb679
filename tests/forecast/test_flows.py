"""The Prefect flows end to end on a DuckDB warehouse of synthetic data."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from flows.backends import open_lake
from flows.forecast import tables
from flows.forecast.features import WEATHER_COLUMNS
from flows.forecast.flow import forecast_cli, predict, train
from flows.forecast.registry import Registry
from flows.settings import get_settings
from flows.warehouse import DuckDBWarehouse
from tests.forecast.synthetic import (
    load_consumption,
    load_issued,
    load_observed,
    load_runs,
    make_forecast_runs,
)

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


def issued(settings, file_name: str = tables.HOURLY_FILE, issue: date | None = None):
    """The forecast rows in the lake (the predict flow's only output), of one issue or all."""
    lake = open_lake(settings)
    keys = [k for k in lake.list(tables.LAKE_PREFIX) if k.endswith(f"/{file_name}")]
    if issue:
        keys = [k for k in keys if k == tables.partition_key(issue, file_name)]
    frames = [lake.read_parquet(k).to_pandas() for k in keys]
    return pd.concat(frames, ignore_index=True).sort_values(
        ["issue_date", "target_hour_utc" if file_name == tables.HOURLY_FILE else "target_date"],
        ignore_index=True,
    )


def test_predict_trains_first_then_reissuing_replaces_rows(
    prefect_server, forecast_settings, warehouse, consumption
) -> None:
    first = predict(as_of=ISSUE)
    assert first.trained is not None and first.trained.promoted
    assert first.rows == 48 and len(first.daily) == 2
    registry = Registry(open_lake(forecast_settings))
    assert registry.champion() == first.model_version

    again = predict(ISSUE)
    assert again.trained is None and again.rows == 48
    assert f"forecast issued {ISSUE}" in again.describe()
    assert len(issued(forecast_settings)) == 48
    assert len(issued(forecast_settings, tables.DAILY_FILE)) == 2
    # Nothing written to the warehouse: the staging load and dbt take it from the lake.
    assert not warehouse.table_exists(forecast_settings.production_dataset, "consumption_forecast")

    rows = issued(forecast_settings)
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
    assert len(issued(forecast_settings)) == 96

    # Consumption revised after the issue: the next issue adapts to the revision, the issued
    # forecast is not rewritten.
    first_issue = issued(forecast_settings, issue=ISSUE)
    before = issued(forecast_settings, issue=date(2020, 5, 5))
    revised = consumption[consumption["hour_utc"] < pd.Timestamp("2020-05-05 12:00")].copy()
    day = revised["hour_utc"].between(pd.Timestamp("2020-05-03"), pd.Timestamp("2020-05-04"))
    revised.loc[day, "consumption_mw"] *= 1.05
    load_consumption(warehouse, forecast_settings, revised)
    predict(as_of=date(2020, 5, 5))
    after = issued(forecast_settings, issue=date(2020, 5, 5))
    again = issued(forecast_settings, issue=ISSUE)
    pd.testing.assert_frame_equal(first_issue, again)
    assert after["p50_mw"].mean() > before["p50_mw"].mean()  # the +5 % day pulls it up


def test_a_holiday_remembers_our_error_on_the_same_day_a_year_earlier(
    prefect_server, forecast_settings, warehouse, consumption, temps
) -> None:
    issue, holiday = date(2020, 5, 7), date(2020, 5, 8)  # 8 May 2020 is a Friday
    known = consumption[consumption["hour_utc"] < pd.Timestamp("2020-05-07 08:00")]
    load_consumption(warehouse, forecast_settings, known)
    load_observed(warehouse, forecast_settings, temps[pd.to_datetime(temps["date"]) < "2020-05-07"])
    predict(as_of=issue)
    plain = issued(forecast_settings, issue=issue)

    # On 8 May 2019, a Wednesday, we issued 10 % too high; on 8 May 2018, a Tuesday, too.
    load_issued(warehouse, forecast_settings, date(2019, 5, 8), actual=50_000.0, issued=55_000.0)
    load_issued(warehouse, forecast_settings, date(2018, 5, 8), actual=50_000.0, issued=55_000.0)
    # 9 May 2019 is no holiday and 1 May 2019 another one: neither says anything of 8 May 2020.
    load_issued(warehouse, forecast_settings, date(2019, 5, 1), actual=50_000.0, issued=40_000.0)
    predict(as_of=issue)
    remembered = issued(forecast_settings, issue=issue)

    on_holiday = pd.to_datetime(remembered["target_date"]).dt.date == holiday
    np.testing.assert_allclose(remembered["p50_before_memory_mw"], plain["p50_mw"])
    # Half of the -9.1 % error comes off the holiday, and nothing else moves.
    ratio = remembered.loc[on_holiday, "p50_mw"] / plain.loc[on_holiday, "p50_mw"]
    np.testing.assert_allclose(ratio, 1 - 0.5 / 11, rtol=1e-9)
    np.testing.assert_allclose(
        remembered.loc[~on_holiday, "p50_mw"], plain.loc[~on_holiday, "p50_mw"]
    )
    assert (remembered["p10_mw"] <= remembered["p50_mw"]).all()
    assert (remembered["p50_mw"] <= remembered["p90_mw"]).all()


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
        f"delete from {forecast_settings.production_dataset}.forecast_inputs_hourly"
        " where source = 'arpege/01' and run_at >= timestamp '2020-05-03'"
    )
    fallback = predict(as_of=ISSUE)
    assert fallback.rows == 48
    rows = issued(forecast_settings, issue=ISSUE)
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


def test_a_model_trained_on_archived_runs_predicts_from_the_hourly_weather(
    prefect_server, forecast_settings, consumption, temps, monkeypatch
) -> None:
    monkeypatch.setenv("AGGREGAT_FORECAST_TRAIN_ON_ARCHIVED_FORECASTS", "true")
    monkeypatch.setenv("AGGREGAT_FORECAST_ARCHIVED_MIN_DAYS", "60")
    get_settings.cache_clear()
    settings = get_settings()
    wh = DuckDBWarehouse(settings.duckdb_path)
    load_consumption(
        wh, settings, consumption[consumption["hour_utc"] < pd.Timestamp("2020-05-04 08:00")]
    )
    load_observed(wh, settings, temps[pd.to_datetime(temps["date"]) < pd.Timestamp(ISSUE)])
    load_runs(
        wh, settings, make_forecast_runs(temps, list(pd.date_range("2020-01-01", ISSUE).date))
    )

    trained = train(as_of=ISSUE)
    assert trained.promoted
    _, meta = Registry(open_lake(settings)).load(trained.version)
    assert meta.temperatures == "archived_forecasts"
    assert set(WEATHER_COLUMNS) <= set(meta.features)

    result = predict(as_of=ISSUE)
    rows = issued(settings, issue=ISSUE)
    assert result.rows == 48 and set(rows["forecaster"]) == {"online_panel"}
    actual = consumption.set_index("hour_utc")["consumption_mw"].reindex(rows["target_hour_utc"])
    assert (abs(rows["p50_mw"].to_numpy() - actual.to_numpy()) / actual.to_numpy()).mean() < 0.06

    # The hourly weather of the issue day's run changes the forecast: it is read, not ignored.
    wh.query(
        f"update {settings.production_dataset}.forecast_inputs_hourly"
        " set ssrd_wh_m2 = 0, tcc_pct = 100, t2m_c = t2m_c - 4"
        f" where source = 'arpege/01' and run_at = timestamp '{ISSUE} 00:00:00'"
    )
    predict(as_of=ISSUE)
    changed = issued(settings, issue=ISSUE)
    assert not np.allclose(changed["p50_mw"], rows["p50_mw"])
