"""The lake audits itself: the daily run, the way `make run` runs it, against the fake ODRÉ
server, on a local lake and on fake-gcs-server; staging follows the lake."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pandas as pd
import pytest

from flows.audit import runs_of
from flows.backends import open_lake, open_warehouse
from flows.odre.schemas import ECO2MIX_CONS_DEF, GAS_STORAGE
from flows.settings import get_settings
from tests.fakes.odre_server import FakeOdre, synthetic_data

AS_OF = date(2025, 4, 8)
STEPS = ["odre", "audit", "load"]
# Outside the 5-day consolidated and 7-day gas look-backs: no daily ingestion re-reads them.
DELETED = date(2025, 3, 10)
TRUNCATED = date(2025, 3, 12)


@pytest.fixture(params=["local", "gcs"])
def pipeline_env(request, settings, monkeypatch):
    """A fake ODRÉ with Feb..Apr 2025, and settings on a local or a fake-GCS lake."""
    odre = FakeOdre(synthetic_data(date(2025, 2, 1), date(2025, 4, 10))).start()
    env = {
        "AGGREGAT_ODRE_BASE_URL": odre.url,
        "AGGREGAT_HISTORY_START": "2025-02-01",
        "AGGREGAT_ODRE_BACKOFF_SECONDS": "0",
        "AGGREGAT_ODRE_MAX_ATTEMPTS": "2",
        "AGGREGAT_ECO2MIX_TR_HISTORY_DAYS": "5",
        "AGGREGAT_GAS_LOOKBACK_DAYS": "7",
        "AGGREGAT_TEMPERATURE_LOOKBACK_DAYS": "7",
        "AGGREGAT_CONSOLIDATED_LOOKBACK_DAYS": "5",
        "AGGREGAT_PROGRESS": "false",
    }
    if request.param == "gcs":
        from flows.gcp import storage_client

        fake_gcs = request.getfixturevalue("fake_gcs")
        bucket = f"lake-{uuid.uuid4().hex[:10]}"
        env |= {"AGGREGAT_GCS_API_ENDPOINT": fake_gcs, "AGGREGAT_LAKE_URL": f"gs://{bucket}"}
        gcs = settings.model_copy(update={"gcs_api_endpoint": fake_gcs})
        storage_client(gcs).create_bucket(bucket)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield odre
    odre.stop()
    get_settings.cache_clear()


def run(capsys) -> tuple[int, str]:
    from flows.pipeline import run_cli

    code = run_cli(as_of=AS_OF, steps=STEPS)
    return code, capsys.readouterr().out


def staged_days(table: str) -> dict[date, int]:
    warehouse = open_warehouse(get_settings())
    try:
        frame = warehouse.query(f"select day, count(*) as n from staging.{table} group by day")
    finally:
        warehouse.close()
    return {pd.Timestamp(d).date(): int(n) for d, n in frame.itertuples(index=False)}


@pytest.mark.slow
def test_a_day_deleted_outside_the_look_back_is_named_and_fetched_again(
    prefect_server, pipeline_env, capsys
) -> None:
    odre = pipeline_env
    assert run(capsys)[0] == 0
    lake = open_lake(get_settings())
    key = ECO2MIX_CONS_DEF.partition_key(DELETED)
    lake.delete(key)
    odre.requests.clear()

    code, out = run(capsys)
    assert code == 0
    assert "[warning] audit" in out
    assert (
        "lake audit: eco2mix-national-cons-def: 1 days missing from the lake, re-fetched from"
        f" the source: {DELETED}"
    ) in out
    assert lake.exists(key)
    assert any(
        r.dataset == ECO2MIX_CONS_DEF.id and str(DELETED) in str(r.params) for r in odre.requests
    )
    assert staged_days(ECO2MIX_CONS_DEF.table.name)[DELETED] == 96
    # Healed: the next run's audit finds nothing.
    code, out = run(capsys)
    assert code == 0 and "[     ok] audit" in out


@pytest.mark.slow
def test_a_deleted_and_a_truncated_object_across_two_sources_are_both_healed(
    prefect_server, pipeline_env, capsys
) -> None:
    assert run(capsys)[0] == 0
    settings = get_settings()
    lake = open_lake(settings)
    gone, cut = ECO2MIX_CONS_DEF.partition_key(DELETED), GAS_STORAGE.partition_key(TRUNCATED)
    before = staged_days(GAS_STORAGE.table.name)[TRUNCATED]
    lake.delete(gone)
    damaged = lake.read_bytes(cut)[:100]
    lake.write_bytes(cut, damaged)

    code, out = run(capsys)
    assert code == 0, out  # the load is not blocked: the damaged object was moved aside
    assert f"{DELETED}" in out and "eco2mix-national-cons-def" in out
    quarantined = [k for k in lake.list(f"{settings.lake_quarantine_prefix}/") if k.endswith(cut)]
    assert len(quarantined) == 1 and lake.read_bytes(quarantined[0]) == damaged  # kept
    assert f"stock-quotidien-stockages-gaz {TRUNCATED}: unreadable lake object {cut}" in out
    assert f"moved to {quarantined[0]}" in out
    lake.read_parquet(cut)  # fetched again, readable
    assert staged_days(GAS_STORAGE.table.name)[TRUNCATED] == before
    assert staged_days(ECO2MIX_CONS_DEF.table.name)[DELETED] == 96


@pytest.mark.slow
def test_a_month_the_source_no_longer_has_is_reported_lost_by_day(
    prefect_server, pipeline_env, capsys
) -> None:
    odre = pipeline_env
    assert run(capsys)[0] == 0
    lake = open_lake(get_settings())
    march = [date(2025, 3, 1) + timedelta(days=i) for i in range(31)]
    for day in march:
        lake.delete(ECO2MIX_CONS_DEF.partition_key(day))
    frame = odre.data[ECO2MIX_CONS_DEF.id]
    utc_day = frame["date_heure"].dt.tz_convert("UTC").dt.date
    odre.data[ECO2MIX_CONS_DEF.id] = frame[~utc_day.isin(march)]

    code, out = run(capsys)
    assert code == 0 and "[warning] audit" in out
    lost = ", ".join(d.isoformat() for d in march)
    line = (
        "lake audit: eco2mix-national-cons-def: 31 days lost (not in the lake, the source has"
        f" no rows for them): {lost}"
    )
    assert line in out
    assert "WARNING steps (partial data): audit" in out
    # Staging mirrors the lake: March left it, the other days are all there.
    staged = staged_days(ECO2MIX_CONS_DEF.table.name)
    assert "31 emptied (gone from the lake)" in out
    assert not set(march) & set(staged)
    assert staged[date(2025, 2, 28)] == staged[date(2025, 4, 1)] == 96
    # Lost is remembered: reported again, not asked for again.
    odre.requests.clear()
    code, out = run(capsys)
    assert code == 0 and line in out
    assert not any(str(march[0]) in str(r.params) for r in odre.requests)


@pytest.mark.slow
@pytest.mark.parametrize("pipeline_env", ["local"], indirect=True)
def test_re_fetches_are_bounded_per_run_and_a_failing_source_leaves_days_pending(
    prefect_server, pipeline_env, monkeypatch, capsys
) -> None:
    odre = pipeline_env
    assert run(capsys)[0] == 0
    lake = open_lake(get_settings())
    gone = [date(2025, 3, 1) + timedelta(days=i) for i in range(5)]
    for day in gone:
        lake.delete(ECO2MIX_CONS_DEF.partition_key(day))
    monkeypatch.setenv("AGGREGAT_LAKE_AUDIT_REFETCH_DAYS", "2")
    get_settings.cache_clear()

    code, out = run(capsys)
    assert code == 0
    assert f"2 days missing from the lake, re-fetched from the source: {gone[0]}, {gone[1]}" in out
    pending = ", ".join(d.isoformat() for d in gone[2:])
    assert (
        "lake audit: eco2mix-national-cons-def: 3 days missing, left for the next runs"
        f" (AGGREGAT_LAKE_AUDIT_REFETCH_DAYS per run): {pending}"
    ) in out
    # ODRÉ failing: nothing is declared lost, the days wait for a run that reaches it.
    odre.add_fault("server_error", dataset=ECO2MIX_CONS_DEF.id, times=None)
    code, out = run(capsys)
    assert "re-fetch failed" in out and "days lost (" not in out
    assert (
        f"3 days missing, left for the next runs (AGGREGAT_LAKE_AUDIT_REFETCH_DAYS per run): {pending}"
        in out
    )


def test_runs_of_groups_consecutive_days() -> None:
    days = [date(2025, 3, 3), date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 9)]
    assert runs_of(days) == [
        (date(2025, 3, 1), date(2025, 3, 3)),
        (date(2025, 3, 9), date(2025, 3, 9)),
    ]
