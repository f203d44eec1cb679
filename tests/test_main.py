"""The command line refuses bad settings and impossible days at once, before Prefect starts,
naming the variable or the option and what to give instead (never a traceback)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from flows.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m flows ...` in an empty folder: what it writes would show up there."""
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "flows", *args],
        cwd=tmp_path,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_settings_are_each_named_with_the_expected_form(tmp_path: Path) -> None:
    done = run_cli(
        tmp_path,
        "run",
        AGGREGAT_PROFILE="gcpp",
        AGGREGAT_HISTORY_START="2025-13-01",
        AGGREGAT_LAKE_URL="gs://",
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "AGGREGAT_PROFILE='gcpp': Input should be 'local' or 'gcp'" in done.stderr
    assert "AGGREGAT_HISTORY_START='2025-13-01'" in done.stderr
    assert "AGGREGAT_LAKE_URL='gs://'" in done.stderr and "gs://BUCKET" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no lake, no warehouse, no Prefect home


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--as-of", "{tomorrow}"), "--as-of {tomorrow} is after today"),
        (("train", "--as-of", "{tomorrow}"), "--as-of {tomorrow} is after today"),
        (
            ("backfill", "--start", "2025-03-02", "--end", "2025-03-01"),
            "--end 2025-03-01 is before --start 2025-03-02",
        ),
        (("backfill", "--start", "2025-03-01", "--end", "{tomorrow}"), "is after today"),
        (
            ("backtest", "--start", "2019-02-01", "--end", "2019-01-01"),
            "--end 2019-01-01 is before --start 2019-02-01",
        ),
    ],
)
def test_impossible_days_are_refused_before_any_work(tmp_path: Path, args, message) -> None:
    tomorrow = (Settings(_env_file=None).today() + timedelta(days=1)).isoformat()
    done = run_cli(tmp_path, *(a.format(tomorrow=tomorrow) for a in args))
    assert done.returncode == 2
    assert message.format(tomorrow=tomorrow) in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_prefect_server_too_slow_to_start_is_named_with_its_setting(tmp_path: Path) -> None:
    # One second is less than any first start (it creates the database): the wait runs out.
    done = run_cli(
        tmp_path,
        "run",
        "--steps",
        "odre",
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1",
        AGGREGAT_ODRE_BASE_URL="http://127.0.0.1:9/api/explore/v2.1",
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "did not start within 1 s (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)" in (
        done.stderr
    )
    assert "PREFECT_API_URL=" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["prefect"]  # the lake was never reached
