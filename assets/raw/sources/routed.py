"""History served from several sources: each date range from the source the settings name for it.

A replay of 2020-2025 typically reads the Binance archive up to the last complete month and the live
venues after it. `RoutedCryptoSource` splits the asked range [start, end) along its routes, asks each
source for its part and concatenates the frames, so the raw assets see one source. It keeps, per source,
what it served (days, contracts, rows) and what the source reports about itself (requests, files read,
files downloaded, files missing), for a progress display and the summary of a replay.

Progress: after each part it asks a source for, the routed source logs one line on the `PROGRESS` logger
(`assets.raw.sources.routed.progress`, level INFO) with the routed source itself in the record
(`record.routed_source`), so a command that runs the pipeline can print progress as it goes and the
closing summary afterwards without reaching into the Dagster resources. A source that reads month by month
at no extra cost (`reads_by_month = True`: one archive file per month) is asked one month at a time, so
the progress moves monthly; the others are asked for their whole part at once (fewest requests).

What every history source shares also lives here:
- `HistoryStats`: the counters a history source keeps while it reads.
- `ReconstructedInstrument` and `snapshots_from_bars`: the instrument snapshot of a past day rebuilt from
  the contracts that have candles that day (venues no longer list expired contracts), marked
  `reconstructed = true`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import polars as pl

from warehouse.schemas import RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_INSTRUMENTS

from .base import CryptoSource, SourceError

PROGRESS = logging.getLogger(__name__ + ".progress")


@dataclass
class HistoryStats:
    """What a history source did: HTTP requests sent, archive files read (from a folder, the cache or
    the network), files downloaded (a rerun over a warm cache downloads none) and files it looked for
    but the archive does not have."""

    requests: int = 0
    files_read: int = 0
    downloads: int = 0
    missing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "files_read": self.files_read, "downloads": self.downloads,
                "files_missing": len(self.missing)}


@dataclass(frozen=True)
class ReconstructedInstrument:
    """What a snapshot row says about an instrument, known without the venue's market list."""

    venue: str
    symbol: str
    underlying: str
    kind: str  # spot | perp | future
    quote: str
    settle: str | None
    linear: bool | None
    inverse: bool | None
    contract_size: float | None
    expiry_ts: dt.datetime | None  # naive UTC


def snapshots_from_bars(bars: pl.DataFrame, instruments: Iterable[ReconstructedInstrument]) -> pl.DataFrame:
    """raw.instruments rows: one per day and instrument that has a candle that day, marked reconstructed.

    Listing an instrument only on days it has candles keeps the snapshot honest about contracts that did
    not exist yet (USD-M quarterlies before late 2020) and lists a new quarterly from its first candle."""
    fields = {k: v for k, v in RAW_INSTRUMENTS.polars_schema.items() if k not in ("snapshot_date", "reconstructed")}
    details = pl.DataFrame([{k: getattr(i, k) for k in fields} for i in set(instruments)], schema=fields)
    present = bars.select("date", "venue", "symbol").unique()
    unknown = present.join(details, on=["venue", "symbol"], how="anti")
    if unknown.height:
        row = unknown.sort("date").row(0, named=True)
        raise SourceError(f"{row['venue']}: candles of {row['symbol']} on {row['date']} without instrument details")
    return (
        present.rename({"date": "snapshot_date"})
        .join(details, on=["venue", "symbol"], how="inner")
        .with_columns(reconstructed=pl.lit(True))
        .select(RAW_INSTRUMENTS.column_names)
        .cast(RAW_INSTRUMENTS.polars_schema)
        .sort("snapshot_date", "venue", "symbol")
    )


def concat_frames(frames: Sequence[pl.DataFrame], schema: dict, order: list[str]) -> pl.DataFrame:
    frames = [f.select(list(schema)).cast(schema) for f in frames if f.height]
    return pl.concat(frames).sort(order) if frames else pl.DataFrame(schema=schema)


_TABLES = {
    "instruments": (RAW_INSTRUMENTS.polars_schema, ["snapshot_date", "venue", "symbol"], "snapshot_date"),
    "crypto_bars": (RAW_CRYPTO_OHLCV.polars_schema, ["date", "venue", "symbol", "price_type"], "date"),
    "funding": (RAW_FUNDING.polars_schema, ["date", "venue", "symbol", "funding_ts"], "date"),
}


class CombinedCryptoSource:
    """Several sources for the same dates, each serving its own venues (e.g. the Binance archive and
    Deribit's chart data): their frames side by side."""

    def __init__(self, sources: Sequence[CryptoSource]):
        if not sources:
            raise SourceError("combined source: no sources given")
        self.sources = tuple(sources)
        self.name = "+".join(s.name for s in self.sources)
        self.reads_by_month = all(getattr(s, "reads_by_month", False) for s in self.sources)

    def _each(self, method: str, start: dt.date, end: dt.date) -> pl.DataFrame:
        schema, order, _ = _TABLES[method]
        return concat_frames([getattr(s, method)(start, end) for s in self.sources], schema, order)

    def instruments(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        return self._each("instruments", start, end)

    def crypto_bars(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        return self._each("crypto_bars", start, end)

    def funding(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        return self._each("funding", start, end)

    @property
    def stats(self) -> HistoryStats:
        total = HistoryStats()
        for source in self.sources:
            own = getattr(source, "stats", None)
            if isinstance(own, HistoryStats):
                total.requests += own.requests
                total.files_read += own.files_read
                total.downloads += own.downloads
                total.missing += own.missing
        return total


@dataclass(frozen=True)
class Route:
    """`source` serves the days in [start, end); None leaves that end open."""

    source: CryptoSource
    start: dt.date | None = None
    end: dt.date | None = None

    def part(self, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date] | None:
        first = max(start, self.start) if self.start else start
        stop = min(end, self.end) if self.end else end
        return (first, stop) if first < stop else None

    def describe(self) -> str:
        return f"{self.source.name} [{self.start or '...'}, {self.end or '...'})"


@dataclass
class RouteSummary:
    """What one route's source delivered so far in this run."""

    source: str
    days: set = field(default_factory=set)  # UTC days served, any table
    contracts: set = field(default_factory=set)  # (venue, symbol) with rows
    rows: dict = field(default_factory=dict)  # table -> rows

    def line(self, stats: HistoryStats | None) -> str:
        span = f"{min(self.days)} to {max(self.days)}" if self.days else "no days"
        rows = ", ".join(f"{table} {count}" for table, count in sorted(self.rows.items())) or "no rows"
        counted = "" if stats is None else (
            f"; {stats.requests} requests, {stats.files_read} files read, {stats.downloads} downloaded, "
            f"{len(stats.missing)} not in the archive")
        return f"{self.source}: {len(self.days)} days ({span}), {len(self.contracts)} instruments, {rows}{counted}"


class RoutedCryptoSource:
    """Each date range from its own source (`routes` in date order, not overlapping)."""

    def __init__(self, routes: Sequence[Route]):
        if not routes:
            raise SourceError("routed source: no routes given")
        ordered = sorted(routes, key=lambda r: r.start or dt.date.min)
        for before, after in zip(ordered, ordered[1:]):
            if before.end is None or after.start is None or before.end > after.start:
                raise SourceError(f"routed source: routes {before.describe()} and {after.describe()} overlap")
        self.routes = tuple(ordered)
        self.name = "routed(" + ", ".join(r.describe() for r in self.routes) + ")"
        self.summaries = [RouteSummary(r.source.name) for r in self.routes]

    def _routed(self, method: str, start: dt.date, end: dt.date) -> pl.DataFrame:
        schema, order, date_column = _TABLES[method]
        frames = []
        covered = 0
        for route, summary in zip(self.routes, self.summaries):
            part = route.part(start, end)
            if part is None:
                continue
            covered += (part[1] - part[0]).days
            pieces = _months_of(*part) if getattr(route.source, "reads_by_month", False) else [part]
            for piece in pieces:
                frame = getattr(route.source, method)(*piece)
                outside = frame.filter((pl.col(date_column) < piece[0]) | (pl.col(date_column) >= piece[1]))
                if outside.height:
                    raise SourceError(f"{route.source.name}: {method} for {piece[0]} to {piece[1]} returned "
                                      f"{outside.height} rows outside those days, first on {outside[date_column][0]}")
                summary.days.update(frame[date_column].unique().to_list())
                summary.contracts.update(frame.select("venue", "symbol").unique().iter_rows())
                summary.rows[method] = summary.rows.get(method, 0) + frame.height
                frames.append(frame)
                stats = getattr(route.source, "stats", None)
                PROGRESS.info("%s %s to %s: %s", method, piece[0], piece[1] - dt.timedelta(days=1),
                              summary.line(stats if isinstance(stats, HistoryStats) else None),
                              extra={"routed_source": self})
        if covered < (end - start).days:
            missing = [d for d in _days(start, end) if not any(r.part(d, d + dt.timedelta(days=1)) for r in self.routes)]
            raise SourceError(f"routed source: no route serves {_ranges(missing)} ({len(missing)} days); "
                              f"routes: {', '.join(r.describe() for r in self.routes)}")
        return concat_frames(frames, schema, order)

    def instruments(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        return self._routed("instruments", start, end)

    def crypto_bars(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        return self._routed("crypto_bars", start, end)

    def funding(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        return self._routed("funding", start, end)

    def summary(self) -> list[str]:
        """One line per route: days, instruments and rows served, and the source's own counters."""
        lines = []
        for route, summary in zip(self.routes, self.summaries):
            stats = getattr(route.source, "stats", None)
            lines.append(summary.line(stats if isinstance(stats, HistoryStats) else None))
        return lines

    def missing_files(self) -> list[str]:
        found: list[str] = []
        for route in self.routes:
            stats = getattr(route.source, "stats", None)
            if isinstance(stats, HistoryStats):
                found += stats.missing
        return found


class RoutedTally:
    """What the routed sources of several runs delivered, route by route: a range longer than one run is
    served by one routed source per run, and a replay's summary covers them all. Days and instruments are
    united, rows and the sources' counters added up; archive files missing in several runs count once.
    Holds counts only (not the sources, whose caches would otherwise outlive their run)."""

    def __init__(self) -> None:
        self.summaries: dict[str, RouteSummary] = {}
        self.stats: dict[str, HistoryStats | None] = {}
        self._missing: dict[str, None] = {}

    def add(self, source: RoutedCryptoSource) -> None:
        for route, summary in zip(source.routes, source.summaries):
            key = route.describe()
            total = self.summaries.setdefault(key, RouteSummary(summary.source))
            total.days |= summary.days
            total.contracts |= summary.contracts
            for table, count in summary.rows.items():
                total.rows[table] = total.rows.get(table, 0) + count
            stats = getattr(route.source, "stats", None)
            if isinstance(stats, HistoryStats):
                counted = self.stats.get(key) or HistoryStats()
                counted.requests += stats.requests
                counted.files_read += stats.files_read
                counted.downloads += stats.downloads
                counted.missing = list(dict.fromkeys(counted.missing + stats.missing))
                self.stats[key] = counted
            else:
                self.stats.setdefault(key, None)
        self._missing.update(dict.fromkeys(source.missing_files()))

    def summary(self) -> list[str]:
        """One line per route, as `RoutedCryptoSource.summary`, over every run added."""
        return [summary.line(self.stats.get(key)) for key, summary in self.summaries.items()]

    def missing_files(self) -> list[str]:
        return list(self._missing)


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


def _months_of(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """[start, end) cut at the first of each month."""
    pieces = []
    while start < end:
        following = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
        pieces.append((start, min(end, following)))
        start = following
    return pieces


def _ranges(days: list[dt.date]) -> str:
    """Consecutive days as 'first to last' ranges, comma separated."""
    spans: list[list[dt.date]] = []
    for day in days:
        if spans and (day - spans[-1][1]).days == 1:
            spans[-1][1] = day
        else:
            spans.append([day, day])
    return ", ".join(str(a) if a == b else f"{a} to {b}" for a, b in spans)
