"""Flow runs are named for their work and days; the project's loggers reach the console and
Prefect's run logs."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from flows.errors import SourceUnreachable
from flows.runs import day_range, name_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("start", "end", "text"),
    [
        (date(2025, 3, 1), date(2025, 3, 7), "2025-03-01..07"),
        (date(2025, 3, 30), date(2025, 4, 2), "2025-03-30..04-02"),
        (date(2024, 12, 30), date(2025, 1, 2), "2024-12-30..2025-01-02"),
        (date(2025, 3, 31), date(2025, 3, 31), "2025-03-31"),
    ],
)
def test_day_ranges_say_only_what_changes(start: date, end: date, text: str) -> None:
    assert day_range(start, end) == text


def test_names_come_from_the_days_a_run_works_on(settings) -> None:
    assert name_for("backfill", {"start": "2025-03-01", "end": date(2025, 3, 7)}) == (
        "backfill-2025-03-01..07"
    )
    assert name_for("daily", {"as_of": date(2025, 3, 31), "steps": None}) == "daily-2025-03-31"
    assert name_for("odre", {"as_of": None, "start": None, "end": None}) == (
        f"odre-{settings.today()}"
    )


def test_flow_runs_carry_their_names_and_the_project_logs(prefect_server, monkeypatch) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    from flows import pipeline
    from flows.runs import run_name

    def step() -> str:
        logging.getLogger("flows.forecast.backtest").info("backtest block 3 of 10")
        return "done"

    monkeypatch.setattr(pipeline, "_step_functions", lambda as_of, *_: {"odre": step})
    daily = pipeline.daily_pipeline(as_of=date(2025, 3, 31), steps=["odre"], return_state=True)

    @flow(flow_run_name=run_name("backfill"))
    def backfill_like(start: date, end: date) -> None:
        return None

    backfill = backfill_like(date(2025, 3, 1), date(2025, 3, 7), return_state=True)
    APILogHandler().flush()  # logs are sent in batches
    with get_client(sync_client=True) as client:
        runs = {s: client.read_flow_run(s.state_details.flow_run_id) for s in (daily, backfill)}
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[runs[daily].id]))
        )
    assert runs[daily].name == "daily-2025-03-31"
    assert runs[backfill].name == "backfill-2025-03-01..07"
    assert "backtest block 3 of 10" in [log.message for log in logs]


def test_project_log_lines_reach_the_console() -> None:
    code = (
        "import logging; import flows.runs as r; r.configure_logging(console=True);"
        "logging.getLogger('flows.forecast.backtest').info('backtest block 3 of 10')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "| INFO    | flows.forecast.backtest - backtest block 3 of 10" in done.stderr
    assert "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW" not in done.stderr  # no run: no API


def test_the_console_leaves_out_task_runs_routine_lines_only() -> None:
    from prefect.logging.handlers import PrefectConsoleHandler

    from flows.runs import configure_logging

    configure_logging(console=True)
    configure_logging(console=True)  # once is enough: no second filter, no second handler
    (console,) = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    assert len(console.filters) == 1
    assert len(logging.getLogger("flows").handlers) == 1

    def record(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "m", None, None)

    assert not console.filter(record("prefect.task_runs", logging.INFO))
    assert console.filter(record("prefect.task_runs", logging.WARNING))
    assert console.filter(record("prefect.flow_runs", logging.INFO))
    assert console.filter(record("flows.forecast.backtest", logging.INFO))

    def failure(exc: Exception) -> logging.LogRecord:
        try:
            raise exc
        except Exception:
            return logging.LogRecord(
                "prefect.flow_runs", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
            )

    expected = failure(SourceUnreachable("ODRÉ at odre.invalid is unreachable"))
    assert console.filter(expected) and expected.exc_info is None  # one line, no traceback
    bug = failure(KeyError("x"))
    assert console.filter(bug) and bug.exc_info is not None
