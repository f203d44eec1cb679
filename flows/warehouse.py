"""The warehouse: DuckDB (local profile) or BigQuery (gcp profile) behind one interface.

Loads are idempotent by day partition: `replace_partitions` swaps exactly the days it is
given, in one transaction, so a run repeated or resumed after a crash leaves the same state.
A backend may cap the days of one swap (`max_partitions_per_job`: BigQuery's quota on the
partitions one job modifies); DuckDB has no cap, so a load there stays one transaction.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa

from flows.errors import WarehouseError

# Portable column types and their spelling per engine (BigQuery's is in flows/bigquery.py).
# Timestamps are UTC everywhere; in Arrow (lake files, DuckDB) they are kept naive.
ARROW_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


@dataclass(frozen=True)
class TableSpec:
    """A staging table: typed columns, the DATE column it is partitioned on, cluster keys."""

    name: str
    columns: dict[str, str]
    partition_by: str
    cluster_by: tuple[str, ...] = ()
    description: str = ""
    column_descriptions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = {c: t for c, t in self.columns.items() if t not in DUCKDB_TYPES}
        if unknown:
            raise ValueError(f"table {self.name}: unknown column types {unknown}")
        if self.columns.get(self.partition_by) != "date":
            raise ValueError(
                f"table {self.name}: partition column {self.partition_by} must be a date"
            )

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with exactly this table's columns, in order, with their types."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise WarehouseError(f"table {self.name}: frame lacks columns {missing}")
        out = frame[list(self.columns)].copy()
        for col, kind in self.columns.items():
            out[col] = _cast(out[col], kind)
        return out


def _cast(series: pd.Series, kind: str) -> pd.Series:
    if kind == "string":
        return series.astype("string")
    if kind == "int64":
        return pd.to_numeric(series).astype("Int64")
    if kind == "float64":
        return pd.to_numeric(series).astype("float64")
    if kind == "bool":
        return series.astype("boolean")
    if kind == "date":
        return pd.to_datetime(series).dt.date
    stamps = pd.to_datetime(series, utc=True)
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")


def partition_days(frame: pd.DataFrame, column: str) -> list[date]:
    """The distinct days found in a frame's partition column, sorted."""
    return sorted(set(pd.to_datetime(frame[column]).dt.date))


class Warehouse(ABC):
    """Typed, partitioned tables and SQL, the same names on every backend."""

    # Most day partitions one `replace_partitions` may swap; None means no limit. Callers
    # with more days split them into chunks, each committed on its own.
    max_partitions_per_job: int | None = None

    @abstractmethod
    def ensure_table(self, dataset: str, spec: TableSpec) -> None:
        """Create the dataset/schema and the table if missing; add new columns if any."""

    def replace_partitions(
        self, dataset: str, spec: TableSpec, frame: pd.DataFrame, days: Iterable[date]
    ) -> int:
        """Atomically replace the given day partitions with the frame's rows; returns rows.

        Rows outside `days` are refused before anything is touched, so a wrong frame cannot
        leave a half-replaced table.
        """
        days = set(days)
        if not days:
            return 0
        limit = self.max_partitions_per_job
        if limit is not None and len(days) > limit:
            raise WarehouseError(
                f"table {spec.name}: a swap of {len(days)} day partitions is more than one"
                f" job may modify here ({limit}, AGGREGAT_BIGQUERY_MAX_PARTITIONS_PER_JOB):"
                " split the days into chunks (flows.staging.chunks)"
            )
        frame = spec.conform(frame)
        outside = set(frame[spec.partition_by]) - days
        if outside:
            raise WarehouseError(
                f"table {spec.name}: rows for days {sorted(outside)[:5]} outside the partitions replaced"
            )
        self.ensure_table(dataset, spec)
        return self._swap_partitions(
            dataset, spec, frame.sort_values(spec.partition_by, kind="stable"), days
        )

    @abstractmethod
    def _swap_partitions(
        self, dataset: str, spec: TableSpec, rows: pd.DataFrame, days: set[date]
    ) -> int:
        """Replace `days` with the checked `rows` in one transaction; returns rows written."""

    @abstractmethod
    def query(self, sql: str) -> pd.DataFrame:
        """Run a query and return its result."""

    @abstractmethod
    def table_exists(self, dataset: str, table: str) -> bool:
        """Whether a table exists."""

    @abstractmethod
    def loaded_fingerprints(self, dataset: str, table: str) -> dict[date, str]:
        """Day -> fingerprint of the lake objects last loaded into that day partition."""

    @abstractmethod
    def record_loads(self, dataset: str, table: str, fingerprints: dict[date, str]) -> None:
        """Remember which lake objects each day partition was loaded from."""

    def close(self) -> None:
        """Release connections (the default keeps none)."""


# Which lake objects each staging day partition was last built from: lets a load pick up
# exactly what changed, including work a killed run left in the lake.
LOADS_TABLE = "_lake_loads"
LOADS_COLUMNS = {
    "table_name": "string",
    "day": "date",
    "fingerprint": "string",
    "loaded_at": "timestamp",
}


WRITER_LOCK_WAITS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)


class DuckDBWarehouse(Warehouse):
    """A DuckDB file; a short-lived connection per call so dbt can open the file in between.

    `read_only` opens it shared with other readers (the dashboard): DuckDB refuses a reader
    while a writer holds the file and the other way round, so readers must not linger.
    """

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path).expanduser().resolve()
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def _connect(self):
        import duckdb

        # Readers (the dashboard) hold the file for a moment per query: a writer waits for
        # them (0.1 s doubling, about 6 s in all) instead of failing the step.
        for wait in (*WRITER_LOCK_WAITS, None):
            try:
                return duckdb.connect(str(self.path), read_only=self.read_only)
            except duckdb.IOException as exc:
                if wait is None or self.read_only or "conflicting lock" not in str(exc).lower():
                    raise
                time.sleep(wait)
        raise AssertionError("unreachable")

    def ensure_table(self, dataset: str, spec: TableSpec) -> None:
        cols = ", ".join(f'"{c}" {DUCKDB_TYPES[t]}' for c, t in spec.columns.items())
        with self._connect() as con:
            con.execute(f'create schema if not exists "{dataset}"')
            con.execute(f'create table if not exists "{dataset}"."{spec.name}" ({cols})')
            have = {
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = ? and table_name = ?",
                    [dataset, spec.name],
                ).fetchall()
            }
            for col, kind in spec.columns.items():
                if col not in have:
                    con.execute(
                        f'alter table "{dataset}"."{spec.name}" add column "{col}" {DUCKDB_TYPES[kind]}'
                    )

    def _swap_partitions(
        self, dataset: str, spec: TableSpec, rows: pd.DataFrame, days: set[date]
    ) -> int:
        cols = ", ".join(f'"{c}"' for c in spec.columns)
        table = f'"{dataset}"."{spec.name}"'
        with self._connect() as con:
            con.register("incoming", rows)
            con.execute("begin transaction")
            try:
                con.execute(
                    f'delete from {table} where "{spec.partition_by}" in (select unnest(?::date[]))',
                    [sorted(days)],
                )
                con.execute(f"insert into {table} ({cols}) select {cols} from incoming")
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
            finally:
                con.unregister("incoming")
        return len(rows)

    def query(self, sql: str) -> pd.DataFrame:
        with self._connect() as con:
            return con.execute(sql).df()

    def table_exists(self, dataset: str, table: str) -> bool:
        with self._connect() as con:
            found = con.execute(
                "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                [dataset, table],
            ).fetchone()
        return bool(found and found[0])

    def loaded_fingerprints(self, dataset: str, table: str) -> dict[date, str]:
        if not self.table_exists(dataset, LOADS_TABLE):
            return {}
        with self._connect() as con:
            rows = con.execute(
                f'select day, fingerprint from "{dataset}"."{LOADS_TABLE}" where table_name = ?',
                [table],
            ).fetchall()
        return {day: fp for day, fp in rows}

    def record_loads(self, dataset: str, table: str, fingerprints: dict[date, str]) -> None:
        if not fingerprints:
            return
        cols = ", ".join(f'"{c}" {DUCKDB_TYPES[t]}' for c, t in LOADS_COLUMNS.items())
        rows = pd.DataFrame(
            {
                "table_name": table,
                "day": list(fingerprints),
                "fingerprint": list(fingerprints.values()),
            }
        )
        target = f'"{dataset}"."{LOADS_TABLE}"'
        with self._connect() as con:
            con.execute(f'create schema if not exists "{dataset}"')
            con.execute(f"create table if not exists {target} ({cols})")
            con.register("incoming", rows)
            con.execute("begin transaction")
            con.execute(
                f"delete from {target} where table_name = ? and day in (select day from incoming)",
                [table],
            )
            con.execute(
                f"insert into {target} select table_name, day, fingerprint,"
                " current_timestamp::timestamp from incoming"
            )
            con.execute("commit")
            con.unregister("incoming")
