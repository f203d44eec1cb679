"""How flow runs present themselves: names that say what they do, and one logging setup.

A run is named for its work and its days (`daily-2025-03-31`, `backfill-2025-03-01..07`)
rather than Prefect's random pair of words, so a list of runs reads as a log of the work.
The project's own loggers (`flows.*`, e.g. the backtest's progress) are plain stdlib loggers;
`configure_logging` sends them to the console and, inside a run, to Prefect, once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from flows.errors import AggregatError
from flows.settings import get_settings

PROJECT_LOGGER = "flows"


def day_range(start: date, end: date) -> str:
    """`2025-03-01..07`, `2025-03-30..04-02`, `2024-12-30..2025-01-02`; one day alone."""
    if start == end:
        return start.isoformat()
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.isoformat()}..{end:%d}"
    if start.year == end.year:
        return f"{start.isoformat()}..{end:%m-%d}"
    return f"{start.isoformat()}..{end.isoformat()}"


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def name_for(kind: str, parameters: dict[str, Any]) -> str:
    """`<kind>-<days>`: the start..end range when given, else as_of, else the run's today."""
    start, end = parameters.get("start"), parameters.get("end")
    if start is not None and end is not None:
        return f"{kind}-{day_range(_day(start), _day(end))}"
    as_of = parameters.get("as_of")
    return f"{kind}-{_day(as_of) if as_of is not None else get_settings().today()}"


def run_name(kind: str) -> Callable[[], str]:
    """A `flow_run_name` for @flow: the run's name from its own parameters."""

    def name() -> str:
        from prefect.runtime import flow_run

        return name_for(kind, dict(flow_run.parameters))

    return name


class _TaskRunChatter(logging.Filter):
    """Drops the console's INFO lines of task runs ("Finished in state Completed()"), one per
    task and hundreds per run; they still reach Prefect, and warnings still show. An expected
    failure (an AggregatError, whose message names the thing and the fix) shows as its one
    line: the traceback Prefect logs with it stays in Prefect's run logs; a bug keeps its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("prefect.task_runs") and record.levelno < logging.WARNING:
            return False
        if record.exc_info and isinstance(record.exc_info[1], AggregatError):
            # The console handler runs last (the root's), after the run-log handlers.
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(console: bool = False) -> None:
    """Once per process: `flows.*` loggers at INFO, on the console and, inside a flow or task
    run, in Prefect's run logs; with `console`, task runs' routine lines left off the console.

    Prefect sets up the root logger (its console handler, WARNING); it leaves other libraries'
    loggers at that level, so without this the project's own INFO lines were never shown.
    """
    import prefect.main  # noqa: F401 - sets up Prefect's logging first (the root's handler)
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.logging.handlers import APILogHandler, PrefectConsoleHandler

    class RunLogHandler(APILogHandler):
        """Prefect's run-log handler, silent outside a run (where Prefect's own warns)."""

        def emit(self, record: logging.LogRecord) -> None:
            if FlowRunContext.get() is not None or TaskRunContext.get() is not None:
                super().emit(record)

    logger = logging.getLogger(PROJECT_LOGGER)
    logger.setLevel(logging.INFO)
    if not any(isinstance(h, APILogHandler) for h in logger.handlers):
        logger.addHandler(RunLogHandler())
    if console:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, PrefectConsoleHandler) and not any(
                isinstance(f, _TaskRunChatter) for f in handler.filters
            ):
                handler.addFilter(_TaskRunChatter())


# Every flow module imports this one for its run names: whichever entrypoint a worker or the
# command line loads, the project's loggers are set up before its first run.
configure_logging()
