"""A production warehouse built the way users build it, for every dashboard test.

The daily pipeline runs once per session against the fake ODRÉ server and the fake
Météo-France store (as tests/test_end_to_end.py does), with four morning weather runs so that
forecasts issued on the three days before the last one are measured by then: the skill marts
then hold real MAPEs. The sources stay up for the test that runs the pipeline again while the
dashboard is open.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.conftest import ROOT

AS_OF = date(2025, 3, 31)
HISTORY_START = date(2025, 1, 1)
# Forecasts issued on these days too, each from its own morning run (issue_day 00Z).
PAST_ISSUES = [AS_OF - timedelta(days=n) for n in (3, 2, 1)]
# A small, fast model (as tests/forecast/conftest.py's SMALL_MODEL), trained on the fake data.
SMALL_MODEL = {
    "AGGREGAT_FORECAST_NUM_BOOST_ROUND": "40",
    "AGGREGAT_FORECAST_NUM_LEAVES": "15",
    "AGGREGAT_FORECAST_MIN_DATA_IN_LEAF": "20",
    "AGGREGAT_FORECAST_LEARNING_RATE": "0.15",
    "AGGREGAT_FORECAST_MIN_TRAINING_DAYS": "28",
}


@dataclass
class Production:
    """The built warehouse and the environment that points a process at it and its sources."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def duckdb_path(self) -> Path:
        return Path(self.env["AGGREGAT_DUCKDB_PATH"])

    def copy_to(self, folder: Path) -> Path:
        """A private copy of the warehouse file, for a test that changes it."""
        target = folder / "warehouse.duckdb"
        shutil.copy(self.duckdb_path, target)
        return target


# What the pages should show, asked of DuckDB directly.
LATEST_COMPLETE_DAY = (
    "select date, consumption_gwh from production.daily_merged"
    " where is_consumption_complete order by date desc limit 1"
)
SKILL_HEADLINE = (
    "select * from production.forecast_skill_daily where measured_hours = forecast_hours"
    " and mape_28d_pct is not null"
    " qualify row_number() over (partition by horizon_days order by date_local desc) = 1"
    " order by horizon_days"
)


def read_mart(path: Path, sql: str) -> pd.DataFrame:
    """A mart as DuckDB itself answers, to check the dashboard's reads against."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).df()


def add_forecaster_columns(path: Path) -> None:
    """The forecast table with a known mix of forecasters (the model on D+1, a fallback on D+2)."""
    with duckdb.connect(str(path)) as con:
        for column in ("forecaster", "forecaster_reason"):
            con.execute(
                f"alter table production.consumption_forecast add column if not exists {column} varchar"
            )
        con.execute(
            "update production.consumption_forecast set forecaster = case when horizon_days = 1"
            " then 'model' else 'fallback' end, forecaster_reason = case when horizon_days = 2"
            " then 'weather run stale' else '' end"
        )


def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AGGREGAT_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def production(prefect_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    """The pipeline's warehouse on the fake sources, with measured forecasts."""
    from flows.forecast.flow import predict
    from flows.forecast.tables import lake_sources
    from flows.meteofrance.flow import ingest_weather
    from flows.pipeline import FORECAST_MODELS, load_source, run_cli
    from flows.settings import get_settings
    from flows.transform import transform
    from tests.fakes.meteofrance_store import publish_run, running_store, store_env
    from tests.fakes.odre_server import FakeOdre, synthetic_data

    root = tmp_path_factory.mktemp("dashboard")
    odre = FakeOdre(synthetic_data(HISTORY_START, AS_OF)).start()
    with running_store() as store, pytest.MonkeyPatch.context() as mp:
        _clean_environ(mp)
        products = list(get_settings().meteofrance_products)
        for day in [*PAST_ISSUES, AS_OF]:
            publish_run(store, products, f"{day.isoformat()}T00Z")
        env = {
            "AGGREGAT_LAKE_URL": str(root / "lake"),
            "AGGREGAT_DUCKDB_PATH": str(root / "warehouse.duckdb"),
            "AGGREGAT_ODRE_BASE_URL": odre.url,
            "AGGREGAT_HISTORY_START": HISTORY_START.isoformat(),
            "AGGREGAT_ODRE_BACKOFF_SECONDS": "0",
            "AGGREGAT_DBT_ARTIFACTS_DIR": str(root / "dbt"),
            **store_env(store.base_url),
            **SMALL_MODEL,
        }
        # The forecast needs every lead time of the runs, not the first 12 hours; the days'
        # runs are ingested on their own day below (a look-back would only find them too old
        # for the source's retention, counted from today).
        env.pop("AGGREGAT_METEOFRANCE_HORIZON_HOURS")
        env["AGGREGAT_METEOFRANCE_LOOKBACK_DAYS"] = "0"
        for key, value in env.items():
            mp.setenv(key, value)
        mp.chdir(root)
        get_settings.cache_clear()
        for issue in PAST_ISSUES:
            ingest_weather(as_of=issue)
        assert run_cli(as_of=AS_OF, steps=None) == 0
        for issue in PAST_ISSUES:
            predict(as_of=issue)
        # The issues' rows go the way every forecast goes: lake, staging, then dbt.
        for source in lake_sources():
            load_source(source, None)
        transform(select=FORECAST_MODELS)
        get_settings.cache_clear()
        try:
            yield Production(root=root, env=env)
        finally:
            odre.stop()
            get_settings.cache_clear()


@pytest.fixture
def dashboard_settings(production: Production, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Settings of a dashboard on the built warehouse, queried afresh on every page load."""
    from flows.settings import Settings, get_settings

    _clean_environ(monkeypatch)
    monkeypatch.setenv("AGGREGAT_DUCKDB_PATH", str(production.duckdb_path))
    monkeypatch.setenv("AGGREGAT_DASHBOARD_CACHE_SECONDS", "0")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield Settings()
    get_settings.cache_clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningDashboard:
    """`python -m dashboard` started as a user starts it, and the URL it printed."""

    process: subprocess.Popen
    url: str


def start_dashboard(env: dict[str, str], cwd: Path, timeout: float = 90) -> RunningDashboard:
    """Start the launcher; return once it printed its URL on its own line."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGAT_")}
    full_env |= env | {"AGGREGAT_DASHBOARD_PORT": str(port), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard"],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        text=True,
    )
    expected = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"the dashboard exited with {process.returncode}")
        if line.strip() == expected:
            return RunningDashboard(process, expected)
    process.terminate()
    raise AssertionError(f"the dashboard did not print {expected} within {timeout} s")


def stop_dashboard(dashboard: RunningDashboard) -> None:
    dashboard.process.terminate()
    dashboard.process.wait(timeout=30)
