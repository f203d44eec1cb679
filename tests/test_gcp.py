"""Credential and project resolution of the gcp profile: block, key file, ADC, emulators."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.oauth2 import service_account

from flows.errors import GcpConfigError
from flows.gcp import (
    check_endpoint,
    check_project,
    credentials_and_project,
    service_account_keyfile,
    storage_client,
)
from tests.gcp.emulators import closed_endpoint


def key_info(project: str = "acme-energy-dev") -> dict:
    """A service-account key (a fresh RSA key; never used against Google)."""
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "0" * 40,
        "private_key": pem.decode(),
        "client_email": f"aggregat-worker@{project}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


@pytest.fixture
def no_ambient_credentials(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)


def test_key_file_gives_its_service_account_and_project(settings, tmp_path, no_ambient_credentials):
    key = tmp_path / "key.json"
    key.write_text(json.dumps(key_info()))
    credentials, project = credentials_and_project(
        settings.model_copy(update={"profile": "gcp", "gcp_credentials_file": key})
    )
    assert isinstance(credentials, service_account.Credentials)
    assert credentials.service_account_email.startswith("aggregat-worker@")
    assert project == "acme-energy-dev"  # from the key when AGGREGAT_GCP_PROJECT is unset
    explicit = settings.model_copy(
        update={"profile": "gcp", "gcp_credentials_file": key, "gcp_project": "acme-energy-prod"}
    )
    assert credentials_and_project(explicit)[1] == "acme-energy-prod"


def test_keyfile_for_tools_is_the_configured_one_or_none(settings, tmp_path):
    with service_account_keyfile(settings) as key:
        assert key is None  # Application Default Credentials
    configured = settings.model_copy(update={"gcp_credentials_file": tmp_path / "k.json"})
    with service_account_keyfile(configured) as key:
        assert key == tmp_path / "k.json"


def test_adc_from_google_application_credentials(settings, tmp_path, monkeypatch):
    key = tmp_path / "adc.json"
    key.write_text(json.dumps(key_info("acme-adc-project")))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    credentials, project = credentials_and_project(settings.model_copy(update={"profile": "gcp"}))
    assert isinstance(credentials, service_account.Credentials)
    assert project == "acme-adc-project"


def test_storage_client_is_anonymous_against_an_emulator(settings, fake_gcs: str):
    client = storage_client(settings.model_copy(update={"gcs_api_endpoint": fake_gcs}))
    assert isinstance(client._credentials, AnonymousCredentials)
    assert fake_gcs in client._connection.API_BASE_URL


@pytest.mark.timeout(30)
def test_storage_endpoint_down_is_named(settings, monkeypatch):
    down = closed_endpoint()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", down)
    with pytest.raises(GcpConfigError, match=f"GCS endpoint {down} is not reachable"):
        storage_client(settings)


def test_endpoint_without_host_is_refused():
    with pytest.raises(GcpConfigError, match="BigQuery endpoint 'http://' has no host"):
        check_endpoint("http://", "BigQuery", 1.0)


@pytest.mark.parametrize("project", ["example.com:acme-energy", "acme-energy-dev"])
def test_valid_project_ids(project: str):
    assert check_project(project) == project


@pytest.mark.parametrize("project", ["ab", "Acme", "1acme-energy", "acme_energy", "acme-"])
def test_invalid_project_ids(project: str):
    with pytest.raises(GcpConfigError, match="not a valid GCP project id"):
        check_project(project)


def test_credentials_block(settings, prefect_server, no_ambient_credentials):
    from prefect_gcp import GcpCredentials

    name = f"aggregat-test-{uuid.uuid4().hex[:8]}"
    GcpCredentials(service_account_info=key_info(), project="acme-energy-prod").save(name)
    credentials, project = credentials_and_project(
        settings.model_copy(update={"profile": "gcp", "gcp_credentials_block": name})
    )
    assert isinstance(credentials, service_account.Credentials)
    assert project == "acme-energy-prod"
    with service_account_keyfile(
        settings.model_copy(update={"gcp_credentials_block": name})
    ) as key:
        assert json.loads(key.read_text())["project_id"] == "acme-energy-dev"
        assert key.stat().st_mode & 0o077 == 0  # readable by this user only
    assert not key.exists()
    missing = settings.model_copy(
        update={"profile": "gcp", "gcp_credentials_block": "no-such-block"}
    )
    with pytest.raises(GcpConfigError, match="GcpCredentials block 'no-such-block'"):
        credentials_and_project(missing)
