"""Load lake partitions into warehouse staging tables, day by day, only what changed."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from flows.errors import LakeObjectError, StagingLoadFailed, WarehouseError
from flows.lake import Lake, partition_day
from flows.warehouse import TableSpec, Warehouse

if TYPE_CHECKING:
    from prefect import Task
    from prefect.client.schemas.objects import TaskRun
    from prefect.states import State

# What an object that cannot become staging rows raises: a property of its bytes (or of the
# code reading them), so the same object fails the same way on every attempt.
DETERMINISTIC = (pa.ArrowException, WarehouseError, ValueError, TypeError, KeyError)


@dataclass(frozen=True)
class LakeSource:
    """A lake prefix of `<key>=<value>` partitions that loads into one staging table.

    The day of a partition is the first ten characters of its value, so `date=2024-01-31`
    and `run=2024-01-31T00Z` both belong to 2024-01-31; every object of a day is reloaded
    together when any of them changed.
    """

    prefix: str
    partition_key: str
    spec: TableSpec
    # Only objects with this file name belong to the source (several may share a folder).
    file_name: str | None = None
    # Turns one lake object (as Arrow) into staging rows; default: the table as it is.
    to_frame: Callable[[pa.Table, str], pd.DataFrame] = field(
        default=lambda table, key: table.to_pandas()
    )


@dataclass
class LoadResult:
    """What a load replaced in one staging table."""

    table: str
    days: list[date]
    rows: int
    # Day -> why it was left out (the object named); the other days loaded.
    failed_days: dict[date, str] = field(default_factory=dict)
    # Why the whole source could not be loaded, after its retries.
    error: str | None = None
    # Days (among `days`) emptied because their lake objects are gone: staging mirrors the lake.
    removed: list[date] = field(default_factory=list)

    def failures(self) -> list[str]:
        """What did not load, one line each."""
        lines = [f"{self.table}: {self.error}"] if self.error else []
        return lines + [self.failed_days[d] for d in sorted(self.failed_days)]


def _day_of(key: str, source: LakeSource) -> date | None:
    return partition_day(key[len(source.prefix) :], source.partition_key)


def lake_days(lake: Lake, source: LakeSource) -> dict[date, dict[str, str]]:
    """Day -> {key: etag} of the source's objects, from one listing."""
    by_day: dict[date, dict[str, str]] = defaultdict(dict)
    for key, tag in lake.etags(source.prefix).items():
        day = _day_of(key, source)
        name = key.rsplit("/", 1)[-1]
        wanted = name == source.file_name if source.file_name else name.endswith(".parquet")
        if day is not None and wanted:
            by_day[day][key] = tag
    return dict(by_day)


def fingerprint(objects: dict[str, str]) -> str:
    """A stable digest of a set of objects and their versions."""
    text = "\n".join(f"{k}={v}" for k, v in sorted(objects.items()))
    return hashlib.sha256(text.encode()).hexdigest()


# What a day emptied because its objects left the lake is recorded as: no objects at all.
GONE = fingerprint({})


def chunks(days: list[date], size: int | None) -> list[list[date]]:
    """Sorted days in consecutive runs of at most `size` (all in one when size is None)."""
    days = sorted(days)
    if not size or len(days) <= size:
        return [days] if days else []
    return [days[i : i + size] for i in range(0, len(days), size)]


def load_changed(
    lake: Lake,
    warehouse: Warehouse,
    dataset: str,
    source: LakeSource,
    since: date | None = None,
    force_days: set[date] | None = None,
) -> LoadResult:
    """Replace the staging day partitions whose lake objects changed since their last load.

    `since` limits the scan to recent days (history that changed is still caught by a later
    full load); `force_days` reloads days even when their fingerprint is unchanged. The days
    are swapped in chunks of at most the warehouse's `max_partitions_per_job`, each one its
    own transaction followed by its fingerprints: after a crash between chunks, the days of
    the chunks that committed are recorded and the next run loads exactly the others.
    """
    table = source.spec.name
    warehouse.ensure_table(dataset, source.spec)
    loaded = warehouse.loaded_fingerprints(dataset, table)
    days = lake_days(lake, source)
    # A day loaded before whose objects are all gone from the lake (deleted, quarantined) is
    # emptied in the same swap as the others: staging holds what the lake holds, no more.
    gone = {day: {} for day, print_ in loaded.items() if print_ != GONE and day not in days}
    todo = {
        day: objs
        for day, objs in {**days, **gone}.items()
        if (since is None or day >= since)
        and (loaded.get(day) != fingerprint(objs) or day in (force_days or set()))
    }
    rows, failed = 0, {}
    for chunk in chunks(list(todo), warehouse.max_partitions_per_job):
        frames, good = [], []
        for day in chunk:
            try:
                frames += [read_object(lake, source, key, day) for key in sorted(todo[day])]
                good.append(day)
            except LakeObjectError as exc:  # the other days still load; the run reports it
                failed[day] = str(exc)
        if not good:
            continue
        frame = pd.concat(frames, ignore_index=True) if frames else empty_frame(source.spec)
        rows += warehouse.replace_partitions(dataset, source.spec, frame, good)
        warehouse.record_loads(dataset, table, {day: fingerprint(todo[day]) for day in good})
    loaded = sorted(set(todo) - set(failed))
    return LoadResult(table, loaded, rows, failed, removed=sorted(set(gone) & set(loaded)))


def empty_frame(spec: TableSpec) -> pd.DataFrame:
    """No rows, with the table's columns: what a swap of days that are all gone inserts."""
    return spec.conform(pd.DataFrame({column: [] for column in spec.columns}))


def read_object(lake: Lake, source: LakeSource, key: str, day: date) -> pd.DataFrame:
    """One lake object as staging rows; LakeObjectError naming it when its bytes cannot be."""
    try:
        return source.spec.conform(source.to_frame(lake.read_parquet(key), key))
    except DETERMINISTIC as exc:
        raise LakeObjectError(
            f"lake object {key} (staging table {source.spec.name}, day {day}) cannot be"
            f" loaded: {type(exc).__name__}: {str(exc).rstrip('.')}. The day was left out of"
            f" this load; write it again (python -m flows backfill --start {day} --end {day})"
        ) from exc


def load_each(
    sources: list[LakeSource], load: Callable[[LakeSource], LoadResult]
) -> list[LoadResult]:
    """Load every source in order: one that fails is reported in its result, the others load."""
    results = []
    for source in sources:
        try:
            results.append(load(source))
        except Exception as exc:  # noqa: BLE001 - reported by raise_failures after the others
            error = f"{type(exc).__name__}: {exc}"
            results.append(LoadResult(source.spec.name, [], 0, error=error))
    return results


def raise_failures(results: list[LoadResult]) -> None:
    """StagingLoadFailed naming every source and day that did not load, if any."""
    lines = [line for r in results for line in r.failures()]
    if lines:
        head = f"staging load incomplete: {len(lines)} not loaded (the rest was):"
        raise StagingLoadFailed("\n".join([head, *lines]))


def retry_transient(task: Task, task_run: TaskRun, state: State) -> bool:
    """A load task's retry condition: not for errors the same objects would raise again."""
    exc = state.result(raise_on_failure=False)
    return not isinstance(exc, (LakeObjectError, *DETERMINISTIC))
