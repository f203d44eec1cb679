"""An ODRÉ Explore v2.1 exports client: one date window of one dataset as Parquet bytes.

Retries live here, not on the Prefect task: only the HTTP layer knows a 429's `reset_time`,
and retrying a task would multiply attempts (task retries x HTTP attempts) and re-land bodies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from flows.errors import OdreError
from flows.net import (
    UNREACHABLE_PAUSE,
    gave_up_on_unreachable,
    unreachable,
    unreachable_reason,
)
from flows.odre.schemas import Dataset
from flows.settings import Settings

# We always ask for UTC instants and field names, never French display labels.
TIMEZONE = "UTC"
EXPORT_FORMAT = "parquet"
# A Parquet file starts and ends with these bytes: a 200 body without the end was cut short.
PARQUET_MAGIC = b"PAR1"
# Attempts in all for a window whose 200 bodies keep arriving cut short: one more, then the
# cause is more likely the source's file than the connection.
TRUNCATED_ATTEMPTS = 2

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class Window:
    """A half-open window of whole UTC days, [start, end)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty window [{self.start}, {self.end})")

    def __str__(self) -> str:
        return f"[{self.start}, {self.end})"

    @property
    def slug(self) -> str:
        """The window as it appears in landing object names."""
        return f"{self.start.isoformat()}_{self.end.isoformat()}"

    def days(self) -> list[date]:
        """Every day of the window."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]

    def where(self, field: str) -> str:
        """The ODSQL filter selecting this window on a date or timestamp field."""
        return (
            f"{field} >= date'{self.start.isoformat()}' AND {field} < date'{self.end.isoformat()}'"
        )

    def chunks(self, days: int) -> list[Window]:
        """This window cut into consecutive windows of at most `days` days."""
        out, start = [], self.start
        while start < self.end:
            end = min(start + timedelta(days=days), self.end)
            out.append(Window(start, end))
            start = end
        return out


class _Transient(Exception):
    """A failure worth another attempt (429, 5xx, timeout, broken connection)."""

    def __init__(self, detail: str, wait: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.wait = wait  # seconds the server asked us to wait, if it said


class _Truncated(_Transient):
    """A 200 whose Parquet body lacks its end: worth one more attempt, not a full series."""


def _truncated_twice(state: RetryCallState) -> bool:
    """A tenacity stop condition: the body came cut short TRUNCATED_ATTEMPTS times."""
    exc = state.outcome.exception() if state.outcome else None
    return isinstance(exc, _Truncated) and state.attempt_number >= TRUNCATED_ATTEMPTS


def _parse_reset(value: object, now: float) -> float | None:
    """Seconds until a reset given as ISO time, epoch seconds or a delay; None if unreadable."""
    if value is None:
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = float(value)
        return number - now if number > 1e9 else number
    try:
        stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp() - now


def reset_wait(response: httpx.Response, now: float) -> float | None:
    """How long a 429 asks us to wait: the later of the body's reset_time and X-RateLimit-Reset."""
    waits = [_parse_reset(response.headers.get("X-RateLimit-Reset"), now)]
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        waits.append(_parse_reset(body.get("reset_time"), now))
    known = [max(w, 0.0) for w in waits if w is not None]
    return max(known) if known else None


class OdreClient:
    """Fetches export windows over one pooled HTTP connection."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        headers = {"User-Agent": "aggregat (+https://github.com/aggregat)"}
        if settings.odre_api_key is not None:
            headers["Authorization"] = f"Apikey {settings.odre_api_key.get_secret_value()}"
        self._http = httpx.Client(
            base_url=settings.odre_base_url.rstrip("/"),
            headers=headers,
            timeout=settings.odre_timeout_seconds,
            transport=transport,
            follow_redirects=True,
        )
        self.requests = 0  # HTTP requests sent, for summaries and benchmarks

    def __enter__(self) -> OdreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def export_params(dataset: Dataset, window: Window) -> dict[str, str]:
        """Query parameters of one export window."""
        return {
            "where": window.where(dataset.time_field),
            "order_by": dataset.time_field,
            "timezone": TIMEZONE,
            "use_labels": "false",
        }

    def export(self, dataset: Dataset, window: Window) -> bytes:
        """The raw Parquet export of one window, after retries; OdreError when it gives up."""
        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.settings.odre_max_attempts))
            | gave_up_on_unreachable
            | _truncated_twice,
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=_log_retry,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._get_once, dataset, window)
        except _Transient as exc:
            if unreachable_reason(exc):
                raise unreachable(
                    "ODRÉ", self.settings.odre_base_url, "AGGREGAT_ODRE_BASE_URL", exc
                ) from exc
            raise OdreError(
                f"ODRÉ {dataset.id} window {window}: gave up after "
                f"{retrying.statistics.get('attempt_number')} attempts; last: {exc.detail}"
            ) from exc

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.wait is not None:
            return exc.wait
        if unreachable_reason(exc):
            return UNREACHABLE_PAUSE
        backoff = self.settings.odre_backoff_seconds * 2 ** (state.attempt_number - 1)
        return min(backoff, self.settings.odre_max_wait_seconds)

    def _get_once(self, dataset: Dataset, window: Window) -> bytes:
        path = f"/catalog/datasets/{dataset.id}/exports/{EXPORT_FORMAT}"
        self.requests += 1
        try:
            response = self._http.get(path, params=self.export_params(dataset, window))
        except httpx.TimeoutException as exc:
            raise _Transient(
                f"timeout after {self.settings.odre_timeout_seconds}s ({exc})"
            ) from exc
        except httpx.TransportError as exc:
            raise _Transient(f"connection error: {exc!r}") from exc
        status = response.status_code
        if status == 200:
            body = response.content
            if not body.startswith(PARQUET_MAGIC) or body.endswith(PARQUET_MAGIC):
                return body  # whole, or not Parquet at all (parsing says so)
            raise _Truncated(f"truncated Parquet body ({len(body)} bytes, no footer)")
        detail = f"HTTP {status}: {response.text[:200]!r}"
        if status == 429:
            wait = reset_wait(response, time.time())
            if wait is not None and wait > self.settings.odre_max_wait_seconds:
                raise OdreError(
                    f"ODRÉ {dataset.id} window {window}: quota exhausted (HTTP 429), resets in "
                    f"{wait:.0f}s, beyond odre_max_wait_seconds={self.settings.odre_max_wait_seconds}"
                )
            raise _Transient(detail, wait=wait)
        if status >= 500 or status == 408:
            raise _Transient(detail)
        raise OdreError(f"ODRÉ {dataset.id} window {window}: {detail}")


def _log_retry(state: RetryCallState) -> None:
    """A tenacity before_sleep hook: each retry and 429 wait in the log, reason and delay."""
    dataset, window = state.args
    exc = state.outcome.exception() if state.outcome else None
    delay = state.next_action.sleep if state.next_action else 0.0
    why = exc.detail if isinstance(exc, _Transient) else repr(exc)
    after = " (the quota reset the server announced)" if getattr(exc, "wait", None) else ""
    log.warning(
        "ODRÉ %s window %s: attempt %d failed (%s); next attempt in %.2fs%s",
        dataset.id,
        window,
        state.attempt_number,
        why,
        delay,
        after,
    )
