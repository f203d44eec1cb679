"""Forecast benchmark: accuracy on real 2016–2019 data, and what prediction costs as history grows.

(a) Accuracy: the rolling-origin backtest over 2019 (day-ahead, retrained every week on what
    was known at the time) on the real hourly consumption sample and the observed regional
    temperatures — observed temperatures stand in for weather forecasts, so this is an
    optimistic bound on the temperature input. The sample has no RTE J-1 forecast; RTE's
    day-ahead MAPE on real samples is about 1.6–1.9 % (our target). P50 only, for time.
(b) Cost: the predict path (champion load, warehouse reads, gates, features, LightGBM, write)
    with 1 year and with 8 years of synthetic history in DuckDB, measured side by side
    (ratio goal <= 1.2); and the training time on 8 years of hourly data.

Last line: `BENCH predict history_ratio=<8y/1y> ...`.
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
from dataclasses import replace  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLES = ROOT.parent / "shared" / "samples" / "odre"

from flows.forecast import flow as forecast_flows  # noqa: E402
from flows.forecast.backtest import backtest  # noqa: E402
from flows.forecast.features import FeatureConfig  # noqa: E402
from flows.forecast.model import ModelConfig  # noqa: E402
from flows.forecast.registry import Decision, Registry  # noqa: E402
from flows.forecast.training import TrainingWindow, fit_challenger  # noqa: E402
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


def accuracy() -> dict[str, float]:
    """Backtest 2019 on the real sample, weekly retraining."""
    cons = pd.read_parquet(SAMPLES / "eco2mix-national-hourly_2016-2019.parquet")
    cons = cons.rename(columns={"date_heure": "hour_utc", "consommation": "consumption_mw"})
    temps = pd.read_parquet(SAMPLES / "temperature-quotidienne-regionale_2016-2019.parquet")
    settings = Settings(_env_file=None)
    model_cfg = replace(ModelConfig.from_settings(settings), quantiles=(0.5,))
    tick = time.perf_counter()
    result = backtest(
        cons[["hour_utc", "consumption_mw"]],
        temps,
        date(2019, 1, 1),
        date(2019, 12, 31),
        feature_cfg=FeatureConfig.from_settings(settings),
        model_cfg=model_cfg,
        retrain_every_days=7,
        training_days=settings.forecast_training_days,
    )
    elapsed = time.perf_counter() - tick
    print("(a) accuracy: 2019 day-ahead, weekly retraining, real consumption sample,")
    print("    observed temperatures standing in for forecasts; no RTE J-1 in the sample")
    print("    (RTE's day-ahead MAPE on real samples: about 1.6-1.9 %)")
    for level in ("hourly", "daily"):
        for name, m in result.metrics[level].items():
            print(
                f"    {level:6} {name:18} MAPE {m['mape']:5.2f} %  RMSE {m['rmse']:8.0f}"
                f"  bias {m['bias']:7.0f}  n {m['n']}"
            )
    print(
        f"    {result.retrains} retrainings, {result.train_seconds:.0f} s training, {elapsed:.0f} s total"
    )
    for note in result.notes:
        print(f"    note: {note}")
    out = {
        f"{lvl}_{n}": result.metrics[lvl][n]["mape"]
        for lvl in result.metrics
        for n in result.metrics[lvl]
    }
    out["retrains"] = result.retrains
    out["backtest_s"] = elapsed
    return out


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
    model, meta = forecast_flows.load_champion.fn()
    consumption, temps = forecast_flows.load_prediction_inputs.fn(issue)
    hourly = forecast_flows.forecast_rows.fn(model, meta.version, issue, consumption, temps)
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
        f"(b) cost: synthetic warehouses of 1 and 8 years built in {time.perf_counter() - tick:.0f} s"
    )

    # Train on 8 years (the whole window, default hyper-parameters, P10/P50/P90).
    os.environ["AGGREGAT_FORECAST_TRAINING_DAYS"] = str(8 * 365 + 2)
    settings = _use(tmp / "8y")
    window = TrainingWindow.of(
        ISSUE, settings.forecast_training_days, settings.forecast_promotion_weeks
    )
    tick = time.perf_counter()
    consumption, observed, kind = forecast_flows.load_training_data.fn(ISSUE, window)
    read_s = time.perf_counter() - tick
    tick = time.perf_counter()
    challenger = fit_challenger(
        consumption,
        observed,
        ISSUE,
        FeatureConfig.from_settings(settings),
        ModelConfig.from_settings(settings),
        window,
        settings.forecast_min_training_days,
        kind,
    )
    train_s = time.perf_counter() - tick
    print(
        f"    training on 8 years: {challenger.meta.training_rows} rows, read {read_s:.1f} s,"
        f" features + 3 boosters {train_s:.1f} s, hold-out MAPE {challenger.meta.metrics['holdout_mape']:.2f} %"
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
    acc = accuracy() if SAMPLES.is_dir() else {}
    if not acc:
        print(f"(a) accuracy skipped: samples not found at {SAMPLES}")
    c = cost()
    fields = {
        "history_ratio": f"{c['history_ratio']:.2f}",
        "predict_1y_s": f"{c['predict_1y_s']:.3f}",
        "predict_8y_s": f"{c['predict_8y_s']:.3f}",
        "train_8y_s": f"{c['train_8y_s']:.1f}",
        "train_rows_8y": str(c["train_rows_8y"]),
    }
    for key in (
        "hourly_model",
        "hourly_naive_week",
        "hourly_linear_regression",
        "daily_model",
        "daily_naive_week",
        "daily_linear_regression",
    ):
        if key in acc:
            fields[f"mape_{key}"] = f"{acc[key]:.2f}"
    if acc:
        fields["backtest_retrains"] = str(acc["retrains"])
        fields["backtest_s"] = f"{acc['backtest_s']:.0f}"
    print("BENCH predict " + " ".join(f"{k}={v}" for k, v in fields.items()))


if __name__ == "__main__":
    main()
