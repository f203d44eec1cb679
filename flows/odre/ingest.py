"""The pure steps of ODRÉ ingestion: plan windows, land bodies, replace day partitions.

The loop over datasets and windows is the `ingest-odre` flow (flows/odre/flow.py), each step
there a task wrapping one function here.

Windows are whole UTC days because the day partition is the unit of replacement: a window
starting mid-day would replace that day with part of its rows. The look-back of the real-time
dataset (hours) is therefore rounded out to whole days.

A run costs its windows, not the history: when a partition exists inside the look-back window
(one `exists` probe in the usual case), the run re-reads just that window; only a run whose
look-back finds nothing (first run, a long outage) lists the dataset's partitions to find its
watermark, and then it has that much work to do anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

from flows.errors import LakeError
from flows.lake import DAY, Lake
from flows.odre.client import OdreClient, Window
from flows.odre.parse import Parsed, day_partitions, partition_bytes, stored_digest
from flows.odre.schemas import DATASETS, ECO2MIX_CONS_DEF, ECO2MIX_TR, Dataset
from flows.settings import Settings
from flows.staging import LakeSource


@dataclass
class WindowResult:
    """What one export window brought and what it changed in the lake."""

    window: Window
    rows_fetched: int
    rows_per_day: dict[date, int]
    days_written: list[date]
    days_unchanged: list[date]
    landing_key: str
    warnings: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)  # the schema-contract warnings


@dataclass
class DatasetSummary:
    """One dataset's run: its windows in order, and the error that stopped it, if any."""

    dataset: str
    windows: list[WindowResult] = field(default_factory=list)
    error: str | None = None

    @property
    def rows_fetched(self) -> int:
        return sum(w.rows_fetched for w in self.windows)

    @property
    def days_written(self) -> list[date]:
        return sorted(d for w in self.windows for d in w.days_written)

    @property
    def rows_per_day(self) -> dict[date, int]:
        return {d: n for w in self.windows for d, n in sorted(w.rows_per_day.items())}

    @property
    def empty_windows(self) -> list[Window]:
        return [w.window for w in self.windows if w.rows_fetched == 0]

    @property
    def warnings(self) -> list[str]:
        """Each schema-contract warning once, with the windows whose answer raised it."""
        seen: dict[str, list[Window]] = {}
        for w in self.windows:
            for text in w.drift:
                seen.setdefault(text, []).append(w.window)
        return [
            f"ODRÉ {self.dataset} {_windows(windows)}: {text}" for text, windows in seen.items()
        ]


def _windows(windows: list[Window]) -> str:
    if len(windows) == 1:
        return f"window {windows[0]}"
    return f"{len(windows)} windows [{windows[0].start}, {windows[-1].end})"


@dataclass
class IngestSummary:
    """The outcome of an ingestion run, per dataset."""

    as_of: date
    datasets: list[DatasetSummary] = field(default_factory=list)

    @property
    def errors(self) -> dict[str, str]:
        return {d.dataset: d.error for d in self.datasets if d.error}

    @property
    def rows_fetched(self) -> int:
        return sum(d.rows_fetched for d in self.datasets)

    @property
    def warnings(self) -> list[str]:
        """What the answers changed in the datasets' schemas: the step ends in `warning`."""
        return [w for d in self.datasets for w in d.warnings]

    def describe(self) -> str:
        """One line per dataset, for run summaries."""
        lines = []
        for d in self.datasets:
            span = f"{d.windows[0].window.start}..{d.windows[-1].window.end}" if d.windows else "-"
            line = (
                f"{d.dataset}: {len(d.windows)} windows {span}, {d.rows_fetched} rows, "
                f"{len(d.days_written)} day partitions replaced"
            )
            if d.empty_windows:
                line += f", empty answers for {', '.join(map(str, d.empty_windows))}"
            if d.error:
                line += f" - FAILED: {d.error}"
            lines.append(line)
        return "\n".join(lines)

    def markdown(self, max_rows: int = 400) -> str:
        """A Markdown report: datasets, then rows per dataset and day replaced."""
        lines = [
            f"# ODRÉ ingestion as of {self.as_of}",
            "",
            *(f"- {x}" for x in self.describe().splitlines()),
        ]
        lines += ["", "| dataset | day | rows | partition |", "|---|---|---|---|"]
        rows = [
            (d.dataset, day, n, "replaced" if day in w.days_written else "unchanged")
            for d in self.datasets
            for w in d.windows
            for day, n in sorted(w.rows_per_day.items())
        ]
        lines += [f"| {ds} | {day} | {n} | {what} |" for ds, day, n, what in rows[:max_rows]]
        if len(rows) > max_rows:
            lines.append(f"| ... | {len(rows) - max_rows} more days | | |")
        return "\n".join(lines)


# The datasets whose days int_electricity__quality checks (dbt): their quarantined days are
# re-fetched until they pass.
QUALITY_CHECKED = (ECO2MIX_TR.id, ECO2MIX_CONS_DEF.id)


# --- planning -------------------------------------------------------------------------------


def lookback_days(dataset: Dataset, settings: Settings) -> int:
    """The dataset's re-read window in whole days (hours are rounded up)."""
    amount = int(getattr(settings, dataset.lookback_setting))
    return math.ceil(amount / 24) if dataset.lookback_unit == "hours" else amount


def history_start(dataset: Dataset, settings: Settings, as_of: date) -> date:
    """First day a first run loads: settings.history_start, or recent days for real-time data."""
    if dataset.history_days_setting:
        days = int(getattr(settings, dataset.history_days_setting))
        return max(settings.history_start, as_of - timedelta(days=days))
    return settings.history_start


def watermark(lake: Lake, dataset: Dataset) -> date | None:
    """The latest day partition of a dataset in the lake (a full listing)."""
    days = lake.list_partitions(dataset.lake_prefix(), DAY)
    return date.fromisoformat(days[-1]) if days else None


def has_partition_in(lake: Lake, dataset: Dataset, window: Window) -> bool:
    """Whether any day of the window is in the lake, probing oldest first (usually one call)."""
    return any(lake.exists(dataset.partition_key(day)) for day in window.days())


def plan_windows(
    lake: Lake,
    dataset: Dataset,
    settings: Settings,
    as_of: date,
    start: date | None = None,
    end: date | None = None,
) -> list[Window]:
    """The export windows of a run, oldest first, each at most settings.odre_chunk_days long.

    Explicit `start`..`end` (inclusive, default end as_of) re-ingest exactly those days.
    Otherwise the run re-reads its look-back window ending at as_of + 1 day, reaching back to
    the watermark when the lake stops earlier, or to the history start on a first run.
    """
    if start is not None:
        last = end or as_of
        if last < start:
            raise ValueError(f"{dataset.id}: end {last} is before start {start}")
        return Window(start, last + timedelta(days=1)).chunks(settings.odre_chunk_days)
    stop = (end or as_of) + timedelta(days=1)
    lookback = Window(stop - timedelta(days=max(1, lookback_days(dataset, settings))), stop)
    if has_partition_in(lake, dataset, lookback):
        begin = lookback.start
    else:
        mark = watermark(lake, dataset)
        begin = min(mark, lookback.start) if mark else history_start(dataset, settings, as_of)
    if begin >= stop:
        return []
    return Window(begin, stop).chunks(settings.odre_chunk_days)


def quarantine_windows(
    dataset: Dataset, quarantined: list[date], planned: list[Window]
) -> list[Window]:
    """Windows re-fetching the UTC days of quarantined local days that the plan leaves out.

    A day failing a quality rule is kept out of the marts; re-reading it on every run, look-back
    or not, lets the source's correction reach them. A local day spans two UTC days.
    """
    if dataset.id not in QUALITY_CHECKED:
        return []
    covered = {d for w in planned for d in w.days()}
    days = sorted({d - timedelta(days=k) for d in quarantined for k in (0, 1)} - covered)
    windows: list[Window] = []
    for day in days:
        if windows and windows[-1].end == day:
            windows[-1] = Window(windows[-1].start, day + timedelta(days=1))
        else:
            windows.append(Window(day, day + timedelta(days=1)))
    return windows


# --- one window -----------------------------------------------------------------------------


def landing_key(dataset: Dataset, window: Window) -> str:
    """Where an export body is kept as received."""
    return f"landing/odre/{dataset.id}/{window.slug}.parquet"


def fetch_and_land(lake: Lake, client: OdreClient, dataset: Dataset, window: Window) -> bytes:
    """Fetch one window and keep the body in the lake before anything parses it."""
    body = client.export(dataset, window)
    lake.write_bytes(landing_key(dataset, window), body)
    return body


def _unchanged(lake: Lake, key: str, digest: str) -> bool:
    """Whether the lake already holds these rows (ingestion time aside), from the footer."""
    try:
        return stored_digest(lake.read_bytes(key)) == digest
    except LakeError:
        return False


def write_days(
    lake: Lake, dataset: Dataset, window: Window, parsed: Parsed
) -> tuple[list[date], list[date]]:
    """Replace the day partitions present in the rows; returns (written, unchanged) days.

    Every day is converted before any is written; days are written oldest first so a killed
    run leaves a watermark the next run resumes from. Days absent from the answer are left
    alone: an empty answer never wipes partitions. A day whose rows are already in the lake
    is not rewritten, so a run without news leaves the lake (and staging) untouched.
    """
    written, unchanged = [], []
    for part in day_partitions(dataset, parsed.frame):
        key = dataset.partition_key(part.day)
        if _unchanged(lake, key, part.digest):
            unchanged.append(part.day)
            continue
        lake.write_bytes(key, partition_bytes(part))
        written.append(part.day)
    return written, unchanged


def window_result(
    dataset: Dataset, window: Window, parsed: Parsed, written: list[date], unchanged: list[date]
) -> WindowResult:
    """The summary of one window."""
    per_day = parsed.rows_per_day()
    return WindowResult(
        window=window,
        rows_fetched=parsed.rows_received,
        rows_per_day=per_day,
        days_written=written,
        days_unchanged=unchanged,
        landing_key=landing_key(dataset, window),
        warnings=parsed.warnings,
        drift=parsed.drift,
    )


# --- staging ------------------------------------------------------------------------------


def lake_sources() -> list[LakeSource]:
    """The four datasets' day partitions, for the staging load (already staging-shaped)."""
    return [
        LakeSource(prefix=d.lake_prefix(), partition_key=DAY, spec=d.table)
        for d in DATASETS.values()
    ]
