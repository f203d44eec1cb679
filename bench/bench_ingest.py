"""Benchmark: an hourly ODRÉ run with no new data costs its look-back, not the history.

Two lakes hold the same four datasets, one with 1 year and one with 7 years of day partitions
(written straight to disk from the fake server's own data, so the look-back days match what
the server answers). An `ingest-odre` flow run as of the last day against the fake server, on a
temporary Prefect server, is timed on each, alternately, several times; the ratio of medians is
the figure (goal <= 1.2). Prefect's own cost per run is in both sides.

    .venv/bin/python bench/bench_ingest.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from flows.lake import LocalLake  # noqa: E402
from flows.odre.client import Window  # noqa: E402
from flows.odre.flow import ingest_odre  # noqa: E402
from flows.odre.ingest import has_partition_in, watermark  # noqa: E402
from flows.odre.parse import DayPartition, day_partitions, parse_export, partition_bytes  # noqa: E402
from flows.odre.schemas import DATASETS, Dataset  # noqa: E402
from flows.settings import environ_set, get_settings  # noqa: E402
from tests.fakes.odre_server import FakeOdre, synthetic_data  # noqa: E402

AS_OF = date(2025, 6, 30)
YEARS = (1, 7)
REPEATS = 7


def write_part(root: Path, dataset: Dataset, part: DayPartition) -> int:
    """Write one partition file straight to disk (set-up, not the run: no fsync)."""
    path = root / dataset.partition_key(part.day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(partition_bytes(part))
    return 1


def fill_lake(root: Path, fake: FakeOdre, first: date) -> int:
    """Day partitions of every dataset from `first` to AS_OF, as ingestion writes them."""
    count = 0
    window = Window(first, AS_OF + timedelta(days=1))
    for dataset in DATASETS.values():
        params = {"where": window.where(dataset.time_field), "order_by": dataset.time_field}
        _, _, body, _ = fake.answer(dataset.id, params)
        frame = parse_export(dataset, window, body, datetime.now(UTC)).frame
        parts = day_partitions(dataset, frame)
        with ThreadPoolExecutor(4) as pool:  # Parquet writing releases the GIL
            count += sum(pool.map(lambda part, d=dataset: write_part(root, d, part), parts))
    return count


def timed_run(env: dict[str, str], fake: FakeOdre) -> tuple[float, int, int]:
    """Seconds, rows served and partitions written by one no-new-data flow run."""
    served = fake.rows_served
    with environ_set(env):
        get_settings.cache_clear()
        start = time.perf_counter()
        summary = ingest_odre(as_of=AS_OF)
        elapsed = time.perf_counter() - start
    if summary.errors:
        raise SystemExit(f"bench run failed: {summary.errors}")
    written = sum(len(d.days_written) for d in summary.datasets)
    return elapsed, fake.rows_served - served, written


def main() -> None:
    first = {n: AS_OF - timedelta(days=365 * n - 1) for n in YEARS}
    t0 = time.perf_counter()
    data = synthetic_data(first[max(YEARS)], AS_OF)
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeOdre(data) as fake,
        prefect_test_harness(server_startup_timeout=120),
    ):
        lakes, sizes = {}, {}
        for n in YEARS:
            root = Path(tmp) / f"lake{n}y"
            sizes[n] = fill_lake(root, fake, first[n])
            lakes[n] = LocalLake(root)
        print(
            f"lakes written in {time.perf_counter() - t0:.1f}s: "
            + ", ".join(f"{n}y={sizes[n]} partitions" for n in YEARS)
        )
        env = {
            n: {
                "AGGREGAT_ODRE_BASE_URL": fake.url,
                "AGGREGAT_LAKE_URL": str(lakes[n].root),
                "AGGREGAT_HISTORY_START": first[n].isoformat(),
                "AGGREGAT_PROGRESS": "false",
            }
            for n in YEARS
        }
        for n in YEARS:  # warm-up: imports, connections, page cache
            timed_run(env[n], fake)
        times: dict[int, list[float]] = {n: [] for n in YEARS}
        rows = written = 0
        for _ in range(REPEATS):
            for n in YEARS:
                elapsed, rows, written = timed_run(env[n], fake)
                times[n].append(elapsed)
                if written:
                    raise SystemExit(f"{n}y run wrote {written} partitions: data was not unchanged")
        median = {n: statistics.median(times[n]) for n in YEARS}
        for n in YEARS:
            print(
                f"{n}y history: median {median[n] * 1000:.0f} ms over {REPEATS} runs "
                f"({', '.join(f'{t * 1000:.0f}' for t in times[n])} ms)"
            )
        ratio = median[7] / median[1]
        print(f"ratio 7y/1y = {ratio:.2f} (goal <= 1.2); rows requested per run = {rows}")

        # Why the watermark is probed, not listed: the cost of a full listing grows with history.
        for n in YEARS:
            lake, tr = lakes[n], DATASETS["eco2mix-national-tr"]
            lookback = Window(AS_OF - timedelta(days=1), AS_OF + timedelta(days=1))
            t = time.perf_counter()
            for dataset in DATASETS.values():
                watermark(lake, dataset)
            listing = time.perf_counter() - t
            t = time.perf_counter()
            for _ in DATASETS:
                has_partition_in(lake, tr, lookback)
            probe = time.perf_counter() - t
            print(
                f"{n}y: full-listing watermarks {listing * 1000:.1f} ms, "
                f"look-back probes {probe * 1000:.2f} ms (4 datasets)"
            )
        print(
            f"BENCH ingest history_ratio={ratio:.2f} rows_fetched={rows} "
            f"run_1y_ms={median[1] * 1000:.0f} run_7y_ms={median[7] * 1000:.0f} "
            f"partitions_written={written} repeats={REPEATS}"
        )


if __name__ == "__main__":
    main()
