"""A fake Météo-France object store on 127.0.0.1: `/pnt/{RUN}/{model}/{grid}/{PKG}/{file}`.

It serves GET and HEAD like the public S3 bucket (ETag = MD5 of the body, 404 for a missing
key, keys with `:` accepted raw or percent-encoded) and injects the faults a pipeline must
survive: a body cut mid-transfer, 5xx answers before a 200, a missing group, a run not yet
published. Every request is counted.

Demo: `python -m tests.fakes.meteofrance_store --port 8766 --run 2026-11-25T00Z` generates a
small valid run of the default products and serves it until interrupted.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import tempfile
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flows.lake import parse_run_label
from flows.meteofrance.catalogue import (
    MODEL_GRIDS,
    GroupFile,
    Product,
    group_range,
    group_steps,
)
from flows.meteofrance.grib import ParamKey
from tests.fakes.http import LocalServer
from tests.meteofrance import gribgen

PREFIX = "/pnt/"


class FakeMeteoFranceStore:
    """Objects in memory keyed by their path below `/pnt/`, plus fault switches."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.hidden_prefixes: set[str] = set()
        self.cut_after: dict[str, int] = {}  # path -> bytes sent before the connection drops
        self.failures: dict[str, deque[int]] = defaultdict(
            deque
        )  # path -> statuses to answer first
        self._lock = threading.Lock()
        self._http = LocalServer()

    # --- content -----------------------------------------------------------------------
    def put(self, path: str, data: bytes) -> None:
        """Publish an object at `{RUN}/{model}/{grid}/{PKG}/{file}`."""
        self.objects[path.lstrip("/")] = data

    def remove(self, path: str) -> None:
        """Delete an object (the publisher's retention, or a missing group)."""
        self.objects.pop(path.lstrip("/"), None)

    # --- faults ------------------------------------------------------------------------
    def hide(self, prefix: str) -> None:
        """Answer 404 for every key under a prefix (e.g. a run stamp: not yet published)."""
        self.hidden_prefixes.add(prefix.lstrip("/"))

    def unhide(self, prefix: str) -> None:
        self.hidden_prefixes.discard(prefix.lstrip("/"))

    def fail(self, path: str, *statuses: int) -> None:
        """Answer these statuses (e.g. 500, 503) to the next GETs of a key, then serve it."""
        self.failures[path.lstrip("/")].extend(statuses)

    def cut(self, path: str, after_bytes: int) -> None:
        """Announce the full length but drop the connection after this many body bytes."""
        self.cut_after[path.lstrip("/")] = after_bytes

    # --- what happened -----------------------------------------------------------------
    def count(self, method: str | None = None, contains: str = "") -> int:
        """How many requests (of a method, whose path contains a string) were served."""
        with self._lock:
            return sum(
                1 for m, p in self.requests if (method is None or m == method) and contains in p
            )

    def methods(self) -> Counter[str]:
        with self._lock:
            return Counter(m for m, _ in self.requests)

    # --- server ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._http.address
        return f"http://{host}:{port}/pnt"

    def start(self, port: int = 0) -> FakeMeteoFranceStore:
        self._http.start(_handler(self), "127.0.0.1", port)
        return self

    def stop(self) -> None:
        self._http.stop()

    # --- request handling --------------------------------------------------------------
    def _lookup(self, raw_path: str) -> tuple[str, bytes | None]:
        path = unquote(urlsplit(raw_path).path)
        if not path.startswith(PREFIX):
            return path, None
        key = path[len(PREFIX) :]
        if any(key.startswith(p) for p in self.hidden_prefixes):
            return key, None
        return key, self.objects.get(key)


def _handler(store: FakeMeteoFranceStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            pass

        def _answer(self, send_body: bool) -> None:
            key, body = store._lookup(self.path)
            with store._lock:
                store.requests.append((self.command, key))
                queued = store.failures.get(key)
                status = queued.popleft() if send_body and queued else None
            if status is not None:
                self._empty(status)
                return
            if body is None:
                self._empty(404, b"<Error><Code>NoSuchKey</Code></Error>")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", f'"{hashlib.md5(body).hexdigest()}"')
            self.end_headers()
            if not send_body:
                return
            cut = store.cut_after.get(key)
            if cut is not None:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def _empty(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._answer(send_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(send_body=False)

    return Handler


# --- generated runs ----------------------------------------------------------------------

# Small grids over each model's real domain: the demo and the tests decode in milliseconds.
DEMO_SHAPES: dict[str, tuple[int, int]] = {
    "arpege/01": (75, 53),  # 1° x 1°
    "arpege/025": (72, 37),  # 5° x 5°
    "arome/0025": (57, 180),  # 0.5° x 0.1°
    "arome/001": (57, 180),
}

# Plausible fields (K, %, m/s, accumulations growing with the step) over France.
SP1_FIELDS: dict[ParamKey, gribgen.Field] = {
    gribgen.T2M: gribgen.linear(300.0, -0.4, 0.05, 0.1),
    gribgen.RH2M: gribgen.linear(60.0, 0.2, 0.0),
    gribgen.U10: gribgen.linear(3.0, 0.0, 0.0),
    gribgen.V10: gribgen.linear(4.0, 0.0, 0.0),
    gribgen.TCC: gribgen.linear(40.0, 0.3, 0.0),
    gribgen.TP: gribgen.linear(0.0, 0.0, 0.0, 0.2),
    gribgen.SSRD: gribgen.linear(0.0, 0.0, 0.0, 3600.0 * 150.0),
    gribgen.PRMSL: gribgen.linear(101_300.0, 0.0, 0.0),
}
SP2_FIELDS: dict[ParamKey, gribgen.Field] = {
    ParamKey(0, 0, 6, "heightAboveGround", 2, "instant"): gribgen.linear(280.0, -0.3, 0.0),
    ParamKey(0, 3, 0, "surface", 0, "instant"): gribgen.linear(98_000.0, 0.0, 0.0),
    ParamKey(0, 3, 18, "surface", 0, "instant"): gribgen.linear(800.0, 0.0, 0.0),
}


def grid_spec(model_grid: str, shape: tuple[int, int] | None = None) -> gribgen.GridSpec:
    """A grid over a model's real domain at the given size (the real size by default)."""
    g = MODEL_GRIDS[model_grid]
    ni, nj = shape or g.shape
    lat_first, lon_first, lat_last, lon_last = g.bounds
    di = 360.0 / ni if lon_last < lon_first else (lon_last - lon_first) / (ni - 1)
    return gribgen.GridSpec(
        ni=ni,
        nj=nj,
        lat_first=lat_first,
        lon_first=lon_first % 360.0,  # stored 0-360 like Météo-France's files
        di=round(di, 6),
        dj=round((lat_first - lat_last) / (nj - 1), 6),
    )


def group_bytes(
    product: str,
    run: str,
    group: str,
    shape: tuple[int, int] | None = None,
    fields: dict[ParamKey, gribgen.Field] | None = None,
    steps: tuple[int, ...] | None = None,
    packing: str = "grid_simple",
) -> bytes:
    """A valid group file of a product run (`run` as YYYY-MM-DDTHHZ), as bytes."""
    if fields is None:
        return _default_group_bytes(product, run, group, shape, steps, packing)
    return _group_bytes(product, run, group, shape, fields, steps, packing)


@functools.lru_cache(maxsize=256)
def _default_group_bytes(
    product: str,
    run: str,
    group: str,
    shape: tuple[int, int] | None,
    steps: tuple[int, ...] | None,
    packing: str,
) -> bytes:
    return _group_bytes(product, run, group, shape, None, steps, packing)


def _group_bytes(
    product: str,
    run: str,
    group: str,
    shape: tuple[int, int] | None = None,
    fields: dict[ParamKey, gribgen.Field] | None = None,
    steps: tuple[int, ...] | None = None,
    packing: str = "grid_simple",
) -> bytes:
    p = Product.parse(product)
    run_time = parse_run_label(run)
    if fields is None:
        fields = SP1_FIELDS if p.package == "SP1" else SP2_FIELDS
    steps = steps if steps is not None else group_steps(p.model_grid, group)
    with tempfile.TemporaryDirectory() as tmp:
        path = gribgen.run_file(
            Path(tmp) / "group.grib2",
            grid_spec(p.model_grid_key, shape),
            fields,
            run_time.replace(tzinfo=None),
            steps,
            packing=packing,
        )
        return path.read_bytes()


def object_path(product: str, run: str, group: str) -> str:
    """The key below `/pnt/` of a product run's group file."""
    p = Product.parse(product)
    return GroupFile(p, parse_run_label(run), group).object_path


def publish_run(
    store: FakeMeteoFranceStore,
    products: list[str],
    run: str,
    shapes: dict[str, tuple[int, int]] | None = DEMO_SHAPES,
    horizon: int | None = None,
) -> int:
    """Publish every group file (up to `horizon` hours) of the products' run; returns how many.

    Grids default to the small demo sizes; `shapes=None` publishes the real ones.
    """
    count = 0
    for name in products:
        p = Product.parse(name)
        shape = (shapes or {}).get(p.model_grid_key)
        for group in p.model_grid.groups:
            if horizon is not None and group_range(group)[0] > horizon:
                continue
            store.put(object_path(name, run, group), group_bytes(name, run, group, shape))
            count += 1
    return count


def store_env(base_url: str, **overrides: object) -> dict[str, str]:
    """AGGREGAT_* variables pointing the weather flow at a fake store with small test runs."""
    import json

    env = {
        "AGGREGAT_METEOFRANCE_BASE_URL": base_url,
        "AGGREGAT_METEOFRANCE_GRID_SHAPES": json.dumps(
            {k: f"{ni}x{nj}" for k, (ni, nj) in DEMO_SHAPES.items()}
        ),
        "AGGREGAT_METEOFRANCE_HORIZON_HOURS": "12",
        "AGGREGAT_METEOFRANCE_BACKOFF_SECONDS": "0",
        "AGGREGAT_METEOFRANCE_MAX_ATTEMPTS": "3",
        "AGGREGAT_METEOFRANCE_DECODE_WORKERS": "1",
        "AGGREGAT_METEOFRANCE_TIMEOUT_SECONDS": "10",
    }
    for name, value in overrides.items():
        text = value if isinstance(value, str) else json.dumps(value)
        env[f"AGGREGAT_METEOFRANCE_{name.upper()}"] = text
    return env


@contextmanager
def running_store(port: int = 0) -> Iterator[FakeMeteoFranceStore]:
    """A started store, stopped on exit."""
    store = FakeMeteoFranceStore().start(port)
    try:
        yield store
    finally:
        store.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.meteofrance_store")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--run", required=True, help="run to publish, YYYY-MM-DDTHHZ")
    parser.add_argument(
        "--horizon", type=int, default=None, help="publish only groups starting by this hour"
    )
    parser.add_argument(
        "--products",
        default="arpege/01/SP1/00,arpege/01/SP2/00,arome/0025/SP1/00",
        help="comma-separated products to publish for that run",
    )
    args = parser.parse_args(argv)
    store = FakeMeteoFranceStore()
    names = [p for p in args.products.split(",") if p]
    count = publish_run(store, names, args.run, shapes=DEMO_SHAPES, horizon=args.horizon)
    store.start(args.port)
    shapes = {k: f"{ni}x{nj}" for k, (ni, nj) in DEMO_SHAPES.items()}
    print(f"serving {count} files of run {args.run} at {store.base_url}")
    print(f"  export AGGREGAT_METEOFRANCE_BASE_URL={store.base_url}")
    print(f"  export AGGREGAT_METEOFRANCE_GRID_SHAPES='{_json(shapes)}'")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        store.stop()
    return 0


def _json(value: object) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


if __name__ == "__main__":
    raise SystemExit(main())
