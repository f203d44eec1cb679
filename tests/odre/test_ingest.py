"""Incremental ingestion into the lake through the `ingest-odre` flow, the loop production runs:
windows, idempotence, resumption, revisions, faults."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from flows.backends import open_warehouse
from flows.errors import OdreError
from flows.lake import LocalLake
from flows.odre import flow as odre_flow
from flows.odre.client import Window
from flows.odre.flow import ingest_odre
from flows.odre.ingest import DatasetSummary, lake_sources, plan_windows, watermark
from flows.odre.schemas import (
    DATASETS,
    ECO2MIX_CONS_DEF,
    ECO2MIX_TR,
    GAS_STORAGE,
    TEMPERATURE,
    Dataset,
)
from flows.staging import load_changed
from tests.fakes.odre_server import FakeOdre
from tests.odre.conftest import AS_OF


def raw(lake: LocalLake) -> dict[str, str]:
    """Every raw ODRÉ partition and its digest (the run records beside them change each run)."""
    return {key: lake.md5(key) for key in lake.list("raw/odre/")}


def content(lake: LocalLake, dataset_id: str) -> pd.DataFrame:
    """A dataset's rows across all partitions, ingestion time aside."""
    keys = lake.list(DATASETS[dataset_id].lake_prefix())
    frames = [lake.read_parquet(k).to_pandas() for k in keys]
    return pd.concat(frames, ignore_index=True).drop(columns="ingested_at")


def runs_flow(test):
    """A test that runs the flow: it needs the session's Prefect server, and is slow-marked."""
    return pytest.mark.slow(pytest.mark.usefixtures("prefect_server")(test))


def ingest_one(dataset: Dataset, **kwargs) -> DatasetSummary:
    """One dataset through the flow, as a deployment with `datasets=[...]` runs it."""
    return ingest_odre(as_of=AS_OF, datasets=[dataset.id], **kwargs).datasets[0]


def test_first_run_plans_history_in_chunks(lake, odre_settings) -> None:
    windows = plan_windows(lake, ECO2MIX_CONS_DEF, odre_settings, AS_OF)
    assert windows == [
        Window(date(2025, 3, 1), date(2025, 3, 15)),
        Window(date(2025, 3, 15), date(2025, 3, 29)),
        Window(date(2025, 3, 29), date(2025, 4, 9)),
    ]
    # the real-time dataset only holds recent data: its own, shorter history
    assert plan_windows(lake, ECO2MIX_TR, odre_settings, AS_OF) == [
        Window(AS_OF - timedelta(days=10), AS_OF + timedelta(days=1))
    ]


def test_incremental_run_rereads_the_lookback_or_back_to_the_watermark(lake, odre_settings) -> None:
    lake.write_bytes(ECO2MIX_TR.partition_key(AS_OF - timedelta(days=1)), b"x")
    # 48 hours, rounded out to whole UTC days, ending at as_of + 1 day
    assert plan_windows(lake, ECO2MIX_TR, odre_settings, AS_OF) == [
        Window(AS_OF - timedelta(days=1), AS_OF + timedelta(days=1))
    ]
    # gas: nothing inside its 7-day look-back, the lake stops on 2025-03-20
    lake.write_bytes(GAS_STORAGE.partition_key(date(2025, 3, 20)), b"x")
    assert watermark(lake, GAS_STORAGE) == date(2025, 3, 20)
    assert plan_windows(lake, GAS_STORAGE, odre_settings, AS_OF) == [
        Window(date(2025, 3, 20), date(2025, 4, 3)),
        Window(date(2025, 4, 3), date(2025, 4, 9)),
    ]
    # an explicit re-ingest window is inclusive of its end
    assert plan_windows(
        lake, TEMPERATURE, odre_settings, AS_OF, start=date(2025, 3, 1), end=date(2025, 3, 2)
    ) == [Window(date(2025, 3, 1), date(2025, 3, 3))]


@runs_flow
def test_repeated_run_leaves_the_lake_identical(lake, odre_settings, fake_odre) -> None:
    first = ingest_odre(as_of=AS_OF)
    assert first.errors == {}
    before = raw(lake)
    assert len(before) == 10 + 1 + 3 * 39  # tr history days + as_of, then 3 daily datasets
    served = fake_odre.rows_served
    second = ingest_odre(as_of=AS_OF)
    assert raw(lake) == before
    assert all(d.days_written == [] for d in second.datasets)
    # only the look-back windows were asked for: 2 days tr + 5 cons-def + 7 gas + 10 temperature
    assert fake_odre.rows_served - served == 2 * 96 + 5 * 96 + 7 * 6 + 10 * 13
    for dataset in DATASETS.values():
        rows = content(lake, dataset.id)
        assert not rows.duplicated(list(dataset.key)).any()


class Killed(BaseException):
    """The process dying: not an Exception, so nothing on the way catches it."""


class KilledLake(LocalLake):
    """A lake whose process dies after a number of raw partition writes."""

    def __init__(self, root, writes_left: int) -> None:
        super().__init__(root)
        self.writes_left = writes_left

    def write_bytes(self, key: str, data: bytes) -> None:
        if key.startswith("raw/"):
            if self.writes_left == 0:
                raise Killed("killed")
            self.writes_left -= 1
        super().write_bytes(key, data)


@runs_flow
def test_run_killed_midway_resumes_to_the_same_lake(tmp_path, odre_settings, monkeypatch) -> None:
    whole = LocalLake(tmp_path / "whole")
    killed = KilledLake(tmp_path / "killed", writes_left=20)  # inside the second chunk
    monkeypatch.setattr(odre_flow, "open_lake", lambda settings: whole)
    ingest_one(ECO2MIX_CONS_DEF)
    monkeypatch.setattr(odre_flow, "open_lake", lambda settings: killed)
    with pytest.raises(Killed):
        ingest_one(ECO2MIX_CONS_DEF)
    assert watermark(killed, ECO2MIX_CONS_DEF) == date(2025, 3, 20)
    killed.writes_left = -1
    resumed = ingest_one(ECO2MIX_CONS_DEF)
    assert resumed.windows[0].window.start == date(2025, 3, 20)  # from the watermark
    assert killed.list("raw/") == whole.list("raw/")
    pd.testing.assert_frame_equal(
        content(killed, ECO2MIX_CONS_DEF.id), content(whole, ECO2MIX_CONS_DEF.id)
    )


@runs_flow
def test_revision_inside_lookback_updates_without_duplicates(
    lake, odre_settings, fake_odre: FakeOdre
) -> None:
    ingest_one(ECO2MIX_TR)
    before = content(lake, ECO2MIX_TR.id)
    fake_odre.add_fault(
        "revise", dataset=ECO2MIX_TR.id, column="consommation", factor=2, times=None
    )
    summary = ingest_one(ECO2MIX_TR)
    assert summary.days_written == [AS_OF - timedelta(days=1), AS_OF]
    after = content(lake, ECO2MIX_TR.id)
    assert len(after) == len(before) and after["date_heure"].is_unique
    recent = after["day"] >= AS_OF - timedelta(days=1)
    assert (after.loc[recent, "consommation"] == 2 * before.loc[recent, "consommation"]).all()
    pd.testing.assert_frame_equal(after[~recent], before[~recent])


@runs_flow
def test_empty_answer_keeps_partitions_and_is_reported(
    lake, odre_settings, fake_odre: FakeOdre
) -> None:
    ingest_one(GAS_STORAGE)
    before = raw(lake)
    fake_odre.add_fault("empty", dataset=GAS_STORAGE.id)
    summary = ingest_one(GAS_STORAGE)
    assert raw(lake) == before
    assert summary.empty_windows == [Window(AS_OF - timedelta(days=6), AS_OF + timedelta(days=1))]


@runs_flow
@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"kind": "truncated", "times": None}, "2 attempts; last: truncated Parquet body"),
        ({"kind": "not_parquet"}, "body is not Parquet"),
        (
            {"kind": "missing_column", "column": "tmoy"},
            "required fields missing from the export: tmoy",
        ),
        ({"kind": "server_error", "times": None}, "gave up after 3 attempts; last: HTTP 500"),
    ],
)
def test_bad_answers_fail_clearly_with_nothing_half_written(
    lake, odre_settings, fake_odre: FakeOdre, fault, message
) -> None:
    ingest_one(TEMPERATURE)
    before = raw(lake)
    fake_odre.add_fault(dataset=TEMPERATURE.id, **fault)
    with pytest.raises(OdreError) as err:
        ingest_one(TEMPERATURE)
    assert f"temperature-quotidienne-regionale window [{AS_OF - timedelta(days=9)}" in str(
        err.value
    )
    assert message in str(err.value)
    assert raw(lake) == before


@runs_flow
def test_drift_nd_dst_and_429_are_handled_end_to_end(
    lake, odre_settings, fake_odre: FakeOdre
) -> None:
    fake_odre.add_fault("rate_limit", dataset=ECO2MIX_CONS_DEF.id, reset_seconds=0.01)
    fake_odre.add_fault("extra_column", times=None)
    fake_odre.add_fault("nd", dataset=ECO2MIX_CONS_DEF.id, column="eolien_offshore", times=None)
    fake_odre.add_fault("dst_duplicates", times=None)
    summary = ingest_one(ECO2MIX_CONS_DEF, start=date(2025, 3, 29), end=date(2025, 3, 31))
    assert [r.status for r in fake_odre.requests] == [429, 200]
    assert summary.rows_per_day == {date(2025, 3, d): 96 for d in (29, 30, 31)}
    rows = content(lake, ECO2MIX_CONS_DEF.id)
    assert rows["date_heure"].is_unique and "colonne_nouvelle" not in rows.columns
    assert rows["eolien_offshore"].isna().any()
    assert any("colonne_nouvelle" in w for w in summary.windows[0].warnings)


@runs_flow
def test_one_failing_dataset_does_not_stop_the_others(
    lake, odre_settings, fake_odre: FakeOdre
) -> None:
    fake_odre.add_fault("server_error", dataset=GAS_STORAGE.id, times=None)
    with pytest.raises(OdreError, match=GAS_STORAGE.id):
        ingest_odre(as_of=AS_OF)
    assert watermark(lake, TEMPERATURE) == AS_OF
    assert watermark(lake, GAS_STORAGE) is None


@runs_flow
def test_a_lake_write_error_on_one_dataset_is_named_and_the_others_still_run(
    lake, odre_settings
) -> None:
    # A file where the first dataset's landing folder must go: writing there fails as a full
    # or read-only disk would, with an OSError and not an HTTP error.
    blocker = lake.local_path(f"landing/odre/{ECO2MIX_TR.id}")
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"")
    with pytest.raises(OdreError) as failed:
        ingest_odre(as_of=AS_OF)
    # (its first run reaches back AGGREGAT_ECO2MIX_TR_HISTORY_DAYS=10 days)
    assert str(failed.value).startswith(
        f"ODRÉ {ECO2MIX_TR.id} window [{AS_OF - timedelta(days=10)}, {AS_OF + timedelta(days=1)}):"
        " FileExistsError: [Errno 17] File exists:"
    )
    assert watermark(lake, ECO2MIX_TR) is None
    for dataset in (GAS_STORAGE, TEMPERATURE, ECO2MIX_CONS_DEF):
        assert watermark(lake, dataset) == AS_OF


@runs_flow
def test_lake_partitions_load_into_staging(lake, odre_settings) -> None:
    ingest_odre(as_of=AS_OF, datasets=[ECO2MIX_TR.id, TEMPERATURE.id])
    warehouse = open_warehouse(odre_settings)
    try:
        sources = {s.spec.name: s for s in lake_sources()}
        assert len(sources) == 4
        for dataset in (ECO2MIX_TR, TEMPERATURE):
            result = load_changed(
                lake, warehouse, odre_settings.staging_dataset, sources[dataset.table.name]
            )
            assert result.rows == len(content(lake, dataset.id))
        counts = warehouse.query(
            "select count(*) as n, count(distinct date_heure) as instants "
            "from staging.odre__eco2mix_national_tr"
        )
        assert counts["n"][0] == counts["instants"][0] == 11 * 96
    finally:
        warehouse.close()


@runs_flow
def test_a_damaged_partition_is_named_not_retried_and_the_later_sources_load(
    lake, odre_settings
) -> None:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows import pipeline

    ingest_odre(as_of=AS_OF)
    day = AS_OF - timedelta(days=2)
    key = ECO2MIX_CONS_DEF.partition_key(day)
    path = lake.local_path(key)
    path.write_bytes(path.read_bytes()[:1000])  # truncated, as a full disk leaves it
    state = pipeline.load_staging(return_state=True)
    assert state.is_failed()
    message = str(state.result(raise_on_failure=False))
    assert f"lake object {key} (staging table {ECO2MIX_CONS_DEF.table.name}, day {day})" in message
    assert message.startswith("staging load incomplete: 1 not loaded (the rest was):\n")
    assert "Could not open Parquet input source '<Buffer>'" in message
    assert message.endswith(
        f"not a parquet file. The day was left out of this load; write it again"
        f" (python -m flows backfill --start {day} --end {day})"
    )
    warehouse = open_warehouse(odre_settings)
    try:
        # The sources after it in load order loaded, and so did the damaged source's other days.
        for dataset in (GAS_STORAGE, TEMPERATURE, ECO2MIX_CONS_DEF):
            days = warehouse.loaded_fingerprints(odre_settings.staging_dataset, dataset.table.name)
            wanted = {
                date.fromisoformat(d) for d in lake.list_partitions(dataset.lake_prefix(), "date")
            }
            assert set(days) == wanted - ({day} if dataset is ECO2MIX_CONS_DEF else set())
    finally:
        warehouse.close()

    async def attempts() -> list[int]:
        runs = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        async with get_client() as client:
            return [t.run_count for t in await client.read_task_runs(flow_run_filter=runs)]

    assert set(asyncio.run(attempts())) == {1}  # a corrupt object is not tried again


def test_quarantined_days_outside_the_lookback_are_re_fetched() -> None:
    from flows.odre.ingest import quarantine_windows

    planned = [Window(AS_OF - timedelta(days=1), AS_OF + timedelta(days=1))]
    # Local days span two UTC days; consecutive ones make one window; planned days are not
    # fetched twice; datasets no quality rule checks are left alone.
    quarantined = [date(2025, 3, 10), date(2025, 3, 11), date(2025, 3, 20), AS_OF]
    assert quarantine_windows(ECO2MIX_CONS_DEF, quarantined, planned) == [
        Window(date(2025, 3, 9), date(2025, 3, 12)),
        Window(date(2025, 3, 19), date(2025, 3, 21)),
    ]
    assert quarantine_windows(ECO2MIX_TR, [AS_OF], planned) == []
    assert quarantine_windows(GAS_STORAGE, quarantined, planned) == []
