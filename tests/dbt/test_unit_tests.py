"""Which targets run the dbt unit tests (dbt_project.yml `unit_tests: +enabled`).

They check the models' logic on literal rows: every build runs them before the model they
test (tests/dbt/test_marts.py checks they ran and passed on DuckDB), except on BigQuery's
production target, where the same rows every hour would only bill jobs, and on the emulator
(too slow for them, dbt_project.yml says why; tests/dbt/test_dbt_bigquery.py checks its
build ran none). `dbt ls` renders the project for a target without connecting to it.
"""

from __future__ import annotations

from pathlib import Path

from flows.settings import PROJECT_ROOT, environ_set

DBT = PROJECT_ROOT / "dbt"


def unit_tests_listed(target: str, tmp: Path) -> list[str]:
    """The unit tests `dbt ls` finds enabled on a target."""
    from dbt.cli.main import dbtRunner

    args = ["ls", "--project-dir", str(DBT), "--profiles-dir", str(DBT), "--target", target]
    args += ["--resource-type", "unit_test", "--output", "name", "--quiet"]
    args += ["--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs")]
    env = {"AGGREGAT_GCP_PROJECT": "aggregat-test", "AGGREGAT_DUCKDB_PATH": ":memory:"}
    with environ_set(env):
        outcome = dbtRunner().invoke(args)
    assert outcome.success, outcome.exception
    return sorted(outcome.result)


def test_production_builds_skip_the_unit_tests(tmp_path: Path) -> None:
    assert unit_tests_listed("prod", tmp_path) == []
