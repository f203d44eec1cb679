"""The data lake: a local folder or a GCS bucket behind one interface, with atomic writes.

Object keys are identical on both backends (see the README's lake layout). A reader never
sees a half-written object: locally a write goes to a temporary file renamed into place; on
GCS an object only exists once its upload completed and the server checked its checksum.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flows.errors import LakeError, LakeKeyError

if TYPE_CHECKING:
    from google.cloud.storage import Client


CHUNK = 1 << 20


def _process_umask() -> int:
    # Only os.umask reads it (and sets it too): once, at import, before any thread writes.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# What a plain open() would create: mkstemp's 0600 would hide a shared lake from its group.
FILE_MODE = 0o666 & ~_process_umask()

# --- partition keys ---------------------------------------------------------------------------
# A lake object's partition is one `name=value` segment of its key: `date=YYYY-MM-DD` for a UTC
# day, `run=YYYY-MM-DDTHHZ` for a model run (UTC). Every key is written and read here.
DAY = "date"
RUN = "run"
RUN_FORMAT = "%Y-%m-%dT%HZ"


def day_segment(day: date) -> str:
    """The segment of a day partition, `date=2026-05-11`."""
    return f"{DAY}={day.isoformat()}"


def run_label(run_time: datetime) -> str:
    """The value of a run partition, `2026-05-11T00Z`."""
    return run_time.astimezone(UTC).strftime(RUN_FORMAT)


def run_segment(run_time: datetime) -> str:
    """The segment of a run partition, `run=2026-05-11T00Z`."""
    return f"{RUN}={run_label(run_time)}"


def parse_run_label(text: str) -> datetime:
    """The UTC run time of a run partition value like `2026-05-11T00Z`."""
    try:
        return datetime.strptime(text, RUN_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise LakeKeyError(f"not a run label YYYY-MM-DDTHHZ: {text!r}") from exc


def segment_value(key: str, name: str) -> str | None:
    """The value of the key's first `name=` segment, or None."""
    marker = f"{name}="
    for part in key.split("/"):
        if part.startswith(marker):
            return part[len(marker) :]
    return None


def partition_day(key: str, name: str) -> date | None:
    """The day a key's `date=` or `run=` partition falls on (its value's first ten characters)."""
    value = segment_value(key, name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise LakeKeyError(f"{key}: partition {name}={value} does not start with a day") from exc


class Lake(ABC):
    """Object storage with the same keys on every backend."""

    url: str

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Write an object atomically, replacing any previous version."""

    @abstractmethod
    def upload_file(self, key: str, path: Path) -> None:
        """Copy a local file into the lake atomically."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """Read a whole object."""

    @abstractmethod
    def download_file(self, key: str, path: Path) -> Path:
        """Copy an object to a local file and return its path."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object exists."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys under a prefix, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete an object; a missing one is not an error."""

    @abstractmethod
    def md5(self, key: str) -> str | None:
        """Hex MD5 of an object, or None when it does not exist."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """Where an object lives, for humans and for load jobs (a path or gs:// URI)."""

    @abstractmethod
    def etags(self, prefix: str = "") -> dict[str, str]:
        """Key -> a version tag that changes whenever the object is rewritten, from a listing."""

    # --- shared helpers over the primitives -------------------------------------------
    def local_path(self, key: str) -> Path | None:
        """The object as a file on this machine, if the lake keeps it as one (else None)."""
        return None

    def write_parquet(self, key: str, table: pa.Table | pd.DataFrame) -> None:
        """Write a frame or Arrow table as one zstd Parquet object."""
        if isinstance(table, pd.DataFrame):
            table = pa.Table.from_pandas(table, preserve_index=False)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        self.write_bytes(key, buf.getvalue())

    def read_parquet(self, key: str) -> pa.Table:
        """Read one Parquet object."""
        return pq.read_table(io.BytesIO(self.read_bytes(key)))

    def list_partitions(self, prefix: str, name: str) -> list[str]:
        """Values of a `name=value` path segment found under a prefix, sorted and unique."""
        values = {segment_value(key[len(prefix) :], name) for key in self.list(prefix)}
        return sorted(v for v in values if v is not None)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a prefix; returns how many."""
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/"):
        raise LakeError(f"invalid lake key {key!r}")
    return key


def file_md5(path: Path) -> str:
    """Hex MD5 of a local file, streamed."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class LocalLake(Lake):
    """A folder on disk; writes go through a temporary file and an atomic rename."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def _atomic_write(self, key: str, writer) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "wb") as fh:
                writer(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_bytes(self, key: str, data: bytes) -> None:
        self._atomic_write(key, lambda fh: fh.write(data))

    def upload_file(self, key: str, path: Path) -> None:
        def copy(fh) -> None:
            with open(path, "rb") as src:
                for block in iter(lambda: src.read(CHUNK), b""):
                    fh.write(block)

        self._atomic_write(key, copy)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise LakeError(f"lake object {key!r} not found in {self.url}") from exc

    def download_file(self, key: str, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.read_bytes(key))
        return path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _walk(self, base: Path) -> Iterator[Path]:
        for dirpath, _, files in os.walk(base):
            for name in files:
                if not (name.startswith(".") and name.endswith(".tmp")):
                    yield Path(dirpath) / name

    def list(self, prefix: str = "") -> list[str]:
        # Walk only the deepest folder the prefix names, not the whole lake.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root / folder
        if not base.is_dir():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in self._walk(base))
        return sorted(k for k in keys if k.startswith(prefix))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def md5(self, key: str) -> str | None:
        path = self._path(key)
        return file_md5(path) if path.is_file() else None

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def etags(self, prefix: str = "") -> dict[str, str]:
        # Size and mtime, not a digest: a listing must not read every byte of history.
        tags = {}
        for key in self.list(prefix):
            st = self._path(key).stat()
            tags[key] = f"{st.st_size}-{st.st_mtime_ns}"
        return tags


class GcsLake(Lake):
    """A GCS bucket (and optional prefix) through google-cloud-storage."""

    def __init__(self, url: str, client: Client | None = None) -> None:
        if not url.startswith("gs://"):
            raise LakeError(f"not a gs:// URL: {url!r}")
        bucket, _, prefix = url[len("gs://") :].partition("/")
        if not bucket:
            raise LakeError(f"no bucket in {url!r}")
        if client is None:
            from google.cloud import storage

            client = storage.Client()
        self.client = client
        self.bucket = client.bucket(bucket)
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = url.rstrip("/")

    def _name(self, key: str) -> str:
        return self.prefix + _check_key(key)

    def _upload(self, key: str, md5_hex: str, send) -> None:
        from google.cloud.storage.exceptions import DataCorruption

        blob = self.bucket.blob(self._name(key))
        # The MD5 goes in the upload's metadata (multipart and resumable alike): GCS refuses to
        # commit an object whose bytes do not match it, so the previous version stays current.
        blob.md5_hash = base64.b64encode(bytes.fromhex(md5_hex)).decode()
        try:
            send(blob)
        except DataCorruption as exc:
            raise LakeError(f"checksum mismatch uploading {key!r} to {self.url}: {exc}") from exc
        # The answer describes the stored object: a server that did not check gets caught here.
        stored = base64.b64decode(blob.md5_hash or "").hex()
        if stored != md5_hex:
            raise LakeError(
                f"checksum mismatch uploading {key!r} to {self.url}: sent {md5_hex}, stored {stored}"
            )

    def write_bytes(self, key: str, data: bytes) -> None:
        self._upload(
            key,
            hashlib.md5(data).hexdigest(),
            lambda blob: blob.upload_from_string(data, checksum="md5"),
        )

    def upload_file(self, key: str, path: Path) -> None:
        self._upload(
            key, file_md5(path), lambda blob: blob.upload_from_filename(str(path), checksum="md5")
        )

    def read_bytes(self, key: str) -> bytes:
        from google.api_core.exceptions import NotFound
        from google.cloud.storage.exceptions import DataCorruption

        try:
            return self.bucket.blob(self._name(key)).download_as_bytes(checksum="md5")
        except NotFound as exc:
            raise LakeError(f"lake object {key!r} not found in {self.url}") from exc
        except DataCorruption as exc:
            raise LakeError(f"checksum mismatch reading {key!r} from {self.url}: {exc}") from exc

    def download_file(self, key: str, path: Path) -> Path:
        from google.api_core.exceptions import NotFound
        from google.cloud.storage.exceptions import DataCorruption

        path.parent.mkdir(parents=True, exist_ok=True)
        # Download beside the target and rename: a reader never sees a partial file.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            self.bucket.blob(self._name(key)).download_to_filename(tmp, checksum="md5")
            os.replace(tmp, path)
        except NotFound as exc:
            raise LakeError(f"lake object {key!r} not found in {self.url}") from exc
        except DataCorruption as exc:
            raise LakeError(f"checksum mismatch reading {key!r} from {self.url}: {exc}") from exc
        finally:
            Path(tmp).unlink(missing_ok=True)
        return path

    def exists(self, key: str) -> bool:
        return self.bucket.blob(self._name(key)).exists()

    def list(self, prefix: str = "") -> list[str]:
        names = self.client.list_blobs(self.bucket, prefix=self.prefix + prefix)
        return sorted(b.name[len(self.prefix) :] for b in names)

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self.bucket.blob(self._name(key)).delete()

    def md5(self, key: str) -> str | None:
        blob = self.bucket.get_blob(self._name(key))
        if blob is None or not blob.md5_hash:
            return None
        return base64.b64decode(blob.md5_hash).hex()

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket.name}/{self._name(key)}"

    def etags(self, prefix: str = "") -> dict[str, str]:
        names = self.client.list_blobs(self.bucket, prefix=self.prefix + prefix)
        return {b.name[len(self.prefix) :]: f"{b.md5_hash}-{b.generation}" for b in names}
