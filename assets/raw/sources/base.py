"""The market-data source interface every source implements (sample market, ccxt, yfinance).

All ranges are half-open [start, end) in UTC days. Frames follow the raw table specs in
`warehouse.schemas`; the raw assets validate them before anything is written.

Errors: every failure is a `SourceError` whose message names the source, the endpoint, the instrument
and the dates. Its subclasses tell the asset layer what happened:
- `BadAnswer`: the venue answered 200 but not with a whole, well-formed answer (`IncompleteAnswer`:
  empty, or stopping before the window's end; `MalformedAnswer`: junk). Never a partial frame.
- `GaveUp`: a transient failure (5xx, timeout, rate limit, bad answer) still failed after the retries or
  the venue's time budget; `last_error` is the final failure.
- `Refused`: the venue rejected the request for good (unknown symbol, bad parameters); not retried.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable

import polars as pl


class SourceError(RuntimeError):
    """A source could not deliver; the message names the source, the instrument and the date."""


class BadAnswer(SourceError):
    """A 200 answer that cannot be used as it is; asking again may help."""


class IncompleteAnswer(BadAnswer):
    """An answer that is empty or stops before the end of the window the venue's schedule fills."""


class MalformedAnswer(BadAnswer):
    """An answer whose rows are not what the endpoint returns (junk parsed into nonsense)."""


class Refused(SourceError):
    """The venue said no in a way that asking again will not change."""


class GaveUp(SourceError):
    """A transient failure that outlasted the retries or the venue's time budget."""

    def __init__(self, message: str, *, venue: str, attempts: int, last_error: BaseException | None):
        super().__init__(message)
        self.venue = venue
        self.attempts = attempts
        self.last_error = last_error


@runtime_checkable
class CryptoSource(Protocol):
    name: str

    def instruments(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        """Instrument snapshot rows (raw.instruments) for every day in [start, end)."""

    def crypto_bars(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        """Daily candles (raw.crypto_ohlcv) for every instrument listed in [start, end)."""

    def funding(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        """Funding settlements (raw.funding) whose funding_ts falls in [start, end)."""


@runtime_checkable
class TraditionalSource(Protocol):
    name: str

    def traditional_bars(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        """Daily bars (raw.traditional_ohlcv) for trading dates in [start, end)."""
