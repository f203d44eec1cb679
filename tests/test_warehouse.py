"""The DuckDB warehouse: typed tables, atomic day-partition swaps, load fingerprints."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from flows.errors import WarehouseError
from flows.warehouse import DuckDBWarehouse, TableSpec, partition_days

SPEC = TableSpec(
    name="t",
    columns={"day": "date", "ts": "timestamp", "v": "float64", "n": "int64", "s": "string"},
    partition_by="day",
)


def frame(days: list[str], value: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": days,
            "ts": pd.to_datetime([f"{d}T12:00:00+02:00" for d in days]),
            "v": value,
            "n": 1,
            "s": "x",
        }
    )


@pytest.fixture
def wh(tmp_path: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(tmp_path / "w.duckdb")


def test_replace_is_idempotent_and_only_touches_given_days(wh: DuckDBWarehouse) -> None:
    first = frame(["2024-01-01", "2024-01-02"], 1.0)
    wh.replace_partitions("staging", SPEC, first, partition_days(first, "day"))
    wh.replace_partitions("staging", SPEC, first, partition_days(first, "day"))
    revised = frame(["2024-01-02"], 9.0)
    wh.replace_partitions("staging", SPEC, revised, [date(2024, 1, 2)])
    out = wh.query("select day, v, ts from staging.t order by day")
    assert out["v"].tolist() == [1.0, 9.0]
    # timestamps are stored in UTC
    assert str(out["ts"].iloc[0]) == "2024-01-01 10:00:00"


def test_a_day_given_without_rows_is_emptied(wh: DuckDBWarehouse) -> None:
    f = frame(["2024-01-01"], 1.0)
    wh.replace_partitions("staging", SPEC, f, [date(2024, 1, 1)])
    wh.replace_partitions("staging", SPEC, f.iloc[0:0], [date(2024, 1, 1)])
    assert wh.query("select count(*) as n from staging.t")["n"].item() == 0


def test_rows_outside_the_days_are_refused_and_nothing_changes(wh: DuckDBWarehouse) -> None:
    f = frame(["2024-01-01"], 1.0)
    wh.replace_partitions("staging", SPEC, f, [date(2024, 1, 1)])
    with pytest.raises(WarehouseError, match="outside"):
        wh.replace_partitions("staging", SPEC, frame(["2024-01-05"], 2.0), [date(2024, 1, 1)])
    assert wh.query("select v from staging.t")["v"].tolist() == [1.0]


def test_missing_column_is_a_clear_error(wh: DuckDBWarehouse) -> None:
    with pytest.raises(WarehouseError, match="lacks columns \\['s'\\]"):
        wh.replace_partitions(
            "staging", SPEC, frame(["2024-01-01"], 1.0).drop(columns="s"), [date(2024, 1, 1)]
        )


class _FailingInsert:
    """A DuckDB connection whose inserts fail after the delete ran: a crash mid-swap."""

    def __init__(self, con) -> None:
        self.con = con

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.con.close()

    def execute(self, sql: str, *args):
        if sql.startswith("insert"):
            raise RuntimeError("killed mid-swap")
        return self.con.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.con, name)


def test_failed_insert_rolls_back_the_delete(wh: DuckDBWarehouse, monkeypatch) -> None:
    f = frame(["2024-01-01"], 1.0)
    wh.replace_partitions("staging", SPEC, f, [date(2024, 1, 1)])
    real_connect = wh._connect
    monkeypatch.setattr(wh, "_connect", lambda: _FailingInsert(real_connect()))
    with pytest.raises(RuntimeError, match="killed"):
        wh.replace_partitions("staging", SPEC, frame(["2024-01-01"], 5.0), [date(2024, 1, 1)])
    monkeypatch.undo()
    assert wh.query("select v from staging.t")["v"].tolist() == [1.0]


def test_uncastable_values_are_refused_before_any_change(wh: DuckDBWarehouse) -> None:
    f = frame(["2024-01-01"], 1.0)
    wh.replace_partitions("staging", SPEC, f, [date(2024, 1, 1)])
    with pytest.raises(ValueError):
        wh.replace_partitions("staging", SPEC, f.assign(n="x"), [date(2024, 1, 1)])
    assert wh.query("select count(*) as n from staging.t")["n"].item() == 1


def test_new_columns_are_added(wh: DuckDBWarehouse) -> None:
    f = frame(["2024-01-01"], 1.0)
    wh.replace_partitions("staging", SPEC, f, [date(2024, 1, 1)])
    wider = TableSpec(SPEC.name, {**SPEC.columns, "extra": "float64"}, "day")
    wh.replace_partitions("staging", wider, f.assign(extra=2.5), [date(2024, 1, 2 - 1)])
    assert wh.query("select extra from staging.t")["extra"].tolist() == [2.5]


def test_fingerprints_round_trip(wh: DuckDBWarehouse) -> None:
    assert wh.loaded_fingerprints("staging", "t") == {}
    wh.record_loads("staging", "t", {date(2024, 1, 1): "a", date(2024, 1, 2): "b"})
    wh.record_loads("staging", "t", {date(2024, 1, 2): "c"})
    wh.record_loads("staging", "other", {date(2024, 1, 2): "z"})
    assert wh.loaded_fingerprints("staging", "t") == {date(2024, 1, 1): "a", date(2024, 1, 2): "c"}


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="must be a date"):
        TableSpec("x", {"day": "string"}, "day")
    with pytest.raises(ValueError, match="unknown column types"):
        TableSpec("x", {"day": "date", "v": "decimal"}, "day")


HOLD = (
    "import sys, time, duckdb\n"
    "con = duckdb.connect(sys.argv[1], read_only=True)\n"
    "print('open', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


def test_a_reader_cannot_write_and_a_writer_waits_for_readers(
    wh: DuckDBWarehouse, tmp_path: Path
) -> None:
    import subprocess
    import sys

    import duckdb

    wh.replace_partitions("staging", SPEC, frame(["2024-01-01"], 1.0), [date(2024, 1, 1)])
    reader = DuckDBWarehouse(wh.path, read_only=True)
    assert len(reader.query('select * from staging."t"')) == 1
    with pytest.raises(duckdb.Error, match="read-only"):
        reader.query('delete from staging."t"')
    assert not DuckDBWarehouse(tmp_path / "no" / "w.duckdb", read_only=True).path.parent.exists()
    # Another process (the dashboard) reads for a second: the writer's load waits, then runs.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(wh.path), "1.0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        wh.replace_partitions("staging", SPEC, frame(["2024-01-02"], 2.0), [date(2024, 1, 2)])
    finally:
        holder.wait()
    assert len(wh.query('select * from staging."t"')) == 2
