"""HTTP requests the live sources make per venue: a daily run and a 30-day backfill.

Runs the whole pipeline on `source: live` against the local venue and Yahoo servers of the test suite
(the sample market in each venue's wire format) and prints what each server was asked.

    .venv/bin/python bench/live_requests.py
    .venv/bin/python bench/live_requests.py --tiny   # a 3-day backfill: a smoke test
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import dagster as dg  # noqa: E402
import yaml  # noqa: E402

from fake_venues import Venues  # noqa: E402
from fake_yahoo import YahooServer, sample_series  # noqa: E402
from pipelines.run import materialize_range
from pipelines.settings import load_settings  # noqa: E402
from pipelines.settings import Settings  # noqa: E402

DAY = dt.date(2025, 4, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backfill-days", type=int, default=30)
    parser.add_argument("--tiny", action="store_true", help="a 3-day backfill")
    args = parser.parse_args()
    backfill_days = 3 if args.tiny else args.backfill_days
    venues = Venues(dt.date(2024, 10, 1), dt.date(2025, 6, 30))
    yahoo = YahooServer(sample_series(dt.date(2024, 10, 1), dt.date(2025, 6, 30), Settings().traditional_series())).start()
    with tempfile.TemporaryDirectory() as folder:
        settings = Path(folder) / "live.yaml"
        settings.write_text(yaml.safe_dump({"source": "live", "live": {"endpoints": {**venues.endpoints, "yahoo": yahoo.url}}}))
        os.environ["MARKET_SETTINGS"] = str(settings)
        os.environ["WAREHOUSE_DB"] = str(Path(folder) / "warehouse.duckdb")
        instance = dg.DagsterInstance.ephemeral()
        rows = []
        for label, start in ((f"{backfill_days}-day backfill", DAY - dt.timedelta(days=backfill_days - 1)), ("daily run", DAY)):
            venues.reset_counts()
            yahoo.requests.clear()
            began = time.perf_counter()
            assert materialize_range(start, DAY, load_settings(), instance=instance).success
            counts = venues.request_counts()
            rows.append((label, *(counts[v] for v in ("binance", "bybit", "okx", "deribit")), len(yahoo.requests),
                         time.perf_counter() - began))
    venues.stop()
    yahoo.stop()
    print("| run | binance | bybit | okx | deribit | yahoo | seconds |")
    print("|---|---|---|---|---|---|---|")
    for label, *numbers, seconds in rows:
        print(f"| {label} | " + " | ".join(str(n) for n in numbers) + f" | {seconds:.1f} |")


if __name__ == "__main__":
    main()
