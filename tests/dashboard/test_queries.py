"""The dashboard's queries against the pipeline's warehouse, checked with SQL written here."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dashboard import queries
from flows.forecast import online
from flows.settings import Settings
from tests.dashboard.conftest import (
    AS_OF,
    LATEST_COMPLETE_DAY,
    PAST_ISSUES,
    SKILL_HEADLINE,
    Production,
    add_forecaster_columns,
    free_port,
    read_mart,
)

pytestmark = pytest.mark.slow


def mart(production: Production, sql: str) -> pd.DataFrame:
    return read_mart(production.duckdb_path, sql)


@pytest.fixture
def reader(dashboard_settings: Settings) -> queries.MartReader:
    return queries.MartReader(dashboard_settings)


def test_forecast_issues_newest_first_and_hours_joined_to_actuals(
    reader: queries.MartReader, production: Production
) -> None:
    assert queries.forecast_issues(reader) == [AS_OF, *reversed(PAST_ISSUES)]
    issue = PAST_ISSUES[-1]
    hours = queries.forecast_hourly(reader, issue)
    expected = mart(
        production,
        "select f.target_hour_utc, f.p50_mw, e.consumption_mw, e.forecast_j1_mw"
        " from production.consumption_forecast f left join production.energy_mix_hourly e"
        f" on e.hour_utc = f.target_hour_utc where f.issue_date = date '{issue}'"
        " order by f.horizon_days, f.target_hour_utc",
    )
    assert len(hours) == len(expected) > 40
    assert hours["p50_mw"].tolist() == expected["p50_mw"].tolist()
    assert hours["actual_mw"].tolist() == pytest.approx(
        expected["consumption_mw"].tolist(), nan_ok=True
    )
    assert hours["rte_j1_mw"].notna().sum() == expected["forecast_j1_mw"].notna().sum() > 0
    # Each hour names the forecaster that made it.
    assert set(hours["forecaster"]) <= {online.PANEL, online.FALLBACK}
    assert hours["forecaster"].notna().all()


def test_forecast_daily_energy_beside_rte_and_actual(
    reader: queries.MartReader, production: Production
) -> None:
    issue = PAST_ISSUES[0]
    days = queries.forecast_daily(reader, issue)
    ours = mart(
        production,
        "select horizon_days, energy_p50_gwh from production.consumption_forecast_daily"
        f" where issue_date = date '{issue}' order by horizon_days",
    )
    skill = mart(
        production,
        "select s.horizon_days, s.actual_energy_gwh from production.forecast_skill_daily s"
        f" where s.date_local = date '{issue}' + cast(s.horizon_days as integer)"
        " order by s.horizon_days",
    )
    assert days["energy_p50_gwh"].tolist() == ours["energy_p50_gwh"].tolist()
    assert days["actual_energy_gwh"].tolist() == pytest.approx(
        skill["actual_energy_gwh"].tolist(), nan_ok=True
    )


def test_skill_headline_is_the_latest_fully_measured_day(
    reader: queries.MartReader, production: Production
) -> None:
    headline = queries.skill_headline(reader)
    expected = mart(production, SKILL_HEADLINE)
    assert headline["horizon_days"].tolist() == expected["horizon_days"].tolist() == [1, 2]
    assert headline["mape_28d_pct"].tolist() == expected["mape_28d_pct"].tolist()
    assert headline["rte_mape_28d_pct"].tolist() == expected["rte_mape_28d_pct"].tolist()
    first, last = queries.skill_span(reader)
    period = queries.skill_daily(reader, last, last)
    assert set(pd.to_datetime(period["date_local"]).dt.date) == {last} and first < last


def test_energy_and_gas_and_temperature_reads(
    reader: queries.MartReader, production: Production
) -> None:
    latest = queries.latest_complete_day(reader)
    expected = mart(production, LATEST_COMPLETE_DAY)
    assert latest["consumption_gwh"].tolist() == expected["consumption_gwh"].tolist()
    first, last = queries.daily_span(reader)
    start = last - timedelta(days=6)
    daily = queries.energy_daily(reader, start, last)
    assert len(daily) == 7 and daily["date"].is_monotonic_increasing
    hourly = queries.energy_hourly(reader, start, start)
    assert len(hourly) in (23, 24, 25)
    _, gas_last = queries.gas_span(reader)
    assert gas_last == AS_OF
    gas = queries.gas_storage(reader, gas_last - timedelta(days=6), gas_last)
    national = gas[gas["level"] == "national"]
    assert len(national) == 7 and national["gas_day"].is_unique
    temps = queries.temperatures(reader, gas_last - timedelta(days=6), gas_last)
    assert temps["tmean_c"].notna().all() and len(temps) == 7


def test_weather_reads(reader: queries.MartReader, production: Production) -> None:
    run = queries.weather_current_run(reader)
    count = mart(production, "select count(*) n from production.weather_forecast_current_run")
    assert len(run) == count["n"].iloc[0] > 0
    assert set(run["forecast_model"]) == {"arpege/01", "arome/0025"}


def test_pipeline_health_latest_days_gaps_and_freshness(
    reader: queries.MartReader, production: Production, tmp_path: Path, monkeypatch
) -> None:
    latest_hour = mart(
        production,
        "select max(date_local) d from production.energy_mix_hourly where consumption_mw is not null",
    )["d"].iloc[0]
    just_after = datetime.combine(AS_OF + timedelta(days=1), datetime.min.time())
    health = queries.feed_health(reader, now=just_after).set_index("dataset")
    assert health.loc["electricity (eCO2mix)", "latest_day"] == pd.Timestamp(latest_hour).date()
    assert health.loc["gas storage", "latest_day"] == AS_OF
    assert health.loc["consumption forecast", "latest_day"] == AS_OF
    assert (health["days_missing"] == 0).all()
    assert (health["status"] == "fresh").all()
    late = queries.feed_health(reader, now=just_after + timedelta(days=5))
    assert (late["status"] == "late").all()

    # A day the temperature feed lacks shows as a gap, named.
    copy = production.copy_to(tmp_path)
    gap = AS_OF - timedelta(days=10)
    with duckdb.connect(str(copy)) as con:
        con.execute(f"delete from production.daily_merged where date = date '{gap}'")
    holed = queries.MartReader(Settings(_env_file=None, duckdb_path=copy))
    rows = queries.feed_health(holed, now=just_after).set_index("dataset")
    assert rows.loc["regional temperatures", "days_missing"] == 1
    assert rows.loc["regional temperatures", "missing_days"] == gap.isoformat()
    days = queries.feed_days(holed)
    temps = days[days["dataset"] == "regional temperatures"]["day"].dt.date
    assert gap not in set(temps) and gap - timedelta(days=1) in set(temps)


def test_model_history_names_the_registry_champion(
    reader: queries.MartReader, production: Production
) -> None:
    champion = json.loads((production.root / "lake/models/consumption/champion.json").read_text())
    history = queries.model_history(reader)
    assert history["model_version"].iloc[-1] == champion["version"]
    assert history["issues"].sum() == 1 + len(PAST_ISSUES)


def _lake_runs(production: Production) -> pd.DataFrame:
    """Every run summary the fixture's flows wrote to the lake, read back from the objects."""
    objects = sorted((production.root / "lake/raw/pipeline/runs").rglob("*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in objects], ignore_index=True)


def test_last_runs_are_the_latest_summary_of_each_step(
    reader: queries.MartReader, production: Production
) -> None:
    last = queries.last_runs(reader)
    # The daily run did the six steps, in pipeline order, and its summary reached the mart.
    assert last["step_name"].tolist() == [
        "odre",
        "weather",
        "audit",
        "load",
        "transform",
        "forecast",
    ]
    assert set(last["flow_name"]) == {"daily-pipeline"} and last["run_id"].nunique() == 1
    lake = _lake_runs(production)
    daily = lake[lake["run_id"] == last["run_id"].iloc[0]].set_index("step")
    assert last.set_index("step_name")["status"].to_dict() == daily["status"].to_dict()
    assert (last.set_index("step_name")["row_count"] == daily["row_count"]).all()
    # The first run's dbt build comes before its forecast: the forecast sources are empty then,
    # which is said but is no warning (nothing is late), so the transform is ok.
    assert daily.loc["transform", "status"] == "ok"
    assert "not loaded yet (forecast.consumption_daily" in daily.loc["transform", "message"]
    expected = mart(
        production, "select step_name, status from production.pipeline_runs where is_latest"
    )
    assert dict(expected.values.tolist()) == last.set_index("step_name")["status"].to_dict()


def test_step_runs_keep_the_flows_run_on_their_own(
    reader: queries.MartReader, production: Production
) -> None:
    runs = queries.step_runs(reader)
    weather = runs[runs["step_name"] == "weather"]
    # The fixture ingested three mornings' weather on their own before the daily run.
    assert weather["runs_ago"].tolist() == [1, 2, 3, 4]
    assert weather["flow_name"].tolist() == ["daily-pipeline"] + ["ingest-weather"] * 3
    assert weather["as_of"].map(pd.Timestamp).dt.date.tolist() == [AS_OF, *reversed(PAST_ISSUES)]
    assert queries.step_runs(reader, per_step=1).equals(queries.last_runs(reader))


def test_promotions_name_the_registry_champion(
    reader: queries.MartReader, production: Production
) -> None:
    champion = json.loads((production.root / "lake/models/consumption/champion.json").read_text())
    decisions = queries.promotions(reader)
    assert decisions["model_version"].tolist() == [champion["version"]]
    first = decisions.iloc[0]
    assert first["decision"] == "promote" and bool(first["is_champion"])
    assert pd.isna(first["champion_before"]) and first["challenger_mape_pct"] > 0


def test_no_runs_or_promotions_yet_say_what_to_run(production: Production, tmp_path: Path) -> None:
    copy = production.copy_to(tmp_path)
    with duckdb.connect(str(copy)) as con:
        con.execute("delete from production.pipeline_runs")
        con.execute("delete from production.model_promotions")
    reader = queries.MartReader(Settings(_env_file=None, duckdb_path=copy))
    with pytest.raises(queries.MartMissing, match="No pipeline run is recorded") as err:
        queries.last_runs(reader)
    assert "make run" in err.value.hint
    with pytest.raises(queries.MartMissing, match="No promotion decision") as err:
        queries.promotions(reader)
    assert "make run" in err.value.hint


# --- faults --------------------------------------------------------------------------------


def test_no_warehouse_says_what_to_run(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, duckdb_path=tmp_path / "nothing.duckdb")
    with pytest.raises(queries.WarehouseMissing) as err:
        queries.daily_span(queries.MartReader(settings))
    assert str(tmp_path / "nothing.duckdb") in err.value.message
    assert "make run" in err.value.hint
    assert not (tmp_path / "nothing.duckdb").exists()  # a reader creates nothing


def test_empty_warehouse_names_the_missing_table(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    reader = queries.MartReader(Settings(_env_file=None, duckdb_path=path))
    with pytest.raises(queries.MartMissing, match="production.daily_merged does not exist"):
        queries.daily_span(reader)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema production")
        con.execute("create table production.forecast_skill_daily as select * from range(0)")
    with pytest.raises(queries.MartColumnsMissing, match="date_local, horizon_days"):
        queries.skill_span(reader)


def test_a_missing_column_is_named(production: Production, tmp_path: Path) -> None:
    copy = production.copy_to(tmp_path)
    with duckdb.connect(str(copy)) as con:
        con.execute("alter table production.daily_merged drop column consumption_gwh")
    reader = queries.MartReader(Settings(_env_file=None, duckdb_path=copy))
    with pytest.raises(queries.MartColumnsMissing) as err:
        queries.energy_daily(reader, AS_OF, AS_OF)
    assert "production.daily_merged lacks the column consumption_gwh" in err.value.message


def test_forecaster_columns_are_shown_when_present(production: Production, tmp_path: Path) -> None:
    copy = production.copy_to(tmp_path)
    add_forecaster_columns(copy)
    reader = queries.MartReader(Settings(_env_file=None, duckdb_path=copy))
    hours = queries.forecast_hourly(reader, AS_OF)
    assert set(hours[hours["horizon_days"] == 1]["forecaster"]) == {"model"}
    assert set(hours[hours["horizon_days"] == 2]["forecaster_reason"]) == {"weather run stale"}


HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("select 1")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def hold_write_lock(path: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the file read-write, as the pipeline's writer does."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLD_LOCK), str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    return process


def test_a_locked_warehouse_is_retried_then_reported(
    production: Production, tmp_path: Path
) -> None:
    copy = production.copy_to(tmp_path)
    settings = Settings(_env_file=None, duckdb_path=copy)
    holder = hold_write_lock(copy, 30)
    try:
        with pytest.raises(queries.WarehouseBusy) as err:
            queries.daily_span(queries.MartReader(settings, attempts=3, wait_seconds=0.1))
        assert "the pipeline is writing" in err.value.message and str(copy) in err.value.message
    finally:
        holder.kill()
        holder.wait()
    # A writer that lets go within the retries is waited for.
    holder = hold_write_lock(copy, 1.0)
    try:
        first, last = queries.daily_span(
            queries.MartReader(settings, attempts=20, wait_seconds=0.2)
        )
        assert last >= AS_OF
    finally:
        holder.wait()


def test_unreachable_bigquery_fails_fast_naming_the_endpoint() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    settings = Settings(
        _env_file=None,
        profile="gcp",
        gcp_project="aggregat-test",
        bigquery_api_endpoint=endpoint,
        gcp_timeout_seconds=2,
    )
    started = time.monotonic()
    with pytest.raises(queries.WarehouseUnreachable) as err:
        queries.daily_span(queries.MartReader(settings))
    assert endpoint in err.value.message
    assert time.monotonic() - started < 5
