"""The BigQuery warehouse (gcp profile): the DuckDB warehouse's contract on BigQuery.

Staging tables are created explicitly, DATE-partitioned on their day column and clustered, with
their descriptions. A day swap never touches partition decorators (`table$20240102`, refused by
the emulator): the rows go first into a temporary table by a Parquet load job, then one
multi-statement transaction deletes the days and inserts the new rows. A failure at any point
before the commit leaves every day as it was; after it, every day is new. One swap modifies at
most `max_partitions_per_job` day partitions (BigQuery refuses a job modifying more than
4,000): callers split longer loads into chunks (flows/staging.py).

Every job carries the guard-rails of the settings: labels `app`, `env` and `flow` (the Prefect
flow running it) for the billing export, a server-side timeout (`job_timeout_ms`), and for
queries a `maximum_bytes_billed` so that a runaway scan fails before it costs anything.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flows.errors import WarehouseError
from flows.warehouse import ARROW_TYPES, LOADS_COLUMNS, LOADS_TABLE, TableSpec, Warehouse

if TYPE_CHECKING:
    from google.cloud import bigquery

    from flows.settings import Settings

BIGQUERY_TYPES = {
    "string": "STRING",
    "int64": "INT64",
    "float64": "FLOAT64",
    "bool": "BOOL",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
# What a BigQuery load job reads: the portable Arrow types with timestamps marked UTC.
LOAD_ARROW_TYPES = {**ARROW_TYPES, "timestamp": pa.timestamp("us", tz="UTC")}
LOADS_SPEC = TableSpec(
    LOADS_TABLE,
    LOADS_COLUMNS,
    partition_by="day",
    cluster_by=("table_name",),
    description="Which lake objects each staging day partition was last loaded from.",
)
# Temporary tables expire by themselves if a killed run could not drop them.
TEMP_TABLE_LIFETIME = timedelta(days=1)
# BigQuery's own quota on the partitions one job modifies, and the project's default below it.
BIGQUERY_PARTITION_QUOTA = 4000
DEFAULT_MAX_PARTITIONS = 3000
APP_LABEL = "aggregat"
# The `flow` label of a job issued outside any Prefect flow run (a shell, a test).
NO_FLOW = "adhoc"
_LABEL_VALUE = re.compile(r"[^a-z0-9_-]")


def label_value(text: str) -> str:
    """A BigQuery label value: lowercase letters, digits, `_` and `-`, at most 63 characters."""
    return _LABEL_VALUE.sub("_", text.lower())[:63]


def current_flow() -> str:
    """The name of the Prefect flow this code runs in, else NO_FLOW."""
    from prefect.runtime import flow_run

    return flow_run.flow_name or NO_FLOW


def job_labels(env: str, flow: str | None = None) -> dict[str, str]:
    """The labels of every job the project issues: app, environment and flow (or step)."""
    return {
        "app": APP_LABEL,
        "env": label_value(env),
        "flow": label_value(flow or current_flow()),
    }


def schema_of(spec: TableSpec) -> list[bigquery.SchemaField]:
    """BigQuery schema fields of a table spec, with the column descriptions."""
    from google.cloud import bigquery

    return [
        bigquery.SchemaField(
            col, BIGQUERY_TYPES[kind], description=spec.column_descriptions.get(col) or None
        )
        for col, kind in spec.columns.items()
    ]


def to_parquet(spec: TableSpec, frame: pd.DataFrame) -> bytes:
    """Conformed rows as Parquet with BigQuery-friendly types (UTC timestamps, DATE days)."""
    schema = pa.schema([(col, LOAD_ARROW_TYPES[kind]) for col, kind in spec.columns.items()])
    rows = frame.copy()
    for col, kind in spec.columns.items():
        if kind == "timestamp":
            rows[col] = pd.to_datetime(rows[col], utc=True)
    table = pa.Table.from_pandas(rows, schema=schema, preserve_index=False)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def as_duckdb_frame(table: pa.Table) -> pd.DataFrame:
    """A result as DuckDB's `.df()` gives it, so callers see one shape on both backends.

    Dates and timestamps become naive datetime64[us] (timestamps in UTC), integers Int64.
    """
    columns = []
    for col in table.columns:
        if pa.types.is_date(col.type) or pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("us", tz=getattr(col.type, "tz", None))).cast(
                pa.timestamp("us")
            )
        columns.append(col)
    table = pa.Table.from_arrays(columns, names=table.column_names)
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def date_list(days: Iterable[date]) -> str:
    """Days as BigQuery DATE literals (the emulator ignores parameters inside scripts)."""
    return ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(days))


def swap_statements(table: str, spec: TableSpec, temp: str, days: set[date]) -> list[str]:
    """The statements of a day swap, run inside one transaction: delete the days, insert."""
    cols = ", ".join(f"`{c}`" for c in spec.columns)
    return [
        f"delete from {table} where `{spec.partition_by}` in ({date_list(days)})",
        f"insert into {table} ({cols}) select {cols} from {temp}",
    ]


class BigQueryWarehouse(Warehouse):
    """Tables in datasets of one BigQuery project, loaded by day-partition swaps."""

    def __init__(
        self,
        client: bigquery.Client,
        location: str,
        job_timeout: float = 900.0,
        retry_deadline: float = 120.0,
        env: str = "dev",
        max_partitions_per_job: int = DEFAULT_MAX_PARTITIONS,
        maximum_bytes_billed: int | None = None,
    ) -> None:
        from google.cloud.bigquery import DEFAULT_RETRY

        if not 1 <= max_partitions_per_job <= BIGQUERY_PARTITION_QUOTA:
            raise ValueError(
                f"max_partitions_per_job {max_partitions_per_job} is outside 1..{BIGQUERY_PARTITION_QUOTA}"
                " (BigQuery refuses a job modifying more partitions)"
            )
        self.client = client
        self.project = client.project
        self.location = location
        self.job_timeout = job_timeout
        self.env = env
        self.max_partitions_per_job = max_partitions_per_job
        self.maximum_bytes_billed = maximum_bytes_billed
        # API calls retry transient errors for this long, not the client's default 10 minutes.
        self.retry = DEFAULT_RETRY.with_deadline(retry_deadline)
        self._datasets: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> BigQueryWarehouse:
        """A warehouse on the settings' project, its credentials and endpoint checked first."""
        from flows.gcp import bigquery_client

        return cls(
            bigquery_client(settings),
            location=settings.bigquery_location,
            job_timeout=settings.bigquery_job_timeout_seconds,
            retry_deadline=4 * settings.gcp_timeout_seconds,
            env=settings.env,
            max_partitions_per_job=settings.bigquery_max_partitions_per_job,
            maximum_bytes_billed=settings.bigquery_maximum_bytes_billed,
        )

    def table_id(self, dataset: str, table: str) -> str:
        """The table's full id, `project.dataset.table`."""
        return f"{self.project}.{dataset}.{table}"

    def _sql(self, dataset: str, table: str) -> str:
        return f"`{self.table_id(dataset, table)}`"

    def _job_timeout_ms(self) -> int:
        return int(self.job_timeout * 1000)

    def _query_config(self) -> bigquery.QueryJobConfig:
        """Labels, server-side timeout and byte cap of every query job."""
        from google.cloud import bigquery

        return bigquery.QueryJobConfig(
            labels=job_labels(self.env),
            job_timeout_ms=self._job_timeout_ms(),
            maximum_bytes_billed=self.maximum_bytes_billed,
        )

    def _run(self, sql: str) -> pd.DataFrame:
        job = self.client.query(
            sql, job_config=self._query_config(), location=self.location, retry=self.retry
        )
        result = job.result(timeout=self.job_timeout, retry=self.retry)
        return as_duckdb_frame(result.to_arrow(create_bqstorage_client=False))

    # --- tables ---------------------------------------------------------------------------
    def ensure_dataset(self, dataset: str) -> None:
        """Create the dataset if missing (Terraform normally did already)."""
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        if dataset in self._datasets:
            return
        try:
            self.client.get_dataset(f"{self.project}.{dataset}")
        except NotFound:
            ref = bigquery.Dataset(f"{self.project}.{dataset}")
            ref.location = self.location
            self.client.create_dataset(ref, exists_ok=True)
        self._datasets.add(dataset)

    def ensure_table(self, dataset: str, spec: TableSpec) -> None:
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        self.ensure_dataset(dataset)
        table_id = self.table_id(dataset, spec.name)
        try:
            table = self.client.get_table(table_id)
        except NotFound:
            table = bigquery.Table(table_id, schema=schema_of(spec))
            table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=spec.partition_by
            )
            table.clustering_fields = list(spec.cluster_by) or None
            table.description = spec.description or None
            self.client.create_table(table, exists_ok=True)
            return
        self._evolve(table, spec)

    def _evolve(self, table: bigquery.Table, spec: TableSpec) -> None:
        """Add the spec's new columns (DDL, then the catalog) and refresh descriptions."""
        have = {f.name: f for f in table.schema}
        for field in schema_of(spec):
            known = have.get(field.name)
            if known is not None and known.field_type not in (
                field.field_type,
                _LEGACY[field.field_type],
            ):
                raise WarehouseError(
                    f"table {table.table_id}: column {field.name} is {known.field_type} in"
                    f" BigQuery but {field.field_type} in the spec; migrate it by hand"
                )
        wanted = schema_of(spec)
        missing = [f for f in wanted if f.name not in have]
        for field in missing:
            self._run(
                f"alter table `{table.project}.{table.dataset_id}.{table.table_id}`"
                f" add column if not exists `{field.name}` {field.field_type}"
            )
        described = [
            f
            for f in wanted
            if f.name in have and (have[f.name].description or None) != f.description
        ]
        if missing or described or (table.description or None) != (spec.description or None):
            by_name = {f.name: f for f in wanted}
            table.schema = [by_name.get(f.name, f) for f in table.schema] + missing
            table.description = spec.description or None
            self.client.update_table(table, ["schema", "description"])

    def table_exists(self, dataset: str, table: str) -> bool:
        from google.api_core.exceptions import NotFound

        try:
            self.client.get_table(self.table_id(dataset, table))
        except NotFound:
            return False
        return True

    # --- loads ----------------------------------------------------------------------------
    def _swap_partitions(
        self, dataset: str, spec: TableSpec, rows: pd.DataFrame, days: set[date]
    ) -> int:
        with self._temporary(dataset, spec) as temp:
            self._load_frame(temp, spec, rows)
            self._swap(dataset, spec, temp, days)
        return len(rows)

    def _load_config(self, spec: TableSpec) -> bigquery.LoadJobConfig:
        from google.cloud import bigquery

        return bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            schema=schema_of(spec),
            labels=job_labels(self.env),
            job_timeout_ms=self._job_timeout_ms(),
        )

    def _load_frame(self, temp: str, spec: TableSpec, rows: pd.DataFrame) -> None:
        job = self.client.load_table_from_file(
            io.BytesIO(to_parquet(spec, rows)),
            temp,
            job_config=self._load_config(spec),
            location=self.location,
        )
        job.result(timeout=self.job_timeout)

    def _swap(self, dataset: str, spec: TableSpec, temp: str, days: set[date]) -> None:
        """Delete the days and insert the temporary table's rows, in one transaction."""
        statements = swap_statements(self._sql(dataset, spec.name), spec, f"`{temp}`", days)
        self._run("begin transaction;\n" + ";\n".join(statements) + ";\ncommit transaction;")

    def _temporary(self, dataset: str, spec: TableSpec):
        return _TemporaryTable(self, dataset, spec)

    # --- queries and bookkeeping ----------------------------------------------------------
    def query(self, sql: str) -> pd.DataFrame:
        return self._run(sql)

    def loaded_fingerprints(self, dataset: str, table: str) -> dict[date, str]:
        if not self.table_exists(dataset, LOADS_TABLE):
            return {}
        rows = self._run(
            f"select day, fingerprint from {self._sql(dataset, LOADS_TABLE)}"
            f" where table_name = '{_literal(table)}'"
        )
        return {_as_date(d): fp for d, fp in zip(rows["day"], rows["fingerprint"], strict=True)}

    def record_loads(self, dataset: str, table: str, fingerprints: dict[date, str]) -> None:
        # _lake_loads is partitioned by day too; recording part of the days is safe (the
        # others are just loaded again), so long lists go in several jobs.
        days = sorted(fingerprints)
        for i in range(0, len(days), self.max_partitions_per_job):
            chunk = days[i : i + self.max_partitions_per_job]
            self._record_chunk(dataset, table, {day: fingerprints[day] for day in chunk})

    def _record_chunk(self, dataset: str, table: str, fingerprints: dict[date, str]) -> None:
        now = datetime.now(UTC)
        frame = pd.DataFrame(
            {
                "table_name": table,
                "day": list(fingerprints),
                "fingerprint": list(fingerprints.values()),
                "loaded_at": now,
            }
        )
        self.ensure_table(dataset, LOADS_SPEC)
        rows = LOADS_SPEC.conform(frame)
        with self._temporary(dataset, LOADS_SPEC) as temp:
            self._load_frame(temp, LOADS_SPEC, rows)
            target = self._sql(dataset, LOADS_TABLE)
            self._run(
                "begin transaction;\n"
                f"delete from {target} where table_name = '{_literal(table)}'"
                f" and day in ({date_list(fingerprints)});\n"
                f"insert into {target} (table_name, day, fingerprint, loaded_at)"
                f" select table_name, day, fingerprint, loaded_at from `{temp}`;\n"
                "commit transaction;"
            )

    def close(self) -> None:
        self.client.close()


# Legacy SQL names the API may report for the standard types.
_LEGACY = {
    "STRING": "STRING",
    "INT64": "INTEGER",
    "FLOAT64": "FLOAT",
    "BOOL": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
}


def _literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _as_date(value) -> date:
    return pd.Timestamp(value).date()


class _TemporaryTable:
    """A temporary table beside the target, dropped on exit and expiring on its own anyway."""

    def __init__(self, warehouse: BigQueryWarehouse, dataset: str, spec: TableSpec) -> None:
        self.warehouse = warehouse
        self.table_id = warehouse.table_id(dataset, f"_tmp_{spec.name}_{uuid.uuid4().hex[:12]}")
        self.spec = spec

    def __enter__(self) -> str:
        from google.cloud import bigquery

        table = bigquery.Table(self.table_id, schema=schema_of(self.spec))
        table.expires = datetime.now(UTC) + TEMP_TABLE_LIFETIME
        self.warehouse.client.create_table(table)
        return self.table_id

    def __exit__(self, *exc) -> None:
        self.warehouse.client.delete_table(self.table_id, not_found_ok=True)
