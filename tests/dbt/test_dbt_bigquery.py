"""dbt-bigquery against bqemulator gives the same production marts as dbt-duckdb.

The same synthetic staging rows (tests/dbt/test_marts.py) are loaded into a temporary DuckDB
file and into bqemulator datasets through each warehouse's own loader; `dbt build` runs on
the `local` and `emulator` targets; every production mart must match, row for row, within
float tolerance. A revision is then loaded into both and the incremental models (monthly
insert_overwrite on BigQuery, with the macro override of dbt/macros/bigquery/) rebuilt.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import date

import numpy as np
import pandas as pd
import pytest

from flows.bigquery import BigQueryWarehouse
from flows.odre.schemas import ECO2MIX_CONS_DEF, ECO2MIX_TR, GAS_STORAGE, TEMPERATURE, Dataset
from flows.settings import PROJECT_ROOT, Settings
from flows.transform import run_dbt_build
from flows.warehouse import DuckDBWarehouse, Warehouse
from tests.dbt.test_marts import (
    INGESTED,
    OUR_MARTS,
    revise,
    synthetic_electricity,
    synthetic_gas,
    synthetic_temperature,
)
from tests.gcp.proxy import FaultyProxy
from tests.test_bigquery import job_configurations

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Each production mart and the columns that identify a row.
MART_KEYS = {
    "daily_merged": ["date"],
    "energy_mix_hourly": ["hour_utc"],
    "gas_storage_daily": ["gas_day", "storage_group"],
}


def stage(warehouse: Warehouse, schema: str, dataset: Dataset, frame: pd.DataFrame) -> None:
    """Load rows as the loader does: whole day partitions of a staging table."""
    frame = frame.copy()
    for column in dataset.table.columns:
        if column not in frame:
            frame[column] = INGESTED if column == "ingested_at" else None
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    warehouse.replace_partitions(schema, dataset.table, frame, sorted(set(frame["day"])))


def stage_all(warehouse: Warehouse, schema: str, inputs: dict[str, pd.DataFrame]) -> None:
    for dataset in (ECO2MIX_CONS_DEF, ECO2MIX_TR, GAS_STORAGE, TEMPERATURE):
        warehouse.ensure_table(schema, dataset.table)
    stage(warehouse, schema, ECO2MIX_CONS_DEF, inputs["cons"])
    stage(warehouse, schema, ECO2MIX_TR, inputs["realtime"])
    stage(warehouse, schema, GAS_STORAGE, inputs["gas"])
    stage(warehouse, schema, TEMPERATURE, inputs["temps"])


def mart(warehouse: Warehouse, table: str, name: str) -> pd.DataFrame:
    """A mart sorted by its key, dates and timestamps as naive datetimes, numbers as floats."""
    frame = warehouse.query(f"select * from {table}")
    frame = frame.sort_values(MART_KEYS[name]).reset_index(drop=True)
    for column in frame:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            frame[column] = values.astype("float64")
        elif pd.api.types.is_datetime64_any_dtype(values):
            frame[column] = values.astype("datetime64[us]")
        else:
            frame[column] = values.astype("object").where(values.notna(), None)
    return frame


def assert_same_mart(duck: pd.DataFrame, bq: pd.DataFrame, name: str) -> None:
    assert sorted(bq.columns) == sorted(duck.columns), name
    bq = bq[list(duck.columns)]
    assert len(bq) == len(duck), f"{name}: {len(bq)} rows on BigQuery, {len(duck)} on DuckDB"
    for column in duck.columns:
        left, right = duck[column], bq[column]
        if left.dtype == "float64" or right.dtype == "float64":
            # An all-null column may come back untyped from one side.
            left, right = (pd.to_numeric(v).astype("float64") for v in (left, right))
            close = np.isclose(left, right, rtol=1e-9, atol=1e-6, equal_nan=True)
            assert close.all(), (
                f"{name}.{column} differs: {list(zip(left[~close], right[~close], strict=True))[:3]}"
            )
        else:
            differ = [(a, b) for a, b in zip(left, right, strict=True) if a != b]
            assert not differ, f"{name}.{column} differs: {differ[:3]}"


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, bq_emulator) -> Iterator[dict]:
    """The synthetic input built into the marts on DuckDB and on the emulator."""
    tmp = tmp_path_factory.mktemp("dbt_bigquery")
    cons, realtime = synthetic_electricity()
    inputs = {
        "cons": cons,
        "realtime": realtime,
        "gas": synthetic_gas(),
        "temps": synthetic_temperature(),
    }
    local = Settings(
        _env_file=None,
        profile="local",
        lake_url=str(tmp / "lake"),
        duckdb_path=tmp / "warehouse.duckdb",
        dbt_artifacts_dir=tmp / "dbt-local",
    )
    suffix = uuid.uuid4().hex[:8]
    # dbt's requests go through a recording proxy: the job configurations it sends are checked.
    proxy = FaultyProxy(bq_emulator.endpoint).__enter__()
    emulator = Settings(
        _env_file=None,
        profile="gcp",
        dbt_target="emulator",
        lake_url=str(tmp / "lake"),
        gcp_project=bq_emulator.project,
        bigquery_api_endpoint=proxy.endpoint,
        env="ci",
        bigquery_job_timeout_seconds=600.0,
        bigquery_maximum_bytes_billed=5 * 10**9,
        staging_dataset=f"staging_{suffix}",
        development_dataset=f"development_{suffix}",
        production_dataset=f"production_{suffix}",
        dbt_artifacts_dir=tmp / "dbt-emulator",
    )
    duck = DuckDBWarehouse(local.duckdb_path)
    bq = BigQueryWarehouse.from_settings(emulator)
    stage_all(duck, local.staging_dataset, inputs)
    stage_all(bq, emulator.staging_dataset, inputs)
    loads_done = len(proxy.faults.requests)
    summaries = {
        "local": run_dbt_build(local, select=OUR_MARTS),
        "emulator": run_dbt_build(emulator, select=OUR_MARTS),
    }
    dbt_requests = proxy.faults.requests[loads_done:]
    yield {
        "local": local,
        "emulator": emulator,
        "duck": duck,
        "bq": bq,
        "inputs": inputs,
        "summaries": summaries,
        "dbt_requests": dbt_requests,
    }
    bq.close()
    proxy.__exit__(None, None, None)


def compare_marts(builds: dict) -> None:
    for name in MART_KEYS:
        duck = mart(builds["duck"], f"{builds['local'].production_dataset}.{name}", name)
        table = builds["bq"].table_id(builds["emulator"].production_dataset, name)
        bq = mart(builds["bq"], f"`{table}`", name)
        assert len(duck) > 0, name
        assert_same_mart(duck, bq, name)


def test_full_build_gives_the_same_marts(builds: dict) -> None:
    assert builds["summaries"]["emulator"].ok
    assert sorted(builds["summaries"]["emulator"].models_built) == sorted(
        builds["summaries"]["local"].models_built
    )
    compare_marts(builds)


def unit_tests_run(settings: Settings) -> list[str]:
    """The dbt unit tests of the last build on a target (dbt's run_results.json)."""
    results = json.loads((settings.dbt_artifacts_dir / "target" / "run_results.json").read_text())
    return [r["unique_id"] for r in results["results"] if r["unique_id"].startswith("unit_test.")]


def test_the_emulator_build_leaves_the_unit_tests_to_duckdb(builds: dict) -> None:
    # dbt_project.yml disables them on the emulator target (too slow there); the local build
    # of the same selection runs them.
    assert unit_tests_run(builds["emulator"]) == []
    assert len(unit_tests_run(builds["local"])) >= 7


def run_sql(settings: Settings, model: str) -> str:
    """The SQL dbt last ran for a model (its target/run file)."""
    found = list((settings.dbt_artifacts_dir / "target" / "run").rglob(f"{model}.sql"))
    assert found, f"no run SQL for {model}"
    return found[0].read_text().lower()


def test_marts_are_partitioned_and_documented_on_bigquery(builds: dict) -> None:
    # bqemulator does not report the partitioning of a table created by DDL, so the DDL dbt
    # ran is checked; descriptions (persist_docs) are read back from the catalog.
    assert "partition by timestamp_trunc(hour_utc, month)" in run_sql(
        builds["emulator"], "energy_mix_hourly"
    )
    bq: BigQueryWarehouse = builds["bq"]
    table = bq.client.get_table(
        bq.table_id(builds["emulator"].production_dataset, "energy_mix_hourly")
    )
    assert table.description and "UTC hour" in table.description
    described = {f.name: f.description for f in table.schema}
    assert described["consumption_mw"]


def test_dbt_jobs_carry_labels_timeout_and_byte_cap(builds: dict) -> None:
    configs = job_configurations(builds["dbt_requests"])
    queries = [c for c in configs if "query" in c]
    assert len(queries) > 20  # models, tests, introspection: every one of them
    for config in queries:
        labels = config["labels"]
        assert {k: labels.get(k) for k in ("app", "env", "flow")} == {
            "app": "aggregat",
            "env": "ci",
            "flow": "adhoc",  # run_dbt_build outside a Prefect flow
        }, config
    # All but the build's own read of the quarantined days afterwards are dbt's, per node.
    ours = [c for c in queries if "dbt_invocation_id" not in c["labels"]]
    assert all("int_electricity__quality" in c["query"]["query"] for c in ours), ours
    for config in queries:
        if config not in ours:
            assert config["labels"]["node"] and config["labels"]["dbt_invocation_id"]
        assert config["jobTimeoutMs"] == "600000"
        assert config["query"]["maximumBytesBilled"] == str(5 * 10**9)
    dbt_nodes = {c["labels"]["node"] for c in queries if c not in ours}
    assert dbt_nodes >= {"energy_mix_hourly", "daily_merged"}


def test_large_marts_require_a_partition_filter_and_their_tests_have_one(builds: dict) -> None:
    # bqemulator keeps the option but does not enforce it: the SQL dbt ran is checked.
    settings = builds["emulator"]
    assert "require_partition_filter=true" in run_sql(settings, "energy_mix_hourly").replace(
        " ", ""
    )
    run = settings.dbt_artifacts_dir / "target" / "run"
    # Data tests' SQL sits under the .yml that declares them.
    tests = [p for p in run.rglob("*.yml/*energy_mix_hourly*.sql")]
    assert len(tests) > 5
    for path in tests:
        sql = " ".join(path.read_text().lower().split())
        assert "where hour_utc is not null" in sql, path.name


def test_incremental_revision_matches(builds: dict) -> None:
    revised = revise(builds["inputs"]["cons"])
    day = revised[revised["day"] == date(2024, 3, 31)]
    stage(builds["duck"], builds["local"].staging_dataset, ECO2MIX_CONS_DEF, day)
    stage(builds["bq"], builds["emulator"].staging_dataset, ECO2MIX_CONS_DEF, day)
    assert run_dbt_build(builds["local"], select=OUR_MARTS).ok
    assert run_dbt_build(builds["emulator"], select=OUR_MARTS).ok
    # The incremental run replaced whole monthly partitions with the overriding macro's script.
    script = run_sql(builds["emulator"], "energy_mix_hourly")
    assert "set dbt_partitions_for_replacement = (" in script and "ignore nulls" not in script
    # Its watermark was read from the mart itself, with the filter the mart requires.
    log = (builds["emulator"].dbt_artifacts_dir / "logs" / "dbt.log").read_text()
    assert re.search(r"\.`energy_mix_hourly`\s+where hour_utc is not null", log)
    compare_marts(builds)


REMOVED_INGESTED = pd.Timestamp("2024-12-02 00:00:00")
# The models rebuilt by month, and their row key.
INCREMENTAL = {"int_electricity__quarter_hourly": "measured_at", "energy_mix_hourly": "hour_utc"}


def warehouse_state(builds: dict, engine: str) -> dict[str, pd.DataFrame]:
    """The incremental models and the production marts of one engine, whole, sorted."""
    settings, warehouse = (
        (builds["local"], builds["duck"])
        if engine == "duck"
        else (builds["emulator"], builds["bq"])
    )
    keys = {**MART_KEYS, **INCREMENTAL}
    state = {}
    for name, key in keys.items():
        dataset = (
            settings.development_dataset if name.startswith("int_") else settings.production_dataset
        )
        table = (
            f"{dataset}.{name}" if engine == "duck" else f"`{warehouse.table_id(dataset, name)}`"
        )
        frame = warehouse.query(f"select * from {table}")
        state[name] = frame.sort_values(key if isinstance(key, list) else [key]).reset_index(
            drop=True
        )
    return state


def test_an_instant_removed_upstream_leaves_the_marts_equal_to_a_full_refresh(builds: dict) -> None:
    # The source withdraws 2024-03-30 12:00 UTC (definitive, no real-time row that instant):
    # its day is reloaded without it and the marts are built incrementally, on both engines.
    cons = builds["inputs"]["cons"]
    gone = pd.Timestamp("2024-03-30 12:00")
    day = cons[(cons["day"] == date(2024, 3, 30)) & (cons["date_heure"] != gone)].copy()
    day["ingested_at"] = REMOVED_INGESTED
    stage(builds["duck"], builds["local"].staging_dataset, ECO2MIX_CONS_DEF, day)
    stage(builds["bq"], builds["emulator"].staging_dataset, ECO2MIX_CONS_DEF, day)
    for settings in (builds["local"], builds["emulator"]):
        assert run_dbt_build(settings, select=OUR_MARTS).ok
    incremental = {engine: warehouse_state(builds, engine) for engine in ("duck", "bq")}
    for engine, state in incremental.items():
        instants = set(pd.to_datetime(state["int_electricity__quarter_hourly"]["measured_at"]))
        assert gone not in instants, f"{engine} kept the withdrawn instant"
    for settings in (builds["local"], builds["emulator"]):
        assert run_dbt_build(settings, select=OUR_MARTS, full_refresh=True).ok
    for engine, state in incremental.items():
        rebuilt = warehouse_state(builds, engine)
        for name, frame in state.items():
            pd.testing.assert_frame_equal(frame, rebuilt[name], obj=f"{engine} {name}")
    compare_marts(builds)


def render_target(target: str):
    """The credentials dbt renders from dbt/profiles.yml for a target (no connection made)."""
    from argparse import Namespace

    from dbt.config.profile import Profile, read_profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    set_from_args(Namespace(), {})
    set_invocation_context(os.environ)
    raw = read_profile(str(PROJECT_ROOT / "dbt"))
    return Profile.from_raw_profiles(raw, "aggregat", ProfileRenderer({}), target).credentials


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_environment_targets_come_from_the_settings(monkeypatch, target: str) -> None:
    for key in list(os.environ):
        if key.startswith("AGGREGAT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AGGREGAT_GCP_PROJECT", f"acme-energy-{target}")
    monkeypatch.setenv("AGGREGAT_DEVELOPMENT_DATASET", f"development_{target}")
    monkeypatch.setenv("AGGREGAT_BIGQUERY_LOCATION", "europe-west1")
    monkeypatch.setenv("AGGREGAT_BIGQUERY_JOB_TIMEOUT_SECONDS", "1200.0")
    monkeypatch.setenv("AGGREGAT_BIGQUERY_MAXIMUM_BYTES_BILLED", "7000000000")
    oauth = render_target(target)
    assert (oauth.job_execution_timeout_seconds, oauth.maximum_bytes_billed) == (1200, 7 * 10**9)
    assert (oauth.method, oauth.database, oauth.schema, oauth.location) == (
        "oauth",
        f"acme-energy-{target}",
        f"development_{target}",
        "europe-west1",
    )
    monkeypatch.setenv("AGGREGAT_GCP_CREDENTIALS_FILE", "/keys/worker.json")
    keyed = render_target(target)
    assert (keyed.method, keyed.keyfile) == ("service-account", "/keys/worker.json")


def test_emulator_target_never_retries(monkeypatch) -> None:
    monkeypatch.setenv("AGGREGAT_BIGQUERY_API_ENDPOINT", "http://127.0.0.1:9999")
    emulator = render_target("emulator")
    assert (emulator.method, emulator.api_endpoint, emulator.job_retries) == (
        "oauth-secrets",
        "http://127.0.0.1:9999",
        0,
    )
