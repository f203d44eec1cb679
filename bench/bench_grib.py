"""GRIB decode bench: our decode-to-features against eccodes alone and the cfgrib/xarray path.

Generates (once, cached) files the size of one ARPEGE 0.1 SP1 run: 9 group files on the real
741x521 grid, CCSDS 16-bit packing, hourly steps, the SP1 parameter mix (about 126 messages
and 70 MB per 13-step file). Each method runs in its own process so peak memory is its own:

- floor: eccodes reads and unpacks every message, nothing else;
- ours: ``run_features`` (decode, points, regional means, de-accumulation);
- naive: cfgrib/xarray, one ``filter_by_keys`` open per level/step-type family, crop to
  France, values at the cities, regional means.

Run: ``.venv/bin/python bench/bench_grib.py [--groups N] [--workers N] [--cache DIR]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.meteofrance.grib import ParamKey  # noqa: E402
from tests.meteofrance import gribgen as gg  # noqa: E402

RUN = datetime(2026, 5, 11, tzinfo=UTC)
GROUPS = [(0, 12), (13, 24), (25, 36), (37, 48), (49, 60), (61, 72), (73, 84), (85, 96), (97, 102)]
# The ARPEGE SP1 mix: (key, mean, amplitude of the large-scale pattern).
SP1_MIX: list[tuple[ParamKey, float, float]] = [
    (gg.PRMSL, 101_300.0, 2_000.0),
    (gg.T2M, 283.0, 15.0),
    (gg.RH2M, 70.0, 25.0),
    (gg.U10, 0.0, 8.0),
    (gg.V10, 0.0, 8.0),
    (gg.TCC, 50.0, 50.0),
    (gg.UGUST, 0.0, 12.0),
    (gg.VGUST, 0.0, 12.0),
    (gg.TP, 0.2, 0.2),  # per hour, accumulated below
    (gg.SSRD, 400_000.0, 400_000.0),  # J/m2 per hour, accumulated below
]
# Noise that makes CCSDS compress like real fields (about 550 kB per 16-bit message).
NOISE = 0.004


def file_name(first: int, last: int) -> str:
    return f"arpege__01__SP1__{first:03d}H{last:03d}H__2026-05-11T00:00:00Z.grib2"


def generate(cache: Path, groups: int) -> list[Path]:
    """The run's group files, written once into the cache folder."""
    cache.mkdir(parents=True, exist_ok=True)
    grid = gg.ARPEGE_01
    lat, lon = grid.latlon()
    rng = np.random.default_rng(42)
    pattern = np.cos(np.radians(3 * lat)) * np.sin(np.radians(2 * lon))
    paths = []
    for first, last in GROUPS[:groups]:
        path = cache / file_name(first, last)
        paths.append(path)
        if path.exists():
            continue
        print(f"generating {path.name}", file=sys.stderr)
        tmp = path.with_suffix(".part")
        with tmp.open("wb") as fh:
            for step in range(first, last + 1):
                for key, mean, amp in SP1_MIX:
                    if key.stepType != "instant" and step == 0:
                        continue
                    noise = rng.normal(0.0, NOISE * amp, lat.shape)
                    values = mean + amp * np.roll(pattern, step * 7) + noise
                    if key.stepType == "accum":
                        values = np.abs(values) * step
                    fh.write(gg.message(grid, key, RUN, step, values, packing="grid_ccsds"))
        tmp.rename(path)
    return paths


# --- the three methods ------------------------------------------------------------------


def floor_file(path: Path) -> int:
    """eccodes unpacking every message of a file; returns the number of values."""
    import eccodes

    total = 0
    with path.open("rb") as fh:
        while (handle := eccodes.codes_grib_new_from_file(fh)) is not None:
            total += eccodes.codes_get_values(handle).size
            eccodes.codes_release(handle)
    return total


def run_floor(paths: list[Path], workers: int) -> dict:
    from concurrent.futures import ProcessPoolExecutor

    if workers <= 1:
        return {"values": sum(map(floor_file, paths))}
    with ProcessPoolExecutor(workers) as pool:
        return {"values": sum(pool.map(floor_file, paths))}


def run_ours(paths: list[Path], workers: int) -> dict:
    from flows.meteofrance.features import run_features

    frame = run_features(paths, "arpege", "01", workers=workers)
    national = frame[frame["code_insee_region"] == 0]
    return {"rows": len(frame), "t2m_c_mean": round(float(national["t2m_c"].mean()), 3)}


NAIVE_OPENS = [
    {"typeOfLevel": "heightAboveGround", "level": 2},
    {"typeOfLevel": "heightAboveGround", "level": 10, "stepType": "instant"},
    {"typeOfLevel": "surface", "stepType": "instant"},
    {"typeOfLevel": "surface", "stepType": "accum"},
]


def naive_file(path: Path) -> int:
    """cfgrib opens, crop to France, nearest values at the cities, regional means."""
    import xarray as xr

    from flows.meteofrance.points import CITIES, area_means

    lats = xr.DataArray([c.lat for c in CITIES], dims="city")
    lons = xr.DataArray([c.lon for c in CITIES], dims="city")
    count = 0
    for keys in NAIVE_OPENS:
        ds = xr.open_dataset(
            path,
            engine="cfgrib",
            backend_kwargs={"filter_by_keys": keys, "indexpath": ""},
            decode_timedelta=True,
        )
        ds = ds.assign_coords(longitude=((ds.longitude + 180) % 360) - 180).sortby("longitude")
        france = ds.sel(latitude=slice(52.0, 41.0), longitude=slice(-6.0, 10.0))
        for name in france.data_vars:
            at_cities = france[name].sel(latitude=lats, longitude=lons, method="nearest")
            count += area_means(at_cities.values).size
        ds.close()
    return count


def run_naive(paths: list[Path], workers: int) -> dict:
    return {"values": sum(map(naive_file, paths))}


METHODS = {"floor": run_floor, "ours": run_ours, "naive": run_naive}


def phase(method: str, paths: list[Path], workers: int) -> None:
    """Run one method in this process; print wall and CPU seconds and peak memory as JSON."""
    # Imports and the fork server start once per process, not per run: keep them off the clock.
    import cfgrib  # noqa: F401
    import xarray  # noqa: F401

    from flows.meteofrance import features

    if method == "ours" and features._mp_context().get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()
    cpu0 = _cpu_seconds()
    start = time.perf_counter()
    result = METHODS[method](paths, workers)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu0
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {"seconds": seconds, "cpu": cpu, "rss_mb": own, "child_rss_mb": children, **result}
        )
    )


def _cpu_seconds() -> float:
    """User + system time of this process and its finished children (the pool's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(method: str, cache: Path, groups: int, workers: int) -> dict:
    command = [sys.executable, __file__, "--phase", method, "--cache", str(cache)]
    command += ["--groups", str(groups), "--workers", str(workers)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=len(GROUPS), help="group files (max 9)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default settings)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/aggregat-bench-grib"))
    parser.add_argument("--repeat", type=int, default=3, help="best of N for floor and ours")
    parser.add_argument("--phase", choices=sorted(METHODS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workers is None:
        from flows.settings import Settings

        args.workers = Settings().meteofrance_decode_workers
    paths = generate(args.cache, args.groups)
    if args.phase:
        phase(args.phase, paths, args.workers)
        return 0

    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    messages = sum(1 for p in paths for _ in _offsets(p))
    print(f"{len(paths)} files, {messages} messages, {size_mb:.0f} MB, grid 741x521, CCSDS 16-bit")
    for path in paths:  # same page-cache state for every method
        path.read_bytes()

    def best(method: str, workers: int) -> dict:
        runs = [measure(method, args.cache, args.groups, workers) for _ in range(args.repeat)]
        return min(runs, key=lambda r: r["seconds"])

    w = args.workers
    results = {
        "floor_1": best("floor", 1),
        f"floor_{w}": best("floor", w),
        "ours_1": best("ours", 1),
        f"ours_{w}": best("ours", w),
        "naive_1": measure("naive", args.cache, args.groups, 1),
    }
    print("method     wall (best)   CPU (this process + its children)   peak RSS (largest process)")
    for name, r in results.items():
        print(
            f"{name:<10} {r['seconds']:7.2f} s   {r['cpu']:7.2f} s"
            f"{'':25}{max(r['rss_mb'], r['child_rss_mb']):6.0f} MB"
        )
    ours, floor, naive = results[f"ours_{w}"], results[f"floor_{w}"], results["naive_1"]
    ours_1, floor_1 = results["ours_1"], results["floor_1"]
    print(
        f"BENCH grib floor_ratio={ours['seconds'] / floor['seconds']:.2f} "
        f"naive_speedup={naive['seconds'] / ours['seconds']:.1f} "
        f"floor_ratio_1proc={ours_1['seconds'] / floor_1['seconds']:.2f} "
        f"cpu_floor_ratio={ours['cpu'] / floor['cpu']:.2f} "
        f"naive_speedup_1proc={naive['seconds'] / ours_1['seconds']:.1f} "
        f"ours_s={ours['seconds']:.2f} floor_s={floor['seconds']:.2f} "
        f"naive_s={naive['seconds']:.2f} workers={w} groups={len(paths)} messages={messages} "
        f"size_mb={size_mb:.0f} peak_rss_mb={max(ours['rss_mb'], ours['child_rss_mb']):.0f} "
        f"load_avg={os.getloadavg()[0]:.1f}"
    )
    return 0


def _offsets(path: Path):
    from flows.meteofrance.grib import scan_messages

    return scan_messages(path)


if __name__ == "__main__":
    sys.exit(main())
