"""Downloads against a fake object store: validation before archiving, retries, 404s, latency."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from flows.errors import SourceUnreachable
from flows.lake import LocalLake, parse_run_label
from flows.meteofrance.catalogue import GroupFile, Product, lake_key
from flows.meteofrance.download import fetch_product_run
from flows.settings import Settings, get_settings
from flows.status import FileStatus, RunStatus
from tests.fakes.meteofrance_store import (
    FakeMeteoFranceStore,
    group_bytes,
    object_path,
    publish_run,
    running_store,
    store_env,
)
from tests.gcp.emulators import free_port

RUN = "2026-11-20T00Z"
DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)  # after the 3 h delay, before the 12 h "late" mark
ARPEGE = "arpege/01/SP1/00"
AROME = "arome/0025/SP1/00"


@pytest.fixture
def store() -> Iterator[FakeMeteoFranceStore]:
    with running_store() as s:
        yield s


@pytest.fixture
def mf(
    settings: Settings, store: FakeMeteoFranceStore, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    for name, value in store_env(store.base_url, horizon_hours=24).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


def _lake(s: Settings) -> LocalLake:
    return LocalLake(s.lake_url)


def _key(product: str, group: str) -> str:
    return lake_key(GroupFile(Product.parse(product), parse_run_label(RUN), group))


def _fetch(s: Settings, product: str, now: datetime = NOW):
    return fetch_product_run(s, _lake(s), Product.parse(product), DAY, now)


def test_complete_run_is_archived_once_and_checked_by_etag_after(
    mf: Settings, store: FakeMeteoFranceStore
) -> None:
    publish_run(store, [ARPEGE], RUN, horizon=24)
    first = _fetch(mf, ARPEGE)
    assert first.status == RunStatus.COMPLETE
    assert [f.status for f in first.files] == [FileStatus.DOWNLOADED] * 2
    for f in first.files:
        served = store.objects[f.file.object_path]
        assert _lake(mf).md5(f.key) == hashlib.md5(served).hexdigest()
    gets = store.count("GET")
    again = _fetch(mf, ARPEGE)
    assert [f.status for f in again.files] == [FileStatus.PRESENT] * 2
    assert store.count("GET") == gets  # only two HEADs: nothing fetched twice
    assert store.count("HEAD") == 2


def test_a_changed_source_file_is_fetched_again(mf: Settings, store: FakeMeteoFranceStore) -> None:
    publish_run(store, [ARPEGE], RUN, horizon=24)
    _fetch(mf, ARPEGE)
    path = object_path(ARPEGE, RUN, "013H024H")
    store.put(path, group_bytes(ARPEGE, RUN, "013H024H", (75, 53), packing="grid_ccsds"))
    again = _fetch(mf, ARPEGE)
    assert [f.status for f in again.files] == [FileStatus.PRESENT, FileStatus.DOWNLOADED]
    new_md5 = hashlib.md5(store.objects[path]).hexdigest()
    assert _lake(mf).md5(_key(ARPEGE, "013H024H")) == new_md5


def test_5xx_answers_are_retried_until_the_file_comes(
    mf: Settings, store: FakeMeteoFranceStore
) -> None:
    publish_run(store, [ARPEGE], RUN, horizon=24)
    path = object_path(ARPEGE, RUN, "000H012H")
    store.fail(path, 500, 503)
    run = _fetch(mf, ARPEGE)
    assert run.status == RunStatus.COMPLETE
    assert store.count("GET", path) == 3


def test_connection_cut_mid_body_is_retried_never_archived_and_fetched_next_run(
    mf: Settings, store: FakeMeteoFranceStore
) -> None:
    publish_run(store, [ARPEGE], RUN, horizon=24)
    path = object_path(ARPEGE, RUN, "000H012H")
    store.cut(path, 5000)
    run = _fetch(mf, ARPEGE)
    assert run.status == RunStatus.INCOMPLETE
    bad = run.gaps[0]
    assert bad.file.group == "000H012H" and bad.status == FileStatus.FAILED
    assert store.count("GET", path) == mf.meteofrance_max_attempts
    assert not _lake(mf).exists(_key(ARPEGE, "000H012H"))
    assert _lake(mf).exists(_key(ARPEGE, "013H024H"))
    store.cut_after.clear()
    assert _fetch(mf, ARPEGE).status == RunStatus.COMPLETE


def test_file_cut_mid_message_is_rejected_not_archived_and_retried_next_run(
    mf: Settings, store: FakeMeteoFranceStore
) -> None:
    publish_run(store, [ARPEGE], RUN, horizon=24)
    path = object_path(ARPEGE, RUN, "013H024H")
    good = store.objects[path]
    store.put(path, good[: len(good) // 2 + 100])  # served whole, but the file is cut
    run = _fetch(mf, ARPEGE)
    bad = run.gaps[0]
    assert (run.status, bad.status) == (RunStatus.INCOMPLETE, FileStatus.INVALID)
    assert "arpege__01__SP1__013H024H" in bad.detail and "truncated" in bad.detail
    assert not _lake(mf).exists(_key(ARPEGE, "013H024H"))
    store.put(path, good)
    again = _fetch(mf, ARPEGE)
    assert [f.status for f in again.files] == [FileStatus.PRESENT, FileStatus.DOWNLOADED]


def test_shared_truncated_arpege_file_is_rejected(
    mf: Settings, store: FakeMeteoFranceStore, samples: Path
) -> None:
    publish_run(store, [ARPEGE], RUN, horizon=24)
    path = object_path(ARPEGE, RUN, "000H012H")
    store.put(path, (samples / "grib" / "arpege_05_hp1_truncated.grib2").read_bytes())
    run = _fetch(mf, ARPEGE)
    bad = run.gaps[0]
    assert bad.status == FileStatus.INVALID and "message 7" in bad.detail
    assert not _lake(mf).exists(_key(ARPEGE, "000H012H"))


def test_404_for_one_group_keeps_the_others_and_reports_the_gap(
    mf: Settings, store: FakeMeteoFranceStore
) -> None:
    publish_run(store, [AROME], RUN, horizon=24)
    store.remove(object_path(AROME, RUN, "07H12H"))
    run = _fetch(mf, AROME)
    assert run.status == RunStatus.INCOMPLETE
    assert [(f.file.group, f.status) for f in run.gaps] == [("07H12H", FileStatus.NOT_PUBLISHED)]
    assert run.downloaded == 3
    assert "1/4 groups not published (404): 07H12H" in run.describe()


def test_last_group_not_there_is_not_ready_then_a_gap_once_late(
    mf: Settings, store: FakeMeteoFranceStore
) -> None:
    publish_run(store, [AROME], RUN, horizon=24)
    store.remove(object_path(AROME, RUN, "19H24H"))
    assert _fetch(mf, AROME).status == RunStatus.NOT_READY
    late = datetime(2026, 11, 20, 13, tzinfo=UTC)
    assert _fetch(mf, AROME, now=late).status == RunStatus.INCOMPLETE


def test_run_before_its_publication_delay_is_not_asked_for(
    mf: Settings, store: FakeMeteoFranceStore
) -> None:
    run = _fetch(mf, ARPEGE, now=datetime(2026, 11, 20, 1, tzinfo=UTC))
    assert run.status == RunStatus.NOT_READY and "not asked before 2026-11-20 03:00Z" in run.detail
    assert store.count() == 0


def test_run_not_yet_published_is_not_ready(mf: Settings, store: FakeMeteoFranceStore) -> None:
    publish_run(store, [ARPEGE], RUN, horizon=24)
    store.hide("2026-11-20T00:00:00Z/")
    run = _fetch(mf, ARPEGE)
    assert run.status == RunStatus.NOT_READY
    assert {f.status for f in run.files} == {FileStatus.NOT_PUBLISHED}
    assert _lake(mf).list("raw/") == []


def test_file_on_the_wrong_grid_is_rejected_naming_file_and_grid(
    mf: Settings, store: FakeMeteoFranceStore
) -> None:
    publish_run(store, [ARPEGE], RUN, horizon=24)
    store.put(
        object_path(ARPEGE, RUN, "000H012H"), group_bytes(ARPEGE, RUN, "000H012H", shape=(38, 27))
    )
    bad = _fetch(mf, ARPEGE).gaps[0]
    assert bad.status == FileStatus.INVALID
    assert "arpege__01__SP1__000H012H" in bad.detail and "wrong grid" in bad.detail
    assert "38x27" in bad.detail and "75x53" in bad.detail


def test_unexpected_parameter_set_is_rejected(mf: Settings, store: FakeMeteoFranceStore) -> None:
    from tests.fakes.meteofrance_store import SP2_FIELDS

    publish_run(store, [ARPEGE], RUN, horizon=24)
    wrong = group_bytes(ARPEGE, RUN, "000H012H", (75, 53), fields=SP2_FIELDS)
    store.put(object_path(ARPEGE, RUN, "000H012H"), wrong)
    bad = _fetch(mf, ARPEGE).gaps[0]
    assert bad.status == FileStatus.INVALID and "missing parameters" in bad.detail
    assert not _lake(mf).exists(_key(ARPEGE, "000H012H"))


def test_a_product_lacking_a_parameter_is_named_in_the_run_summary(
    mf: Settings, store: FakeMeteoFranceStore
) -> None:
    from flows.meteofrance.flow import RunOutcome
    from flows.meteofrance.grib import U10
    from flows.status import WeatherRunStatus
    from tests.fakes.meteofrance_store import SP1_FIELDS

    publish_run(store, [ARPEGE], RUN, horizon=24)
    without_u10 = {k: v for k, v in SP1_FIELDS.items() if k != U10}
    store.put(
        object_path(ARPEGE, RUN, "013H024H"),
        group_bytes(ARPEGE, RUN, "013H024H", (75, 53), fields=without_u10),
    )
    product_run = _fetch(mf, ARPEGE)
    run = RunOutcome("arpege/01 x", WeatherRunStatus.INCOMPLETE, [product_run])
    (gap,) = run.gaps
    assert gap.startswith(f"{ARPEGE} 013H024H: invalid (arpege__01__SP1__013H024H__")
    assert ": missing parameters 10 m u-wind (u10) [0/2/2 heightAboveGround 10 instant]" in gap


def test_an_unreachable_store_stops_the_run_naming_host_and_setting(mf: Settings) -> None:
    down = f"127.0.0.1:{free_port()}"
    settings = mf.model_copy(
        update={"meteofrance_base_url": f"http://{down}/pnt", "meteofrance_max_attempts": 6}
    )
    with pytest.raises(SourceUnreachable) as err:
        _fetch(settings, ARPEGE)
    message = str(err.value)
    assert f"Météo-France at {down} is unreachable (connection refused)" in message
    assert "AGGREGAT_METEOFRANCE_BASE_URL" in message
    assert _lake(settings).list("") == []  # nothing landed from a run that reached nothing
