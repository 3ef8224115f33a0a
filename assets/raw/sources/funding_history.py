"""Turn venues' funding histories into settlements (raw.funding rows), with each row's interval taken
from the data. Venue quirks live here, one function per format.

- Generic: timestamps may be in a local time zone and carry millisecond jitter (03:00:00.001); they are
  moved to UTC and rounded to the minute. Each settlement's interval is the time since the previous
  settlement of the same symbol (the first row takes the spacing to the next), so an 8h venue, a 1h venue
  and a venue that changes its schedule are all read right without assuming three payments a day.
- Deribit: `public/get_funding_rate_history` returns one row per hour carrying both `interest_1h` and
  `interest_8h`. Only `interest_1h` is the rate settled that hour; summing `interest_8h` over a day
  overstates funding about eightfold.
"""

from __future__ import annotations


import polars as pl

from warehouse.schemas import RAW_FUNDING


def normalize_settlements(
    frame: pl.DataFrame, venue: str, symbol: str, utc_offset_hours: float = 0.0
) -> pl.DataFrame:
    """frame: funding_ts (naive, in UTC + utc_offset_hours), rate. Returns raw.funding rows."""
    utc = (pl.col("funding_ts") - pl.duration(minutes=round(utc_offset_hours * 60))).dt.round("1m")
    settled = frame.select(funding_ts=utc, rate=pl.col("rate").cast(pl.Float64)).sort("funding_ts")
    spacing_before = settled["funding_ts"].diff().dt.total_minutes() / 60
    spacing_after = -settled["funding_ts"].diff(-1).dt.total_minutes() / 60
    interval = spacing_before.fill_null(spacing_after)
    return settled.with_columns(
        date=pl.col("funding_ts").dt.date(),
        venue=pl.lit(venue),
        symbol=pl.lit(symbol),
        interval_hours=interval.cast(pl.Float64),
    ).select(RAW_FUNDING.column_names)


def deribit_settlements(records: pl.DataFrame, symbol: str = "BTC/USD:BTC") -> pl.DataFrame:
    """records: Deribit funding history fields (timestamp in ms, interest_1h, interest_8h, ...)."""
    hourly = records.select(
        funding_ts=pl.from_epoch(pl.col("timestamp").cast(pl.Int64), time_unit="ms"),
        rate=pl.col("interest_1h"),
    )
    return hourly.with_columns(
        date=pl.col("funding_ts").dt.date(), venue=pl.lit("deribit"), symbol=pl.lit(symbol),
        interval_hours=pl.lit(1.0),
    ).select(RAW_FUNDING.column_names)
