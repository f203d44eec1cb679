"""Shared fixtures: an isolated Prefect server, settings on temporary folders, the samples."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples"

# Emulator fixtures (fake-gcs-server, bqemulator) for the GCS/BigQuery/dbt-bigquery tests.
pytest_plugins = ["tests.gcp.emulators"]


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One temporary Prefect server (SQLite) for the whole session; start-up is slow."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings pointing the lake and the warehouse at a fresh temporary folder."""
    from flows.settings import Settings, get_settings

    for key in list(os.environ):
        if key.startswith("AGGREGAT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AGGREGAT_LAKE_URL", str(tmp_path / "lake"))
    monkeypatch.setenv("AGGREGAT_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield Settings()
    get_settings.cache_clear()


@pytest.fixture
def samples() -> Path:
    """The shared real samples; tests using them skip when the folder is absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"shared samples not found at {SAMPLES}")
    return SAMPLES
