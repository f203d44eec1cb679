"""An unreachable host is not retried by Prefect either: each retry would wait, then fail alike."""

from __future__ import annotations

from prefect.states import Completed, Failed

from flows.errors import SourceUnreachable, TransientHTTPError
from flows.net import retry_unless_unreachable


def test_a_task_retries_a_transient_failure_but_not_an_unreachable_host() -> None:
    unreachable = Failed(data=SourceUnreachable("Météo-France at x.invalid is unreachable"))
    assert retry_unless_unreachable(None, None, unreachable) is False
    assert retry_unless_unreachable(None, None, Failed(data=TransientHTTPError("HTTP 503")))
    assert retry_unless_unreachable(None, None, Completed(data=1)) is False
