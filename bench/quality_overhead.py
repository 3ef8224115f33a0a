"""How much the quality checks add to a daily run.

Builds 300 days of history in a temporary warehouse, then runs the daily job for the last day three
times and prints the run's wall time beside the time spent validating (the `validation_seconds` every
check reports), plus the one-off great-expectations import.

    .venv/bin/python bench/quality_overhead.py
    .venv/bin/python bench/quality_overhead.py --tiny   # 10 days of history, one run: a smoke test
"""

import argparse
import datetime as dt
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history-days", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="10 days of history, one run")
    args = parser.parse_args()
    history_days, runs = (10, 1) if args.tiny else (args.history_days, args.runs)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["WAREHOUSE_DB"] = os.path.join(folder, "warehouse.duckdb")
        measure(history_days, runs)


def measure(history_days: int, runs: int) -> None:
    began = time.perf_counter()
    import great_expectations  # noqa: F401

    gx_import = time.perf_counter() - began
    import dagster as dg

    from pipelines.run import materialize_range
    from pipelines.settings import load_settings

    instance = dg.DagsterInstance.ephemeral()
    day = dt.date(2025, 6, 30)
    materialize_range(day - dt.timedelta(days=history_days), day - dt.timedelta(days=1), load_settings(),
                      instance=instance)
    print(f"great-expectations import (once per process): {gx_import:.2f} s")
    for attempt in range(runs):
        began = time.perf_counter()
        result = materialize_range(day, day, load_settings(), instance=instance)
        wall = time.perf_counter() - began
        checks = result.get_asset_check_evaluations()
        validation = sum(e.metadata["validation_seconds"].value for e in checks if e.check_name == "quality_gate")
        gated = sum(e.check_name == "quality_gate" for e in checks)
        print(f"daily run {attempt + 1}: {wall:.2f} s in all, {validation:.2f} s validating "
              f"({len(checks)} checks on {gated} tables)")


if __name__ == "__main__":
    main()
