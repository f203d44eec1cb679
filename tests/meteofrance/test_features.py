"""Weather features from generated GRIB2 runs, checked against values computed by hand."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.errors import GribError
from flows.meteofrance.features import (
    COLUMNS,
    _mp_context,
    daily_temperature,
    decode_values,
    file_features,
    run_features,
)
from flows.meteofrance.grib import ParamKey, open_messages, read_grid, scan_messages
from flows.meteofrance.points import CITIES
from flows.regions import REGIONS
from tests.meteofrance import gribgen as gg

RUN = datetime(2025, 3, 29, tzinfo=UTC)
CELLS = gg.FRANCE_05.ni * gg.FRANCE_05.nj
LAT = np.array([c.lat for c in CITIES])
LON = np.array([c.lon for c in CITIES])


def by_hand(city_values: np.ndarray) -> dict[int, float]:
    """Regional population-weighted means of city values, and the national one (code 0)."""
    out: dict[int, float] = {}
    for region in REGIONS:
        cities = [(c.population, v) for c, v in zip(CITIES, city_values, strict=True)]
        mine = [(p, v) for (p, v), c in zip(cities, CITIES, strict=True) if c.region == region.code]
        out[region.code] = sum(p * v for p, v in mine) / sum(p for p, _ in mine)
    total = sum(r.population for r in REGIONS)
    out[0] = sum(r.population / total * out[r.code] for r in REGIONS)
    return out


def column(frame: pd.DataFrame, name: str, step: float) -> dict[int, float]:
    rows = frame[frame["step_hours"] == step]
    return dict(zip(rows["code_insee_region"], rows[name], strict=True))


def assert_areas(got: dict[int, float], want: dict[int, float], tol: float = 1e-3) -> None:
    assert got.keys() == want.keys()
    for code, value in want.items():
        assert got[code] == pytest.approx(value, abs=tol), code


SP1 = {
    gg.T2M: gg.linear(273.15, 0.2, 0.5, 0.1),
    gg.RH2M: gg.linear(20.0, 1.0, 0.0),
    gg.U10: gg.linear(3.0, 0.0, 0.0),
    gg.V10: gg.linear(-4.0, 0.0, 0.0),
    gg.TCC: gg.linear(40.0, 0.0, 2.0),
    gg.PRMSL: gg.linear(101_325.0, 0.0, 0.0),
    gg.TP: lambda lat, lon, step: 0.1 * step**2 + 0.0 * lat,  # amount over step s: 0.1(2s-1)
    gg.SSRD: gg.linear(0.0, 0.0, 0.0, 3600.0 * 100.0),  # 100 Wh/m2 every hour
    gg.GUST: gg.linear(15.0, 0.0, 0.0),
}


@pytest.fixture(scope="module")
def run_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three group files of one run, CCSDS like the current files, steps 0-12, 13-24, 25-36."""
    folder = tmp_path_factory.mktemp("run")
    groups = [range(0, 13), range(13, 25), range(25, 37)]
    return [
        gg.run_file(folder / f"g{k}.grib2", gg.FRANCE_05, SP1, RUN, steps, packing="grid_ccsds")
        for k, steps in enumerate(groups)
    ]


def test_one_file_gives_regional_series(run_files: list[Path]) -> None:
    frame = file_features(run_files[0], "arpege", "01")

    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 13 * 14
    assert frame["run_time"].dtype == "datetime64[us, UTC]"
    assert (frame["run_time"] == pd.Timestamp(RUN)).all()
    assert set(frame["region"]) == {r.name for r in REGIONS} | {"France"}
    assert frame.loc[frame["code_insee_region"] == 0, "region"].unique().tolist() == ["France"]
    # 2 m temperature in °C, stored 0-360 longitudes, interpolated at the cities.
    assert_areas(column(frame, "t2m_c", 5), by_hand(0.2 * LAT + 0.5 * LON + 0.5))
    assert_areas(column(frame, "rh2m_pct", 0), by_hand(20.0 + LAT))
    assert_areas(column(frame, "tcc_pct", 3), by_hand(40.0 + 2.0 * LON), tol=2e-3)
    assert_areas(column(frame, "wind10m_ms", 7), by_hand(np.full(len(CITIES), 5.0)))
    # Accumulations are still since the run start in one file; absent at step 0.
    assert_areas(column(frame, "precip_mm", 4), by_hand(np.full(len(CITIES), 1.6)))
    assert_areas(column(frame, "ssrd_wh_m2", 3), by_hand(np.full(len(CITIES), 300.0)), tol=0.05)
    assert frame.loc[frame["step_hours"] == 0, ["precip_mm", "ssrd_wh_m2"]].isna().all().all()


def test_run_is_deaccumulated_across_files(run_files: list[Path]) -> None:
    frame = run_features(run_files, "arpege", "01", workers=2)

    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 37 * 14
    assert frame["valid_time"].is_monotonic_increasing
    national = frame[frame["code_insee_region"] == 0].set_index("step_hours")
    steps = np.arange(1, 37)
    assert np.allclose(national.loc[steps, "precip_mm"], 0.1 * (2 * steps - 1), atol=2e-3)
    assert np.allclose(national.loc[steps, "ssrd_wh_m2"], 100.0, atol=0.1)
    assert national.loc[0, ["precip_mm", "ssrd_wh_m2"]].isna().all()
    # The boundary steps 12→13 and 24→25 straddle two files.
    assert national.loc[13, "precip_mm"] == pytest.approx(2.5, abs=2e-3)
    assert national.loc[25, "precip_mm"] == pytest.approx(4.9, abs=2e-3)


def test_processes_threads_and_one_process_agree(run_files: list[Path]) -> None:
    one = run_features(run_files, "arpege", "01", workers=1)
    pool = run_features(run_files, "arpege", "01", workers=2)
    with ThreadPoolExecutor(2) as executor:  # any concurrent.futures Executor, like Dask's
        other = run_features(run_files, "arpege", "01", executor=executor)
    pd.testing.assert_frame_equal(one, pool)
    pd.testing.assert_frame_equal(one, other)


def test_process_pool_started_from_a_thread_uses_a_fork_server(run_files: list[Path]) -> None:
    # As inside a Prefect task: other threads run, so workers must not be plain forks.
    one = run_features(run_files, "arpege", "01", workers=1)
    with ThreadPoolExecutor(1) as caller:
        assert caller.submit(lambda: _mp_context().get_start_method()).result() == "forkserver"
        threaded = caller.submit(run_features, run_files, "arpege", "01", workers=2).result()
    pd.testing.assert_frame_equal(one, threaded)


def test_without_the_first_group_the_first_amount_is_unknown(run_files: list[Path]) -> None:
    frame = run_features(run_files[1:], "arpege", "01", workers=1)
    national = frame[frame["code_insee_region"] == 0].set_index("step_hours")
    assert np.isnan(national.loc[13, "precip_mm"])
    assert national.loc[14, "precip_mm"] == pytest.approx(2.7, abs=2e-3)


def test_a_missing_middle_group_leaves_no_long_amount(run_files: list[Path]) -> None:
    frame = run_features([run_files[0], run_files[2]], "arpege", "01", workers=1)
    national = frame[frame["code_insee_region"] == 0].set_index("step_hours")
    assert 13 not in national.index
    assert np.isnan(national.loc[25, "precip_mm"])
    assert national.loc[26, "precip_mm"] == pytest.approx(5.1, abs=2e-3)


def test_packages_merge_per_valid_time(tmp_path: Path) -> None:
    sp1 = gg.run_file(tmp_path / "sp1.grib2", gg.FRANCE_05, {gg.T2M: SP1[gg.T2M]}, RUN, [0, 1])
    sp2 = gg.run_file(tmp_path / "sp2.grib2", gg.FRANCE_05, {gg.RH2M: SP1[gg.RH2M]}, RUN, [0, 1])
    frame = run_features([sp1, sp2], "arpege", "01", workers=1)
    assert len(frame) == 2 * 14
    assert frame[["t2m_c", "rh2m_pct"]].notna().all().all()
    assert frame[["wind10m_ms", "tcc_pct", "precip_mm"]].isna().all().all()


def test_files_of_two_runs_are_refused(tmp_path: Path) -> None:
    a = gg.run_file(tmp_path / "a.grib2", gg.FRANCE_05, {gg.T2M: SP1[gg.T2M]}, RUN, [0])
    later = RUN.replace(hour=6)
    b = gg.run_file(tmp_path / "b.grib2", gg.FRANCE_05, {gg.T2M: SP1[gg.T2M]}, later, [0])
    with pytest.raises(GribError, match="several runs"):
        run_features([a, b], "arpege", "01", workers=1)


def test_fields_are_chosen_by_keys_not_names(tmp_path: Path) -> None:
    t20 = ParamKey(0, 0, 0, "heightAboveGround", 20, "instant")  # same shortName family
    local = ParamKey(0, 19, 200, "surface", 0, "instant")  # a field we do not know
    fields = {
        t20: gg.linear(300.0, 0.0, 0.0),
        local: gg.linear(1.0, 0.0, 0.0),
        gg.T2M: gg.linear(283.15, 0.0, 0.0),
        gg.WS10: gg.linear(7.0, 0.0, 0.0),  # speed given directly, no u/v
        gg.TCC: gg.linear(55.0, 0.0, 0.0),  # `unknown` in eccodes with the lfpw centre
    }
    frame = file_features(
        gg.run_file(tmp_path / "k.grib2", gg.FRANCE_05, fields, RUN, [2]), "a", "b"
    )
    assert np.allclose(frame["t2m_c"], 10.0, atol=1e-3)
    assert np.allclose(frame["wind10m_ms"], 7.0, atol=1e-3)
    assert np.allclose(frame["tcc_pct"], 55.0, atol=1e-3)
    assert frame["rh2m_pct"].isna().all()


def test_bitmap_points_become_nan(tmp_path: Path) -> None:
    lat, lon = gg.FRANCE_05.latlon()
    around_paris = (abs(lat - 48.85) < 1.0) & (abs(lon - 2.35) < 1.0)
    path = gg.run_file(
        tmp_path / "bitmap.grib2",
        gg.FRANCE_05,
        {gg.TCC: gg.linear(30.0, 0.0, 0.0)},
        RUN,
        [1],
        packing="grid_ccsds",
        missing=around_paris,
    )
    with open_messages(path) as handles:
        for index, _, _, handle in handles:
            values = decode_values(handle, path, index, read_grid(handle, path, index))
    assert np.isnan(values).sum() == around_paris.sum()
    assert np.allclose(values[~around_paris], 30.0)

    tcc = column(file_features(path, "a", "b"), "tcc_pct", 1)
    assert np.isnan(tcc[11])  # Île-de-France has only Paris
    assert all(tcc[code] == pytest.approx(30.0, abs=1e-3) for code in tcc if code != 11)


def test_truncated_file_gives_no_partial_result(run_files: list[Path], tmp_path: Path) -> None:
    offset, length = scan_messages(run_files[1])[20]
    cut = tmp_path / "cut.grib2"
    cut.write_bytes(run_files[1].read_bytes()[: offset + length // 2])
    with pytest.raises(GribError, match=r"cut\.grib2: message \d+ .*truncated"):
        file_features(cut, "arpege", "01")
    with pytest.raises(GribError, match=r"cut\.grib2"):
        run_features([run_files[0], cut], "arpege", "01", workers=2)


def test_grid_not_covering_france_is_a_clear_error(tmp_path: Path) -> None:
    north = gg.GridSpec(ni=20, nj=10, lat_first=70.0, lon_first=0.0, di=1.0, dj=1.0)
    path = gg.run_file(tmp_path / "north.grib2", north, {gg.T2M: SP1[gg.T2M]}, RUN, [0])
    with pytest.raises(GribError, match=r"north\.grib2: grid .* does not cover the weather points"):
        file_features(path, "arpege", "01")


def test_file_without_weather_fields_gives_an_empty_frame(tmp_path: Path) -> None:
    path = gg.run_file(tmp_path / "p.grib2", gg.FRANCE_05, {gg.PRMSL: SP1[gg.PRMSL]}, RUN, [0])
    frame = file_features(path, "arpege", "01")
    assert frame.empty
    assert list(frame.columns) == list(COLUMNS)


# --- daily temperature ------------------------------------------------------------------


def test_daily_temperature_on_the_spring_dst_day(tmp_path: Path) -> None:
    files = [
        gg.run_file(tmp_path / f"{k}.grib2", gg.FRANCE_05, {gg.T2M: field}, RUN, steps)
        for k, (field, steps) in enumerate(
            [
                (gg.linear(273.15, 0.0, 0.0, 1.0), range(0, 25)),
                (gg.linear(273.15, 0.0, 0.0, 1.0), range(25, 52)),
            ]
        )
    ]
    daily = daily_temperature(run_features(files, "arome", "0025", workers=1))

    assert list(daily.columns) == [
        *("date", "code_insee_region", "region", "tmin", "tmax", "tmoy"),
        *("model", "grid", "run_time"),
    ]
    # 29 March starts before the run; 31 March ends after the last step.
    assert set(daily["date"]) == {date(2025, 3, 30)}
    assert len(daily) == 14
    # Local 30 March 2025 is 23 hours: 29 March 23:00Z (step 23) to 30 March 21:00Z (step 45).
    assert np.allclose(daily["tmin"], 23.0, atol=1e-3)
    assert np.allclose(daily["tmax"], 45.0, atol=1e-3)
    assert np.allclose(daily["tmoy"], 34.0, atol=1e-3)
    assert (daily["run_time"] == pd.Timestamp(RUN)).all()


def hourly_frame(start: str, hours: int, step_hours: int = 1) -> pd.DataFrame:
    valid = pd.date_range(start, periods=hours, freq=f"{step_hours}h", tz="UTC", unit="us")
    return pd.DataFrame(
        {
            "model": "arpege",
            "grid": "01",
            "run_time": valid[0],
            "valid_time": valid,
            "step_hours": (valid - valid[0]) / pd.Timedelta(hours=1),
            "code_insee_region": 11,
            "region": "Île-de-France",
            "t2m_c": np.arange(hours, dtype="float64"),
        }
    )


def test_autumn_dst_day_has_25_hours() -> None:
    # Local 26 October 2025 runs from 25 October 22:00Z to 26 October 23:00Z.
    daily = daily_temperature(hourly_frame("2025-10-25T22:00", 26))
    (row,) = daily.itertuples()
    assert row.date == date(2025, 10, 26)
    assert (row.tmin, row.tmax, row.tmoy) == (0.0, 24.0, 12.0)


def test_naive_utc_times_from_a_warehouse_are_accepted() -> None:
    hourly = hourly_frame("2025-01-14T23:00", 24)
    hourly["valid_time"] = hourly["valid_time"].dt.tz_localize(None)
    (row,) = daily_temperature(hourly).itertuples()
    assert (row.date, row.tmin, row.tmax) == (date(2025, 1, 15), 0.0, 23.0)


def test_a_day_with_a_hole_is_not_full() -> None:
    hourly = hourly_frame("2025-01-14T23:00", 24)
    assert len(daily_temperature(hourly)) == 1
    assert daily_temperature(hourly.drop(index=range(5, 10))).empty
    assert daily_temperature(hourly.iloc[1:]).empty  # local midnight missing


def test_three_hourly_steps_make_full_days() -> None:
    hourly = hourly_frame("2025-01-15T00:00", 8, step_hours=3)  # 01:00 .. 22:00 local
    (row,) = daily_temperature(hourly).itertuples()
    assert row.date == date(2025, 1, 15)
    assert (row.tmin, row.tmax) == (0.0, 7.0)


# --- the shared real files --------------------------------------------------------------


def test_shared_arome_cloud_cover_is_selected_by_keys(samples: Path) -> None:
    path = samples / "grib" / "arome_0025_sp_tcdc_ccsds_bitmap.grib2"
    frame = file_features(path, "arome", "0025")
    assert len(frame) == 14
    assert frame["valid_time"].unique().tolist() == [pd.Timestamp("2026-04-13T22:00Z")]
    assert frame["step_hours"].unique().tolist() == [1.0]
    assert frame["tcc_pct"].between(0.0, 100.0).all()
    assert frame[["t2m_c", "rh2m_pct", "wind10m_ms", "precip_mm"]].isna().all().all()


def test_shared_truncated_file_gives_no_result(samples: Path) -> None:
    with pytest.raises(GribError, match="arpege_05_hp1_truncated.grib2: message 7"):
        file_features(samples / "grib" / "arpege_05_hp1_truncated.grib2", "arpege", "05")


@pytest.mark.parametrize(
    "name", ["arpege_05_orography_jpeg.grib2", "arpege_05_700hpa_simple.grib2"]
)
def test_shared_jpeg_and_simple_files_decode(samples: Path, name: str) -> None:
    path = samples / "grib" / name
    with open_messages(path) as handles:
        for index, _, _, handle in handles:
            values = decode_values(handle, path, index, read_grid(handle, path, index))
    assert values.shape == (720 * 361,)
    assert np.isfinite(values).all()
    assert file_features(path, "arpege", "05").empty  # neither is a weather feature
