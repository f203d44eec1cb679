"""dbt build of the warehouse: staging models, intermediate models and the production marts.

`run_dbt_build` runs `dbt build` in-process (dbt's programmatic `dbtRunner`, not a shell) with
the project, profiles, target and environment taken from Settings, and turns dbt's results
into a `TransformSummary`; a failing model or test raises `TransformError` naming the nodes.
`run_source_freshness` runs `dbt source freshness` the same way: a stale or missing source is
reported (pass / warn / error and the age of its newest load), never raised. The Prefect flow
`transform` runs both, with retries and a run artifact.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from flows.backends import dbt_keyfile, dbt_target, open_warehouse, warehouse_catalog
from flows.errors import TransformError
from flows.runlog import RECORD, flow_state
from flows.runs import run_name
from flows.settings import Settings, environ_set, get_settings

# Statuses dbt gives a node that did not do its job.
_FAILED = {"error", "fail"}


@dataclass(frozen=True)
class SourceFreshness:
    """How recent one source's newest load is, as `dbt source freshness` judged it."""

    source: str  # source_name.table_name
    status: str  # pass | warn | error | runtime error
    max_loaded_at: datetime | None = None
    age_seconds: float | None = None
    message: str = ""

    @property
    def empty(self) -> bool:
        """No row was ever loaded: dbt reads an empty table's newest load as year 1."""
        return self.max_loaded_at is not None and self.max_loaded_at.year < 1970

    @property
    def stale(self) -> bool:
        # An empty source is not late: on a first run the forecast is issued after dbt runs.
        return self.status != "pass" and not self.empty

    def age(self) -> str:
        """The age of the newest load, in hours or days."""
        if self.age_seconds is None:
            return "unknown"
        hours = self.age_seconds / 3600
        return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"

    def markdown_row(self) -> str:
        """This source as a row of the freshness table: source, status, newest load, age."""
        if self.empty:
            return f"| {self.source} | empty | | | nothing loaded yet |"
        loaded = f"{self.max_loaded_at:%Y-%m-%d %H:%M}" if self.max_loaded_at else ""
        status = f"{'⚠ ' if self.stale else ''}{self.status}"
        return f"| {self.source} | {status} | {loaded} | {self.age()} | {self.message} |"

    def __str__(self) -> str:
        if self.empty:
            return f"{self.source}: nothing loaded yet"
        if self.max_loaded_at is None:
            return f"{self.source}: {self.status} ({self.message or 'no load time'})"
        return f"{self.source}: {self.status}, newest load {self.age()} old ({self.max_loaded_at:%Y-%m-%d %H:%M} UTC)"


@dataclass(frozen=True)
class NodeFailure:
    """A dbt node (model, seed or test) that errored or failed, and dbt's message."""

    unique_id: str
    status: str
    message: str

    def __str__(self) -> str:
        return f"{self.unique_id} ({self.status}): {self.message}"


# The days int_electricity__hourly leaves out (the data_quality_quarantine mart shows them).
QUARANTINE_MODEL = "int_electricity__quality"
QUARANTINED = "quarantined, kept out of the production marts until the source corrects it: "


@dataclass(frozen=True)
class QuarantinedDay:
    """A local day whose data fails a quality rule, kept out of the marts."""

    day: date
    column: str
    rule: str
    instants: int
    lowest: float
    highest: float

    def __str__(self) -> str:
        return (
            f"{self.day} {self.column} ({self.rule}: {self.instants} instants,"
            f" {self.lowest:g}..{self.highest:g} MW)"
        )


def read_quarantine(settings: Settings) -> list[QuarantinedDay]:
    """The days the last build quarantined; none when the mart is not built yet."""
    warehouse = open_warehouse(settings, read_only=True)
    try:
        if not warehouse.table_exists(settings.development_dataset, QUARANTINE_MODEL):
            return []
        frame = warehouse.query(
            "select date_local, column_name, rule_name, failing_instants, lowest_failing_mw,"
            f" highest_failing_mw from {settings.development_dataset}.{QUARANTINE_MODEL}"
            " order by date_local, column_name, rule_name"
        )
    finally:
        warehouse.close()
    return [
        QuarantinedDay(
            pd.Timestamp(row[0]).date(), str(row[1]), str(row[2]), int(row[3]), *row[4:6]
        )
        for row in frame.itertuples(index=False)
    ]


@dataclass
class TransformSummary:
    """What one `dbt build` did."""

    target: str
    models_built: list[str] = field(default_factory=list)
    seeds_loaded: list[str] = field(default_factory=list)
    tests_passed: int = 0
    tests_warned: int = 0
    tests_failed: int = 0
    skipped: list[str] = field(default_factory=list)
    failures: list[NodeFailure] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    freshness: list[SourceFreshness] = field(default_factory=list)
    log_file: str = ""  # dbt's own per-node log of the build
    quarantine: list[QuarantinedDay] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """The quarantined days, each named: the step ends in `warning`."""
        return [f"{QUARANTINED}{q}" for q in self.quarantine]

    @property
    def stale_sources(self) -> list[SourceFreshness]:
        return [f for f in self.freshness if f.stale]

    @property
    def empty_sources(self) -> list[SourceFreshness]:
        return [f for f in self.freshness if f.empty]

    @property
    def ok(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        """A few lines for the pipeline summary."""
        lines = [
            f"dbt build ({self.target}): {len(self.models_built)} models, "
            f"{len(self.seeds_loaded)} seeds, tests {self.tests_passed} passed, "
            f"{self.tests_warned} warned, {self.tests_failed} failed, "
            f"{len(self.skipped)} skipped in {self.elapsed_seconds:.1f}s"
        ]
        lines += [f"  FAILED {f}" for f in self.failures]
        lines += self.warnings
        if self.log_file:
            lines.append(f"dbt log: {self.log_file}")
        if self.freshness:
            fresh = len(self.freshness) - len(self.stale_sources) - len(self.empty_sources)
            line = f"source freshness: {fresh} of {len(self.freshness)} sources pass"
            if self.empty_sources:
                names = ", ".join(f.source for f in self.empty_sources)
                line += f", {len(self.empty_sources)} not loaded yet ({names})"
            lines.append(line)
            lines += [f"  WARNING {f}" for f in self.stale_sources]
        return "\n".join(lines)

    def freshness_markdown(self) -> str:
        """The freshness of every source as a table (empty when it was not checked)."""
        if not self.freshness:
            return ""
        rows = "\n".join(f.markdown_row() for f in self.freshness)
        return (
            "## Source freshness\n| source | status | newest load (UTC) | age | note |\n"
            f"|---|---|---|---|---|\n{rows}\n\n"
        )

    def markdown(self) -> str:
        """The summary as a Prefect artifact."""
        rows = "\n".join(f"| {m} |" for m in self.models_built)
        failed = "\n".join(f"- `{f.unique_id}` ({f.status}): {f.message}" for f in self.failures)
        return (
            f"# dbt build on `{self.target}`\n\n"
            f"Tests: {self.tests_passed} passed, {self.tests_warned} warned, "
            f"{self.tests_failed} failed; {len(self.skipped)} nodes skipped; "
            f"{self.elapsed_seconds:.1f} s.\n\n"
            + (f"## Failures\n{failed}\n\n" if failed else "")
            + self.freshness_markdown()
            + f"## Models built\n| model |\n|---|\n{rows}\n"
        )


def dbt_environment(settings: Settings) -> dict[str, str]:
    """Every setting as its AGGREGAT_* variable for the dbt profiles and models.

    Paths are made absolute here, so dbt finds the same files whatever directory it runs in.
    Secrets are left out: dbt needs none of them.
    """
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None or hasattr(value, "get_secret_value"):
            continue
        if isinstance(value, Path):
            value = value.expanduser().resolve()
        env[f"AGGREGAT_{name.upper()}"] = str(value)
    env["AGGREGAT_DBT_TARGET"] = dbt_target(settings)
    return env


def _artifacts(settings: Settings, artifacts_dir: Path | None) -> Path:
    artifacts_dir = artifacts_dir or settings.dbt_artifacts_dir
    if artifacts_dir:
        return Path(artifacts_dir).expanduser().resolve()
    return Path(settings.dbt_project_dir).expanduser().resolve()


def build_arguments(
    settings: Settings,
    select: str | None = None,
    full_refresh: bool = False,
    artifacts_dir: Path | None = None,
) -> list[str]:
    """The `dbt build` command line, as dbtRunner takes it."""
    args = ["build", *_common_arguments(settings, artifacts_dir)]
    if select:
        args += ["--select", *select.split()]
    if full_refresh:
        args.append("--full-refresh")
    return args


def freshness_arguments(settings: Settings, artifacts_dir: Path | None = None) -> list[str]:
    """The `dbt source freshness` command line (sources.json lands in dbt's target/)."""
    # Off the console: the summary names each source that is not fresh (and the empty ones,
    # which dbt calls ERROR STALE); dbt's own lines stay in the log file.
    return [
        "source",
        "freshness",
        *_common_arguments(settings, artifacts_dir),
        "--log-level",
        "none",
    ]


def log_file(settings: Settings, artifacts_dir: Path | None = None) -> Path:
    """Where dbt writes its full log (every node, at info level)."""
    return _artifacts(settings, artifacts_dir) / "logs" / "dbt.log"


def _common_arguments(settings: Settings, artifacts_dir: Path | None) -> list[str]:
    project = Path(settings.dbt_project_dir).expanduser().resolve()
    artifacts = _artifacts(settings, artifacts_dir)
    # The console gets warnings, errors and failed tests; the log file gets everything.
    return [
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target",
        dbt_target(settings),
        "--target-path",
        str(artifacts / "target"),
        "--log-path",
        str(log_file(settings, artifacts_dir).parent),
        "--log-level",
        settings.dbt_console_log_level,
        # Given explicitly: otherwise dbt gives the file the console's level.
        "--log-level-file",
        settings.dbt_file_log_level,
        "--no-use-colors",
    ]


def summarise(target: str, results: list[Any], elapsed: float) -> TransformSummary:
    """Turn dbt's node results into a summary."""
    summary = TransformSummary(target=target, elapsed_seconds=elapsed)
    for result in results:
        node = result.node
        kind = str(getattr(node.resource_type, "value", node.resource_type))
        status = str(getattr(result.status, "value", result.status))
        if status in _FAILED:
            summary.failures.append(NodeFailure(node.unique_id, status, _message(result)))
        elif status == "skipped":
            summary.skipped.append(node.unique_id)
        if kind in ("test", "unit_test"):
            summary.tests_passed += status == "pass"
            summary.tests_warned += status == "warn"
            summary.tests_failed += status in _FAILED
        elif kind == "model" and status == "success":
            summary.models_built.append(node.name)
        elif kind == "seed" and status == "success":
            summary.seeds_loaded.append(node.name)
    return summary


def _message(result: Any) -> str:
    text = " ".join(str(result.message or "").split())
    failures = getattr(result, "failures", None)
    if failures:
        text = f"{failures} failing rows; {text}"
    return text[:500]


def release_duckdb() -> None:
    """Close the DuckDB file dbt-duckdb keeps open in the process after a build.

    Its environment is class-level and outlives `invoke`: left open, the rest of the run (and
    any long-lived process that ran dbt) holds the file's write lock, and no reader such as
    the dashboard can open it.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    DuckDBConnectionManager.close_all_connections()
    gc.collect()  # the database closes when its last handle is collected


def run_dbt_build(
    settings: Settings,
    select: str | None = None,
    full_refresh: bool = False,
    artifacts_dir: Path | None = None,
) -> TransformSummary:
    """Run `dbt build` and summarise it; raise TransformError naming any failed node.

    `artifacts_dir` holds dbt's target/ and logs/ (default: Settings.dbt_artifacts_dir, else
    the dbt project folder).
    """
    target = dbt_target(settings)
    args = build_arguments(settings, select, full_refresh, artifacts_dir)
    started = time.monotonic()
    outcome = _invoke(settings, args)
    elapsed = time.monotonic() - started
    results = getattr(outcome.result, "results", None)
    log = log_file(settings, artifacts_dir)
    if outcome.exception is not None or results is None:
        reason = outcome.exception or outcome.result or "no results"
        raise TransformError(f"dbt build on target {target} could not run: {reason} (log: {log})")
    summary = summarise(target, list(results), elapsed)
    summary.log_file = str(log)
    summary.quarantine = read_quarantine(settings)
    if summary.failures:
        names = "; ".join(str(f) for f in summary.failures)
        raise TransformError(
            f"dbt build on target {target}: {len(summary.failures)} failed nodes: {names}",
            summary,
        )
    return summary


def _invoke(settings: Settings, args: list[str]) -> Any:
    """Run one dbt command in-process with the settings' environment; dbt's outcome."""
    from dbt.cli.main import dbtRunner

    from flows.bigquery import current_flow

    env = dbt_environment(settings)
    # The `flow` job label of dbt's BigQuery jobs (dbt/macros/query_comment.sql).
    env["AGGREGAT_JOB_FLOW"] = current_flow()
    with dbt_keyfile(settings) as key:
        if key is not None:
            # The worker holds its key in a credentials block; dbt-bigquery wants a file.
            env["AGGREGAT_GCP_CREDENTIALS_FILE"] = str(key)
        with environ_set(env):
            try:
                return dbtRunner().invoke(args)
            finally:
                release_duckdb()


def run_source_freshness(
    settings: Settings, artifacts_dir: Path | None = None
) -> list[SourceFreshness]:
    """Run `dbt source freshness`; each source's status, never an exception for a stale one.

    A source that could not be checked (its table not written yet, the warehouse down) is
    reported as `runtime error` with dbt's message.
    """
    outcome = _invoke(settings, freshness_arguments(settings, artifacts_dir))
    results = getattr(outcome.result, "results", None)
    if results is None:
        reason = " ".join(str(outcome.exception or outcome.result or "no results").split())
        return [SourceFreshness("all sources", "runtime error", message=reason[:300])]
    return sorted((_freshness(r) for r in results), key=lambda f: f.source)


def _freshness(result: Any) -> SourceFreshness:
    node = result.node
    name = f"{node.source_name}.{node.name}"
    status = str(getattr(result.status, "value", result.status))
    loaded = getattr(result, "max_loaded_at", None)
    if loaded is not None and loaded.tzinfo is not None:
        loaded = loaded.astimezone(UTC).replace(tzinfo=None)
    message = " ".join(str(getattr(result, "message", "") or "").split())[:300]
    return SourceFreshness(name, status, loaded, getattr(result, "age", None), message)


def mart_names(settings: Settings) -> list[str]:
    """The production marts: the models of the project's marts folder."""
    marts = Path(settings.dbt_project_dir) / "models" / "marts"
    return sorted(p.stem for p in marts.rglob("*.sql"))


def production_tables(settings: Settings) -> list[str]:
    """Fully qualified names of the production marts (catalog.schema.table)."""
    catalog = warehouse_catalog(settings)
    return [f"{catalog}.{settings.production_dataset}.{name}" for name in mart_names(settings)]


def serve_docs(settings: Settings, artifacts_dir: Path | None = None) -> None:
    """`dbt docs generate`, then `dbt docs serve` on 127.0.0.1 (until interrupted)."""
    common = _common_arguments(settings, artifacts_dir)
    generated = _invoke(settings, ["docs", "generate", *common])
    if not generated.success:
        raise TransformError(f"dbt docs generate failed: {generated.exception or 'see the log'}")
    port = str(settings.dbt_docs_port)
    print(f"dbt docs at http://127.0.0.1:{port} (Ctrl-C stops)", flush=True)
    _invoke(
        settings, ["docs", "serve", *common, "--host", "127.0.0.1", "--port", port, "--no-browser"]
    )


def _retry_unless_nodes_failed(task: Any, task_run: Any, state: Any) -> bool:
    # A failed model or test fails the same way again; only a run that could not start
    # (a locked database file, a dropped connection) is worth another attempt.
    try:
        state.result()
    except TransformError as exc:
        return not exc.failed_nodes
    except Exception:  # noqa: BLE001 - any other failure may be transient
        return True
    return False


@task(retries=1, retry_delay_seconds=30, retry_condition_fn=_retry_unless_nodes_failed)
def dbt_build(select: str | None, full_refresh: bool) -> TransformSummary:
    """Run dbt build against the configured warehouse."""
    return run_dbt_build(get_settings(), select=select, full_refresh=full_refresh)


@task
def publish_summary(summary: TransformSummary) -> None:
    """Publish the build summary as a Prefect artifact."""
    create_markdown_artifact(
        key="transform", markdown=summary.markdown(), description="dbt build summary"
    )


@task(retries=1, retry_delay_seconds=30)
def source_freshness() -> list[SourceFreshness]:
    """Check how recent every dbt source's newest load is."""
    return run_source_freshness(get_settings())


@flow(
    name="transform",
    flow_run_name=run_name("transform"),
    log_prints=True,
    on_completion=RECORD,
    on_failure=RECORD,
)
def transform(
    select: str | None = None, full_refresh: bool = False, freshness: bool = True
) -> TransformSummary:
    """Build the dbt project: staging and intermediate models, production marts, tests; then
    check the sources' freshness (a stale source is a warning, not a failure)."""
    logger = get_run_logger()
    try:
        summary = dbt_build(select, full_refresh)
    except TransformError as exc:
        if exc.summary is not None:
            if freshness:
                exc.summary.freshness = source_freshness()
            publish_summary(exc.summary)
        raise
    if freshness:
        summary.freshness = source_freshness()
        for stale in summary.stale_sources:
            logger.warning("stale source %s", stale)
    publish_summary(summary)
    print(summary.describe())
    return flow_state(summary)
