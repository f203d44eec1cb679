"""The weather lake layout: raw run folders, curated objects, local copies for decoding."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from flows.errors import ArchiveError
from flows.lake import LocalLake
from flows.meteofrance.archive import (
    curated_keys,
    curated_present,
    local_copies,
    raw_files,
    write_curated,
)
from flows.meteofrance.catalogue import MODEL_GRIDS, Product

RUN = datetime(2026, 11, 20, tzinfo=UTC)
ARPEGE = MODEL_GRIDS["arpege/01"]


def _features() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["arpege"],
            "grid": ["01"],
            "run_time": [pd.Timestamp(RUN)],
            "valid_time": [pd.Timestamp(RUN)],
            "t2m_c": [11.5],
        }
    )


def test_raw_files_lists_one_run_folder_only(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    product = Product.parse("arpege/01/SP1/00")
    base = "raw/meteofrance/arpege/01/SP1/"
    lake.write_bytes(base + "run=2026-11-20T00Z/a__2026-11-20T00:00:00Z.grib2", b"GRIB")
    lake.write_bytes(base + "run=2026-11-20T00Z/notes.txt", b"x")
    lake.write_bytes(base + "run=2026-11-21T00Z/b.grib2", b"GRIB")
    assert raw_files(lake, product, RUN) == {
        "a__2026-11-20T00:00:00Z.grib2": base + "run=2026-11-20T00Z/a__2026-11-20T00:00:00Z.grib2"
    }


def test_curated_objects_follow_the_contract_and_count_only_when_both_exist(
    tmp_path: Path,
) -> None:
    lake = LocalLake(tmp_path)
    features_key, daily_key = curated_keys(ARPEGE, RUN)
    assert features_key == "curated/weather/arpege/01/run=2026-11-20T00Z/features.parquet"
    assert daily_key == "curated/weather/arpege/01/run=2026-11-20T00Z/temperature_daily.parquet"
    assert not curated_present(lake, ARPEGE, RUN)
    write_curated(lake, ARPEGE, RUN, _features(), _features().iloc[:0])
    assert curated_present(lake, ARPEGE, RUN)
    table = lake.read_parquet(features_key).to_pandas()
    assert table["t2m_c"].tolist() == [11.5] and "ingested_at" in table
    lake.delete(features_key)  # as a run killed between the two writes would leave it
    assert not curated_present(lake, ARPEGE, RUN)


def test_empty_features_are_refused_and_nothing_written(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    with pytest.raises(ArchiveError, match="arpege/01 run 2026-11-20T00Z: refusing to write empty"):
        write_curated(lake, ARPEGE, RUN, _features().iloc[:0], _features())
    assert lake.list("curated/") == []


def test_local_copies_use_the_lake_files_or_name_the_missing_key(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    lake.write_bytes("raw/x/a.grib2", b"GRIB")
    with local_copies(lake, ["raw/x/a.grib2"], tmp_path) as paths:
        assert paths[0].read_bytes() == b"GRIB"
    with (
        pytest.raises(ArchiveError, match="raw/x/b.grib2"),
        local_copies(lake, ["raw/x/b.grib2"], tmp_path),
    ):
        pass
