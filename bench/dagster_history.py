"""How much run history Dagster keeps: `.dagster/` after the demo, and its growth per year of daily runs.

Runs the demo (`python -m pipelines.cli demo`'s range: a warm-up and the displayed year) into a fresh Dagster
home configured as `make demo` configures it, prints the size of that home, then runs the daily job for the
following days one run at a time (as the schedule does) and prints the growth per daily run: while a run is
recent (its complete log is kept `run_history.keep_step_events_days`) and once it is compacted to its results
(what a year of daily runs adds for good). Sizes count the bytes in use: pages SQLite has freed for reuse are not
growth.

    .venv/bin/python bench/dagster_history.py
    .venv/bin/python bench/dagster_history.py --tiny   # 10 days, then 1 + 1 daily runs: a smoke test
"""

import argparse
import datetime as dt
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

MIB = 1024 * 1024


def folder_size(path: Path, charts: bool = True) -> int:
    """Bytes in use under `path`: a SQLite file counts its pages less the free ones it will reuse. Without
    `charts`, the chart images (the latest runs' only, a bounded size) are left out."""
    total = 0
    for f in path.rglob("*"):
        if not charts and "charts" in f.parts:
            continue
        if f.suffix == ".db":
            with sqlite3.connect(f) as db:
                pages, free, size = (db.execute(f"PRAGMA {p}").fetchone()[0]
                                     for p in ("page_count", "freelist_count", "page_size"))
            total += (pages - free) * size
        elif f.is_file():
            total += f.stat().st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--daily-runs", type=int, default=None, help="daily runs after the demo (growth is per run)")
    parser.add_argument("--tiny", action="store_true", help="a 10-day range and 1 + 1 daily runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "dagster_home"
        os.environ["DAGSTER_HOME"] = str(home)
        os.environ["WAREHOUSE_DB"] = os.path.join(folder, "warehouse.duckdb")
        from pipelines.home import prepare_dagster_home

        prepare_dagster_home(home)
        measure(home, args.tiny, args.daily_runs or (1 if args.tiny else 10))


def measure(home: Path, tiny: bool, daily_runs: int) -> None:
    import dagster as dg

    from pipelines.demo import demo_range, warm_up_days
    from pipelines.run import materialize_range
    from pipelines.run_history import compact_run_history
    from pipelines.settings import load_settings

    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    # The demo ends 2 x `daily_runs` days early, so that the daily runs that follow are real, complete days.
    demo_end = yesterday - dt.timedelta(days=2 * daily_runs)
    settings = load_settings()
    start, _, end = demo_range(demo_end, 0 if tiny else warm_up_days(settings), displayed_days=10 if tiny else 365)
    instance = dg.DagsterInstance.get()
    began = time.perf_counter()
    assert materialize_range(start, end, settings, instance=instance).success
    demo_seconds = time.perf_counter() - began
    after_demo = folder_size(home)
    print(f"demo range {start} to {end} ({(end - start).days + 1} days, one run, {demo_seconds:.0f} s): "
          f".dagster {after_demo / MIB:.1f} MiB")
    sizes = [folder_size(home, charts=False)]
    for k in range(1, daily_runs + 1):
        day = demo_end + dt.timedelta(days=k)
        assert materialize_range(day, day, load_settings(), instance=instance).success
        sizes.append(folder_size(home, charts=False))
    recent = (sizes[-1] - sizes[0]) / daily_runs
    # What the hourly sensor does once the runs are `keep_step_events_days` old: the demo's runs and these.
    keep = settings.run_history.keep_step_events_days
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=keep + 1)
    print(compact_run_history(instance, keep, now=later))
    demo_compacted = folder_size(home, charts=False)
    for k in range(1, daily_runs + 1):
        day = demo_end + dt.timedelta(days=daily_runs + k)
        assert materialize_range(day, day, load_settings(), instance=instance).success
    compact_run_history(instance, keep, now=later + dt.timedelta(days=1))
    kept = (folder_size(home, charts=False) - demo_compacted) / daily_runs
    charts = folder_size(home) - folder_size(home, charts=False)
    print(f"daily runs: {2 * daily_runs}; a recent run adds {recent / 1024:.1f} KiB (its complete log, kept {keep} "
          f"days), a compacted one {kept / 1024:.1f} KiB: {kept * 365 / MIB:.1f} MiB per year of daily runs; "
          f"charts of the latest runs {charts / MIB:.1f} MiB (a bounded size)")
    print("| after the demo (MiB) | per recent daily run (KiB) | per compacted daily run (KiB) | per year (MiB) |")
    print(f"| {after_demo / MIB:.1f} | {recent / 1024:.1f} | {kept / 1024:.1f} | {kept * 365 / MIB:.1f} |")


if __name__ == "__main__":
    main()
