"""The platform's one settings object: environment variables `AGGREGAT_*` and an optional `.env`."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything that names an endpoint, a bucket, a dataset, a path or a tuning knob."""

    model_config = SettingsConfigDict(
        env_prefix="AGGREGAT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- where things live -------------------------------------------------------------
    profile: Literal["local", "gcp"] = Field(
        "local",
        description="Backend profile: `local` (folder lake + DuckDB) or `gcp` (GCS + BigQuery).",
    )
    env: str = Field(
        "dev", description="Environment name (dev, prod): selects dbt target and deployments."
    )
    lake_url: str = Field(
        "data/lake",
        description="The lake: a folder path (relative to the working directory) or gs://bucket/prefix.",
    )
    duckdb_path: Path = Field(
        Path("data/warehouse.duckdb"), description="DuckDB warehouse file for the local profile."
    )
    gcp_project: str | None = Field(None, description="GCP project id for BigQuery (gcp profile).")
    gcp_credentials_file: Path | None = Field(
        None, description="Service-account key file; unset means Application Default Credentials."
    )
    bigquery_location: str = Field("EU", description="BigQuery location of the datasets.")
    bigquery_api_endpoint: str | None = Field(
        None, description="BigQuery API endpoint override (an emulator); unset means Google's."
    )
    staging_dataset: str = Field(
        "staging", description="Warehouse schema/dataset of loaded lake data."
    )
    development_dataset: str = Field(
        "development", description="Schema/dataset of dbt staging and intermediate models."
    )
    production_dataset: str = Field(
        "production", description="Schema/dataset of the production marts the dashboard reads."
    )
    dbt_project_dir: Path = Field(PROJECT_ROOT / "dbt", description="The dbt project folder.")
    dbt_target: str | None = Field(
        None,
        description="dbt target; unset means `local` for the local profile, else the env name.",
    )

    # --- ODRÉ --------------------------------------------------------------------------
    odre_base_url: str = Field(
        "https://odre.opendatasoft.com/api/explore/v2.1",
        description="Base URL of the ODRÉ Explore API v2.1 (or a mirror).",
    )
    odre_api_key: SecretStr | None = Field(
        None, description="Optional ODRÉ API key (raises quotas)."
    )
    history_start: date = Field(
        date(2016, 1, 1), description="First day of history to load on a first run."
    )
    odre_timeout_seconds: float = Field(120.0, description="HTTP timeout for one export request.")
    odre_max_attempts: int = Field(5, description="Attempts per request on 429/5xx/timeouts.")
    odre_backoff_seconds: float = Field(2.0, description="First retry wait; doubles each attempt.")
    odre_max_wait_seconds: float = Field(
        900.0, description="Longest wait honoured for a 429 reset_time before failing."
    )
    odre_chunk_days: int = Field(31, description="Window size of history chunks, in days.")
    eco2mix_lookback_hours: int = Field(
        48, description="Real-time electricity re-read window (revisions in place), hours."
    )
    gas_lookback_days: int = Field(28, description="Gas storage re-read window, days.")
    temperature_lookback_days: int = Field(
        40, description="Observed temperature re-read window, days."
    )
    consolidated_lookback_days: int = Field(
        62, description="Consolidated electricity (cons-def) re-read window, days."
    )
    odre_datasets: list[str] = Field(
        [
            "eco2mix-national-tr",
            "stock-quotidien-stockages-gaz",
            "temperature-quotidienne-regionale",
            "eco2mix-national-cons-def",
        ],
        description="ODRÉ datasets `ingest_odre` fetches by default (cons-def carries the history).",
    )
    eco2mix_tr_history_days: int = Field(
        62,
        description="First run of the real-time dataset: days before as_of to load (it holds only"
        " recent data; eco2mix-national-cons-def carries the history from history_start).",
    )

    # --- Météo-France (weather issue) -----------------------------------------------------
    meteofrance_base_url: str = Field(
        "https://meteofrance-pnt.s3.rbx.io.cloud.ovh.net/pnt",
        description="Public object store of the Météo-France NWP files (or a mirror).",
    )
    meteofrance_products: list[str] = Field(
        ["arpege/01/SP1/00", "arpege/01/SP2/00", "arome/0025/SP1/00"],
        description="Products to ingest daily, `model/grid/package/run hour` (JSON list).",
    )
    meteofrance_grid_shapes: dict[str, str] = Field(
        {},
        description="Expected grid size per `model/grid` overriding the real one, e.g. "
        '{"arpege/01": "75x53"} for a small demo store (JSON object).',
    )
    meteofrance_horizon_hours: int | None = Field(
        None, description="Only fetch groups starting at or before this lead time; unset = all."
    )
    meteofrance_api_base_url: str = Field(
        "https://public-api.meteofrance.fr/previnum",
        description="Météo-France portail-api base (DPPaquetARPEGE/DPPaquetAROME services).",
    )
    meteofrance_api_key: SecretStr | None = Field(
        None,
        description="portail-api key; when set, files come from the API instead of the bucket.",
    )
    meteofrance_download_workers: int = Field(4, description="Files downloaded in parallel.")
    meteofrance_decode_workers: int = Field(2, description="Processes decoding GRIB files.")
    meteofrance_timeout_seconds: float = Field(
        120.0, description="HTTP timeout (connect and between bytes) for one file download."
    )
    meteofrance_max_attempts: int = Field(4, description="Attempts per file on 5xx/timeouts.")
    meteofrance_backoff_seconds: float = Field(
        2.0, description="First retry wait; doubles each time."
    )
    meteofrance_publication_delay_hours: float = Field(
        3.0, description="A run is not asked for before its nominal time plus this delay."
    )
    meteofrance_late_after_hours: float = Field(
        12.0,
        description="A run whose last group is still absent this long after its nominal time "
        "is reported as a gap, not as 'not ready'.",
    )
    meteofrance_retention_days: int = Field(
        15, description="How many days of runs the source keeps; older ones exist only in the lake."
    )
    meteofrance_lookback_days: int = Field(
        3, description="Past days the daily weather flow checks and backfills when missing."
    )

    # --- forecasting (forecast issue) -----------------------------------------------------

    # --- operations -----------------------------------------------------------------------
    progress: bool | None = Field(
        None, description="Show progress bars; unset means only when attached to a terminal."
    )

    @property
    def resolved_dbt_target(self) -> str:
        """The dbt target to build: explicit, else `local` or the environment name."""
        if self.dbt_target:
            return self.dbt_target
        return "local" if self.profile == "local" else self.env


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def settings_table() -> str:
    """The configuration table of the README, generated from the fields' descriptions."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if isinstance(default, Path) and default.is_absolute():
            default = (
                default.relative_to(PROJECT_ROOT)
                if default.is_relative_to(PROJECT_ROOT)
                else default
            )
        shown = "" if default is None else f"`{default}`"
        if isinstance(default, list | tuple):
            shown = f"`{','.join(map(str, default))}`"
        rows.append(f"| `AGGREGAT_{name.upper()}` | {shown} | {info.description} |")
    return "\n".join(rows)
