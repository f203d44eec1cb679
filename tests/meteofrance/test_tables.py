"""Curated weather objects load into their staging tables idempotently, per run day."""

from __future__ import annotations

from datetime import date

import pytest

from flows.lake import LocalLake, run_label
from flows.meteofrance.backfill import curate_run
from flows.meteofrance.catalogue import (
    GroupFile,
    lake_key,
    model_runs,
    products_from_settings,
)
from flows.meteofrance.tables import FEATURES_HOURLY, TEMPERATURE_DAILY_SPEC, lake_sources
from flows.settings import Settings, get_settings
from flows.staging import load_changed
from flows.warehouse import DuckDBWarehouse
from tests.fakes.meteofrance_store import group_bytes, store_env

DAY = date(2026, 11, 20)


@pytest.fixture
def mf(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    env = store_env("http://127.0.0.1:9/pnt", horizon_hours=48, products=["arpege/01/SP1/00"])
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


def _archive_run(s: Settings, lake: LocalLake) -> None:
    (run,) = model_runs(products_from_settings(s), DAY)
    for group in run.model_grid.groups[:4]:
        f = GroupFile(run.products[0], run.run_time, group)
        lake.write_bytes(
            lake_key(f), group_bytes(f.product.name, run_label(run.run_time), group, (75, 53))
        )
    curate_run(s, lake, run)


def test_curated_run_loads_both_tables_once(mf: Settings) -> None:
    lake = LocalLake(mf.lake_url)
    _archive_run(mf, lake)
    wh = DuckDBWarehouse(mf.duckdb_path)
    sources = {s.spec.name: s for s in lake_sources()}
    assert set(sources) == {FEATURES_HOURLY.name, TEMPERATURE_DAILY_SPEC.name}
    loaded = {name: load_changed(lake, wh, "staging", src) for name, src in sources.items()}
    assert loaded[FEATURES_HOURLY.name].days == [DAY]
    hourly = wh.query("select * from staging.meteofrance__features_hourly")
    assert len(hourly) == 49 * 14  # steps 0..48, 13 regions and France
    assert set(hourly["day"].astype(str)) == {"2026-11-20"}
    assert hourly.groupby(["run_time", "valid_time", "code_insee_region"]).size().max() == 1
    daily = wh.query("select * from staging.meteofrance__temperature_daily")
    assert len(daily) == 14 and set(daily["date"].astype(str)) == {"2026-11-21"}
    assert (daily["tmin"] <= daily["tmax"]).all()
    again = [load_changed(lake, wh, "staging", src) for src in sources.values()]
    assert [r.rows for r in again] == [0, 0]
    assert len(wh.query("select * from staging.meteofrance__features_hourly")) == len(hourly)
