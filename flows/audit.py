"""The lake audits itself: each run checks every source's expected days against the lake.

An ODRÉ dataset is expected to hold every UTC day from its history start (the real-time
dataset, which the source keeps only for recent days: from its first day in the lake) to its
latest day in the lake. Every lake object that changed since its last staging load is read
once: an unreadable one is moved aside under `lake_quarantine_prefix`, never deleted. The
days missing (quarantined ones included) are re-fetched from ODRÉ, at most
`lake_audit_refetch_days` per dataset and run, oldest first; a day the source answers with no
rows is lost, recorded under `lake_audit_lost_prefix` and reported by every later audit.
The staging load that follows mirrors the lake: a day whose object is gone leaves staging.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.backends import open_lake, open_warehouse
from flows.errors import SourceUnreachable
from flows.lake import Lake
from flows.odre.schemas import Dataset, get_dataset
from flows.runlog import RECORD, flow_state
from flows.runs import run_name
from flows.settings import Settings, get_settings
from flows.sources import lake_sources
from flows.staging import DETERMINISTIC, LakeSource, fingerprint, lake_days
from flows.warehouse import Warehouse


@dataclass
class SourceAudit:
    """What the audit found and did for one source."""

    source: str
    expected_days: int = 0
    missing: list[date] = field(default_factory=list)  # absent when the audit looked
    # Day -> what was unreadable and where it was moved.
    quarantined: dict[date, str] = field(default_factory=dict)
    refetched: list[date] = field(default_factory=list)
    lost: list[date] = field(default_factory=list)  # the source no longer has them
    pending: list[date] = field(default_factory=list)  # beyond this run's batch
    error: str | None = None

    def problems(self) -> list[str]:
        """One line per kind of problem, naming the source and every day."""
        lines = [f"{self.source} {day}: {what}" for day, what in sorted(self.quarantined.items())]
        healed = sorted(set(self.missing) & set(self.refetched))
        if healed:
            lines.append(
                f"{self.source}: {len(healed)} days missing from the lake, re-fetched from the"
                f" source: {_days(healed)}"
            )
        if self.lost:
            lines.append(
                f"{self.source}: {len(self.lost)} days lost (not in the lake, the source has no"
                f" rows for them): {_days(self.lost)}"
            )
        if self.pending:
            lines.append(
                f"{self.source}: {len(self.pending)} days missing, left for the next runs"
                f" (AGGREGAT_LAKE_AUDIT_REFETCH_DAYS per run): {_days(self.pending)}"
            )
        if self.error:
            lines.append(f"{self.source}: {self.error}")
        return lines


def _days(days: list[date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(days))


@dataclass
class LakeAudit:
    """The lake audit of one run, source by source."""

    as_of: date
    sources: list[SourceAudit] = field(default_factory=list)

    @property
    def lake_problems(self) -> list[str]:
        """Every missing, unreadable or lost object, as the run summary's warnings."""
        return [f"lake audit: {line}" for s in self.sources for line in s.problems()]

    def describe(self) -> str:
        expected = sum(s.expected_days for s in self.sources)
        refetched = sum(len(s.refetched) for s in self.sources)
        head = (
            f"lake audit: {expected} expected days checked, {refetched} re-fetched,"
            f" {sum(len(s.quarantined) for s in self.sources)} objects quarantined,"
            f" {sum(len(s.lost) for s in self.sources)} days lost"
        )
        return "\n".join([head, *self.lake_problems])

    def markdown(self) -> str:
        lines = [f"# Lake audit as of {self.as_of}", "", "| source | expected days | problem |"]
        lines.append("|---|---|---|")
        for s in self.sources:
            for line in s.problems() or ["none"]:
                lines.append(f"| {s.source} | {s.expected_days} | {line.replace('|', '/')} |")
        return "\n".join(lines)


# --- unreadable objects -----------------------------------------------------------------------


def quarantine_key(settings: Settings, key: str, when: datetime) -> str:
    """Where an unreadable object is moved: under the quarantine prefix, stamped, same key."""
    return f"{settings.lake_quarantine_prefix.strip('/')}/{when:%Y%m%dT%H%M%SZ}/{key}"


def move_aside(lake: Lake, key: str, target: str) -> None:
    """Copy an object to `target`, then remove it: nothing is lost if this stops midway."""
    lake.write_bytes(target, lake.read_bytes(key))
    lake.delete(key)


def unreadable_objects(
    lake: Lake, warehouse: Warehouse, dataset: str, source: LakeSource
) -> dict[date, tuple[str, str]]:
    """Day -> (key, reason) of the objects that changed since their last load and cannot be
    read as staging rows (those that did not change were read when they were loaded)."""
    loaded = warehouse.loaded_fingerprints(dataset, source.spec.name)
    found: dict[date, tuple[str, str]] = {}
    for day, objects in lake_days(lake, source).items():
        if loaded.get(day) == fingerprint(objects):
            continue
        for key in sorted(objects):
            try:
                source.spec.conform(source.to_frame(lake.read_parquet(key), key))
            except DETERMINISTIC as exc:
                found[day] = (key, f"{type(exc).__name__}: {str(exc).rstrip('.')}")
                break
    return found


def quarantine(
    lake: Lake, settings: Settings, warehouse: Warehouse, source: LakeSource, when: datetime
) -> dict[date, str]:
    """Move every unreadable changed object of a source aside; day -> what was done."""
    done = {}
    for day, (key, reason) in unreadable_objects(
        lake, warehouse, settings.staging_dataset, source
    ).items():
        target = quarantine_key(settings, key, when)
        move_aside(lake, key, target)
        done[day] = f"unreadable lake object {key} ({reason[:300]}), moved to {target}"
    return done


# --- expected days ----------------------------------------------------------------------------


def odre_source(dataset: Dataset) -> LakeSource:
    """The staging source of an ODRÉ dataset's day objects."""
    return next(s for s in lake_sources() if s.prefix == dataset.lake_prefix())


def expected_days(lake: Lake, dataset: Dataset, settings: Settings, as_of: date) -> list[date]:
    """The days a dataset's lake prefix should hold: history start (or, for the recent-only
    real-time dataset, its first lake day) to its latest lake day."""
    from flows.odre.ingest import history_start

    present = sorted(lake_days(lake, odre_source(dataset)))
    if not present:
        return []  # a first run: the ingestion fetches the history
    first = present[0] if dataset.history_days_setting else history_start(dataset, settings, as_of)
    first = min(first, present[0])
    return [first + timedelta(days=i) for i in range((present[-1] - first).days + 1)]


def lost_key(settings: Settings, dataset: Dataset) -> str:
    """The lake object listing the days the source no longer has for a dataset."""
    return f"{settings.lake_audit_lost_prefix.strip('/')}/{dataset.id}.json"


def read_lost(lake: Lake, settings: Settings, dataset: Dataset) -> set[date]:
    key = lost_key(settings, dataset)
    if not lake.exists(key):
        return set()
    return {date.fromisoformat(d) for d in json.loads(lake.read_bytes(key))}


def write_lost(lake: Lake, settings: Settings, dataset: Dataset, days: set[date]) -> None:
    lake.write_bytes(
        lost_key(settings, dataset), json.dumps(sorted(d.isoformat() for d in days)).encode()
    )


def runs_of(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as (first, last) runs of consecutive days."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def refetch(
    lake: Lake, settings: Settings, dataset: Dataset, days: list[date], as_of: date
) -> tuple[list[date], list[date], str | None]:
    """Ask ODRÉ again for these days: (re-fetched, lost, error)."""
    from flows.odre.client import OdreClient
    from flows.odre.flow import ingest_dataset

    fetched: set[date] = set()
    asked: set[date] = set()
    with OdreClient(settings) as client:
        for first, last in runs_of(days):
            result = ingest_dataset(lake, client, dataset, settings, as_of, first, last)
            if result.error:
                return sorted(fetched), sorted(asked - fetched), f"re-fetch failed: {result.error}"
            asked |= {first + timedelta(days=i) for i in range((last - first).days + 1)}
            fetched |= {d for d, rows in result.rows_per_day.items() if rows}
    return sorted(fetched & asked), sorted(asked - fetched), None


def audit_dataset(
    lake: Lake, settings: Settings, dataset: Dataset, quarantined: dict[date, str], as_of: date
) -> SourceAudit:
    """Expected days against the lake for one ODRÉ dataset; the missing ones re-fetched."""
    audit = SourceAudit(dataset.id, quarantined=quarantined)
    # A quarantined day is expected even at the ends of the range (its object just left).
    expected = sorted(set(expected_days(lake, dataset, settings, as_of)) | set(quarantined))
    audit.expected_days = len(expected)

    present = set(lake_days(lake, odre_source(dataset)))
    recorded = read_lost(lake, settings, dataset)
    known_lost = set(recorded)
    audit.missing = sorted(set(expected) - present)
    todo = [d for d in audit.missing if d not in known_lost]
    limit = settings.lake_audit_refetch_days
    batch, audit.pending = todo[:limit], todo[limit:]
    if batch:
        try:
            audit.refetched, lost_now, audit.error = refetch(lake, settings, dataset, batch, as_of)
        except SourceUnreachable as exc:
            lost_now, audit.error = [], f"re-fetch not possible: {exc}"
        known_lost |= set(lost_now)
        # What a failed re-fetch did not reach is still missing: the next run asks again.
        audit.pending = sorted(set(batch) - set(audit.refetched) - known_lost) + audit.pending
    # A lost day back in the lake (a backfill found it) is no longer lost.
    known_lost -= present | set(audit.refetched)
    if known_lost != recorded:
        write_lost(lake, settings, dataset, known_lost)
    audit.lost = sorted(d for d in known_lost if d in set(expected))
    return audit


@flow(
    name="audit-lake",
    flow_run_name=run_name("audit"),
    on_completion=RECORD,
    on_failure=RECORD,
)
def audit_lake(as_of: date | None = None) -> LakeAudit:
    """Check every source's expected days against the lake: quarantine unreadable objects,
    re-fetch missing days (bounded), report missing, unreadable and lost days."""
    settings = get_settings()
    lake = open_lake(settings)
    report = LakeAudit(as_of or settings.today())
    when = datetime.now(UTC)
    warehouse = open_warehouse(settings)
    try:
        quarantined = {
            source.prefix: quarantine(lake, settings, warehouse, source, when)
            for source in lake_sources()
        }
    finally:
        warehouse.close()
    odre = {get_dataset(d).lake_prefix(): get_dataset(d) for d in settings.odre_datasets}
    for prefix, dataset in odre.items():
        report.sources.append(
            audit_dataset(lake, settings, dataset, quarantined.pop(prefix, {}), report.as_of)
        )
    # The other sources (weather runs, forecasts, run records) are rebuilt by a backfill.
    for prefix, days in quarantined.items():
        if days:
            backfill = {
                d: f"{w}; rebuild it: python -m flows backfill --start {d} --end {d}"
                for d, w in days.items()
            }
            report.sources.append(SourceAudit(prefix.rstrip("/"), quarantined=backfill))
    logger = get_run_logger()
    for line in report.describe().splitlines():
        (logger.warning if line in report.lake_problems else logger.info)("%s", line)
    create_markdown_artifact(key="lake-audit", markdown=report.markdown(), description="Lake audit")
    return flow_state(report)
