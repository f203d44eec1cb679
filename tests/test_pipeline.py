"""The daily pipeline's step logic: order, independence, skipping, summaries."""

from __future__ import annotations

from datetime import date

import pytest

from flows.pipeline import STEPS, odre_backfill_rows, run_steps
from flows.staging import LoadResult
from flows.status import BackfillRow

AS_OF = date(2025, 3, 30)


def recorder(fail: set[str]):
    calls: list[str] = []

    def make(step: str):
        def run():
            calls.append(step)
            if step in fail:
                raise RuntimeError(f"{step} broke")
            return [LoadResult("t", [AS_OF], 3)] if step == "load" else f"{step} done"

        return run

    return calls, {s: make(s) for s in STEPS}


def test_steps_run_in_pipeline_order_whatever_the_request_order() -> None:
    calls, functions = recorder(set())
    summary = run_steps(AS_OF, ["transform", "odre", "load"], functions)
    assert calls == ["odre", "load", "transform"]
    assert [o.status for o in summary.outcomes] == ["ok", "ok", "ok"]
    assert "t: 1 days, 3 rows" in summary.outcomes[1].detail


def test_a_failed_step_does_not_stop_independent_steps() -> None:
    calls, functions = recorder({"odre"})
    summary = run_steps(AS_OF, list(STEPS), functions)
    assert calls == list(STEPS)
    assert summary.failed == ["odre"]
    assert "odre broke" in summary.outcomes[0].detail


def test_dependent_steps_are_skipped_when_their_input_failed() -> None:
    calls, functions = recorder({"load"})
    summary = run_steps(AS_OF, list(STEPS), functions)
    assert calls == ["odre", "weather", "audit", "load"]
    assert {o.step: o.status for o in summary.outcomes} == {
        "odre": "ok",
        "weather": "ok",
        "audit": "ok",
        "load": "failed",
        "transform": "skipped",
        "forecast": "skipped",
    }
    assert "| transform | skipped | load failed |" in summary.markdown()


def test_a_load_that_changed_nothing_skips_the_build_and_the_forecast_unless_forced() -> None:
    calls, functions = recorder(set())
    functions["load"] = lambda: (
        calls.append("load")
        or [
            LoadResult("odre__x", [], 0),
            LoadResult("pipeline__runs", [AS_OF], 1),  # the last run's record: no data
            LoadResult("pipeline__model_promotions", [AS_OF], 1),  # nor its training's decision
        ]
    )
    summary = run_steps(AS_OF, list(STEPS), functions)
    assert calls == ["odre", "weather", "audit", "load"]
    by_step = {o.step: o for o in summary.outcomes}
    assert by_step["load"].status == "warning"
    assert by_step["load"].detail.splitlines() == [
        "nothing changed: no lake partition is new or different since the last load"
    ]
    for step in ("transform", "forecast"):
        assert (by_step[step].status, by_step[step].detail) == (
            "skipped",
            "nothing changed (--force runs it)",
        )

    calls.clear()
    forced = run_steps(AS_OF, list(STEPS), functions, force=True)
    assert calls == list(STEPS)
    assert [o.status for o in forced.outcomes] == ["ok", "ok", "ok", "warning", "ok", "ok"]


def test_the_command_line_passes_force_to_the_pipeline(monkeypatch) -> None:
    from flows import __main__, pipeline

    asked: list[dict] = []
    monkeypatch.setattr("flows.ephemeral.start_tied_server", lambda: None)
    monkeypatch.setattr(pipeline, "run_cli", lambda **kwargs: asked.append(kwargs) or 0)
    assert __main__.main(["run", "--as-of", "2025-03-30", "--force"]) == 0
    assert __main__.main(["run", "--as-of", "2025-03-30"]) == 0
    assert [a["force"] for a in asked] == [True, False]


def test_the_command_line_passes_full_refresh_to_the_dbt_build(monkeypatch) -> None:
    from flows import __main__, pipeline

    asked: list[dict] = []
    monkeypatch.setattr("flows.ephemeral.start_tied_server", lambda: None)
    monkeypatch.setattr(pipeline, "run_cli", lambda **kw: asked.append(kw) or 0)
    assert __main__.main(["run", "--as-of", "2025-03-30", "--full-refresh"]) == 0
    assert __main__.main(["run", "--as-of", "2025-03-30"]) == 0
    assert [a["full_refresh"] for a in asked] == [True, False]
    # The transform step of a full-refresh run asks dbt for it.
    import flows.transform

    builds: list[bool] = []
    monkeypatch.setattr(
        flows.transform, "transform", lambda **kw: builds.append(kw["full_refresh"])
    )
    pipeline._step_functions(AS_OF, True)["transform"]()
    pipeline._step_functions(AS_OF)["transform"]()
    assert builds == [True, False]


def test_a_load_that_emptied_days_makes_the_build_a_full_refresh(monkeypatch) -> None:
    # No staging row is left to tell an incremental model that a month lost days.
    import flows.transform
    from flows import pipeline

    builds: list[bool] = []
    monkeypatch.setattr(
        flows.transform, "transform", lambda **kw: builds.append(kw["full_refresh"])
    )
    for removed in ([AS_OF], []):
        result = LoadResult("odre__x", [AS_OF], 0, removed=removed)
        monkeypatch.setattr(pipeline, "load_staging", lambda result=result: [result])
        functions = pipeline._step_functions(AS_OF)
        functions["load"]()
        functions["transform"]()
    assert builds == [True, False]


def test_odre_backfill_rows_tell_downloaded_archived_missing() -> None:
    before = {"gas": {"2025-01-01": "v1", "2025-01-02": "v1"}}
    after = {"gas": {"2025-01-01": "v1", "2025-01-02": "v2"}}
    rows = odre_backfill_rows(before, after, [date(2025, 1, d) for d in (1, 2, 3)])
    assert [r.status for r in rows] == ["archived", "downloaded", "missing"]
    assert rows[0] == BackfillRow(date(2025, 1, 1), "gas", "archived", "already in the lake")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--as-of", "2025-13-01"], "not a YYYY-MM-DD date"),
        (["run", "--steps", "odre,bogus"], "unknown steps"),
        (["backfill", "--start", "2025-01-01"], "--end"),
    ],
)
def test_cli_refuses_bad_arguments(argv, message, capsys) -> None:
    from flows.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_parses_steps_and_dates() -> None:
    from flows.__main__ import build_parser

    args = build_parser().parse_args(["run", "--as-of", "2025-03-30", "--steps", "odre, load"])
    assert args.as_of == AS_OF and args.steps == ["odre", "load"]


def api_state(state):
    """The flow run's state as the Prefect server holds it (what the UI and automations see)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id).state


def test_load_staging_and_daily_pipeline_under_prefect(
    prefect_server, settings, monkeypatch
) -> None:
    import pandas as pd

    from flows import pipeline
    from flows.backends import open_lake, open_warehouse
    from flows.warehouse import TableSpec

    spec = TableSpec("obs", {"day": "date", "v": "float64"}, "day")
    source = pipeline.LakeSource(prefix="curated/obs/", partition_key="date", spec=spec)
    monkeypatch.setattr(pipeline, "lake_sources", lambda: [source])
    lake = open_lake(settings)
    lake.write_parquet(
        "curated/obs/date=2025-03-30/part.parquet",
        pd.DataFrame({"day": ["2025-03-30"], "v": [1.5]}),
    )
    loaded = pipeline.load_staging(return_state=True)
    assert [(r.table, r.rows) for r in loaded.result()] == [("obs", 1)]
    assert api_state(loaded).name == "Completed"
    # Nothing changed since: the load is no longer `ok`, but what follows it may still run.
    again = api_state(pipeline.load_staging(return_state=True))
    assert (again.type.value, again.name) == ("COMPLETED", "Warning")
    assert again.message.startswith("nothing changed: no lake partition")

    def broken() -> None:
        raise RuntimeError("source down")

    steps = {"odre": broken, "load": pipeline.load_staging}
    monkeypatch.setattr(pipeline, "_step_functions", lambda as_of, *_: steps)
    with pytest.raises(pipeline.PipelineFailed) as exc:
        pipeline.daily_pipeline(as_of=AS_OF, steps=["odre", "load"])
    outcomes = {o.step: o.status for o in exc.value.summary.outcomes}
    assert outcomes == {"odre": "failed", "load": "warning"}
    failed = api_state(pipeline.daily_pipeline(as_of=AS_OF, steps=["odre"], return_state=True))
    assert failed.is_failed() and "steps failed: odre" in failed.message
    wh = open_warehouse(settings)
    assert wh.query("select v from staging.obs")["v"].tolist() == [1.5]


def test_a_step_with_partial_data_is_a_warning_in_the_summary_and_the_prefect_state(
    prefect_server, settings, monkeypatch, capsys
) -> None:
    from types import SimpleNamespace

    from flows import pipeline

    gaps = SimpleNamespace(gaps=["arome/0025/SP1/00 07H12H: failed"], describe=lambda: "1 run")
    steps = {"odre": lambda: "fetched", "weather": lambda: gaps}
    monkeypatch.setattr(pipeline, "_step_functions", lambda as_of, *_: steps)
    state = api_state(pipeline.daily_pipeline(AS_OF, ["odre", "weather"], return_state=True))
    assert (state.type.value, state.name) == ("COMPLETED", "Warning")
    assert state.message == "weather: weather gap: arome/0025/SP1/00 07H12H: failed"

    assert pipeline.run_cli(AS_OF, ["odre", "weather"]) == 0  # partial data is no failure
    out = capsys.readouterr().out
    assert "[     ok] odre" in out and "[warning] weather" in out
    assert "WARNING steps (partial data): weather" in out


def test_load_markdown_lists_tables_and_days() -> None:
    from flows.pipeline import load_markdown

    text = load_markdown([LoadResult("odre__x", [AS_OF], 96), LoadResult("odre__y", [], 0)])
    assert "| odre__x | 1 | 96 | 2025-03-30 |" in text
    assert "| odre__y | 0 | 0 |  |" in text


def test_a_stale_source_is_a_warning_in_the_run_summary_not_a_failure() -> None:
    from datetime import datetime

    from flows.transform import SourceFreshness, TransformSummary

    built = TransformSummary(
        target="local",
        freshness=[
            SourceFreshness("odre.eco2mix_national_tr", "pass", datetime(2025, 3, 30, 9), 3600.0),
            SourceFreshness("odre.gas", "error", datetime(2025, 3, 20), 10.5 * 86400),
        ],
    )
    calls, functions = recorder(set())
    functions["transform"] = lambda: built
    summary = run_steps(AS_OF, ["load", "transform", "forecast"], functions)
    assert [o.status for o in summary.outcomes] == ["ok", "warning", "ok"]  # forecast still runs
    detail = summary.outcomes[1].detail
    assert "source freshness: 1 of 2 sources pass" in detail
    assert "WARNING odre.gas: error, newest load 10.5 days old (2025-03-20 00:00 UTC)" in detail
    assert detail.count("odre.gas: error") == 1  # said once, not again as a warning
    assert "WARNING odre.gas" in summary.markdown()


def test_month_chunks_cut_at_calendar_months() -> None:
    from flows.pipeline import month_chunks

    assert month_chunks(date(2024, 1, 30), date(2024, 3, 2)) == [
        (date(2024, 1, 30), date(2024, 1, 31)),
        (date(2024, 2, 1), date(2024, 2, 29)),
        (date(2024, 3, 1), date(2024, 3, 2)),
    ]
    assert month_chunks(date(2024, 11, 5), date(2025, 5, 1), months=3) == [
        (date(2024, 11, 5), date(2025, 1, 31)),
        (date(2025, 2, 1), date(2025, 4, 30)),
        (date(2025, 5, 1), date(2025, 5, 1)),
    ]
    assert month_chunks(date(2024, 1, 1), date(2024, 1, 1)) == [(date(2024, 1, 1),) * 2]


@pytest.mark.slow
def test_backfill_runs_month_chunks_and_resumes_after_a_failure(
    prefect_server, settings, monkeypatch, capsys
) -> None:
    import pandas as pd
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    import flows.transform
    from flows import pipeline
    from flows.backends import open_lake, open_warehouse
    from flows.errors import BackfillIncomplete
    from flows.odre.schemas import GAS_STORAGE

    # The lake already holds the gas days (an offline backfill rebuilds from it).
    lake = open_lake(settings)
    days = [date(2024, 1, 30) + pd.Timedelta(days=i) for i in range(33)]
    for day in days:
        row = {col: None for col in GAS_STORAGE.table.columns}
        row.update(day=day, date=day, ingested_at=pd.Timestamp("2024-04-01", tz="UTC"))
        frame = GAS_STORAGE.table.conform(pd.DataFrame([row]))
        lake.write_parquet(f"{GAS_STORAGE.lake_prefix()}date={day}/part.parquet", frame)
    # dbt is tested on its own; here it only has to be called once the chunks are done.
    transforms: list[int] = []
    monkeypatch.setattr(flows.transform, "transform", lambda: transforms.append(1))
    ran: list[tuple[date, date]] = []
    real_chunk, real_load = pipeline.backfill_chunk, pipeline.load_staging

    def chunk(first, last, offline):
        ran.append((first, last))
        return real_chunk(first, last, offline=offline)

    def load_dies_in_february():
        if len(ran) == 2:
            raise RuntimeError("worker killed during the February load")
        return real_load()

    monkeypatch.setattr(pipeline, "backfill_chunk", chunk)
    monkeypatch.setattr(pipeline, "load_staging", load_dies_in_february)
    start, end = date(2024, 1, 30), date(2024, 3, 2)
    with pytest.raises(RuntimeError, match="February"):
        pipeline.backfill(start=start, end=end, offline=True)
    january, february, march = pipeline.month_chunks(start, end)
    assert ran == [january, february] and transforms == []
    assert lake.list(pipeline.BACKFILL_STATE_PREFIX) == [pipeline.chunk_marker(*january)]

    monkeypatch.setattr(pipeline, "load_staging", real_load)
    ran.clear()
    state = pipeline.backfill(start=start, end=end, offline=True, return_state=True)
    assert ran == [february, march] and transforms == [1]  # January was not redone
    # The other datasets' days are in neither the lake nor (offline) the source: the run is
    # Failed as the server holds it, and the error carries the day x product rows.
    assert api_state(state).is_failed() and "rows missing" in api_state(state).message
    rows = state.result(raise_on_failure=False).rows
    gas = [r for r in rows if r.product == GAS_STORAGE.id]
    assert [r.day for r in gas] == days and {r.status for r in gas} == {"archived"}
    staged = open_warehouse(settings).query(
        f"select distinct day from {settings.staging_dataset}.{GAS_STORAGE.table.name}"
    )
    assert len(staged) == len(days)

    # Completed: its markers are gone, so a later backfill of the same days redoes them.
    assert lake.list(pipeline.BACKFILL_STATE_PREFIX) == []
    ran.clear()
    with pytest.raises(BackfillIncomplete) as again:
        pipeline.backfill(start=start, end=end, offline=True)
    assert again.value.rows == rows and ran == [january, february, march]

    # `force` redoes chunks an interrupted run had completed.
    monkeypatch.setattr(pipeline, "load_staging", load_dies_in_february)
    ran.clear()
    with pytest.raises(RuntimeError, match="February"):
        pipeline.backfill(start=start, end=end, offline=True)
    monkeypatch.setattr(pipeline, "load_staging", real_load)
    ran.clear()
    assert pipeline.backfill_cli(start, end, offline=True, force=True) == 1
    assert ran == [january, february, march]
    printed = capsys.readouterr().out
    assert f"{len(rows)} day x product rows, {len(again.value.missing)} missing" in printed

    with get_client(sync_client=True) as client:
        progress = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["backfill-progress"])),
            sort="CREATED_DESC",
            limit=1,
        )
    assert progress and float(progress[0].data) == 100.0


def test_empty_production_tables_are_not_listed_as_production_tables(
    settings, monkeypatch, capsys
) -> None:
    from pathlib import Path

    from flows.backends import open_warehouse
    from flows.pipeline import print_production_tables
    from flows.settings import Settings

    monkeypatch.setenv("AGGREGAT_DBT_PROJECT_DIR", str(Path(__file__).parent.parent / "dbt"))
    warehouse = open_warehouse(settings)
    warehouse.query("create schema production")
    warehouse.query("create table production.daily_merged as select 1 as x union all select 2")
    warehouse.query("create table production.gas_storage_daily (x integer)")
    warehouse.close()
    print_production_tables(Settings())
    out = capsys.readouterr().out
    assert "  warehouse.production.daily_merged  (2 rows)" in out
    listed = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(listed) == 1  # the empty and the missing marts are not production tables
    empty = out.split("Empty or not built yet: ")[1]
    assert "gas_storage_daily" in empty and "consumption_forecast" in empty


@pytest.mark.slow
def test_a_run_that_reaches_no_source_stops_there_and_writes_nothing(
    prefect_server, settings, monkeypatch, tmp_path
) -> None:
    from datetime import timedelta

    from flows import pipeline
    from flows.settings import get_settings

    # A refused port for ODRÉ, a name that cannot resolve for Météo-France.
    monkeypatch.setenv("AGGREGAT_ODRE_BASE_URL", "http://127.0.0.1:9/api/explore/v2.1")
    monkeypatch.setenv("AGGREGAT_METEOFRANCE_BASE_URL", "http://meteofrance.invalid/pnt")
    get_settings.cache_clear()
    as_of = settings.today() - timedelta(days=2)  # a run the source would have published
    state = pipeline.daily_pipeline(as_of=as_of, return_state=True)
    held = api_state(state)
    assert held.is_failed() and "steps failed: odre, weather" in held.message
    summary = state.result(raise_on_failure=False).summary
    by_step = {o.step: (o.status, o.detail.splitlines()[-1]) for o in summary.outcomes}
    assert by_step["odre"][0] == by_step["weather"][0] == "failed"
    assert "127.0.0.1:9 is unreachable (connection refused)" in by_step["odre"][1]
    assert "AGGREGAT_ODRE_BASE_URL" in by_step["odre"][1]
    assert "meteofrance.invalid is unreachable (no such host)" in by_step["weather"][1]
    assert by_step["audit"] == by_step["load"] == ("skipped", "no source reached: nothing new")
    assert by_step["transform"] == ("skipped", "load skipped")
    assert by_step["forecast"] == ("skipped", "transform skipped")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no lake, no warehouse
