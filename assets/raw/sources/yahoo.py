"""Yahoo daily bars (yfinance `Ticker.history` output) as raw.traditional_ohlcv rows.

The index is tz-aware in the exchange's time zone; a bar is stored under its exchange trading date
(the local date), never the UTC date, so a session is never shifted by a day. `auto_adjust=False` keeps
the traded close (and `Adj Close` is dropped): a dividend adjustment would rescale history after the
fact and change stored returns.
"""

from __future__ import annotations

import polars as pl

from warehouse.schemas import RAW_TRADITIONAL_OHLCV


def history_to_bars(history: pl.DataFrame, series: str, ticker: str) -> pl.DataFrame:
    """history: a Date/Datetime column with a UTC offset (as written by yfinance) and Open..Volume."""
    stamp = "Date" if "Date" in history.columns else "Datetime"
    local = pl.col(stamp).cast(pl.Utf8).str.slice(0, 10).str.to_date("%Y-%m-%d")
    return history.select(
        date=local,
        series=pl.lit(series),
        ticker=pl.lit(ticker),
        open=pl.col("Open").cast(pl.Float64),
        high=pl.col("High").cast(pl.Float64),
        low=pl.col("Low").cast(pl.Float64),
        close=pl.col("Close").cast(pl.Float64),
        volume=pl.col("Volume").cast(pl.Float64),
    ).sort("date").select(RAW_TRADITIONAL_OHLCV.column_names)
