"""The lake contract, kept by the local and the GCS lake alike (the GCS runs are slow-marked),
and the one codec of partition keys."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from flows.backends import open_lake
from flows.errors import LakeError, LakeKeyError
from flows.gcp import storage_client
from flows.lake import (
    GcsLake,
    Lake,
    LocalLake,
    day_segment,
    parse_run_label,
    partition_day,
    run_label,
    run_segment,
)


# The GCS runs need fake-gcs-server: slow-marked, so the quick loop keeps the local one.
@pytest.fixture(
    params=[
        "local",
        pytest.param("gcs", marks=[pytest.mark.slow, pytest.mark.timeout(120)]),
        pytest.param("gcs-prefix", marks=[pytest.mark.slow, pytest.mark.timeout(120)]),
    ]
)
def lake(request, tmp_path: Path) -> Lake:
    """The same contract on a folder, a bucket, and a folder inside a bucket."""
    if request.param == "local":
        return LocalLake(tmp_path / "lake")
    gcs = request.getfixturevalue("gcs_settings")
    if request.param == "gcs-prefix":
        return GcsLake(f"{gcs.lake_url}/some/prefix", client=storage_client(gcs))
    return open_lake(gcs)


GRIB_KEY = "raw/meteofrance/arpege/01/SP1/run=2024-01-01T00Z/arpege__01__SP1__000H012H__2024-01-01T00:00:00Z.grib2"


def test_round_trip_listing_and_partitions(lake: Lake) -> None:
    lake.write_bytes("raw/odre/x/date=2024-01-02/part.parquet", b"b")
    lake.write_bytes("raw/odre/x/date=2024-01-01/part.parquet", b"a")
    lake.write_bytes(GRIB_KEY, b"GRIB")
    assert lake.read_bytes("raw/odre/x/date=2024-01-01/part.parquet") == b"a"
    assert lake.read_bytes(GRIB_KEY) == b"GRIB"
    assert lake.list("raw/odre/x/") == [
        "raw/odre/x/date=2024-01-01/part.parquet",
        "raw/odre/x/date=2024-01-02/part.parquet",
    ]
    assert lake.list_partitions("raw/odre/x/", "date") == ["2024-01-01", "2024-01-02"]
    assert lake.list_partitions("raw/meteofrance/", "run") == ["2024-01-01T00Z"]
    assert lake.list("raw/odre/y/") == []
    assert lake.exists(GRIB_KEY) and not lake.exists("raw/odre/x/date=2024-01-03/part.parquet")


def test_prefix_is_a_string_prefix(lake: Lake) -> None:
    lake.write_bytes("raw/odre/eco2mix-national-tr/date=2024-01-01/part.parquet", b"1")
    lake.write_bytes("raw/odre/eco2mix-national-cons-def/date=2024-01-01/part.parquet", b"2")
    assert len(lake.list("raw/odre/eco2mix-national-")) == 2
    assert len(lake.etags("raw/odre/eco2mix-national-tr/")) == 1


def test_overwrite_changes_etag_and_md5(lake: Lake) -> None:
    key = "a/b.bin"
    lake.write_bytes(key, b"one")
    tag = lake.etags("a/")[key]
    assert lake.md5(key) == hashlib.md5(b"one").hexdigest()
    lake.write_bytes(key, b"two!")
    assert lake.etags("a/")[key] != tag
    assert lake.md5(key) == hashlib.md5(b"two!").hexdigest()
    assert lake.md5("a/missing") is None


def test_parquet_round_trip(lake: Lake) -> None:
    frame = pd.DataFrame({"x": [1, 2], "y": pd.array(["a", "b"], dtype="string")})
    lake.write_parquet("curated/weather/m/g/run=2024-01-01T00Z/features.parquet", frame)
    back = lake.read_parquet("curated/weather/m/g/run=2024-01-01T00Z/features.parquet").to_pandas()
    assert back["x"].tolist() == [1, 2] and back["y"].tolist() == ["a", "b"]


def test_upload_and_download_file(lake: Lake, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(9 << 20))  # above 8 MiB: GCS takes it as a resumable upload
    lake.upload_file("raw/big.bin", src)
    assert lake.md5("raw/big.bin") == hashlib.md5(src.read_bytes()).hexdigest()
    out = lake.download_file("raw/big.bin", tmp_path / "out" / "big.bin")
    assert out.read_bytes() == src.read_bytes()
    assert os.listdir(out.parent) == ["big.bin"]


@pytest.mark.parametrize("key", ["", "/abs", "a/../b"])
def test_bad_keys_are_refused(lake: Lake, key: str) -> None:
    with pytest.raises(LakeError):
        lake.write_bytes(key, b"x")


def test_missing_object_is_a_clear_error(lake: Lake, tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="raw/none"):
        lake.read_bytes("raw/none")
    with pytest.raises(LakeError, match="raw/none"):
        lake.download_file("raw/none", tmp_path / "dl" / "none")
    assert not (tmp_path / "dl" / "none").exists()


def test_delete_and_delete_prefix(lake: Lake) -> None:
    for i in range(3):
        lake.write_bytes(f"tmp/{i}", b"x")
    lake.write_bytes("tmpfile", b"y")
    lake.delete("tmp/0")
    lake.delete("tmp/0")  # deleting a missing object is not an error
    assert lake.delete_prefix("tmp/") == 2
    assert lake.list("tmp") == ["tmpfile"]


def test_failed_local_write_leaves_previous_version_and_no_temp_file(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    key = "a/b.bin"
    lake.write_bytes(key, b"good")

    def boom(fh) -> None:
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        lake._atomic_write(key, boom)
    assert lake.read_bytes(key) == b"good"
    assert os.listdir(lake.root / "a") == ["b.bin"]


def test_local_objects_get_the_process_umask_not_private_temp_file_modes(
    tmp_path: Path,
) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    lake = LocalLake(tmp_path / "lake")
    source = tmp_path / "src.bin"
    source.write_bytes(b"x")
    lake.write_bytes("a/b.bin", b"x")
    lake.upload_file("a/c.bin", source)
    for key in ("a/b.bin", "a/c.bin"):
        mode = lake.local_path(key).stat().st_mode & 0o777
        assert mode == 0o666 & ~mask, f"{key}: {oct(mode)}"


def test_open_lake_picks_the_backend(settings) -> None:
    assert isinstance(open_lake(settings), LocalLake)


def test_only_a_local_lake_has_local_paths(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    lake.write_bytes("a/b.bin", b"x")
    assert lake.local_path("a/b.bin") == tmp_path / "lake" / "a" / "b.bin"
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="p", credentials=AnonymousCredentials())  # no request made
    assert GcsLake("gs://bucket/pre", client=client).local_path("a/b.bin") is None


# --- partition keys -------------------------------------------------------------------------
def test_partition_keys_round_trip() -> None:
    run = datetime(2026, 5, 11, 6, tzinfo=UTC)
    assert day_segment(date(2026, 5, 11)) == "date=2026-05-11"
    assert run_segment(run) == "run=2026-05-11T06Z" and parse_run_label(run_label(run)) == run
    assert partition_day("raw/x/date=2026-05-11/part.parquet", "date") == date(2026, 5, 11)
    assert partition_day("curated/w/a/01/run=2026-05-11T06Z/f.parquet", "run") == date(2026, 5, 11)
    assert partition_day("raw/x/part.parquet", "date") is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_run_label("2026-05-11"), "not a run label YYYY-MM-DDTHHZ"),
        (lambda: partition_day("raw/x/date=yesterday/p", "date"), "date=yesterday"),
    ],
)
def test_malformed_partition_keys_are_named(call, message: str) -> None:
    with pytest.raises(LakeKeyError, match=message):
        call()
