"""`python -m dashboard` (`make dashboard`): serve the app on 127.0.0.1 and print its URL.

The URL is printed on its own line once the server answers, so a script (or a test) can wait
for it; Ctrl-C stops the server.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from flows.settings import get_settings

APP = Path(__file__).resolve().parent / "app.py"
START_TIMEOUT_SECONDS = 60.0


def streamlit_command(port: int, address: str = "127.0.0.1") -> list[str]:
    """The `streamlit run` command line of the app, headless and without usage statistics."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        # Readers get no "Deploy" or developer menu.
        "--client.toolbarMode",
        "viewer",
    ]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    """Return once something listens on 127.0.0.1:port; fail if the server died or is slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the dashboard server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"the dashboard did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__)
    parser.add_argument("--port", type=int, help="default: AGGREGAT_DASHBOARD_PORT")
    args = parser.parse_args(argv)
    port = args.port or get_settings().dashboard_port
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            print(
                f"port {port} on 127.0.0.1 is taken: set AGGREGAT_DASHBOARD_PORT to a free one",
                file=sys.stderr,
            )
            return 2
    # A terminated launcher stops its server too (SystemExit runs the `finally` below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    process = subprocess.Popen(streamlit_command(port), stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, process, START_TIMEOUT_SECONDS)
        print(f"http://127.0.0.1:{port}", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
