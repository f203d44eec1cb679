"""The daily weather flow end to end on a Prefect server: fetch, gaps, curate, load, backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows.lake import LocalLake, run_label
from flows.meteofrance.backfill import backfill_weather_flow
from flows.meteofrance.flow import ingest_weather
from flows.meteofrance.tables import lake_sources
from flows.settings import Settings, get_settings
from flows.staging import load_changed
from flows.status import WeatherRunStatus
from flows.warehouse import DuckDBWarehouse
from tests.fakes.meteofrance_store import object_path, publish_run, running_store, store_env
from tests.test_pipeline import api_state

PRODUCTS = ["arpege/01/SP1/00", "arpege/01/SP2/00", "arome/0025/SP1/00"]


@pytest.mark.slow
def test_daily_flow_reports_a_gap_then_completes_it_without_refetching(
    prefect_server: None, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_of = datetime.now(UTC).date() - timedelta(days=1)  # published, and within retention
    run = run_label(datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC))
    with running_store() as store:
        for name, value in store_env(store.base_url, lookback_days=1).items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        publish_run(store, PRODUCTS, run, horizon=12)
        missing = object_path("arome/0025/SP1/00", run, "07H12H")
        store.remove(missing)

        state = ingest_weather(as_of=as_of, return_state=True)
        first = state.result()
        assert [(r.run, r.status) for r in first.runs] == [
            (f"arpege/01 {run}", WeatherRunStatus.CURATED),
            (f"arome/0025 {run}", WeatherRunStatus.INCOMPLETE),
        ]
        assert first.gaps[0] == "arome/0025/SP1/00 07H12H: not_published"
        # The day before is not at the source: the look-back reports it, nothing crashes.
        assert {b.status for b in first.lookback} == {"missing"}
        lake = LocalLake(get_settings().lake_url)
        assert not lake.list("curated/weather/arome/")
        # Partial data: the run is not plainly Completed on the server, its gaps are said.
        held = api_state(state)
        assert (held.type.value, held.name) == ("COMPLETED", "Warning")
        assert "arome/0025/SP1/00 07H12H: not_published" in held.message

        publish_run(store, ["arome/0025/SP1/00"], run, horizon=12)
        gets = store.count("GET", f"{run[:10]}T00:00:00Z/")
        second = ingest_weather(as_of=as_of)
        assert [r.status for r in second.runs] == [
            WeatherRunStatus.UP_TO_DATE,
            WeatherRunStatus.CURATED,
        ]
        assert store.count("GET", f"{run[:10]}T00:00:00Z/") == gets + 1
        assert "arome/0025" in second.describe()

    wh = DuckDBWarehouse(get_settings().duckdb_path)
    for source in lake_sources():
        load_changed(lake, wh, "staging", source)
    counts = wh.query(
        "select model, count(*) as n, count(distinct valid_time) as hours"
        " from staging.meteofrance__features_hourly group by model order by model"
    )
    assert counts.to_dict("records") == [
        {"model": "arome", "n": 13 * 14, "hours": 13},
        {"model": "arpege", "n": 13 * 14, "hours": 13},
    ]

    # The same day rebuilt offline from the lake alone, through the backfill flow.
    for key in lake.list("curated/"):
        lake.delete(key)
    rows = backfill_weather_flow(as_of, as_of, offline=True)
    assert [(r.product, r.status) for r in rows] == [
        ("arpege/01/SP1/00", "rebuilt"),
        ("arpege/01/SP2/00", "archived"),
        ("arome/0025/SP1/00", "rebuilt"),
    ]


@pytest.mark.slow
def test_a_day_whose_every_file_failed_fails_the_flow_run(
    prefect_server: None, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_of = datetime.now(UTC).date() - timedelta(days=1)
    run = run_label(datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC))
    with running_store() as store:
        for name, value in store_env(store.base_url, lookback_days=0, max_attempts=1).items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        publish_run(store, PRODUCTS, run, horizon=12)
        for path in list(store.objects):
            store.fail(path, 503)  # the store is up, but every answer is an error
        state = ingest_weather(as_of=as_of, return_state=True)
    held = api_state(state)
    assert held.is_failed()
    assert "WeatherUnavailable" in held.message and "weather files failed" in held.message
    assert "HTTP 503" in held.message
    assert not LocalLake(get_settings().lake_url).list("curated/")
