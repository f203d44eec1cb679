"""The one place that picks a backend from the settings: the lake, the warehouse, dbt's target.

Everything else talks to the `Lake` and `Warehouse` interfaces and never asks which profile
is on. The GCP modules are imported only when a GCP backend is chosen, so the embedded default
never loads the Google clients.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from flows.lake import Lake, LocalLake
from flows.settings import Settings
from flows.warehouse import DuckDBWarehouse, Warehouse


def on_gcp(settings: Settings) -> bool:
    """Whether the warehouse is BigQuery (the `gcp` profile)."""
    return settings.profile == "gcp"


def open_lake(settings: Settings) -> Lake:
    """The lake the settings name: gs:// URLs go to GCS, anything else is a folder."""
    if settings.lake_url.startswith("gs://"):
        from flows.gcp import gcs_lake  # credentials, project and bucket checked up front

        return gcs_lake(settings)
    return LocalLake(settings.lake_url)


def open_warehouse(settings: Settings, read_only: bool = False) -> Warehouse:
    """The warehouse the settings' profile names; `read_only` matters to DuckDB only (on
    BigQuery a reader's service account grants no writes)."""
    if on_gcp(settings):
        from flows.bigquery import BigQueryWarehouse

        return BigQueryWarehouse.from_settings(settings)
    return DuckDBWarehouse(settings.duckdb_path, read_only=read_only)


def warehouse_catalog(settings: Settings) -> str:
    """The catalog tables are named in: the GCP project, else the DuckDB file's stem (as
    DuckDB names a file it attaches)."""
    if on_gcp(settings):
        return settings.gcp_project or "<project>"
    return Path(settings.duckdb_path).stem


def warehouse_location(settings: Settings) -> str:
    """The warehouse as a user would name it, for messages."""
    if on_gcp(settings):
        endpoint = settings.bigquery_api_endpoint or "https://bigquery.googleapis.com"
        return f"BigQuery project {settings.gcp_project} at {endpoint}"
    return f"DuckDB file {Path(settings.duckdb_path).expanduser().resolve()}"


def dbt_target(settings: Settings) -> str:
    """The dbt target to build: explicit, else `local` or the environment's name."""
    if settings.dbt_target:
        return settings.dbt_target
    return settings.env if on_gcp(settings) else "local"


def dbt_keyfile(settings: Settings) -> AbstractContextManager[Path | None]:
    """A service-account key file for dbt-bigquery while dbt runs, or None (ADC, or DuckDB)."""
    if not on_gcp(settings):
        return nullcontext(None)
    from flows.gcp import service_account_keyfile

    return service_account_keyfile(settings)
