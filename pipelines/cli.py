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

from pipelines.demo import demo_findings, demo_range, warm_up_days
from pipelines.evaluation import print_evaluation
from pipelines.replay import replay
from pipelines.run import materialize_range
from pipelines.run_holes import run_holes
from pipelines.settings import SettingsError, load_settings
from pipelines.summary import anomaly_report, table_counts
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
            return print_evaluation(args.end, args.years, load_settings(source="sample", warehouse_path=args.warehouse))
        settings = load_settings()
        published = published_dir(settings.warehouse_path) / "warehouse.duckdb"
        if args.command == "summary":
            print(table_counts(published))
            return 0
        if args.command == "demo":
            start, displayed, end = demo_range(yesterday(), warm_up_days(settings), args.days)
        else:
            start, end = args.start, args.end or yesterday()
        began = time.perf_counter()
        result = (replay if args.command == "replay" else materialize_range)(start, end, settings, raise_on_error=False)
        elapsed = time.perf_counter() - began
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Materialised {start} to {end} on source '{settings.source}' "
          f"in {elapsed:.1f} s: {'success' if result.success else 'FAILED'}")
    print(table_counts(published))
    print(run_holes(result), end="")
    if not result.success:
        for evaluation in result.get_asset_check_evaluations():
            if not evaluation.passed:
                print(f"  failed check {evaluation.check_name} on {evaluation.asset_key.to_user_string()}: "
                      f"{evaluation.description}")
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                print(f"  {event.step_key}: {event.event_specific_data.error.message.strip()}")
        return 1
    print(anomaly_report(published))
    if args.command == "demo":
        print(demo_findings(published, settings, start, displayed, end))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
