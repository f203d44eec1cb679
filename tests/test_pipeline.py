"""The daily pipeline's step logic: order, independence, skipping, summaries."""

from __future__ import annotations

from datetime import date

import pytest

from flows.pipeline import STEPS, BackfillRow, odre_backfill_rows, run_steps
from flows.staging import LoadResult

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
    assert calls == ["odre", "weather", "load"]
    assert {o.step: o.status for o in summary.outcomes} == {
        "odre": "ok",
        "weather": "ok",
        "load": "failed",
        "transform": "skipped",
        "forecast": "skipped",
    }
    assert "| transform | skipped | load failed |" in summary.markdown()


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


def test_load_staging_and_daily_pipeline_under_prefect(
    prefect_server, settings, monkeypatch
) -> None:
    import pandas as pd

    from flows import pipeline
    from flows.lake import open_lake
    from flows.warehouse import TableSpec, open_warehouse

    spec = TableSpec("obs", {"day": "date", "v": "float64"}, "day")
    source = pipeline.LakeSource(prefix="curated/obs/", partition_key="date", spec=spec)
    monkeypatch.setattr(pipeline, "lake_sources", lambda: [source])
    lake = open_lake(settings)
    lake.write_parquet(
        "curated/obs/date=2025-03-30/part.parquet",
        pd.DataFrame({"day": ["2025-03-30"], "v": [1.5]}),
    )
    results = pipeline.load_staging()
    assert [(r.table, r.rows) for r in results] == [("obs", 1)]
    assert pipeline.load_staging()[0].rows == 0  # nothing changed since

    def broken() -> None:
        raise RuntimeError("source down")

    steps = {"odre": broken, "load": pipeline.load_staging}
    monkeypatch.setattr(pipeline, "_step_functions", lambda as_of: steps)
    with pytest.raises(pipeline.PipelineFailed) as exc:
        pipeline.daily_pipeline(as_of=AS_OF, steps=["odre", "load"])
    outcomes = {o.step: o.status for o in exc.value.summary.outcomes}
    assert outcomes == {"odre": "failed", "load": "ok"}
    wh = open_warehouse(settings)
    assert wh.query("select v from staging.obs")["v"].tolist() == [1.5]


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
    assert [o.status for o in summary.outcomes] == ["ok", "ok", "ok"]  # forecast still runs
    detail = summary.outcomes[1].detail
    assert "source freshness: 1 of 2 sources pass" in detail
    assert "WARNING odre.gas: error, newest load 10.5 days old (2025-03-20 00:00 UTC)" in detail
    assert "WARNING odre.gas" in summary.markdown()
