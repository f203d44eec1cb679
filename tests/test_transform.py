"""flows/transform.py: dbt's environment and arguments, the summary, and the Prefect flow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.odre.schemas import DATASETS
from flows.settings import PROJECT_ROOT, Settings
from flows.transform import (
    TransformError,
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
