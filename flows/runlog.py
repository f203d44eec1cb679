"""The lake's record of how runs ended and of the model registry's decisions.

    <pipeline_runs_prefix>/date=YYYY-MM-DD/<run id>.parquet               one object per run
    <model_promotions_prefix>/date=YYYY-MM-DD/<stamp>_<version>.parquet   one per decision

A run object has one row per step: the daily pipeline writes all its steps at the end of the
run; a flow run on its own (a deployment, `python -m flows train`) writes its single row from
a Prefect hook. Sub-flows write nothing: the run that called them reports them. One object
per run id under the day the run started, so runs of the same day never overwrite each other
and a rerun of a run id replaces only its own object. `load_staging` loads both prefixes like
any other source, and dbt builds the `pipeline_runs` and `model_promotions` marts from staging:
nothing here touches a table dbt reads.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from flows.backends import open_lake
from flows.lake import DAY, Lake, day_segment
from flows.settings import Settings, get_settings
from flows.staging import LakeSource, LoadResult
from flows.status import BackfillStatus, StepStatus
from flows.warehouse import TableSpec

if TYPE_CHECKING:
    from flows.pipeline import PipelineSummary

log = logging.getLogger(__name__)

# The dbt models that read the two sources: rebuilt at the end of a daily run, so the page
# shows the run that just ended rather than the one before.
HEALTH_MODELS = "path:models/staging/pipeline path:models/marts/pipeline"
# A step's message is the human summary of its result: long enough for a failure's first lines.
MESSAGE_CHARS = 2000

# Flows deployed on their own -> the name of the same work as a step of the daily pipeline.
FLOW_STEPS = {
    "ingest-odre": "odre",
    "ingest-weather": "weather",
    "audit-lake": "audit",
    "load-staging": "load",
    "transform": "transform",
    "forecast-predict": "forecast",
    "forecast-train": "train",
    "backfill": "backfill",
}

_DAY = {"day": "UTC day the run started (the partition)."}
_RECORDED = {"recorded_at": "When the lake object was written, UTC."}

RUNS = TableSpec(
    name="pipeline__runs",
    columns={
        "day": "date",
        "run_id": "string",
        "flow": "string",
        "step": "string",
        "status": "string",
        "started_at": "timestamp",
        "ended_at": "timestamp",
        "as_of": "date",
        "row_count": "int64",
        "day_partitions": "int64",
        "message": "string",
        "recorded_at": "timestamp",
    },
    partition_by="day",
    cluster_by=("step",),
    description="How each step of each run ended, from the run summaries in the lake.",
    column_descriptions={
        **_DAY,
        "run_id": "Prefect flow run id of the run that wrote the summary.",
        "flow": "Prefect flow of that run (daily-pipeline, or a flow run on its own).",
        "step": "Step: odre, weather, audit, load, transform, forecast, train or backfill.",
        "status": "ok, warning (finished with gaps, stale sources or missing days), failed or"
        " skipped (a step it needs failed).",
        "started_at": "When the step started, UTC (empty when skipped).",
        "ended_at": "When the step ended, UTC (empty when skipped).",
        "as_of": "Day the run worked for (its as_of or end parameter), if it has one.",
        "row_count": "Rows the step fetched, loaded, wrote or trained on, when it counts rows.",
        "day_partitions": "Day partitions the step replaced, when it replaces any.",
        "message": "The step's summary, or its error.",
        **_RECORDED,
    },
)

PROMOTIONS = TableSpec(
    name="pipeline__model_promotions",
    columns={
        "day": "date",
        "version": "string",
        "decided_at": "timestamp",
        "decision": "string",
        "promoted": "bool",
        "champion_before": "string",
        "challenger_mape": "float64",
        "champion_mape": "float64",
        "holdout_start": "date",
        "holdout_end": "date",
        "rule": "string",
        "reason": "string",
        "recorded_at": "timestamp",
    },
    partition_by="day",
    description="Every champion/challenger decision of the model registry, as published.",
    column_descriptions={
        "day": "UTC day of the decision (the partition).",
        "version": "Registry version of the challenger the decision is about.",
        "decided_at": "When the decision was taken, UTC.",
        "decision": "promote (the challenger became champion), keep (the champion stayed, the"
        " challenger scored worse) or refuse (the challenger could not be scored).",
        "promoted": "Whether the challenger became champion.",
        "champion_before": "The champion when the decision was taken (empty for the first).",
        "challenger_mape": "Challenger's hourly MAPE on the held-out weeks, %.",
        "champion_mape": "Champion's hourly MAPE on the same weeks, % (empty when unusable).",
        "holdout_start": "First issue day of the held-out weeks both were scored on.",
        "holdout_end": "Last issue day of the held-out weeks.",
        "rule": "The promotion rule applied.",
        "reason": "Why the rule decided so.",
        **_RECORDED,
    },
)


RECORDS = (RUNS.name, PROMOTIONS.name)


def lake_sources(settings: Settings | None = None) -> list[LakeSource]:
    """The run summaries and the published promotion decisions, for the staging load."""
    settings = settings or get_settings()
    return [
        LakeSource(f"{settings.pipeline_runs_prefix.strip('/')}/", DAY, RUNS),
        LakeSource(f"{settings.model_promotions_prefix.strip('/')}/", DAY, PROMOTIONS),
    ]


def partition_key(prefix: str, day: date, name: str) -> str:
    """`<prefix>/date=<day>/<name>.parquet`."""
    return f"{prefix.strip('/')}/{day_segment(day)}/{name}.parquet"


# --- what a step's result says ---------------------------------------------------------------


@dataclass
class StepRun:
    """One step of one run, as recorded."""

    step: str
    status: StepStatus
    started_at: datetime | None
    ended_at: datetime | None
    message: str = ""
    rows: int | None = None
    day_partitions: int | None = None


def _status_rows(result: list) -> bool:
    return bool(result) and all(hasattr(r, "status") and hasattr(r, "day") for r in result)


STALE = "stale source: "
UNCHANGED = "nothing changed"  # how a step skipped for want of new data starts its detail
NOTHING_LOADED = f"{UNCHANGED}: no lake partition is new or different since the last load"


def data_changes(results: list[LoadResult]) -> dict[str, int]:
    """Day partitions replaced per staging table, the records of runs and promotions left
    out: every run writes one, so they alone are no sign that any data changed (the health
    marts that read them are rebuilt on their own)."""
    return {r.table: len(r.days) for r in results if r.days and r.table not in RECORDS}


def _is_load(result: Any) -> bool:
    return (
        isinstance(result, list) and bool(result) and all(isinstance(r, LoadResult) for r in result)
    )


def warnings_of(result: Any) -> list[str]:
    """What a finished step reports as not quite right: weather gaps, stale sources, missing
    days, a load that found nothing new, source schema drift."""
    found: list[str] = []
    if _is_load(result) and not data_changes(result):
        found.append(NOTHING_LOADED)
    found += [f"weather gap: {g}" for g in getattr(result, "gaps", None) or []]
    found += list(getattr(result, "lake_problems", None) or [])
    # A result's own warnings, already sentences (an ODRÉ answer that broke its schema).
    found += [w for w in getattr(result, "warnings", None) or [] if isinstance(w, str)]
    found += [f"{STALE}{s}" for s in getattr(result, "stale_sources", None) or []]
    if getattr(result, "tests_warned", 0):
        found.append(f"{result.tests_warned} dbt tests warned")
    if isinstance(result, list) and _status_rows(result):
        found += [
            f"{r.day} {r.product}: missing" for r in result if r.status == BackfillStatus.MISSING
        ]
    return found


def counts_of(result: Any) -> tuple[int | None, int | None]:
    """(rows, day partitions) a step's result counts, None for what it does not count."""
    if _is_load(result):
        return sum(r.rows for r in result), sum(len(r.days) for r in result)
    datasets = getattr(result, "datasets", None)
    if datasets is not None and hasattr(result, "rows_fetched"):  # an ODRÉ ingestion
        return result.rows_fetched, sum(len(d.days_written) for d in datasets)
    runs = getattr(result, "runs", None)
    if runs is not None and hasattr(result, "gaps"):  # the weather flow: rows curated
        return sum(getattr(r, "rows", 0) for r in runs), None
    for name in ("rows", "training_rows"):
        value = getattr(result, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None
    return None, None


def describe(result: Any) -> str:
    """A short human summary of what a step returned."""
    if result is None:
        return ""
    if hasattr(result, "describe") and callable(result.describe):
        return str(result.describe())
    if _is_load(result):
        # The tables that changed; one line when none did (the run records alone do not count).
        if not data_changes(result):
            return NOTHING_LOADED
        return "\n".join(
            f"{r.table}: {len(r.days)} days, {r.rows} rows ({r.days[0]}..{r.days[-1]})"
            + (f", {len(r.removed)} emptied (gone from the lake)" if r.removed else "")
            for r in result
            if r.days
        )
    if dataclasses.is_dataclass(result):
        return str(dataclasses.asdict(result))[:500]
    return str(result)[:500]


def message_of(result: Any) -> str:
    """The step's human summary (rows per status for a backfill's day x product rows)."""
    if isinstance(result, list) and _status_rows(result):
        statuses = Counter(r.status for r in result)
        return f"{len(result)} day x product rows: " + ", ".join(
            f"{n} {s}" for s, n in sorted(statuses.items())
        )
    return describe(result)


def finished(
    step: str, result: Any, started: datetime | None, ended: datetime | None, message: str = ""
) -> StepRun:
    """A step that returned: ok, or warning when its result reports gaps or stale sources."""
    warnings = warnings_of(result)
    rows, days = counts_of(result)
    text = message or message_of(result)
    # Each warning once: those the summary already says (a stale source) are not repeated.
    unsaid = [w for w in warnings if w.removeprefix(STALE) not in text]
    if unsaid:
        text = "\n".join([text, *unsaid]).strip()
    return StepRun(
        step, StepStatus.WARNING if warnings else StepStatus.OK, started, ended, text, rows, days
    )


# The name of the Completed-type state a flow run ends in when its step ended with a warning:
# it did its work with partial data (the next run fetches the gaps), so what follows it (the
# staging load, dbt) still runs; Prefect shows the name, and emits `prefect.flow-run.Warning`.
WARNING_STATE = "Warning"


def flow_state(result: Any, warnings: list[str] | None = None) -> Any:
    """What a flow returns so that its Prefect state tells the step's status: the result
    itself when ok, a Completed state named Warning (its message the warnings, by default
    those its result reports) otherwise.

    Either way the flow's caller gets the result: Prefect unwraps a Completed state's data.
    """
    from prefect.states import Completed

    warnings = warnings_of(result) if warnings is None else warnings
    if not warnings:
        return result
    return Completed(name=WARNING_STATE, message="; ".join(warnings)[:MESSAGE_CHARS], data=result)


# --- writing -------------------------------------------------------------------------------


def run_frame(run_id: str, flow: str, as_of: date | None, steps: list[StepRun]) -> pd.DataFrame:
    """The rows of one run object."""
    recorded = datetime.now(UTC)
    first = min((s.started_at for s in steps if s.started_at), default=recorded)
    return RUNS.conform(
        pd.DataFrame(
            [
                {
                    "day": first.astimezone(UTC).date(),
                    "run_id": run_id,
                    "flow": flow,
                    "step": s.step,
                    "status": s.status,
                    "started_at": s.started_at,
                    "ended_at": s.ended_at,
                    "as_of": as_of,
                    "row_count": s.rows,
                    "day_partitions": s.day_partitions,
                    "message": s.message[:MESSAGE_CHARS],
                    "recorded_at": recorded,
                }
                for s in steps
            ]
        )
    )


def write_run(
    lake: Lake, prefix: str, run_id: str, flow: str, as_of: date | None, steps: list[StepRun]
) -> str:
    """Write one run's steps as its own lake object; returns the key."""
    frame = run_frame(run_id, flow, as_of, steps)
    key = partition_key(prefix, frame["day"].iloc[0], run_id)
    lake.write_parquet(key, frame)
    return key


def current_run_id() -> str:
    """The Prefect flow run id, or a fresh one outside a flow run."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is not None and context.flow_run is not None:
        return str(context.flow_run.id)
    return str(uuid.uuid4())


# --- the daily pipeline ------------------------------------------------------------------------


class StepClock:
    """Wraps the pipeline's step functions to note when each started and ended."""

    def __init__(self, functions: dict[str, Callable[[], Any]]) -> None:
        self.times: dict[str, tuple[datetime, datetime]] = {}
        self.functions = {step: self._timed(step, fn) for step, fn in functions.items()}

    def _timed(self, step: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            started = datetime.now(UTC)
            try:
                return fn()
            finally:
                self.times[step] = (started, datetime.now(UTC))

        return run


def pipeline_steps(summary: PipelineSummary, clock: StepClock) -> list[StepRun]:
    """The summary's outcomes with their times, counts and warnings."""
    steps = []
    for o in summary.outcomes:
        started, ended = clock.times.get(o.step, (None, None))
        if o.status in (StepStatus.OK, StepStatus.WARNING):
            steps.append(finished(o.step, o.result, started, ended, o.detail))
        else:
            steps.append(StepRun(o.step, o.status, started, ended, o.detail))
    return steps


def publish_pipeline(
    summary: PipelineSummary, clock: StepClock, flow: str = "daily-pipeline"
) -> bool:
    """Write the run's summary to the lake; True when the health marts should be refreshed
    (the summary was written and this run's transform built, or had nothing new to build).

    Never fails the run: a summary that cannot be written is logged and the run goes on.
    """
    settings = get_settings()
    try:
        key = write_run(
            open_lake(settings),
            settings.pipeline_runs_prefix,
            current_run_id(),
            flow,
            summary.as_of,
            pipeline_steps(summary, clock),
        )
        log.info("run summary written to %s", key)
    except Exception as exc:  # noqa: BLE001 - the record of a run must not fail the run
        log.warning("run summary not published: %s", exc)
        return False
    # Sound: dbt built (stale sources or not), or had nothing new to build.
    return any(
        o.step == "transform"
        and (
            o.status in (StepStatus.OK, StepStatus.WARNING)
            or (o.status == StepStatus.SKIPPED and o.detail.startswith(UNCHANGED))
        )
        for o in summary.outcomes
    )


# --- flows run on their own --------------------------------------------------------------------


def _as_of(parameters: dict[str, Any]) -> date | None:
    value = parameters.get("as_of") or parameters.get("end")
    if value is None:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _result(state: Any) -> Any:
    # A result kept elsewhere (persisted by a worker) may not be readable here: the run's
    # status still counts, without its counts.
    try:
        return state.result(raise_on_failure=False)
    except Exception:  # noqa: BLE001
        return None


def record_flow_run(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect hook (on_completion, on_failure): write a flow run's outcome as a one-step run.

    A sub-flow writes nothing: the daily pipeline or the backfill that called it reports it.
    """
    if getattr(flow_run, "parent_task_run_id", None) is not None:
        return
    started = time.monotonic()
    try:
        settings = get_settings()
        step = FLOW_STEPS.get(flow.name, flow.name)
        begun = flow_run.start_time or datetime.now(UTC)
        ended = datetime.now(UTC)
        if state.is_completed():
            outcome = finished(step, _result(state), begun, ended)
        else:
            outcome = StepRun(
                step, StepStatus.FAILED, begun, ended, str(state.message or state.name)
            )
        key = write_run(
            open_lake(settings),
            settings.pipeline_runs_prefix,
            str(flow_run.id),
            flow.name,
            _as_of(dict(flow_run.parameters or {})),
            [outcome],
        )
        log.info("run summary written to %s in %.2f s", key, time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - a hook must never turn a run's outcome around
        log.warning("run summary of %s not published: %s", getattr(flow, "name", flow), exc)


# Passed to @flow: `@flow(name=..., on_completion=RECORD, on_failure=RECORD)`.
RECORD = [record_flow_run]
