"""The lake contract on GCS (fake-gcs-server, real google-cloud-storage client) and on disk."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from pathlib import Path

import pandas as pd
import pytest

from flows.gcp import GcpConfigError, storage_client
from flows.lake import GcsLake, Lake, LakeError, LocalLake, open_lake
from tests.gcp.emulators import closed_endpoint
from tests.gcp.proxy import FaultyProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def gcs_settings(settings, fake_gcs: str):
    """Settings of a gcp-profile lake on a fresh bucket of the fake GCS server."""
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    gcs = settings.model_copy(
        update={"profile": "gcp", "gcs_api_endpoint": fake_gcs, "lake_url": f"gs://{bucket}"}
    )
    storage_client(gcs).create_bucket(bucket)
    return gcs


@pytest.fixture(params=["local", "gcs", "gcs-prefix"])
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


def test_uri_names_the_bucket_and_prefix(gcs_settings) -> None:
    lake = GcsLake(f"{gcs_settings.lake_url}/pre/", client=storage_client(gcs_settings))
    assert lake.uri("a/b.parquet") == f"{gcs_settings.lake_url}/pre/a/b.parquet"
    lake.write_bytes("a/b.parquet", b"x")
    bucket_lake = open_lake(gcs_settings)
    assert bucket_lake.list("") == ["pre/a/b.parquet"]


# --- GCS faults -------------------------------------------------------------------------
def _proxied(gcs_settings, proxy: FaultyProxy) -> GcsLake:
    return open_lake(gcs_settings.model_copy(update={"gcs_api_endpoint": proxy.endpoint}))


def test_upload_cut_off_mid_body_leaves_previous_version(gcs_settings, fake_gcs: str) -> None:
    key = "raw/odre/x/date=2024-01-01/part.parquet"
    direct = open_lake(gcs_settings)
    direct.write_bytes(key, b"old version")
    seen_after_cut: list[bytes] = []
    with FaultyProxy(fake_gcs) as proxy:
        lake = _proxied(gcs_settings, proxy)
        proxy.faults.cut_uploads = 1
        proxy.faults.on_cut = lambda: seen_after_cut.append(direct.read_bytes(key))
        lake.write_bytes(key, b"new version " * 1000)  # the client retries the upload
    assert seen_after_cut == [b"old version"]  # never a half object, never nothing
    assert direct.read_bytes(key) == b"new version " * 1000


def test_upload_sends_its_md5_for_the_server_to_check(
    gcs_settings, fake_gcs: str, tmp_path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 << 20))
    with FaultyProxy(fake_gcs) as proxy:
        lake = _proxied(gcs_settings, proxy)
        lake.write_bytes("small.bin", b"PAYLOAD")
        lake.upload_file("big.bin", big)
    uploads = [body for method, path, body in proxy.faults.requests if "/upload/" in path]
    expected = [
        base64.b64encode(hashlib.md5(b"PAYLOAD").digest()).decode(),
        base64.b64encode(hashlib.md5(big.read_bytes()).digest()).decode(),
    ]
    # multipart: metadata is the first part; resumable: the initiating request's JSON body
    assert f'"md5Hash": "{expected[0]}"' in uploads[0].decode(errors="replace")
    assert json.loads(uploads[1])["md5Hash"] == expected[1]


def test_corrupted_upload_is_detected(gcs_settings, fake_gcs: str) -> None:
    # Real GCS refuses the object (its md5Hash does not match); fake-gcs-server ignores the
    # supplied hash and stores it, so here the client's own check must raise.
    with FaultyProxy(fake_gcs) as proxy:
        lake = _proxied(gcs_settings, proxy)
        proxy.faults.corrupt_uploads = True
        with pytest.raises(LakeError, match="checksum mismatch uploading 'raw/c.bin'"):
            lake.write_bytes("raw/c.bin", b"a PAYLOAD of bytes")


def test_corrupted_download_is_detected(gcs_settings, fake_gcs: str, tmp_path: Path) -> None:
    open_lake(gcs_settings).write_bytes("raw/d.bin", b"a PAYLOAD of bytes")
    with FaultyProxy(fake_gcs) as proxy:
        lake = _proxied(gcs_settings, proxy)
        proxy.faults.corrupt_downloads = True
        with pytest.raises(LakeError, match="checksum mismatch reading 'raw/d.bin'"):
            lake.read_bytes("raw/d.bin")
        with pytest.raises(LakeError, match="raw/d.bin"):
            lake.download_file("raw/d.bin", tmp_path / "dl" / "d.bin")
    assert list((tmp_path / "dl").iterdir()) == []


# --- configuration faults ---------------------------------------------------------------
def test_missing_bucket_is_named(gcs_settings) -> None:
    missing = gcs_settings.model_copy(update={"lake_url": "gs://no-such-bucket-here/lake"})
    with pytest.raises(GcpConfigError, match="bucket no-such-bucket-here .* does not exist"):
        open_lake(missing)


@pytest.mark.timeout(30)
def test_endpoint_down_fails_fast_naming_it(gcs_settings) -> None:
    down = closed_endpoint()
    with pytest.raises(GcpConfigError, match=f"GCS endpoint {down} is not reachable"):
        open_lake(gcs_settings.model_copy(update={"gcs_api_endpoint": down}))
