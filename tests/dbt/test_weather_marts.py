"""The weather marts, built by the real dbt on DuckDB from runs decoded by the weather flow.

Two ARPEGE runs a day apart are generated, decoded, curated and loaded like the pipeline does,
with observed temperatures for the days they forecast; the marts are checked against the
staging rows. A first build before any weather load shows the weather models build empty.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from flows.lake import LocalLake
from flows.meteofrance.backfill import curate_run
from flows.meteofrance.catalogue import GroupFile, lake_key, model_runs, products_from_settings
from flows.meteofrance.tables import lake_sources
from flows.odre.schemas import DATASETS, TEMPERATURE
from flows.regions import REGIONS
from flows.settings import Settings
from flows.staging import load_changed
from flows.transform import run_dbt_build
from flows.warehouse import DuckDBWarehouse
from tests.fakes.meteofrance_store import DEMO_SHAPES, group_bytes

DAYS = [date(2026, 1, 14), date(2026, 1, 15)]
SELECT = "+path:models/marts/weather"


def _settings(tmp: Path) -> Settings:
    return Settings(
        _env_file=None,
        profile="local",
        dbt_target=None,
        lake_url=str(tmp / "lake"),
        duckdb_path=tmp / "warehouse.duckdb",
        dbt_artifacts_dir=tmp / "dbt",
        meteofrance_products=["arpege/01/SP1/00"],
        meteofrance_horizon_hours=48,
        meteofrance_decode_workers=1,
        meteofrance_grid_shapes={"arpege/01": "{}x{}".format(*DEMO_SHAPES["arpege/01"])},
    )


def _curate(settings: Settings, lake: LocalLake, day: date) -> None:
    (run,) = model_runs(products_from_settings(settings), day)
    label = run.run_time.strftime("%Y-%m-%dT%HZ")
    for group in run.model_grid.groups[:4]:
        f = GroupFile(run.products[0], run.run_time, group)
        data = group_bytes(f.product.name, label, group, DEMO_SHAPES["arpege/01"])
        lake.write_bytes(lake_key(f), data)
    curate_run(settings, lake, run)


def _observed(days: list[date]) -> pd.DataFrame:
    rows = [
        {
            "day": d,
            "date": d,
            "code_insee_region": r.code,
            "region": r.name,
            "id": f"{d}-{r.code}",
            "tmin": 2.0,
            "tmax": 9.0,
            "tmoy": 5.5,
            "ingested_at": pd.Timestamp("2026-02-01"),
        }
        for d in days
        for r in REGIONS
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    tmp = tmp_path_factory.mktemp("weather-marts")
    settings = _settings(tmp)
    wh = DuckDBWarehouse(settings.duckdb_path)
    for dataset in DATASETS.values():
        wh.ensure_table("staging", dataset.table)
    observed_days = [date(2026, 1, 15), date(2026, 1, 16)]
    wh.replace_partitions("staging", TEMPERATURE.table, _observed(observed_days), observed_days)

    run_dbt_build(settings, select=SELECT)  # before any weather load: builds, empty
    tables = {"empty_latest": wh.query("select * from production.weather_forecast_latest")}

    lake = LocalLake(settings.lake_url)
    for day in DAYS:
        _curate(settings, lake, day)
    for source in lake_sources():
        load_changed(lake, wh, "staging", source)
    run_dbt_build(settings, select=SELECT)
    for name in (
        "weather_forecast_latest",
        "weather_forecast_current_run",
        "weather_forecast_recent",
        "weather_forecast_history",
        "weather_temperature_error_daily",
    ):
        tables[name] = wh.query(f"select * from production.{name}")
    tables["staging"] = wh.query("select * from staging.meteofrance__features_hourly")
    return tables


def test_weather_models_build_empty_before_any_weather_load(built) -> None:
    assert built["empty_latest"].empty


def test_latest_takes_each_hour_from_the_newest_run_covering_it(built) -> None:
    latest, staging = built["weather_forecast_latest"], built["staging"]
    assert len(latest) == staging.groupby(["valid_time", "code_insee_region"]).ngroups
    newest = datetime(2026, 1, 15)
    overlap = latest[latest["valid_at"] >= newest]
    assert (overlap["run_at"] == newest).all()
    assert (latest.loc[latest["valid_at"] < newest, "run_at"] == datetime(2026, 1, 14)).all()
    assert set(latest["region_code"]) == {0, *(r.code for r in REGIONS)}


def test_current_recent_and_history_split_the_runs(built) -> None:
    assert set(built["weather_forecast_current_run"]["run_at"]) == {datetime(2026, 1, 15)}
    runs = {datetime(2026, 1, 14), datetime(2026, 1, 15)}
    assert set(built["weather_forecast_recent"]["run_at"]) == runs
    history = built["weather_forecast_history"]
    assert set(history["run_at"]) == runs and len(history) == len(built["staging"])


def test_temperature_error_is_forecast_minus_observed_per_region_and_france(built) -> None:
    errors = built["weather_temperature_error_daily"]
    assert set(errors["date"].astype(str)) == {"2026-01-15", "2026-01-16"}
    assert set(errors["region_code"]) == {0, *(r.code for r in REGIONS)}
    national = errors[errors["region_code"] == 0]
    assert (national["observed_tmean_c"].round(9) == 5.5).all()
    diff = errors["forecast_tmax_c"] - errors["observed_tmax_c"]
    assert (errors["error_tmax_c"] - diff).abs().max() < 1e-9
    first_run = errors[errors["run_at"] == datetime(2026, 1, 14)]
    assert set(zip(first_run["date"].astype(str), first_run["lead_days"], strict=True)) == {
        ("2026-01-15", 1)
    }
