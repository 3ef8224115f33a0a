"""Replay five years of Binance history (BTC and ETH, USD-M and COIN-M) from an archive folder through the whole
pipeline: `pipelines.replay.replay` over 2020-01-01 to 2024-12-31 into a fresh DuckDB file (as consecutive runs
of at most `runs.max_days_per_run` days).

The archive is synthetic and deterministic (the sample market, seed 7, written in Binance's documented layout
by tests/fake_archive.py: zip + CHECKSUM, months with and without header rows, junk rows after expiries), so
the figures measure the pipeline, not real markets. Yahoo is stood in for on 127.0.0.1 (the traditional
series). The replay runs in a child process so its peak memory is its own; printed: wall time, peak RSS
(target <= 1 GiB), archive files read and requests, rows per raw table, and the replay's closing summary
(what came from where, what is missing, anomaly episodes by code).

    .venv/bin/python bench/replay_pipeline.py          # 2020-01-01 to 2024-12-31
    .venv/bin/python bench/replay_pipeline.py --tiny   # three months, for a quick check
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

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pipelines.replay import replay  # noqa: E402
from pipelines.settings import Settings, load_settings  # noqa: E402
from warehouse.db import Warehouse  # noqa: E402

TARGET_MIB = 1024


def run_replay(start: dt.date, end: dt.date) -> dict:
    """The replay itself (in the child): settings from $MARKET_SETTINGS, figures as JSON on the last line."""
    settings = load_settings()
    lines: list[str] = []

    def keep(line: str) -> None:
        lines.extend(line.splitlines())
        print(line, file=sys.stderr, flush=True)

    began = time.perf_counter()
    result = replay(start, end, settings, out=keep)
    seconds = time.perf_counter() - began
    wh = Warehouse(settings.warehouse_path)
    rows = wh.query("SELECT (SELECT count(*) FROM raw.instruments) AS instruments, "
                    "(SELECT count(*) FROM raw.crypto_ohlcv) AS crypto_ohlcv, (SELECT count(*) FROM raw.funding) "
                    "AS funding, (SELECT count(*) FROM core.basis_daily) AS basis_daily").row(0, named=True)
    summary = lines[lines.index("What came from where:"):] if "What came from where:" in lines else lines[-5:]
    return {"success": result.success, "seconds": round(seconds, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rows": rows, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="three months instead of five years")
    parser.add_argument("--child", nargs=2, type=dt.date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_replay(*args.child), default=str))
        return

    from fake_archive import write_archive
    from fake_venues import sample_book
    from fake_yahoo import YahooServer, sample_series

    start, last = (dt.date(2023, 5, 1), dt.date(2023, 7, 31)) if args.tiny else (dt.date(2020, 1, 1), dt.date(2024, 12, 31))
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        archive = Path(folder) / "archive"
        written = write_archive(archive, sample_book(start, last))
        print(f"synthetic archive (not real history): {start} to {last}, BTC and ETH, USD-M and COIN-M, "
              f"{len(written.files)} zip files, written in {time.perf_counter() - began:.1f} s")
        yahoo = YahooServer(sample_series(start - dt.timedelta(days=10), last, Settings().traditional_series())).start()
        try:
            settings_file = Path(folder) / "replay.yaml"
            settings_file.write_text(yaml.safe_dump({
                "source": "live",
                "warehouse_path": str(Path(folder) / "warehouse.duckdb"),
                "universe": {"venues": ["binance"]},
                "live": {"endpoints": {"yahoo": yahoo.url}},
                "history": {"binance_archive": str(archive), "routes": [{"sources": ["binance_archive"]}]},
            }))
            # Runs recorded as the CLI records them (pipelines/home.py), in a Dagster home of their own.
            env = {**os.environ, "MARKET_SETTINGS": str(settings_file), "GX_ANALYTICS_ENABLED": "false",
                   "DAGSTER_HOME": str(Path(folder) / "dagster_home")}
            env.pop("WAREHOUSE_DB", None)
            env.pop("MARKET_SOURCE", None)
            child = subprocess.run([sys.executable, __file__, "--child", str(start), str(last)], env=env, cwd=ROOT,
                                   capture_output=True, text=True)
            if child.returncode != 0:
                raise SystemExit(f"replay failed ({child.returncode}):\n{child.stderr[-4000:]}")
            result = json.loads(child.stdout.strip().splitlines()[-1])
        finally:
            yahoo.stop()
    rows = ", ".join(f"{table} {count}" for table, count in result["rows"].items())
    print(f"replay {start} to {last} through the whole pipeline: {'success' if result['success'] else 'FAILED'}; "
          f"{result['seconds']} s wall, peak RSS {result['peak_rss_mib']} MiB "
          f"({'within' if result['peak_rss_mib'] <= TARGET_MIB else 'OVER'} the {TARGET_MIB} MiB target); rows: {rows}")
    print("\n".join(result["summary"]))


if __name__ == "__main__":
    main()
