"""Forecast benchmark: accuracy against RTE's J-1 on real 2016–2019 data, what a backtest costs
against one training, and what prediction costs as history grows.

(a) Accuracy: the rolling-origin backtest over 2019 (day-ahead, issued at 10:00 local on D for
    D+1, experts retrained every `forecast_retrain_every_days`, corrected and aggregated online
    every day) on RTE's definitive consumption (hourly means of the :00 and :30 values) and
    the observed regional temperatures — observed temperatures stand in for weather forecasts,
    an optimistic bound on the temperature input. RTE's J-1 is scored on the same hours
    (hourly means of its :00 and :30 values, the samples README's fair comparison).
(b) Backtest cost: a six-month backtest with daily adaptation against one full training of the
    expert panel on the same data, measured side by side (goal: ratio <= 10).
(c) Predict cost: the predict path (champion load, warehouse reads, features, experts, online
    correction over the adaptation window, write) with 1 year and with 8 years of synthetic
    history in DuckDB, side by side (ratio goal <= 1.2); and the training time on 8 years.

Last line: `BENCH predict history_ratio=<8y/1y> mape_hourly_model=... ...`. While iterating on
accuracy, `BENCH_PREDICT_PARTS=accuracy` runs (a) only (its BENCH line then lacks the cost fields).
(a) runs for 2019, then for 2018 (the other sample year with two years of history before it),
with fields suffixed `_2018`; `BENCH_PREDICT_ACCURACY_YEARS=2019` runs one year.
"""

from __future__ import annotations

import os

# LightGBM's OpenMP threads spin while waiting; on a shared machine, passive waits keep a
# busy neighbour from stretching every boosting round.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import logging  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
from prefect.logging import disable_run_logger  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLES = ROOT.parent / "shared" / "samples" / "odre"

from flows.forecast import flow as forecast_flows  # noqa: E402
from flows.forecast.backtest import (  # noqa: E402
    BacktestResult,
    backtest_from_settings,
    coverage,
    forecaster_shares,
    hours_forecast_pct,
)
from flows.forecast.features import (  # noqa: E402
    FeatureConfig,
    attach_target,
    build_features,
    feature_names,
)
from flows.forecast.model import ModelConfig, train_model  # noqa: E402
from flows.forecast.registry import Decision, Registry  # noqa: E402
from flows.forecast.report import write_reports  # noqa: E402
from flows.forecast.training import TrainingWindow  # noqa: E402
from flows.lake import LocalLake  # noqa: E402
from flows.settings import Settings, get_settings  # noqa: E402
from flows.warehouse import DuckDBWarehouse  # noqa: E402
from tests.forecast.synthetic import (  # noqa: E402
    load_consumption,
    load_observed,
    load_runs,
    make_consumption,
    make_forecast_runs,
    make_temperatures,
)

ISSUE = date(2025, 1, 15)
REPEATS = 5


def real_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly consumption and RTE's J-1 (means of :00 and :30) and regional temperatures."""
    raw = pd.read_parquet(SAMPLES / "eco2mix-national-cons-def_2016-2019_j1.parquet")
    raw = raw[raw["consommation"].notna()].copy()
    raw["hour_utc"] = raw["date_heure"].dt.floor("h").dt.tz_localize(None)
    hourly = raw.groupby("hour_utc", as_index=False).agg(
        consumption_mw=("consommation", "mean"), forecast_j1_mw=("prevision_j1", "mean")
    )
    hourly = hourly.astype({"consumption_mw": float, "forecast_j1_mw": float})
    temps = pd.read_parquet(SAMPLES / "temperature-quotidienne-regionale_2016-2019.parquet")
    return hourly, temps


def run_backtest(start: date, end: date) -> tuple[BacktestResult, float]:
    """One backtest with the settings' defaults, and its wall time."""
    cons, temps = real_inputs()
    settings = Settings(_env_file=None)
    tick = time.perf_counter()
    result = backtest_from_settings(cons, temps, start, end, settings)
    return result, time.perf_counter() - tick


def monthly_table(hourly: pd.DataFrame) -> str:
    """Hourly MAPE per target month of the model and of RTE's J-1, as printable lines."""
    names = [n for n in ("model", "rte_j1") if n in hourly.columns]
    ape = hourly[names].sub(hourly["actual"], axis=0).abs().div(hourly["actual"], axis=0) * 100
    month = pd.to_datetime(hourly["target_date"]).dt.strftime("%m")
    table = ape.groupby(month.to_numpy()).mean()
    lines = ["    hourly MAPE per month: " + " ".join(f"{m:>5}" for m in table.index)]
    for name in names:
        lines.append(f"    {name:21}" + " ".join(f"{v:5.2f}" for v in table[name]))
    return "\n".join(lines)


def accuracy(year: int = 2019) -> dict[str, float]:
    """Backtest one year of the real samples, scored with RTE's J-1 on the same hours."""
    result, elapsed = run_backtest(date(year, 1, 1), date(year, 12, 31))
    print(f"(a) accuracy: {year} day-ahead on RTE's definitive consumption, observed temperatures")
    print("    standing in for forecasts; RTE J-1 scored on the same hours")
    print(f"    {'forecaster':18} {'hourly MAPE':>11} {'daily MAPE':>10}  {'n hours':>7}")
    for name, m in result.metrics["hourly"].items():
        daily = result.metrics["daily"][name]["mape"]
        print(f"    {name:18} {m['mape']:10.2f} % {daily:9.2f} %  {m['n']:7d}")
    hourly = result.hourly
    shares = forecaster_shares(hourly)
    cover = coverage(hourly)
    print(
        f"    hours forecast {hours_forecast_pct(hourly):.1f} %; per forecaster: "
        + ", ".join(f"{k} {v:.1f} %" for k, v in shares.items())
    )
    print(f"    P10-P90 coverage {cover:.1%} (nominal 80 %)")
    print(monthly_table(hourly))
    model = result.metrics["hourly"]["model"]["mape"]
    rte = result.metrics["hourly"].get("rte_j1", {}).get("mape", float("nan"))
    print(f"    model / RTE J-1 hourly: {model / rte:.3f} (goal <= 0.9)")
    print(
        f"    {result.retrains} retrainings, {result.train_seconds:.0f} s training,"
        f" {elapsed:.0f} s total"
    )
    for note in result.notes:
        print(f"    note: {note}")
    paths = write_reports(result, Path(tempfile.mkdtemp(prefix="aggregat-bench-backtest-")))
    print(f"    reports: {paths['md']}, {paths['png']}")
    out = {
        f"{lvl}_{n}": result.metrics[lvl][n]["mape"]
        for lvl in result.metrics
        for n in result.metrics[lvl]
    }
    out.update(
        retrains=result.retrains,
        backtest_s=elapsed,
        coverage=cover,
        hours_pct=hours_forecast_pct(hourly),
        fallback_pct=100 - shares.get("online_panel", 0.0),
    )
    return out


def backtest_cost() -> dict[str, float]:
    """A six-month backtest with daily adaptation against one full training, side by side."""
    cons, temps = real_inputs()
    settings = Settings(_env_file=None)
    feature_cfg = FeatureConfig.from_settings(settings)
    end = date(2019, 12, 31)
    issues = pd.date_range(
        pd.Timestamp(end) - pd.Timedelta(days=settings.forecast_training_days), pd.Timestamp(end)
    )
    tick = time.perf_counter()
    features = build_features(issues, cons, temps, feature_cfg)
    features["actual"] = attach_target(features, cons)
    train = features[features["actual"].notna()]
    train_model(
        train,
        train["actual"],
        feature_names(features.drop(columns=["actual"])),
        ModelConfig.from_settings(settings),
    )
    one_training = time.perf_counter() - tick
    result, six_months = run_backtest(date(2019, 7, 1), end)
    ratio = six_months / one_training
    print(
        f"(b) backtest cost: six months (2019-07..12, {result.retrains} retrainings, daily"
        f" adaptation) {six_months:.0f} s; one full training {one_training:.0f} s;"
        f" ratio {ratio:.1f} (goal <= 10)"
    )
    return {"backtest_6m_s": six_months, "training_s": one_training, "ratio": ratio}


def _use(root: Path) -> Settings:
    """Point the process settings at one benchmark warehouse and lake."""
    os.environ["AGGREGAT_DUCKDB_PATH"] = str(root / "warehouse.duckdb")
    os.environ["AGGREGAT_LAKE_URL"] = str(root / "lake")
    get_settings.cache_clear()
    return get_settings()


def _warehouse(root: Path, years: int, temps: pd.DataFrame, cons: pd.DataFrame) -> None:
    first = pd.Timestamp(ISSUE) - pd.DateOffset(years=years) - pd.Timedelta(days=10)
    settings = _use(root)
    wh = DuckDBWarehouse(settings.duckdb_path)
    load_consumption(wh, settings, cons[cons["hour_utc"] >= first])
    observed = temps[
        (pd.to_datetime(temps["date"]) >= first)
        & (pd.to_datetime(temps["date"]) < pd.Timestamp(ISSUE))
    ]
    load_observed(wh, settings, observed)
    run_days = list(pd.date_range(first, pd.Timestamp(ISSUE)).date)
    load_runs(wh, settings, make_forecast_runs(temps, run_days))


def _predict_once(issue: date) -> float:
    tick = time.perf_counter()
    # The tasks' bodies, outside any flow run: their run logger has nowhere to send lines.
    with disable_run_logger():
        model, meta = forecast_flows.load_champion.fn()
        data = forecast_flows.load_prediction_inputs.fn(issue)
        hourly = forecast_flows.forecast_rows.fn(model, meta.version, issue, data)
        forecast_flows.write_forecast.fn(hourly, forecast_flows.daily_rows(hourly), issue)
    return time.perf_counter() - tick


def cost() -> dict[str, float]:
    """Predict with 1 and 8 years of history, side by side; train on 8 years."""
    tmp = Path(tempfile.mkdtemp(prefix="aggregat-bench-predict-"))
    start = (
        (pd.Timestamp(ISSUE) - pd.DateOffset(years=8) - pd.Timedelta(days=30)).date().isoformat()
    )
    temps = make_temperatures(start, (ISSUE + timedelta(days=5)).isoformat())
    cons = make_consumption(start, ISSUE.isoformat(), temps)
    cons = cons[cons["hour_utc"] < pd.Timestamp(ISSUE) + pd.Timedelta(hours=8)]
    tick = time.perf_counter()
    for years in (1, 8):
        _warehouse(tmp / f"{years}y", years, temps, cons)
    print(
        f"(c) cost: synthetic warehouses of 1 and 8 years built in {time.perf_counter() - tick:.0f} s"
    )

    # Train on 8 years (the whole window, default hyper-parameters, P10/P50/P90).
    os.environ["AGGREGAT_FORECAST_TRAINING_DAYS"] = str(8 * 365 + 2)
    settings = _use(tmp / "8y")
    window = TrainingWindow.of(
        ISSUE,
        settings.forecast_training_days,
        settings.forecast_promotion_weeks,
        settings.forecast_adaptation_days,
    )
    tick = time.perf_counter()
    data = forecast_flows.load_training_data.fn(ISSUE, window)
    read_s = time.perf_counter() - tick
    tick = time.perf_counter()
    challenger = forecast_flows.train_challenger.fn(data, ISSUE, window)
    train_s = time.perf_counter() - tick
    print(
        f"    training on 8 years: {challenger.meta.training_rows} rows, read {read_s:.1f} s,"
        f" features + {len(challenger.model.boosters)} experts {train_s:.1f} s, hold-out MAPE {challenger.meta.metrics['holdout_mape']:.2f} %"
    )
    for years in (1, 8):
        registry = Registry(
            LocalLake(tmp / f"{years}y" / "lake"), settings.forecast_registry_prefix
        )
        registry.save(challenger.model, challenger.meta)
        registry.decide(
            Decision(challenger.meta.version, None, True, "bench", None, None, {}, "bench")
        )

    times: dict[int, list[float]] = {1: [], 8: []}
    for years in (1, 8):  # warm-up: imports, DuckDB first open
        _use(tmp / f"{years}y")
        _predict_once(ISSUE)
    for _ in range(REPEATS):
        for years in (1, 8):
            _use(tmp / f"{years}y")
            times[years].append(_predict_once(ISSUE))
    one, eight = statistics.median(times[1]), statistics.median(times[8])
    print(
        f"    predict (median of {REPEATS}): 1 year {one:.3f} s, 8 years {eight:.3f} s, ratio {eight / one:.2f}"
    )
    return {
        "predict_1y_s": one,
        "predict_8y_s": eight,
        "history_ratio": eight / one,
        "train_8y_s": train_s,
        "train_rows_8y": challenger.meta.training_rows,
    }


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    for key in [k for k in os.environ if k.startswith("AGGREGAT_")]:
        del os.environ[key]
    parts = os.environ.get("BENCH_PREDICT_PARTS", "accuracy,backtest_cost,cost").split(",")
    # The first year fills the main fields; each other window carrying J-1 adds its own.
    years = [int(y) for y in os.environ.get("BENCH_PREDICT_ACCURACY_YEARS", "2019,2018").split(",")]
    runs = {y: accuracy(y) for y in years} if SAMPLES.is_dir() and "accuracy" in parts else {}
    acc = runs.get(years[0], {})
    bt = backtest_cost() if SAMPLES.is_dir() and "backtest_cost" in parts else {}
    if not SAMPLES.is_dir():
        print(f"(a, b) accuracy and backtest cost skipped: samples not found at {SAMPLES}")
    c = cost() if "cost" in parts else {}
    fields = {"history_ratio": f"{c['history_ratio']:.2f}"} if c else {}
    for key in ("hourly_model", "hourly_rte_j1", "daily_model", "daily_rte_j1"):
        if key in acc:
            fields[f"mape_{key}"] = f"{acc[key]:.2f}"
    if acc:
        fields["coverage_p10_p90"] = f"{acc['coverage']:.3f}"
        fields["hours_forecast_pct"] = f"{acc['hours_pct']:.1f}"
        fields["fallback_pct"] = f"{acc['fallback_pct']:.1f}"
    for year, other in runs.items():
        if year == years[0]:
            continue
        for key in ("hourly_model", "hourly_rte_j1", "daily_model", "daily_rte_j1"):
            fields[f"mape_{key}_{year}"] = f"{other[key]:.2f}"
        fields[f"coverage_p10_p90_{year}"] = f"{other['coverage']:.3f}"
    if bt:
        fields["backtest_to_training_ratio"] = f"{bt['ratio']:.1f}"
    for key in (
        "hourly_model_offline",
        "hourly_naive_week",
        "hourly_linear_regression",
        "daily_model_offline",
        "daily_naive_week",
        "daily_linear_regression",
    ):
        if key in acc:
            fields[f"mape_{key}"] = f"{acc[key]:.2f}"
    if c:
        fields.update(
            predict_1y_s=f"{c['predict_1y_s']:.3f}",
            predict_8y_s=f"{c['predict_8y_s']:.3f}",
            train_8y_s=f"{c['train_8y_s']:.1f}",
            train_rows_8y=str(c["train_rows_8y"]),
        )
    if acc:
        fields["backtest_retrains"] = str(acc["retrains"])
        fields["backtest_s"] = f"{acc['backtest_s']:.0f}"
    print("BENCH predict " + " ".join(f"{k}={v}" for k, v in fields.items()))


if __name__ == "__main__":
    main()
