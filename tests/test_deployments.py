"""Every deployment of prefect.yaml, applied as `make setup` does and run by `make agent`.

A real Prefect server (`prefect server start`) on 127.0.0.1, `setup_prefect.py dev` in its own
process, and the worker started through the Makefile: nothing here runs a flow in-process.
The sources are the fake ODRÉ server and Météo-France store; the lake and DuckDB are
temporary folders only the work pool knows about. Its scheduler is off so that no cron run
comes due during the test: every run is asked for here or started by a deployment trigger.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psutil
import pytest
import yaml

from flows.settings import Settings
from setup_prefect import PROJECT_ROOT

# One Prefect server and one worker for the module; on a busy machine a run waits its turn.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

AS_OF = date(2025, 3, 31)
RUN = "2025-03-31T00Z"
HEARTBEAT_SECONDS = 30  # Prefect's floor
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
WAREHOUSE_CHAIN = ["load-staging-dev", "transform-dev"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 1.0) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def clean_environment() -> dict[str, str]:
    """This process's environment without aggregat or Prefect API configuration, and without
    the variables of an outer `make test ARGS=...` (a sub-make would inherit its ARGS)."""
    drop = ("AGGREGAT_", "PREFECT_API_", "PREFECT_HOME", "PREFECT_PROFILES")
    make = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}
    return {k: v for k, v in os.environ.items() if not k.startswith(drop) and k not in make}


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`prefect server start` on a free port with its own home; yields the API URL."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {
        **clean_environment(),
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    }
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"prefect server exited: {(home / 'server.log').read_text()}")
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, 180, "the Prefect server to answer")
        yield url
    finally:
        kill_tree(server.pid, signal.SIGTERM)
        log.close()


def kill_tree(pid: int, sig: int) -> None:
    """Send `sig` to a process and every process under it."""
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    for proc in [*parent.children(recursive=True), parent]:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(sig)
    psutil.wait_procs([parent], timeout=30)


@dataclass
class Platform:
    """The deployed environment: API, folders, the worker's environment, the worker."""

    api: str
    root: Path
    env: dict[str, str]
    worker: subprocess.Popen | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    def client(self) -> Any:
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(self.api)

    def setup(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`make setup ENV=dev` as a user runs it (the Makefile target, its own process)."""
        return subprocess.run(
            ["make", "-s", "setup", "ENV=dev", f"ARGS={' '.join(args)}"],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    def start_worker(self) -> None:
        """`make agent ENV=dev` in its own process group, logging to the platform folder."""
        log = (self.root / "worker.log").open("a")
        self.worker = subprocess.Popen(
            ["make", "-s", "agent", "ENV=dev", "ARGS="],
            cwd=PROJECT_ROOT,
            env={**self.env, "PREFECT_WORKER_QUERY_SECONDS": "2"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_worker(self, sig: int = signal.SIGTERM) -> None:
        if self.worker is not None:
            kill_tree(self.worker.pid, sig)
            self.worker = None

    def deployment(self, name: str) -> Any:
        with self.client() as client:
            matches = [d for d in client.read_deployments() if d.name == name]
        assert matches, f"deployment {name} was not applied"
        return matches[0]

    def start(self, name: str, **parameters: Any) -> Any:
        """A run of a deployment, as `prefect deployment run` would create it."""
        with self.client() as client:
            return client.create_flow_run_from_deployment(
                self.deployment(name).id, parameters=parameters
            )

    def wait(self, run_id: Any, timeout: float = 900) -> Any:
        """The run once final; its duration is kept by deployment name."""

        def final() -> Any:
            if self.worker is not None and self.worker.poll() is not None:
                log = (self.root / "worker.log").read_text()[-3000:]
                raise AssertionError(f"the worker exited ({self.worker.returncode}):\n{log}")
            with self.client() as client:
                run = client.read_flow_run(run_id)
            return run if run.state and run.state.type.value in FINAL else None

        run = wait_until(final, timeout, f"flow run {run_id}", every=2)
        with self.client() as client:
            name = client.read_deployment(run.deployment_id).name
        self.timings[name] = self.timings.get(name, 0.0) + run.total_run_time.total_seconds()
        return run

    def runs_of(self, name: str) -> list[Any]:
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        deployment = self.deployment(name)
        with self.client() as client:
            return client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
            )

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()


def assert_completed(run: Any, platform: Platform) -> None:
    if not run.state.is_completed():
        log = (platform.root / "worker.log").read_text()[-6000:]
        raise AssertionError(f"{run.name}: {run.state.name}: {run.state.message}\n{log}")


@pytest.fixture(scope="module")
def platform(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The fake sources, `make setup ENV=dev` against them, and a worker polling the pool."""
    from tests.fakes.meteofrance_store import publish_run, running_store, store_env
    from tests.fakes.odre_server import FakeOdre, synthetic_data

    root = tmp_path_factory.mktemp("platform")
    odre = FakeOdre(synthetic_data(date(2025, 1, 1), AS_OF)).start()
    with running_store() as store:
        weather = store_env(store.base_url)
        weather.pop("AGGREGAT_METEOFRANCE_HORIZON_HOURS")  # the forecast needs D+1 and D+2
        products = list(Settings.model_fields["meteofrance_products"].default)
        publish_run(store, products, RUN)
        env = {
            **clean_environment(),
            **weather,
            "PREFECT_API_URL": prefect_api,
            "PREFECT_HOME": str(root / "prefect-client"),
            "AGGREGAT_LAKE_URL": str(root / "lake"),
            "AGGREGAT_DUCKDB_PATH": str(root / "warehouse.duckdb"),
            "AGGREGAT_DBT_ARTIFACTS_DIR": str(root / "dbt"),
            "AGGREGAT_ODRE_BASE_URL": odre.url,
            "AGGREGAT_ODRE_BACKOFF_SECONDS": "0",
            "AGGREGAT_HISTORY_START": "2025-01-01",
            "AGGREGAT_FLOW_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        }
        platform = Platform(prefect_api, root, env)
        done = platform.setup("--no-train")
        assert done.returncode == 0, done.stderr + done.stdout
        platform.start_worker()
        try:
            yield platform
        finally:
            platform.stop_worker()
            odre.stop()


def prefect_yaml_names() -> list[str]:
    document = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    return [d["name"].replace("{{ $AGGREGAT_ENV }}", "dev") for d in document["deployments"]]


def settled(platform: Platform, names: list[str]) -> bool:
    """No run of these deployments is waiting or running, and each has completed once."""
    runs = {name: platform.runs_of(name) for name in names}
    busy = [r for rs in runs.values() for r in rs if r.state.type.value not in FINAL]
    done = all(any(r.state.is_completed() for r in rs) for rs in runs.values())
    return not busy and done


def test_every_deployment_runs_on_the_worker_and_writes_what_it_should(platform: Platform):
    ingests = [n for n in prefect_yaml_names() if n.startswith(("odre-", "weather-"))]
    assert len(ingests) == 6
    # The ingests of a day; the worker runs them side by side.
    started = [platform.start(name, as_of=AS_OF.isoformat()) for name in ingests]
    for run in started:
        assert_completed(platform.wait(run.id), platform)
    assert (platform.lake / "raw/odre/eco2mix-national-cons-def/date=2025-03-30").is_dir()
    assert list((platform.lake / "curated/weather").rglob("run=2025-03-31T00Z"))

    # Nobody starts load or dbt: their triggers do, one run at a time.
    wait_until(
        lambda: settled(platform, WAREHOUSE_CHAIN),
        900,
        "the load and transform runs triggered by the ingests",
        every=3,
    )
    for name in ("load-staging-dev", "transform-dev"):
        runs = platform.runs_of(name)
        assert all(r.state.is_completed() for r in runs), [(r.name, r.state.name) for r in runs]
        for run in runs:
            platform.wait(run.id)
    days = platform.query("select count(*) from production.daily_merged")[0][0]
    assert days >= 85

    trained = platform.wait(platform.start("train-weekly-dev", as_of=AS_OF.isoformat()).id)
    assert_completed(trained, platform)
    champion = json.loads((platform.lake / "models/consumption/champion.json").read_text())
    assert (platform.lake / "models/consumption" / champion["version"]).is_dir()

    # Counted before predict starts: its completion may trigger the load at once.
    loads = len(platform.runs_of("load-staging-dev"))
    predicted = platform.wait(platform.start("predict-daily-dev", as_of=AS_OF.isoformat()).id)
    assert_completed(predicted, platform)
    # Predict writes the lake only; its completion triggers the load, the load dbt.
    partition = platform.lake / f"curated/forecast/consumption/date={AS_OF}"
    assert {p.name for p in partition.iterdir()} == {"hourly.parquet", "daily.parquet"}
    forecast_rows = (
        "select count(*), min(model_version), max(model_version)"
        f" from production.consumption_forecast where issue_date = date '{AS_OF}'"
    )

    def forecast_built() -> bool:
        # The load's event reaches the transform trigger a moment after the load completes:
        # until that transform ran, the chain can look settled with the mart not rebuilt.
        if len(platform.runs_of("load-staging-dev")) <= loads:
            return False
        if not settled(platform, WAREHOUSE_CHAIN):
            return False
        try:
            return platform.query(forecast_rows)[0][0] > 0
        except (duckdb.IOException, duckdb.CatalogException):  # being written, or not yet built
            return False

    wait_until(forecast_built, 900, "the load and transform runs triggered by the prediction", 3)
    staged = platform.query(
        f"select count(*) from staging.forecast__consumption_hourly where issue_date = date '{AS_OF}'"
    )
    assert staged == [(48,)]
    assert platform.query(forecast_rows) == [(48, champion["version"], champion["version"])]

    # A lost day: backfill rebuilds it in the lake and in staging.
    lost = platform.lake / "raw/odre/eco2mix-national-cons-def/date=2025-03-15/part.parquet"
    lost.unlink()
    backfill = platform.start("backfill-dev", start="2025-03-14", end="2025-03-16", offline=False)
    backfilled = platform.wait(backfill.id)
    # Its weather days are gone from the store (retention) and were never archived: missing,
    # so the run is Failed, not Completed; the ODRÉ day is rebuilt all the same.
    assert backfilled.state.is_failed(), (backfilled.state.name, backfilled.state.message)
    assert "day x product rows missing" in backfilled.state.message
    assert lost.is_file()
    # The backfill's own ingests may trigger a load: it waits its turn on the warehouse queue
    # and finds nothing left to do.
    wait_until(lambda: settled(platform, WAREHOUSE_CHAIN), 900, "triggered loads", every=3)
    staged = platform.query(
        "select count(*) from staging.odre__eco2mix_national_cons_def where day = date '2025-03-15'"
    )
    assert staged[0][0] > 0

    daily = platform.wait(platform.start("daily-pipeline-dev", as_of=AS_OF.isoformat()).id)
    assert_completed(daily, platform)
    wait_until(lambda: settled(platform, WAREHOUSE_CHAIN), 900, "triggered loads", every=3)

    # Every deployment recorded how it ended; the daily run's load and rebuild took the records
    # to the marts: the last run of each step, and the training's promotion.
    flows = platform.query("select distinct flow_name from production.pipeline_runs")
    assert {f for (f,) in flows} == {
        "ingest-odre",
        "ingest-weather",
        "load-staging",
        "transform",
        "forecast-train",
        "forecast-predict",
        "backfill",
        "daily-pipeline",
    }
    last = platform.query(
        "select step_name, status, flow_name from production.pipeline_runs where is_latest"
    )
    assert {s for s, _, _ in last} >= {"odre", "weather", "load", "transform", "forecast"}
    assert {(s, f) for s, _, f in last if s in ("train", "backfill")} == {
        ("train", "forecast-train"),
        ("backfill", "backfill"),
    }
    by_step = {s: status for s, status, _ in last}
    # The daily run found nothing that the triggered loads had not staged already: its load
    # says nothing changed (a warning) and the dbt build and the forecast are skipped.
    assert by_step["load"] == "warning", last
    assert by_step["transform"] == by_step["forecast"] == "skipped", last
    rest = {
        s: status for s, status in by_step.items() if s not in ("load", "transform", "forecast")
    }
    assert all(status in ("ok", "warning") for s, status in rest.items() if s != "backfill"), last
    assert ("backfill", "failed", "backfill") in last
    promoted = platform.query(
        "select model_version from production.model_promotions where is_champion"
    )
    assert promoted == [(champion["version"],)]

    runs = {n: platform.runs_of(n) for n in prefect_yaml_names()}
    states = {n: sorted(r.state.name for r in rs) for n, rs in runs.items()}
    # Every run ended Completed, or Warning (a Completed-type state: partial data), except the
    # backfill of days nobody has any more.
    kinds = {n: {r.state.type.value for r in rs} for n, rs in runs.items()}
    assert kinds.pop("backfill-dev") == {"FAILED"}, states
    assert all(k == {"COMPLETED"} for k in kinds.values()), states
    # The crash detection never turns a run that ended into a crash.
    assert not any("Crashed" in s for s in states.values()), states
    print("\nworker run time per deployment (s):")
    for name, seconds in sorted(platform.timings.items()):
        print(f"  {name:32s} {seconds:7.1f}")


def test_setup_and_prefect_deploy_agree_in_any_order(platform: Platform):
    def registered() -> list[tuple]:
        with platform.client() as client:
            deployments = client.read_deployments()
            automations = sorted(a.name for a in client.read_automations())
        return [
            *sorted(
                (
                    d.name,
                    d.entrypoint,
                    json.dumps(d.parameters, sort_keys=True),
                    json.dumps(d.job_variables, sort_keys=True),
                    d.work_queue_name,
                    d.global_concurrency_limit and d.global_concurrency_limit.limit,
                    d.concurrency_options and d.concurrency_options.collision_strategy.value,
                    tuple(sorted((s.schedule.cron, s.active, s.slug) for s in d.schedules)),
                )
                for d in deployments
            ),
            tuple(automations),
        ]

    before = registered()
    names = [entry[0] for entry in before[:-1]]
    assert sorted(names) == sorted(prefect_yaml_names())
    deploy = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=PROJECT_ROOT,
        env={**platform.env, "AGGREGAT_ENV": "dev", "AGGREGAT_CODE_DIR": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert registered() == before
    again = platform.setup("--no-train")
    assert again.returncode == 0, again.stderr
    assert registered() == before

    by_name = {entry[0]: entry for entry in before[:-1]}
    assert by_name["load-staging-dev"][4] == "warehouse"
    assert by_name["transform-dev"][5:7] == (1, "ENQUEUE")
    assert by_name["load-staging-dev"][5:7] == (1, "ENQUEUE")
    assert json.loads(by_name["train-weekly-dev"][3])["memory"] == "8Gi"
    with platform.client() as client:
        queue = client.read_work_queue_by_name("warehouse", work_pool_name="aggregat-dev")
    assert queue.concurrency_limit == 1


class _Silent(threading.Thread):
    """A TCP server that accepts connections and never answers (a hung source)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.held: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/api/explore/v2.1"

    def run(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return


def test_a_worker_killed_mid_run_crashes_the_run_and_the_next_run_heals(platform: Platform):
    hung = _Silent()
    hung.start()
    deployment = platform.deployment("odre-temperature-daily-dev")
    with platform.client() as client:
        pool = client.read_work_pool("aggregat-dev")
        env = dict(pool.base_job_template["variables"]["properties"]["env"]["default"])
        env["AGGREGAT_ODRE_BASE_URL"] = hung.url
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"as_of": AS_OF.isoformat()}, job_variables={"env": env}
        )

    def running() -> bool:
        with platform.client() as client:
            return client.read_flow_run(run.id).state.type.value == "RUNNING"

    wait_until(running, 300, "the run to start on the worker")
    time.sleep(5)
    platform.stop_worker(signal.SIGKILL)  # the worker and its flow-run process die at once

    crashed = platform.wait(run.id, timeout=300)
    assert crashed.state.type.value == "CRASHED", crashed.state
    assert "heartbeat" in (crashed.state.message or "")
    hung.sock.close()

    platform.start_worker()
    target = platform.lake / "raw/odre/temperature-quotidienne-regionale/date=2025-03-30"
    healed = platform.wait(platform.start(deployment.name, as_of=AS_OF.isoformat()).id)
    assert_completed(healed, platform)
    assert (target / "part.parquet").is_file()


def test_two_transform_runs_at_once_run_one_after_the_other(platform: Platform):
    first = platform.start("transform-dev")
    second = platform.start("transform-dev")
    runs = [platform.wait(first.id), platform.wait(second.id)]
    for run in runs:
        assert_completed(run, platform)
    earlier, later = sorted(runs, key=lambda r: r.start_time)
    assert later.start_time >= earlier.end_time, "the second dbt build overlapped the first"
