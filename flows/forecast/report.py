"""Backtest reports: JSON (the contract), Markdown (for people) and a PNG plot; and
`python -m flows backtest`, which runs a backtest on the warehouse and writes them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from flows.forecast.backtest import (  # noqa: E402
    FORECASTERS,
    BacktestResult,
    coverage,
    daily_energy,
    forecaster_shares,
    hours_forecast_pct,
)

LABELS = {
    "model": "our model (P50)",
    "model_offline": "our experts' mean, not adapted",
    "rte_j1": "RTE J-1",
    "naive_week": "same hour last week",
    "linear_regression": "calendar/temperature regression",
}


def report_paths(out_dir: Path, result: BacktestResult) -> dict[str, Path]:
    """`backtest_<START>_<END>.{json,md,png}` in the output folder."""
    stem = f"backtest_{result.start.isoformat()}_{result.end.isoformat()}"
    return {ext: out_dir / f"{stem}.{ext}" for ext in ("json", "md", "png")}


def write_reports(result: BacktestResult, out_dir: Path) -> dict[str, Path]:
    """Write the three report files and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = report_paths(out_dir, result)
    body = result.to_json()
    body["p10_p90_coverage"] = coverage(result.hourly)
    body["hours_forecast_pct"] = hours_forecast_pct(result.hourly)
    body["forecaster_share_pct"] = forecaster_shares(result.hourly)
    paths["json"].write_text(json.dumps(body, indent=2, default=_nan_to_none))
    paths["md"].write_text(markdown(result, body["p10_p90_coverage"]))
    plot(result, paths["png"])
    return paths


def _nan_to_none(value: object) -> object:
    return None if isinstance(value, float) and math.isnan(value) else str(value)


def markdown(result: BacktestResult, cover: float) -> str:
    """A short Markdown report: the two tables and the notes."""
    lines = [
        f"# Consumption forecast backtest {result.start} .. {result.end}",
        "",
        "Day-ahead (issue day D at the issue hour, target D+1), rolling origin retrained every"
        f" block ({result.retrains} retrainings, {result.train_seconds:.0f} s of training).",
        "",
    ]
    for level, unit in (("hourly", "MW"), ("daily", "MWh")):
        lines += [
            f"## {level.capitalize()}",
            "",
            f"| forecaster | MAPE % | RMSE {unit} | bias {unit} | n |",
            "|---|---:|---:|---:|---:|",
        ]
        for name in FORECASTERS:
            m = result.metrics[level].get(name)
            if m:
                lines.append(
                    f"| {LABELS[name]} | {m['mape']:.2f} | {m['rmse']:.0f} | {m['bias']:.0f}"
                    f" | {m['n']} |"
                )
        lines.append("")
    lines.append(f"P10–P90 coverage of hourly actuals: {cover:.1%} (80 % when calibrated).")
    shares = ", ".join(f"{k} {v:.1f} %" for k, v in forecaster_shares(result.hourly).items())
    lines.append(f"Target hours forecast: {hours_forecast_pct(result.hourly):.1f} % ({shares}).")
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def plot(result: BacktestResult, path: Path) -> None:
    """The whole window: actual, our P50 with its band and RTE's J-1 (daily means, one axis),
    then the 7-day rolling hourly MAPE of each forecaster."""
    hourly = result.hourly
    present = [f for f in FORECASTERS if f in hourly.columns and hourly[f].notna().any()]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7), sharex=True)
    # Daily means keep a year readable; the band is the mean of the hourly P10 and P90.
    cols = [c for c in ("actual", "model", "p10", "p90", "rte_j1") if c in hourly.columns]
    day = hourly.groupby("target_date")[cols].mean()
    top.plot(day.index, day["actual"], color="black", linewidth=1.2, label="actual")
    top.plot(day.index, day["model"], color="tab:blue", linewidth=1, label=LABELS["model"])
    if day["p10"].notna().any():
        top.fill_between(
            day.index, day["p10"], day["p90"], color="tab:blue", alpha=0.2, label="P10–P90"
        )
    if "rte_j1" in day.columns and day["rte_j1"].notna().any():
        top.plot(day.index, day["rte_j1"], color="tab:red", linewidth=1, label=LABELS["rte_j1"])
    top.set_ylabel("MW, daily mean")
    top.legend(loc="upper right", fontsize=8)
    for name in present:
        ape = (hourly[name] - hourly["actual"]).abs() / hourly["actual"] * 100
        daily = ape.groupby(hourly["target_date"]).mean()
        bottom.plot(daily.index, daily.rolling(7, min_periods=1).mean(), label=LABELS[name])
    bottom.set_ylabel("hourly MAPE %, 7-day mean")
    bottom.legend(loc="upper right", fontsize=8)
    daily_e = daily_energy(hourly, ["actual"])
    fig.suptitle(f"Backtest {result.start} .. {result.end} ({len(daily_e)} days)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
