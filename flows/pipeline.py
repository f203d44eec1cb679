"""The daily pipeline, the staging load and the backfill: flows that chain the others.

    odre ─┐
          ├─► audit ─► load ─► transform ─► forecast
 weather ─┘

The audit (flows/audit.py) checks the lake for missing and unreadable days before the load;
a failed audit does not stop the load.

A step that fails does not stop the steps that do not depend on it; the run ends with a
summary and fails if any step failed.
"""

from __future__ import annotations

import dataclasses
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed
from tqdm import tqdm

from flows import runlog
from flows.backends import open_lake, open_warehouse, warehouse_location
from flows.errors import BackfillIncomplete, PipelineFailed, SourceUnreachable
from flows.lake import DAY, partition_day
from flows.runs import run_name
from flows.settings import Settings, get_settings
from flows.sources import lake_sources
from flows.staging import (
    LakeSource,
    LoadResult,
    load_changed,
    load_each,
    raise_failures,
    retry_transient,
)
from flows.status import BackfillRow, BackfillStatus, StepStatus

STEPS: tuple[str, ...] = ("odre", "weather", "audit", "load", "transform", "forecast")
# A step is skipped when the step it needs failed: the others still run.
NEEDS: dict[str, str] = {"transform": "load", "forecast": "transform"}
# The steps that fetch from outside; when none reached its source there is nothing to load.
SOURCE_STEPS = ("odre", "weather")
# Skipped when the load found no lake partition changed (their inputs are as they were).
UNCHANGED_SKIPS = ("transform", "forecast")
# What the forecast step rebuilds once its rows are in staging: every model downstream of them.
FORECAST_MODELS = "stg_forecast__consumption_hourly+ stg_forecast__consumption_daily+"


@dataclass
class StepOutcome:
    """How one step of a run ended."""

    step: str
    status: StepStatus
    detail: str = ""
    result: Any = None
    error: Exception | None = None


@dataclass
class PipelineSummary:
    """The outcome of a daily run, step by step."""

    as_of: date
    outcomes: list[StepOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [o.step for o in self.outcomes if o.status == StepStatus.FAILED]

    @property
    def reached_no_source(self) -> bool:
        """Every source step that ran found its host unreachable (no network, a wrong URL)."""
        sources = [o for o in self.outcomes if o.step in SOURCE_STEPS]
        return bool(sources) and all(isinstance(o.error, SourceUnreachable) for o in sources)

    @property
    def warned(self) -> list[str]:
        return [o.step for o in self.outcomes if o.status == StepStatus.WARNING]

    def markdown(self) -> str:
        lines = [f"# aggregat daily run as of {self.as_of}", "", "| step | status | detail |"]
        lines.append("|---|---|---|")
        for o in self.outcomes:
            detail = o.detail.replace("\n", "<br>").replace("|", "\\|")
            lines.append(f"| {o.step} | {o.status} | {detail} |")
        return "\n".join(lines)


# Never cached: whether a load has work depends on the lake, not on the arguments.
@task(retries=2, retry_delay_seconds=10, retry_condition_fn=retry_transient, cache_policy=NO_CACHE)
def load_source(source: LakeSource, since: date | None) -> LoadResult:
    """Replace the staging day partitions of one source whose lake objects changed."""
    settings = get_settings()
    warehouse = open_warehouse(settings)
    try:
        return load_changed(
            open_lake(settings), warehouse, settings.staging_dataset, source, since=since
        )
    finally:
        warehouse.close()


@flow(
    name="load-staging",
    flow_run_name=run_name("load"),
    on_completion=runlog.RECORD,
    on_failure=runlog.RECORD,
)
def load_staging(since: date | None = None) -> list[LoadResult]:
    """Load into warehouse staging every lake partition that changed since its last load."""
    logger = get_run_logger()
    results = load_each(lake_sources(), lambda source: load_source(source, since))
    for r in results:
        logger.info("%s: %d day partitions replaced, %d rows", r.table, len(r.days), r.rows)
    create_markdown_artifact(
        key="load-staging", markdown=load_markdown(results), description="Partitions replaced"
    )
    announce_load(results)
    raise_failures(results)
    return runlog.flow_state(results)


STAGING_LOADED = "aggregat.staging.loaded"


def announce_load(results: list[LoadResult]) -> None:
    """Tell the transform deployment that staging changed (its trigger waits for this event).

    Only a load run of a deployment announces: inside `daily_pipeline` the transform step
    follows anyway, and a second dbt build would collide with it.
    """
    from prefect.context import FlowRunContext
    from prefect.events import emit_event

    context = FlowRunContext.get()
    run = context.flow_run if context else None
    # New run summaries alone are no reason for a dbt build: every run writes one, so each
    # load would otherwise trigger one. They reach their mart with the next build.
    changed = runlog.data_changes(results)
    if not changed or run is None or run.deployment_id is None or run.parent_task_run_id:
        return
    emit_event(
        event=STAGING_LOADED,
        resource={"prefect.resource.id": f"aggregat.warehouse.{get_settings().env}"},
        payload={"day_partitions": changed},
    )


def load_markdown(results: list[LoadResult]) -> str:
    """The staging tables and the day partitions a load replaced."""
    lines = ["# Staging load", "", "| table | days replaced | rows | days |", "|---|---|---|---|"]
    for r in results:
        days = ", ".join(d.isoformat() for d in r.days[:31])
        more = f" … and {len(r.days) - 31} more" if len(r.days) > 31 else ""
        lines.append(f"| {r.table} | {len(r.days)} | {r.rows} | {days}{more} |")
    failures = [line for r in results for line in r.failures()]
    lines += ["", "## Not loaded", "", *(f"- {line}" for line in failures)] if failures else []
    return "\n".join(lines)


def refresh_health_marts(settings: Settings) -> list[LoadResult]:
    """Load the run and promotion records into staging and rebuild only their marts."""
    from flows.transform import transform

    loads = [load_source(source, None) for source in runlog.lake_sources(settings)]
    transform(select=runlog.HEALTH_MODELS, freshness=False)
    return loads


def _step_functions(as_of: date, full_refresh: bool = False) -> dict[str, Callable[[], Any]]:
    # Imported when run, so one broken part cannot stop the others from importing.
    def odre() -> Any:
        from flows.odre.flow import ingest_odre

        return ingest_odre(as_of=as_of)

    def weather() -> Any:
        from flows.meteofrance.flow import ingest_weather

        return ingest_weather(as_of=as_of)

    loads: list[LoadResult] = []

    def audit() -> Any:
        from flows.audit import audit_lake

        return audit_lake(as_of=as_of)

    def load() -> Any:
        results = load_staging()
        loads.extend(results)
        return results

    def transform() -> Any:
        from flows.transform import transform as dbt_build

        # Days emptied in staging leave no row to tell an incremental model which months
        # changed: rebuild them all, so the marts still equal a rebuild.
        return dbt_build(full_refresh=full_refresh or any(r.removed for r in loads))

    def forecast() -> Any:
        from flows.forecast.flow import predict
        from flows.forecast.tables import lake_sources as forecast_sources
        from flows.transform import transform as dbt_build

        result = predict(as_of=as_of)
        # The rows went to the lake like any source's: load them, then build what reads them.
        raise_failures([load_source(source, as_of) for source in forecast_sources()])
        dbt_build(select=FORECAST_MODELS, freshness=False)
        return result

    return {
        "odre": odre,
        "weather": weather,
        "audit": audit,
        "load": load,
        "transform": transform,
        "forecast": forecast,
    }


def run_step(step: str, function: Callable[[], Any]) -> StepOutcome:
    """Run one step: ok, warning when its result reports partial data, failed when it raised."""
    try:
        result = function()
    except Exception as exc:  # noqa: BLE001 - every step failure is reported, not raised
        tb = traceback.format_exception_only(type(exc), exc)
        return StepOutcome(step, StepStatus.FAILED, "".join(tb).strip(), error=exc)
    run = runlog.finished(step, result, None, None)
    return StepOutcome(step, run.status, run.message, result)


def run_steps(
    as_of: date,
    steps: list[str],
    functions: dict[str, Callable[[], Any]],
    force: bool = False,
) -> PipelineSummary:
    """Run the chosen steps in pipeline order; a failure skips only the steps that need it,
    and a load that changed nothing skips the dbt build and the forecast unless `force`."""
    summary = PipelineSummary(as_of=as_of)
    done: dict[str, StepOutcome] = {}
    for step in (s for s in STEPS if s in steps):
        need = done.get(NEEDS.get(step, ""))
        if step in ("audit", "load") and summary.reached_no_source:
            outcome = StepOutcome(step, StepStatus.SKIPPED, "no source reached: nothing new")
        elif step in UNCHANGED_SKIPS and not force and _unchanged(done.get("load")):
            detail = f"{runlog.UNCHANGED} (--force runs it)"
            outcome = StepOutcome(step, StepStatus.SKIPPED, detail)
        # A warning (partial data, stale sources) still feeds what follows.
        elif need is not None and need.status in (StepStatus.FAILED, StepStatus.SKIPPED):
            outcome = StepOutcome(step, StepStatus.SKIPPED, f"{need.step} {need.status}")
        else:
            outcome = run_step(step, functions[step])
        done[step] = outcome
        summary.outcomes.append(outcome)
    return summary


def _unchanged(load: StepOutcome | None) -> bool:
    """The load ran and found no lake partition changed since the last one."""
    return (
        load is not None
        and load.status != StepStatus.FAILED
        and isinstance(load.result, list)
        and not runlog.data_changes(load.result)
    )


@flow(name="daily-pipeline", flow_run_name=run_name("daily"))
def daily_pipeline(
    as_of: date | None = None,
    steps: list[str] | None = None,
    force: bool = False,
    full_refresh: bool = False,
) -> PipelineSummary:
    """Ingest ODRÉ and weather into the lake, load staging, build the marts, forecast; when
    no lake partition changed, skip the build and the forecast unless `force`. With
    `full_refresh`, every incremental model is rebuilt from staging (and `force` holds)."""
    logger = get_run_logger()
    as_of = as_of or get_settings().today()
    clock = runlog.StepClock(_step_functions(as_of, full_refresh))
    summary = run_steps(as_of, list(steps or STEPS), clock.functions, force or full_refresh)
    # A run that reached no source leaves the lake as it found it: its failure is on the
    # console and in Prefect (the failure webhook), not a run record in a lake maybe never made.
    if not summary.reached_no_source and runlog.publish_pipeline(summary, clock):
        try:
            refresh_health_marts(get_settings())
        except Exception as exc:  # noqa: BLE001 - the health marts must not fail the run
            logger.warning("health marts not refreshed: %s", exc)
    # One line per step: the details are in the artifact (and the command line's summary).
    for o in summary.outcomes:
        log = logger.error if o.status == StepStatus.FAILED else logger.info
        log("step %s: %s %s", o.step, o.status, (o.detail.splitlines() or [""])[0])
    create_markdown_artifact(
        key="daily-pipeline", markdown=summary.markdown(), description="Daily run summary"
    )
    if summary.failed:
        raise PipelineFailed(summary)
    warned = [o for o in summary.outcomes if o.status == StepStatus.WARNING]
    return runlog.flow_state(summary, [f"{o.step}: {o.detail.splitlines()[-1]}" for o in warned])


# --- backfill ----------------------------------------------------------------------------


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def odre_backfill_rows(
    before: dict[str, dict[str, str]], after: dict[str, dict[str, str]], days: list[date]
) -> list[BackfillRow]:
    """Per dataset and day: downloaded (rewritten now), archived (already there) or missing."""
    rows = []
    for dataset in sorted(after):
        for day in days:
            key = day.isoformat()
            if key not in after[dataset]:
                rows.append(
                    BackfillRow(
                        day, dataset, BackfillStatus.MISSING, "no rows in the lake or source"
                    )
                )
            elif before.get(dataset, {}).get(key) != after[dataset][key]:
                rows.append(
                    BackfillRow(day, dataset, BackfillStatus.DOWNLOADED, "re-ingested from ODRÉ")
                )
            else:
                rows.append(
                    BackfillRow(day, dataset, BackfillStatus.ARCHIVED, "already in the lake")
                )
    return rows


def _odre_day_tags(settings: Settings) -> dict[str, dict[str, str]]:
    from flows.odre.schemas import DATASETS

    lake = open_lake(settings)
    tags: dict[str, dict[str, str]] = {}
    for dataset in DATASETS.values():
        prefix = dataset.lake_prefix()
        tags[dataset.id] = {
            str(partition_day(key, DAY)): tag for key, tag in lake.etags(prefix).items()
        }
    return tags


def backfill_markdown(start: date, end: date, rows: list[BackfillRow]) -> str:
    lines = [f"# Backfill {start} .. {end}", "", "| day | product | status | detail |"]
    lines.append("|---|---|---|---|")
    lines += [f"| {r.day} | {r.product} | {r.status} | {r.detail} |" for r in rows]
    return "\n".join(lines)


def month_chunks(start: date, end: date, months: int = 1) -> list[tuple[date, date]]:
    """[start, end] cut at calendar month boundaries into runs of `months` months."""
    chunks = []
    first = start
    while first <= end:
        year, month = divmod(first.month - 1 + months, 12)
        following = date(first.year + year, month + 1, 1)
        last = min(end, following - timedelta(days=1))
        chunks.append((first, last))
        first = following
    return chunks


# One marker per completed chunk: a re-run of an interrupted backfill skips the chunks it
# finds; they are removed once the whole backfill has completed.
BACKFILL_STATE_PREFIX = "state/backfill/"


def chunk_marker(start: date, end: date) -> str:
    """The lake key that records a completed backfill chunk."""
    return f"{BACKFILL_STATE_PREFIX}{start.isoformat()}_{end.isoformat()}.json"


def _rows_to_json(rows: list[BackfillRow]) -> bytes:
    return json.dumps(
        [{**dataclasses.asdict(r), "day": r.day.isoformat()} for r in rows], indent=1
    ).encode()


def _rows_from_json(data: bytes) -> list[BackfillRow]:
    return [
        BackfillRow(
            date.fromisoformat(r["day"]), r["product"], BackfillStatus(r["status"]), r["detail"]
        )
        for r in json.loads(data)
    ]


@flow(name="backfill-chunk", flow_run_name=run_name("backfill-chunk"))
def backfill_chunk(start: date, end: date, offline: bool = False) -> list[BackfillRow]:
    """One bounded piece of a backfill: re-ingest ODRÉ, rebuild weather, reload staging.

    Idempotent (whole days rewritten, staging swaps by day) and recorded in the lake once it
    completed, so a re-run of the backfill skips it.
    """
    from flows.meteofrance.backfill import backfill_weather
    from flows.odre.flow import ingest_odre

    settings = get_settings()
    before = _odre_day_tags(settings)
    if not offline:
        ingest_odre(start=start, end=end)
    rows = odre_backfill_rows(before, _odre_day_tags(settings), _days(start, end))
    rows += backfill_weather(start, end, offline=offline)
    load_staging()
    open_lake(settings).write_bytes(chunk_marker(start, end), _rows_to_json(rows))
    return rows


@flow(
    name="backfill",
    flow_run_name=run_name("backfill"),
    on_completion=runlog.RECORD,
    on_failure=runlog.RECORD,
)
def backfill(
    start: date, end: date, offline: bool = False, force: bool = False
) -> list[BackfillRow]:
    """Rebuild a date range: re-ingest ODRÉ, rebuild weather from the lake's archive, reload
    staging (one sub-flow per month chunk, skipped when already complete unless `force`),
    then rebuild the marts."""
    from flows.transform import transform

    if end < start:
        raise ValueError(f"backfill end {end} is before start {start}")
    logger = get_run_logger()
    settings = get_settings()
    lake = open_lake(settings)
    chunks = month_chunks(start, end, settings.backfill_chunk_months)
    progress = create_progress_artifact(
        progress=0.0, key="backfill-progress", description=f"Backfill {start} .. {end}"
    )
    rows: list[BackfillRow] = []
    bar = tqdm(chunks, desc="backfill", unit="chunk", disable=not settings.show_progress)
    for done, (first, last) in enumerate(bar, start=1):
        marker = chunk_marker(first, last)
        if not force and lake.exists(marker):
            logger.info("chunk %s .. %s already complete: skipped", first, last)
            rows += _rows_from_json(lake.read_bytes(marker))
        else:
            logger.info("chunk %s .. %s (%d of %d)", first, last, done, len(chunks))
            rows += backfill_chunk(first, last, offline=offline)
        update_progress_artifact(progress, progress=100.0 * done / len(chunks))
    transform()
    # Done: the markers only serve to resume this backfill; a later one of the same days (a
    # day lost again) must redo them.
    for first, last in chunks:
        lake.delete(chunk_marker(first, last))
    for r in rows:
        logger.info("%s %s: %s %s", r.day, r.product, r.status, r.detail)
    create_markdown_artifact(
        key="backfill", markdown=backfill_markdown(start, end, rows), description="Backfill result"
    )
    incomplete = BackfillIncomplete(rows)
    if incomplete.missing:
        # Failed, not a Completed state under another name: filling these days is the
        # backfill's whole job, so the operator, the exit code and the automations (the
        # failure webhook) must all hear that some could not be. The rows ride on the error.
        return Failed(message=str(incomplete), data=incomplete)
    return rows


# --- command line ------------------------------------------------------------------------


def production_rows(settings: Settings) -> dict[str, int | None]:
    """Rows of each production mart by its full name; None for one that is not built."""
    from flows.transform import mart_names, production_tables

    warehouse = open_warehouse(settings, read_only=True)
    rows: dict[str, int | None] = {}
    try:
        for name, table in zip(mart_names(settings), production_tables(settings), strict=True):
            if not warehouse.table_exists(settings.production_dataset, name):
                rows[table] = None
                continue
            found = warehouse.query(
                f"select count(*) as n from {settings.production_dataset}.{name}"
            )
            rows[table] = int(found["n"].iloc[0])
    finally:
        warehouse.close()
    return rows


def print_production_tables(settings: Settings) -> None:
    """Say where the production marts are; the empty ones apart (no table to read yet)."""
    try:
        rows = production_rows(settings)
    except Exception:  # noqa: BLE001 - a summary must not fail on a missing warehouse
        return
    built = {table: n for table, n in rows.items() if n}
    empty = sorted(table.rsplit(".", 1)[-1] for table, n in rows.items() if not n)
    print(f"\nProduction tables ({warehouse_location(settings)}):")
    for table in sorted(built):
        print(f"  {table}  ({built[table]} rows)")
    if not built:
        print("  none holds any rows yet")
    if empty:
        print(f"Empty or not built yet: {', '.join(empty)}")


def run_cli(
    as_of: date | None,
    steps: list[str] | None,
    force: bool = False,
    full_refresh: bool = False,
) -> int:
    """`python -m flows run`: run the pipeline, print what changed, exit non-zero on failure."""
    try:
        summary = daily_pipeline(as_of=as_of, steps=steps, force=force, full_refresh=full_refresh)
    except PipelineFailed as exc:
        summary = exc.summary
    for o in summary.outcomes:
        print(f"[{o.status:>7}] {o.step}")
        for line in o.detail.splitlines():
            print(f"          {line}")
    print_production_tables(get_settings())
    if summary.warned:
        print(f"\nWARNING steps (partial data): {', '.join(summary.warned)}")
    if summary.failed:
        print(f"\nFAILED steps: {', '.join(summary.failed)}")
        return 1
    return 0


def backfill_cli(start: date, end: date, offline: bool, force: bool = False) -> int:
    """`python -m flows backfill`: print the day x product table; non-zero if any day is missing."""
    try:
        rows = backfill(start=start, end=end, offline=offline, force=force)
    except BackfillIncomplete as exc:
        rows = exc.rows
    width = max((len(r.product) for r in rows), default=10)
    for r in rows:
        print(f"{r.day}  {r.product:<{width}}  {r.status:<10}  {r.detail}")
    missing = [r for r in rows if r.status == BackfillStatus.MISSING]
    print(f"\n{len(rows)} day x product rows, {len(missing)} missing")
    return 1 if missing else 0
