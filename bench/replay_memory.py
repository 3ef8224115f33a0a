"""Peak memory of a multi-year build on the sample market, through the pipeline (`materialize_range`).

Each size runs in its own process on a fresh warehouse and a fresh Dagster home set up as the CLI's
(`pipelines/home.py`: runs recorded in SQLite on disk), and the process's peak resident set (ru_maxrss) is
printed beside its wall and CPU time, against the 1 GiB target. A range longer than the setting
`runs.max_days_per_run` runs as consecutive bounded runs (pipelines/run.py); `--one-run` also measures the
same ranges as a single run, for comparison. The sample market begins on 2018-01-01, so its longest build is
8.8 years; a longer one adds runs of the same size.

    .venv/bin/python bench/replay_memory.py                 # 1, 3 and all the sample's 8.8 years
    .venv/bin/python bench/replay_memory.py --one-run       # ... and each as one unbounded run
    .venv/bin/python bench/replay_memory.py --tiny          # 40 days in runs of 15: a smoke test
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

END = dt.date(2026, 10, 31)
HISTORY_START = dt.date(2018, 1, 1)  # the sample market's first day


TARGET_MIB = 1024


def build(db: str, start: dt.date, max_days: int) -> dict:
    import dagster as dg

    from pipelines.home import prepare_dagster_home
    from pipelines.run import materialize_range
    from pipelines.settings import load_settings

    settings = load_settings(warehouse_path=db, history_start=HISTORY_START, source="sample")
    instance = dg.DagsterInstance.from_config(str(prepare_dagster_home(Path(db).parent / "dagster_home")))
    began, cpu = time.perf_counter(), time.process_time()
    result = materialize_range(start, END, settings, instance=instance, max_days_per_run=max_days)
    assert result.success
    return {"wall": time.perf_counter() - began, "cpu": time.process_time() - cpu,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(days: int, max_days: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="replay-memory-") as folder:
        start = END - dt.timedelta(days=days - 1)
        done = subprocess.run([sys.executable, __file__, "--child", str(Path(folder) / "warehouse.duckdb"),
                               "--start", str(start), "--max-days", str(max_days)],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"build of {days} days failed:\n{done.stdout}\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="40 days in runs of at most 15")
    parser.add_argument("--one-run", action="store_true", help="also build each range as one run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=dt.date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--max-days", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(build(args.child, args.start, args.max_days)))
        return
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from pipelines.settings import Settings

    all_days = (END - HISTORY_START).days + 1
    sizes = [40] if args.tiny else [365, 3 * 365, all_days]
    bounded = 15 if args.tiny else Settings().runs.max_days_per_run
    modes = [("bounded runs", bounded)] + ([("one run", all_days)] if args.one_run else [])
    load = os.getloadavg()
    print(f"Builds ending {END} on the sample market, each in a fresh process (runs of at most {bounded} days); "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start.")
    print(f"| history | runs | peak RSS (target {TARGET_MIB} MiB) | wall | CPU |")
    print("|---|---|---|---|---|")
    for days in sizes:
        for name, max_days in modes:
            m = measure(days, max_days)
            runs = -(-days // max_days)
            over = "" if m["peak_mib"] <= TARGET_MIB else " (OVER the target)"
            print(f"| {days / 365.25:.2f} y ({days} days) | {runs} ({name}) | {m['peak_mib']:.0f} MiB{over} | "
                  f"{m['wall']:.0f} s | {m['cpu']:.0f} s |")


if __name__ == "__main__":
    main()
