"""Realistic GRIB2 files for the tests and the bench, written by eccodes from its own samples.

Fields are given as functions of (lat, lon) so tests can compute expected values by hand;
grids can be stored with 0-360 longitudes like Météo-France's, packed simple or CCSDS,
with or without a bitmap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import eccodes
import numpy as np

from flows.meteofrance.grib import ParamKey


@dataclass(frozen=True)
class GridSpec:
    """A regular lat/lon grid scanned north to south, west to east."""

    ni: int
    nj: int
    lat_first: float
    lon_first: float  # as stored: may be 0-360 (328 = -32)
    di: float
    dj: float

    @property
    def lat_last(self) -> float:
        return round(self.lat_first - (self.nj - 1) * self.dj, 6)

    @property
    def lon_last(self) -> float:
        return round((self.lon_first + (self.ni - 1) * self.di) % 360.0, 6)

    def latlon(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat latitude and longitude (-180..180) arrays in storage order."""
        lats = self.lat_first - self.dj * np.arange(self.nj)
        lons = (self.lon_first + self.di * np.arange(self.ni) + 180.0) % 360.0 - 180.0
        lat2, lon2 = np.meshgrid(lats, lons, indexing="ij")
        return lat2.ravel(), lon2.ravel()


# France and around, at 0.5°, stored 0-360 like ARPEGE: 41N..52N, 6W (354)..10E.
FRANCE_05 = GridSpec(ni=33, nj=23, lat_first=52.0, lon_first=354.0, di=0.5, dj=0.5)
# The real ARPEGE 0.1 EURAT01 grid: 741x521 from 72N/32W (stored 328).
ARPEGE_01 = GridSpec(ni=741, nj=521, lat_first=72.0, lon_first=328.0, di=0.1, dj=0.1)

# Keys of the fields (WMO code table 4.2), as the Météo-France files carry them.
T2M = ParamKey(0, 0, 0, "heightAboveGround", 2, "instant")
RH2M = ParamKey(0, 1, 1, "heightAboveGround", 2, "instant")
U10 = ParamKey(0, 2, 2, "heightAboveGround", 10, "instant")
V10 = ParamKey(0, 2, 3, "heightAboveGround", 10, "instant")
WS10 = ParamKey(0, 2, 1, "heightAboveGround", 10, "instant")
TCC = ParamKey(0, 6, 1, "surface", 0, "instant")
TP = ParamKey(0, 1, 8, "surface", 0, "accum")
SSRD = ParamKey(0, 4, 7, "surface", 0, "accum")
PRMSL = ParamKey(0, 3, 1, "meanSea", 0, "instant")
GUST = ParamKey(0, 2, 22, "heightAboveGround", 10, "max")
SNOW = ParamKey(0, 1, 29, "surface", 0, "accum")
UGUST = ParamKey(0, 2, 23, "heightAboveGround", 10, "max")
VGUST = ParamKey(0, 2, 24, "heightAboveGround", 10, "max")

Field = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def message(
    grid: GridSpec,
    key: ParamKey,
    run: datetime,
    step: int,
    values: np.ndarray,
    packing: str = "grid_simple",
    bits: int = 16,
    missing: np.ndarray | None = None,
) -> bytes:
    """One GRIB2 message; accumulations and maxima run from the run start to ``step``."""
    handle = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib2")
    try:
        for name, value in (
            ("centre", "lfpw"),
            ("dataDate", int(run.strftime("%Y%m%d"))),
            ("dataTime", int(run.strftime("%H%M"))),
            ("Ni", grid.ni),
            ("Nj", grid.nj),
            ("latitudeOfFirstGridPointInDegrees", grid.lat_first),
            ("longitudeOfFirstGridPointInDegrees", grid.lon_first),
            ("latitudeOfLastGridPointInDegrees", grid.lat_last),
            ("longitudeOfLastGridPointInDegrees", grid.lon_last),
            ("iDirectionIncrementInDegrees", grid.di),
            ("jDirectionIncrementInDegrees", grid.dj),
            ("discipline", key.discipline),
            ("parameterCategory", key.parameterCategory),
            ("parameterNumber", key.parameterNumber),
            ("typeOfLevel", key.typeOfLevel),
            ("level", key.level),
            ("stepUnits", 1),
        ):
            eccodes.codes_set(handle, name, value)
        if key.stepType == "instant":
            eccodes.codes_set(handle, "step", step)
        else:
            eccodes.codes_set(handle, "stepType", key.stepType)
            eccodes.codes_set(handle, "startStep", 0)
            eccodes.codes_set(handle, "endStep", step)
        eccodes.codes_set(handle, "packingType", packing)
        eccodes.codes_set(handle, "bitsPerValue", bits)
        data = np.asarray(values, dtype="float64").copy()
        if missing is not None:
            eccodes.codes_set(handle, "bitmapPresent", 1)
            eccodes.codes_set_double(handle, "missingValue", 9999.0)
            data[missing] = 9999.0
        eccodes.codes_set_values(handle, data)
        return eccodes.codes_get_message(handle)
    finally:
        eccodes.codes_release(handle)


def write(path: Path, messages: Iterable[bytes]) -> Path:
    """Concatenate messages into a file, as the publisher serves them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        for msg in messages:
            fh.write(msg)
    return path


def run_file(
    path: Path,
    grid: GridSpec,
    fields: dict[ParamKey, Field],
    run: datetime,
    steps: Iterable[int],
    packing: str = "grid_simple",
    bits: int = 16,
    missing: np.ndarray | None = None,
) -> Path:
    """A group file: every field at every step, accumulations and maxima absent at step 0."""
    lat, lon = grid.latlon()
    messages = []
    for step in steps:
        for key, field in fields.items():
            if key.stepType != "instant" and step == 0:
                continue
            values = np.broadcast_to(field(lat, lon, step), lat.shape)
            messages.append(message(grid, key, run, step, values, packing, bits, missing))
    return write(path, messages)


def linear(a: float, b_lat: float, c_lon: float, d_step: float = 0.0) -> Field:
    """a + b·lat + c·lon + d·step: bilinear interpolation of it is exact."""
    return lambda lat, lon, step: a + b_lat * lat + c_lon * lon + d_step * step


def valid(run: datetime, step: int) -> datetime:
    return run + timedelta(hours=step)
