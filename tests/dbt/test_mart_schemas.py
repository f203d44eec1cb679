"""One unit per quantity and one type per concept across the marts, read from a real build.

The whole dbt project is built on an empty DuckDB warehouse (the ODRÉ staging tables created
empty, the weather, forecast and run tables not written yet, as on a fresh install) and the
production schema's columns are read from its information_schema: energy is in GWh in every
mart (MW is power, hourly), a `*_local` hour is a local wall-clock TIMESTAMP like
energy_mix_hourly.hour_local, a local day a DATE, a UTC instant a TIMESTAMP.
"""

from __future__ import annotations

import pandas as pd
import pytest

from flows.odre.schemas import DATASETS
from flows.transform import run_dbt_build
from flows.warehouse import DuckDBWarehouse
from tests.dbt.test_project import models
from tests.dbt.test_weather_marts import _settings

# Days: `date`, `*_date`, `*_day`, `*_on`, and the local day `date_local`.
DAY_SUFFIXES = ("_date", "_day", "_on", "date_local")
# Instants: `*_utc` and `*_at` (UTC), `*_local` other than days (local wall clock).
TIME_SUFFIXES = ("_utc", "_at", "_local")


@pytest.fixture(scope="module")
def columns(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    settings = _settings(tmp_path_factory.mktemp("mart-schemas"))
    wh = DuckDBWarehouse(settings.duckdb_path)
    for dataset in DATASETS.values():
        wh.ensure_table(settings.staging_dataset, dataset.table)
    run_dbt_build(settings)
    return wh.query(
        "select table_name, column_name, data_type from information_schema.columns"
        f" where table_schema = '{settings.production_dataset}'"
        " order by table_name, ordinal_position"
    )


def unit_offences(columns: pd.DataFrame) -> list[str]:
    """Energy columns not in GWh: any `*_mwh`, or an `energy` column in no unit of energy."""
    offences = []
    for table, column in zip(columns["table_name"], columns["column_name"], strict=True):
        if column.endswith("_mwh"):
            offences.append(f"{table}.{column}: energy in MWh (marts say GWh: `_gwh`, / 1000)")
        elif "energy" in column.split("_") and not column.endswith(("_gwh", "_pct")):
            offences.append(f"{table}.{column}: an energy column without `_gwh` in its name")
    return offences


def type_offences(columns: pd.DataFrame) -> list[str]:
    """Day columns that are not DATE, time columns that are not TIMESTAMP."""
    offences = []
    for table, column, kind in columns[["table_name", "column_name", "data_type"]].itertuples(
        index=False
    ):
        if column == "date" or column.endswith(DAY_SUFFIXES):
            expected = "DATE"
        elif column.endswith(TIME_SUFFIXES):
            expected = "TIMESTAMP"
        else:
            continue
        if kind != expected:
            offences.append(f"{table}.{column} is {kind}, not {expected}")
    return offences


def test_every_mart_was_built(columns: pd.DataFrame) -> None:
    assert set(columns["table_name"]) == set(models("marts"))


def test_energy_is_in_gwh_in_every_mart(columns: pd.DataFrame) -> None:
    assert unit_offences(columns) == []


def test_days_are_dates_and_hours_timestamps_in_every_mart(columns: pd.DataFrame) -> None:
    assert type_offences(columns) == []
    local_hours = columns[columns["column_name"].str.endswith("hour_local")]
    assert len(set(local_hours["table_name"])) >= 3  # energy_mix_hourly, the forecast marts


def test_the_rules_catch_what_the_marts_once_had() -> None:
    """The forecast marts before they followed the rules: MWh, a local hour as a string."""
    before = pd.DataFrame(
        [
            ("consumption_forecast_daily", "energy_p50_mwh", "DOUBLE"),
            ("forecast_skill_daily", "daily_bias_7d_mwh", "DOUBLE"),
            ("consumption_forecast", "target_hour_local", "VARCHAR"),
            ("consumption_forecast", "target_date", "TIMESTAMP"),
            ("consumption_forecast_daily", "energy_p50", "DOUBLE"),
            ("daily_merged", "bioenergy_gwh", "DOUBLE"),
        ],
        columns=["table_name", "column_name", "data_type"],
    )
    assert [o.split(":")[0] for o in unit_offences(before)] == [
        "consumption_forecast_daily.energy_p50_mwh",
        "forecast_skill_daily.daily_bias_7d_mwh",
        "consumption_forecast_daily.energy_p50",
    ]
    assert type_offences(before) == [
        "consumption_forecast.target_hour_local is VARCHAR, not TIMESTAMP",
        "consumption_forecast.target_date is TIMESTAMP, not DATE",
    ]
