"""Command line: `python -m pipelines.cli demo | materialize | summary`.

`demo` materialises every asset for the 365 UTC days ending yesterday on the configured source (the
sample market by default) as one run, then prints what landed. `materialize --start --end` does the
same for any range. Runs are recorded in $DAGSTER_HOME when it is set, so the UI shows them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time

import dagster as dg

from .jobs import RANGE_END_TAG, RANGE_START_TAG
from .settings import SettingsError, check_date_range, check_writable, load_settings


def yesterday() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)


def materialize_range(start: dt.date, end: dt.date, instance: dg.DagsterInstance | None = None,
                      raise_on_error: bool = True, log_level: str = "WARNING",
                      settings=None) -> dg.ExecuteInProcessResult:
    """Run the daily job over [start, end] (inclusive UTC days) as a single run."""
    settings = settings or load_settings()
    check_date_range(start, end, settings.history_start)
    check_writable(settings.warehouse_path)
    from .definitions import build_definitions

    job = build_definitions(settings).resolve_job_def("daily_market_job")
    if instance is None:
        instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    return job.execute_in_process(
        instance=instance,
        tags={RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()},
        raise_on_error=raise_on_error,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def summary(settings=None) -> str:
    """Row counts and date ranges of every warehouse table."""
    from warehouse.db import Warehouse

    settings = settings or load_settings()
    wh = Warehouse(settings.warehouse_path)
    if not wh.path.exists():
        return f"no warehouse at {wh.path} yet; run `make demo`"
    tables = wh.query(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('raw', 'core', 'marts') AND table_type = 'BASE TABLE' ORDER BY 1, 2"
    )
    lines = [f"Warehouse {wh.path}", f"{'table':<32}{'rows':>10}  dates"]
    for schema, name in tables.iter_rows():
        columns = wh.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        )["column_name"].to_list()
        date_col = next((c for c in ("date", "snapshot_date") if c in columns), None)
        span = f"min({date_col}), max({date_col})" if date_col else "NULL, NULL"
        count, first, last = wh.query(f"SELECT count(*), {span} FROM {schema}.{name}").row(0)
        dates = f"{first} to {last}" if first else ""
        lines.append(f"{schema + '.' + name:<32}{count:>10}  {dates}")
    return "\n".join(lines)


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; use YYYY-MM-DD") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialise the 365 days ending yesterday and print a summary")
    demo.add_argument("--days", type=int, default=365)
    run = sub.add_parser("materialize", help="materialise [start, end] as one run")
    run.add_argument("--start", type=_parse_date, required=True)
    run.add_argument("--end", type=_parse_date, default=None, help="default: yesterday")
    sub.add_parser("summary", help="print row counts per table")
    evaluate = sub.add_parser("evaluate", help="score the anomaly engine against the sample market's ground truth")
    evaluate.add_argument("--end", type=_parse_date, default=dt.date(2024, 12, 31))
    evaluate.add_argument("--years", type=float, default=3.0)
    evaluate.add_argument("--warehouse", default="data/evaluation.duckdb",
                          help="a separate warehouse file, so the demo's stays as it is")
    args = parser.parse_args(argv)
    try:
        if args.command == "summary":
            print(summary())
            return 0
        if args.command == "evaluate":
            return run_evaluation(args.end, args.years, args.warehouse)
        if args.command == "demo":
            end = yesterday()
            start = end - dt.timedelta(days=args.days - 1)
        else:
            start, end = args.start, args.end or yesterday()
        began = time.perf_counter()
        result = materialize_range(start, end, raise_on_error=False)
        elapsed = time.perf_counter() - began
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Materialised {start} to {end} on source '{load_settings().source}' "
          f"in {elapsed:.1f} s: {'success' if result.success else 'FAILED'}")
    print(summary())
    if not result.success:
        for evaluation in result.get_asset_check_evaluations():
            if not evaluation.passed:
                print(f"  failed check {evaluation.check_name} on {evaluation.asset_key.to_user_string()}: "
                      f"{evaluation.description}")
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                print(f"  {event.step_key}: {event.event_specific_data.error.message.strip()}")
        return 1
    report = _report_hook()
    if report:
        print(report)
    return 0


# Days of history before the scored range, so that every 180-observation baseline is complete there.
EVALUATION_WARM_UP_DAYS = 300


def evaluation_report(end: dt.date, years: float, warehouse_path: str, instance=None) -> dict:
    """Run the whole pipeline on the sample market and score it against the ground truth."""
    from assets.marts.evaluation import report
    from assets.raw.sources.sample import SampleMarket
    from warehouse.db import Warehouse
    from warehouse.schemas import MARTS_ANOMALY_EPISODES

    settings = load_settings(source="sample", warehouse_path=warehouse_path)
    start = end - dt.timedelta(days=round(365.25 * years) - 1)
    result = materialize_range(start - dt.timedelta(days=EVALUATION_WARM_UP_DAYS), end,
                               instance=instance or dg.DagsterInstance.ephemeral(), settings=settings)
    if not result.success:
        raise SettingsError("the evaluation run failed; see the messages above")
    market = SampleMarket(seed=settings.sample.seed, venues=settings.venues)
    episodes = Warehouse(warehouse_path).read_window(MARTS_ANOMALY_EPISODES)
    return dict(report(market.ground_truth(), episodes, start, end), start=start, end=end)


def run_evaluation(end: dt.date, years: float, warehouse_path: str) -> int:
    import polars as pl

    began = time.perf_counter()
    out = evaluation_report(end, years, warehouse_path)
    pl.Config.set_tbl_rows(50)
    pl.Config.set_tbl_hide_dataframe_shape(True)
    print(f"Anomaly engine on the sample market, {out['start']} to {out['end']} "
          f"({out['years']:.1f} years, {time.perf_counter() - began:.0f} s)")
    print(out["anomalies"])
    print(f"False anomaly episodes per year: {out['false_per_year']:.2f} (target: at most 2)")
    missed = int(out["anomalies"]["missed"].sum())
    print(f"Injected episodes missed: {missed} (target: 0)")
    print(f"Context periods reported as anomalies: {out['context_as_anomaly'].height} (target: 0)")
    print("Context labels (never counted as anomalies):")
    print(out["context"])
    if out["false_episodes"].height:
        print("False anomaly episodes:")
        print(out["false_episodes"].select("code", "subject", "start", "end", "days", "peak_severity"))
    met = missed == 0 and out["false_per_year"] <= 2 and out["context_as_anomaly"].height == 0
    print("All targets met." if met else "TARGETS NOT MET.")
    return 0 if met else 1


def _report_hook() -> str:
    """Extra lines the marts add to the demo output (the anomaly status table), when built."""
    try:
        from assets.marts.report import demo_report
    except ImportError:
        return ""
    return demo_report()


if __name__ == "__main__":
    raise SystemExit(main())
