"""Command line: `python -m flows run|backfill|backtest|decode-grib|train|predict ...`."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date

# Prefect's temporary server needs longer than its default to start on small machines.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from exc


def _steps(text: str) -> list[str]:
    from flows.pipeline import STEPS

    steps = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        raise argparse.ArgumentTypeError(f"unknown steps {unknown}; choose from {', '.join(STEPS)}")
    return steps


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flows", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daily pipeline")
    run.add_argument(
        "--as-of", type=_day, default=None, help="replay as of this day (default today)"
    )
    run.add_argument("--steps", type=_steps, default=None, help="comma-separated subset of steps")
    run.add_argument(
        "--force",
        action="store_true",
        help="build the marts and re-issue the forecast even when no lake partition changed",
    )
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild every incremental dbt model from staging (implies --force)",
    )

    backfill = sub.add_parser("backfill", help="rebuild a date range from the lake (or the source)")
    backfill.add_argument("--start", type=_day, required=True)
    backfill.add_argument("--end", type=_day, required=True)
    backfill.add_argument(
        "--offline", action="store_true", help="never download: rebuild only from the lake"
    )
    backfill.add_argument(
        "--force", action="store_true", help="redo the month chunks an interrupted run completed"
    )

    backtest = sub.add_parser("backtest", help="rolling-origin forecast backtest with a report")
    backtest.add_argument("--start", type=_day, required=True)
    backtest.add_argument("--end", type=_day, required=True)
    backtest.add_argument("--out", default="reports", help="folder of the report files")

    sub.add_parser("docs", help="generate and serve dbt's documentation of the models")

    decode = sub.add_parser("decode-grib", help="decode one GRIB2 file and print what it holds")
    decode.add_argument("file")

    for name in ("train", "predict"):
        cmd = sub.add_parser(name, help=f"{name} the consumption forecast")
        cmd.add_argument("--as-of", type=_day, default=None)
    return parser


def check_arguments(args: argparse.Namespace, today: date) -> str | None:
    """What is wrong with the days asked for, before any work starts; None when all is well."""
    as_of = getattr(args, "as_of", None)
    if as_of is not None and as_of > today:
        return (
            f"--as-of {as_of} is after today ({today}, AGGREGAT_FORECAST_TIMEZONE): a run is for"
            " a day that has begun; leave --as-of out for today"
        )
    if args.command in ("backfill", "backtest") and args.end < args.start:
        return f"--end {args.end} is before --start {args.start}: give START <= END"
    if args.command == "backfill" and args.end > today:
        return f"--end {args.end} is after today ({today}): a backfill rebuilds days that are over"
    return None


def prefect_start_failure(exc: RuntimeError) -> str | None:
    """The fix when Prefect's temporary server did not start in time, else None (a bug)."""
    if "ephemeral Prefect API server" not in str(exc):
        return None
    waited = os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]
    return (
        f"Prefect's temporary server did not start within {waited} s"
        " (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS); its first start creates its"
        " database under PREFECT_HOME and is slow on a busy machine: give it longer, or keep a"
        " server running (`make ui`) and set PREFECT_API_URL=http://127.0.0.1:4200/api"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from flows.errors import SettingsError
    from flows.settings import load_settings

    # Settings and arguments are checked before Prefect starts: a typo fails in a second.
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    problem = check_arguments(args, settings.today())
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if args.command == "docs":
        from flows.transform import serve_docs

        serve_docs(settings)
        return 0
    if args.command != "decode-grib":
        from flows.ephemeral import start_tied_server
        from flows.runs import configure_logging

        configure_logging(console=True)
    try:
        if args.command != "decode-grib":
            start_tied_server()  # a temporary Prefect server never outlives this process
        return dispatch(args)
    except RuntimeError as exc:
        fix = prefect_start_failure(exc)
        if fix is None:
            raise
        print(fix, file=sys.stderr)
        return 1


def dispatch(args: argparse.Namespace) -> int:
    """Run the command's flow (Prefect's temporary server starts with the first one)."""
    if args.command == "run":
        from flows.pipeline import run_cli

        return run_cli(
            as_of=args.as_of, steps=args.steps, force=args.force, full_refresh=args.full_refresh
        )
    if args.command == "backfill":
        from flows.pipeline import backfill_cli

        return backfill_cli(start=args.start, end=args.end, offline=args.offline, force=args.force)
    if args.command == "backtest":
        from flows.forecast.flow import backtest_cli

        return backtest_cli(start=args.start, end=args.end, out_dir=args.out)
    if args.command == "decode-grib":
        from flows.meteofrance.inspect import decode_grib_cli

        return decode_grib_cli(args.file)
    from flows.forecast.flow import forecast_cli

    return forecast_cli(args.command, as_of=args.as_of)


if __name__ == "__main__":
    sys.exit(main())
