"""Trailing statistics shared by the core and mart layers. Pure polars expressions.

All windows count observations (rows) of the series' own calendar, in date order, and exclude the
current observation where the name says `trailing`.
"""

from __future__ import annotations

import math

import polars as pl


def min_observations(window: int, fraction: float) -> int:
    return math.ceil(window * fraction)


def trailing_zscore(x: pl.Expr, window: int, min_obs: int) -> pl.Expr:
    """(x - mean) / std of the previous `window` observations (current excluded), null below min_obs."""
    past = x.shift(1)
    mean = past.rolling_mean(window, min_samples=min_obs)
    std = past.rolling_std(window, min_samples=min_obs)
    return pl.when(std > 0).then((x - mean) / std).otherwise(None)


def trailing_std(x: pl.Expr, window: int, min_obs: int) -> pl.Expr:
    """std of the previous `window` observations, current excluded."""
    return x.shift(1).rolling_std(window, min_samples=min_obs)


def rolling_correlation(x: pl.Expr, y: pl.Expr, window: int, min_obs: int) -> pl.Expr:
    """Pearson correlation over the last `window` rows, using the rows where both are present;
    null when fewer than `min_obs` such rows."""
    both = x.is_not_null() & y.is_not_null()
    xs = pl.when(both).then(x).otherwise(0.0)
    ys = pl.when(both).then(y).otherwise(0.0)
    n = both.cast(pl.Float64).rolling_sum(window, min_samples=1)
    sx, sy = xs.rolling_sum(window, min_samples=1), ys.rolling_sum(window, min_samples=1)
    sxx, syy = (xs * xs).rolling_sum(window, min_samples=1), (ys * ys).rolling_sum(window, min_samples=1)
    sxy = (xs * ys).rolling_sum(window, min_samples=1)
    cov = n * sxy - sx * sy
    var = (n * sxx - sx * sx) * (n * syy - sy * sy)
    corr = cov / var.sqrt()
    return pl.when((n >= min_obs) & (var > 0)).then(corr.clip(-1.0, 1.0)).otherwise(None)


def rolling_count(x: pl.Expr, y: pl.Expr, window: int) -> pl.Expr:
    return (x.is_not_null() & y.is_not_null()).cast(pl.Int64).rolling_sum(window, min_samples=1)
