"""Export bodies to typed staging rows: types, drift, ND, DST, bad bodies, real samples."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from flows.errors import OdreError
from flows.odre.client import Window
from flows.odre.parse import parse_export, to_arrow
from flows.odre.schemas import ECO2MIX_CONS_DEF, ECO2MIX_TR, GAS_STORAGE, TEMPERATURE, Dataset
from tests.fakes.odre_server import FakeOdre, Fault, eco2mix_frame

NOW = datetime(2025, 4, 8, 12, tzinfo=UTC)
SPRING = Window(date(2025, 3, 29), date(2025, 4, 1))


def body(odre_data, dataset: Dataset, window: Window, *faults: Fault, tz: str = "UTC") -> bytes:
    """An export body as the fake server builds it, without HTTP."""
    fake = FakeOdre(odre_data, faults=list(faults))
    params = {"where": window.where(dataset.time_field), "timezone": tz}
    status, _, payload, _ = fake.answer(dataset.id, params)
    assert status == 200
    return payload


def csv_as_export(path: Path) -> bytes:
    """A CSV sample (`;`-separated, BOM) as the Parquet body the export endpoint serves."""
    table = pacsv.read_csv(
        io.BytesIO(path.read_bytes().removeprefix(b"\xef\xbb\xbf")),
        parse_options=pacsv.ParseOptions(delimiter=";"),
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def test_eco2mix_rows_have_exactly_the_staging_columns(odre_data) -> None:
    parsed = parse_export(ECO2MIX_TR, SPRING, body(odre_data, ECO2MIX_TR, SPRING), NOW)
    frame = parsed.frame
    assert list(frame.columns) == list(ECO2MIX_TR.table.columns)
    assert parsed.warnings == []
    assert frame["date_heure"].dtype == "datetime64[us]"
    assert frame["date_heure"].is_monotonic_increasing and frame["date_heure"].is_unique
    assert (frame["day"] == frame["date_heure"].dt.date).all()
    # ND-prone fields arrive as strings and leave as numbers
    assert frame["eolien_offshore"].dtype == "float64" and frame["eolien_offshore"].notna().all()
    assert (frame["ingested_at"] == pd.Timestamp("2025-04-08 12:00")).all()
    table = to_arrow(ECO2MIX_TR, frame)
    assert table.schema == ECO2MIX_TR.arrow_schema


def test_nd_and_other_strings_in_numeric_columns_become_null(odre_data) -> None:
    payload = body(odre_data, ECO2MIX_TR, SPRING, Fault("nd", column="consommation"))
    parsed = parse_export(ECO2MIX_TR, SPRING, payload, NOW)
    cons = parsed.frame["consommation"]
    assert cons.dtype == "float64"
    assert cons.isna().sum() == len(cons) // 2
    assert parsed.warnings == []  # ND is the documented marker, not a surprise


def test_unknown_column_is_ignored_with_a_contract_warning(odre_data) -> None:
    payload = body(odre_data, GAS_STORAGE, SPRING, Fault("extra_column"))
    parsed = parse_export(GAS_STORAGE, SPRING, payload, NOW)
    assert "colonne_nouvelle" not in parsed.frame.columns
    assert parsed.drift == [
        "new unknown fields ignored: colonne_nouvelle (add them to the dataset's fields in"
        " flows/odre/schemas.py to stage them, or to `ignored`)"
    ]
    assert len(parsed.frame) == 3 * 6


@pytest.mark.parametrize("dataset", [ECO2MIX_TR, ECO2MIX_CONS_DEF])
def test_a_renamed_production_field_is_an_error_naming_dataset_window_and_field(
    odre_data, dataset: Dataset
) -> None:
    # Any field of the typed schema, not only the forecast's: nuclear null on every day
    # would falsify production, its shares and the gas share without a failing test.
    fault = Fault("rename_column", column="nucleaire", new_name="production_nucleaire")
    with pytest.raises(OdreError) as err:
        parse_export(dataset, SPRING, body(odre_data, dataset, SPRING, fault), NOW)
    assert str(err.value) == (
        f"ODRÉ {dataset.id} window [2025-03-29, 2025-04-01): required fields missing from the"
        " export: nucleaire (the source renamed or dropped them; map the new name in"
        " flows/odre/schemas.py, or declare a field the source may drop in the dataset's"
        " `optional` with the reason)"
    )


def test_every_field_is_required_unless_declared_optional_with_a_reason() -> None:
    for dataset in (ECO2MIX_TR, ECO2MIX_CONS_DEF, GAS_STORAGE, TEMPERATURE):
        assert set(dataset.required) | set(dataset.optional) == set(dataset.fields)
        assert all(reason.strip() for reason in dataset.optional.values())
    assert "nucleaire" in ECO2MIX_CONS_DEF.required
    assert set(ECO2MIX_TR.optional) == {
        "eolien_terrestre",
        "eolien_offshore",
        "stockage_batterie",
        "destockage_batterie",
    }


def test_an_absent_optional_field_is_null_with_a_contract_warning(odre_data) -> None:
    fault = Fault("missing_column", column="stockage_batterie")
    parsed = parse_export(ECO2MIX_TR, SPRING, body(odre_data, ECO2MIX_TR, SPRING, fault), NOW)
    assert parsed.frame["stockage_batterie"].isna().all()
    assert parsed.frame["nucleaire"].notna().all()
    assert parsed.drift == [
        "optional field stockage_batterie absent from the export, staged as null (added to"
        " eCO2mix later than the other fields: older exports lack it)"
    ]


def test_missing_required_column_names_dataset_window_and_column(odre_data) -> None:
    payload = body(odre_data, ECO2MIX_TR, SPRING, Fault("missing_column", column="prevision_j1"))
    with pytest.raises(OdreError) as err:
        parse_export(ECO2MIX_TR, SPRING, payload, NOW)
    assert "eco2mix-national-tr" in str(err.value)
    assert "[2025-03-29, 2025-04-01)" in str(err.value)
    assert "prevision_j1" in str(err.value)


def test_temperature_without_id_gets_null_ids(odre_data) -> None:
    payload = body(odre_data, TEMPERATURE, SPRING, Fault("missing_column", column="id"))
    parsed = parse_export(TEMPERATURE, SPRING, payload, NOW)
    frame = parsed.frame
    assert frame["id"].isna().all()
    assert [w.split(",")[0] for w in parsed.drift] == ["optional field id absent from the export"]
    assert len(frame) == 3 * 13 and frame["code_insee_region"].dtype == "Int64"


@pytest.mark.parametrize(
    ("payload", "what"),
    [
        (b"<html>Service unavailable</html>", "not Parquet"),
        (b"", "not Parquet"),
        (None, "truncated"),
    ],
)
def test_bodies_that_are_not_whole_parquet_files_fail_clearly(odre_data, payload, what) -> None:
    if payload is None:
        full = body(odre_data, TEMPERATURE, SPRING)
        payload = full[: len(full) // 2]
    with pytest.raises(OdreError, match=rf"temperature-quotidienne-regionale.*2025-03-29.*{what}"):
        parse_export(TEMPERATURE, SPRING, payload, NOW)


def test_empty_answer_is_an_empty_frame_with_a_warning(odre_data) -> None:
    parsed = parse_export(
        GAS_STORAGE, SPRING, body(odre_data, GAS_STORAGE, SPRING, Fault("empty")), NOW
    )
    assert parsed.frame.empty and list(parsed.frame.columns) == list(GAS_STORAGE.table.columns)
    assert parsed.rows_per_day() == {} and parsed.warnings == [
        "empty answer: no rows in the window"
    ]


def test_spring_forward_null_duplicates_collapse_to_the_rows_with_values(odre_data) -> None:
    payload = body(odre_data, ECO2MIX_TR, SPRING, Fault("dst_duplicates"))
    parsed = parse_export(ECO2MIX_TR, SPRING, payload, NOW)
    assert parsed.rows_received == 3 * 96 + 4
    frame = parsed.frame
    assert frame["date_heure"].is_unique and len(frame) == 3 * 96
    assert frame.groupby("day").size().tolist() == [96, 96, 96]
    # 03:00-03:45 CEST = 01:00-01:45 UTC kept their values, not the null duplicates
    dst = frame[frame["date_heure"].between("2025-03-30 01:00", "2025-03-30 01:45")]
    assert len(dst) == 4 and dst["consommation"].notna().all()


def test_fall_back_day_in_local_time_keeps_every_utc_instant() -> None:
    frame = eco2mix_frame(date(2024, 10, 26), date(2024, 10, 28))
    fake = FakeOdre({"eco2mix-national-tr": frame})
    _, _, payload, rows = fake.answer("eco2mix-national-tr", {"timezone": "Europe/Paris"})
    window = Window(date(2024, 10, 26), date(2024, 10, 29))
    parsed = parse_export(ECO2MIX_TR, window, payload, NOW)
    assert rows == len(parsed.frame) == 3 * 96
    assert parsed.frame["date_heure"].is_unique
    assert parsed.frame.groupby("day").size().tolist() == [96, 96, 96]


def test_rows_outside_the_window_are_an_error(odre_data) -> None:
    payload = body(odre_data, GAS_STORAGE, SPRING)
    with pytest.raises(OdreError, match=r"stock-quotidien-stockages-gaz.*outside the window"):
        parse_export(GAS_STORAGE, Window(date(2025, 3, 30), date(2025, 3, 31)), payload, NOW)


# --- the real samples -----------------------------------------------------------------------


def test_real_tr_export_in_berlin_time_parses_to_utc(samples) -> None:
    payload = (samples / "odre" / "eco2mix-national-tr_2025Q1.parquet").read_bytes()
    parsed = parse_export(ECO2MIX_TR, Window(date(2024, 12, 31), date(2025, 4, 1)), payload, NOW)
    frame = parsed.frame
    assert parsed.rows_received == 8544 and len(frame) == 8540  # 4 spring-forward duplicates
    assert frame["date_heure"].is_unique and frame["date_heure"].is_monotonic_increasing
    # 2025-01-01 00:00 in Berlin is 2024-12-31 23:00 UTC
    assert frame["date_heure"].iloc[0] == pd.Timestamp("2024-12-31 23:00")
    assert frame["day"].iloc[0] == date(2024, 12, 31)
    assert frame["eolien_terrestre"].dtype == "float64"


def test_real_temperature_export_parses(samples) -> None:
    payload = (
        samples / "odre" / "temperature-quotidienne-regionale_2016-2019.parquet"
    ).read_bytes()
    frame = parse_export(
        TEMPERATURE, Window(date(2016, 1, 1), date(2020, 1, 1)), payload, NOW
    ).frame
    assert len(frame) == 18993 and frame["code_insee_region"].nunique() == 13
    assert (frame["tmin"] <= frame["tmax"]).all()


def test_real_gas_export_parses(samples) -> None:
    payload = csv_as_export(samples / "odre" / "stock-quotidien-stockages-gaz_2010-2019.csv")
    window = Window(date(2010, 11, 1), date(2020, 1, 1))
    frame = parse_export(GAS_STORAGE, window, payload, NOW).frame
    assert len(frame) == 20088 and frame["pits"].nunique() == 6
    assert frame["stock_fin_de_journee"].notna().all()


def test_labelled_csv_is_refused_clearly(samples) -> None:
    # We never ask for labels; an export with French display names is not ours to guess.
    payload = csv_as_export(samples / "odre" / "eco2mix-national-tr_2021-12_labels.csv")
    with pytest.raises(
        OdreError, match=r"eco2mix-national-tr.*required fields missing.*date_heure"
    ):
        parse_export(ECO2MIX_TR, Window(date(2021, 12, 1), date(2022, 1, 1)), payload, NOW)


def test_renamed_hourly_history_lacks_the_forecast_column(samples) -> None:
    payload = (samples / "odre" / "eco2mix-national-hourly_2016-2019.parquet").read_bytes()
    with pytest.raises(OdreError, match=r"eco2mix-national-cons-def.*prevision_j1"):
        parse_export(ECO2MIX_CONS_DEF, Window(date(2016, 1, 1), date(2020, 1, 1)), payload, NOW)
