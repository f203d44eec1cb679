"""The lake side of weather: raw GRIB archive per product run, curated features per model run.

Raw:     raw/meteofrance/<model>/<grid>/<package>/run=YYYY-MM-DDTHHZ/<original file name>
Curated: curated/weather/<model>/<grid>/run=YYYY-MM-DDTHHZ/{features,temperature_daily}.parquet

Curated objects are written only once every file of the run decoded, daily temperatures
first and features last, each atomically; a run counts as curated when both exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from flows.errors import ArchiveError
from flows.lake import Lake, run_label, run_segment
from flows.meteofrance.catalogue import ModelGrid, Product, run_prefix

FEATURES = "features.parquet"
TEMPERATURE_DAILY = "temperature_daily.parquet"
CURATED_ROOT = "curated/weather/"


def raw_files(lake: Lake, product: Product, run_time: datetime) -> dict[str, str]:
    """File name -> lake key of the raw GRIB files the lake holds for one product run."""
    prefix = run_prefix(product, run_time)
    return {
        key[len(prefix) :]: key
        for key in lake.list(prefix)
        if key.endswith(".grib2") and "/" not in key[len(prefix) :]
    }


def curated_prefix(model_grid: ModelGrid, run_time: datetime) -> str:
    """The lake folder of one model run's curated outputs."""
    return f"{CURATED_ROOT}{model_grid.model}/{model_grid.grid}/{run_segment(run_time)}/"


def curated_keys(model_grid: ModelGrid, run_time: datetime) -> tuple[str, str]:
    """(features key, daily temperature key) of one model run."""
    prefix = curated_prefix(model_grid, run_time)
    return prefix + FEATURES, prefix + TEMPERATURE_DAILY


def curated_present(lake: Lake, model_grid: ModelGrid, run_time: datetime) -> bool:
    """Whether both curated objects of a model run exist."""
    return all(lake.exists(key) for key in curated_keys(model_grid, run_time))


def write_curated(
    lake: Lake,
    model_grid: ModelGrid,
    run_time: datetime,
    features: pd.DataFrame,
    daily: pd.DataFrame,
    ingested_at: datetime | None = None,
) -> tuple[str, str]:
    """Write a model run's features and daily temperatures; returns their keys."""
    # No full local day is possible with a short horizon: an empty daily table is legitimate.
    if features.empty:
        raise ArchiveError(
            f"{model_grid.key} run {run_label(run_time)}: refusing to write empty features"
        )
    stamp = pd.Timestamp(ingested_at or datetime.now(UTC)).tz_convert("UTC")
    features_key, daily_key = curated_keys(model_grid, run_time)
    # Daily first, features last: a crash in between leaves the run "not curated" (both needed).
    lake.write_parquet(daily_key, daily.assign(ingested_at=stamp))
    lake.write_parquet(features_key, features.assign(ingested_at=stamp))
    return features_key, daily_key


@contextmanager
def local_copies(lake: Lake, keys: list[str], workdir: Path) -> Iterator[list[Path]]:
    """Local paths of lake objects: the files themselves on a local lake, else downloads."""
    local = [lake.local_path(key) for key in keys]
    if all(path is not None for path in local):
        paths = [p for p in local if p is not None]
        missing = [k for k, p in zip(keys, paths, strict=True) if not p.is_file()]
        if missing:
            raise ArchiveError(f"lake objects missing: {missing}")
        yield paths
        return
    paths = [lake.download_file(key, workdir / Path(key).name) for key in keys]
    try:
        yield paths
    finally:
        for path in paths:
            path.unlink(missing_ok=True)
