"""`python -m pipelines.cli replay --start 2020-01-01 [--end ...]`: fill a range of history as one run.

The settings say which source serves which days (`history.routes`, e.g. the Binance archive up to a date
and the live venues after it). The replay runs the daily job over the whole range as one run, printing
progress as the sources deliver (per route: days, instruments, rows, requests and archive files), then a
closing summary: what came from where, which archive files were not there, and the holes still in the
stored raw tables (days without a spot or perpetual candle, perpetual days without funding). The holes are
also written to `raw.coverage_ledger` when the warehouse has that table.

Progress comes from the routed source's `PROGRESS` logger (see `assets/raw/sources/routed.py`): the
source lives inside the run's Dagster resources, and a log record is how it reaches this command.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import defaultdict
from typing import Callable

import dagster as dg
import polars as pl

from assets.raw.sources.routed import PROGRESS, RoutedCryptoSource
from pipelines.run import materialize_range
from pipelines.settings import Settings
from warehouse.db import Warehouse

LEDGER = "raw.coverage_ledger"
SHOWN = 12  # lines per list in the summary; the rest is counted


class _ProgressPrinter(logging.Handler):
    """Prints each progress line with the time since the replay began; remembers the routed source."""

    def __init__(self, out: Callable[[str], None]):
        super().__init__(logging.INFO)
        self.out = out
        self.began = time.perf_counter()
        self.source: RoutedCryptoSource | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.source = getattr(record, "routed_source", self.source)
        self.out(f"[{time.perf_counter() - self.began:7.1f} s] {record.getMessage()}")


def replay(start: dt.date, end: dt.date, settings: Settings, instance: dg.DagsterInstance | None = None,
           raise_on_error: bool = False, out: Callable[[str], None] = print) -> dg.ExecuteInProcessResult:
    """Materialise [start, end] (inclusive UTC days) as one run with progress and a closing summary."""
    routes = settings.history.routes
    if routes and settings.source != "live":
        out(f"note: history.routes apply to source 'live'; source '{settings.source}' serves every day")
    elif routes:
        out(f"Replaying {start} to {end} ({(end - start).days + 1} days) on routes: " + "; ".join(
            f"{'+'.join(r.sources)} [{r.start or '...'}, {r.end or '...'})" for r in routes))
    printer = _ProgressPrinter(out)
    level, propagate = PROGRESS.level, PROGRESS.propagate
    PROGRESS.addHandler(printer)
    PROGRESS.setLevel(logging.INFO)
    PROGRESS.propagate = False
    try:
        result = materialize_range(start, end, settings, instance=instance, raise_on_error=raise_on_error)
    finally:
        PROGRESS.removeHandler(printer)
        PROGRESS.setLevel(level)
        PROGRESS.propagate = propagate
    out(closing_summary(printer.source, Warehouse(settings.warehouse_path), start, end))
    return result


def closing_summary(source: RoutedCryptoSource | None, warehouse: Warehouse, start: dt.date, end: dt.date) -> str:
    lines = ["", "What came from where:"]
    if source is None:
        lines.append("  one source served every day (history.routes is empty); no per-source counts")
    else:
        lines += [f"  {line}" for line in source.summary()]
        missing = source.missing_files()
        lines.append(f"Archive files looked for but not there: {len(missing)}"
                     + (" (a quarterly is looked for from 200 days before its expiry, so months before it "
                        "listed count here)" if missing else ""))
        lines += [f"  {line}" for line in _grouped_files(missing)]
    holes = find_holes(warehouse, start, end)
    lines.append(f"Still missing in the stored raw tables: {holes.height} series-days")
    lines += [f"  {line}" for line in _hole_ranges(holes)]
    if holes.height:
        lines.append("  " + record_holes(warehouse, holes))
    lines.append("Anomaly episodes by code: " + anomaly_counts(warehouse))
    return "\n".join(lines)


def find_holes(warehouse: Warehouse, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Days of [start, end] on which a spot or perpetual series stored somewhere in the range has no
    candle, and perpetual days with a candle but no funding settlement. Quarterlies come and go with
    their expiries, so their absence is not a hole."""
    empty = pl.DataFrame(schema={"table": pl.Utf8, "venue": pl.Utf8, "symbol": pl.Utf8, "date": pl.Date,
                                 "reason": pl.Utf8})
    if not warehouse.path.exists() or not _table_exists(warehouse, "raw.crypto_ohlcv"):
        return empty
    candles = warehouse.query(
        """WITH days AS (SELECT CAST(unnest(generate_series(CAST(? AS DATE), CAST(? AS DATE), INTERVAL 1 DAY)) AS DATE)
                         AS date),
                series AS (SELECT DISTINCT venue, symbol, price_type FROM raw.crypto_ohlcv
                           WHERE kind IN ('spot', 'perp') AND date BETWEEN ? AND ?)
           SELECT 'raw.crypto_ohlcv' AS "table", s.venue, s.symbol, d.date,
                  'no ' || s.price_type || ' candle' AS reason
           FROM series s CROSS JOIN days d
           ANTI JOIN raw.crypto_ohlcv b ON b.venue = s.venue AND b.symbol = s.symbol
                AND b.price_type = s.price_type AND b.date = d.date""", [start, end, start, end])
    funding = empty
    if _table_exists(warehouse, "raw.funding"):
        funding = warehouse.query(
            """SELECT 'raw.funding' AS "table", b.venue, b.symbol, b.date, 'no funding settlement' AS reason
               FROM raw.crypto_ohlcv b
               ANTI JOIN raw.funding f ON f.venue = b.venue AND f.symbol = b.symbol AND f.date = b.date
               WHERE b.kind = 'perp' AND b.price_type = 'last' AND b.date BETWEEN ? AND ?""", [start, end])
    return pl.concat([candles.cast(empty.schema), funding.cast(empty.schema)]).sort("table", "venue", "symbol", "date")


def record_holes(warehouse: Warehouse, holes: pl.DataFrame) -> str:
    """Write the holes to raw.coverage_ledger when the warehouse has it (the columns it shares with
    table, venue, symbol, series, date, status, reason, first_seen, attempts; matched by name)."""
    if not _table_exists(warehouse, LEDGER):
        return f"(printed only: the warehouse has no {LEDGER} table)"
    rows = holes.with_columns(series=pl.col("venue") + " " + pl.col("symbol"), status=pl.lit("missing"),
                              first_seen=pl.lit(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)),
                              attempts=pl.lit(1))
    with warehouse.connect() as con:
        columns = [c for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' "
            "AND table_name = 'coverage_ledger'").fetchall() if c in rows.columns]
        con.register("holes", rows.select(columns).to_arrow())
        try:
            con.execute(f"INSERT INTO {LEDGER} BY NAME SELECT * FROM holes")
        except Exception as exc:  # the ledger's own constraints decide; the holes are printed above either way
            return f"(not recorded in {LEDGER}: {type(exc).__name__}: {str(exc)[:200]})"
        finally:
            con.unregister("holes")
    return f"(recorded in {LEDGER}: {holes.height} rows, columns {', '.join(columns)})"


def anomaly_counts(warehouse: Warehouse) -> str:
    if not _table_exists(warehouse, "marts.anomaly_episodes"):
        return "none (no marts.anomaly_episodes table)"
    counts = warehouse.query("SELECT kind, code, count(*) AS episodes, sum(days) AS days FROM marts.anomaly_episodes "
                             "GROUP BY kind, code ORDER BY kind, code")
    return ", ".join(f"{r['code']} {r['episodes']} ({r['days']} days{', context' if r['kind'] != 'anomaly' else ''})"
                     for r in counts.iter_rows(named=True)) or "none"


def _table_exists(warehouse: Warehouse, qualified: str) -> bool:
    schema, name = qualified.split(".")
    if not warehouse.path.exists():
        return False
    return warehouse.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = ? "
                           "AND table_name = ?", [schema, name])["n"][0] > 0


def _grouped_files(paths: list[str]) -> list[str]:
    """Missing archive files by folder, with the months or days they cover."""
    by_folder: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        folder, _, name = path.rpartition("/")
        period = re.search(r"(\d{4}-\d{2}(?:-\d{2})?)\.zip$", name)
        by_folder[folder].append(period.group(1) if period else name)
    lines = [f"{folder}: {len(names)} ({min(names)} .. {max(names)})" for folder, names in sorted(by_folder.items())]
    return lines[:SHOWN] + ([f"... and {len(lines) - SHOWN} more folders"] if len(lines) > SHOWN else [])


def _hole_ranges(holes: pl.DataFrame) -> list[str]:
    """Consecutive missing days of a series as one line: table venue symbol: first .. last (n days), reason."""
    lines = []
    for (table, venue, symbol, reason), group in holes.group_by(["table", "venue", "symbol", "reason"],
                                                                 maintain_order=True):
        days = sorted(group["date"].to_list())
        spans: list[list[dt.date]] = []
        for day in days:
            if spans and (day - spans[-1][1]).days == 1:
                spans[-1][1] = day
            else:
                spans.append([day, day])
        shown = ", ".join(str(a) if a == b else f"{a} .. {b}" for a, b in spans[:4])
        more = f" and {len(spans) - 4} more spans" if len(spans) > 4 else ""
        lines.append(f"{table} {venue} {symbol}: {reason} on {len(days)} days ({shown}{more})")
    return lines[:SHOWN] + ([f"... and {len(lines) - SHOWN} more series"] if len(lines) > SHOWN else [])
