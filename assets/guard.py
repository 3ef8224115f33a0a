"""Stored raw data only shrinks on purpose.

A raw window is replaced whole with what the source answered. An answer that is empty, short or lacks an
instrument (a venue that returned 200 with nothing in it) would delete good stored rows and put nothing in
their place. Before a raw window is replaced, the stored rows of that window are compared with the answer:
every stored day, instrument (venue, symbol, price type), series or funding settlement missing from the
answer is a loss, and `decide` refuses it unless shrinking was asked for explicitly.

Derived core and mart tables are not guarded: they are rebuilt from the stored raw rows, which are the truth.
Pure: no Dagster, no DuckDB.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from warehouse.schemas import RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_INSTRUMENTS, RAW_TRADITIONAL_OHLCV, TableSpec

# What one lost subject is called in a message: the columns naming the venue or series and the instrument.
SUBJECTS: dict[TableSpec, tuple[str, ...]] = {
    RAW_CRYPTO_OHLCV: ("venue", "symbol", "price_type"),
    RAW_FUNDING: ("venue", "symbol"),
    RAW_INSTRUMENTS: ("venue", "symbol"),
    RAW_TRADITIONAL_OHLCV: ("series", "ticker"),
}
# The explicit ways to allow a shrink, named by every refusal.
ALLOW_SHRINK_TAG = "market/allow_shrink"
ALLOW_SHRINK_HOW = (f"rerun with `--allow-shrink` (CLI), the run tag {ALLOW_SHRINK_TAG}=true (UI), "
                    "or the setting integrity.allow_shrink: true")


class ShrinkRefused(RuntimeError):
    """A source's answer lacks stored rows; the message names table, subjects and days, and how to allow it."""


@dataclass(frozen=True)
class Shrink:
    """The stored rows of a window that an answer lacks, by subject."""

    table: str
    source: str
    start: dt.date
    end: dt.date  # exclusive
    lost: pl.DataFrame  # one row per lost subject: the subject columns, days (list of dates), rows

    @property
    def rows(self) -> int:
        return int(self.lost["rows"].sum()) if self.lost.height else 0

    def describe(self, limit: int = 6) -> str:
        subjects = self.lost.drop("days", "rows").columns
        parts = []
        for row in self.lost.head(limit).iter_rows(named=True):
            name = " ".join(str(row[c]) for c in subjects)
            parts.append(f"{name} on {_days(row['days'])} ({row['rows']} row(s))")
        more = f"; and {self.lost.height - limit} more" if self.lost.height > limit else ""
        return "; ".join(parts) + more

    def summary(self) -> str:
        return (f"{self.table}: the answer of {self.source} for {self.start} to {self.end - dt.timedelta(days=1)} "
                f"lacks {self.rows} stored row(s): {self.describe()}")

    def message(self) -> str:
        return (f"{self.summary()}. Nothing was written; the stored rows are unchanged. To store the smaller answer "
                f"on purpose, {ALLOW_SHRINK_HOW}.")


def guarded(spec: TableSpec) -> bool:
    """Raw tables hold what only the source can give again; derived tables are rebuilt from them."""
    return spec in SUBJECTS


def find_shrink(spec: TableSpec, stored: pl.DataFrame, incoming: pl.DataFrame, source: str,
                start: dt.date, end: dt.date) -> Shrink | None:
    """The stored rows of [start, end) whose key is not in `incoming`, grouped by subject; None when none."""
    if not guarded(spec) or stored.height == 0:
        return None
    key = list(spec.key)
    if incoming.height:
        missing = stored.join(incoming.select(key).cast(stored.select(key).schema), on=key, how="anti")
    else:
        missing = stored
    if missing.height == 0:
        return None
    subjects = list(SUBJECTS[spec])
    day = spec.partition_column
    lost = (missing.group_by(subjects)
            .agg(days=pl.col(day).unique().sort(), rows=pl.len())
            .sort(subjects))
    return Shrink(spec.qualified, source, start, end, lost)


def decide(shrink: Shrink | None, allowed: bool) -> Shrink | None:
    """The one decision about an answer that lacks stored rows: refuse it, unless shrinking was allowed.
    Returns the allowed shrink (for the log), None when nothing is lost."""
    if shrink is None:
        return None
    if not allowed:
        raise ShrinkRefused(shrink.message())
    return shrink


def _days(days: list[dt.date]) -> str:
    """Consecutive days as ranges: 2025-04-01..2025-04-03, 2025-04-06."""
    ranges: list[list[dt.date]] = []
    for day in sorted(days):
        if ranges and day - ranges[-1][1] == dt.timedelta(days=1):
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in ranges)
