"""The platform's one settings object: environment variables `AGGREGAT_*` and an optional `.env`."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flows.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# The forecast's expert panel (flows/forecast/model.py defines each; chosen on the 2019 and 2018 backtests).
FORECAST_EXPERTS = (
    "gbm_weather",
    "gbm_weather_large",
    "gbm_regional",
    "gbm_lags",
    "gbm_ratio",
    "gbm_linear",
    "gbm_linear_regional",
    "gbm_linear_lags",
    "gbm_additive",
    "gbm_additive_lags",
    "gbm_additive_regional",
    "gam_ridge",
    "gbm_calendar",
)


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
    dbt_artifacts_dir: Path | None = Field(
        None,
        description="Folder for dbt's target/ and logs/; unset means inside the dbt project folder.",
    )
    dbt_docs_port: int = Field(
        8580,
        ge=1,
        le=65535,
        description="Port `make docs` serves dbt's documentation on, on 127.0.0.1.",
    )
    dbt_console_log_level: Literal["debug", "info", "warn", "error", "none"] = Field(
        "warn",
        description="Least severe dbt log line shown on the console: `warn` shows warnings,"
        " errors and failed tests only; dbt's per-model log is in logs/dbt.log under"
        " the artifacts folder (the run summary prints its path); `info` shows it all.",
    )
    dbt_file_log_level: Literal["debug", "info", "warn", "error", "none"] = Field(
        "debug",
        description="Least severe dbt log line written to logs/dbt.log: `debug` (dbt's own"
        " default) keeps every statement dbt ran, for when a build must be explained.",
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

    # --- Météo-France decoding (GRIB decode) ---------------------------------------------
    meteofrance_max_gap_hours: float = Field(
        3.0,
        description="Longest gap between forecast steps still de-accumulated into a per-step "
        "amount or counted as covering a day (3 h: ARPEGE's steps beyond 48 h).",
    )

    # --- forecasting (forecast issue) -----------------------------------------------------
    forecast_timezone: str = Field(
        "Europe/Paris", description="Local time zone of the forecast: issue time, target days."
    )
    forecast_issue_hour_local: int = Field(
        10, description="Local hour on the issue day at which a forecast is issued (D at 10:00)."
    )
    forecast_horizon_days: int = Field(
        2, description="Days ahead forecast from the issue day: 2 means D+1 and D+2."
    )
    forecast_consumption_delay_hours: int = Field(
        1,
        description="Publication delay of real-time consumption: hours before issue not yet known.",
    )
    forecast_quantiles: tuple[float, float, float] = Field(
        (0.1, 0.5, 0.9), description="Quantiles of the band (P10, P50, P90); the middle one is P50."
    )
    forecast_p50_objective: Literal["l2", "quantile"] = Field(
        "l2", description="LightGBM objective of each expert: `l2` (mean) or `quantile` (median)."
    )
    forecast_experts: tuple[str, ...] = Field(
        FORECAST_EXPERTS,
        description="Experts aggregated online (see flows/forecast/model.py): LightGBM"
        " boosters and the ridge GAM `gam_ridge`; `gbm_calendar` is the fallback when"
        " temperatures are missing.",
    )
    forecast_adaptation_days: int = Field(
        42,
        description="Days of recent forecasts and actuals the online correction and the band"
        " learn from at each prediction.",
    )
    forecast_kalman_rho: float = Field(
        0.9, description="Online correction: damping of the last day's residual profile."
    )
    forecast_kalman_drift_share: float = Field(
        0.2, description="Online correction: share of the residual variance that drifts daily."
    )
    forecast_aggregation_eta: float = Field(
        0.005, description="Online aggregation: learning rate per percentage point of error."
    )
    forecast_aggregation_gam_weight: float = Field(
        6.0,
        gt=0.0,
        description="Online aggregation: starting weight of the GAM expert, in tree experts"
        " (each tree starts at 1); the trees resemble one another, the GAM does not.",
    )
    forecast_gam_penalty: float = Field(
        1.0, gt=0.0, description="Ridge penalty of the GAM expert's coefficients."
    )
    forecast_holiday_memory: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Share of the forecast's mean error on the same holiday or Christmas-period"
        " day of earlier years (workdays with workdays) taken off its forecast of that day;"
        " 0 disables.",
    )
    forecast_holiday_memory_years: int = Field(
        3,
        ge=1,
        description="Earlier years of issued forecasts whose holiday errors the memory reads.",
    )
    forecast_num_boost_round: int = Field(600, description="LightGBM boosting rounds per model.")
    forecast_learning_rate: float = Field(0.05, description="LightGBM learning rate.")
    forecast_num_leaves: int = Field(31, description="LightGBM leaves per tree.")
    forecast_min_data_in_leaf: int = Field(40, description="LightGBM minimum rows per leaf.")
    forecast_feature_fraction: float = Field(
        0.9, description="LightGBM share of features per tree."
    )
    forecast_lambda_l2: float = Field(1.0, description="LightGBM L2 regularisation.")
    forecast_num_threads: int = Field(
        2, description="LightGBM threads; fixed so that training is reproducible."
    )
    forecast_seed: int = Field(42, description="Seed of every random choice in training.")
    forecast_training_days: int = Field(
        1461, description="Training window: days of history before the issue date (4 years)."
    )
    forecast_min_training_days: int = Field(
        28, description="Fewest days of usable history a model may be trained on."
    )
    forecast_retrain_every_days: int = Field(
        35, description="Backtest: days between retrainings of the rolling origin."
    )
    forecast_promotion_weeks: int = Field(
        2,
        description="Champion/challenger: the latest weeks both are scored on (the challenger is"
        " trained on data before them).",
    )
    forecast_promotion_tolerance: float = Field(
        0.0,
        description="Promote when challenger MAPE <= champion MAPE x (1 + tolerance); 0 = not worse.",
    )
    forecast_registry_prefix: str = Field(
        "models/consumption", description="Lake prefix of the model registry."
    )
    forecast_train_on_archived_forecasts: bool = Field(
        False,
        description="Train on archived weather forecasts (as issued: daily temperatures and"
        " the hourly weather) instead of observed temperatures; predictions then read the"
        " hourly weather of their run. Needs forecast_archived_min_days of archived runs.",
    )
    forecast_archived_min_days: int = Field(
        365, description="Archived forecast days needed before training on archived forecasts."
    )
    forecast_weather_model: str = Field(
        "arpege", description="Weather model whose forecast temperatures feed the prediction."
    )
    forecast_weather_grid: str = Field(
        "01", description="Grid of that weather model (as in the weather tables' `grid`)."
    )
    forecast_weather_max_age_hours: int = Field(
        30, description="A weather run older than this at issue time is stale: no prediction."
    )
    forecast_temperature_warmup_days: int = Field(
        7, description="Days of temperature before the issue day used to smooth temperatures."
    )
    forecast_temperature_max_gap_days: int = Field(
        3,
        description="Longest run of days without any observed temperature that is filled by"
        " interpolation (flagged); longer holes send the forecast to the calendar fallback.",
    )
    forecast_smoothing_alpha: float = Field(
        0.3,
        description="Exponential smoothing weight of the day's temperature (thermal inertia of"
        " buildings: 0.3 is a time constant of about two and a half days).",
    )
    forecast_regional_temperatures: bool = Field(
        True,
        description="Give the `gbm_regional` expert each region's temperature besides the"
        " national population-weighted ones.",
    )
    forecast_heating_base_c: float = Field(15.0, description="Base of heating degrees, °C.")
    forecast_cooling_base_c: float = Field(20.0, description="Base of cooling degrees, °C.")
    forecast_consumption_window_days: int = Field(
        8, description="Days of consumption before the issue day that prediction reads."
    )
    forecast_flatline_hours: int = Field(
        6, description="This many identical consecutive consumption hours means a stuck feed."
    )
    forecast_table: str = Field(
        "consumption_forecast", description="Production table of hourly forecasts."
    )
    forecast_daily_table: str = Field(
        "consumption_forecast_daily", description="Production table of daily forecast energy."
    )

    # --- deployment (GCP ops: setup_prefect.py) -----------------------------------------
    work_pool_type: Literal["process", "cloud-run-v2"] = Field(
        "process",
        description="Type of the aggregat-<env> work pool: `process` (a worker host) or `cloud-run-v2`.",
    )
    flow_image: str | None = Field(
        None, description="Flow image (Artifact Registry) run by a cloud-run-v2 work pool."
    )
    cloud_run_region: str = Field(
        "europe-west1", description="Region of the Cloud Run jobs of a cloud-run-v2 work pool."
    )
    cloud_run_service_account: str | None = Field(
        None,
        description="Identity of the Cloud Run jobs (terraform output cloud_run_service_account).",
    )
    gcp_credentials_block: str | None = Field(
        None,
        description="prefect-gcp GcpCredentials block the flows authenticate with; setup_prefect "
        "sets it to aggregat-<env>-gcp in the work pool; unset means the key file or ADC.",
    )
    failure_webhook_url: SecretStr | None = Field(
        None,
        description="Webhook (Slack, Teams or any JSON endpoint) told about failed, crashed or"
        " late flow runs and about a work pool that is not ready.",
    )
    flow_heartbeat_seconds: int = Field(
        30,
        ge=30,  # Prefect's own floor
        description="Flow runs on the work pool send a heartbeat this often (seconds, 30 or more); a run silent for"
        " three heartbeats (a dead worker or container) is marked Crashed.",
    )
    late_alert_minutes: int = Field(
        15,
        ge=1,
        description="A scheduled run still not started this many minutes after it went Late"
        " is reported to the webhook (a stopped worker).",
    )

    # --- GCP (BigQuery/GCS: flows/gcp.py, flows/bigquery.py) ------------------------------
    gcs_api_endpoint: str | None = Field(
        None,
        description="GCS API endpoint override (fake-gcs-server); unset means STORAGE_EMULATOR_HOST"
        " if set, else Google's.",
    )
    gcp_timeout_seconds: float = Field(
        30.0,
        description="Longest wait for a GCP endpoint to answer a connection or a check before"
        " failing; BigQuery API calls retry transient errors for 4 times this (the client's"
        " default is 10 minutes).",
    )
    bigquery_job_timeout_seconds: float = Field(
        900.0,
        gt=0,
        description="Longest run of one BigQuery load or query job: BigQuery cancels it after"
        " this (the job's `job_timeout_ms`, also dbt's) and the client stops waiting.",
    )
    bigquery_max_partitions_per_job: int = Field(
        3000,
        ge=1,
        le=4000,
        description="Most day partitions one BigQuery job may modify: staging loads are split"
        " into chunks of this many days, each its own transaction (BigQuery refuses a job"
        " modifying more than 4,000).",
    )
    bigquery_maximum_bytes_billed: int = Field(
        100 * 1024**3,
        ge=1,
        description="Most bytes one BigQuery query may bill (the warehouse's queries and dbt's):"
        " a query that would scan more fails without running or costing (100 GiB).",
    )

    # --- operations -----------------------------------------------------------------------
    backfill_chunk_months: int = Field(
        1,
        ge=1,
        description="A backfill runs its range as chunks of this many calendar months, each a"
        " sub-flow that is skipped on a re-run once complete.",
    )
    progress: bool | None = Field(
        None, description="Show progress bars; unset means only when attached to a terminal."
    )
    lake_quarantine_prefix: str = Field(
        "quarantine",
        description="Lake prefix an unreadable object is moved under by the lake audit"
        " (`<prefix>/<UTC time>/<its key>`), never deleted; its day is then re-fetched.",
    )
    lake_audit_refetch_days: int = Field(
        62,
        ge=1,
        description="Most missing or quarantined days of one ODRÉ dataset the lake audit"
        " re-fetches in a run (oldest first); the others wait for the next runs.",
    )
    lake_audit_lost_prefix: str = Field(
        "state/audit/lost",
        description="Lake prefix of the days the source no longer has (one JSON list per"
        " dataset): reported as lost by every run's audit, not asked for again.",
    )
    pipeline_runs_prefix: str = Field(
        "raw/pipeline/runs",
        description="Lake prefix of the run summaries: one Parquet object per run (its steps,"
        " status, times, counts, message) under `date=<UTC day it started>/`, loaded into"
        " staging for the `pipeline_runs` mart.",
    )
    model_promotions_prefix: str = Field(
        "raw/pipeline/model_promotions",
        description="Lake prefix of the model registry's promotion decisions published as"
        " Parquet (one object per decision, under `date=<UTC day decided>/`) for the"
        " `model_promotions` mart; the registry's JSON stays the forecast's source of truth.",
    )
    dashboard_port: int = Field(
        8501, description="Port `make dashboard` serves the dashboard on, on 127.0.0.1."
    )
    dashboard_cache_seconds: int = Field(
        60,
        description="How long the dashboard reuses a query's result before asking the warehouse"
        " again; 0 = every page load queries.",
    )

    def today(self) -> date:
        """The day a run is for when no `as_of` is given: today's date in forecast_timezone.

        One rule for every flow: `as_of` is a calendar day in that zone (Europe/Paris). ODRÉ
        re-reads the UTC day partitions up to and including it, the weather flow takes that
        day's UTC model runs, the forecast issues on it for the days after.
        """
        return datetime.now(ZoneInfo(self.forecast_timezone)).date()

    @field_validator("lake_url")
    @classmethod
    def _lake_url_names_a_bucket(cls, value: str) -> str:
        if value.startswith("gs://") and not value[len("gs://") :].split("/", 1)[0]:
            raise ValueError("a gs:// lake needs a bucket: gs://BUCKET or gs://BUCKET/prefix")
        if not value.strip():
            raise ValueError("the lake needs a folder path or gs://BUCKET/prefix")
        return value

    @property
    def show_progress(self) -> bool:
        """Progress bars when asked, else only when stderr is a terminal."""
        return self.progress if self.progress is not None else sys.stderr.isatty()


@contextmanager
def environ_set(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` set for the block, then put back as it was.

    For tools that read the process environment only: dbt's env_var(), Prefect's `{{ $NAME }}`
    placeholders.
    """
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def settings_error(exc: ValidationError) -> SettingsError:
    """One line per bad value, naming the variable, what it holds and what is expected."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        info = Settings.model_fields.get(field)
        expected = f" Expected: {info.description}" if info and info.description else ""
        lines.append(f"AGGREGAT_{field.upper()}={error.get('input')!r}: {error['msg']}.{expected}")
    return SettingsError("invalid settings (environment or .env):\n  " + "\n  ".join(lines))


def load_settings() -> Settings:
    """The settings, or a SettingsError naming each bad variable (never a pydantic traceback)."""
    try:
        return get_settings()
    except ValidationError as exc:
        raise settings_error(exc) from None


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
