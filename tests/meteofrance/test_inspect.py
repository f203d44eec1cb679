"""`python -m flows decode-grib FILE`: what an operator sees for good and bad files."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.__main__ import main
from flows.meteofrance.grib import scan_messages
from flows.meteofrance.inspect import decode_grib_cli, model_and_grid
from tests.conftest import ROOT
from tests.meteofrance import gribgen as gg

RUN = datetime(2026, 5, 11, tzinfo=UTC)
NAME = "arpege__01__SP1__000H012H__2026-05-11T00:00:00Z.grib2"


@pytest.fixture
def sp1(tmp_path: Path) -> Path:
    fields = {
        gg.T2M: gg.linear(288.15, 0.0, 0.0),
        gg.TCC: gg.linear(25.0, 0.0, 0.0),
        gg.TP: gg.linear(0.0, 0.0, 0.0, 1.0),
        gg.PRMSL: gg.linear(101_325.0, 0.0, 0.0),
    }
    return gg.run_file(tmp_path / NAME, gg.FRANCE_05, fields, RUN, range(0, 3), "grid_ccsds")


def test_prints_grid_run_steps_parameters_and_means(
    sp1: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["decode-grib", str(sp1)]) == 0
    out = capsys.readouterr().out

    assert "regular_ll 33x23 from 52N/-6E to 41N/10E" in out
    assert "2026-05-11T00:00Z" in out
    assert "0, 1, 2 (hours)" in out
    assert "0/0/0 heightAboveGround 2 instant" in out and "-> t2m" in out
    assert "0/6/1 surface 0 instant" in out and "unknown (local table: selected by keys)" in out
    assert "0/3/1 meanSea 0 instant" in out and "(not used)" in out
    assert "means at step 0h (valid 2026-05-11T00:00Z" in out
    france = next(line for line in out.splitlines() if "France" in line and "Île" not in line)
    assert "15.0" in france and "25.0" in france


def test_step_can_be_chosen(sp1: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert decode_grib_cli(str(sp1), step=2) == 0
    assert "means at step 2h (valid 2026-05-11T02:00Z" in capsys.readouterr().out


def test_bad_file_prints_the_flows_error(sp1: Path, capsys: pytest.CaptureFixture[str]) -> None:
    offset, length = scan_messages(sp1)[4]
    sp1.write_bytes(sp1.read_bytes()[: offset + length - 10])

    assert decode_grib_cli(str(sp1)) == 1
    captured = capsys.readouterr()
    assert f"error: {sp1}: message 5 at byte {offset}: truncated" in captured.err
    assert "means at" not in captured.out


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert decode_grib_cli(str(tmp_path / "nope.grib2")) == 2
    assert "no such file" in capsys.readouterr().err


def test_model_and_grid_from_the_publishers_name() -> None:
    assert model_and_grid(Path(NAME)) == ("arpege", "01")
    assert model_and_grid(Path("other.grib2")) == ("unknown", "unknown")


def test_command_line_on_the_shared_files(samples: Path) -> None:
    grib = samples / "grib"
    good = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows",
            "decode-grib",
            str(grib / "arome_0025_sp_tcdc_ccsds_bitmap.grib2"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert "unknown (local table: selected by keys)" in good.stdout
    assert "grid_ccsds, bitmap" in good.stdout and "-> tcc" in good.stdout

    bad = subprocess.run(
        [sys.executable, "-m", "flows", "decode-grib", str(grib / "arpege_05_hp1_truncated.grib2")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "arpege_05_hp1_truncated.grib2: message 7" in bad.stderr
    assert "truncated" in bad.stderr
