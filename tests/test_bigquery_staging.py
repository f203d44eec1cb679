"""Staging loads of the full history on BigQuery (bqemulator): split under the partition quota.

BigQuery refuses a job that modifies more than 4,000 partitions; the emulator does not, so
the jobs are counted where they leave: a subclass of the real client records every query and
load it is asked for (and still sends them), and the partitions each job modifies are read
from its SQL (the days of its DELETE, which the rows inserted must stay within).
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from flows.bigquery import BigQueryWarehouse
from flows.errors import WarehouseError
from flows.lake import LocalLake
from flows.staging import LakeSource, load_changed
from flows.warehouse import LOADS_TABLE, DuckDBWarehouse, TableSpec

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SPEC = TableSpec(
    "obs",
    {"day": "date", "region": "string", "value": "float64"},
    partition_by="day",
    cluster_by=("region",),
)
SOURCE = LakeSource("raw/obs/", "date", SPEC)
FIRST = date(2012, 1, 1)
DAYS = 5000  # more than BigQuery's 4,000 partitions per job
DATE_LITERAL = re.compile(r"DATE '(\d{4}-\d{2}-\d{2})'")


@dataclass
class Job:
    """One job the client was asked for: its kind, SQL (queries) and destination (loads)."""

    kind: str
    sql: str = ""
    destination: str = ""
    config: dict = field(default_factory=dict)


class RecordingClient(bigquery.Client):
    """The real client, keeping a list of the query and load jobs it submits."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.jobs: list[Job] = []

    def query(self, query, job_config=None, *args, **kwargs):
        config = job_config.to_api_repr() if job_config else {}
        self.jobs.append(Job("query", sql=query, config=config))
        return super().query(query, job_config, *args, **kwargs)

    def load_table_from_file(self, file_obj, destination, *args, **kwargs):
        config = kwargs.get("job_config")
        self.jobs.append(
            Job("load", destination=str(destination), config=config.to_api_repr() if config else {})
        )
        return super().load_table_from_file(file_obj, destination, *args, **kwargs)

    def modified_partitions(self, table_id: str) -> list[set[date]]:
        """For each job that modified `table_id`, the day partitions it deleted and refilled."""
        target = f"delete from `{table_id}`"
        return [
            {date.fromisoformat(d) for d in DATE_LITERAL.findall(job.sql)}
            for job in self.jobs
            if job.kind == "query" and target in job.sql
        ]

    def modifying_jobs(self) -> list[Job]:
        """Jobs other than reads: loads and statements that change a table."""
        return [j for j in self.jobs if j.kind == "load" or not j.sql.lstrip().startswith("select")]


def write_history(lake: LocalLake, first: date, days: int) -> list[date]:
    """One lake object of two regions per day."""
    out = []
    for i in range(days):
        day = first + timedelta(days=i)
        frame = pd.DataFrame(
            {"day": [day, day], "region": ["A", "B"], "value": [float(i), i + 0.5]}
        )
        lake.write_parquet(f"raw/obs/date={day}/part.parquet", SPEC.conform(frame))
        out.append(day)
    return out


def recording_warehouse(bq_emulator, max_partitions: int) -> BigQueryWarehouse:
    client = RecordingClient(
        project=bq_emulator.project,
        credentials=AnonymousCredentials(),
        location="EU",
        client_options={"api_endpoint": bq_emulator.endpoint},
    )
    return BigQueryWarehouse(
        client,
        location="EU",
        retry_deadline=20.0,
        env="test",
        max_partitions_per_job=max_partitions,
        maximum_bytes_billed=10**9,
    )


def content(wh, table: str) -> pd.DataFrame:
    frame = wh.query(f"select day, region, value from {table} order by day, region")
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame.reset_index(drop=True)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalLake, list[date]]:
    lake = LocalLake(tmp_path_factory.mktemp("history") / "lake")
    return lake, write_history(lake, FIRST, DAYS)


def test_full_history_load_is_split_under_the_partition_quota(
    history, bq_emulator, tmp_path: Path
) -> None:
    lake, days = history
    wh = recording_warehouse(bq_emulator, max_partitions=3000)
    dataset = f"staging_{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    result = load_changed(lake, wh, dataset, SOURCE)
    elapsed = time.monotonic() - started
    assert result.days == days and result.rows == 2 * DAYS

    swaps = wh.client.modified_partitions(wh.table_id(dataset, "obs"))
    records = wh.client.modified_partitions(wh.table_id(dataset, LOADS_TABLE))
    loads = [j for j in wh.client.jobs if j.kind == "load"]
    print(
        f"\n{DAYS} days in {elapsed:.1f} s: {len(wh.client.jobs)} jobs;"
        f" swaps of {[len(s) for s in swaps]} partitions,"
        f" fingerprint records of {[len(r) for r in records]}, {len(loads)} load jobs"
    )
    for modified in (swaps, records):
        assert [len(s) for s in modified] == [3000, 2000]
        assert set().union(*modified) == set(days)  # every day once, in consecutive runs
        assert max(modified[0]) < min(modified[1])
    # Each swap's load and transaction, each record's load and transaction: nothing else writes.
    assert len(loads) == 4 and len(wh.client.modifying_jobs()) == 8
    # The fingerprints of each chunk were written by one job (one loaded_at per chunk).
    per_record = wh.query(
        f"select loaded_at, count(*) as n from `{wh.table_id(dataset, LOADS_TABLE)}`"
        " group by loaded_at order by loaded_at"
    )
    assert per_record["n"].tolist() == [3000, 2000]

    duck = DuckDBWarehouse(tmp_path / "w.duckdb")
    load_changed(lake, duck, "staging", SOURCE)
    expected = content(duck, "staging.obs")
    got = content(wh, f"`{wh.table_id(dataset, 'obs')}`")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)

    # A second run: no load, no statement that changes anything, the same table.
    wh.client.jobs.clear()
    again = load_changed(lake, wh, dataset, SOURCE)
    assert (again.days, again.rows) == ([], 0)
    assert wh.client.modifying_jobs() == []
    assert len(wh.client.jobs) == 1  # the read of the fingerprints
    pd.testing.assert_frame_equal(content(wh, f"`{wh.table_id(dataset, 'obs')}`"), got)


def test_a_crash_between_chunks_heals_on_the_next_run(
    bq_emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = LocalLake(tmp_path / "lake")
    days = write_history(lake, FIRST, 35)
    wh = recording_warehouse(bq_emulator, max_partitions=10)
    dataset = f"staging_{uuid.uuid4().hex[:8]}"
    table = f"`{wh.table_id(dataset, 'obs')}`"
    real_swap = BigQueryWarehouse._swap
    swaps: list[int] = []

    def killed_at_third(self, *args) -> None:
        swaps.append(1)
        if len(swaps) == 3:
            raise KeyboardInterrupt("worker killed during the third chunk")
        real_swap(self, *args)

    monkeypatch.setattr(BigQueryWarehouse, "_swap", killed_at_third)
    with pytest.raises(KeyboardInterrupt):
        load_changed(lake, wh, dataset, SOURCE)
    # The two chunks that committed are there and recorded; nothing of the third.
    assert sorted(wh.loaded_fingerprints(dataset, "obs")) == days[:20]
    assert sorted(set(content(wh, table)["day"])) == days[:20]

    monkeypatch.setattr(BigQueryWarehouse, "_swap", real_swap)
    wh.client.jobs.clear()
    healed = load_changed(lake, wh, dataset, SOURCE)
    assert healed.days == days[20:]
    assert [len(s) for s in wh.client.modified_partitions(wh.table_id(dataset, "obs"))] == [10, 5]
    duck = DuckDBWarehouse(tmp_path / "w.duckdb")
    load_changed(lake, duck, "staging", SOURCE)
    pd.testing.assert_frame_equal(
        content(wh, table), content(duck, "staging.obs"), check_dtype=False
    )


def test_a_swap_over_the_limit_is_refused_naming_the_setting(bq_emulator) -> None:
    wh = recording_warehouse(bq_emulator, max_partitions=10)
    days = [FIRST + timedelta(days=i) for i in range(11)]
    frame = pd.DataFrame({"day": days, "region": "A", "value": 1.0})
    with pytest.raises(WarehouseError, match="AGGREGAT_BIGQUERY_MAX_PARTITIONS_PER_JOB"):
        wh.replace_partitions(f"staging_{uuid.uuid4().hex[:8]}", SPEC, frame, days)
    assert wh.client.modifying_jobs() == []


def test_days_gone_from_the_lake_leave_bigquery_staging_in_one_swap(
    bq_emulator, tmp_path: Path
) -> None:
    lake = LocalLake(tmp_path / "lake")
    days = write_history(lake, date(2024, 1, 1), 3)
    wh = recording_warehouse(bq_emulator, max_partitions=100)
    dataset = f"staging_{uuid.uuid4().hex[:8]}"
    table = f"`{wh.table_id(dataset, SPEC.name)}`"
    load_changed(lake, wh, dataset, SOURCE)
    lake.delete(f"raw/obs/date={days[0]}/part.parquet")
    write_history(lake, days[1], 1)  # rewritten: its swap and the removal are one job
    wh.client.jobs.clear()
    result = load_changed(lake, wh, dataset, SOURCE)
    assert result.removed == [days[0]] and result.days == days[:2]
    assert wh.client.modified_partitions(wh.table_id(dataset, SPEC.name)) == [set(days[:2])]
    assert sorted(set(content(wh, table)["day"])) == days[1:]
    # Every day removed at once: an empty swap.
    for day in days:
        lake.delete(f"raw/obs/date={day}/part.parquet")
    assert load_changed(lake, wh, dataset, SOURCE).removed == days[1:]
    assert content(wh, table).empty
