"""Export bodies to typed staging rows: pure functions, no I/O beyond the bytes given.

What the sources really send (SOURCES.md): columns added over time, `ND` in numeric
columns, timestamps in whatever timezone was asked, spring-forward null duplicates.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flows.errors import OdreError
from flows.odre.client import Window
from flows.odre.schemas import Dataset
from flows.warehouse import ARROW_TYPES

PARQUET_MAGIC = b"PAR1"
DIGEST_KEY = "aggregat.content_sha256"


@dataclass
class Parsed:
    """The typed rows of one export window and what was noticed on the way."""

    frame: pd.DataFrame  # exactly the staging columns, sorted by the dataset key
    rows_received: int
    warnings: list[str] = field(default_factory=list)  # everything noticed, for the log
    drift: list[str] = field(default_factory=list)  # the schema-contract warnings among them

    def rows_per_day(self) -> dict[date, int]:
        """How many rows each UTC day has."""
        return {d: int(n) for d, n in sorted(self.frame["day"].value_counts().items())}


def _fail(dataset: Dataset, window: Window, what: str) -> OdreError:
    return OdreError(f"ODRÉ {dataset.id} window {window}: {what}")


def check_contract(dataset: Dataset, window: Window, names: set[str]) -> list[str]:
    """The answer's fields against the dataset's schema: a missing required field is an
    error naming dataset, window and field; an absent optional or a new unknown field is a
    warning (returned) for the run summary."""
    missing = [f for f in dataset.required if f not in names]
    if missing:
        raise _fail(
            dataset,
            window,
            f"required fields missing from the export: {', '.join(missing)} (the source renamed"
            " or dropped them; map the new name in flows/odre/schemas.py, or declare a field"
            " the source may drop in the dataset's `optional` with the reason)",
        )
    drift = [
        f"optional field {f} absent from the export, staged as null ({reason})"
        for f, reason in dataset.optional.items()
        if f not in names
    ]
    unknown = sorted(names - set(dataset.fields) - set(dataset.ignored))
    if unknown:
        drift.append(
            f"new unknown fields ignored: {', '.join(unknown)} (add them to the dataset's"
            " fields in flows/odre/schemas.py to stage them, or to `ignored`)"
        )
    return drift


def read_body(dataset: Dataset, window: Window, body: bytes) -> pa.Table:
    """The Parquet export body as an Arrow table; a truncated or foreign body is a clear error."""
    if not body.startswith(PARQUET_MAGIC):
        raise _fail(
            dataset, window, f"body is not Parquet ({len(body)} bytes, starts {body[:40]!r})"
        )
    if not body.endswith(PARQUET_MAGIC):
        raise _fail(dataset, window, f"truncated Parquet body ({len(body)} bytes, no footer)")
    try:
        return pq.read_table(io.BytesIO(body))
    except (pa.ArrowException, OSError) as exc:
        raise _fail(dataset, window, f"unreadable Parquet body ({len(body)} bytes): {exc}") from exc


def _timestamps(values: pa.ChunkedArray) -> pd.Series:
    """UTC instants, naive: tz-aware values are converted, naive ones are taken as UTC."""
    if pa.types.is_timestamp(values.type):
        series = values.to_pandas()
        if values.type.tz is None:
            return series.astype("datetime64[us]")
        return series.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    series = pd.to_datetime(values.to_pandas(), utc=True, errors="coerce", format="ISO8601")
    return series.dt.tz_localize(None).astype("datetime64[us]")


def _dates(values: pa.ChunkedArray) -> pd.Series:
    """Calendar dates as written by the source (a timestamp keeps its own local date)."""
    if pa.types.is_date(values.type):
        return pd.Series(values.to_pylist(), dtype="object")
    series = values.to_pandas()
    if not pd.api.types.is_datetime64_any_dtype(series):
        series = pd.to_datetime(series, errors="coerce", format="ISO8601")
    return series.dt.date.astype("object")


def _numbers(values: pa.ChunkedArray, name: str, warnings: list[str]) -> pd.Series:
    """Numeric values; `ND` and other non-numeric strings become null."""
    series = values.to_pandas()
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    text = series.astype("string").str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    odd = text[numbers.isna() & text.notna() & (text != "") & (text != "ND")]
    if len(odd):
        warnings.append(f"{name}: {len(odd)} non-numeric values set to null, e.g. {odd.iloc[0]!r}")
    return numbers.astype("float64")


def _typed(values: pa.ChunkedArray, name: str, kind: str, warnings: list[str]) -> pd.Series:
    if kind == "timestamp":
        return _timestamps(values)
    if kind == "date":
        return _dates(values)
    if kind == "float64":
        return _numbers(values, name, warnings)
    if kind == "int64":
        numbers = _numbers(values, name, warnings)
        return numbers.round().astype("Int64")
    if kind == "bool":
        return values.to_pandas().astype("boolean")
    return values.to_pandas().astype("string")


def _empty_frame(dataset: Dataset) -> pd.DataFrame:
    return dataset.arrow_schema.empty_table().to_pandas()


def _collapse_duplicates(
    dataset: Dataset, frame: pd.DataFrame, warnings: list[str]
) -> pd.DataFrame:
    """One row per key: the row with the most values wins (DST artefacts are null rows)."""
    key = list(dataset.key)
    values = [c for c in dataset.fields if c not in key]
    filled = frame[values].notna().sum(axis=1)
    ranked = frame.assign(_filled=filled).sort_values(
        [*key, "_filled"], ascending=[True] * len(key) + [False], kind="stable"
    )
    unique = ranked.drop_duplicates(key, keep="first").drop(columns="_filled")
    dropped = len(frame) - len(unique)
    if dropped:
        warnings.append(f"{dropped} duplicate rows on {key} collapsed (kept the fullest row)")
    return unique.reset_index(drop=True)


def typed_rows(dataset: Dataset, window: Window, table: pa.Table, ingested_at: datetime) -> Parsed:
    """Arrow rows of an export to the dataset's staging columns, checked against the window."""
    warnings: list[str] = []
    if table.num_rows == 0:
        return Parsed(_empty_frame(dataset), 0, ["empty answer: no rows in the window"])
    names = set(table.column_names)
    drift = check_contract(dataset, window, names)
    columns: dict[str, pd.Series] = {}
    for name, kind in dataset.fields.items():
        if name in names:
            columns[name] = _typed(table.column(name), name, kind, warnings)
        else:  # an optional field the contract lets the source drop: null
            nulls = pa.chunked_array([pa.nulls(table.num_rows, ARROW_TYPES[kind])])
            columns[name] = _typed(nulls, name, kind, warnings)
    frame = pd.DataFrame(columns)
    timed = frame[dataset.time_field].notna()
    if not timed.all():
        warnings.append(f"{int((~timed).sum())} rows without {dataset.time_field} dropped")
        frame = frame[timed]
    times = frame[dataset.time_field]
    frame.insert(0, "day", times.dt.date if dataset.time_is_timestamp else times)
    outside = sorted({d for d in frame["day"] if not window.start <= d < window.end})
    if outside:
        raise _fail(dataset, window, f"rows for days outside the window: {outside[:5]}")
    frame = _collapse_duplicates(dataset, frame, warnings)
    stamp = pd.Timestamp(ingested_at)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    frame["ingested_at"] = pd.Series(stamp, index=frame.index).astype("datetime64[us]")
    return Parsed(frame[list(dataset.table.columns)], table.num_rows, warnings + drift, drift)


def parse_export(dataset: Dataset, window: Window, body: bytes, ingested_at: datetime) -> Parsed:
    """An export body to typed staging rows of one window (see `typed_rows`)."""
    return typed_rows(dataset, window, read_body(dataset, window, body), ingested_at)


def to_arrow(dataset: Dataset, frame: pd.DataFrame) -> pa.Table:
    """Staging rows as an Arrow table with the dataset's exact partition schema."""
    return pa.Table.from_pandas(
        frame[list(dataset.table.columns)], schema=dataset.arrow_schema, preserve_index=False
    )


@dataclass(frozen=True)
class DayPartition:
    """One UTC day of staging rows, ready to write, with a digest of its content."""

    day: date
    table: pa.Table
    digest: str  # of the rows, ingestion time aside: equal digests, same data


def day_partitions(dataset: Dataset, frame: pd.DataFrame) -> list[DayPartition]:
    """Staging rows cut into UTC days, converted to Arrow once and sliced."""
    if frame.empty:
        return []
    frame = frame.sort_values("day", kind="stable").reset_index(drop=True)
    row_hashes = pd.util.hash_pandas_object(frame.drop(columns="ingested_at"), index=False)
    row_hashes = row_hashes.to_numpy()
    header = repr(sorted(dataset.table.columns.items())).encode()
    table = to_arrow(dataset, frame)
    starts = np.flatnonzero(frame["day"].ne(frame["day"].shift()).to_numpy()).tolist()
    bounds = zip(starts, [*starts[1:], len(frame)], strict=True)
    return [
        DayPartition(
            frame["day"].iloc[lo],
            table.slice(lo, hi - lo),
            hashlib.sha256(header + row_hashes[lo:hi].tobytes()).hexdigest(),
        )
        for lo, hi in bounds
    ]


def partition_bytes(part: DayPartition) -> bytes:
    """A day partition as Parquet bytes, its content digest kept in the footer."""
    table = part.table.replace_schema_metadata({DIGEST_KEY: part.digest})
    buf = io.BytesIO()
    # snappy: a day is small, and per-column zstd set-up costs more than it saves here
    pq.write_table(table, buf, compression="snappy")
    return buf.getvalue()


def stored_digest(data: bytes) -> str | None:
    """The content digest in a partition's footer, without decoding its rows."""
    try:
        metadata = pq.read_schema(io.BytesIO(data)).metadata or {}
    except (pa.ArrowException, OSError):
        return None
    digest = metadata.get(DIGEST_KEY.encode())
    return digest.decode() if digest else None
