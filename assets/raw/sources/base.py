"""The market-data source interface every source implements (sample market, ccxt, yfinance).

All ranges are half-open [start, end) in UTC days. Frames follow the raw table specs in
`warehouse.schemas`; the raw assets validate them before anything is written.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable

import polars as pl


class SourceError(RuntimeError):
    """A source could not deliver; the message names the source, the instrument and the date."""


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
