"""Backfill: archived, rebuilt from the lake with no network, downloaded, or missing."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from flows.lake import LocalLake, parse_run_label
from flows.meteofrance.archive import curated_keys
from flows.meteofrance.backfill import backfill_weather
from flows.meteofrance.catalogue import MODEL_GRIDS, GroupFile, Product, lake_key
from flows.settings import Settings, get_settings
from tests.fakes.meteofrance_store import (
    FakeMeteoFranceStore,
    object_path,
    publish_run,
    running_store,
    store_env,
)

RUN = "2026-11-20T00Z"
DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 22, 6, tzinfo=UTC)
PRODUCTS = ["arpege/01/SP1/00", "arpege/01/SP2/00"]
ARPEGE = MODEL_GRIDS["arpege/01"]


@pytest.fixture
def store() -> Iterator[FakeMeteoFranceStore]:
    with running_store() as s:
        yield s


def _configure(monkeypatch: pytest.MonkeyPatch, base_url: str, **extra: object) -> Settings:
    env = store_env(base_url, products=PRODUCTS, **{"horizon_hours": 12, **extra})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def mf(settings: Settings, store: FakeMeteoFranceStore, monkeypatch) -> Settings:
    return _configure(monkeypatch, store.base_url)


def _statuses(rows) -> list[tuple[str, str]]:
    return [(r.product, r.status) for r in rows]


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/pnt"


def test_day_only_at_the_source_is_downloaded_then_archived(
    mf: Settings, store: FakeMeteoFranceStore
) -> None:
    publish_run(store, PRODUCTS, RUN, horizon=12)
    rows = backfill_weather(DAY, DAY, now=NOW)
    assert _statuses(rows) == [(PRODUCTS[0], "downloaded"), (PRODUCTS[1], "downloaded")]
    served = store.count()
    rows = backfill_weather(DAY, DAY, now=NOW)
    assert _statuses(rows) == [(PRODUCTS[0], "archived"), (PRODUCTS[1], "archived")]
    assert store.count() == served  # a curated day costs no request at all


def test_day_whose_raw_files_are_only_in_the_lake_is_rebuilt_with_no_network(
    mf: Settings, store: FakeMeteoFranceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_run(store, PRODUCTS, RUN, horizon=12)
    backfill_weather(DAY, DAY, now=NOW)
    lake = LocalLake(mf.lake_url)
    for key in curated_keys(ARPEGE, parse_run_label(RUN)):
        lake.delete(key)
    _configure(monkeypatch, _closed_port_url())
    store.requests.clear()
    rows = backfill_weather(DAY, DAY, now=NOW)
    assert _statuses(rows) == [(PRODUCTS[0], "rebuilt"), (PRODUCTS[1], "archived")]
    assert "from the lake's archive" in rows[0].detail
    assert store.count() == 0
    assert all(lake.exists(k) for k in curated_keys(ARPEGE, parse_run_label(RUN)))


def test_rebuild_offline_works_the_same(mf: Settings, store: FakeMeteoFranceStore) -> None:
    publish_run(store, PRODUCTS, RUN, horizon=12)
    backfill_weather(DAY, DAY, now=NOW)
    lake = LocalLake(mf.lake_url)
    lake.delete(curated_keys(ARPEGE, parse_run_label(RUN))[0])
    store.requests.clear()
    rows = backfill_weather(DAY, DAY, offline=True, now=NOW)
    assert _statuses(rows) == [(PRODUCTS[0], "rebuilt"), (PRODUCTS[1], "archived")]
    assert store.count() == 0


def test_day_in_neither_is_missing_and_old_days_are_not_asked_for(
    mf: Settings, store: FakeMeteoFranceStore
) -> None:
    offline = backfill_weather(DAY, DAY, offline=True, now=NOW)
    assert {r.status for r in offline} == {"missing"}
    assert "not in the lake (offline)" in offline[0].detail
    old = backfill_weather(date(2026, 10, 1), date(2026, 10, 1), now=NOW)
    assert {r.status for r in old} == {"missing"}
    assert "15-day retention" in old[0].detail
    assert store.count() == 0
    gone = backfill_weather(DAY, DAY, now=NOW)  # within retention, but the store lost it
    assert {r.status for r in gone} == {"missing"} and "groups not published (404)" in gone[
        0
    ].detail


def test_one_package_missing_blocks_only_the_features_it_feeds(
    mf: Settings, store: FakeMeteoFranceStore
) -> None:
    publish_run(store, PRODUCTS, RUN, horizon=12)
    store.remove(object_path(PRODUCTS[0], RUN, "000H012H"))
    rows = backfill_weather(DAY, DAY, now=NOW)
    assert _statuses(rows) == [(PRODUCTS[0], "missing"), (PRODUCTS[1], "downloaded")]
    assert not LocalLake(mf.lake_url).list("curated/")


def test_a_killed_run_is_completed_by_the_next_with_nothing_duplicated(
    settings: Settings, store: FakeMeteoFranceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _configure(monkeypatch, store.base_url, horizon_hours=24, max_attempts=2)
    publish_run(store, PRODUCTS, RUN, horizon=24)
    sp1 = Product.parse(PRODUCTS[0])
    second = GroupFile(sp1, parse_run_label(RUN), "013H024H")
    store.fail(second.object_path, 500, 500)  # the first run dies on this file
    first = backfill_weather(DAY, DAY, now=NOW)
    assert first[0].status == "missing" and "failed: 013H024H" in first[0].detail
    lake = LocalLake(s.lake_url)
    # What a kill leaves behind: a half-written temporary file and one of two curated objects.
    folder = lake.root / lake_key(second).rsplit("/", 1)[0]
    (folder / ".partial.grib2.123.tmp").write_bytes(b"GRIB")
    features_key, daily_key = curated_keys(ARPEGE, parse_run_label(RUN))
    lake.write_bytes(daily_key, b"stale")
    gets = store.count("GET")
    rows = backfill_weather(DAY, DAY, now=NOW)
    assert _statuses(rows) == [(PRODUCTS[0], "downloaded"), (PRODUCTS[1], "archived")]
    assert store.count("GET") == gets + 1  # only the missing file
    raw = lake.list(f"raw/meteofrance/arpege/01/SP1/run={RUN}/")
    assert [k.rsplit("__", 2)[1] for k in raw] == ["000H012H", "013H024H"]
    features = lake.read_parquet(features_key).to_pandas()
    assert features.groupby(["valid_time", "code_insee_region"]).size().max() == 1
    assert len(features) == 25 * 14
    assert lake.read_parquet(daily_key).num_rows >= 0  # rewritten: readable Parquet again


def test_the_look_back_shows_its_progress_when_asked(
    mf: Settings, store: FakeMeteoFranceStore, monkeypatch, capsys
) -> None:
    publish_run(store, PRODUCTS, RUN, horizon=12)
    monkeypatch.setenv("AGGREGAT_PROGRESS", "true")
    get_settings.cache_clear()
    backfill_weather(DAY, DAY, now=NOW)
    bar = capsys.readouterr().err.split("\r")[-1]
    assert bar.startswith(f"weather {DAY}..{DAY}: 100%")
    assert re.search(r"\| 1/1 \[\d\d:\d\d<\d\d:\d\d", bar)  # elapsed < time left (the ETA)
