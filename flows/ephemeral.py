"""Prefect's temporary server dies with the command that started it, even by `kill -9`.

With no `PREFECT_API_URL`, Prefect starts a server process on the first API call and stops it
at exit (atexit). A process killed outright runs no atexit: the server was left running,
adopted by init. Here it is started up front, from the main thread, with the kernel asked to
send it SIGTERM when its parent dies (Linux's PR_SET_PDEATHSIG, which follows the thread
that forked: hence the main thread, which lives as long as the process). Prefect then finds
it running and uses it as its own.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1


def _dies_with(parent: int) -> Callable[[], None]:
    """A preexec function: SIGTERM this child when `parent` dies (and now, if it already has)."""
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork, only called after it

    def arm() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return arm


def uses_temporary_server() -> bool:
    """Whether Prefect will start its temporary server (no API URL, ephemeral mode allowed)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    return not PREFECT_API_URL.value() and bool(PREFECT_SERVER_EPHEMERAL_ENABLED.value())


def start_tied_server() -> Any | None:
    """Start Prefect's temporary server, tied to this process's life; None when Prefect uses
    a server of its own (PREFECT_API_URL) or the platform has no parent-death signal."""
    if not sys.platform.startswith("linux") or not uses_temporary_server():
        return None
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("start_tied_server must run on the main thread (PR_SET_PDEATHSIG)")
    from prefect.server.api import server as prefect_server

    popen = subprocess.Popen
    arm = _dies_with(os.getpid())

    def tied_popen(*args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
        return popen(*args, preexec_fn=arm, **kwargs)

    # Only the server's own Popen call is changed, and only while it starts (no other thread
    # runs yet): Prefect's class is the one its clients look up, keyed by port None.
    server = prefect_server.SubprocessASGIServer()
    subprocess.Popen = tied_popen  # type: ignore[misc]
    try:
        server.start()
    finally:
        subprocess.Popen = popen  # type: ignore[misc]
    return server
