"""Replay years of Binance history (BTC and ETH, USD-M and COIN-M) from an archive folder.

Writes a synthetic, deterministic archive in Binance's documented layout (the sample market, seed 7:
spot, perpetual last and mark klines, every quarterly, funding; zip + CHECKSUM, months alternating with and
without header rows), then replays it through `BinanceArchiveSource` in a separate process and prints the
wall time, the peak memory of that process and the files it read. With `--http` the folder is served on
127.0.0.1 and read twice through the download cache: the second pass must download nothing.

    .venv/bin/python bench/history_replay.py            # 2020-01-01 to 2024-12-31
    .venv/bin/python bench/history_replay.py --tiny     # three months, for a quick check
    .venv/bin/python bench/history_replay.py --http
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from assets.raw.sources.binance_archive import BinanceArchiveSource  # noqa: E402

TODAY = dt.date(2026, 1, 1)


def replay(location: str, start: dt.date, end: dt.date, cache: str | None) -> dict:
    """One replay of [start, end): the three raw tables, as a run over the range would ask for them."""
    began = time.perf_counter()
    source = BinanceArchiveSource(location, cache_dir=cache, today=TODAY)
    instruments = source.instruments(start, end)
    bars = source.crypto_bars(start, end)
    funding = source.funding(start, end)
    futures = instruments.filter(instruments["kind"] == "future")
    return {
        "seconds": round(time.perf_counter() - began, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rows": {"instruments": instruments.height, "crypto_ohlcv": bars.height, "funding": funding.height},
        "quarterlies": futures["symbol"].n_unique(),
        "days": bars["date"].n_unique(),
        **source.stats.as_dict(),
    }


def run_child(location: str, start: dt.date, end: dt.date, cache: str | None) -> dict:
    command = [sys.executable, __file__, "--replay", location, "--start", str(start), "--end", str(end)]
    if cache:
        command += ["--cache", cache]
    answer = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(answer.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="three months instead of five years")
    parser.add_argument("--http", action="store_true", help="read through a local HTTP server and the cache")
    parser.add_argument("--replay", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=dt.date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--end", type=dt.date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replay:
        print(json.dumps(replay(args.replay, args.start, args.end, args.cache)))
        return

    from fake_archive import FolderServer, write_archive
    from fake_venues import sample_book

    start, end = (dt.date(2023, 5, 1), dt.date(2023, 8, 1)) if args.tiny else (dt.date(2020, 1, 1), dt.date(2025, 1, 1))
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        written = write_archive(Path(folder), sample_book(start, end - dt.timedelta(days=1)))
        size = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
        print(f"archive: {start} to {end - dt.timedelta(days=1)}, BTC and ETH, USD-M and COIN-M: "
              f"{len(written.files)} zip files ({size / 2**20:.1f} MiB with CHECKSUMs), "
              f"written in {time.perf_counter() - began:.1f} s")
        if not args.http:
            report("replay from the folder", run_child(folder, start, end, None))
            return
        server = FolderServer(Path(folder)).start()
        try:
            cache = str(Path(folder) / ".." / f"{Path(folder).name}-cache")
            report("replay over HTTP, cold cache", run_child(server.url, start, end, cache))
            asked = len(server.requests)
            report("replay over HTTP, warm cache", run_child(server.url, start, end, cache))
            print(f"requests the server saw: {asked} on the first pass, {len(server.requests) - asked} on the second")
        finally:
            server.stop()
            subprocess.run(["rm", "-rf", cache], check=False)


def report(title: str, result: dict) -> None:
    rows = ", ".join(f"{table} {count}" for table, count in result["rows"].items())
    print(f"{title}: {result['seconds']} s wall, peak RSS {result['peak_rss_mib']} MiB; {result['days']} days, "
          f"{result['quarterlies']} quarterlies; rows: {rows}; files read {result['files_read']}, "
          f"downloaded {result['downloads']}, not in the archive {result['files_missing']}, "
          f"HTTP requests {result['requests']}")


if __name__ == "__main__":
    main()
