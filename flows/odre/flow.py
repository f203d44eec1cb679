"""The `ingest_odre` flow: ODRÉ export windows into the lake's day partitions.

Retries: HTTP attempts live in the client (tenacity, honouring a 429's reset_time), so the
fetch task itself has none: task retries on top would multiply attempts and re-land bodies.
Parsing and writing are deterministic over the landed bytes; retrying them cannot help.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from tqdm import tqdm

from flows import runlog
from flows.backends import on_gcp, open_lake
from flows.errors import OdreError, SourceUnreachable
from flows.lake import Lake
from flows.odre.client import OdreClient, Window
from flows.odre.ingest import (
    DatasetSummary,
    IngestSummary,
    WindowResult,
    fetch_and_land,
    plan_windows,
    quarantine_windows,
    window_result,
    write_days,
)
from flows.odre.parse import Parsed, parse_export
from flows.odre.schemas import Dataset, get_dataset
from flows.runlog import RECORD
from flows.runs import run_name
from flows.settings import Settings, get_settings


@task(cache_policy=NO_CACHE)
def plan(
    lake: Lake,
    dataset: Dataset,
    settings: Settings,
    as_of: date,
    start: date | None,
    end: date | None,
) -> list[Window]:
    """The export windows this run fetches for one dataset."""
    return plan_windows(lake, dataset, settings, as_of, start, end)


@task(cache_policy=NO_CACHE, retries=0)
def fetch(lake: Lake, client: OdreClient, dataset: Dataset, window: Window) -> bytes:
    """Fetch one export window (HTTP retries inside) and land its body in the lake."""
    return fetch_and_land(lake, client, dataset, window)


@task(cache_policy=NO_CACHE)
def parse(dataset: Dataset, window: Window, body: bytes) -> Parsed:
    """Type and check the rows of one landed export body."""
    parsed = parse_export(dataset, window, body, datetime.now(UTC))
    logger = get_run_logger()
    for warning in parsed.warnings:
        logger.warning("%s window %s: %s", dataset.id, window, warning)
    return parsed


@task(cache_policy=NO_CACHE)
def write(lake: Lake, dataset: Dataset, window: Window, parsed: Parsed) -> WindowResult:
    """Replace the lake day partitions present in one window's rows."""
    written, unchanged = write_days(lake, dataset, window, parsed)
    return window_result(dataset, window, parsed, written, unchanged)


@task(cache_policy=NO_CACHE)
def publish(summary: IngestSummary) -> None:
    """Publish the run summary as a Markdown artifact."""
    create_markdown_artifact(
        key="odre-ingestion", markdown=summary.markdown(), description="ODRÉ rows and partitions"
    )


def ingest_dataset(
    lake: Lake,
    client: OdreClient,
    dataset: Dataset,
    settings: Settings,
    as_of: date,
    start: date | None,
    end: date | None,
    quarantined: list[date] | None = None,
) -> DatasetSummary:
    """One dataset, window by window (the days quarantined by a quality rule re-fetched too); any error stops it (earlier windows stay written) and
    is kept in its summary, named with the dataset and the window, so the other datasets run."""
    result = DatasetSummary(dataset.id)
    window: Window | None = None
    try:
        windows = plan(lake, dataset, settings, as_of, start, end)
        if start is None:
            windows += quarantine_windows(dataset, quarantined or [], windows)
        for window in tqdm(
            windows, desc=dataset.id, unit="window", disable=not settings.show_progress
        ):
            body = fetch(lake, client, dataset, window)
            result.windows.append(write(lake, dataset, window, parse(dataset, window, body)))
    except SourceUnreachable:  # the same host serves every dataset: trying them cannot help
        raise
    except Exception as exc:  # noqa: BLE001 - the other datasets still run; the flow fails
        result.error = describe_error(dataset, window, exc)
        get_run_logger().error("%s", result.error)
    return result


def quarantined_days(settings: Settings) -> list[date]:
    """The local days the last dbt build quarantined, to re-fetch; none without a warehouse."""
    from flows.transform import read_quarantine

    if not on_gcp(settings) and not Path(settings.duckdb_path).exists():
        return []  # a first run: no warehouse, so no quarantine yet
    try:
        days = sorted({q.day for q in read_quarantine(settings)})
    except Exception as exc:  # noqa: BLE001 - the ingest goes on; the next run reads it again
        get_run_logger().warning(
            "quarantined days not read, so not re-fetched this run (%s): a first build"
            " creates data_quality_quarantine",
            exc,
        )
        return []
    if days:
        get_run_logger().info("re-fetching quarantined days: %s", ", ".join(map(str, days)))
    return days


def describe_error(dataset: Dataset, window: Window | None, exc: Exception) -> str:
    """The error of one dataset's run, naming the dataset and the window it was at."""
    if isinstance(exc, OdreError):  # its message already names both
        return str(exc)
    where = f"window {window}" if window else "planning its windows"
    return f"ODRÉ {dataset.id} {where}: {type(exc).__name__}: {exc}"


@flow(
    name="ingest-odre",
    flow_run_name=run_name("odre"),
    on_completion=RECORD,
    on_failure=RECORD,
)
def ingest_odre(
    as_of: date | None = None,
    datasets: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> IngestSummary:  # or a Warning state holding it
    """Ingest ODRÉ datasets into the lake: look-back windows, or `start`..`end` inclusive."""
    settings = get_settings()
    lake = open_lake(settings)
    summary = IngestSummary(as_of or settings.today())
    quarantined = [] if start is not None else quarantined_days(settings)
    with OdreClient(settings) as client:  # one pooled connection for the whole run
        for dataset_id in datasets or settings.odre_datasets:
            dataset = get_dataset(dataset_id)
            summary.datasets.append(
                ingest_dataset(
                    lake, client, dataset, settings, summary.as_of, start, end, quarantined
                )
            )
    logger = get_run_logger()
    for line in summary.describe().splitlines():
        logger.info("%s", line)
    publish(summary)
    if summary.errors:
        raise OdreError("; ".join(summary.errors.values()))
    return runlog.flow_state(summary)
