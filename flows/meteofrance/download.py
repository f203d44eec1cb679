"""Fetch a product run's group files: streamed, retried, validated, then archived in the lake.

Nothing reaches the lake before `validate_grib` accepted it, so a truncated or wrong file is
never archived as good and is simply asked for again on the next run. A 404 is an outcome
("not published"), not an exception: runs appear hours after their nominal time and AROME
fills its horizon group by group.

Skipping what is already archived: the lake is listed once per run folder; for a file it
holds, one HEAD asks the store for its ETag. The public store is S3: the ETag of an object
uploaded in one part is the MD5 of its bytes, which the lake knows cheaply (GCS keeps it as
metadata; a local disk hashes a file far faster than the network delivers it), so equal
MD5s mean "already archived" at the price of a few hundred bytes. When the ETag is not a
plain MD5 (multipart upload), or there is no HEAD to ask (portail-api, offline backfill),
the archived copy stands: it was validated when archived and the publisher does not rewrite
a run's files in place.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import httpx
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)
from tqdm import tqdm

from flows.errors import GribError, TransientHTTPError
from flows.lake import Lake, run_label
from flows.meteofrance.catalogue import (
    GroupFile,
    Product,
    expected_content,
    group_files,
    lake_key,
    late_at,
    ready_at,
    run_prefix,
    source_request,
)
from flows.meteofrance.grib import validate_grib
from flows.settings import Settings
from flows.status import FileStatus, RunStatus

CHUNK = 1 << 20
_MD5 = re.compile(r"^[0-9a-f]{32}$")


OK_STATUSES = frozenset({FileStatus.DOWNLOADED, FileStatus.PRESENT})


@dataclass
class FileResult:
    """What happened to one group file."""

    file: GroupFile
    status: FileStatus
    detail: str = ""
    size: int = 0

    @property
    def key(self) -> str:
        return lake_key(self.file)


@dataclass
class ProductRun:
    """One product's run: each group file's outcome and the run's overall status."""

    product: Product
    run_time: datetime
    status: RunStatus
    files: list[FileResult] = field(default_factory=list)
    detail: str = ""

    @property
    def gaps(self) -> list[FileResult]:
        return [f for f in self.files if f.status not in OK_STATUSES]

    @property
    def downloaded(self) -> int:
        return sum(f.status == FileStatus.DOWNLOADED for f in self.files)

    def describe(self) -> str:
        """One line: the status, then the gaps grouped by outcome (404s listed by group only)."""
        head = f"{self.product.name} {run_label(self.run_time)}: {self.status}"
        if self.detail:
            head += f" ({self.detail})"
        absent = [f for f in self.gaps if f.status == FileStatus.NOT_PUBLISHED]
        parts = []
        if absent:
            groups = ", ".join(f.file.group for f in absent)
            parts.append(f"{len(absent)}/{len(self.files)} groups not published (404): {groups}")
        parts += [
            f"{f.status}: {f.file.group}: {f.detail}"
            for f in self.gaps
            if f.status != FileStatus.NOT_PUBLISHED
        ]
        return "; ".join([head, *parts])


def make_client(settings: Settings) -> httpx.Client:
    """One HTTP client shared by the download threads."""
    timeout = httpx.Timeout(settings.meteofrance_timeout_seconds)
    limits = httpx.Limits(max_connections=max(2, settings.meteofrance_download_workers))
    return httpx.Client(timeout=timeout, limits=limits, follow_redirects=True)


def _retrying(settings: Settings) -> Retrying:
    return Retrying(
        stop=stop_after_attempt(settings.meteofrance_max_attempts),
        wait=wait_exponential(multiplier=settings.meteofrance_backoff_seconds, max=120),
        retry=retry_if_exception_type((TransientHTTPError, httpx.TransportError)),
        reraise=True,
    )


def _check_status(response: httpx.Response, url: str) -> None:
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientHTTPError(f"HTTP {response.status_code} from {url}")
    response.raise_for_status()


def stream_to_file(
    client: httpx.Client, url: str, headers: dict[str, str], dest: Path
) -> tuple[int, str] | None:
    """Stream one URL into a file; (bytes, md5) or None on 404. One attempt."""
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 404:
            return None
        _check_status(response, url)
        announced = response.headers.get("Content-Length")
        digest = hashlib.md5()
        size = 0
        with dest.open("wb") as fh:
            for chunk in response.iter_bytes(CHUNK):
                fh.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    if announced is not None and int(announced) != size:
        raise TransientHTTPError(f"{url}: got {size} bytes of {announced} announced")
    return size, digest.hexdigest()


def download(
    settings: Settings, client: httpx.Client, url: str, headers: dict[str, str], dest: Path
) -> tuple[int, str] | None:
    """`stream_to_file` with retries and backoff on 5xx, 429, timeouts and cut connections."""
    for attempt in _retrying(settings):
        with attempt:
            return stream_to_file(client, url, headers, dest)
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


def source_etag(
    settings: Settings, client: httpx.Client, url: str, headers: dict[str, str]
) -> str | None:
    """The store's ETag of an object (quotes stripped), or None when it has none or no object."""
    for attempt in _retrying(settings):
        with attempt:
            response = client.head(url, headers=headers)
            if response.status_code == 404:
                return None
            _check_status(response, url)
            return response.headers.get("ETag", "").strip('"').lower() or None
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


def _already_archived(
    settings: Settings, lake: Lake, client: httpx.Client, file: GroupFile
) -> tuple[bool, str]:
    url, headers = source_request(settings, file)
    if settings.meteofrance_api_key is not None:
        return True, "archived copy kept (portail-api has no cheap checksum)"
    etag = source_etag(settings, client, url, headers)
    if etag is None:
        return True, "archived copy kept (the source no longer has it)"
    if not _MD5.match(etag):
        return True, "archived copy kept (multipart ETag: validated when archived)"
    if lake.md5(lake_key(file)) == etag:
        return True, "same MD5 as the source"
    return False, "the source's MD5 changed: fetching again"


def fetch_file(
    settings: Settings,
    lake: Lake,
    client: httpx.Client,
    file: GroupFile,
    archived: bool,
    workdir: Path,
) -> FileResult:
    """Fetch, validate and archive one group file unless the lake already holds it."""
    if archived:
        try:
            same, why = _already_archived(settings, lake, client, file)
        except (TransientHTTPError, httpx.HTTPError) as exc:
            return FileResult(file, FileStatus.PRESENT, f"archived copy kept (HEAD failed: {exc})")
        if same:
            return FileResult(file, FileStatus.PRESENT, why)
    url, headers = source_request(settings, file)
    fd, name = tempfile.mkstemp(prefix=".part-", suffix=".grib2", dir=workdir)
    tmp = Path(name)
    try:
        os.close(fd)
        try:
            got = download(settings, client, url, headers, tmp)
        except (TransientHTTPError, httpx.HTTPError) as exc:
            return FileResult(file, FileStatus.FAILED, f"{type(exc).__name__}: {exc}")
        if got is None:
            return FileResult(file, FileStatus.NOT_PUBLISHED, f"404 at {url}")
        try:
            validate_grib(tmp, expected_content(settings, file))
        except GribError as exc:
            # Name the file as published, not the temporary copy it was checked in.
            why = str(exc).replace(str(tmp), file.file_name)
            return FileResult(file, FileStatus.INVALID, why, got[0])
        lake.upload_file(lake_key(file), tmp)
        return FileResult(file, FileStatus.DOWNLOADED, f"{got[0]} bytes, md5 {got[1]}", got[0])
    finally:
        tmp.unlink(missing_ok=True)


def run_status(
    settings: Settings, run_time: datetime, results: list[FileResult], now: datetime
) -> RunStatus:
    """Complete; not ready (the last group is still to come); or incomplete (a real gap)."""
    if all(r.status in OK_STATUSES for r in results):
        return RunStatus.COMPLETE
    if (
        results
        and results[-1].status == FileStatus.NOT_PUBLISHED
        and now < late_at(settings, run_time)
    ):
        return RunStatus.NOT_READY
    return RunStatus.INCOMPLETE


def fetch_product_run(
    settings: Settings,
    lake: Lake,
    product: Product,
    day: date,
    now: datetime,
    client: httpx.Client | None = None,
) -> ProductRun:
    """Bring every group file of a product's run on a day into the lake, in parallel."""
    run_time = product.run_time(day)
    if now < ready_at(settings, run_time):
        when = ready_at(settings, run_time).strftime("%Y-%m-%d %H:%MZ")
        return ProductRun(product, run_time, RunStatus.NOT_READY, detail=f"not asked before {when}")
    files = group_files(settings, product, day)
    in_lake = set(lake.list(run_prefix(product, run_time)))
    own_client = client is None
    client = client or make_client(settings)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="meteofrance-") as tmp,
            ThreadPoolExecutor(max(1, settings.meteofrance_download_workers)) as pool,
        ):
            futures = [
                pool.submit(
                    fetch_file, settings, lake, client, f, lake_key(f) in in_lake, Path(tmp)
                )
                for f in files
            ]
            bar = tqdm(
                futures,
                desc=f"{product.name} {run_label(run_time)}",
                unit="file",
                disable=not settings.show_progress,
            )
            results = [future.result() for future in bar]
    finally:
        if own_client:
            client.close()
    return ProductRun(product, run_time, run_status(settings, run_time, results, now), results)
