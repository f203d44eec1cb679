"""The dbt marts, built by the real dbt on a temporary DuckDB, against pandas totals.

Synthetic staging rows cover a spring-forward and a fall-back day, consolidated and definitive
rows overlapping real-time ones, the source's null duplicate rows, a lagging gas storage group
(carried forward) and one missing beyond the carry-forward limit, and a day with a region
missing. The marts are compared with totals computed here in pandas from the same input.
dbt runs once per scenario (module-scoped fixtures): it is slow to start.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.errors import TransformError
from flows.odre.schemas import (
    DATASETS,
    ECO2MIX_CONS_DEF,
    ECO2MIX_TR,
    GAS_STORAGE,
    TEMPERATURE,
    Dataset,
)
from flows.regions import REGIONS
from flows.settings import PROJECT_ROOT, Settings
from flows.transform import TransformSummary, run_dbt_build
from flows.warehouse import DuckDBWarehouse

PARIS = "Europe/Paris"
INGESTED = pd.Timestamp("2024-11-01 00:00:00")
SPRING_INGESTED = pd.Timestamp("2024-04-10 00:00:00")
REVISED_INGESTED = pd.Timestamp("2024-12-01 00:00:00")
# The ODRÉ marts and everything they are built from (other parts' models left out).
OUR_MARTS = "+daily_merged +energy_mix_hourly +gas_storage_daily +data_quality_quarantine"
# The eCO2mix measures the synthetic rows fill, source name -> mart column stem.
SOURCES = {
    "nucleaire": "nuclear",
    "eolien": "wind",
    "solaire": "solar",
    "hydraulique": "hydro",
    "gaz": "gas",
    "charbon": "coal",
    "fioul": "oil",
    "bioenergies": "bioenergy",
}
EXTRA = {"pompage": "pumping", "ech_physiques": "exchanges"}
CARRY_FORWARD_DAYS = 45
# The dbt unit tests of the ODRÉ models: the DST days, the best row per instant, the gas
# carry-forward and national sum, the population weighting, the gas mart's change and fill.
UNIT_TESTS = {
    "hourly_local_hours_across_dst_changes",
    "daily_energy_over_23_and_25_hour_days",
    "quarter_hourly_keeps_the_best_row_per_instant",
    "lagging_groups_are_carried_forward_then_missing",
    "national_stock_sums_reported_and_carried_groups",
    "national_temperature_is_population_weighted",
    "gas_change_fill_level_and_national_row",
    "partial_days_never_pass_for_full_ones",
}


def _settings(tmp: Path, artifacts: Path) -> Settings:
    return Settings(
        _env_file=None,
        profile="local",
        dbt_target=None,
        lake_url=str(tmp / "lake"),
        duckdb_path=tmp / "warehouse.duckdb",
        dbt_artifacts_dir=artifacts,
    )


def _stage(warehouse: DuckDBWarehouse, dataset: Dataset, frame: pd.DataFrame) -> None:
    """Load rows into a staging table the way the loader does: whole day partitions."""
    frame = frame.copy()
    for column in dataset.table.columns:
        if column not in frame and column != "ingested_at":
            frame[column] = None
    if "ingested_at" not in frame or frame["ingested_at"].isna().all():
        frame["ingested_at"] = INGESTED
    days = sorted(set(pd.to_datetime(frame["day"]).dt.date))
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    warehouse.replace_partitions("staging", dataset.table, frame, days)


def _all_tables(warehouse: DuckDBWarehouse) -> None:
    for dataset in DATASETS.values():
        warehouse.ensure_table("staging", dataset.table)


# --- synthetic input ----------------------------------------------------------------------


def _quarter_hours(start_local: str, end_local: str) -> pd.DatetimeIndex:
    """The UTC quarter-hours of local days [start, end), as naive UTC stamps."""
    start = pd.Timestamp(start_local, tz=PARIS).tz_convert("UTC")
    end = pd.Timestamp(end_local, tz=PARIS).tz_convert("UTC")
    return pd.date_range(start, end, freq="15min", inclusive="left").tz_localize(None)


def _electricity(stamps: pd.DatetimeIndex, rng: np.random.Generator, nature: str) -> pd.DataFrame:
    n = len(stamps)
    frame = pd.DataFrame({"date_heure": stamps, "perimetre": "France", "nature": nature})
    # Noisy but plausible: no quarter-hour jumps 15 GW from both neighbours (a quality rule).
    frame["consommation"] = rng.integers(55_000, 62_000, n).astype(float)
    frame["prevision_j1"] = frame["consommation"] + rng.integers(-3_000, 3_000, n)
    frame["prevision_j"] = frame["consommation"] + rng.integers(-1_000, 1_000, n)
    for column in SOURCES:
        frame[column] = rng.integers(0, 8_000, n).astype(float)
    frame["nucleaire"] = rng.integers(30_000, 60_000, n).astype(float)
    frame["pompage"] = -rng.integers(0, 3_000, n).astype(float)
    frame["ech_physiques"] = rng.integers(-10_000, 5_000, n).astype(float)
    frame["taux_co2"] = rng.integers(10, 90, n).astype(float)
    frame["day"] = frame["date_heure"].dt.date
    frame["ingested_at"] = INGESTED
    return frame


def synthetic_electricity() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(consolidated/definitive rows, real-time rows) as staged."""
    rng = np.random.default_rng(7)
    # Spring: local days 2024-03-30 .. 2024-04-01, definitive then consolidated, values on
    # :00/:30 only and forecasts on every quarter-hour, as in eco2mix-national-cons-def.
    cons = _electricity(_quarter_hours("2024-03-30", "2024-04-02"), rng, "Données consolidées")
    cons.loc[cons["date_heure"] < pd.Timestamp("2024-03-31"), "nature"] = "Données définitives"
    off_half = cons["date_heure"].dt.minute.isin([15, 45])
    keep = ["date_heure", "perimetre", "nature", "day", "prevision_j1", "prevision_j"]
    cons.loc[off_half, [c for c in cons.columns if c not in keep]] = np.nan
    # Real time overlaps the consolidated rows from 2024-03-31 00:00 UTC and runs on alone
    # until 2024-04-02 06:00 local; every quarter-hour has values.
    rt_spring = _electricity(
        pd.date_range("2024-03-31 00:00", "2024-04-02 04:00", freq="15min", inclusive="left"),
        rng,
        "Données temps réel",
    )
    # Fall back: real time only, local days 2024-10-26 .. 2024-10-28 (25 hours on the 27th),
    # with the source's null duplicate rows on a few instants.
    rt_fall = _electricity(_quarter_hours("2024-10-26", "2024-10-29"), rng, "Données temps réel")
    dupes = rt_fall.iloc[[8, 9, 10, 11]].copy()
    measure_columns = [
        c
        for c in rt_fall.columns
        if c not in ("date_heure", "perimetre", "nature", "day", "ingested_at")
    ]
    dupes[measure_columns] = np.nan
    realtime = pd.concat([rt_spring, rt_fall, dupes], ignore_index=True)
    # Spring rows were loaded long before the fall ones: incremental builds tell them apart.
    cons["ingested_at"] = SPRING_INGESTED
    realtime.loc[realtime["date_heure"] < pd.Timestamp("2024-06-01"), "ingested_at"] = (
        SPRING_INGESTED
    )
    return cons, realtime


def revise(cons: pd.DataFrame) -> pd.DataFrame:
    """The consolidated rows of UTC day 2024-03-31 republished as definitive, +1 GW."""
    revised = cons.copy()
    day = revised["day"] == date(2024, 3, 31)
    revised.loc[day, "consommation"] += 1_000
    revised.loc[day, "nature"] = "Données définitives"
    revised.loc[day, "ingested_at"] = REVISED_INGESTED
    return revised


def synthetic_gas() -> pd.DataFrame:
    """Four groups over 2024-01-01 .. 2024-03-31: Serene stops on 2024-01-10 (missing beyond
    the carry-forward limit from 2024-02-25), Teréga stops on 2024-03-10 (carried forward)."""
    rng = np.random.default_rng(11)
    days = pd.date_range("2024-01-01", "2024-03-31", freq="D")
    rows = []
    stops = {"Centre": None, "Saline": None, "Serene": "2024-01-10", "Teréga": "2024-03-10"}
    for group, stop in stops.items():
        operator = "Teréga" if group == "Teréga" else "Storengy"
        level = rng.uniform(5_000, 30_000)
        for day in days:
            level += rng.uniform(-300, 300)
            if stop is None or day <= pd.Timestamp(stop):
                rows.append((day.date(), operator, group, level))
    frame = pd.DataFrame(rows, columns=["date", "source", "pits", "stock_fin_de_journee"])
    frame["day"] = frame["date"]
    return frame


def synthetic_temperature() -> pd.DataFrame:
    rng = np.random.default_rng(13)
    days = list(pd.date_range("2024-03-30", "2024-04-02").date) + list(
        pd.date_range("2024-10-26", "2024-10-28").date
    )
    rows = []
    for day in days:
        for region in REGIONS:
            if day == date(2024, 4, 1) and region.code == 94:
                continue  # Corse missing that day: the national mean renormalises
            mean = rng.uniform(-5, 25)
            rows.append((day, region.code, region.name, mean - 4, mean + 5, mean))
    frame = pd.DataFrame(
        rows, columns=["date", "code_insee_region", "region", "tmin", "tmax", "tmoy"]
    )
    frame["id"] = frame["date"].astype(str) + "-" + frame["code_insee_region"].astype(str)
    frame["day"] = frame["date"]
    return frame


# --- independent expectations in pandas ------------------------------------------------------


def best_instants(cons: pd.DataFrame, realtime: pd.DataFrame) -> pd.DataFrame:
    """One row per instant: definitive > consolidated > real-time, rows with values only."""
    rank = {"Données définitives": 3, "Données consolidées": 2, "Données temps réel": 1}
    rows = pd.concat([cons, realtime], ignore_index=True)
    measures = ["consommation", "prevision_j1", "prevision_j", *SOURCES, *EXTRA, "taux_co2"]
    rows = rows[rows[measures].notna().any(axis=1)].copy()
    rows["rank"] = rows["nature"].map(rank)
    rows = rows.sort_values(["date_heure", "rank"], ascending=[True, False])
    best = rows.drop_duplicates("date_heure", keep="first").copy()
    local = best["date_heure"].dt.tz_localize("UTC").dt.tz_convert(PARIS)
    best["date_local"] = local.dt.date
    return best


def expected_hourly(best: pd.DataFrame) -> pd.DataFrame:
    measures = ["consommation", "prevision_j1", "prevision_j", *SOURCES, *EXTRA, "taux_co2"]
    hourly = best.groupby(best["date_heure"].dt.floor("h"))[measures].mean()
    hourly.index.name = "hour_utc"
    hourly = hourly.reset_index()
    local = hourly["hour_utc"].dt.tz_localize("UTC").dt.tz_convert(PARIS)
    hourly["date_local"] = local.dt.date
    hourly["production"] = hourly[list(SOURCES)].sum(axis=1)
    return hourly


def expected_daily(best: pd.DataFrame) -> pd.DataFrame:
    hourly = expected_hourly(best)
    daily = pd.DataFrame(
        {
            "consumption_gwh": hourly.groupby("date_local")["consommation"].sum() / 1000,
            "production_gwh": hourly.groupby("date_local")["production"].sum() / 1000,
            "hours": hourly.groupby("date_local").size(),
        }
    )
    for source, stem in SOURCES.items():
        daily[f"{stem}_gwh"] = hourly.groupby("date_local")[source].sum() / 1000
        daily[f"{stem}_share"] = daily[f"{stem}_gwh"] / daily["production_gwh"]
    weighted = hourly.assign(w=hourly["taux_co2"] * hourly["production"])
    daily["co2_g_per_kwh"] = (
        weighted.groupby("date_local")["w"].sum()
        / weighted.groupby("date_local")["production"].sum()
    )
    daily["consumption_peak_mw"] = best.groupby("date_local")["consommation"].max()
    both = best.dropna(subset=["consommation", "prevision_j1"])
    error = both["prevision_j1"] - both["consommation"]
    daily["forecast_j1_mape_pct"] = (
        (error.abs() / both["consommation"] * 100).groupby(both["date_local"]).mean()
    )
    daily["forecast_j1_bias_mw"] = error.groupby(both["date_local"]).mean()
    daily.index.name = "date"
    return daily


def expected_gas_national(gas: pd.DataFrame) -> pd.Series:
    """National stock per reported day: each group's latest report within the limit."""
    stocks = gas.pivot(index="date", columns="pits", values="stock_fin_de_journee")
    stocks.index = pd.to_datetime(stocks.index)
    filled = stocks.ffill(limit=CARRY_FORWARD_DAYS)
    return filled.sum(axis=1, min_count=1)


def expected_temperature(temps: pd.DataFrame) -> pd.DataFrame:
    population = {r.code: r.population for r in REGIONS}
    frame = temps.assign(pop=temps["code_insee_region"].map(population))
    out = {}
    for column in ("tmin", "tmoy", "tmax"):
        out[column] = (frame[column] * frame["pop"]).groupby(frame["date"]).sum() / frame.groupby(
            "date"
        )["pop"].sum()
    return pd.DataFrame(out)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dbt's target/ and logs/, shared by the module's builds: later ones parse partially."""
    return tmp_path_factory.mktemp("dbt_artifacts")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[dict]:
    """Synthetic staging rows built into the marts once for the module."""
    tmp = tmp_path_factory.mktemp("marts")
    settings = _settings(tmp, artifacts)
    warehouse = DuckDBWarehouse(settings.duckdb_path)
    cons, realtime = synthetic_electricity()
    gas = synthetic_gas()
    temps = synthetic_temperature()
    _stage(warehouse, ECO2MIX_CONS_DEF, cons)
    _stage(warehouse, ECO2MIX_TR, realtime)
    _stage(warehouse, GAS_STORAGE, gas)
    _stage(warehouse, TEMPERATURE, temps)
    summary = run_dbt_build(settings, select=OUR_MARTS)
    yield {
        "settings": settings,
        "summary": summary,
        "warehouse": warehouse,
        "cons": cons,
        "realtime": realtime,
        "gas": gas,
        "temps": temps,
    }


DATE_COLUMNS = ("date", "date_local", "gas_day", "last_reported_day")


def _mart(warehouse: DuckDBWarehouse, name: str, order: str) -> pd.DataFrame:
    """A production mart, DATE columns as Python dates (DuckDB hands them over as datetimes)."""
    frame = warehouse.query(f"select * from production.{name} order by {order}")
    for column in DATE_COLUMNS:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


# --- the build -------------------------------------------------------------------------------


def test_build_reports_models_and_tests(synthetic: dict) -> None:
    summary: TransformSummary = synthetic["summary"]
    assert summary.ok and summary.tests_failed == 0
    assert {"daily_merged", "energy_mix_hourly", "gas_storage_daily"} <= set(summary.models_built)
    assert {"regions", "gas_storage_groups"} <= set(summary.seeds_loaded)
    assert summary.tests_passed > 100


def test_the_build_ran_the_unit_tests_of_our_models(synthetic: dict) -> None:
    """dbt build runs each model's unit tests (models/**/_*__unit_tests.yml) before it."""
    import json

    run_results = synthetic["settings"].dbt_artifacts_dir / "target" / "run_results.json"
    results = json.loads(run_results.read_text())["results"]
    units = {r["unique_id"].rsplit(".", 1)[-1]: r["status"] for r in results}
    units = {name: status for name, status in units.items() if name in UNIT_TESTS}
    assert units == dict.fromkeys(UNIT_TESTS, "pass")


def test_optional_source_fields_left_null_warn_by_column(synthetic: dict) -> None:
    """The synthetic rows lack the fields ODRÉ added late (declared optional: an export
    without them loads): on the newest days their hourly columns have no value, and the
    tests for unexpected nulls warn, one per column, without failing the build."""
    import json

    target = synthetic["settings"].dbt_artifacts_dir / "target"
    results = json.loads((target / "run_results.json").read_text())["results"]
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    warned = {
        nodes[r["unique_id"]]["column_name"]: r["status"]
        for r in results
        if nodes.get(r["unique_id"], {}).get("test_metadata", {}).get("name")
        == "reported_each_recent_day"
    }
    assert warned == dict.fromkeys(
        ["wind_onshore_mw", "wind_offshore_mw", "battery_charging_mw", "battery_discharging_mw"],
        "warn",
    )
    assert synthetic["summary"].ok


def test_marts_are_in_production_and_the_rest_in_development(synthetic: dict) -> None:
    tables = synthetic["warehouse"].query(
        "select table_schema, table_name from information_schema.tables"
    )
    schema_of = dict(zip(tables["table_name"], tables["table_schema"], strict=True))
    for mart in ("daily_merged", "energy_mix_hourly", "gas_storage_daily"):
        assert schema_of[mart] == "production"
    for model in ("stg_odre__eco2mix_realtime", "int_electricity__hourly", "regions"):
        assert schema_of[model] == "development"


# --- electricity -----------------------------------------------------------------------------


def test_hourly_mart_has_one_row_per_utc_hour_with_contract_columns(synthetic: dict) -> None:
    hourly = _mart(synthetic["warehouse"], "energy_mix_hourly", "hour_utc")
    contract = ["hour_utc", "hour_local", "date_local", "consumption_mw", "forecast_j1_mw"]
    contract += ["forecast_j_mw", *(f"{s}_mw" for s in [*SOURCES.values(), *EXTRA.values()])]
    contract += ["co2_g_per_kwh"]
    assert list(hourly.columns[: len(contract)]) == contract
    best = best_instants(synthetic["cons"], synthetic["realtime"])
    expected = expected_hourly(best)
    assert hourly["hour_utc"].is_unique
    assert list(hourly["hour_utc"]) == list(expected["hour_utc"])
    np.testing.assert_allclose(hourly["consumption_mw"], expected["consommation"])
    np.testing.assert_allclose(hourly["forecast_j1_mw"], expected["prevision_j1"])
    np.testing.assert_allclose(hourly["nuclear_mw"], expected["nucleaire"])
    local = pd.to_datetime(hourly["hour_utc"]).dt.tz_localize("UTC").dt.tz_convert(PARIS)
    assert list(hourly["hour_local"]) == list(local.dt.tz_localize(None))
    assert list(hourly["date_local"]) == list(local.dt.date)


def test_dst_days_have_23_and_25_hours(synthetic: dict) -> None:
    hourly = _mart(synthetic["warehouse"], "energy_mix_hourly", "hour_utc")
    per_day = hourly.groupby("date_local").size()
    assert per_day[date(2024, 3, 31)] == 23
    assert per_day[date(2024, 10, 27)] == 25
    assert per_day[date(2024, 10, 26)] == 24
    daily = _mart(synthetic["warehouse"], "daily_merged", "date").set_index("date")
    assert daily.loc[date(2024, 3, 31), "day_hours"] == 23
    assert daily.loc[date(2024, 10, 27), "day_hours"] == 25
    assert bool(daily.loc[date(2024, 10, 27), "is_consumption_complete"])
    # The fall-back night's local 02:00 hour appears twice, a UTC hour each.
    fall = hourly[hourly["date_local"] == date(2024, 10, 27)]
    assert (fall["hour_local"] == pd.Timestamp("2024-10-27 02:00")).sum() == 2


def test_consolidated_values_win_over_overlapping_realtime(synthetic: dict) -> None:
    cons, realtime = synthetic["cons"], synthetic["realtime"]
    hourly = _mart(synthetic["warehouse"], "energy_mix_hourly", "hour_utc").set_index("hour_utc")
    # 2024-03-31 10:00 UTC: both sources; consumption = mean of consolidated :00 and :30.
    hour = pd.Timestamp("2024-03-31 10:00")
    in_hour = cons[(cons["date_heure"] >= hour) & (cons["date_heure"] < hour + timedelta(hours=1))]
    assert hourly.loc[hour, "consumption_mw"] == pytest.approx(in_hour["consommation"].mean())
    assert hourly.loc[hour, "consumption_quarter_hours"] == 2
    assert hourly.loc[hour, "data_status"] == "consolidated"
    # 2024-04-02 01:00 UTC: real time alone, four quarter-hours.
    hour = pd.Timestamp("2024-04-02 01:00")
    in_hour = realtime[
        (realtime["date_heure"] >= hour) & (realtime["date_heure"] < hour + timedelta(hours=1))
    ]
    assert hourly.loc[hour, "consumption_mw"] == pytest.approx(in_hour["consommation"].mean())
    assert hourly.loc[hour, "data_status"] == "realtime"
    assert hourly.loc[pd.Timestamp("2024-03-30 10:00"), "data_status"] == "definitive"


def test_daily_electricity_matches_pandas_totals(synthetic: dict) -> None:
    daily = _mart(synthetic["warehouse"], "daily_merged", "date").set_index("date")
    expected = expected_daily(best_instants(synthetic["cons"], synthetic["realtime"]))
    got = daily.loc[expected.index]
    # A day not fully measured (the real-time rows stop at 06:00 on 2024-04-02) has no totals:
    # what it has so far is apart, and never passes for the day's.
    midnight = pd.to_datetime(pd.Series(expected.index))
    next_midnight = (midnight + pd.Timedelta(days=1)).dt.tz_localize(PARIS)
    seconds = (next_midnight - midnight.dt.tz_localize(PARIS)).dt.total_seconds()
    day_hours = (seconds / 3600).to_numpy()
    partial = expected.index[expected["hours"].to_numpy() < day_hours]
    assert list(partial) == [date(2024, 4, 2)]
    np.testing.assert_allclose(
        got.loc[partial, "partial_consumption_gwh"].astype(float),
        expected.loc[partial, "consumption_gwh"],
        rtol=1e-9,
    )
    for column in ("consumption_gwh", "consumption_peak_mw", "production_gwh", "nuclear_share"):
        assert got.loc[partial, column].isna().all(), column
    assert got.loc[partial, "forecast_j1_mape_pct"].isna().all()
    assert not got.loc[partial, "is_consumption_complete"].any()
    expected = expected.drop(index=partial)
    got = got.drop(index=partial)
    assert got["partial_consumption_gwh"].isna().all()
    columns = ["consumption_gwh", "consumption_peak_mw", "production_gwh", "co2_g_per_kwh"]
    columns += ["forecast_j1_mape_pct", "forecast_j1_bias_mw", "nuclear_share", "wind_gwh"]
    columns += [f"{s}_share" for s in SOURCES.values()]
    for column in columns:
        # Sums are exact over values rounded to a millionth of their unit (macros/exact.sql).
        np.testing.assert_allclose(
            got[column].astype(float),
            expected[column].astype(float),
            rtol=1e-9,
            atol=1e-6,
            err_msg=column,
        )
    shares = got[[f"{s}_share" for s in SOURCES.values()]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0)


# --- gas -------------------------------------------------------------------------------------


def test_national_gas_stock_is_the_sum_with_lagging_groups_carried(synthetic: dict) -> None:
    gas_mart = _mart(synthetic["warehouse"], "gas_storage_daily", "gas_day, storage_group")
    national = gas_mart[gas_mart["level"] == "national"].set_index("gas_day")
    expected = expected_gas_national(synthetic["gas"])
    national.index = pd.to_datetime(national.index)
    np.testing.assert_allclose(national["stock_gwh"], expected.loc[national.index])

    def row(day: str, group: str) -> pd.Series:
        found = gas_mart[(gas_mart["gas_day"] == date.fromisoformat(day))]
        return found[found["storage_group"] == group].iloc[0]

    # Teréga stopped on 2024-03-10: carried forward, flagged, still in the sum.
    terega = row("2024-03-20", "Teréga")
    assert terega["status"] == "carried_forward"
    assert terega["last_reported_day"] == date(2024, 3, 10)
    assert row("2024-03-20", "France")["status"] == "incomplete"  # Serene is missing by then
    # Serene stopped on 2024-01-10: carried 45 days, then missing and out of the sum.
    assert row("2024-02-24", "Serene")["status"] == "carried_forward"
    serene = row("2024-02-25", "Serene")
    assert serene["status"] == "missing" and pd.isna(serene["stock_gwh"])
    france = row("2024-02-25", "France")
    assert (france["groups_reported"], france["groups_carried_forward"]) == (3, 0)
    assert france["groups_missing"] == 1
    assert row("2024-01-05", "France")["status"] == "reported"


def test_gas_change_and_fill_level(synthetic: dict) -> None:
    gas = synthetic["gas"]
    gas_mart = _mart(synthetic["warehouse"], "gas_storage_daily", "gas_day, storage_group")
    centre = gas_mart[gas_mart["storage_group"] == "Centre"].set_index("gas_day")
    source = gas[gas["pits"] == "Centre"].set_index("date")["stock_fin_de_journee"]
    np.testing.assert_allclose(centre["stock_change_gwh"].iloc[1:], source.diff().iloc[1:])
    assert pd.isna(centre["stock_change_gwh"].iloc[0])
    # Centre has no seeded capacity: fill level is against the highest stock it reported.
    assert set(centre["capacity_basis"]) == {"observed_max"}
    np.testing.assert_allclose(centre["working_capacity_gwh"], source.max())
    np.testing.assert_allclose(centre["fill_level_pct"], source / source.max() * 100)
    # Teréga's capacity is seeded (34 TWh); the national capacity sums the groups'.
    terega = gas_mart[gas_mart["storage_group"] == "Teréga"]
    assert set(terega["capacity_basis"]) == {"seed"}
    np.testing.assert_allclose(terega["fill_level_pct"], terega["stock_gwh"] / 34_000 * 100)
    france = gas_mart[gas_mart["level"] == "national"]
    assert set(france["capacity_basis"]) == {"mixed"}
    maxima = gas.groupby("pits")["stock_fin_de_journee"].max().drop("Teréga")
    np.testing.assert_allclose(france["working_capacity_gwh"], maxima.sum() + 34_000)
    daily = _mart(synthetic["warehouse"], "daily_merged", "date").set_index("date")
    national = gas_mart[gas_mart["level"] == "national"].set_index("gas_day")["stock_gwh"]
    np.testing.assert_allclose(daily.loc[national.index, "gas_stock_gwh"], national)


# --- temperature -----------------------------------------------------------------------------


def test_national_temperature_is_population_weighted(synthetic: dict) -> None:
    temps = synthetic["temps"]
    daily = _mart(synthetic["warehouse"], "daily_merged", "date").set_index("date")
    expected = expected_temperature(temps)
    got = daily.loc[expected.index]
    np.testing.assert_allclose(got["tmin_c"], expected["tmin"])
    np.testing.assert_allclose(got["tmean_c"], expected["tmoy"])
    np.testing.assert_allclose(got["tmax_c"], expected["tmax"])
    assert got.loc[date(2024, 4, 1), "temperature_regions_reported"] == 12
    assert pd.isna(got.loc[date(2024, 4, 1), "tmean_c_corse"])
    paris = temps[temps["code_insee_region"] == 11].set_index("date")["tmoy"]
    np.testing.assert_allclose(got["tmean_c_ile_de_france"], paris.loc[got.index])


def test_every_column_of_our_models_is_described(synthetic: dict) -> None:
    """Each column the ODRÉ models build has a description in the .yml beside the model."""
    import json

    manifest_path = synthetic["settings"].dbt_artifacts_dir / "target" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    ours = (
        "staging/odre/",
        "intermediate/energy/",
        "intermediate/gas/",
        "intermediate/temperature/",
    )
    ours += ("marts/energy/",)
    columns = synthetic["warehouse"].query(
        "select table_name, column_name from information_schema.columns"
        " where table_schema in ('development', 'production')"
    )
    checked = 0
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or not node["path"].startswith(ours):
            continue
        built = set(columns.loc[columns["table_name"] == node["name"], "column_name"])
        described = {n for n, c in node["columns"].items() if c["description"].strip()}
        assert node["description"].strip(), node["name"]
        assert built and built <= described, (node["name"], sorted(built - described))
        checked += 1
    assert checked == 15


def test_region_lists_agree() -> None:
    """The seed, the dbt macro and flows/regions.py name the same regions."""
    seed = pd.read_csv(PROJECT_ROOT / "dbt" / "seeds" / "regions.csv", dtype={"name": "string"})
    assert list(seed["code"]) == [r.code for r in REGIONS]
    assert list(seed["name"]) == [r.name for r in REGIONS]
    assert list(seed["population"]) == [r.population for r in REGIONS]
    macro = (PROJECT_ROOT / "dbt" / "macros" / "regions.sql").read_text()
    pairs = re.findall(r"\((\d+), '(\w+)'\)", macro)
    assert [(int(c), s) for c, s in pairs] == list(zip(seed["code"], seed["slug"], strict=True))


# --- a revision, built incrementally (after the tests above: it changes the warehouse) ------


@pytest.fixture(scope="module")
def revised(synthetic: dict) -> dict:
    """The synthetic warehouse after one consolidated day was republished and rebuilt."""
    cons = revise(synthetic["cons"])
    revised_day = cons[cons["day"] == date(2024, 3, 31)]
    _stage(synthetic["warehouse"], ECO2MIX_CONS_DEF, revised_day)
    summary = run_dbt_build(synthetic["settings"], select=OUR_MARTS)
    return {**synthetic, "cons": cons, "summary": summary}


def test_revision_updates_the_marts_like_a_full_build(revised: dict) -> None:
    assert revised["summary"].ok
    hourly = _mart(revised["warehouse"], "energy_mix_hourly", "hour_utc")
    expected = expected_hourly(best_instants(revised["cons"], revised["realtime"]))
    assert list(hourly["hour_utc"]) == list(expected["hour_utc"])  # nothing doubled or lost
    np.testing.assert_allclose(hourly["consumption_mw"], expected["consommation"])
    np.testing.assert_allclose(hourly["forecast_j1_mw"], expected["prevision_j1"])
    by_hour = hourly.set_index("hour_utc")
    assert by_hour.loc[pd.Timestamp("2024-03-31 10:00"), "data_status"] == "definitive"
    daily = _mart(revised["warehouse"], "daily_merged", "date").set_index("date")
    totals = expected_daily(best_instants(revised["cons"], revised["realtime"]))
    # 2024-04-02 is measured until 06:00 only: its hours so far, apart from the totals.
    got = daily.loc[totals.index, "consumption_gwh"].fillna(daily["partial_consumption_gwh"])
    np.testing.assert_allclose(got, totals["consumption_gwh"], rtol=1e-9)
    assert daily.loc[date(2024, 4, 2), "consumption_gwh"] is None or np.isnan(
        daily.loc[date(2024, 4, 2), "consumption_gwh"]
    )


def test_revision_rebuilds_only_the_months_it_touched(revised: dict) -> None:
    hourly = _mart(revised["warehouse"], "energy_mix_hourly", "hour_utc")
    month = pd.to_datetime(hourly["hour_utc"]).dt.strftime("%Y-%m")
    loaded = hourly.groupby(month)["loaded_at"].agg(["min", "max"])
    assert (loaded.loc["2024-03"] == REVISED_INGESTED).all()  # rebuilt
    assert (loaded.loc["2024-04"] == SPRING_INGESTED).all()  # left alone


# --- failures and real samples ------------------------------------------------------------------


def test_a_failing_dbt_test_names_the_node(tmp_path: Path, artifacts: Path) -> None:
    settings = _settings(tmp_path, artifacts)
    warehouse = DuckDBWarehouse(settings.duckdb_path)
    _all_tables(warehouse)
    temps = synthetic_temperature()
    temps.loc[0, "tmoy"] = 85.0  # an impossible mean temperature
    _stage(warehouse, TEMPERATURE, temps)
    with pytest.raises(TransformError) as caught:
        run_dbt_build(settings, select="regions stg_odre__regional_temperature")
    message = str(caught.value)
    assert "accepted_range_stg_odre__regional_temperature_tmean_c" in message
    assert "fail" in message
    assert any("tmean_c" in node for node in caught.value.failed_nodes)
    assert caught.value.summary is not None and caught.value.summary.tests_failed == 1


def _local_day(frame: pd.DataFrame) -> pd.Series:
    return frame["date_heure"].dt.tz_localize("UTC").dt.tz_convert(PARIS).dt.date


@pytest.mark.parametrize(
    ("factor", "rule"), [(-1.0, "range"), (100.0, "range"), (None, "flat_line")]
)
def test_a_day_of_implausible_values_is_quarantined_and_heals_once_corrected(
    tmp_path: Path, artifacts: Path, factor: float, rule: str
) -> None:
    """Negative or x100 consumption on one day failed a test with '2 failing rows', named no
    day and blocked every mart; now that day alone stays out, named, until it is corrected.
    A frozen meter (one value all day) is caught the same way."""
    settings = _settings(tmp_path, artifacts)
    warehouse = DuckDBWarehouse(settings.duckdb_path)
    _all_tables(warehouse)
    rng = np.random.default_rng(3)
    good = _electricity(_quarter_hours("2024-10-26", "2024-10-29"), rng, "Données temps réel")
    bad = good.copy()
    bad_day = _local_day(bad) == date(2024, 10, 27)
    if factor is None:  # a frozen meter
        bad.loc[bad_day, "consommation"] = 58_000.0
    else:
        bad.loc[bad_day, "consommation"] *= factor
    _stage(warehouse, ECO2MIX_TR, bad)
    summary = run_dbt_build(settings, select=OUR_MARTS)
    assert summary.ok and summary.tests_warned >= 1
    assert {str(q).split(" (")[0] for q in summary.quarantine} == {"2024-10-27 consumption_mw"}
    ranged = [q for q in summary.quarantine if q.rule == rule]
    assert len(ranged) == 1 and ranged[0].instants == 100  # the 25-hour day's every instant
    assert (
        "quarantined, kept out of the production marts until the source corrects it:"
        f" 2024-10-27 consumption_mw ({rule}: 100 instants," in summary.describe()
    )
    log = Path(summary.log_file).read_text()
    assert f"data quality: 2024-10-27 consumption_mw quarantined ({rule}: 100 instants" in log
    daily = _mart(warehouse, "daily_merged", "date").set_index("date")
    # (no gas or temperature here: the day has no row at all)
    assert list(daily.index) == [date(2024, 10, 26), date(2024, 10, 28)]
    assert daily["consumption_gwh"].notna().all()
    hourly = _mart(warehouse, "energy_mix_hourly", "hour_utc")
    assert date(2024, 10, 27) not in set(hourly["date_local"])
    assert len(hourly) == 48

    # The source corrects the day; its rows load again (a later ingestion) and it heals.
    fixed = good[_local_day(good) == date(2024, 10, 27)].copy()
    fixed["ingested_at"] = INGESTED + pd.Timedelta(days=1)
    whole_days = good[good["day"].isin(set(fixed["day"]))].copy()
    whole_days["ingested_at"] = INGESTED + pd.Timedelta(days=1)
    _stage(warehouse, ECO2MIX_TR, whole_days)
    healed = run_dbt_build(settings, select=OUR_MARTS)
    assert healed.ok and healed.quarantine == [] and "quarantined" not in healed.describe()
    daily = _mart(warehouse, "daily_merged", "date").set_index("date")
    assert daily.loc[date(2024, 10, 27), "is_consumption_complete"]
    assert daily.loc[date(2024, 10, 27), "day_hours"] == 25
    assert len(_mart(warehouse, "energy_mix_hourly", "hour_utc")) == 73


def _sample_frames(samples: Path) -> list[tuple[Dataset, pd.DataFrame]]:
    odre = samples / "odre"
    hourly = pd.read_parquet(odre / "eco2mix-national-hourly_2016-2019.parquet")
    hourly["date_heure"] = hourly["date_heure"].dt.tz_convert("UTC").dt.tz_localize(None)
    hourly["day"] = hourly["date_heure"].dt.date
    hourly["nature"] = "Données définitives"
    hourly["perimetre"] = "France"
    temps = pd.read_parquet(odre / "temperature-quotidienne-regionale_2016-2019.parquet")
    temps["day"] = temps["date"]
    gas = pd.read_csv(
        odre / "stock-quotidien-stockages-gaz_2010-2019.csv", sep=";", encoding="utf-8-sig"
    )
    gas["day"] = gas["date"]
    realtime = pd.read_parquet(odre / "eco2mix-national-tr_2025Q1.parquet")
    realtime["date_heure"] = realtime["date_heure"].dt.tz_convert("UTC").dt.tz_localize(None)
    for column in (
        "eolien_terrestre",
        "eolien_offshore",
        "stockage_batterie",
        "destockage_batterie",
    ):
        realtime[column] = pd.to_numeric(realtime[column], errors="coerce")  # "ND"
    realtime["day"] = realtime["date_heure"].dt.date
    return [
        (ECO2MIX_CONS_DEF, hourly),
        (TEMPERATURE, temps),
        (GAS_STORAGE, gas),
        (ECO2MIX_TR, realtime),
    ]


def test_real_samples_give_plausible_marts(samples: Path, tmp_path: Path, artifacts: Path) -> None:
    settings = _settings(tmp_path, artifacts)
    warehouse = DuckDBWarehouse(settings.duckdb_path)
    for dataset, frame in _sample_frames(samples):
        _stage(warehouse, dataset, frame)
    summary = run_dbt_build(settings, select=OUR_MARTS)
    assert summary.ok

    daily = _mart(warehouse, "daily_merged", "date").set_index("date")
    history = daily.loc[date(2016, 1, 1) : date(2019, 12, 31)]
    complete = history[history["is_consumption_complete"]]
    assert len(complete) > 1400
    assert complete["consumption_gwh"].between(800, 2800).all()
    assert complete["consumption_peak_mw"].between(29_000, 102_000).all()
    assert complete["nuclear_share"].between(0.5, 0.9).all()
    assert history["tmean_c"].between(-10, 32).all()
    assert history["temperature_regions_reported"].eq(13).all()
    assert history["gas_stock_gwh"].between(1_000, 160_000).all()
    # Winter consumption tops summer consumption, and it is colder then.
    month = pd.to_datetime(complete.index).month
    assert (
        complete["consumption_gwh"][month == 1].mean()
        > complete["consumption_gwh"][month == 7].mean() * 1.3
    )
    # Q1 2025 real time: RTE's day-ahead error is a few percent, carbon intensity low.
    q1 = daily.loc[date(2025, 1, 1) : date(2025, 3, 27)]
    assert q1["forecast_j1_mape_pct"].between(0.2, 10).all()
    assert q1["co2_g_per_kwh"].between(5, 150).all()
    assert q1["day_hours"].eq(24).all()
    assert daily.loc[date(2016, 3, 27), "day_hours"] == 23
    hourly = warehouse.query(
        "select count(*) as n, count(distinct hour_utc) as hours from production.energy_mix_hourly"
    )
    assert hourly.loc[0, "n"] == hourly.loc[0, "hours"]


def _digests(warehouse: DuckDBWarehouse, table: str, key: list[str]) -> dict[str, str]:
    """Per column of a table, a digest of its exact bits in key order."""
    frame = warehouse.query(f"select * from {table}")
    frame = frame.sort_values(key, ignore_index=True)
    return {
        f"{table}.{column}": hashlib.sha256(
            pd.util.hash_pandas_object(frame[column], index=False).to_numpy().tobytes()
        ).hexdigest()
        for column in frame.columns
    }


def test_rebuilding_the_same_staging_gives_byte_identical_marts(
    samples: Path, tmp_path: Path, artifacts: Path
) -> None:
    """Float sums in whatever order the engine's threads finish would change the last bits."""
    settings = _settings(tmp_path, artifacts)
    warehouse = DuckDBWarehouse(settings.duckdb_path)
    frames = _sample_frames(samples)
    # Four quarter-hours per hour, a little apart, as the source publishes them: enough rows
    # (some 560,000) for the engine to aggregate them in parallel.
    hourly = next(frame for dataset, frame in frames if dataset is ECO2MIX_CONS_DEF)
    quarters = []
    for k, wobble in enumerate((0.997, 1.001, 1.003, 0.999)):
        part = hourly.copy()
        part["date_heure"] = part["date_heure"] + pd.Timedelta(minutes=15 * k)
        for column in ("consommation", *SOURCES):
            part[column] = part[column] * wobble / 3
        quarters.append(part)
    for dataset, frame in frames:
        if dataset is ECO2MIX_CONS_DEF:
            frame = pd.concat(quarters, ignore_index=True)
        _stage(warehouse, dataset, frame)
    warehouse.query("set threads = 4")
    tables = {
        "daily_merged": ["date"],
        "energy_mix_hourly": ["hour_utc"],
        "gas_storage_daily": ["gas_day", "storage_group"],
    }
    assert run_dbt_build(settings, select=OUR_MARTS).ok
    first = {
        k: v for t in tables for k, v in _digests(warehouse, f"production.{t}", tables[t]).items()
    }
    assert run_dbt_build(settings, select=OUR_MARTS, full_refresh=True).ok
    second = {
        k: v for t in tables for k, v in _digests(warehouse, f"production.{t}", tables[t]).items()
    }
    assert [c for c in first if first[c] != second[c]] == []
