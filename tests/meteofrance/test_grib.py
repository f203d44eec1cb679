"""GRIB2 structure and content checks: what the download step trusts before archiving."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from flows.errors import GribError
from flows.meteofrance.grib import (
    ExpectedContent,
    Grid,
    ParamKey,
    open_messages,
    scan_messages,
    validate_grib,
)
from tests.meteofrance import gribgen as gg

RUN = datetime(2026, 5, 11, tzinfo=UTC)
FIELDS = {
    gg.T2M: gg.linear(280.0, 0.1, 0.2),
    gg.RH2M: gg.linear(70.0, 0.0, 0.0),
    gg.TP: gg.linear(0.0, 0.0, 0.0, 0.5),
}


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return gg.run_file(tmp_path / "good.grib2", gg.FRANCE_05, FIELDS, RUN, range(0, 4))


def expected(steps=range(0, 4), params=tuple(FIELDS), grid: Grid | None = None) -> ExpectedContent:
    return ExpectedContent(
        steps=frozenset(float(s) for s in steps),
        params=frozenset(params),
        per_step_optional=frozenset({gg.TP}),
        grid=grid,
    )


def france_grid() -> Grid:
    g = gg.FRANCE_05
    return Grid(g.ni, g.nj, g.lat_first, -6.0, g.lat_last, 10.0, g.di, g.dj)


def test_inventory_of_a_good_file(good: Path) -> None:
    inv = validate_grib(good, expected(grid=france_grid()))

    assert inv.grid == france_grid()  # 354 stored, -6 reported
    assert inv.run_time == RUN
    assert inv.steps == [0.0, 1.0, 2.0, 3.0]
    assert inv.params == [gg.T2M, gg.RH2M, gg.TP]
    assert len(inv.messages) == 3 * 4 - 1  # no accumulation at step 0
    tp = [m for m in inv.messages if m.key == gg.TP]
    assert [m.step_hours for m in tp] == [1.0, 2.0, 3.0]
    assert sum(m.length for m in inv.messages) == good.stat().st_size


def test_names_are_read_on_demand(good: Path) -> None:
    inv = validate_grib(good, names=True)
    names = {m.key: m.short_name for m in inv.messages}
    assert names[gg.T2M] == "2t"
    assert validate_grib(good).messages[0].short_name == ""


def test_ccsds_with_bitmap_validates(tmp_path: Path) -> None:
    lat, _ = gg.FRANCE_05.latlon()
    path = gg.run_file(
        tmp_path / "c.grib2",
        gg.FRANCE_05,
        {gg.TCC: gg.linear(50.0, 0.0, 0.0)},
        RUN,
        [1],
        packing="grid_ccsds",
        missing=lat > 50.0,
    )
    (msg,) = validate_grib(path).messages
    assert (msg.packing, msg.bitmap) == ("grid_ccsds", True)


def test_file_cut_mid_message_is_rejected(good: Path) -> None:
    data = good.read_bytes()
    spans = scan_messages(good)
    offset, length = spans[5]
    good.write_bytes(data[: offset + length // 2])

    with pytest.raises(GribError, match=r"good\.grib2: message 6 .* truncated"):
        validate_grib(good)


def test_trailing_garbage_is_rejected(good: Path) -> None:
    with good.open("ab") as fh:
        fh.write(b"<html>not found</html>")
    with pytest.raises(GribError, match="trailing bytes"):
        validate_grib(good)


def test_missing_end_marker_is_rejected(good: Path) -> None:
    data = bytearray(good.read_bytes())
    offset, length = scan_messages(good)[0]
    data[offset + length - 4 : offset + length] = b"6666"
    good.write_bytes(bytes(data))
    with pytest.raises(GribError, match="message 1 .*7777"):
        validate_grib(good)


def test_corrupt_section_length_is_rejected(good: Path) -> None:
    data = bytearray(good.read_bytes())
    data[16:20] = (10**6).to_bytes(4, "big")  # section 1 longer than the message
    good.write_bytes(bytes(data))
    with pytest.raises(GribError, match="message 1 .*corrupt section 1"):
        validate_grib(good)


def test_multi_field_message_is_rejected(tmp_path: Path) -> None:
    msg = gg.message(gg.FRANCE_05, gg.T2M, RUN, 0, np.full(33 * 23, 280.0))
    sections, pos = [], 16
    while pos < len(msg) - 4:
        length, number = int.from_bytes(msg[pos : pos + 4], "big"), msg[pos + 4]
        sections.append((number, msg[pos : pos + length]))
        pos += length
    fields = b"".join(body for number, body in sections if number >= 4)
    body = b"".join(body for _, body in sections) + fields  # sections 4-7 twice
    total = 16 + len(body) + 4
    path = tmp_path / "multi.grib2"
    path.write_bytes(msg[:8] + total.to_bytes(8, "big") + body + b"7777")
    with pytest.raises(GribError, match="2 data sections; one field per message"):
        validate_grib(path)


def test_empty_and_non_grib_files_are_rejected(tmp_path: Path) -> None:
    empty = tmp_path / "empty.grib2"
    empty.write_bytes(b"")
    with pytest.raises(GribError, match="empty file"):
        validate_grib(empty)
    html = tmp_path / "page.grib2"
    html.write_bytes(b"<?xml version='1.0'?><Error>NoSuchKey</Error>")
    with pytest.raises(GribError, match="no GRIB header"):
        validate_grib(html)


def test_missing_step_is_named(good: Path) -> None:
    with pytest.raises(GribError, match=r"missing steps 4h, 5h"):
        validate_grib(good, expected(steps=range(0, 6)))


def test_unexpected_parameter_set_is_named(good: Path) -> None:
    with pytest.raises(GribError) as err:
        validate_grib(good, expected(params=[*FIELDS, gg.U10]))
    assert str(err.value) == (
        f"{good}: missing parameters 10 m u-wind (u10) [0/2/2 heightAboveGround 10 instant]"
        " (the product no longer carries them: check the package at the source, and the"
        " expected parameters in flows/meteofrance/catalogue.py)"
    )


def test_field_missing_at_one_step_is_named(tmp_path: Path) -> None:
    gg.write(
        tmp_path / "holes.grib2",
        [
            gg.message(gg.FRANCE_05, gg.T2M, RUN, 0, np.full(33 * 23, 280.0)),
            gg.message(gg.FRANCE_05, gg.RH2M, RUN, 0, np.full(33 * 23, 70.0)),
            gg.message(gg.FRANCE_05, gg.T2M, RUN, 1, np.full(33 * 23, 280.0)),
        ],
    )
    with pytest.raises(
        GribError,
        match=r"2 m relative humidity \(r2\) \[0/1/1 heightAboveGround 2 instant\] at step 1h",
    ):
        validate_grib(tmp_path / "holes.grib2", expected(steps=[0, 1], params=[gg.T2M, gg.RH2M]))


def test_wrong_grid_is_named(tmp_path: Path) -> None:
    path = gg.run_file(tmp_path / "arome.grib2", gg.FRANCE_05, FIELDS, RUN, [0])
    arpege = Grid(741, 521, 72.0, -32.0, 20.0, 42.0, 0.1, 0.1)
    with pytest.raises(
        GribError, match=r"arome\.grib2: wrong grid regular_ll 33x23.*expected .*741x521"
    ):
        validate_grib(path, expected(steps=[0], grid=arpege))


def test_two_grids_in_one_file_are_rejected(tmp_path: Path) -> None:
    other = gg.GridSpec(ni=10, nj=10, lat_first=52.0, lon_first=354.0, di=1.0, dj=1.0)
    gg.write(
        tmp_path / "mixed.grib2",
        [
            gg.message(gg.FRANCE_05, gg.T2M, RUN, 0, np.full(33 * 23, 280.0)),
            gg.message(other, gg.T2M, RUN, 1, np.full(100, 280.0)),
        ],
    )
    with pytest.raises(GribError, match="message 2 is on another grid"):
        validate_grib(tmp_path / "mixed.grib2")


def test_eccodes_handles_follow_the_structure(good: Path) -> None:
    with open_messages(good) as handles:
        offsets = [offset for _, offset, _, _ in handles]
    assert offsets == [o for o, _ in scan_messages(good)]


# --- the shared real files --------------------------------------------------------------


def test_shared_truncated_arpege_file_is_rejected(samples: Path) -> None:
    path = samples / "grib" / "arpege_05_hp1_truncated.grib2"
    with pytest.raises(GribError, match=r"arpege_05_hp1_truncated\.grib2: message 7 .*truncated"):
        validate_grib(path)


def test_shared_arome_unknown_field_is_known_by_keys(samples: Path) -> None:
    inv = validate_grib(samples / "grib" / "arome_0025_sp_tcdc_ccsds_bitmap.grib2", names=True)
    (msg,) = inv.messages
    assert msg.key == ParamKey(0, 6, 1, "surface", 0, "instant")
    assert msg.is_unknown
    assert (msg.packing, msg.bitmap) == ("grid_ccsds", True)
    assert inv.grid == Grid(1121, 717, 55.4, -12.0, 37.5, 16.0, 0.025, 0.025)
    assert inv.run_time == datetime(2026, 4, 13, 21, tzinfo=UTC)
    assert inv.steps == [1.0]


@pytest.mark.parametrize(
    ("name", "packing", "key"),
    [
        ("arpege_05_orography_jpeg.grib2", "grid_jpeg", ParamKey(2, 0, 7, "surface", 0, "instant")),
        (
            "arpege_05_700hpa_simple.grib2",
            "grid_simple",
            ParamKey(0, 6, 22, "isobaricInhPa", 700, "instant"),
        ),
    ],
)
def test_shared_jpeg_and_simple_files_validate(samples: Path, name: str, packing: str, key) -> None:
    inv = validate_grib(samples / "grib" / name)
    (msg,) = inv.messages
    assert (msg.packing, msg.key) == (packing, key)
    assert (inv.grid.ni, inv.grid.nj, inv.grid.lon_first, inv.grid.lon_last) == (
        720,
        361,
        0.0,
        -0.5,
    )
