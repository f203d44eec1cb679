"""What an HTTP failure means for a source: a host that cannot be reached is not transient.

A name that does not resolve or a refused connection fails the same way on every attempt, so
a source client tries it once more after a short pause (a blip in the resolver) and then
stops with a message that names the host and the setting pointing at it, instead of spending
minutes on backoffs meant for busy servers.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState

from flows.errors import SourceUnreachable

# How many times an unreachable host is tried in all, and the pause in between (seconds).
UNREACHABLE_ATTEMPTS = 2
UNREACHABLE_PAUSE = 0.5
DEMO_HINT = "with no internet, `make demo` runs the pipeline against fake sources (README)"


def _connect_error(exc: BaseException | None) -> httpx.ConnectError | None:
    while exc is not None and not isinstance(exc, httpx.ConnectError):
        exc = exc.__cause__
    return exc


def unreachable_reason(exc: BaseException | None) -> str | None:
    """'no such host' or 'connection refused' when the error (or what caused it) is a connect
    error saying the host cannot be reached at all."""
    exc = _connect_error(exc)
    if exc is None:
        return None
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return "no such host"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        seen = seen.__cause__ or seen.__context__
    text = str(exc).lower()
    if "name or service not known" in text or "name resolution" in text or "nodename" in text:
        return "no such host"
    if "connection refused" in text:
        return "connection refused"
    return None


def gave_up_on_unreachable(state: RetryCallState) -> bool:
    """A tenacity stop condition: the last attempt found the host unreachable, twice now."""
    exc = state.outcome.exception() if state.outcome else None
    return unreachable_reason(exc) is not None and state.attempt_number >= UNREACHABLE_ATTEMPTS


def retry_unless_unreachable(task: object, task_run: object, state: Any) -> bool:
    """A Prefect `retry_condition_fn`: retry a failed task unless its source was unreachable
    (it would be just as unreachable on each retry, after each retry delay)."""
    try:
        state.result()
    except SourceUnreachable:
        return False
    except Exception:  # noqa: BLE001 - any other failure may be transient
        return True
    return False


def unreachable(source: str, url: str, setting: str, exc: BaseException) -> SourceUnreachable:
    """The error to raise once an unreachable host has had its second chance."""
    host = urlsplit(url).netloc or url
    return SourceUnreachable(
        f"{source} at {host} is unreachable ({unreachable_reason(exc)}): check the network or"
        f" the host in {setting}; {DEMO_HINT}"
    )
