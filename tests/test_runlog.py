"""Run summaries in the lake: one object per run, the statuses they record, and the marts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from flows import runlog
from flows.lake import LocalLake
from flows.meteofrance.backfill import BackfillRow
from flows.pipeline import PipelineSummary, StepOutcome
from flows.staging import LoadResult, load_changed
from flows.transform import SourceFreshness, TransformSummary

AS_OF = date(2025, 3, 30)
T0 = datetime(2025, 3, 30, 23, 59, tzinfo=UTC)


def read_runs(lake: LocalLake, prefix: str = "raw/pipeline/runs/") -> pd.DataFrame:
    keys = lake.list(prefix)
    return pd.concat([lake.read_parquet(k).to_pandas() for k in keys], ignore_index=True)


def test_runs_of_one_day_each_keep_their_own_object(tmp_path) -> None:
    lake = LocalLake(tmp_path / "lake")
    step = runlog.StepRun("load", "ok", T0, T0 + timedelta(minutes=2), "t: 1 days", 3, 1)
    first = runlog.write_run(lake, "raw/pipeline/runs", "run-a", "load-staging", AS_OF, [step])
    second = runlog.write_run(lake, "raw/pipeline/runs", "run-b", "load-staging", AS_OF, [step])
    # The object's day is the day the run started, not the day it ended (past midnight).
    assert first == "raw/pipeline/runs/date=2025-03-30/run-a.parquet"
    assert second == "raw/pipeline/runs/date=2025-03-30/run-b.parquet"
    runs = read_runs(lake)
    assert sorted(runs["run_id"]) == ["run-a", "run-b"]
    assert runs["row_count"].tolist() == [3, 3] and runs["day_partitions"].tolist() == [1, 1]
    assert list(runs.columns) == list(runlog.RUNS.columns)


def test_a_step_that_reports_gaps_or_stale_sources_is_a_warning() -> None:
    stale = SourceFreshness("source.aggregat.odre.gas", "warn", T0.replace(tzinfo=None), 50.0)
    built = TransformSummary(target="local", models_built=["m"], freshness=[stale])
    assert runlog.finished("transform", built, T0, T0).status == "warning"
    assert runlog.finished("transform", TransformSummary(target="local"), T0, T0).status == "ok"
    rows = [
        BackfillRow(AS_OF, "arpege/01/SP1/00", "rebuilt"),
        BackfillRow(AS_OF, "arome/0025/SP1/00", "missing", "gone from the source"),
    ]
    backfill = runlog.finished("backfill", rows, T0, T0)
    assert backfill.status == "warning"
    assert backfill.message.splitlines() == [
        "2 day x product rows: 1 missing, 1 rebuilt",
        "2025-03-30 arome/0025/SP1/00: missing",
    ]
    loads = [LoadResult("odre__a", [AS_OF, AS_OF + timedelta(days=1)], 96), LoadResult("b", [], 0)]
    load = runlog.finished("load", loads, T0, T0)
    assert (load.status, load.rows, load.day_partitions) == ("ok", 96, 2)


def test_the_pipeline_summary_keeps_each_steps_times_and_status() -> None:
    ticks = iter([T0, T0 + timedelta(seconds=5), T0 + timedelta(seconds=9)])

    def load() -> list[LoadResult]:
        return [LoadResult("t", [AS_OF], 4)]

    clock = runlog.StepClock({"load": load})
    result = clock.functions["load"]()
    clock.times["load"] = (next(ticks), next(ticks))  # fixed times to assert on
    summary = PipelineSummary(
        AS_OF,
        [
            StepOutcome("odre", "failed", "OdreError: 503"),
            StepOutcome("load", "ok", "t: 1 days, 4 rows", result),
            StepOutcome("transform", "skipped", "load failed"),
        ],
    )
    steps = runlog.pipeline_steps(summary, clock)
    assert [(s.step, s.status) for s in steps] == [
        ("odre", "failed"),
        ("load", "ok"),
        ("transform", "skipped"),
    ]
    assert steps[0].message == "OdreError: 503" and steps[0].started_at is None
    assert (steps[1].started_at, steps[1].ended_at, steps[1].rows) == (
        T0,
        T0 + timedelta(seconds=5),
        4,
    )


def test_a_flow_run_on_its_own_records_itself_a_sub_flow_does_not(prefect_server, settings):
    from prefect import flow

    @flow(name="load-staging", on_completion=runlog.RECORD, on_failure=runlog.RECORD)
    def standalone(as_of: date, fail: bool = False) -> list[LoadResult]:
        if fail:
            raise RuntimeError("warehouse locked")
        return [LoadResult("odre__x", [as_of], 7)]

    @flow(name="caller")
    def caller() -> None:
        standalone(AS_OF)

    standalone(AS_OF)
    with pytest.raises(RuntimeError):
        standalone(AS_OF, fail=True)
    caller()
    runs = read_runs(LocalLake(settings.lake_url)).sort_values("started_at")
    assert runs["step"].tolist() == ["load", "load"]  # the sub-flow of `caller` wrote nothing
    assert runs["status"].tolist() == ["ok", "failed"]
    assert runs["flow"].tolist() == ["load-staging"] * 2
    assert runs["as_of"].tolist() == [AS_OF, AS_OF]
    assert runs["row_count"].iloc[0] == 7 and pd.isna(runs["row_count"].iloc[1])
    assert "warehouse locked" in runs["message"].iloc[1]
    assert (runs["ended_at"] >= runs["started_at"]).all()


def test_a_pipeline_run_surfaces_in_the_pipeline_runs_mart(prefect_server, settings, monkeypatch):
    """The run writes its summary; its load and transform steps carry it to the mart."""
    from flows import pipeline
    from flows.warehouse import open_warehouse

    def odre() -> None:
        raise RuntimeError("ODRÉ answered 503")

    def transform() -> TransformSummary:
        from flows.transform import transform as dbt_build

        return dbt_build(select=runlog.HEALTH_MODELS, freshness=False)

    steps = {"odre": odre, "load": pipeline.load_staging, "transform": transform}
    monkeypatch.setattr(pipeline, "_step_functions", lambda as_of: steps)
    monkeypatch.setattr(pipeline, "lake_sources", lambda: runlog.lake_sources())
    with pytest.raises(pipeline.PipelineFailed) as failed:
        pipeline.daily_pipeline(as_of=AS_OF, steps=["odre", "load", "transform"])
    lake = LocalLake(settings.lake_url)
    (key,) = lake.list("raw/pipeline/runs/")
    written = lake.read_parquet(key).to_pandas()
    assert written["step"].tolist() == ["odre", "load", "transform"]
    assert written["status"].tolist() == ["failed", "ok", "ok"]
    assert key.endswith(f"/date={written['day'].iloc[0]}/{written['run_id'].iloc[0]}.parquet")
    assert failed.value.summary.failed == ["odre"]

    wh = open_warehouse(settings)
    try:
        mart = wh.query(
            "select step_name, status, run_id, message, duration_seconds, flow_name"
            " from production.pipeline_runs where is_latest order by started_at"
        )
    finally:
        wh.close()
    assert mart["step_name"].tolist() == ["odre", "load", "transform"]
    assert mart["status"].tolist() == ["failed", "ok", "ok"]
    assert set(mart["run_id"]) == {written["run_id"].iloc[0]}
    assert set(mart["flow_name"]) == {"daily-pipeline"}
    assert "ODRÉ answered 503" in mart["message"].iloc[0]

    # A second run the same day: both are kept, the mart's latest is the new one.
    monkeypatch.setitem(steps, "odre", lambda: "odre done")
    pipeline.daily_pipeline(as_of=AS_OF, steps=["odre", "load", "transform"])
    assert len(lake.list("raw/pipeline/runs/")) == 2
    wh = open_warehouse(settings)
    try:
        odre_runs = wh.query(
            "select status, runs_ago, is_latest from production.pipeline_runs"
            " where step_name = 'odre' order by runs_ago"
        )
        staged = wh.query("select count(*) n from staging.pipeline__runs")["n"].iloc[0]
    finally:
        wh.close()
    assert odre_runs.values.tolist() == [["ok", 1, True], ["failed", 2, False]]
    assert staged == 6


def test_the_staging_load_finds_the_runs_under_the_configured_prefix(settings, monkeypatch):
    from flows.settings import get_settings
    from flows.warehouse import open_warehouse

    monkeypatch.setenv("AGGREGAT_PIPELINE_RUNS_PREFIX", "health/runs")
    get_settings.cache_clear()
    lake = LocalLake(settings.lake_url)
    step = runlog.StepRun("weather", "warning", T0, T0, "weather gap: arome")
    runlog.write_run(lake, "health/runs", "r1", "ingest-weather", AS_OF, [step])
    (source, _) = runlog.lake_sources()
    wh = open_warehouse(get_settings())
    try:
        result = load_changed(lake, wh, "staging", source)
        staged = wh.query("select step, status, day from staging.pipeline__runs")
    finally:
        wh.close()
    assert (result.table, result.rows, result.days) == ("pipeline__runs", 1, [AS_OF])
    assert staged[["step", "status"]].values.tolist() == [["weather", "warning"]]
    assert pd.Timestamp(staged["day"].iloc[0]).date() == AS_OF
