"""A threaded HTTP server on 127.0.0.1 for the fake sources: started, addressed, stopped."""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer:
    """One `ThreadingHTTPServer` serving a handler class from a daemon thread."""

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, handler: type[BaseHTTPRequestHandler], host: str, port: int = 0) -> int:
        """Serve on host:port (0 picks a free port); returns the port."""
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        # A short poll keeps shutdown quick: tests start and stop many servers.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self._server.server_address[1]

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the fake server is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def wait_for(addresses: list[str], timeout: float = 60.0) -> list[str]:
    """Wait until every `host:port` accepts connections; those that never did."""
    deadline = time.monotonic() + timeout
    waiting = list(addresses)
    while waiting and time.monotonic() < deadline:
        host, port = waiting[0].rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            waiting.pop(0)
        except OSError:
            time.sleep(0.2)
    return waiting


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.fakes.http --wait HOST:PORT ...`: block until the fakes listen."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.http")
    parser.add_argument("--wait", nargs="+", required=True, metavar="HOST:PORT")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    never = wait_for(args.wait, args.timeout)
    if never:
        print(f"nothing listens on {', '.join(never)} after {args.timeout:.0f} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
