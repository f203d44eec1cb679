"""The forecast and skill marts (dbt) on a temporary DuckDB: our forecast, RTE's J-1, the actual.

The forecast rows take the path the predict flow gives them: lake partitions, the staging
load, then dbt.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.forecast import tables
from flows.forecast.flow import daily_rows
from flows.lake import LocalLake
from flows.odre.schemas import DATASETS, ECO2MIX_TR
from flows.settings import Settings
from flows.staging import load_changed
from flows.transform import run_dbt_build
from flows.warehouse import DuckDBWarehouse

PARIS = "Europe/Paris"
FIRST, LAST = "2024-06-01", "2024-06-11"  # measured local days [FIRST, LAST)
# Our P50 is the actual times (1 + error) per horizon; RTE's J-1 is 2 % high.
ERROR = {1: 0.01, 2: -0.03}


def realtime_rows(first: str = FIRST, last: str = LAST) -> pd.DataFrame:
    """Real-time eCO2mix staging rows of the local days [first, last); RTE's J-1 2 % high."""
    start = pd.Timestamp(first, tz=PARIS).tz_convert("UTC")
    end = pd.Timestamp(last, tz=PARIS).tz_convert("UTC")
    stamps = pd.date_range(start, end, freq="15min", inclusive="left").tz_localize(None)
    hourly = 50_000 + 10_000 * np.sin(np.arange(len(stamps)) // 4 / 24 * 2 * np.pi)
    frame = pd.DataFrame(
        {"date_heure": stamps, "perimetre": "France", "nature": "Données temps réel"}
    )
    frame["consommation"] = np.round(hourly)
    frame["prevision_j1"] = frame["consommation"] * 1.02
    frame["prevision_j"] = frame["consommation"]
    for column in ECO2MIX_TR.table.columns:
        if column not in frame and column not in ("day", "ingested_at"):
            frame[column] = 0.0 if ECO2MIX_TR.table.columns[column] == "float64" else None
    frame["day"] = frame["date_heure"].dt.date
    frame["ingested_at"] = pd.Timestamp("2024-06-12")
    return frame


def _forecast(actual: pd.Series) -> pd.DataFrame:
    """Issues 2024-05-31 .. 2024-06-10; the last ones reach past the measured days."""
    rows = []
    for issue in pd.date_range("2024-05-31", "2024-06-10"):
        for h in (1, 2):
            target = issue + pd.Timedelta(days=h)
            start = target.tz_localize(PARIS).tz_convert("UTC").tz_localize(None)
            hours = pd.date_range(start, periods=24, freq="h")
            base = actual.reindex(hours).to_numpy()
            base = np.where(np.isnan(base), 55_000.0, base)
            p50 = base * (1 + ERROR[h])
            rows.append(
                pd.DataFrame(
                    {
                        "issue_date": issue.date(),
                        "issue_time_utc": issue + pd.Timedelta(hours=8),
                        "horizon_days": h,
                        "target_date": target.date(),
                        "target_hour_utc": hours,
                        "target_hour_local": [
                            t.isoformat() for t in hours.tz_localize("UTC").tz_convert(PARIS)
                        ],
                        "p10_mw": p50 * 0.97,
                        "p50_mw": p50,
                        "p90_mw": p50 * 1.03,
                        "p50_before_memory_mw": p50,
                        "forecaster": "online_panel",
                        "forecaster_reason": "test rows",
                        "model_version": "v-test",
                        "created_at": pd.Timestamp("2024-06-12"),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp: Path = tmp_path_factory.mktemp("skill")
    settings = Settings(
        _env_file=None,
        profile="local",
        dbt_target=None,
        lake_url=str(tmp / "lake"),
        duckdb_path=tmp / "warehouse.duckdb",
    )
    wh = DuckDBWarehouse(settings.duckdb_path)
    for dataset in DATASETS.values():
        wh.ensure_table("staging", dataset.table)
    realtime = realtime_rows()
    wh.replace_partitions("staging", ECO2MIX_TR.table, realtime, set(realtime["day"]))
    actual = realtime.set_index("date_heure")["consommation"].resample("h").mean()
    forecast = _forecast(actual)
    lake = LocalLake(settings.lake_url)
    for issue, rows in forecast.groupby("issue_date"):
        tables.write_partition(lake, issue, rows, daily_rows(rows))
    for source in tables.lake_sources():
        load_changed(lake, wh, "staging", source)
    summary = run_dbt_build(
        settings,
        select="+forecast_skill_hourly +forecast_skill_daily +consumption_forecast"
        " +consumption_forecast_daily",
        artifacts_dir=tmp / "dbt",
    )
    yield {"wh": wh, "actual": actual, "forecast": forecast, "summary": summary}


def test_forecast_marts_hold_the_rows_the_lake_got(built: dict) -> None:
    marts = built["wh"].query(
        "select * from production.consumption_forecast order by issue_date, target_hour_utc"
    )
    expected = built["forecast"].sort_values(["issue_date", "target_hour_utc"])
    assert len(marts) == len(expected) == 11 * 48
    assert np.allclose(marts["p50_mw"], expected["p50_mw"])
    # The lake's ISO string with offset becomes the local wall-clock TIMESTAMP of every mart.
    local = pd.to_datetime(expected["target_hour_local"].to_list(), utc=True)
    assert marts["target_hour_local"].tolist() == local.tz_convert(PARIS).tz_localize(None).tolist()
    daily = built["wh"].query(
        "select * from production.consumption_forecast_daily order by issue_date, target_date"
    )
    assert len(daily) == 11 * 2 and set(daily["hours"]) == {24}
    first = expected[
        (expected["issue_date"] == date(2024, 5, 31)) & (expected["horizon_days"] == 1)
    ]
    # The sum of hourly MW is MWh; the mart says GWh.
    assert daily["energy_p50_gwh"].iloc[0] == pytest.approx(first["p50_mw"].sum() / 1000)


def test_hourly_skill_joins_ours_rte_and_actual(built: dict) -> None:
    hourly = built["wh"].query(
        "select * from production.forecast_skill_hourly order by hour_utc, horizon_days"
    )
    assert not hourly.duplicated(["hour_utc", "horizon_days"]).any()
    measured = hourly[hourly["actual_mw"].notna()]
    assert len(measured) == 10 * 24 * 2 - 24  # 2024-06-01 only has a D+1 forecast
    h1 = measured[measured["horizon_days"] == 1]
    assert np.allclose(h1["ape_pct"], 1.0) and np.allclose(h1["rte_ape_pct"], 2.0)
    assert (h1["within_p10_p90"] == 1).all()
    h2 = measured[measured["horizon_days"] == 2]
    # P90 = 0.97 x 1.03 x actual < actual: outside the band.
    assert np.allclose(h2["ape_pct"], 3.0) and (h2["within_p10_p90"] == 0).all()
    future = hourly[hourly["actual_mw"].isna()]
    assert set(pd.to_datetime(future["date_local"]).dt.strftime("%Y-%m-%d")) == {
        "2024-06-11",
        "2024-06-12",
    }
    assert future["ape_pct"].isna().all()


def test_daily_skill_has_energy_and_rolling_mape_and_bias(built: dict) -> None:
    daily = built["wh"].query(
        "select * from production.forecast_skill_daily order by date_local, horizon_days"
    )
    d1 = daily[(daily["horizon_days"] == 1) & daily["measured_hours"].eq(24)]
    actual = built["actual"]
    local_day = actual.index.tz_localize("UTC").tz_convert(PARIS).tz_localize(None).normalize()
    energy = actual.groupby(local_day).sum() / 1000  # GWh
    assert np.allclose(
        d1["actual_energy_gwh"].to_numpy(),
        energy.reindex(pd.to_datetime(d1["date_local"])).to_numpy(),
    )
    assert np.allclose(d1["forecast_energy_gwh"], d1["actual_energy_gwh"] * 1.01)
    assert np.allclose(d1["energy_ape_pct"], 1.0) and np.allclose(d1["rte_energy_ape_pct"], 2.0)
    assert np.allclose(d1[["mape_pct", "mape_7d_pct", "mape_28d_pct"]], 1.0)
    assert np.allclose(d1[["rte_mape_7d_pct", "rte_mape_28d_pct"]], 2.0)
    # Rolling bias over 7 days is the mean error of the hours of those 7 days.
    last = d1.iloc[-1]
    window = actual[
        (local_day > pd.Timestamp(last["date_local"]) - pd.Timedelta(days=7))
        & (local_day <= pd.Timestamp(last["date_local"]))
    ]
    assert last["bias_7d_mw"] == pytest.approx(0.01 * window.mean())
    assert last["rte_bias_7d_mw"] == pytest.approx(0.02 * window.mean())
    d2 = daily[(daily["horizon_days"] == 2) & daily["measured_hours"].eq(24)]
    assert np.allclose(d2["mape_7d_pct"], 3.0)
    # Daily MAPE: the error of each fully measured day's energy, averaged over the window.
    assert np.allclose(d1[["daily_mape_7d_pct", "daily_mape_28d_pct"]], 1.0)
    assert np.allclose(d1[["rte_daily_mape_7d_pct", "rte_daily_mape_28d_pct"]], 2.0)
    assert np.allclose(d2["daily_mape_28d_pct"], 3.0)
    days7 = energy[
        (energy.index > pd.Timestamp(last["date_local"]) - pd.Timedelta(days=7))
        & (energy.index <= pd.Timestamp(last["date_local"]))
    ]
    assert last["daily_bias_7d_gwh"] == pytest.approx(0.01 * days7.mean())
    assert last["rte_daily_bias_28d_gwh"] == pytest.approx(
        0.02 * energy.reindex(pd.to_datetime(d1["date_local"])).mean()
    )
    unmeasured = daily[daily["measured_hours"] == 0]
    assert unmeasured["mape_pct"].isna().all() and unmeasured["energy_ape_pct"].isna().all()
