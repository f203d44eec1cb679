"""The forecast as a lake source: partitions per issue day, their staging load, the migration."""

from __future__ import annotations

from datetime import date

import pandas as pd

from flows.forecast import tables
from flows.forecast.flow import daily_rows
from flows.lake import LocalLake
from flows.staging import load_changed
from flows.warehouse import DuckDBWarehouse, TableSpec


def _rows(issue: date, p50: float) -> pd.DataFrame:
    hours = pd.date_range(pd.Timestamp(issue) + pd.Timedelta(hours=22), periods=48, freq="h")
    return pd.DataFrame(
        {
            "issue_date": issue,
            "issue_time_utc": pd.Timestamp(issue) + pd.Timedelta(hours=8),
            "horizon_days": [1] * 24 + [2] * 24,
            "target_date": [(h + pd.Timedelta(hours=2)).date() for h in hours],
            "target_hour_utc": hours,
            "target_hour_local": [h.isoformat() for h in hours],
            "p10_mw": p50 - 1000,
            "p50_mw": p50,
            "p90_mw": p50 + 1000,
            "p50_before_memory_mw": p50,
            "forecaster": "online_panel",
            "forecaster_reason": "test",
            "model_version": "v1",
            "created_at": pd.Timestamp("2026-01-01"),
        }
    )


def test_a_reissued_day_replaces_its_partition_and_only_it_is_reloaded(tmp_path) -> None:
    lake, wh = LocalLake(tmp_path / "lake"), DuckDBWarehouse(tmp_path / "w.duckdb")
    for issue in (date(2026, 1, 5), date(2026, 1, 6)):
        rows = _rows(issue, 50_000.0)
        assert tables.write_partition(lake, issue, rows, daily_rows(rows)) == [
            f"curated/forecast/consumption/date={issue}/hourly.parquet",
            f"curated/forecast/consumption/date={issue}/daily.parquet",
        ]
    hourly, daily = tables.lake_sources()
    assert load_changed(lake, wh, "staging", hourly).days == [date(2026, 1, 5), date(2026, 1, 6)]
    load_changed(lake, wh, "staging", daily)

    again = _rows(date(2026, 1, 6), 60_000.0)
    tables.write_partition(lake, date(2026, 1, 6), again, daily_rows(again))
    assert load_changed(lake, wh, "staging", hourly).days == [date(2026, 1, 6)]
    assert load_changed(lake, wh, "staging", daily).days == [date(2026, 1, 6)]
    staged = wh.query(
        "select issue_date, count(*) n, max(p50_mw) p50 from staging.forecast__consumption_hourly"
        " group by issue_date order by issue_date"
    )
    assert staged["n"].tolist() == [48, 48] and staged["p50"].tolist() == [50_000.0, 60_000.0]
    energy = wh.query(
        "select energy_p50_mwh from staging.forecast__consumption_daily"
        " where issue_date = date '2026-01-06' order by target_date"
    )
    assert energy["energy_p50_mwh"].tolist() == [24 * 60_000.0, 24 * 60_000.0]


def test_rows_an_older_predict_wrote_to_the_warehouse_move_to_the_lake(tmp_path) -> None:
    lake, wh = LocalLake(tmp_path / "lake"), DuckDBWarehouse(tmp_path / "w.duckdb")
    assert tables.export_warehouse_rows(wh, lake, "production", "consumption_forecast", "x") == []
    old = pd.concat([_rows(date(2025, 12, 1), 1.0), _rows(date(2025, 12, 2), 2.0)])
    old = old.drop(columns="p50_before_memory_mw")  # that predict had no holiday memory
    columns = {c: k for c, k in tables.hourly_spec().columns.items() if c in old.columns}
    hourly = TableSpec("consumption_forecast", columns, "issue_date")
    daily = TableSpec("consumption_forecast_daily", tables.daily_spec().columns, "issue_date")
    wh.replace_partitions("production", hourly, old, set(old["issue_date"]))
    wh.replace_partitions("production", daily, daily_rows(old), set(old["issue_date"]))
    # A day already in the lake (re-issued since) keeps the lake's rows.
    newer = _rows(date(2025, 12, 2), 9.0)
    tables.write_partition(lake, date(2025, 12, 2), newer, daily_rows(newer))

    copied = tables.export_warehouse_rows(
        wh, lake, "production", "consumption_forecast", "consumption_forecast_daily"
    )
    assert copied == [date(2025, 12, 1)]
    moved = lake.read_parquet(tables.partition_key(date(2025, 12, 1), tables.HOURLY_FILE))
    assert moved.num_rows == 48 and set(moved.column("p50_mw").to_pylist()) == {1.0}
    kept = lake.read_parquet(tables.partition_key(date(2025, 12, 2), tables.HOURLY_FILE))
    assert set(kept.column("p50_mw").to_pylist()) == {9.0}
    days = lake.read_parquet(tables.partition_key(date(2025, 12, 1), tables.DAILY_FILE))
    assert days.num_rows == 2


def test_a_partition_written_before_the_holiday_memory_loads_with_its_p50_as_before_memory(
    tmp_path,
) -> None:
    lake, wh = LocalLake(tmp_path / "lake"), DuckDBWarehouse(tmp_path / "w.duckdb")
    old_columns = {
        c: k for c, k in tables.hourly_spec().columns.items() if c != "p50_before_memory_mw"
    }
    old_spec = TableSpec(tables.HOURLY_TABLE, old_columns, "issue_date")
    first = _rows(date(2025, 12, 1), 51_000.0).drop(columns="p50_before_memory_mw")
    lake.write_parquet(tables.partition_key(date(2025, 12, 1), tables.HOURLY_FILE), first)
    # Staging as that older version created it, without the column.
    wh.replace_partitions("staging", old_spec, old_spec.conform(first), {date(2025, 12, 1)})
    newer = _rows(date(2025, 12, 2), 52_000.0).assign(p50_before_memory_mw=50_000.0)
    tables.write_partition(lake, date(2025, 12, 2), newer, daily_rows(newer))

    hourly, _ = tables.lake_sources()
    assert load_changed(lake, wh, "staging", hourly).days == [date(2025, 12, 1), date(2025, 12, 2)]
    staged = wh.query(
        "select issue_date, min(p50_before_memory_mw) lo, max(p50_before_memory_mw) hi"
        " from staging.forecast__consumption_hourly group by issue_date order by issue_date"
    )
    assert staged[["lo", "hi"]].to_numpy().tolist() == [[51_000.0, 51_000.0], [50_000.0, 50_000.0]]
