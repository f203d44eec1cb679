"""Weather features from GRIB2 files: one eccodes pass per file, regional series per valid time.

Fields are chosen by GRIB2 keys (discipline, category, number, level type, level, step type),
never by shortName: Météo-France local tables make eccodes call some fields ``unknown``.
Only the selected messages are unpacked; their values are read at the weather points
(flows/meteofrance/points.py) and reduced to 13 regional and one national series.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import eccodes
import numpy as np
import pandas as pd

from flows.errors import GribError
from flows.meteofrance.grib import (
    RH2M,
    SSRD,
    T2M,
    TCC,
    TCC_ATMOSPHERE,
    TP,
    U10,
    V10,
    WS10,
    Grid,
    ParamKey,
    check_same_grid,
    open_messages,
    read_grid,
    read_message_info,
    read_param_key,
)
from flows.meteofrance.points import (
    AREA_CODES,
    AREA_NAMES,
    CITIES,
    PointWeights,
    area_means,
    bilinear,
    gather,
    point_weights,
)

# The field each GRIB2 key feeds. Several keys may feed one field; the first present wins.
FIELDS: dict[ParamKey, str] = {
    T2M: "t2m",
    RH2M: "rh2m",
    U10: "u10",
    V10: "v10",
    WS10: "ws10",
    SSRD: "ssrd",
    TCC: "tcc",
    TCC_ATMOSPHERE: "tcc",
    TP: "tp",
}

_NUMBERS = frozenset(key[:3] for key in FIELDS)

VARIABLES = ("t2m_c", "rh2m_pct", "wind10m_ms", "ssrd_wh_m2", "tcc_pct", "precip_mm")
ACCUMULATED = ("ssrd_wh_m2", "precip_mm")
COLUMNS = (
    "model",
    "grid",
    "run_time",
    "valid_time",
    "step_hours",
    "code_insee_region",
    "region",
    *VARIABLES,
)
_KEYS = ["run_time", "valid_time", "code_insee_region"]
# Far from any physical value: bitmap-masked points are decoded as this, then set to NaN.
_MISSING = 1.0e20
PARIS = "Europe/Paris"


# --- one file ---------------------------------------------------------------------------


def file_features(path: Path, model: str, grid: str) -> pd.DataFrame:
    """Decode one GRIB2 file in one eccodes pass into regional series (accumulations as stored)."""
    path = Path(path)
    slots: dict[tuple[datetime, datetime], dict[str, np.ndarray]] = {}
    file_grid: Grid | None = None
    weights: PointWeights | None = None
    with open_messages(path) as handles:
        for index, offset, length, handle in handles:
            key = read_param_key(handle, path, index, only=_NUMBERS)
            field = FIELDS.get(key) if key else None
            if field is None:
                continue  # neither unpacked nor checked further: validate_grib's job
            info = read_message_info(handle, path, index, offset, length, key=key)
            file_grid = check_same_grid(path, index, read_grid(handle, path, index), file_grid)
            weights = weights or _weights(path, file_grid)
            slot = slots.setdefault((info.run_time, info.valid_time), {})
            if field in slot:
                raise GribError(
                    f"{path}: message {index}: a second {info.key} field valid at "
                    f"{info.valid_time:%Y-%m-%dT%H:%MZ}"
                )
            values = decode_values(handle, path, index, file_grid)
            slot[field] = gather(values, weights)
    if weights is None:
        return _empty()
    return _frame(slots, weights, model, grid)


def _weights(path: Path, grid: Grid) -> PointWeights:
    try:
        return point_weights(grid)
    except GribError as exc:
        raise GribError(f"{path}: {exc}") from exc


def decode_values(handle: Any, path: Path, index: int, grid: Grid) -> np.ndarray:
    """A message's values as float64, bitmap-masked points as NaN."""
    try:
        bitmap = eccodes.codes_get_long(handle, "bitmapPresent")
        if bitmap:
            eccodes.codes_set_double(handle, "missingValue", _MISSING)
        values = eccodes.codes_get_values(handle)
    except eccodes.GribInternalError as exc:
        raise GribError(f"{path}: message {index}: cannot decode values: {exc}") from exc
    if values.size != grid.ni * grid.nj:
        raise GribError(
            f"{path}: message {index}: {values.size} values for a {grid.ni}x{grid.nj} grid"
        )
    if bitmap:
        values[values == _MISSING] = np.nan
    return values


def _frame(
    slots: dict[tuple[datetime, datetime], dict[str, np.ndarray]],
    weights: PointWeights,
    model: str,
    grid: str,
) -> pd.DataFrame:
    times = sorted(slots)
    blank = np.full((len(CITIES), 4), np.nan)

    def points(name: str) -> np.ndarray:
        return bilinear(np.stack([slots[t].get(name, blank) for t in times]), weights)

    def wind(slot: dict[str, np.ndarray]) -> np.ndarray:
        if "ws10" in slot:
            return slot["ws10"]
        if "u10" in slot and "v10" in slot:
            # Speed at the neighbours, then interpolated: the speed of interpolated
            # components would be too low where the wind turns.
            return np.hypot(slot["u10"], slot["v10"])
        return blank

    at_points = {
        "t2m_c": points("t2m") - 273.15,
        "rh2m_pct": points("rh2m"),
        "wind10m_ms": bilinear(np.stack([wind(slots[t]) for t in times]), weights),
        "ssrd_wh_m2": points("ssrd") / 3600.0,
        "tcc_pct": points("tcc"),
        "precip_mm": points("tp"),
    }
    areas = len(AREA_CODES)
    run_times = pd.DatetimeIndex([t[0] for t in times]).as_unit("us")
    valid_times = pd.DatetimeIndex([t[1] for t in times]).as_unit("us")
    frame = pd.DataFrame(
        {
            "model": pd.Series([model] * len(times) * areas, dtype="str"),
            "grid": pd.Series([grid] * len(times) * areas, dtype="str"),
            "run_time": run_times.repeat(areas),
            "valid_time": valid_times.repeat(areas),
            "step_hours": ((valid_times - run_times) / pd.Timedelta(hours=1)).repeat(areas),
            "code_insee_region": np.tile(np.array(AREA_CODES, dtype="int64"), len(times)),
            "region": pd.Series(list(AREA_NAMES) * len(times), dtype="str"),
        }
    )
    for name, values in at_points.items():
        frame[name] = area_means(values).reshape(-1).astype("float64")
    return frame


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "model": pd.Series([], dtype="str"),
            "grid": pd.Series([], dtype="str"),
            "run_time": pd.Series([], dtype="datetime64[us, UTC]"),
            "valid_time": pd.Series([], dtype="datetime64[us, UTC]"),
            "step_hours": pd.Series([], dtype="float64"),
            "code_insee_region": pd.Series([], dtype="int64"),
            "region": pd.Series([], dtype="str"),
        }
    )
    for name in VARIABLES:
        frame[name] = pd.Series([], dtype="float64")
    return frame


# --- one run ----------------------------------------------------------------------------


def run_features(
    paths: list[Path],
    model: str,
    grid: str,
    workers: int = 2,
    executor: Executor | None = None,
    max_gap_hours: float = 3.0,
) -> pd.DataFrame:
    """All files of one run decoded in parallel, merged, accumulations made per-step amounts.

    ``executor`` is any concurrent.futures Executor (a Dask ``Client.get_executor()`` works);
    by default a process pool of ``workers`` (threads do not speed up CCSDS decoding).
    """
    paths = [Path(p) for p in paths]
    frames = list(_map_files(paths, model, grid, workers, executor))
    runs = sorted({t for f in frames for t in f["run_time"].unique()})
    if len(runs) > 1:
        raise GribError(f"files of several runs given to one run's decode: {runs}")
    return deaccumulate(merge_files(frames), max_gap_hours=max_gap_hours)


def _map_files(
    paths: list[Path], model: str, grid: str, workers: int, executor: Executor | None
) -> Iterable[pd.DataFrame]:
    args = (paths, repeat(model), repeat(grid))
    if executor is not None:
        return executor.map(file_features, *args)
    if workers <= 1 or len(paths) <= 1:
        return map(file_features, *args)
    with ProcessPoolExecutor(min(workers, len(paths)), mp_context=_mp_context()) as pool:
        return list(pool.map(file_features, *args))


def _mp_context() -> multiprocessing.context.BaseContext:
    """How pool workers start: a plain fork when it is safe, else from a fork server."""
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    # Forking a process that runs other threads (Prefect's) can deadlock on their locks; a
    # fork server is clean, and preloading this module spares each worker the imports.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def merge_files(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per (run, valid time, area), taking each variable from the file that has it."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return _empty()
    merged = pd.concat(frames, ignore_index=True).groupby(_KEYS, sort=True, as_index=False).first()
    return merged[list(COLUMNS)]


def deaccumulate(frame: pd.DataFrame, max_gap_hours: float = 3.0) -> pd.DataFrame:
    """Accumulations since the run start → amounts over the step ending at each valid time.

    The first step is an amount only when the run includes step 0 (the start, where
    accumulations are zero and absent); an amount over a gap longer than ``max_gap_hours``
    (a missing file) is NaN rather than a misleading multi-hour total.
    """
    out = frame.sort_values(_KEYS, ignore_index=True)
    starts = out.groupby("run_time")["step_hours"].transform("min") == 0
    for name in ACCUMULATED:
        have = out[name].notna()
        part = out.loc[have, ["run_time", "code_insee_region", "step_hours", name]]
        groups = part.groupby(["run_time", "code_insee_region"])
        prev_value = groups[name].shift(1)
        prev_step = groups["step_hours"].shift(1)
        first = prev_step.isna()
        prev_value = prev_value.where(~first, 0.0)
        prev_step = prev_step.where(~first, 0.0)
        amount = (part[name] - prev_value).clip(lower=0.0)
        bad = (part["step_hours"] - prev_step > max_gap_hours) | (first & ~starts[have])
        out.loc[have, name] = amount.where(~bad)
    return out.reset_index(drop=True)


# --- daily temperature ------------------------------------------------------------------


def daily_temperature(hourly: pd.DataFrame, max_gap_hours: float = 3.0) -> pd.DataFrame:
    """Daily min/max/mean 2 m temperature per area and local (Europe/Paris) day, full days only.

    A day is full when its values are at most ``max_gap_hours`` apart and reach both ends of
    the local day (within that spacing). ``tmoy`` is (tmin + tmax) / 2, as in the observed
    regional table.
    """
    group = ["model", "grid", "run_time", "code_insee_region", "region", "date"]
    data = hourly.loc[hourly["t2m_c"].notna(), [*group[:-1], "valid_time", "t2m_c"]].copy()
    if data["valid_time"].dt.tz is None:  # read back from a warehouse: naive UTC
        data["valid_time"] = data["valid_time"].dt.tz_localize("UTC")
    data["date"] = data["valid_time"].dt.tz_convert(PARIS).dt.date
    data = data.sort_values([*group, "valid_time"])
    data["gap"] = data.groupby(group)["valid_time"].diff()
    days = data.groupby(group, as_index=False).agg(
        tmin=("t2m_c", "min"),
        tmax=("t2m_c", "max"),
        first=("valid_time", "min"),
        last=("valid_time", "max"),
        spacing=("gap", "max"),
    )
    day_start = pd.to_datetime(days["date"]).dt.tz_localize(PARIS).dt.tz_convert("UTC")
    day_end = (
        (pd.to_datetime(days["date"]) + pd.Timedelta(days=1))
        .dt.tz_localize(PARIS)
        .dt.tz_convert("UTC")
    )
    spacing = days["spacing"]
    full = (
        spacing.notna()
        & (spacing <= pd.Timedelta(hours=max_gap_hours))
        & (days["first"] - day_start < spacing)
        & (day_end - days["last"] <= spacing)
    )
    days = days.loc[full].copy()
    days["tmoy"] = (days["tmin"] + days["tmax"]) / 2.0
    columns = ["date", "code_insee_region", "region", "tmin", "tmax", "tmoy"]
    return days[[*columns, "model", "grid", "run_time"]].sort_values(
        ["run_time", "date", "code_insee_region"], ignore_index=True
    )
