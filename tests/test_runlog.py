"""Run summaries in the lake: one object per run, the statuses they record, and the marts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from flows import runlog
from flows.lake import LocalLake
from flows.pipeline import PipelineSummary, StepOutcome
from flows.staging import LoadResult, load_changed
from flows.status import BackfillRow, BackfillStatus
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
        BackfillRow(AS_OF, "arpege/01/SP1/00", BackfillStatus.REBUILT),
        BackfillRow(AS_OF, "arome/0025/SP1/00", BackfillStatus.MISSING, "gone"),
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


def test_a_training_records_its_rows_and_decision() -> None:
    from flows.forecast.flow import TrainResult

    trained = TrainResult(AS_OF, "v9", False, "v8", "challenger MAPE 3.1 > 2.9", 3.1, 2.9, 1848, {})
    run = runlog.finished("train", trained, T0, T0)
    assert (run.status, run.rows, run.day_partitions) == ("ok", 1848, None)
    assert run.message == (
        "trained v9 on 1848 rows: not promoted (challenger MAPE 3.1 > 2.9); champion: v8"
    )


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
    from flows.backends import open_warehouse

    def odre() -> None:
        raise RuntimeError("ODRÉ answered 503")

    def transform() -> TransformSummary:
        from flows.transform import transform as dbt_build

        return dbt_build(select=runlog.HEALTH_MODELS, freshness=False)

    steps = {"odre": odre, "load": pipeline.load_staging, "transform": transform}
    monkeypatch.setattr(pipeline, "_step_functions", lambda as_of, *_: steps)
    monkeypatch.setattr(pipeline, "lake_sources", lambda: runlog.lake_sources())
    # Forced: run records alone are no change that would otherwise make dbt build.
    with pytest.raises(pipeline.PipelineFailed) as failed:
        pipeline.daily_pipeline(as_of=AS_OF, steps=["odre", "load", "transform"], force=True)
    lake = LocalLake(settings.lake_url)
    (key,) = lake.list("raw/pipeline/runs/")
    written = lake.read_parquet(key).to_pandas()
    assert written["step"].tolist() == ["odre", "load", "transform"]
    # The load found run records only, no data: a warning, which does not stop dbt.
    assert written["status"].tolist() == ["failed", "warning", "ok"]
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
    assert mart["status"].tolist() == ["failed", "warning", "ok"]
    assert set(mart["run_id"]) == {written["run_id"].iloc[0]}
    assert set(mart["flow_name"]) == {"daily-pipeline"}
    assert "ODRÉ answered 503" in mart["message"].iloc[0]

    # A second run the same day: both are kept, the mart's latest is the new one.
    monkeypatch.setitem(steps, "odre", lambda: "odre done")
    pipeline.daily_pipeline(as_of=AS_OF, steps=["odre", "load", "transform"], force=True)
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

    # Not forced, nothing new: dbt's build is skipped, the run still reaches the mart.
    pipeline.daily_pipeline(as_of=AS_OF, steps=["odre", "load", "transform"])
    wh = open_warehouse(settings)
    try:
        latest = wh.query(
            "select step_name, status from production.pipeline_runs where is_latest"
            " order by step_name"
        )
    finally:
        wh.close()
    assert latest.values.tolist() == [["load", "warning"], ["odre", "ok"], ["transform", "skipped"]]


def test_the_staging_load_finds_the_runs_under_the_configured_prefix(settings, monkeypatch):
    from flows.backends import open_warehouse
    from flows.settings import get_settings

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


@pytest.mark.slow
def test_the_health_marts_are_the_same_on_duckdb_and_bigquery(tmp_path, bq_emulator) -> None:
    """The run and promotion records, loaded and built on both backends, give the same marts."""
    import uuid

    from flows.bigquery import BigQueryWarehouse
    from flows.forecast.registry import Decision, Registry
    from flows.settings import Settings
    from flows.transform import run_dbt_build
    from flows.warehouse import DuckDBWarehouse

    lake = LocalLake(tmp_path / "lake")
    later = T0 + timedelta(hours=1)
    runlog.write_run(
        lake,
        "raw/pipeline/runs",
        "daily-1",
        "daily-pipeline",
        AS_OF,
        [
            runlog.StepRun("odre", "failed", T0, T0 + timedelta(seconds=3), "OdreError: 503"),
            runlog.StepRun("load", "ok", T0, T0 + timedelta(seconds=70), "t: 1 days", 96, 1),
            runlog.StepRun("transform", "skipped", None, None, "load failed"),
        ],
    )
    runlog.write_run(
        lake,
        "raw/pipeline/runs",
        "odre-2",
        "ingest-odre",
        AS_OF,
        [runlog.StepRun("odre", "ok", later, later + timedelta(seconds=9), "x: 96 rows", 96, 1)],
    )
    registry = Registry(lake, published="raw/pipeline/model_promotions")
    for version, champion, promoted, score, champion_score, at in (
        ("v1", None, True, 2.5, None, "2025-03-01T10:00:00+00:00"),
        ("v2", "v1", False, 2.9, 2.5, "2025-03-08T10:00:00+00:00"),
        ("v3", "v1", False, float("nan"), 2.5, "2025-03-15T10:00:00+00:00"),
    ):
        decision = Decision(version, champion, promoted, "why", score, champion_score, {}, "", at)
        registry.decide(decision)

    suffix = uuid.uuid4().hex[:8]
    local = Settings(
        _env_file=None,
        lake_url=str(tmp_path / "lake"),
        duckdb_path=tmp_path / "warehouse.duckdb",
        dbt_artifacts_dir=tmp_path / "dbt-local",
    )
    emulator = Settings(
        _env_file=None,
        profile="gcp",
        dbt_target="emulator",
        lake_url=str(tmp_path / "lake"),
        gcp_project=bq_emulator.project,
        bigquery_api_endpoint=bq_emulator.endpoint,
        env="ci",
        staging_dataset=f"staging_{suffix}",
        development_dataset=f"development_{suffix}",
        production_dataset=f"production_{suffix}",
        dbt_artifacts_dir=tmp_path / "dbt-emulator",
    )
    marts = {}
    for name, settings, warehouse in (
        ("duckdb", local, DuckDBWarehouse(local.duckdb_path)),
        ("bigquery", emulator, BigQueryWarehouse.from_settings(emulator)),
    ):
        for source in runlog.lake_sources(settings):
            load_changed(lake, warehouse, settings.staging_dataset, source)
        assert run_dbt_build(settings, select=runlog.HEALTH_MODELS).ok
        prefix = settings.production_dataset
        runs = warehouse.query(
            "select step_name, status, runs_ago, is_latest, duration_seconds, row_count"
            f" from {prefix}.pipeline_runs order by step_name, runs_ago"
        )
        promotions = warehouse.query(
            "select model_version, decision, is_champion, mape_change_points"
            f" from {prefix}.model_promotions order by decided_at"
        )
        warehouse.close()
        marts[name] = (
            runs.astype(object).where(runs.notna(), None).values.tolist(),
            promotions.astype(object).where(promotions.notna(), None).values.tolist(),
        )
    runs, promotions = marts["duckdb"]
    assert runs == [
        ["load", "ok", 1, True, 70, 96],
        ["odre", "ok", 1, True, 9, 96],
        ["odre", "failed", 2, False, 3, None],
        ["transform", "skipped", 1, True, None, None],
    ]
    assert promotions == [
        ["v1", "promote", True, None],
        ["v2", "keep", False, pytest.approx(0.4)],
        ["v3", "refuse", False, None],
    ]
    assert marts["bigquery"] == marts["duckdb"]
