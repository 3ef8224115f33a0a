"""Turn venues' funding histories into settlements (raw.funding rows), each with its interval.

- Timestamps may be in a local time zone and carry millisecond jitter (03:00:00.001); they are moved to
  UTC and rounded to the minute.
- A settlement's interval is the time since the previous settlement of the same symbol (the first row
  takes the spacing to the next), so an 8h venue, a 1h venue and a venue that changed its schedule are
  read right without assuming three payments a day. A settlement missing from the history would make
  the next one look like a 16h interval (and its day's APR drop by a third), so the gap is capped:
  by the interval the venue declares for the contract when it declares one; otherwise by the spacing
  to the next settlement and by the venue's usual (longest) interval.
- Deribit: `public/get_funding_rate_history` returns one row per hour carrying both `interest_1h` and
  `interest_8h`. Only `interest_1h` is the rate settled that hour (`venues.PROFILES['deribit']` reads
  it); summing `interest_8h` over a day overstates funding about eightfold.
"""

from __future__ import annotations

import polars as pl

from warehouse.schemas import RAW_FUNDING


def normalize_settlements(
    frame: pl.DataFrame, venue: str, symbol: str, utc_offset_hours: float = 0.0,
    declared_hours: float | None = None, usual_hours: float | None = None,
) -> pl.DataFrame:
    """frame: funding_ts (naive, in UTC + utc_offset_hours), rate. Returns raw.funding rows."""
    utc = (pl.col("funding_ts") - pl.duration(minutes=round(utc_offset_hours * 60))).dt.round("1m")
    settled = frame.select(funding_ts=utc, rate=pl.col("rate").cast(pl.Float64)).sort("funding_ts")
    spacing_before = settled["funding_ts"].diff().dt.total_minutes() / 60
    spacing_after = -settled["funding_ts"].diff(-1).dt.total_minutes() / 60
    interval = spacing_before.fill_null(spacing_after)
    if declared_hours is not None:
        interval = interval.clip(upper_bound=declared_hours)
    else:
        interval = pl.select(pl.min_horizontal(interval, spacing_after.fill_null(interval))).to_series()
        if usual_hours is not None:
            interval = interval.clip(upper_bound=usual_hours)
    return settled.with_columns(
        date=pl.col("funding_ts").dt.date(),
        venue=pl.lit(venue),
        symbol=pl.lit(symbol),
        interval_hours=interval.cast(pl.Float64),
    ).select(RAW_FUNDING.column_names)
