"""Prefect flows of the forecast: `train` (weekly, and after each deployment), `predict`
(daily) and `backtest_report` (by hand: `make backtest`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.backends import open_lake, open_warehouse
from flows.errors import DataQualityError, FeatureError, ModelError, RegistryError, TrainingError
from flows.forecast import inputs, tables
from flows.forecast.backtest import BacktestResult, backtest_from_settings
from flows.forecast.features import (
    DAY,
    WEATHER_COLUMNS,
    FeatureConfig,
    as_day,
    attach_target,
    build_features,
    issue_time_utc,
    last_known_hour_utc,
    local_day_bounds_utc,
)
from flows.forecast.model import FALLBACK_EXPERT, ConsumptionModel, ModelConfig
from flows.forecast.online import OnlineConfig, online_forecast, recurring_days_before
from flows.forecast.quality import check_consumption, prediction_temperatures
from flows.forecast.registry import Decision, ModelMetadata, Registry, promotion
from flows.forecast.training import Challenger, TrainingWindow, fit_challenger, mape
from flows.runlog import RECORD
from flows.runs import run_name
from flows.settings import Settings, get_settings

# What a forecast command reports as a clear failure rather than a traceback.
FORECAST_ERRORS = (
    DataQualityError,
    FeatureError,
    ModelError,
    RegistryError,
    TrainingError,
    inputs.InputMissingError,
)


@dataclass
class TrainResult:
    """What a training run produced and decided."""

    as_of: date
    version: str
    promoted: bool
    champion: str | None
    reason: str
    challenger_mape: float | None
    champion_mape: float | None
    training_rows: int
    training_window: dict[str, str]

    def describe(self) -> str:
        """One line for run summaries: the version, its rows and the decision."""
        return _summary(self)


@dataclass
class PredictResult:
    """What a prediction wrote."""

    issue_date: date
    model_version: str
    rows: int
    trained: TrainResult | None = None
    daily: list[dict] = field(default_factory=list)

    def describe(self) -> str:
        """Human lines for the pipeline's run summary."""
        lines = [_summary(self.trained)] if self.trained else []
        return "\n".join([*lines, _summary(self)])


def _registry(settings: Settings) -> Registry:
    return Registry(
        open_lake(settings), settings.forecast_registry_prefix, settings.model_promotions_prefix
    )


# --- train -------------------------------------------------------------------------------
@dataclass
class TrainingInputs:
    """What a training reads: consumption, temperatures and, from archives, hourly weather."""

    consumption: pd.DataFrame
    temperatures: pd.DataFrame
    kind: str  # "observed" or "archived_forecasts"
    weather_hourly: pd.DataFrame | None = None  # per issue day, the run it saw (archives only)


@task(retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def load_training_data(as_of: date, window: TrainingWindow) -> TrainingInputs:
    """Consumption and temperatures of the training window, from the warehouse."""
    settings = get_settings()
    wh = open_warehouse(settings)
    cfg = FeatureConfig.from_settings(settings)
    start, _ = local_day_bounds_utc(window.first_issue - 9 * DAY, cfg.timezone)
    end = issue_time_utc(as_of, cfg)
    consumption = inputs.read_consumption(wh, settings, start, end)
    first = (window.first_issue - 9 * DAY).date()
    if not settings.forecast_train_on_archived_forecasts:
        temps = inputs.read_observed_temperatures(wh, settings, first, as_of)
        return TrainingInputs(consumption, temps, "observed")
    archived = inputs.archived_forecast_days(wh, settings)
    if archived < settings.forecast_archived_min_days:
        raise TrainingError(
            f"training on archived forecasts needs {settings.forecast_archived_min_days} run"
            f" days of {settings.forecast_weather_model}/{settings.forecast_weather_grid};"
            f" {archived} archived"
        )
    temps = inputs.archived_forecast_temperatures(wh, settings, first, as_of)
    weather = inputs.archived_weather_hourly(
        wh, settings, window.first_issue.date(), window.eval_end.date(), cfg
    )
    return TrainingInputs(consumption, temps, "archived_forecasts", weather)


@task(cache_policy=NO_CACHE)
def train_challenger(data: TrainingInputs, as_of: date, window: TrainingWindow) -> Challenger:
    """Fit the challenger on the training window and score it on the held-out weeks."""
    settings = get_settings()
    return fit_challenger(
        data.consumption,
        data.temperatures,
        as_of,
        FeatureConfig.from_settings(settings),
        ModelConfig.from_settings(settings),
        window,
        settings.forecast_min_training_days,
        data.kind,
        data.weather_hourly,
        progress=settings.show_progress,
    )


@task(cache_policy=NO_CACHE)
def score_champion(challenger: Challenger) -> tuple[str | None, float | None, str]:
    """The champion's MAPE on the challenger's held-out weeks (None when unusable)."""
    registry = _registry(get_settings())
    version = registry.champion()
    if version is None:
        return None, None, "no champion yet"
    try:
        model, _ = registry.load(version)
    except RegistryError as exc:
        return version, None, f"champion unusable: {exc}"
    if model.features != challenger.model.features:
        return version, None, "champion uses another feature list"
    return version, mape(model, challenger.holdout), "scored"


@task(cache_policy=NO_CACHE)
def register_and_decide(
    challenger: Challenger, champion: str | None, champion_mape: float | None, note: str
) -> Decision:
    """Save the challenger, decide by the promotion rule, log the decision."""
    settings = get_settings()
    registry = _registry(settings)
    registry.save(challenger.model, challenger.meta)
    ch_mape = challenger.meta.metrics["holdout_mape"]
    promoted, why = promotion(ch_mape, champion_mape, settings.forecast_promotion_tolerance)
    decision = Decision(
        challenger=challenger.meta.version,
        champion=champion,
        promoted=promoted,
        reason=f"{why} ({note})",
        challenger_mape=ch_mape,
        champion_mape=champion_mape,
        window=challenger.meta.training_window,
        rule=f"promote if challenger MAPE <= champion MAPE x (1 + {settings.forecast_promotion_tolerance})",
    )
    registry.decide(decision)
    return decision


@flow(
    name="forecast-train",
    flow_run_name=run_name("train"),
    on_completion=RECORD,
    on_failure=RECORD,
)
def train(as_of: date | None = None) -> TrainResult:
    """Weekly: fit a challenger, score it against the champion, promote it if not worse."""
    settings = get_settings()
    as_of = as_of or settings.today()
    window = TrainingWindow.of(
        as_of,
        settings.forecast_training_days,
        settings.forecast_promotion_weeks,
        settings.forecast_adaptation_days,
    )
    challenger = train_challenger(load_training_data(as_of, window), as_of, window)
    champion, champion_mape, note = score_champion(challenger)
    decision = register_and_decide(challenger, champion, champion_mape, note)
    create_markdown_artifact(
        key="consumption-model-decision",
        markdown=f"model {challenger.meta.version}: promoted={decision.promoted},"
        f" {decision.reason}",
        description="Champion/challenger decision",
    )
    get_run_logger().info(
        "model %s %s: %s",
        challenger.meta.version,
        "promoted" if decision.promoted else "kept as challenger",
        decision.reason,
    )
    return TrainResult(
        as_of=as_of,
        version=challenger.meta.version,
        promoted=decision.promoted,
        champion=challenger.meta.version if decision.promoted else champion,
        reason=decision.reason,
        challenger_mape=decision.challenger_mape,
        champion_mape=champion_mape,
        training_rows=challenger.meta.training_rows,
        training_window=challenger.meta.training_window,
    )


# --- predict -----------------------------------------------------------------------------
@task(cache_policy=NO_CACHE)
def load_champion() -> tuple[ConsumptionModel, ModelMetadata]:
    """The champion model, checked (a corrupt or outdated one is a clear error)."""
    registry = _registry(get_settings())
    version = registry.champion()
    if version is None:
        raise RegistryError("no champion model in the registry: run `train`")
    return registry.load(version)


@dataclass
class PredictionInputs:
    """What a prediction reads: consumption and temperatures as known at issue time."""

    consumption: pd.DataFrame  # the adaptation window and the checked recent window
    temperatures: pd.DataFrame
    weather_problem: str | None = None  # why D+1..D+H temperatures are missing, if they are
    # Per issue day of the window, the hourly weather of its latest run (features' weather_hourly).
    weather_hourly: pd.DataFrame | None = None
    # Daily errors of our forecasts issued on the same holidays of earlier years (the memory).
    issued_errors: pd.Series | None = None


@task(retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def load_prediction_inputs(issue_day: date) -> PredictionInputs:
    """The recent window: consumption and temperatures of the adaptation days and the issue."""
    settings = get_settings()
    wh = open_warehouse(settings)
    cfg = FeatureConfig.from_settings(settings)
    source = f"{settings.production_dataset}.{inputs.INPUTS_TABLE}"
    history_days = settings.forecast_adaptation_days + settings.forecast_consumption_window_days
    start, _ = local_day_bounds_utc(as_day(issue_day) - history_days * DAY, cfg.timezone)
    consumption = inputs.read_consumption(wh, settings, start, issue_time_utc(issue_day, cfg))
    # The recent window must be complete and alive; older holes only skip adaptation days.
    recent = check_consumption(
        consumption,
        issue_day,
        cfg,
        settings.forecast_consumption_window_days,
        settings.forecast_flatline_hours,
        source=source,
    )
    older = consumption[pd.to_datetime(consumption["hour_utc"]) < recent["hour_utc"].min()]
    consumption = pd.concat([older, recent], ignore_index=True)
    first = issue_day - timedelta(days=history_days + cfg.warmup_days)
    last = issue_day + timedelta(days=cfg.horizon_days)
    observed = inputs.read_observed_temperatures(wh, settings, first, issue_day)
    first_run = issue_day - timedelta(days=cfg.warmup_days + 2)
    runs = inputs.read_forecast_temperatures(wh, settings, first_run, issue_day, first, last)
    hindcast_start = issue_day - timedelta(days=settings.forecast_adaptation_days + 1)
    hourly_runs = inputs.read_weather_hourly(
        wh,
        settings,
        hindcast_start - timedelta(days=1),
        issue_day,
        local_day_bounds_utc(hindcast_start, cfg.timezone)[0],
        local_day_bounds_utc(last + timedelta(days=1), cfg.timezone)[0],
    )
    issues = [
        issue_day - timedelta(days=n) for n in range(settings.forecast_adaptation_days, -1, -1)
    ]
    temps, problem = prediction_temperatures(
        observed,
        runs,
        issue_day,
        cfg,
        settings.forecast_weather_max_age_hours,
        f"{settings.forecast_weather_model}/{settings.forecast_weather_grid}",
    )
    weather = inputs.weather_as_issued(hourly_runs, issues, cfg)
    frame_days = [
        hindcast_start + timedelta(days=n) for n in range((last - hindcast_start).days + 1)
    ]
    remembered = recurring_days_before(frame_days, settings.forecast_holiday_memory_years)
    errors = inputs.read_issued_errors(wh, settings, remembered, cfg.timezone)
    return PredictionInputs(consumption, temps, problem, weather, errors)


@task(cache_policy=NO_CACHE)
def forecast_rows(
    model: ConsumptionModel, version: str, issue_day: date, data: PredictionInputs
) -> pd.DataFrame:
    """Hourly forecast rows of one issue day: experts corrected online, every hour named."""
    settings = get_settings()
    cfg = FeatureConfig.from_settings(settings)
    online_cfg = OnlineConfig.from_settings(settings)
    d0 = as_day(issue_day)
    issues = pd.date_range(d0 - settings.forecast_adaptation_days * DAY, d0)
    # The hourly weather joins the features only for a model trained on it: the features of
    # an older model stay exactly those it was trained on.
    hourly = data.weather_hourly if set(WEATHER_COLUMNS) & set(model.features) else None
    features = build_features(issues, data.consumption, data.temperatures, cfg, hourly)
    missing = [c for c in model.features if c not in features.columns]
    if missing:
        raise ModelError(f"model needs features the frame lacks: {missing}")
    # One day-ahead sequence: the hindcast days and D+1 at horizon 1, then D+2 at horizon 2.
    seq = features[(features["horizon"] == 1) | (features["issue_date"] == d0)].copy()
    seq = seq[(seq["horizon"] == 1) | (seq["target_date"] > d0 + DAY)].reset_index(drop=True)
    known = last_known_hour_utc(issue_day, cfg)
    seq["actual"] = attach_target(seq, data.consumption).where(seq["hour_utc"] <= known)
    seq = pd.concat([seq, model.predict(seq)], axis=1)
    panel = [e for e in model.boosters if e != FALLBACK_EXPERT]
    fallback = FALLBACK_EXPERT if FALLBACK_EXPERT in model.boosters else None
    combined = online_forecast(
        seq,
        panel,
        fallback,
        online_cfg,
        cfg.timezone,
        fallback_reason=data.weather_problem,
        past_errors=data.issued_errors,
    )
    mine = (seq["issue_date"] == d0).to_numpy()
    rows, out = seq[mine].reset_index(drop=True), combined[mine].reset_index(drop=True)
    if out["p50"].isna().any():
        hours = rows.loc[out["p50"].isna(), "hour_utc"]
        raise FeatureError(
            f"no forecaster could forecast {len(hours)} target hours ({hours.min()} .."
            f" {hours.max()} UTC): consumption of a week earlier is missing too"
        )
    return hourly_rows(rows, out, issue_day, version, cfg)


def hourly_rows(
    features: pd.DataFrame, out: pd.DataFrame, issue_day: date, version: str, cfg: FeatureConfig
) -> pd.DataFrame:
    """The hourly forecast table's rows."""
    local = pd.DatetimeIndex(features["hour_utc"]).tz_localize("UTC").tz_convert(cfg.timezone)
    now = datetime.now(UTC).replace(tzinfo=None)
    return pd.DataFrame(
        {
            "issue_date": issue_day,
            "issue_time_utc": issue_time_utc(issue_day, cfg),
            "horizon_days": features["horizon"].to_numpy(),
            "target_date": features["target_date"].dt.date.to_numpy(),
            "target_hour_utc": features["hour_utc"].to_numpy(),
            "target_hour_local": [t.isoformat() for t in local],
            "p10_mw": out["p10"].to_numpy(),
            "p50_mw": out["p50"].to_numpy(),
            "p90_mw": out["p90"].to_numpy(),
            "p50_before_memory_mw": out["p50_before_memory"].to_numpy(),
            "forecaster": out["forecaster"].to_numpy(),
            "forecaster_reason": out["forecaster_reason"].to_numpy(),
            "model_version": version,
            "created_at": now,
        }
    )


def daily_rows(hourly: pd.DataFrame) -> pd.DataFrame:
    """The daily table's rows: energy (sum of hours) and peak per target day."""
    grouped = hourly.groupby(["issue_date", "horizon_days", "target_date"], as_index=False)
    return grouped.agg(
        hours=("p50_mw", "size"),
        energy_p10_mwh=("p10_mw", "sum"),
        energy_p50_mwh=("p50_mw", "sum"),
        energy_p90_mwh=("p90_mw", "sum"),
        peak_p50_mw=("p50_mw", "max"),
        model_version=("model_version", "first"),
        created_at=("created_at", "first"),
    )


@task(retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def write_forecast(hourly: pd.DataFrame, daily: pd.DataFrame, issue_day: date) -> int:
    """Replace the issue day's partition in the lake; staging and dbt take it from there."""
    keys = tables.write_partition(open_lake(get_settings()), issue_day, hourly, daily)
    get_run_logger().info("forecast rows written to %s", ", ".join(keys))
    return len(hourly)


@flow(
    name="forecast-predict",
    flow_run_name=run_name("predict"),
    on_completion=RECORD,
    on_failure=RECORD,
)
def predict(as_of: date | None = None) -> PredictResult:
    """Daily: forecast D+1..D+H hourly with P10/P50/P90 from the champion (trained if none)."""
    settings = get_settings()
    issue_day = as_of or settings.today()
    trained = None
    if _registry(settings).champion() is None:
        trained = train(as_of=issue_day)
    model, meta = load_champion()
    data = load_prediction_inputs(issue_day)
    hourly = forecast_rows(model, meta.version, issue_day, data)
    daily = daily_rows(hourly)
    rows = write_forecast(hourly, daily, issue_day)
    get_run_logger().info("forecast issued %s with %s: %d hours", issue_day, meta.version, rows)
    summary = daily[["target_date", "energy_p50_mwh", "peak_p50_mw"]].copy()
    summary["target_date"] = summary["target_date"].astype(str)
    result = PredictResult(
        issue_date=issue_day,
        model_version=meta.version,
        rows=rows,
        trained=trained,
        daily=summary.to_dict("records"),
    )
    create_markdown_artifact(
        key="consumption-forecast", markdown=_summary(result), description="Forecast issued"
    )
    return result


# --- backtest ----------------------------------------------------------------------------
@task(cache_policy=NO_CACHE)
def load_backtest_inputs(start: date, end: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Consumption and observed temperatures from the training window before `start` to `end`."""
    settings = get_settings()
    cfg = FeatureConfig.from_settings(settings)
    first = start - timedelta(days=settings.forecast_training_days + 10)
    wh = open_warehouse(settings)
    lo, _ = local_day_bounds_utc(first, cfg.timezone)
    _, hi = local_day_bounds_utc(end, cfg.timezone)
    consumption = inputs.read_consumption(wh, settings, lo, hi)
    if consumption.empty:
        raise inputs.InputMissingError(
            f"no consumption in {settings.production_dataset} for {first} .. {end}: run"
            " `make backfill` for those days first"
        )
    return consumption, inputs.read_observed_temperatures(wh, settings, first, end)


@task(cache_policy=NO_CACHE)
def run_backtest(
    consumption: pd.DataFrame, temperatures: pd.DataFrame, start: date, end: date
) -> BacktestResult:
    """Rolling-origin backtest of the configured model, retrained and adapted as in production."""
    result = backtest_from_settings(consumption, temperatures, start, end, get_settings())
    result.notes.append(
        "observed temperatures stand in for weather forecasts (an optimistic bound on the"
        " temperature input)"
    )
    return result


@task(cache_policy=NO_CACHE)
def publish_backtest(result: BacktestResult, out_dir: str) -> dict[str, Path]:
    """Write the JSON, Markdown and PNG reports; the Markdown also as the run's artifact."""
    from flows.forecast.report import write_reports  # matplotlib: only the backtest needs it

    paths = write_reports(result, Path(out_dir))
    create_markdown_artifact(
        key="consumption-backtest",
        markdown=paths["md"].read_text(),
        description=f"Backtest {result.start} .. {result.end}",
    )
    return paths


@flow(name="forecast-backtest", flow_run_name=run_name("backtest"))
def backtest_report(start: date, end: date, out_dir: str = "reports") -> BacktestResult:
    """By hand: score the model day by day over start..end against RTE's J-1, with reports."""
    consumption, temperatures = load_backtest_inputs(start, end)
    result = run_backtest(consumption, temperatures, start, end)
    paths = publish_backtest(result, out_dir)
    get_run_logger().info("backtest reports: %s", ", ".join(str(p) for p in paths.values()))
    return result


def backtest_cli(start: date, end: date, out_dir: str) -> int:
    """`python -m flows backtest`: the backtest flow, its scores printed, 1 on a clear failure."""
    try:
        result = backtest_report(start=start, end=end, out_dir=out_dir)
    except (*FORECAST_ERRORS, ValueError, RuntimeError) as exc:
        print(f"backtest {start} .. {end} failed: {exc}", file=sys.stderr)
        return 1
    for level in ("hourly", "daily"):
        scores = ", ".join(f"{name} {m['mape']:.2f} %" for name, m in result.metrics[level].items())
        print(f"{level} MAPE: {scores}")
    return 0


def forecast_cli(command: str, as_of: date | None) -> int:
    """`python -m flows train|predict [--as-of]`: run, print a summary, 1 on a clear failure."""
    try:
        result = train(as_of=as_of) if command == "train" else predict(as_of=as_of)
    except FORECAST_ERRORS as exc:
        print(f"{command} failed: {exc}", file=sys.stderr)
        return 1
    print(_summary(result))
    return 0


def _summary(result: TrainResult | PredictResult) -> str:
    if isinstance(result, TrainResult):
        state = "promoted to champion" if result.promoted else "not promoted"
        return (
            f"trained {result.version} on {result.training_rows} rows: {state}"
            f" ({result.reason}); champion: {result.champion}"
        )
    lines = [f"forecast issued {result.issue_date} by {result.model_version}: {result.rows} hours"]
    for day in result.daily:
        lines.append(
            f"  {day['target_date']}: {day['energy_p50_mwh'] / 1000:.1f} GWh,"
            f" peak {day['peak_p50_mw']:.0f} MW"
        )
    return "\n".join(lines)
