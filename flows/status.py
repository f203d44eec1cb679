"""Every status a run reports, as StrEnums (their values are what summaries and artifacts show),
and the one backfill record both the ODRÉ and the weather side of a backfill fill in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class StepStatus(StrEnum):
    """How a step of the daily pipeline ended."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # a step it needs did not end ok


class WeatherRunStatus(StrEnum):
    """What the weather flow did with one model run of the day."""

    CURATED = "curated"  # every feature package archived, decoded, curated now
    UP_TO_DATE = "up_to_date"  # already curated from the same files
    NOT_READY = "not_ready"  # too early for this run: not an error
    INCOMPLETE = "incomplete"  # gaps latency does not explain
    RAW_ONLY = "raw_only"  # archived, but no feature package to decode


class FileStatus(StrEnum):
    """What happened to one GRIB group file."""

    DOWNLOADED = "downloaded"  # fetched now, validated, archived
    PRESENT = "present"  # already archived with the same content: not fetched
    NOT_PUBLISHED = "not_published"  # 404 at the source (not yet, or no longer)
    INVALID = "invalid"  # fetched but rejected by validation: not archived
    FAILED = "failed"  # HTTP or network error after every retry


class RunStatus(StrEnum):
    """Whether every group file of one product run is archived."""

    COMPLETE = "complete"  # every group archived and valid
    NOT_READY = "not_ready"  # too early, or the last group not published yet
    INCOMPLETE = "incomplete"  # gaps that are not explained by latency


class BackfillStatus(StrEnum):
    """What a backfill found or did for one day of one dataset or product."""

    ARCHIVED = "archived"  # already in the lake
    REBUILT = "rebuilt"  # rebuilt from what the lake archived
    DOWNLOADED = "downloaded"  # fetched again from the source
    MISSING = "missing"  # neither the lake nor the source has it


@dataclass
class BackfillRow:
    """What a backfill found or did for one day and one dataset or product."""

    day: date
    product: str
    status: BackfillStatus
    detail: str = ""
