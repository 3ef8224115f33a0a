"""What publishing the read-only copy costs as history grows.

Fills a temporary warehouse with synthetic rows shaped like the sample market's (the same tables, about
the same rows per day), then times three publishes at each history length:

- first: no earlier copy, everything is written;
- daily: one new day in every table and new marts, as a daily run leaves them;
- unchanged: nothing changed since the last publish.

    .venv/bin/python bench/publish.py [--years 1 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from warehouse.db import Warehouse  # noqa: E402
from warehouse.schemas import (  # noqa: E402
    CORE_BASIS_DAILY,
    CORE_CORRELATION_DAILY,
    CORE_FUNDING_DAILY,
    CORE_PERP_QUARTERLY_SPREAD,
    CORE_RETURNS_DAILY,
    MARTS_ANOMALY_DAILY,
    MARTS_ANOMALY_EPISODES,
    MARTS_ANOMALY_STATUS,
    RAW_CRYPTO_OHLCV,
    RAW_FUNDING,
    RAW_INSTRUMENTS,
    RAW_TRADITIONAL_OHLCV,
    TableSpec,
)
from warehouse.serving import ALL_TABLES, publish  # noqa: E402

# Rows per day of each daily table in the sample market (two venues, BTC and ETH, five traditional series).
ROWS_PER_DAY = {
    RAW_INSTRUMENTS: 16, RAW_CRYPTO_OHLCV: 20, RAW_FUNDING: 18, RAW_TRADITIONAL_OHLCV: 4,
    CORE_BASIS_DAILY: 16, CORE_FUNDING_DAILY: 4, CORE_PERP_QUARTERLY_SPREAD: 4, CORE_RETURNS_DAILY: 10,
    CORE_CORRELATION_DAILY: 5, MARTS_ANOMALY_DAILY: 1,
}
EPISODES_PER_YEAR = 25


def synthetic(spec: TableSpec, days: list[dt.date], per_day: int, seed: int) -> pl.DataFrame:
    """`per_day` rows for each day: unique keys, every value of the right type, random numbers."""
    n = len(days) * per_day
    day = pl.Series(np.repeat(np.array(days, dtype="datetime64[D]"), per_day)).cast(pl.Date)
    slot = np.tile(np.arange(per_day), len(days))
    columns = {}
    for index, column in enumerate(spec.columns):
        rng = np.random.default_rng([seed, index])  # one stream per column: a longer table starts the same
        dtype = column.polars_dtype
        if dtype == pl.Date:
            columns[column.name] = day
        elif isinstance(dtype, pl.Datetime):
            columns[column.name] = day.cast(pl.Datetime("us")) + pl.Series(slot * 60_000_000).cast(pl.Duration("us"))
        elif dtype == pl.Utf8:
            columns[column.name] = pl.Series([f"{column.name}{s}" for s in slot])
        elif dtype == pl.Int64:
            columns[column.name] = pl.Series(np.arange(n) + seed * 1_000_000)
        elif dtype == pl.Boolean:
            columns[column.name] = pl.Series(rng.random(n) < 0.5)
        else:
            columns[column.name] = pl.Series(rng.normal(size=n))
    return pl.DataFrame(columns).cast(spec.polars_schema)


def fill(wh: Warehouse, history_start: dt.date, start: dt.date, end: dt.date, seed: int) -> None:
    """Daily tables for [start, end), marts rebuilt whole from `history_start`, as a run over that range leaves
    them."""
    days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
    for index, (spec, per_day) in enumerate(ROWS_PER_DAY.items()):
        wh.replace_window(spec, synthetic(spec, days, per_day, seed + index), start, end, source="bench")
    every = dt.timedelta(days=365 // EPISODES_PER_YEAR)
    episode_days = [history_start + every * k for k in range((end - history_start) // every + 1)]
    # Episodes are rebuilt whole each run and come out the same, plus any new one.
    wh.replace_all(MARTS_ANOMALY_EPISODES, synthetic(MARTS_ANOMALY_EPISODES, episode_days, 1, seed=20), "bench")
    wh.replace_all(MARTS_ANOMALY_STATUS, synthetic(MARTS_ANOMALY_STATUS, [end - dt.timedelta(days=1)], 3, seed + 21),
                   "bench")
    # The other whole-history marts (trades, alerts) exist in every warehouse a run leaves; empty here.
    wh.ensure(ALL_TABLES)


def timed(warehouse: Path) -> float:
    began = time.perf_counter()
    publish(warehouse)
    return time.perf_counter() - began


def measure(years: float, repeat: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="publish-bench-"))
    end = dt.date(2025, 1, 1)
    start = end - dt.timedelta(days=round(365 * years))
    wh = Warehouse(folder / "warehouse.duckdb")
    fill(wh, start, start, end, seed=1)
    first = [timed(wh.path)]
    for attempt in range(repeat - 1):  # a first publish again: no earlier copy
        (folder / "published" / "warehouse.duckdb").unlink()
        first.append(timed(wh.path))
    daily, unchanged = [], []
    for attempt in range(repeat):
        fill(wh, start, end, end + dt.timedelta(days=1), seed=100 + attempt)
        end += dt.timedelta(days=1)
        daily.append(timed(wh.path))
        unchanged.append(timed(wh.path))
    size = (folder / "published" / "warehouse.duckdb").stat().st_size
    return {"first": statistics.median(first), "daily": statistics.median(daily),
            "unchanged": statistics.median(unchanged), "megabytes": size / 2**20}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'history':>8} | {'first publish':>13} | {'daily publish':>13} | {'unchanged':>9} | {'copy size':>9}")
    for years in args.years:
        m = measure(years, args.repeat)
        print(f"{years:>6g} y | {m['first']:>11.3f} s | {m['daily']:>11.3f} s | {m['unchanged']:>7.3f} s | "
              f"{m['megabytes']:>6.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
