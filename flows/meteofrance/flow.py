"""The daily weather flow: fetch each configured run, archive it raw, decode it, curate it.

    for each model run of the day:  fetch every package's groups ─► archive ─► decode ─► curated
    then the last N days:           backfill what is missing (lake first, then the source)

A run is curated only when every group of its feature packages is archived and valid:
partial features would yield wrong daily minima and maxima and silently shorter horizons,
while without them the marts keep serving the previous run for those hours. Gaps are
reported and fetched again by the next run (archived files are not fetched twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.backends import open_lake
from flows.errors import WeatherUnavailable
from flows.meteofrance.archive import curated_present
from flows.meteofrance.backfill import backfill_weather, curate_run
from flows.meteofrance.catalogue import ModelRun, Product, model_runs, products_from_settings
from flows.meteofrance.download import ProductRun, fetch_product_run
from flows.net import retry_unless_unreachable
from flows.runlog import RECORD, flow_state
from flows.runs import run_name
from flows.settings import get_settings
from flows.status import BackfillRow, BackfillStatus, FileStatus, RunStatus, WeatherRunStatus


@dataclass
class RunOutcome:
    """One model run of the day: its packages' downloads and whether it was curated."""

    run: str  # e.g. "arpege/01 2026-05-11T00Z"
    status: WeatherRunStatus
    products: list[ProductRun] = field(default_factory=list)
    rows: int = 0
    detail: str = ""

    @property
    def gaps(self) -> list[str]:
        # An invalid file says why (the parameter a product lacks, a wrong grid).
        return [
            f"{p.product.name} {f.file.group}: {f.status}"
            + (f" ({f.detail})" if f.status == FileStatus.INVALID else "")
            for p in self.products
            for f in p.gaps
        ]


@dataclass
class WeatherSummary:
    """What the daily weather flow did: the day's runs and the look-back backfill."""

    as_of: date
    runs: list[RunOutcome] = field(default_factory=list)
    lookback: list[BackfillRow] = field(default_factory=list)

    def unavailable(self) -> str | None:
        """Why nothing at all came of the day's runs, when every file asked for failed or was
        invalid; None when at least one was fetched, archived or is simply not published."""
        files = [f for r in self.runs for p in r.products for f in p.files]
        bad = {FileStatus.FAILED, FileStatus.INVALID}
        if not files or any(f.status not in bad for f in files):
            return None
        return (
            f"all {len(files)} weather files failed, e.g. {files[0].file.group}: {files[0].detail}"
        )

    @property
    def downloaded(self) -> int:
        return sum(p.downloaded for r in self.runs for p in r.products)

    @property
    def gaps(self) -> list[str]:
        return [g for r in self.runs for g in r.gaps] + [
            f"{b.day} {b.product}: {b.detail}"
            for b in self.lookback
            if b.status == BackfillStatus.MISSING
        ]

    def describe(self) -> str:
        lines = [f"{r.run}: {r.status}" + (f" ({r.detail})" if r.detail else "") for r in self.runs]
        fixed = [
            b
            for b in self.lookback
            if b.status in (BackfillStatus.REBUILT, BackfillStatus.DOWNLOADED)
        ]
        missing = [b for b in self.lookback if b.status == BackfillStatus.MISSING]
        lines.append(
            f"look-back: {len(fixed)} day x product rebuilt or downloaded, {len(missing)} missing"
        )
        return "\n".join(lines)

    def table(self) -> list[dict[str, str]]:
        """One record per product run of the day, then the look-back rows."""
        records = [
            {
                "day": self.as_of.isoformat(),
                "product": p.product.name,
                "status": f"{r.status} / {p.status}",
                "detail": p.describe(),
            }
            for r in self.runs
            for p in r.products
        ]
        records += [
            {"day": b.day.isoformat(), "product": b.product, "status": b.status, "detail": b.detail}
            for b in self.lookback
        ]
        return records


@task(
    retries=2,
    retry_delay_seconds=30,
    retry_condition_fn=retry_unless_unreachable,
    cache_policy=NO_CACHE,
)
def fetch_product(product: Product, day: date, now: datetime) -> ProductRun:
    """Fetch, validate and archive every group file of one product run."""
    settings = get_settings()
    return fetch_product_run(settings, open_lake(settings), product, day, now)


@task(retries=1, retry_delay_seconds=10, cache_policy=NO_CACHE)
def curate(run: ModelRun) -> int:
    """Decode a complete model run from the lake into its curated Parquet objects."""
    settings = get_settings()
    return curate_run(settings, open_lake(settings), run)


def outcome_of(run: ModelRun, fetched: list[ProductRun], curated_already: bool) -> RunOutcome:
    """The run's status from its packages' downloads, before any decoding."""
    label = run.label
    features = [f for f in fetched if f.product in run.feature_products]
    if any(f.status == RunStatus.INCOMPLETE for f in features):
        return RunOutcome(
            label, WeatherRunStatus.INCOMPLETE, fetched, detail="gaps; features not written"
        )
    if any(f.status == RunStatus.NOT_READY for f in features):
        return RunOutcome(
            label, WeatherRunStatus.NOT_READY, fetched, detail="not fully published yet"
        )
    if not features:
        return RunOutcome(
            label, WeatherRunStatus.RAW_ONLY, fetched, detail="no package decoded into features"
        )
    changed = any(f.status == FileStatus.DOWNLOADED for p in features for f in p.files)
    if curated_already and not changed:
        return RunOutcome(label, WeatherRunStatus.UP_TO_DATE, fetched, detail="already curated")
    return RunOutcome(label, WeatherRunStatus.CURATED, fetched)


@flow(
    name="ingest-weather",
    flow_run_name=run_name("weather"),
    on_completion=RECORD,
    on_failure=RECORD,
)
def ingest_weather(
    as_of: date | None = None, products: list[str] | None = None, offline: bool = False
) -> WeatherSummary:
    """Fetch, archive, decode and curate the day's weather runs; backfill the last days."""
    logger = get_run_logger()
    settings = get_settings()
    now = datetime.now(UTC)
    as_of = as_of or settings.today()
    chosen = products_from_settings(settings, products)
    summary = WeatherSummary(as_of)
    lake = open_lake(settings)
    for run in model_runs(chosen, as_of):
        if offline:
            continue  # the day itself is then handled like the look-back days, from the lake
        fetched = [fetch_product(p, as_of, now) for p in run.products]
        already = curated_present(lake, run.model_grid, run.run_time)
        outcome = outcome_of(run, fetched, already)
        if outcome.status == WeatherRunStatus.CURATED:
            outcome.rows = curate(run)
        summary.runs.append(outcome)
    first = as_of - timedelta(days=settings.meteofrance_lookback_days)
    last = as_of if offline else as_of - timedelta(days=1)
    if settings.meteofrance_lookback_days > 0 or offline:
        summary.lookback = backfill_weather(min(first, last), last, products, offline, now=now)
    for r in summary.runs:
        logger.info("%s: %s %s", r.run, r.status, "; ".join(r.gaps))
    for g in summary.gaps:
        logger.warning("weather gap: %s", g)
    create_table_artifact(
        key="weather-ingest", table=summary.table(), description=f"Weather runs as of {as_of}"
    )
    if reason := summary.unavailable():
        raise WeatherUnavailable(reason)
    return flow_state(summary)
