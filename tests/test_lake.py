"""The local lake: keys, atomic writes, listings and version tags."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from flows.lake import LakeError, LocalLake, open_lake


@pytest.fixture
def lake(tmp_path: Path) -> LocalLake:
    return LocalLake(tmp_path / "lake")


def test_round_trip_and_listing(lake: LocalLake) -> None:
    lake.write_bytes("raw/odre/x/date=2024-01-02/part.parquet", b"b")
    lake.write_bytes("raw/odre/x/date=2024-01-01/part.parquet", b"a")
    lake.write_bytes("raw/meteofrance/arpege/01/SP1/run=2024-01-01T00Z/f:00Z.grib2", b"g")
    assert lake.read_bytes("raw/odre/x/date=2024-01-01/part.parquet") == b"a"
    assert lake.list("raw/odre/x/") == [
        "raw/odre/x/date=2024-01-01/part.parquet",
        "raw/odre/x/date=2024-01-02/part.parquet",
    ]
    assert lake.list_partitions("raw/odre/x/", "date") == ["2024-01-01", "2024-01-02"]
    assert lake.list("raw/odre/y/") == []
    assert lake.exists("raw/meteofrance/arpege/01/SP1/run=2024-01-01T00Z/f:00Z.grib2")


def test_prefix_is_a_string_prefix_not_only_a_folder(lake: LocalLake) -> None:
    lake.write_bytes("raw/odre/eco2mix-national-tr/date=2024-01-01/part.parquet", b"1")
    lake.write_bytes("raw/odre/eco2mix-national-cons-def/date=2024-01-01/part.parquet", b"2")
    assert len(lake.list("raw/odre/eco2mix-national-")) == 2
    assert len(lake.list("raw/odre/eco2mix-national-tr/")) == 1


def test_overwrite_changes_etag_and_md5(lake: LocalLake) -> None:
    key = "a/b.bin"
    lake.write_bytes(key, b"one")
    tag, digest = lake.etags("a/")[key], lake.md5(key)
    lake.write_bytes(key, b"two!")
    assert lake.etags("a/")[key] != tag
    assert lake.md5(key) != digest
    assert lake.md5("a/missing") is None


def test_failed_write_leaves_previous_version_and_no_temp_file(lake: LocalLake) -> None:
    key = "a/b.bin"
    lake.write_bytes(key, b"good")

    def boom(fh) -> None:
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        lake._atomic_write(key, boom)
    assert lake.read_bytes(key) == b"good"
    assert os.listdir(lake.root / "a") == ["b.bin"]


def test_parquet_round_trip(lake: LocalLake) -> None:
    frame = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    lake.write_parquet("curated/t.parquet", frame)
    assert lake.read_parquet("curated/t.parquet").to_pandas()["x"].tolist() == [1, 2]


def test_upload_and_download_file(lake: LocalLake, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3 << 20))
    lake.upload_file("raw/big.bin", src)
    out = lake.download_file("raw/big.bin", tmp_path / "out" / "big.bin")
    assert out.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("key", ["", "/abs", "a/../b"])
def test_bad_keys_are_refused(lake: LocalLake, key: str) -> None:
    with pytest.raises(LakeError):
        lake.write_bytes(key, b"x")


def test_missing_object_is_a_clear_error(lake: LocalLake) -> None:
    with pytest.raises(LakeError, match="raw/none"):
        lake.read_bytes("raw/none")


def test_delete_prefix(lake: LocalLake) -> None:
    for i in range(3):
        lake.write_bytes(f"tmp/{i}", b"x")
    assert lake.delete_prefix("tmp/") == 3
    assert lake.list("tmp/") == []
    lake.delete("tmp/0")  # deleting a missing object is not an error


def test_open_lake_picks_the_backend(settings) -> None:
    assert isinstance(open_lake(settings), LocalLake)
