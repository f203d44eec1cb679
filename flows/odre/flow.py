"""The `ingest_odre` flow: ODRÉ export windows into the lake's day partitions.

Retries: HTTP attempts live in the client (tenacity, honouring a 429's reset_time), so the
fetch task itself has none: task retries on top would multiply attempts and re-land bodies.
Parsing and writing are deterministic over the landed bytes; retrying them cannot help.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.lake import Lake, open_lake
from flows.odre.client import OdreClient, OdreError, Window
from flows.odre.ingest import (
    DatasetSummary,
    IngestSummary,
    WindowResult,
    fetch_and_land,
    plan_windows,
    progress,
    utc_today,
    window_result,
    write_days,
)
from flows.odre.parse import Parsed, parse_export
from flows.odre.schemas import get_dataset
from flows.runlog import RECORD
from flows.settings import get_settings


def _lake() -> Lake:
    return open_lake(get_settings())


@task(cache_policy=NO_CACHE)
def plan(dataset_id: str, as_of: date, start: date | None, end: date | None) -> list[Window]:
    """The export windows this run fetches for one dataset."""
    settings = get_settings()
    return plan_windows(_lake(), get_dataset(dataset_id), settings, as_of, start, end)


@task(cache_policy=NO_CACHE, retries=0)
def fetch(dataset_id: str, window: Window) -> bytes:
    """Fetch one export window (HTTP retries inside) and land its body in the lake."""
    with OdreClient(get_settings()) as client:
        return fetch_and_land(_lake(), client, get_dataset(dataset_id), window)


@task(cache_policy=NO_CACHE)
def parse(dataset_id: str, window: Window, body: bytes) -> Parsed:
    """Type and check the rows of one landed export body."""
    parsed = parse_export(get_dataset(dataset_id), window, body, datetime.now(UTC))
    logger = get_run_logger()
    for warning in parsed.warnings:
        logger.warning("%s window %s: %s", dataset_id, window, warning)
    return parsed


@task(cache_policy=NO_CACHE)
def write(dataset_id: str, window: Window, parsed: Parsed) -> WindowResult:
    """Replace the lake day partitions present in one window's rows."""
    dataset = get_dataset(dataset_id)
    written, unchanged = write_days(_lake(), dataset, window, parsed)
    return window_result(dataset, window, parsed, written, unchanged)


@task(cache_policy=NO_CACHE)
def publish(summary: IngestSummary) -> None:
    """Publish the run summary as a Markdown artifact."""
    create_markdown_artifact(
        key="odre-ingestion", markdown=summary.markdown(), description="ODRÉ rows and partitions"
    )


@flow(name="ingest-odre", on_completion=RECORD, on_failure=RECORD)
def ingest_odre(
    as_of: date | None = None,
    datasets: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> IngestSummary:
    """Ingest ODRÉ datasets into the lake: look-back windows, or `start`..`end` inclusive."""
    logger = get_run_logger()
    settings = get_settings()
    summary = IngestSummary(as_of or utc_today())
    for dataset_id in datasets or settings.odre_datasets:
        result = DatasetSummary(dataset_id)
        summary.datasets.append(result)
        try:
            for window in progress(
                plan(dataset_id, summary.as_of, start, end), settings, dataset_id
            ):
                body = fetch(dataset_id, window)
                result.windows.append(write(dataset_id, window, parse(dataset_id, window, body)))
        except OdreError as exc:  # the other datasets still run; the flow fails at the end
            result.error = str(exc)
            logger.error("%s", exc)
    for line in summary.describe().splitlines():
        logger.info("%s", line)
    publish(summary)
    if summary.errors:
        raise OdreError("; ".join(summary.errors.values()))
    return summary
