"""Command line: `python -m pipelines.cli demo | materialize | replay | summary | evaluate`.

`demo` materialises every asset for the 365 UTC days ending yesterday on the configured source (the
sample market by default), after a warm-up that completes every baseline, as one run, then prints what
landed and, on the sample market, which of its scripted episodes were found. `materialize --start --end` does
the same for any range; `replay --start --end` does it from the sources `history.routes` names (archive,
history APIs, live venues), printing progress per source and what came from where and what is missing. Runs
are recorded in $DAGSTER_HOME, or in the project's `.dagster/` when it is not set, so the UI shows them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

import duckdb

from assets.guard import ALLOW_SHRINK_TAG
from pipelines.causes import exception_line, step_causes
from pipelines.demo import demo_findings, demo_range, warm_up_days
from pipelines.evaluation import print_evaluation
from pipelines.home import project_instance
from pipelines.jobs import DAILY_JOB
from pipelines.replay import replay
from pipelines.run import materialize_range, stale_later_days
from pipelines.run_holes import run_holes
from pipelines.settings import SettingsError, check_writable, load_settings
from pipelines.summary import anomaly_report, table_counts
from pipelines.writer import WarehouseBusy, duckdb_lock_message, mark_abandoned_runs, writer_lock
from warehouse.serving import published_dir


def yesterday() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; use YYYY-MM-DD") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialise a warm-up and the 365 days ending yesterday, print what it found")
    demo.add_argument("--days", type=int, default=365, help="days displayed after the warm-up")
    run = sub.add_parser("materialize", help="materialise [start, end] as one run")
    run.add_argument("--start", type=_parse_date, required=True)
    run.add_argument("--end", type=_parse_date, default=None, help="default: yesterday")
    for writer in (demo, run):
        writer.add_argument("--allow-shrink", action="store_true",
                            help="let answers that lack stored raw rows replace them (default: the run fails)")
        writer.add_argument("--verbose", action="store_true", help="print Dagster's log (warnings and tracebacks)")
    history = sub.add_parser("replay", help="materialise [start, end] from the sources history.routes names, as one "
                             "run, with progress and a summary of what came from where and what is missing")
    history.add_argument("--start", type=_parse_date, required=True)
    history.add_argument("--end", type=_parse_date, default=None, help="default: yesterday")
    sub.add_parser("summary", help="print row counts per table of the published warehouse")
    evaluate = sub.add_parser("evaluate", help="score the anomaly engine against the sample market's ground truth")
    evaluate.add_argument("--end", type=_parse_date, default=dt.date(2024, 12, 31))
    evaluate.add_argument("--years", type=float, default=3.0)
    evaluate.add_argument("--warehouse", default="data/evaluation.duckdb",
                          help="a separate warehouse file, so the demo's stays as it is")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "evaluate":
            settings = load_settings(source="sample", warehouse_path=args.warehouse)
            check_writable(settings.warehouse_path)
            with writer_lock(settings.warehouse_path, settings.integrity.lock_wait_seconds):
                return print_evaluation(args.end, args.years, settings)
        settings = load_settings()
        published = published_dir(settings.warehouse_path) / "warehouse.duckdb"
        if args.command == "summary":
            print(table_counts(published))
            return 0
        displayed = None
        if args.command == "demo":
            start, displayed, end = demo_range(yesterday(), warm_up_days(settings), args.days)
        else:
            start, end = args.start, args.end or yesterday()
        check_writable(settings.warehouse_path)  # before the lock file is made beside it
        with writer_lock(settings.warehouse_path, settings.integrity.lock_wait_seconds):
            return _materialize(start, end, settings, published, args.command == "replay",
                                getattr(args, "allow_shrink", False), getattr(args, "verbose", False), displayed)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except WarehouseBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (duckdb.Error, OSError) as exc:
        # Outside a run's steps (reading what was stored, the published copy): one line, not a traceback.
        print(f"FAILED: {duckdb_lock_message(exc) or exception_line(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
        return 1


def _materialize(start: dt.date, end: dt.date, settings, published, from_history: bool, allow_shrink: bool,
                 verbose: bool, demo_displayed: dt.date | None = None) -> int:
    """One run over [start, end] (from the history routes for a replay), then a rebuild of the stored later core
    and mart days it made stale; the cause of a failure in the last lines. `demo_displayed`: the demo's first
    shown day, for its findings."""
    instance = project_instance()
    for line in mark_abandoned_runs(instance, DAILY_JOB):
        print(line)
    tags = {ALLOW_SHRINK_TAG: "true"} if allow_shrink else {}
    log_level = "WARNING" if verbose else "CRITICAL"
    began = time.perf_counter()
    if from_history:
        result = replay(start, end, settings, instance=instance, raise_on_error=False)
    else:
        result = materialize_range(start, end, settings, instance=instance, raise_on_error=False, tags=tags,
                                   log_level=log_level)
    holes = run_holes(result)
    print(f"Materialised {start} to {end} on source '{settings.source}' "
          f"in {time.perf_counter() - began:.1f} s: {'success' if result.success else 'FAILED'}")
    if result.success:
        stale = stale_later_days(end, settings)
        if stale is not None:
            print(f"Rebuilding the stored core and mart days {stale.first} to {stale.last} from the stored raw rows: "
                  f"their look-back reaches into the days just written ({stale.describe()})")
            result = materialize_range(stale.first, stale.last, settings, instance=instance, raise_on_error=False,
                                       tags=tags, log_level=log_level, derived_only=True)
            print(f"Rebuilt {stale.first} to {stale.last}: {'success' if result.success else 'FAILED'}")
    print(table_counts(published))
    print(holes, end="")
    if not result.success:
        for evaluation in result.get_asset_check_evaluations():
            if not evaluation.passed:
                print(f"  failed check {evaluation.check_name} on {evaluation.asset_key.to_user_string()}: "
                      f"{evaluation.description}")
        causes = step_causes(result)
        for cause in causes:
            print(f"  {cause}")
        print(f"FAILED ({len(causes)} step(s)): {causes[0] if causes else 'see the run in the Dagster UI'}")
        return 1
    print(anomaly_report(published))
    if demo_displayed is not None:
        print(demo_findings(published, settings, start, demo_displayed, end))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
