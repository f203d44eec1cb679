"""Prefect's temporary server never outlives the command that started it, even `kill -9`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import ROOT

SERVER_APP = "prefect.server.api.server:create_app"


def silent_server() -> tuple[socket.socket, list[socket.socket]]:
    """A port on 127.0.0.1 that accepts connections and never answers: the run waits there."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return listener, held


def prefect_servers(pid: int) -> list[psutil.Process]:
    """Prefect's temporary server processes among a process's descendants."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [c for c in children if SERVER_APP in " ".join(_cmdline(c))]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for(what, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(message)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_kill_9_of_a_run_takes_its_temporary_prefect_server_with_it(tmp_path: Path) -> None:
    listener, held = silent_server()
    port = listener.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGGREGAT_", "PREFECT_"))}
    env |= {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "AGGREGAT_LAKE_URL": str(tmp_path / "lake"),
        "AGGREGAT_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "AGGREGAT_ODRE_BASE_URL": f"http://127.0.0.1:{port}/api/explore/v2.1",
        "AGGREGAT_ODRE_TIMEOUT_SECONDS": "600",
    }
    run = subprocess.Popen(
        [sys.executable, "-m", "flows", "run", "--as-of", "2025-03-31", "--steps", "odre"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    servers: list[psutil.Process] = []
    try:
        # The flow run is under way (it asks ODRÉ) on the server the command started.
        wait_for(lambda: held, 240, "the run never asked ODRÉ")
        servers = prefect_servers(run.pid)
        assert len(servers) == 1, servers
        os.kill(run.pid, signal.SIGKILL)
        run.wait(10)
        wait_for(lambda: gone(servers[0]), 20, f"server {servers[0].pid} outlived its run")
    finally:
        run.kill()
        listener.close()
        for server in servers:  # a failed test leaves no server behind either
            if not gone(server):
                server.kill()
