"""The whole daily pipeline on the embedded default, against the fake sources on 127.0.0.1."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from flows.runlog import RUNS
from flows.settings import get_settings

AS_OF = date(2025, 3, 31)
RUN = "2025-03-31T00Z"


@pytest.fixture
def sources(settings, monkeypatch):
    from tests.fakes.meteofrance_store import publish_run, running_store, store_env
    from tests.fakes.odre_server import FakeOdre, synthetic_data

    odre = FakeOdre(synthetic_data(date(2025, 3, 1), AS_OF)).start()
    with running_store() as store:
        products = get_settings().meteofrance_products
        publish_run(store, list(products), RUN)
        env = {
            "AGGREGAT_ODRE_BASE_URL": odre.url,
            "AGGREGAT_HISTORY_START": "2025-03-01",
            "AGGREGAT_ODRE_BACKOFF_SECONDS": "0",
            **store_env(store.base_url),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        yield odre, store
    odre.stop()
    get_settings.cache_clear()


def snapshot(
    drop: tuple[str, ...] = ("ingested_at", "loaded_at"), development: bool = False
) -> dict[str, pd.DataFrame]:
    """Every staging and production table (and the development models if asked), sorted,
    for comparing two warehouse states; the `drop` columns are left out."""
    from flows.backends import open_warehouse

    settings = get_settings()
    schemas = [settings.staging_dataset, settings.production_dataset]
    schemas += [settings.development_dataset] if development else []
    wh = open_warehouse(settings)
    tables = wh.query(
        "select table_schema, table_name from information_schema.tables"
        f" where table_schema in ({', '.join(repr(s) for s in schemas)})"
        " and table_name != '_lake_loads'"
    )
    out = {}
    for schema, name in tables.itertuples(index=False):
        frame = wh.query(f'select * from "{schema}"."{name}"')
        frame = frame.drop(columns=[c for c in frame.columns if c in drop])
        out[f"{schema}.{name}"] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


@pytest.mark.slow
def test_daily_run_builds_the_marts_and_a_rerun_changes_nothing(
    prefect_server, sources, capsys
) -> None:
    from flows.pipeline import run_cli

    steps = ["odre", "weather", "load", "transform"]
    assert run_cli(as_of=AS_OF, steps=steps) == 0
    printed = capsys.readouterr().out
    assert "production.daily_merged" in printed
    first = snapshot()
    assert {"production.daily_merged", "production.energy_mix_hourly"} <= set(first)
    daily = first["production.daily_merged"]
    assert len(daily) >= 28 and daily["date"].is_unique

    assert run_cli(as_of=AS_OF, steps=steps) == 0
    second = snapshot()
    assert set(second) == set(first)
    # The record of runs grows by one run of four steps, in staging and in its mart (the run
    # rebuilds it at its end); everything else is as the first run left it.
    for name in (f"staging.{RUNS.name}", "production.pipeline_runs"):
        assert len(first[name]) == 4 and len(second.pop(name)) == 8
    for name, frame in second.items():
        pd.testing.assert_frame_equal(first[name], frame, check_dtype=False, obj=name)


@pytest.mark.slow
def test_a_failed_source_fails_the_run_but_not_the_other_steps(
    prefect_server, sources, monkeypatch, capsys
) -> None:
    from flows.pipeline import run_cli

    monkeypatch.setenv("AGGREGAT_ODRE_BASE_URL", "http://127.0.0.1:9/api/explore/v2.1")
    monkeypatch.setenv("AGGREGAT_ODRE_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    assert run_cli(as_of=AS_OF, steps=["odre", "weather", "load"]) == 1
    out = capsys.readouterr().out
    # The store has only the day's run, not the look-back days: the weather is partial.
    assert "[ failed] odre" in out and "[warning] weather" in out and "[     ok] load" in out
    assert "WARNING steps (partial data): weather" in out and "FAILED steps: odre" in out


@pytest.mark.slow
def test_an_instant_removed_at_the_source_leaves_the_warehouse_equal_to_a_full_refresh(
    prefect_server, sources, monkeypatch
) -> None:
    from flows.pipeline import run_cli

    odre, _ = sources
    # Real-time data of the last days only: the consolidated dataset alone carries the 20th.
    monkeypatch.setenv("AGGREGAT_ECO2MIX_TR_HISTORY_DAYS", "3")
    get_settings.cache_clear()
    steps = ["odre", "load", "transform"]
    assert run_cli(as_of=AS_OF, steps=steps) == 0
    # ODRÉ withdraws one instant of a day inside the consolidated look-back.
    gone = pd.Timestamp("2025-03-20 12:00", tz="UTC")
    frame = odre.data["eco2mix-national-cons-def"]
    odre.data["eco2mix-national-cons-def"] = frame[frame["date_heure"] != gone]
    assert run_cli(as_of=AS_OF, steps=steps) == 0
    incremental = snapshot(drop=(), development=True)
    quarter_hours = incremental["development.int_electricity__quarter_hourly"]
    assert gone.tz_localize(None) not in set(quarter_hours["measured_at"])

    assert run_cli(as_of=AS_OF, steps=["transform"], full_refresh=True) == 0
    rebuilt = snapshot(drop=(), development=True)
    # Only the run records differ: the full refresh is one more run.
    runs = {f"staging.{RUNS.name}", f"development.stg_{RUNS.name}", "production.pipeline_runs"}
    assert set(rebuilt) == set(incremental) and len(incremental) > 10
    for name in sorted(set(rebuilt) - runs):
        pd.testing.assert_frame_equal(incremental[name], rebuilt[name], obj=name)


@pytest.mark.slow
def test_a_renamed_source_field_fails_the_run_and_publishes_nothing_wrong(
    prefect_server, sources, capsys
) -> None:
    """`nucleaire` renamed in the export once gave exit 0 and nuclear_gwh null on every day."""
    from flows.backends import open_warehouse
    from flows.pipeline import run_cli

    odre, _ = sources
    steps = ["odre", "load", "transform"]
    assert run_cli(as_of=AS_OF, steps=steps) == 0
    capsys.readouterr()

    def nuclear() -> pd.Series:
        wh = open_warehouse(get_settings(), read_only=True)
        try:
            # Partial days publish no energies (the last day here): the complete ones do.
            return wh.query(
                "select nuclear_gwh from production.daily_merged"
                " where is_production_complete order by date"
            )["nuclear_gwh"]
        finally:
            wh.close()

    published = nuclear()
    assert published.notna().all() and len(published) >= 28
    odre.add_fault("rename_column", column="nucleaire", new_name="nucleaire_mw", times=None)
    assert run_cli(as_of=AS_OF, steps=steps) == 1
    out = capsys.readouterr().out
    assert "[ failed] odre" in out and "FAILED steps: odre" in out
    missing = "required fields missing from the export: nucleaire (the source renamed"
    # The real-time dataset's 48-hour look-back; the consolidated one's window with rows.
    assert f"ODRÉ eco2mix-national-tr window [2025-03-30, 2025-04-01): {missing}" in out
    assert f"ODRÉ eco2mix-national-cons-def window [2025-03-01, 2025-04-01): {missing}" in out
    pd.testing.assert_series_equal(nuclear(), published)  # nothing wrong published

    # A field the contract lets the source drop: the run goes on, and says so.
    odre.faults.clear()
    odre.add_fault(
        "missing_column", dataset="eco2mix-national-tr", column="stockage_batterie", times=None
    )
    assert run_cli(as_of=AS_OF, steps=steps) == 0
    out = capsys.readouterr().out
    assert "[warning] odre" in out and "WARNING steps (partial data): odre" in out
    assert (
        "ODRÉ eco2mix-national-tr window [2025-03-30, 2025-04-01): optional field"
        " stockage_batterie absent from the export, staged as null" in out
    )


@pytest.mark.slow
def test_a_day_of_bad_values_is_quarantined_then_re_fetched_until_it_heals(
    prefect_server, sources, monkeypatch, capsys
) -> None:
    """x100 consumption on one day once failed a test naming no day, blocked the marts, and
    never healed: the day lay outside the look-back of every later run."""
    from flows.backends import open_warehouse
    from flows.pipeline import run_cli

    odre, _ = sources
    monkeypatch.setenv("AGGREGAT_CONSOLIDATED_LOOKBACK_DAYS", "3")
    get_settings.cache_clear()
    originals = {k: frame.copy() for k, frame in odre.data.items()}
    for dataset in ("eco2mix-national-tr", "eco2mix-national-cons-def"):
        frame = odre.data[dataset]
        local = frame["date_heure"].dt.tz_convert("Europe/Paris").dt.date
        frame.loc[local == date(2025, 3, 10), "consommation"] *= 100

    def consumption() -> pd.Series:
        wh = open_warehouse(get_settings(), read_only=True)
        try:
            daily = wh.query("select date, consumption_gwh from production.daily_merged")
        finally:
            wh.close()
        return daily.set_index(pd.to_datetime(daily["date"]).dt.date)["consumption_gwh"]

    steps = ["odre", "load", "transform"]
    assert run_cli(as_of=AS_OF, steps=steps) == 0  # the other days publish
    out = capsys.readouterr().out
    assert "[warning] transform" in out
    assert (
        "quarantined, kept out of the production marts until the source corrects it:"
        " 2025-03-10 consumption_mw (range: 48 instants," in out
    )
    published = consumption()
    assert np.isnan(published[date(2025, 3, 10)])
    assert published[[date(2025, 3, 9), date(2025, 3, 11)]].notna().all()

    # The source corrects the day, now far outside the consolidated look-back (3 days).
    odre.data.update(originals)
    assert run_cli(as_of=AS_OF, steps=steps) == 0
    out = capsys.readouterr().out
    assert "quarantined" not in out
    assert consumption()[date(2025, 3, 10)] == pytest.approx(
        published[[date(2025, 3, 9), date(2025, 3, 11)]].mean(), rel=0.2
    )
