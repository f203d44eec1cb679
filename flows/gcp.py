"""Google Cloud clients for the gcp profile: credentials, projects and endpoints, checked up front.

Credentials come from, in order: an emulator endpoint (anonymous), the prefect-gcp
`GcpCredentials` block named by `gcp_credentials_block`, the key file `gcp_credentials_file`, or
Application Default Credentials. Every client is checked before it is handed out: a missing
credential, a wrong project or an endpoint that does not answer fails in seconds with the thing
named, instead of the Google clients' default of retrying for up to ten minutes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flows.errors import GcpConfigError

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.cloud import bigquery, storage

    from flows.lake import GcsLake
    from flows.settings import Settings

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Project ids: 6-30 lowercase letters, digits, hyphens; optionally domain-scoped (`example.com:id`).
PROJECT_ID = re.compile(r"^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# Anonymous clients talking to an emulator still need some project id in their URLs.
EMULATOR_PROJECT = "aggregat-emulator"
HOW_TO_AUTHENTICATE = (
    "set AGGREGAT_GCP_CREDENTIALS_BLOCK (a prefect-gcp GcpCredentials block), "
    "AGGREGAT_GCP_CREDENTIALS_FILE (a service-account key file), "
    "or run `gcloud auth application-default login`"
)


def check_endpoint(url: str, service: str, timeout: float) -> None:
    """Fail fast, naming the endpoint, when nothing listens at its host and port."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if not parts.hostname:
        raise GcpConfigError(f"{service} endpoint {url!r} has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise GcpConfigError(
            f"{service} endpoint {url} is not reachable ({exc}); is the server or emulator running?"
        ) from exc


def check_project(project: str | None, where: str = "AGGREGAT_GCP_PROJECT") -> str:
    """The project id, or a clear error when it is absent or cannot be a project id."""
    if not project:
        raise GcpConfigError(
            f"no GCP project: set {where} (or use credentials that name a project)"
        )
    if not PROJECT_ID.match(project):
        raise GcpConfigError(
            f"{project!r} is not a valid GCP project id ({where}): 6-30 lowercase letters, "
            "digits and hyphens, starting with a letter"
        )
    return project


def _block_credentials(name: str) -> tuple[Credentials, str | None]:
    from prefect_gcp import GcpCredentials

    try:
        block = GcpCredentials.load(name)
    except Exception as exc:  # Prefect raises ValueError or HTTP errors for a missing block
        raise GcpConfigError(
            f"cannot load the GcpCredentials block {name!r} (AGGREGAT_GCP_CREDENTIALS_BLOCK): {exc}"
        ) from exc
    try:
        credentials = block.get_credentials_from_service_account()
    except Exception as exc:
        raise GcpConfigError(
            f"GcpCredentials block {name!r} holds no usable credentials: {exc}"
        ) from exc
    return credentials, block.project or getattr(credentials, "project_id", None)


def _file_credentials(path: os.PathLike) -> tuple[Credentials, str | None]:
    from google.oauth2 import service_account

    if not os.path.isfile(path):
        raise GcpConfigError(
            f"credentials file {path} (AGGREGAT_GCP_CREDENTIALS_FILE) does not exist"
        )
    try:
        credentials = service_account.Credentials.from_service_account_file(
            str(path), scopes=SCOPES
        )
    except (ValueError, KeyError, OSError) as exc:
        raise GcpConfigError(
            f"credentials file {path} (AGGREGAT_GCP_CREDENTIALS_FILE) is not a service-account "
            f"key: {exc}"
        ) from exc
    return credentials, credentials.project_id


def _default_credentials() -> tuple[Credentials, str | None]:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError as exc:
        raise GcpConfigError(f"no Google credentials found: {HOW_TO_AUTHENTICATE} ({exc})") from exc


def credentials_and_project(settings: Settings) -> tuple[Credentials, str]:
    """The credentials the settings choose and the project to bill, both checked locally."""
    if settings.gcp_credentials_block:
        credentials, found = _block_credentials(settings.gcp_credentials_block)
    elif settings.gcp_credentials_file:
        credentials, found = _file_credentials(settings.gcp_credentials_file)
    else:
        credentials, found = _default_credentials()
    return credentials, check_project(settings.gcp_project or found)


@contextmanager
def service_account_keyfile(settings: Settings) -> Iterator[Path | None]:
    """A key file for tools that want a path (dbt's `service-account` method), or None for ADC.

    A GcpCredentials block's key is written to a private temporary file, removed on exit.
    """
    if settings.gcp_credentials_block:
        from prefect_gcp import GcpCredentials

        try:
            block = GcpCredentials.load(settings.gcp_credentials_block)
        except Exception as exc:
            raise GcpConfigError(
                f"cannot load the GcpCredentials block {settings.gcp_credentials_block!r}: {exc}"
            ) from exc
        if block.service_account_info is not None:
            fd, name = tempfile.mkstemp(prefix="aggregat-key-", suffix=".json")  # mode 0600
            try:
                with os.fdopen(fd, "w") as fh:
                    json.dump(block.service_account_info.get_secret_value(), fh)
                yield Path(name)
            finally:
                Path(name).unlink(missing_ok=True)
            return
        yield Path(block.service_account_file) if block.service_account_file else None
        return
    yield Path(settings.gcp_credentials_file) if settings.gcp_credentials_file else None


def storage_endpoint(settings: Settings) -> str | None:
    """The GCS endpoint override: the setting, else STORAGE_EMULATOR_HOST, else none."""
    return settings.gcs_api_endpoint or os.environ.get("STORAGE_EMULATOR_HOST") or None


def storage_client(settings: Settings) -> storage.Client:
    """A google-cloud-storage client for the settings (anonymous against an emulator)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    endpoint = storage_endpoint(settings)
    if endpoint:
        check_endpoint(endpoint, "GCS", settings.gcp_timeout_seconds)
        return storage.Client(
            project=settings.gcp_project or EMULATOR_PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
    credentials, project = credentials_and_project(settings)
    return storage.Client(project=project, credentials=credentials)


def gcs_lake(settings: Settings) -> GcsLake:
    """The GCS lake of `settings.lake_url`, after checking its bucket can be listed."""
    from google.api_core import exceptions

    from flows.lake import GcsLake

    lake = GcsLake(settings.lake_url, client=storage_client(settings))
    try:
        # objects.list is what the worker's objectAdmin role grants (buckets.get is not).
        next(
            iter(
                lake.client.list_blobs(
                    lake.bucket, max_results=1, timeout=settings.gcp_timeout_seconds
                )
            ),
            None,
        )
    except exceptions.NotFound as exc:
        raise GcpConfigError(
            f"bucket {lake.bucket.name} of lake {lake.url} does not exist"
        ) from exc
    except exceptions.Forbidden as exc:
        raise GcpConfigError(
            f"these credentials may not list bucket {lake.bucket.name} of lake {lake.url}: {exc}"
        ) from exc
    except exceptions.GoogleAPIError as exc:
        raise GcpConfigError(f"cannot reach the lake bucket {lake.url}: {exc}") from exc
    return lake


def bigquery_client(settings: Settings) -> bigquery.Client:
    """A BigQuery client for the settings' project, checked with one cheap call."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    endpoint = settings.bigquery_api_endpoint
    if endpoint:
        project = check_project(settings.gcp_project)
        check_endpoint(endpoint, "BigQuery", settings.gcp_timeout_seconds)
        client = bigquery.Client(
            project=project,
            credentials=AnonymousCredentials(),
            location=settings.bigquery_location,
            client_options={"api_endpoint": endpoint},
        )
    else:
        credentials, project = credentials_and_project(settings)
        client = bigquery.Client(
            project=project, credentials=credentials, location=settings.bigquery_location
        )
    check_bigquery(
        client, endpoint or "https://bigquery.googleapis.com", settings.gcp_timeout_seconds
    )
    return client


def check_bigquery(client: bigquery.Client, endpoint: str, timeout: float) -> None:
    """List one dataset: proves the endpoint answers, the credentials work and the project exists."""
    from google.api_core import exceptions
    from google.auth.exceptions import GoogleAuthError
    from google.cloud.bigquery import DEFAULT_RETRY

    try:
        next(
            iter(
                client.list_datasets(
                    max_results=1, retry=DEFAULT_RETRY.with_deadline(timeout), timeout=timeout
                )
            ),
            None,
        )
    except exceptions.NotFound as exc:
        raise GcpConfigError(
            f"GCP project {client.project} not found at {endpoint}: {exc}"
        ) from exc
    except (exceptions.Forbidden, exceptions.Unauthorized) as exc:
        raise GcpConfigError(
            f"these credentials may not use BigQuery in project {client.project}: {exc}"
        ) from exc
    except GoogleAuthError as exc:
        raise GcpConfigError(
            f"Google credentials were refused: {exc}; {HOW_TO_AUTHENTICATE}"
        ) from exc
    except (exceptions.GoogleAPIError, OSError) as exc:
        raise GcpConfigError(
            f"BigQuery endpoint {endpoint} did not answer properly: {exc}"
        ) from exc
