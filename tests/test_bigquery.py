"""The BigQuery warehouse against bqemulator, through the real google-cloud-bigquery client."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

import flows.bigquery
from flows.backends import open_warehouse
from flows.bigquery import BigQueryWarehouse
from flows.errors import GcpConfigError, WarehouseError
from flows.gcp import bigquery_client
from flows.lake import LocalLake
from flows.staging import LakeSource, load_changed
from flows.warehouse import TableSpec
from tests.gcp.emulators import closed_endpoint

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SPEC = TableSpec(
    "obs",
    {
        "day": "date",
        "region": "string",
        "value": "float64",
        "count": "int64",
        "ok": "bool",
        "at": "timestamp",
    },
    partition_by="day",
    cluster_by=("region",),
    description="Test observations.",
    column_descriptions={"day": "UTC day.", "value": "A measurement."},
)
D1, D2, D3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)


def rows(days: list[date], value: float = 1.0, regions=("A", "B")) -> pd.DataFrame:
    records = [
        {
            "day": d,
            "region": r,
            "value": value + i,
            "count": i,
            "ok": i % 2 == 0,
            "at": datetime(d.year, d.month, d.day, 12),
        }
        for d in days
        for i, r in enumerate(regions)
    ]
    return pd.DataFrame.from_records(records)


@pytest.fixture
def bq_settings(settings, bq_emulator):
    return settings.model_copy(
        update={
            "profile": "gcp",
            "gcp_project": bq_emulator.project,
            "bigquery_api_endpoint": bq_emulator.endpoint,
            "gcp_timeout_seconds": 10.0,
        }
    )


@pytest.fixture
def wh(bq_settings) -> BigQueryWarehouse:
    return BigQueryWarehouse.from_settings(bq_settings)


@pytest.fixture
def dataset(wh: BigQueryWarehouse) -> str:
    return f"staging_{uuid.uuid4().hex[:10]}"


def content(wh: BigQueryWarehouse, dataset: str, table: str = "obs") -> pd.DataFrame:
    frame = wh.query(f"select * from `{wh.table_id(dataset, table)}` order by day, region")
    frame["day"] = pd.to_datetime(frame["day"].astype(str)).dt.date
    return frame.reset_index(drop=True)


def leftovers(wh: BigQueryWarehouse, dataset: str) -> list[str]:
    return [t.table_id for t in wh.client.list_tables(dataset) if t.table_id.startswith("_tmp_")]


def test_open_warehouse_gives_bigquery_on_the_gcp_profile(bq_settings) -> None:
    assert isinstance(open_warehouse(bq_settings), BigQueryWarehouse)


def test_ensure_table_creates_a_partitioned_clustered_described_table(wh, dataset) -> None:
    wh.ensure_table(dataset, SPEC)
    wh.ensure_table(dataset, SPEC)  # a second time changes nothing
    table = wh.client.get_table(wh.table_id(dataset, "obs"))
    assert table.time_partitioning.field == "day" and table.time_partitioning.type_ == "DAY"
    assert table.clustering_fields == ["region"]
    assert table.description == "Test observations."
    assert [(f.name, f.field_type) for f in table.schema][:3] == [
        ("day", "DATE"),
        ("region", "STRING"),
        ("value", "FLOAT64"),
    ]
    assert {f.name: f.description for f in table.schema}["value"] == "A measurement."
    assert wh.table_exists(dataset, "obs") and not wh.table_exists(dataset, "nope")


def test_replace_twice_is_identical_and_types_survive(wh, dataset) -> None:
    assert wh.replace_partitions(dataset, SPEC, rows([D1, D2]), {D1, D2}) == 4
    first = content(wh, dataset)
    assert wh.replace_partitions(dataset, SPEC, rows([D1, D2]), {D1, D2}) == 4
    second = content(wh, dataset)
    pd.testing.assert_frame_equal(first, second)
    assert len(second) == 4
    assert second["value"].tolist() == [1.0, 2.0, 1.0, 2.0]
    assert second["count"].tolist() == [0, 1, 0, 1] and second["ok"].tolist() == [True, False] * 2
    assert str(second["at"].iloc[0]) == "2024-01-01 12:00:00"  # UTC, naive as in DuckDB
    assert leftovers(wh, dataset) == []


def test_revised_partition_is_replaced_and_others_kept(wh, dataset) -> None:
    wh.replace_partitions(dataset, SPEC, rows([D1, D2, D3]), {D1, D2, D3})
    # D2 revised with one region only, D3 asked for with no rows: emptied.
    wh.replace_partitions(dataset, SPEC, rows([D2], value=10.0, regions=("C",)), {D2, D3})
    got = content(wh, dataset)
    assert got[["day", "region", "value"]].values.tolist() == [
        [D1, "A", 1.0],
        [D1, "B", 2.0],
        [D2, "C", 10.0],
    ]


def test_rows_outside_the_days_are_refused_and_nothing_changes(wh, dataset) -> None:
    wh.replace_partitions(dataset, SPEC, rows([D1]), {D1})
    with pytest.raises(WarehouseError, match="obs: rows for days"):
        wh.replace_partitions(dataset, SPEC, rows([D1, D2], value=5.0), {D1})
    assert content(wh, dataset)["value"].tolist() == [1.0, 2.0]


def test_failure_inside_the_swap_leaves_the_old_partition(wh, dataset, monkeypatch) -> None:
    wh.replace_partitions(dataset, SPEC, rows([D1, D2]), {D1, D2})
    before = content(wh, dataset)
    real = flows.bigquery.swap_statements

    def failing_after_delete(*args):
        delete, insert = real(*args)
        return [delete, "select error('injected failure between delete and insert')", insert]

    monkeypatch.setattr(flows.bigquery, "swap_statements", failing_after_delete)
    with pytest.raises(Exception, match="injected failure"):
        wh.replace_partitions(dataset, SPEC, rows([D1], value=7.0), {D1})
    pd.testing.assert_frame_equal(content(wh, dataset), before)  # not empty, not doubled
    assert leftovers(wh, dataset) == []
    monkeypatch.undo()
    wh.replace_partitions(dataset, SPEC, rows([D1], value=7.0), {D1})
    assert content(wh, dataset)["value"].tolist() == [7.0, 8.0, 1.0, 2.0]


def test_crash_between_temporary_load_and_swap(wh, dataset, monkeypatch) -> None:
    wh.replace_partitions(dataset, SPEC, rows([D1]), {D1})

    def killed(*args) -> None:
        raise KeyboardInterrupt("worker killed after the temporary load")

    monkeypatch.setattr(BigQueryWarehouse, "_swap", killed)
    with pytest.raises(KeyboardInterrupt):
        wh.replace_partitions(dataset, SPEC, rows([D1], value=3.0), {D1})
    assert content(wh, dataset)["value"].tolist() == [1.0, 2.0]
    monkeypatch.undo()
    wh.replace_partitions(dataset, SPEC, rows([D1], value=3.0), {D1})  # the rerun
    assert content(wh, dataset)["value"].tolist() == [3.0, 4.0]


def test_schema_evolution_adds_a_column(wh, dataset) -> None:
    wh.replace_partitions(dataset, SPEC, rows([D1]), {D1})
    wider = TableSpec(
        SPEC.name,
        {**SPEC.columns, "source": "string"},
        partition_by="day",
        cluster_by=SPEC.cluster_by,
        description="Test observations, with their source.",
        column_descriptions={**SPEC.column_descriptions, "source": "Where it came from."},
    )
    frame = rows([D2]).assign(source="feed")
    wh.replace_partitions(dataset, wider, frame, {D2})
    got = content(wh, dataset)
    assert got["source"].isna().tolist() == [True, True, False, False]
    table = wh.client.get_table(wh.table_id(dataset, "obs"))
    assert {f.name: f.description for f in table.schema}["source"] == "Where it came from."
    assert table.description == "Test observations, with their source."


def test_a_changed_column_type_is_refused(wh, dataset) -> None:
    wh.ensure_table(dataset, SPEC)
    changed = TableSpec(SPEC.name, {**SPEC.columns, "count": "string"}, partition_by="day")
    with pytest.raises(WarehouseError, match="column count is INT64 in BigQuery but STRING"):
        wh.ensure_table(dataset, changed)


def test_fingerprints_round_trip(wh, dataset) -> None:
    assert wh.loaded_fingerprints(dataset, "obs") == {}
    wh.record_loads(dataset, "obs", {D1: "a", D2: "b"})
    wh.record_loads(dataset, "other", {D1: "x"})
    wh.record_loads(dataset, "obs", {D2: "c"})
    assert wh.loaded_fingerprints(dataset, "obs") == {D1: "a", D2: "c"}
    assert wh.loaded_fingerprints(dataset, "other") == {D1: "x"}


def test_load_changed_from_the_lake(wh, dataset, tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    for day in (D1, D2):
        lake.write_parquet(f"raw/t/date={day}/part.parquet", SPEC.conform(rows([day])))
    source = LakeSource("raw/t/", "date", SPEC)
    assert load_changed(lake, wh, dataset, source).days == [D1, D2]
    assert load_changed(lake, wh, dataset, source).days == []  # nothing changed
    lake.write_parquet(f"raw/t/date={D2}/part.parquet", SPEC.conform(rows([D2], value=9.0)))
    result = load_changed(lake, wh, dataset, source)
    assert (result.days, result.rows) == ([D2], 2)
    assert content(wh, dataset)["value"].tolist() == [1.0, 2.0, 9.0, 10.0]


# --- configuration faults ---------------------------------------------------------------
@pytest.mark.timeout(30)
def test_endpoint_down_fails_fast_naming_it(bq_settings) -> None:
    down = closed_endpoint()
    with pytest.raises(GcpConfigError, match=f"BigQuery endpoint {down} is not reachable"):
        BigQueryWarehouse.from_settings(
            bq_settings.model_copy(update={"bigquery_api_endpoint": down})
        )


@pytest.mark.parametrize(
    ("project", "message"),
    [
        (None, "no GCP project: set AGGREGAT_GCP_PROJECT"),
        ("My Project!", "not a valid GCP project id"),
    ],
)
def test_absent_or_malformed_project(bq_settings, project, message) -> None:
    with pytest.raises(GcpConfigError, match=message):
        bigquery_client(bq_settings.model_copy(update={"gcp_project": project}))


class _UnknownProject(BaseHTTPRequestHandler):
    """Answers like BigQuery does for a project that does not exist."""

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": 404,
                    "message": "Not found: Project nope-project",
                    "status": "NOT_FOUND",
                }
            }
        ).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.timeout(30)
def test_unknown_project_is_named(bq_settings) -> None:
    # bqemulator accepts any project id, so a stand-in answers with BigQuery's 404 instead.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _UnknownProject)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        wrong = bq_settings.model_copy(
            update={"gcp_project": "nope-project", "bigquery_api_endpoint": endpoint}
        )
        with pytest.raises(GcpConfigError, match="GCP project nope-project not found"):
            bigquery_client(wrong)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def no_ambient_credentials(monkeypatch, tmp_path: Path) -> None:
    """No Application Default Credentials and no gcloud configuration on this host."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))


@pytest.mark.timeout(30)
def test_missing_credentials_are_a_clear_error(bq_settings, no_ambient_credentials) -> None:
    real = bq_settings.model_copy(update={"bigquery_api_endpoint": None})
    with pytest.raises(GcpConfigError, match="no Google credentials found: set AGGREGAT_GCP"):
        BigQueryWarehouse.from_settings(real)


def test_bad_key_files_are_named(bq_settings, no_ambient_credentials, tmp_path: Path) -> None:
    real = bq_settings.model_copy(update={"bigquery_api_endpoint": None})
    missing = tmp_path / "missing-key.json"
    with pytest.raises(GcpConfigError, match=f"credentials file {missing} .* does not exist"):
        bigquery_client(real.model_copy(update={"gcp_credentials_file": missing}))
    broken = tmp_path / "broken-key.json"
    broken.write_text('{"type": "service_account"}')
    with pytest.raises(GcpConfigError, match=f"credentials file {broken} .* not a service-account"):
        bigquery_client(real.model_copy(update={"gcp_credentials_file": broken}))


# --- guard-rails of every job -----------------------------------------------------------
def job_configurations(requests: list[tuple[str, str, bytes]]) -> list[dict]:
    """The `configuration` of every job insert (plain, or an upload's JSON metadata part)."""
    configs = []
    for method, path, body in requests:
        if method != "POST" or not path.split("?")[0].endswith("/jobs"):
            continue
        start = body.find(b"{")
        job, _ = json.JSONDecoder().raw_decode(body[start:].decode("utf-8", "replace"))
        configs.append(job["configuration"])
    return configs


def test_every_job_carries_labels_timeout_and_byte_cap(bq_settings, prefect_server) -> None:
    from prefect import flow

    from tests.gcp.proxy import FaultyProxy

    with FaultyProxy(bq_settings.bigquery_api_endpoint) as proxy:
        settings = bq_settings.model_copy(
            update={
                "bigquery_api_endpoint": proxy.endpoint,
                "env": "Prod",
                "bigquery_job_timeout_seconds": 321.5,
                "bigquery_maximum_bytes_billed": 12345678,
            }
        )
        wh = BigQueryWarehouse.from_settings(settings)
        dataset = f"staging_{uuid.uuid4().hex[:10]}"
        wh.replace_partitions(dataset, SPEC, rows([D1]), {D1})

        @flow(name="Load Staging")
        def in_a_flow() -> None:
            wh.replace_partitions(dataset, SPEC, rows([D2]), {D2})
            wh.record_loads(dataset, "obs", {D2: "x"})

        in_a_flow()
    configs = job_configurations(proxy.faults.requests)
    kinds = [next(k for k in ("query", "load") if k in c) for c in configs]
    # Outside and inside the flow: a load and a swap each, then the fingerprints' own two.
    assert kinds == ["load", "query", "load", "query", "load", "query"]
    flows_seen = [c["labels"].pop("flow") for c in configs]
    assert flows_seen == ["adhoc"] * 2 + ["load_staging"] * 4
    assert all(c["labels"] == {"app": "aggregat", "env": "prod"} for c in configs)
    assert all(c["jobTimeoutMs"] == "321500" for c in configs)
    assert all(c["query"]["maximumBytesBilled"] == "12345678" for c in configs if "query" in c)
