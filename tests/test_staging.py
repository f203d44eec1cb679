"""Loading lake partitions into staging: only what changed, whole days, repeatable."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows.errors import LakeError, LakeObjectError, StagingLoadFailed, WarehouseError
from flows.lake import LocalLake
from flows.staging import (
    LakeSource,
    chunks,
    fingerprint,
    lake_days,
    load_changed,
    load_each,
    raise_failures,
    retry_transient,
)
from flows.warehouse import DuckDBWarehouse, TableSpec

SPEC = TableSpec("obs", {"day": "date", "run": "string", "v": "float64"}, "day")
SOURCE = LakeSource(prefix="curated/obs/", partition_key="run", spec=SPEC)


def put(lake: LocalLake, run: str, values: list[float]) -> None:
    frame = pd.DataFrame({"day": run[:10], "run": run, "v": values})
    lake.write_parquet(f"curated/obs/run={run}/features.parquet", frame)


@pytest.fixture
def parts(tmp_path: Path) -> tuple[LocalLake, DuckDBWarehouse]:
    return LocalLake(tmp_path / "lake"), DuckDBWarehouse(tmp_path / "w.duckdb")


def table(wh: DuckDBWarehouse) -> pd.DataFrame:
    return wh.query("select run, v from staging.obs order by run, v")


def test_first_load_then_nothing_to_do(parts) -> None:
    lake, wh = parts
    put(lake, "2024-01-01T00Z", [1, 2])
    put(lake, "2024-01-02T00Z", [3])
    first = load_changed(lake, wh, "staging", SOURCE)
    assert first.days == [date(2024, 1, 1), date(2024, 1, 2)] and first.rows == 3
    again = load_changed(lake, wh, "staging", SOURCE)
    assert again.days == [] and again.rows == 0
    assert table(wh)["v"].tolist() == [1, 2, 3]


def test_a_rewritten_object_reloads_its_whole_day(parts) -> None:
    lake, wh = parts
    put(lake, "2024-01-01T00Z", [1])
    put(lake, "2024-01-01T12Z", [2])
    put(lake, "2024-01-02T00Z", [3])
    load_changed(lake, wh, "staging", SOURCE)
    put(lake, "2024-01-01T12Z", [20, 21])  # a later run of the same day changed
    result = load_changed(lake, wh, "staging", SOURCE)
    assert result.days == [date(2024, 1, 1)]
    assert table(wh)["v"].tolist() == [1, 20, 21, 3]


def test_since_limits_the_scan_and_force_reloads(parts) -> None:
    lake, wh = parts
    put(lake, "2024-01-01T00Z", [1])
    put(lake, "2024-01-05T00Z", [5])
    assert load_changed(lake, wh, "staging", SOURCE, since=date(2024, 1, 3)).days == [
        date(2024, 1, 5)
    ]
    forced = load_changed(lake, wh, "staging", SOURCE, force_days={date(2024, 1, 5)})
    assert forced.days == [date(2024, 1, 1), date(2024, 1, 5)]
    assert table(wh)["v"].tolist() == [1, 5]


def test_a_failed_load_is_picked_up_by_the_next(parts, monkeypatch) -> None:
    lake, wh = parts
    put(lake, "2024-01-01T00Z", [1])
    monkeypatch.setattr(wh, "record_loads", lambda *a: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        load_changed(lake, wh, "staging", SOURCE)
    monkeypatch.undo()
    assert load_changed(lake, wh, "staging", SOURCE).days == [date(2024, 1, 1)]
    assert table(wh)["v"].tolist() == [1]


def test_fingerprint_depends_on_keys_and_versions() -> None:
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "2"})
    assert fingerprint({"a": "1"}) != fingerprint({"b": "1"})


def test_objects_outside_partitions_are_ignored(parts) -> None:
    lake, _ = parts
    lake.write_bytes("curated/obs/README.txt", b"x")
    put(lake, "2024-01-01T00Z", [1])
    assert list(lake_days(lake, SOURCE)) == [date(2024, 1, 1)]


def test_file_name_separates_sources_sharing_a_folder(parts) -> None:
    lake, wh = parts
    put(lake, "2024-01-01T00Z", [1])
    other = pd.DataFrame({"day": ["2024-01-01"], "run": ["x"], "v": [99.0]})
    lake.write_parquet("curated/obs/run=2024-01-01T00Z/other.parquet", other)
    only = LakeSource("curated/obs/", "run", SPEC, file_name="features.parquet")
    assert load_changed(lake, wh, "staging", only).rows == 1
    lake.write_parquet("curated/obs/run=2024-01-01T00Z/other.parquet", other)
    assert load_changed(lake, wh, "staging", only).days == []  # the other file is not ours
    assert table(wh)["v"].tolist() == [1]


def test_chunks_are_consecutive_runs_of_sorted_days() -> None:
    days = [date(2024, 1, d) for d in (5, 1, 3, 2, 4)]
    assert chunks(days, 2) == [
        [date(2024, 1, 1), date(2024, 1, 2)],
        [date(2024, 1, 3), date(2024, 1, 4)],
        [date(2024, 1, 5)],
    ]
    assert chunks(days, None) == [sorted(days)] and chunks([], 3) == []


def test_a_capped_warehouse_loads_in_chunks_and_records_only_committed_ones(
    parts, monkeypatch
) -> None:
    lake, wh = parts
    monkeypatch.setattr(wh, "max_partitions_per_job", 2, raising=False)
    for day in range(1, 6):
        put(lake, f"2024-01-0{day}T00Z", [float(day)])
    real = wh.replace_partitions
    swapped: list[list[date]] = []

    def second_chunk_dies(dataset, spec, frame, days):
        swapped.append(sorted(days))
        if len(swapped) == 2:
            raise OSError("killed during the second chunk")
        return real(dataset, spec, frame, days)

    monkeypatch.setattr(wh, "replace_partitions", second_chunk_dies)
    with pytest.raises(OSError):
        load_changed(lake, wh, "staging", SOURCE)
    assert sorted(wh.loaded_fingerprints("staging", "obs")) == swapped[0]
    monkeypatch.setattr(wh, "replace_partitions", real)
    healed = load_changed(lake, wh, "staging", SOURCE)
    assert healed.days == [date(2024, 1, d) for d in (3, 4, 5)]
    assert table(wh)["v"].tolist() == [1, 2, 3, 4, 5]


def truncate(lake: LocalLake, key: str) -> None:
    path = lake.local_path(key)
    path.write_bytes(path.read_bytes()[:100])


def test_a_truncated_object_is_named_and_only_its_day_is_left_out(parts) -> None:
    lake, wh = parts
    for day in (1, 2, 3):
        put(lake, f"2024-01-0{day}T00Z", [float(day)])
    bad = "curated/obs/run=2024-01-02T00Z/features.parquet"
    truncate(lake, bad)
    result = load_changed(lake, wh, "staging", SOURCE)
    assert result.days == [date(2024, 1, 1), date(2024, 1, 3)]
    assert table(wh)["v"].tolist() == [1, 3]
    message = result.failed_days[date(2024, 1, 2)]
    assert message.startswith(
        f"lake object {bad} (staging table obs, day 2024-01-02) cannot be loaded: ArrowInvalid"
    )
    assert "python -m flows backfill --start 2024-01-02 --end 2024-01-02" in message
    # Not recorded as loaded: the next load tries the day again, and takes it once it is fixed.
    assert load_changed(lake, wh, "staging", SOURCE).failed_days.keys() == {date(2024, 1, 2)}
    put(lake, "2024-01-02T00Z", [2])
    assert load_changed(lake, wh, "staging", SOURCE).days == [date(2024, 1, 2)]
    assert table(wh)["v"].tolist() == [1, 2, 3]


def test_an_object_without_the_tables_columns_is_named(parts) -> None:
    lake, wh = parts
    put(lake, "2024-01-01T00Z", [1])
    key = "curated/obs/run=2024-01-02T00Z/features.parquet"
    lake.write_parquet(key, pd.DataFrame({"day": ["2024-01-02"], "run": ["x"]}))
    result = load_changed(lake, wh, "staging", SOURCE)
    assert result.days == [date(2024, 1, 1)]
    assert f"lake object {key} (staging table obs, day 2024-01-02)" in result.failures()[0]
    assert "frame lacks columns ['v']" in result.failures()[0]


def test_load_each_reports_a_failing_source_and_loads_the_ones_after_it(parts) -> None:
    lake, wh = parts
    put(lake, "2024-01-01T00Z", [1])
    broken = LakeSource("curated/broken/", "date", TableSpec("broken", SPEC.columns, "day"))

    def load(source: LakeSource):
        if source is broken:
            raise OSError("disk gone")
        return load_changed(lake, wh, "staging", source)

    results = load_each([broken, SOURCE], load)
    assert [(r.table, r.rows) for r in results] == [("broken", 0), ("obs", 1)]
    with pytest.raises(
        StagingLoadFailed, match=r"1 not loaded \(the rest was\):\nbroken: OSError: disk gone$"
    ):
        raise_failures(results)
    raise_failures(results[1:])  # nothing failed: no error


def test_deterministic_load_errors_are_not_retried() -> None:
    from prefect.states import Failed

    def retried(exc: BaseException) -> bool:
        return retry_transient(None, None, Failed(data=exc))

    assert not retried(LakeObjectError("lake object x cannot be loaded"))
    assert not retried(WarehouseError("table t: frame lacks columns ['v']"))
    assert retried(OSError("connection reset")) and retried(LakeError("not found"))


def test_a_day_gone_from_the_lake_leaves_staging_in_the_same_swap_as_the_others(
    parts, monkeypatch
) -> None:
    lake, wh = parts
    put(lake, "2024-01-01T00Z", [1])
    put(lake, "2024-01-02T00Z", [2])
    load_changed(lake, wh, "staging", SOURCE)
    lake.delete("curated/obs/run=2024-01-01T00Z/features.parquet")
    put(lake, "2024-01-02T00Z", [20])
    swaps: list[list[date]] = []
    swap = wh._swap_partitions
    monkeypatch.setattr(wh, "_swap_partitions", lambda *a: swaps.append(sorted(a[-1])) or swap(*a))
    result = load_changed(lake, wh, "staging", SOURCE)
    assert result.removed == [date(2024, 1, 1)]
    assert result.days == [date(2024, 1, 1), date(2024, 1, 2)]
    assert swaps == [[date(2024, 1, 1), date(2024, 1, 2)]]  # one transaction for both
    assert table(wh)["v"].tolist() == [20]
    # Recorded as gone: the next load has nothing to do, and the day comes back when the lake has it.
    assert load_changed(lake, wh, "staging", SOURCE).days == []
    put(lake, "2024-01-01T00Z", [10])
    again = load_changed(lake, wh, "staging", SOURCE)
    assert again.days == [date(2024, 1, 1)] and again.removed == []
    assert table(wh)["v"].tolist() == [10, 20]


def test_a_source_whose_every_day_is_gone_is_emptied(parts) -> None:
    lake, wh = parts
    put(lake, "2024-01-01T00Z", [1])
    load_changed(lake, wh, "staging", SOURCE)
    lake.delete("curated/obs/run=2024-01-01T00Z/features.parquet")
    assert load_changed(lake, wh, "staging", SOURCE).removed == [date(2024, 1, 1)]
    assert table(wh).empty
