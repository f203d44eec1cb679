"""What only the GCS lake does: URIs with a prefix, checksums both ways, faults on the wire,
configuration errors (fake-gcs-server, the real google-cloud-storage client).

The contract every lake keeps is in tests/test_lake.py, run on GCS too."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest

from flows.backends import open_lake
from flows.errors import GcpConfigError, LakeError
from flows.gcp import storage_client
from flows.lake import GcsLake
from tests.gcp.emulators import closed_endpoint
from tests.gcp.proxy import FaultyProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


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
