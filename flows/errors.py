"""Every error the flows raise on purpose, in one place: each message names the thing and the fix.

All derive from `AggregatError`, so a caller (the CLI, a pipeline step) can tell an expected
failure, reported in one line, from a bug, which keeps its traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flows.pipeline import PipelineSummary
    from flows.status import BackfillRow
    from flows.transform import TransformSummary


class AggregatError(Exception):
    """A failure the project anticipates; its message is meant for the user."""


class SettingsError(AggregatError, ValueError):
    """The environment or .env holds a setting that cannot be used; says which and how to fix it."""


class SourceUnreachable(AggregatError, RuntimeError):
    """A source's host cannot be reached at all (no such name, connection refused): retrying
    will not help; the message names the host and the setting that points at it."""


# --- storage ---------------------------------------------------------------------------------
class LakeError(AggregatError, RuntimeError):
    """A lake object is missing, unreadable or could not be written."""


class LakeObjectError(LakeError):
    """A lake object that exists but cannot be loaded (truncated, corrupt, not its table's
    schema): retrying cannot help; the message names the object, the table and the day."""


class LakeKeyError(LakeError, ValueError):
    """A key's partition segment is not in the lake's format."""


class WarehouseError(AggregatError, RuntimeError):
    """A warehouse load or query could not be done; nothing was changed."""


class StagingLoadFailed(WarehouseError):
    """Some sources or days could not be loaded into staging (the others were); names each."""


class GcpConfigError(AggregatError, RuntimeError):
    """Credentials, project or endpoint of the gcp profile are missing or do not work."""


# --- sources ---------------------------------------------------------------------------------
class OdreError(AggregatError, RuntimeError):
    """An ODRÉ export could not be fetched or parsed; the message names dataset and window."""


class CatalogueError(AggregatError, ValueError):
    """A product, grid or group that the catalogue does not know."""


class WeatherUnavailable(AggregatError, RuntimeError):
    """Not one file of the day's weather runs could be fetched or validated; names the first
    errors."""


class TransientHTTPError(AggregatError, RuntimeError):
    """A 5xx or 429 answer, or a body shorter than announced: worth retrying."""


class GribError(AggregatError):
    """A GRIB file that cannot be trusted: truncated, corrupt, or not what was expected."""


class ArchiveError(AggregatError, RuntimeError):
    """A run's archive is missing files or cannot be read."""


# --- forecast --------------------------------------------------------------------------------
class InputMissingError(AggregatError, RuntimeError):
    """A table the forecast reads does not exist yet; the message names it."""


class FeatureError(AggregatError, ValueError):
    """Inputs cannot make complete features; the message names what is missing."""


class DataQualityError(AggregatError, ValueError):
    """An input of the prediction is missing, stale or implausible; nothing was predicted."""


class ModelError(AggregatError, RuntimeError):
    """A model cannot be trained, loaded or applied; the message names the cause."""


class TrainingError(AggregatError, RuntimeError):
    """A model cannot be trained from the data at hand; the message names the window."""


class RegistryError(AggregatError, RuntimeError):
    """The registry or one of its models is unusable; the message names the object."""


# --- runs ------------------------------------------------------------------------------------
class TransformError(AggregatError, RuntimeError):
    """dbt build could not run, or some of its nodes failed."""

    def __init__(self, message: str, summary: TransformSummary | None = None) -> None:
        super().__init__(message)
        self.summary = summary

    @property
    def failed_nodes(self) -> list[str]:
        return [f.unique_id for f in self.summary.failures] if self.summary else []


class PipelineFailed(AggregatError, RuntimeError):
    """One or more steps failed; the summary says which and why."""

    def __init__(self, summary: PipelineSummary) -> None:
        super().__init__(f"steps failed: {', '.join(summary.failed)}")
        self.summary = summary


class BackfillIncomplete(AggregatError, RuntimeError):
    """A backfill ended with days that neither the lake nor the source has; holds its rows."""

    def __init__(self, rows: list[BackfillRow]) -> None:
        super().__init__(rows)  # the rows alone as args: the error pickles as Prefect stores it
        self.rows = rows

    @property
    def missing(self) -> list[BackfillRow]:
        return [r for r in self.rows if r.status == "missing"]

    def __str__(self) -> str:
        first = ", ".join(f"{r.day} {r.product}" for r in self.missing[:5])
        more = " …" if len(self.missing) > 5 else ""
        return (
            f"{len(self.missing)} of {len(self.rows)} day x product rows missing (neither the"
            f" lake nor the source has them): {first}{more}"
        )
