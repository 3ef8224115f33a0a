"""`python -m pipelines.cli replay --start 2020-01-01 [--end ...]`: fill a range of history.

The settings say which source serves which days (`history.routes`, e.g. the Binance archive up to a date
and the live venues after it). The replay runs the daily job over the whole range (as consecutive runs of
at most `runs.max_days_per_run` days, see pipelines/run.py), printing progress as the sources deliver (per
route: days, instruments, rows, requests and archive files), then a closing summary over the whole range:
what came from where, which archive files were not there, and the holes still in the
stored raw tables (days without a spot or perpetual candle, perpetual days without funding). The holes are
also written to `raw.coverage_ledger` when the warehouse has that table.

Progress comes from the routed source's `PROGRESS` logger (see `assets/raw/sources/routed.py`): the
source lives inside the run's Dagster resources (a new one each run), and a log record is how it reaches
this command, which adds up what each run's source delivered.
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

from assets.raw.sources.routed import PROGRESS, RoutedCryptoSource, RoutedTally
from pipelines.run import materialize_range, run_parts
from pipelines.settings import Settings
from warehouse.db import Warehouse

LEDGER = "raw.coverage_ledger"
SHOWN = 12  # lines per list in the summary; the rest is counted


class _ProgressPrinter(logging.Handler):
    """Prints each progress line with the time since the replay began, and tallies what the routed source of
    each run delivered (a long range runs as several runs, each with its own source)."""

    def __init__(self, out: Callable[[str], None]):
        super().__init__(logging.INFO)
        self.out = out
        self.began = time.perf_counter()
        self.current: RoutedCryptoSource | None = None
        self.tally = RoutedTally()
        self.runs = 0

    def emit(self, record: logging.LogRecord) -> None:
        source = getattr(record, "routed_source", None)
        if source is not None and source is not self.current:
            self.finish()
            self.current = source
        self.out(f"[{time.perf_counter() - self.began:7.1f} s] {record.getMessage()}")

    def finish(self) -> RoutedTally | None:
        """Adds the latest run's source to the tally; the tally, or None when no routed source reported."""
        if self.current is not None:
            self.tally.add(self.current)
            self.runs += 1
            self.current = None
        return self.tally if self.runs else None


def replay(start: dt.date, end: dt.date, settings: Settings, instance: dg.DagsterInstance | None = None,
           raise_on_error: bool = False, out: Callable[[str], None] = print) -> dg.ExecuteInProcessResult:
    """Materialise [start, end] (inclusive UTC days) with progress and a closing summary of the whole range."""
    routes = settings.history.routes
    if routes and settings.source != "live":
        out(f"note: history.routes apply to source 'live'; source '{settings.source}' serves every day")
    elif routes:
        runs = len(run_parts(start, end, settings.runs.max_days_per_run))
        out(f"Replaying {start} to {end} ({(end - start).days + 1} days, {runs} run{'s' if runs > 1 else ''} of at "
            f"most {settings.runs.max_days_per_run} days) on routes: " + "; ".join(
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
    out(closing_summary(printer.finish(), Warehouse(settings.warehouse_path), start, end))
    return result


def closing_summary(source: RoutedCryptoSource | RoutedTally | None, warehouse: Warehouse, start: dt.date,
                    end: dt.date) -> str:
    """What came from where (over every run of the range), the archive files not there, the holes of [start,
    end] in the stored raw tables (recorded in the coverage ledger) and the anomaly episodes by code."""
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
    candle, and perpetual days with a candle but no funding settlement, as coverage-ledger rows (table,
    subject `venue:symbol`, date, reason). Quarterlies come and go with their expiries, so their absence
    is not a hole."""
    empty = pl.DataFrame(schema={"table": pl.Utf8, "subject": pl.Utf8, "date": pl.Date, "reason": pl.Utf8})
    if not _table_exists(warehouse, "raw.crypto_ohlcv"):
        return empty
    candles = warehouse.query(
        """WITH days AS (SELECT CAST(unnest(generate_series(CAST(? AS DATE), CAST(? AS DATE), INTERVAL 1 DAY)) AS DATE)
                         AS date),
                series AS (SELECT DISTINCT venue, symbol, price_type FROM raw.crypto_ohlcv
                           WHERE kind IN ('spot', 'perp') AND date BETWEEN ? AND ?)
           SELECT 'raw.crypto_ohlcv' AS "table", s.venue || ':' || s.symbol AS subject, d.date,
                  'no ' || s.price_type || ' candle' AS reason
           FROM series s CROSS JOIN days d
           ANTI JOIN raw.crypto_ohlcv b ON b.venue = s.venue AND b.symbol = s.symbol
                AND b.price_type = s.price_type AND b.date = d.date""", [start, end, start, end])
    funding = empty
    if _table_exists(warehouse, "raw.funding"):
        funding = warehouse.query(
            """SELECT 'raw.funding' AS "table", b.venue || ':' || b.symbol AS subject, b.date,
                      'no funding settlement' AS reason
               FROM raw.crypto_ohlcv b
               ANTI JOIN raw.funding f ON f.venue = b.venue AND f.symbol = b.symbol AND f.date = b.date
               WHERE b.kind = 'perp' AND b.price_type = 'last' AND b.date BETWEEN ? AND ?""", [start, end])
    return pl.concat([candles.cast(empty.schema), funding.cast(empty.schema)]).sort("table", "subject", "date")


def record_holes(warehouse: Warehouse, holes: pl.DataFrame) -> str:
    """Write the holes to raw.coverage_ledger when the warehouse has it: new holes as `missing`, a hole
    already recorded gets one more attempt (its status and first sighting stay), in one transaction."""
    if not _table_exists(warehouse, LEDGER):
        return f"(printed only: the warehouse has no {LEDGER} table)"
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with warehouse.connect() as con:
        con.register("holes", holes.to_arrow())
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"""UPDATE {LEDGER} l SET attempts = l.attempts + 1, last_attempt = ?
                            FROM holes h WHERE l."table" = h."table" AND l.subject = h.subject AND l.date = h.date""",
                        [now])
            con.execute(f"""INSERT INTO {LEDGER} ("table", subject, date, status, reason, first_seen, last_attempt,
                                                  attempts)
                            SELECT h."table", h.subject, h.date, 'missing', h.reason, ?, ?, 1 FROM holes h
                            ANTI JOIN {LEDGER} l ON l."table" = h."table" AND l.subject = h.subject
                                 AND l.date = h.date""", [now, now])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("holes")
    return f"(recorded in {LEDGER}: {holes.height} holes)"


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
    """Consecutive missing days of a series as one line: table subject: reason on n days (first .. last)."""
    lines = []
    for (table, subject, reason), group in holes.group_by(["table", "subject", "reason"], maintain_order=True):
        days = sorted(group["date"].to_list())
        spans: list[list[dt.date]] = []
        for day in days:
            if spans and (day - spans[-1][1]).days == 1:
                spans[-1][1] = day
            else:
                spans.append([day, day])
        shown = ", ".join(str(a) if a == b else f"{a} .. {b}" for a, b in spans[:4])
        more = f" and {len(spans) - 4} more spans" if len(spans) > 4 else ""
        lines.append(f"{table} {subject}: {reason} on {len(days)} days ({shown}{more})")
    return lines[:SHOWN] + ([f"... and {len(lines) - SHOWN} more series"] if len(lines) > SHOWN else [])
