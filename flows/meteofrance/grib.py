"""GRIB2 files as the flow sees them: structure checks, key-based inventory, one grid per file.

A downloaded file is trusted only after two checks: a byte-level walk over every message
(``GRIB`` header, edition 2, section lengths adding up to the total length, ``7777`` end
marker, nothing after the last message), then eccodes reading every message's keys. Anything
wrong raises :class:`GribError` naming the file, the message and what is wrong.
"""

from __future__ import annotations

import struct
from collections.abc import Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, NamedTuple

import eccodes

from flows.errors import GribError

# Section 0 of a GRIB2 message: "GRIB", 2 reserved bytes, discipline, edition, 8-byte length.
_SECTION0 = struct.Struct(">4s2xBBQ")
_END = b"7777"


class ParamKey(NamedTuple):
    """What a field is, by GRIB2 keys (shortName is unreliable with Météo-France local tables)."""

    discipline: int
    parameterCategory: int
    parameterNumber: int
    typeOfLevel: str
    level: int
    stepType: str

    def __str__(self) -> str:
        return (
            f"{self.discipline}/{self.parameterCategory}/{self.parameterNumber} "
            f"{self.typeOfLevel} {self.level} {self.stepType}"
        )


# The fields we read, by GRIB2 keys as ARPEGE and AROME SP1/SP2 files carry them (WMO code
# table 4.2): the download's validation and the feature decoder name the same keys.
T2M = ParamKey(0, 0, 0, "heightAboveGround", 2, "instant")  # temperature, K
RH2M = ParamKey(0, 1, 1, "heightAboveGround", 2, "instant")  # relative humidity, %
U10 = ParamKey(0, 2, 2, "heightAboveGround", 10, "instant")  # u-component of wind, m/s
V10 = ParamKey(0, 2, 3, "heightAboveGround", 10, "instant")  # v-component of wind, m/s
WS10 = ParamKey(0, 2, 1, "heightAboveGround", 10, "instant")  # wind speed, m/s
SSRD = ParamKey(0, 4, 7, "surface", 0, "accum")  # downward short-wave radiation, J/m2
TCC = ParamKey(0, 6, 1, "surface", 0, "instant")  # total cloud cover, %
TCC_ATMOSPHERE = ParamKey(0, 6, 1, "entireAtmosphere", 0, "instant")  # the same, other level
TP = ParamKey(0, 1, 8, "surface", 0, "accum")  # total precipitation, kg/m2 = mm

# The names a missing parameter is reported by (eccodes' shortName where it has one).
PARAM_NAMES: dict[ParamKey, str] = {
    T2M: "2 m temperature (t2m)",
    RH2M: "2 m relative humidity (r2)",
    U10: "10 m u-wind (u10)",
    V10: "10 m v-wind (v10)",
    WS10: "10 m wind speed (si10)",
    SSRD: "surface short-wave radiation (ssrd)",
    TCC: "total cloud cover (tcc)",
    TCC_ATMOSPHERE: "total cloud cover, whole atmosphere (tcc)",
    TP: "total precipitation (tp)",
}


def param_label(key: ParamKey) -> str:
    """A parameter by name and GRIB2 keys, e.g. `10 m u-wind (u10) [0/2/2 heightAboveGround
    10 instant]`; by keys alone when we have no name for it."""
    name = PARAM_NAMES.get(key)
    return f"{name} [{key}]" if name else str(key)


@dataclass(frozen=True)
class Grid:
    """A regular lat/lon grid; longitudes normalised to -180..180, values stored row by row."""

    ni: int
    nj: int
    lat_first: float
    lon_first: float
    lat_last: float
    lon_last: float
    di: float
    dj: float
    j_scans_positively: bool = False

    def __str__(self) -> str:
        return (
            f"regular_ll {self.ni}x{self.nj} from {self.lat_first:g}N/{self.lon_first:g}E "
            f"to {self.lat_last:g}N/{self.lon_last:g}E step {self.di:g}x{self.dj:g}"
        )

    @property
    def is_global_in_lon(self) -> bool:
        return abs(self.ni * self.di - 360.0) < 1e-6


@dataclass(frozen=True)
class MessageInfo:
    """One message: where it is, what it holds, when it is valid."""

    index: int  # 1-based position in the file
    offset: int
    length: int
    key: ParamKey
    run_time: datetime  # UTC, tz-aware
    valid_time: datetime  # UTC, tz-aware (end of the interval for accumulations)
    packing: str
    bitmap: bool
    # eccodes' names cost more to look up than the rest together: read only on demand.
    short_name: str = ""
    name: str = ""
    units: str = ""

    @property
    def step_hours(self) -> float:
        return (self.valid_time - self.run_time) / timedelta(hours=1)

    @property
    def is_unknown(self) -> bool:
        return self.short_name == "unknown"


@dataclass(frozen=True)
class GribInventory:
    """What a validated file holds: its grid, run(s), steps and one entry per message."""

    path: Path
    grid: Grid
    messages: tuple[MessageInfo, ...]

    @property
    def run_times(self) -> list[datetime]:
        return sorted({m.run_time for m in self.messages})

    @property
    def run_time(self) -> datetime:
        """The file's run; a file mixing runs has no single run."""
        runs = self.run_times
        if len(runs) != 1:
            raise GribError(f"{self.path}: {len(runs)} runs in one file: {runs}")
        return runs[0]

    @property
    def steps(self) -> list[float]:
        return sorted({m.step_hours for m in self.messages})

    @property
    def params(self) -> list[ParamKey]:
        """Distinct parameter keys, in order of first appearance."""
        return list(dict.fromkeys(m.key for m in self.messages))

    def params_at(self, step: float) -> set[ParamKey]:
        return {m.key for m in self.messages if m.step_hours == step}


@dataclass(frozen=True)
class ExpectedContent:
    """What a file must hold to be accepted: steps (hours), parameters (keys), optionally a grid.

    A parameter listed in ``per_step_optional`` may be absent at some steps (accumulations are
    absent at step 0); every other expected parameter must be present at every expected step.
    """

    steps: frozenset[float] = field(default_factory=frozenset)
    params: frozenset[ParamKey] = field(default_factory=frozenset)
    per_step_optional: frozenset[ParamKey] = field(default_factory=frozenset)
    grid: Grid | None = None
    run_time: datetime | None = None


# --- byte-level structure ---------------------------------------------------------------


def scan_messages(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of every message, after checking each is complete; raises GribError."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise GribError(f"{path}: empty file")
    spans: list[tuple[int, int]] = []
    with path.open("rb") as fh:
        offset = 0
        while offset < size:
            spans.append((offset, _check_message(fh, path, offset, size, len(spans) + 1)))
            offset += spans[-1][1]
    return spans


def _check_message(fh: IO[bytes], path: Path, offset: int, size: int, index: int) -> int:
    where = f"{path}: message {index} at byte {offset}"
    fh.seek(offset)
    head = fh.read(_SECTION0.size)
    if len(head) < _SECTION0.size or head[:4] != b"GRIB":
        what = "trailing bytes" if index > 1 else "no GRIB header"
        raise GribError(f"{where}: {what} ({head[:4]!r} instead of b'GRIB'): not a GRIB2 message")
    _, _discipline, edition, total = _SECTION0.unpack(head)
    if edition != 2:
        raise GribError(f"{where}: GRIB edition {edition}, only GRIB2 is handled")
    end = offset + total
    if end > size:
        raise GribError(
            f"{where}: truncated, the message declares {total} bytes but the file ends "
            f"{size - offset} bytes after its start"
        )
    pos = offset + _SECTION0.size
    data_sections = 0
    while pos < end - len(_END):
        fh.seek(pos)
        sec = fh.read(5)
        length, number = struct.unpack(">IB", sec)
        if not 1 <= number <= 7 or length < 5 or pos + length > end - len(_END):
            raise GribError(
                f"{where}: corrupt section {number} at byte {pos} (length {length}) "
                f"inside a message of {total} bytes"
            )
        pos += length
        data_sections += number == 7
    if data_sections != 1:
        # eccodes reads only the first field of a multi-field message unless told otherwise:
        # refusing them keeps "one message, one field" true downstream.
        raise GribError(f"{where}: {data_sections} data sections; one field per message expected")
    fh.seek(end - len(_END))
    if pos != end - len(_END) or fh.read(4) != _END:
        raise GribError(f"{where}: sections do not end with '7777' at byte {end - 4}")
    return total


# --- keys -------------------------------------------------------------------------------


@contextmanager
def open_messages(path: Path) -> Iterator[Iterator[tuple[int, int, int, Any]]]:
    """Check a file's structure, then yield (index, offset, length, eccodes handle) per message.

    Handles are released after each iteration step; eccodes errors become GribError.
    """
    path = Path(path)
    spans = scan_messages(path)
    with path.open("rb") as fh:

        def handles() -> Iterator[tuple[int, int, int, Any]]:
            for index, (offset, length) in enumerate(spans, start=1):
                try:
                    handle = eccodes.codes_grib_new_from_file(fh)
                except eccodes.GribInternalError as exc:
                    raise GribError(
                        f"{path}: message {index}: eccodes cannot read it: {exc}"
                    ) from exc
                if handle is None:
                    raise GribError(f"{path}: message {index}: eccodes found no message there")
                try:
                    found = eccodes.codes_get_message_offset(handle)
                    if found != offset:
                        raise GribError(
                            f"{path}: message {index}: eccodes read it at byte {found}, "
                            f"the structure check at byte {offset}"
                        )
                    yield index, offset, length, handle
                finally:
                    eccodes.codes_release(handle)

        yield handles()


def _get(handle: Any, key: str, path: Path, index: int, kind: type = int) -> Any:
    try:
        if kind is int:
            return eccodes.codes_get_long(handle, key)
        if kind is float:
            return eccodes.codes_get_double(handle, key)
        return eccodes.codes_get_string(handle, key)
    except eccodes.GribInternalError as exc:
        raise GribError(f"{path}: message {index}: cannot decode key {key!r}: {exc}") from exc


def _when(day: int, hhmm: int) -> datetime:
    return datetime(day // 10000, day // 100 % 100, day % 100, hhmm // 100, hhmm % 100, tzinfo=UTC)


def read_param_key(
    handle: Any, path: Path, index: int, only: Container[tuple[int, int, int]] | None = None
) -> ParamKey | None:
    """The keys that say what a message holds; None if its parameter is not in ``only``.

    Level type and step type are eccodes concepts, slower to read than integers: messages
    whose (discipline, category, number) is not wanted are skipped before them.
    """
    if _get(handle, "edition", path, index) != 2:
        raise GribError(f"{path}: message {index}: not GRIB2")
    number = (
        _get(handle, "discipline", path, index),
        _get(handle, "parameterCategory", path, index),
        _get(handle, "parameterNumber", path, index),
    )
    if only is not None and number not in only:
        return None
    return ParamKey(
        *number,
        _get(handle, "typeOfLevel", path, index, str),
        _get(handle, "level", path, index),
        _get(handle, "stepType", path, index, str),
    )


def read_message_info(
    handle: Any,
    path: Path,
    index: int,
    offset: int,
    length: int,
    names: bool = False,
    key: ParamKey | None = None,
) -> MessageInfo:
    """Keys of one message (and eccodes' names if asked); GribError when a key does not decode."""
    key = key or read_param_key(handle, path, index)
    assert key is not None  # no filter given
    named = {k: _get(handle, g, path, index, str) for k, g in _NAMES.items()} if names else {}
    return MessageInfo(
        index=index,
        offset=offset,
        length=length,
        key=key,
        run_time=_when(
            _get(handle, "dataDate", path, index), _get(handle, "dataTime", path, index)
        ),
        valid_time=_when(
            _get(handle, "validityDate", path, index), _get(handle, "validityTime", path, index)
        ),
        packing=_get(handle, "packingType", path, index, str),
        bitmap=bool(_get(handle, "bitmapPresent", path, index)),
        **named,
    )


_NAMES = {"short_name": "shortName", "name": "name", "units": "units"}


def _lon180(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def read_grid(handle: Any, path: Path, index: int) -> Grid:
    """The grid of one message; only regular lat/lon grids scanned west to east are handled."""
    grid_type = _get(handle, "gridType", path, index, str)
    if grid_type != "regular_ll":
        raise GribError(f"{path}: message {index}: grid type {grid_type!r}, expected regular_ll")
    if _get(handle, "iScansNegatively", path, index) or _get(
        handle, "jPointsAreConsecutive", path, index
    ):
        raise GribError(f"{path}: message {index}: unsupported scanning mode")
    return Grid(
        ni=_get(handle, "Ni", path, index),
        nj=_get(handle, "Nj", path, index),
        lat_first=_get(handle, "latitudeOfFirstGridPointInDegrees", path, index, float),
        lon_first=_lon180(_get(handle, "longitudeOfFirstGridPointInDegrees", path, index, float)),
        lat_last=_get(handle, "latitudeOfLastGridPointInDegrees", path, index, float),
        lon_last=_lon180(_get(handle, "longitudeOfLastGridPointInDegrees", path, index, float)),
        di=_get(handle, "iDirectionIncrementInDegrees", path, index, float),
        dj=_get(handle, "jDirectionIncrementInDegrees", path, index, float),
        j_scans_positively=bool(_get(handle, "jScansPositively", path, index)),
    )


def check_same_grid(path: Path, index: int, grid: Grid, first: Grid | None) -> Grid:
    """The file's grid: the first message's; any other grid in the same file is an error."""
    if first is not None and grid != first:
        raise GribError(
            f"{path}: message {index} is on another grid ({grid}) than message 1 ({first}); "
            "one grid per file is expected"
        )
    return grid


# --- validation -------------------------------------------------------------------------


def validate_grib(
    path: Path, expected: ExpectedContent | None = None, *, names: bool = False
) -> GribInventory:
    """Check every message is complete and decodable, one grid, and the expected content.

    ``names`` also reads eccodes' shortName/name/units (slow; for display).
    """
    path = Path(path)
    messages: list[MessageInfo] = []
    grid: Grid | None = None
    with open_messages(path) as handles:
        for index, offset, length, handle in handles:
            messages.append(read_message_info(handle, path, index, offset, length, names))
            grid = check_same_grid(path, index, read_grid(handle, path, index), grid)
    assert grid is not None  # scan_messages rejects empty files
    inventory = GribInventory(path=path, grid=grid, messages=tuple(messages))
    if expected is not None:
        check_expected(inventory, expected)
    return inventory


def check_expected(inventory: GribInventory, expected: ExpectedContent) -> None:
    """Raise GribError listing what the file lacks against what was expected."""
    path = inventory.path
    if expected.grid is not None and not same_grid(inventory.grid, expected.grid):
        raise GribError(f"{path}: wrong grid {inventory.grid}, expected {expected.grid}")
    if expected.run_time is not None and inventory.run_times != [expected.run_time]:
        raise GribError(
            f"{path}: run {_fmt_times(inventory.run_times)}, expected {expected.run_time:%Y-%m-%dT%H:%MZ}"
        )
    missing_steps = sorted(set(expected.steps) - set(inventory.steps))
    if missing_steps:
        raise GribError(
            f"{path}: missing steps {_fmt_steps(missing_steps)} (has {_fmt_steps(inventory.steps)})"
        )
    missing = sorted(set(expected.params) - set(inventory.params))
    if missing:
        raise GribError(
            f"{path}: missing parameters {', '.join(map(param_label, missing))} (the product"
            " no longer carries them: check the package at the source, and the expected"
            " parameters in flows/meteofrance/catalogue.py)"
        )
    holes = []
    for step in sorted(expected.steps):
        lacking = set(expected.params) - set(expected.per_step_optional) - inventory.params_at(step)
        holes += [f"{param_label(k)} at step {step:g}h" for k in sorted(lacking)]
    if holes:
        raise GribError(f"{path}: missing fields: {'; '.join(holes)}")


def same_grid(a: Grid, b: Grid, tol: float = 1e-6) -> bool:
    """Equal grids, up to the rounding of degrees in the GRIB keys."""
    floats = ("lat_first", "lon_first", "lat_last", "lon_last", "di", "dj")
    return (a.ni, a.nj, a.j_scans_positively) == (b.ni, b.nj, b.j_scans_positively) and all(
        abs(getattr(a, f) - getattr(b, f)) <= tol for f in floats
    )


def _fmt_steps(steps: list[float]) -> str:
    return ", ".join(f"{s:g}h" for s in steps) or "none"


def _fmt_times(times: list[datetime]) -> str:
    return ", ".join(f"{t:%Y-%m-%dT%H:%MZ}" for t in times) or "none"
