"""The forecast's inputs mart, built by the real dbt from staging, read by flows/forecast/inputs.py.

Consumption as ODRÉ's real-time rows, observed temperatures with a region missing on one day,
and two ARPEGE runs decoded, curated and loaded by the weather flow's own code: the mart is
checked against the staging rows, and the reads the forecast makes are checked against it.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from flows.forecast import inputs
from flows.forecast import tables as forecast_tables
from flows.forecast.features import (
    WEATHER_COLUMNS,
    FeatureConfig,
    local_day_bounds_utc,
    national_daily,
)
from flows.forecast.flow import daily_rows
from flows.lake import LocalLake
from flows.meteofrance.tables import lake_sources
from flows.odre.schemas import DATASETS, ECO2MIX_TR, TEMPERATURE
from flows.regions import REGIONS, population_weights
from flows.staging import load_changed
from flows.transform import run_dbt_build
from flows.warehouse import DuckDBWarehouse
from tests.dbt.test_weather_marts import DAYS, _curate, _observed, _settings
from tests.forecast.test_skill_marts import realtime_rows

OBSERVED_DAYS = [date(2026, 1, 13), date(2026, 1, 14), date(2026, 1, 15)]
GAP_DAY, GAP_REGION = date(2026, 1, 14), 94


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("inputs-mart")
    settings = _settings(tmp)
    wh = DuckDBWarehouse(settings.duckdb_path)
    for dataset in DATASETS.values():
        wh.ensure_table("staging", dataset.table)
    realtime = realtime_rows("2026-01-12", "2026-01-15")
    wh.replace_partitions("staging", ECO2MIX_TR.table, realtime, set(realtime["day"]))
    observed = _observed(OBSERVED_DAYS)
    # Regions differ, so a wrong weighting shows; one region is missing on one day.
    observed["tmoy"] = observed["code_insee_region"] / 10.0
    observed = observed[
        ~((observed["date"] == GAP_DAY) & (observed["code_insee_region"] == GAP_REGION))
    ]
    wh.replace_partitions("staging", TEMPERATURE.table, observed, OBSERVED_DAYS)
    lake = LocalLake(settings.lake_url)
    for day in DAYS:
        _curate(settings, lake, day)
    for source in lake_sources():
        load_changed(lake, wh, "staging", source)
    _issue_forecast(lake, wh)
    run_dbt_build(settings, select="+forecast_inputs_hourly")
    mart = wh.query(f"select * from production.{inputs.INPUTS_TABLE}")
    return {"settings": settings, "wh": wh, "mart": mart, "realtime": realtime}


ISSUED_ON, ISSUED_FOR = date(2026, 1, 12), date(2026, 1, 13)


def _issue_forecast(lake: LocalLake, wh: DuckDBWarehouse) -> None:
    """Our forecast issued on 12 January: D+1 (13th) before memory at 60 GW, D+2 at 70 GW."""
    start, _ = local_day_bounds_utc(ISSUED_FOR, "Europe/Paris")
    hours = pd.date_range(start, periods=48, freq="h")
    p50 = np.where(np.arange(48) < 24, 60_000.0, 70_000.0)
    hourly = pd.DataFrame(
        {
            "issue_date": ISSUED_ON,
            "issue_time_utc": pd.Timestamp("2026-01-12 09:00"),
            "horizon_days": np.where(np.arange(48) < 24, 1, 2),
            "target_date": [(h + pd.Timedelta(hours=1)).date() for h in hours],
            "target_hour_utc": hours,
            "target_hour_local": [h.isoformat() for h in hours],
            "p10_mw": p50 * 0.97,
            "p50_mw": p50 * 0.99,
            "p90_mw": p50 * 1.03,
            "p50_before_memory_mw": p50,
            "forecaster": "online_panel",
            "forecaster_reason": "test rows",
            "model_version": "v-test",
            "created_at": pd.Timestamp("2026-01-12 09:00"),
        }
    )
    forecast_tables.write_partition(lake, ISSUED_ON, hourly, daily_rows(hourly))
    for source in forecast_tables.lake_sources():
        load_changed(lake, wh, "staging", source)


def _weighted(values: pd.Series) -> float:
    weights = pd.Series(population_weights()).reindex(values.index)
    return float((values * weights).sum() / weights.sum())


def test_measured_rows_hold_consumption_and_the_national_temperature_of_one_rule(built) -> None:
    mart = built["mart"]
    measured = mart[mart["source"] == inputs.MEASURED].set_index("hour_utc").sort_index()
    assert not measured.index.duplicated().any()
    actual = built["realtime"].set_index("date_heure")["consommation"].resample("h").mean()
    assert np.allclose(measured["consumption_mw"].reindex(actual.index), actual)
    assert np.allclose(measured["rte_j1_mw"].reindex(actual.index), actual * 1.02)
    # Each observed local day has all its hours, temperatures or not consumption.
    for day in OBSERVED_DAYS:
        rows = measured[pd.to_datetime(measured["date_local"]).dt.date == day]
        assert len(rows) == 24 and rows["tmean_c"].nunique() == 1
        regions = {r.code: r.code / 10.0 for r in REGIONS}
        if day == GAP_DAY:
            regions.pop(GAP_REGION)
        assert rows["tmean_c"].iloc[0] == pytest.approx(_weighted(pd.Series(regions)))
        assert rows["regions_reported"].iloc[0] == len(regions)
        assert rows["tmean_c_ile_de_france"].iloc[0] == pytest.approx(1.1)
    assert measured["t2m_c"].isna().all()


def test_measured_rows_carry_our_day_ahead_forecast_before_its_memory(built) -> None:
    mart = built["mart"]
    measured = mart[mart["source"] == inputs.MEASURED].set_index("hour_utc").sort_index()
    day = pd.to_datetime(measured["date_local"]).dt.date
    # D+1 only: the D+2 rows of the same issue are not the day-ahead forecast.
    assert (measured.loc[day == ISSUED_FOR, "issued_d1_p50_before_memory_mw"] == 60_000.0).all()
    assert measured.loc[day != ISSUED_FOR, "issued_d1_p50_before_memory_mw"].isna().all()
    assert (
        mart.loc[mart["source"] != inputs.MEASURED, "issued_d1_p50_before_memory_mw"].isna().all()
    )
    errors = inputs.read_issued_errors(
        built["wh"], built["settings"], [ISSUED_FOR, date(2026, 1, 14)], "Europe/Paris"
    )
    actual = measured.loc[day == ISSUED_FOR, "consumption_mw"]
    assert list(errors.index.date) == [ISSUED_FOR]
    assert errors.iloc[0] == pytest.approx(((actual - 60_000.0) / 60_000.0).mean())


def test_run_rows_carry_each_runs_days_and_hourly_weather(built) -> None:
    mart, wh = built["mart"], built["wh"]
    runs = mart[mart["source"] == "arpege/01"]
    daily = wh.query("select * from staging.meteofrance__temperature_daily")
    hourly = wh.query("select * from staging.meteofrance__features_hourly")
    assert set(runs["run_at"]) == set(daily["run_time"])
    for (run, day), rows in runs.groupby(["run_at", "date_local"]):
        own = daily[(daily["run_time"] == run) & (pd.to_datetime(daily["date"]) == day)]
        regional = own[own["code_insee_region"] > 0].set_index("code_insee_region")["tmoy"]
        assert len(rows) == 24
        assert rows["tmean_c"].iloc[0] == pytest.approx(_weighted(regional))
        assert rows["regions_reported"].iloc[0] == 13
        assert (rows["lead_hours"] == (rows["hour_utc"] - run) / pd.Timedelta(hours=1)).all()
        weather = hourly[(hourly["run_time"] == run) & hourly["valid_time"].isin(rows["hour_utc"])]
        france = weather[weather["code_insee_region"] == 0].set_index("valid_time")
        idf = weather[weather["code_insee_region"] == 11].set_index("valid_time")
        mine = rows.set_index("hour_utc")
        assert np.allclose(mine.loc[france.index, "t2m_c"], france["t2m_c"])
        assert np.allclose(mine.loc[idf.index, "t2m_c_ile_de_france"], idf["t2m_c"])
        assert np.allclose(mine.loc[france.index, "ssrd_wh_m2"], france["ssrd_wh_m2"])


def test_the_forecasts_reads_are_the_marts_values(built) -> None:
    settings, wh, mart = built["settings"], built["wh"], built["mart"]
    observed = inputs.read_observed_temperatures(wh, settings, OBSERVED_DAYS[0], OBSERVED_DAYS[-1])
    gap = observed[observed["date"] == pd.Timestamp(GAP_DAY)].set_index("code_insee_region")
    assert GAP_REGION not in gap.index and len(gap) == 13
    measured = mart[
        (mart["source"] == inputs.MEASURED) & (mart["date_local"] == pd.Timestamp(GAP_DAY))
    ]
    assert gap.loc[0, "tmoy"] == pytest.approx(measured["tmean_c"].iloc[0])
    # The features take the mart's national value, not one of their own.
    nat = national_daily(observed, ["date"]).set_index("date")
    assert nat.loc[pd.Timestamp(GAP_DAY), "t_mean"] == pytest.approx(gap.loc[0, "tmoy"])

    run = pd.Timestamp(DAYS[-1])
    temps = inputs.read_forecast_temperatures(
        wh, settings, DAYS[-1], DAYS[-1], DAYS[0], DAYS[-1] + pd.Timedelta(days=4)
    )
    assert set(temps["run_time"]) == {run}
    assert temps.groupby("date").size().eq(14).all()
    start, end = pd.Timestamp("2026-01-15 00:00"), pd.Timestamp("2026-01-17 00:00")
    hourly = inputs.read_weather_hourly(wh, settings, DAYS[0], DAYS[-1], start, end)
    issued = inputs.weather_as_issued(hourly, [DAYS[0], DAYS[-1]], FeatureConfig())
    # Each issue day sees its own morning's run, never the next one.
    first = issued[issued["issue_date"] == pd.Timestamp(DAYS[0])]
    expected = hourly[hourly["run_time"] == pd.Timestamp(DAYS[0])]
    assert np.allclose(first["t2m_c"], expected["t2m_c"])
    assert set(issued.columns) == {"issue_date", "hour_utc", *WEATHER_COLUMNS}
    assert inputs.archived_forecast_days(wh, settings) == 2


def test_the_build_ran_the_forecast_temperature_unit_test(built) -> None:
    """The weighting's unit test (intermediate/forecast/_forecast__unit_tests.yml) ran first."""
    run_results = built["settings"].dbt_artifacts_dir / "target" / "run_results.json"
    results = json.loads(run_results.read_text())["results"]
    status = {r["unique_id"].rsplit(".", 1)[-1]: r["status"] for r in results}
    assert status.get("forecast_temperature_is_population_weighted") == "pass"
