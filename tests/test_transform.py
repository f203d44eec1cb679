"""flows/transform.py: dbt's environment and arguments, the summary, and the Prefect flow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.errors import TransformError
from flows.forecast.tables import daily_spec
from flows.odre.schemas import DATASETS
from flows.settings import PROJECT_ROOT, Settings
from flows.transform import (
    TransformSummary,
    build_arguments,
    dbt_environment,
    production_tables,
    run_dbt_build,
    transform,
)
from flows.warehouse import DuckDBWarehouse


def test_environment_has_absolute_paths_and_no_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(
        _env_file=None,
        duckdb_path=Path("data/w.duckdb"),
        odre_api_key="s3cret",
        production_dataset="prod_marts",
    )
    env = dbt_environment(settings)
    assert env["AGGREGAT_DUCKDB_PATH"] == str(tmp_path / "data" / "w.duckdb")
    assert env["AGGREGAT_PRODUCTION_DATASET"] == "prod_marts"
    assert env["AGGREGAT_DEVELOPMENT_DATASET"] == "development"
    assert env["AGGREGAT_STAGING_DATASET"] == "staging"
    assert env["AGGREGAT_DBT_TARGET"] == "local"
    assert "AGGREGAT_ODRE_API_KEY" not in env
    assert "s3cret" not in env.values()


def test_arguments_name_project_profiles_target_and_selection(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, profile="gcp", env="prod", dbt_artifacts_dir=tmp_path)
    args = build_arguments(settings, select="daily_merged+ tag:x", full_refresh=True)
    assert args[0] == "build"
    project = str(PROJECT_ROOT / "dbt")
    assert args[args.index("--project-dir") + 1] == project
    assert args[args.index("--profiles-dir") + 1] == project
    assert args[args.index("--target") + 1] == "prod"
    assert args[args.index("--target-path") + 1] == str(tmp_path / "target")
    assert args[args.index("--select") + 1 : args.index("--select") + 3] == [
        "daily_merged+",
        "tag:x",
    ]
    assert "--full-refresh" in args


def test_production_tables_are_fully_qualified(tmp_path: Path) -> None:
    local = Settings(_env_file=None, duckdb_path=tmp_path / "warehouse.duckdb")
    tables = production_tables(local)
    for mart in ("daily_merged", "energy_mix_hourly", "gas_storage_daily"):
        assert f"warehouse.production.{mart}" in tables
    gcp = Settings(_env_file=None, profile="gcp", gcp_project="acme-energy", production_dataset="p")
    assert "acme-energy.p.daily_merged" in production_tables(gcp)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dbt's target/ and logs/, shared by the module's builds: later ones parse partially."""
    return tmp_path_factory.mktemp("dbt_artifacts")


def test_a_missing_staging_table_is_a_clear_error(tmp_path: Path, artifacts: Path) -> None:
    settings = Settings(
        _env_file=None, duckdb_path=tmp_path / "w.duckdb", dbt_artifacts_dir=artifacts
    )
    with pytest.raises(TransformError) as caught:
        run_dbt_build(settings, select="stg_odre__gas_storage")
    assert "model.aggregat.stg_odre__gas_storage" in caught.value.failed_nodes
    assert "odre__stock_quotidien_stockages_gaz" in str(caught.value)


def test_dbt_logs_each_node_to_its_file_and_only_errors_to_the_console(
    tmp_path: Path, artifacts: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        _env_file=None, duckdb_path=tmp_path / "w.duckdb", dbt_artifacts_dir=artifacts
    )
    DuckDBWarehouse(settings.duckdb_path).ensure_table(
        settings.staging_dataset, DATASETS["temperature-quotidienne-regionale"].table
    )
    summary = run_dbt_build(settings, select="regions stg_odre__regional_temperature")
    console = capfd.readouterr().out
    assert summary.seeds_loaded == ["regions"] and summary.tests_passed > 0
    assert "regions" not in console and "Running with dbt" not in console
    log = artifacts / "logs" / "dbt.log"
    assert summary.log_file == str(log) and f"dbt log: {log}" in summary.describe()
    assert "OK loaded seed file development.regions" in log.read_text()

    with pytest.raises(TransformError):
        run_dbt_build(settings, select="stg_odre__gas_storage")  # its staging table is missing
    console = capfd.readouterr().out
    assert "stg_odre__gas_storage" in console and "odre__stock_quotidien_stockages_gaz" in console


def test_summary_describes_failures() -> None:
    summary = TransformSummary(target="local", models_built=["a"], tests_passed=3)
    assert "1 models" in summary.describe() and "3 passed" in summary.describe()
    assert "| a |" in summary.markdown()


@pytest.mark.slow
def test_transform_flow_builds_and_reports(
    prefect_server: None, settings: Settings, artifacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.settings import get_settings

    monkeypatch.setenv("AGGREGAT_DBT_ARTIFACTS_DIR", str(artifacts))
    get_settings.cache_clear()
    warehouse = DuckDBWarehouse(settings.duckdb_path)
    for dataset in DATASETS.values():
        warehouse.ensure_table(settings.staging_dataset, dataset.table)
    summary = transform(
        select="regions stg_odre__regional_temperature int_temperature__national_daily"
    )
    assert summary.ok
    assert set(summary.models_built) == {
        "stg_odre__regional_temperature",
        "int_temperature__national_daily",
    }
    assert summary.seeds_loaded == ["regions"]
    assert summary.tests_passed > 5 and summary.tests_failed == 0
    assert warehouse.table_exists(settings.development_dataset, "int_temperature__national_daily")
    assert (artifacts / "target" / "run_results.json").exists()


def stage_ingested(
    warehouse: DuckDBWarehouse, schema: str, dataset_id: str, hours_ago: float, **values
) -> None:
    """One row of an ODRÉ staging table, ingested that long ago."""
    import pandas as pd

    spec = DATASETS[dataset_id].table
    now = pd.Timestamp.now(tz="UTC").floor("s")
    row = {col: None for col in spec.columns}
    row.update(day=now.date(), ingested_at=now - pd.Timedelta(hours=hours_ago), **values)
    warehouse.replace_partitions(schema, spec, pd.DataFrame([row]), [now.date()])


@pytest.mark.slow
def test_source_freshness_is_in_the_summary_and_the_artifact(
    prefect_server: None,
    settings: Settings,
    artifacts: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    import pandas as pd
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.settings import get_settings

    monkeypatch.setenv("AGGREGAT_DBT_ARTIFACTS_DIR", str(artifacts))
    get_settings.cache_clear()
    warehouse = DuckDBWarehouse(settings.duckdb_path)
    for dataset in DATASETS.values():
        warehouse.ensure_table(settings.staging_dataset, dataset.table)
    staging = settings.staging_dataset
    stage_ingested(warehouse, staging, "eco2mix-national-tr", hours_ago=1)  # pass (warn: 3 h)
    observed = {"date": pd.Timestamp.now().date(), "code_insee_region": 11, "region": "IDF"}
    observed.update(tmin=1.0, tmax=5.0, tmoy=3.0)
    stage_ingested(  # warn (after 40 days)
        warehouse, staging, "temperature-quotidienne-regionale", 50 * 24, **observed
    )
    stage_ingested(warehouse, staging, "stock-quotidien-stockages-gaz", 20 * 24)  # error
    warehouse.ensure_table(staging, daily_spec())  # created, no forecast issued yet
    summary = transform(select="regions stg_odre__regional_temperature")
    by_source = {f.source: f for f in summary.freshness}
    assert by_source["odre.eco2mix_national_tr"].status == "pass"
    assert by_source["odre.temperature_quotidienne_regionale"].status == "warn"
    gas = by_source["odre.stock_quotidien_stockages_gaz"]
    assert gas.status == "error" and gas.age() == "20.0 days"
    # Weather and forecast tables are not written yet: reported, not raised.
    assert by_source["meteofrance.features_hourly"].status == "runtime error"
    # An empty table is said to be so, with no age of two thousand years, and is not stale.
    assert by_source["forecast.consumption_daily"].empty
    assert by_source["forecast.consumption_daily"] not in summary.stale_sources
    assert summary.ok  # a stale source is a warning, not a failure
    described = summary.describe()
    assert "WARNING odre.stock_quotidien_stockages_gaz: error, newest load 20.0 days old" in (
        described
    )
    assert "odre.eco2mix_national_tr" not in described  # only the stale ones are named
    assert "2 not loaded yet (forecast.consumption_daily, odre.eco2mix_national_cons_def)" in (
        described
    )

    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["transform"])),
            limit=1,
            sort="CREATED_DESC",
        )
    assert "## Source freshness" in artifact.data
    assert "| odre.temperature_quotidienne_regionale | ⚠ warn |" in artifact.data
    assert "| odre.eco2mix_national_tr | pass |" in artifact.data
    # dbt's own freshness lines (ERROR STALE even for an empty table) stay in its log file.
    assert "STALE" not in capfd.readouterr().out
    assert "ERROR STALE freshness of odre.stock_quotidien_stockages_gaz" in (
        (artifacts / "logs" / "dbt.log").read_text()
    )
    assert "| forecast.consumption_daily | empty | | | nothing loaded yet |" in artifact.data
    # dbt-duckdb let go of the file: another process (the dashboard) can open it to read.
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; duckdb.connect(sys.argv[1], read_only=True).close()",
            str(settings.duckdb_path),
        ],
        capture_output=True,
        text=True,
    )
    assert opened.returncode == 0, opened.stderr


@pytest.mark.slow
def test_docs_command_generates_and_serves_the_dbt_docs(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AGGREGAT_")},
        "AGGREGAT_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "AGGREGAT_DBT_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "AGGREGAT_DBT_DOCS_PORT": str(port),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "flows", "docs"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, page = time.monotonic() + 240, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/manifest.json", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(1)
        assert page is not None and page.status_code == 200, "dbt docs never answered"
        assert "model.aggregat.daily_merged" in page.json()["nodes"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert f"dbt docs at http://127.0.0.1:{port}" in server.stdout.read()
