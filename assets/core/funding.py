"""Daily funding per venue and perpetual. Pure polars, no I/O.

- daily_rate = sum of the rates settled within the UTC day (by funding_ts).
- apr = sum(rate) / sum(interval_hours) * 24 * 365: with one interval all day this is the reference's
  mean(rate) * (24 / interval_hours) * 365; on a day the venue changes its interval it weights each
  settlement by the hours it covered instead of assuming a count of payments.
- apr_7d, apr_30d: means over the last 7 and 30 UTC days (calendar windows, so a missing day is not
  replaced by an older one).
- daily_rate_z: z-score of daily_rate against the trailing 180 days (current excluded, 80% of days needed).
"""

from __future__ import annotations

import polars as pl

from .stats import min_observations, trailing_zscore

HOURS_PER_YEAR = 24 * 365


def funding_daily(
    settlements: pl.DataFrame, short_days: int = 7, long_days: int = 30, z_days: int = 180, min_fraction: float = 0.8
) -> pl.DataFrame:
    keys = ["venue", "symbol"]
    daily = (
        settlements.sort("funding_ts")
        .group_by(*keys, "date", maintain_order=True)
        .agg(
            settlements=pl.len(),
            interval_hours=pl.col("interval_hours").last(),
            hours_covered=pl.col("interval_hours").sum(),
            daily_rate=pl.col("rate").sum(),
        )
        .with_columns(apr=pl.col("daily_rate") / pl.col("hours_covered") * HOURS_PER_YEAR)
        .sort(*keys, "date")
    )
    return daily.with_columns(
        apr_7d=pl.col("apr").rolling_mean_by("date", window_size=f"{short_days}d").over(keys),
        apr_30d=pl.col("apr").rolling_mean_by("date", window_size=f"{long_days}d").over(keys),
        daily_rate_z=trailing_zscore(pl.col("daily_rate"), z_days, min_observations(z_days, min_fraction)).over(keys),
    ).select(
        "date", "venue", "symbol", pl.col("settlements").cast(pl.Int64), "interval_hours", "hours_covered",
        "daily_rate", "apr", "apr_7d", "apr_30d", "daily_rate_z",
    )
