"""The perpetual against the nearest quarterly of its margin family, per venue and perpetual. Pure polars.

- gap = perp premium - basis of the nearest quarterly with dte >= 7 (both as fractions of spot).
- carry_spread = the quarterly's simple annualised basis - the perpetual's 7-day funding APR: what
  holding the quarterly earns over what a perpetual long pays.
- gap_z: the gap against its trailing 180 days (current excluded, 80% of days needed), each past day taken
  at today's days to expiry: its premium minus its futures curve (the line through its two live
  quarterlies) read at today's dte. The nearest quarterly rolls every three months and its basis shrinks
  with its tenor; compared raw, a roll (the basis jumping from ~0.1% to ~2% overnight) would look like a
  divergence.
- gap_vs_usual: the gap minus that usual gap (fraction of spot).
- carry_spread_z: the carry spread against its trailing 180 days.
"""

from __future__ import annotations

import polars as pl

from .stats import min_observations, trailing_zscore

# A perpetual is compared with the quarterlies of its own margin family: a venue may list USDT-margined
# and coin-margined contracts side by side, and their bases differ by the margin currency's funding.
FAMILY = ["venue", "underlying", "settle"]


def settle_of(symbol: pl.Expr) -> pl.Expr:
    """Settlement currency of a ccxt contract symbol: BTC/USDT:USDT-250627 -> USDT, BTC/USD:BTC -> BTC."""
    return symbol.str.extract(r":([^-]+)")


def _with_family(basis: pl.DataFrame) -> pl.DataFrame:
    return basis.with_columns(settle=settle_of(pl.col("symbol")))


def curve_lines(basis: pl.DataFrame) -> pl.DataFrame:
    """Each day's futures curve as a line in dte through its two nearest live quarterlies:
    basis(D) = curve_intercept + curve_slope * D (D in days)."""
    live = _with_family(basis).filter((pl.col("kind") == "future") & (pl.col("dte") >= 0)).sort("dte", "symbol")
    pairs = live.group_by("date", *FAMILY).agg(
        d1=pl.col("dte").first(), b1=pl.col("basis").first(), d2=pl.col("dte").get(1, null_on_oob=True),
        b2=pl.col("basis").get(1, null_on_oob=True),
    )
    slope = (pl.col("b2") - pl.col("b1")) / (pl.col("d2") - pl.col("d1"))
    return pairs.with_columns(curve_slope=slope).select(
        "date", *FAMILY, "curve_slope", curve_intercept=pl.col("b1") - pl.col("curve_slope") * pl.col("d1"))


def usual_gap_at_tenor(premium: pl.Expr, intercept: pl.Expr, slope: pl.Expr, dte: pl.Expr, window: int,
                       min_obs: int) -> tuple[pl.Expr, pl.Expr]:
    """Mean and std over the previous `window` days of premium_s - curve_s(dte_today): each past day's gap
    as it would have been at today's days to expiry. With x = premium - intercept and y = slope,
    mean = mean(x) - D mean(y) and var = var(x) + D^2 var(y) - 2 D cov(x, y)."""
    x, y = (premium - intercept).shift(1), slope.shift(1)
    both = x.is_not_null() & y.is_not_null()
    x, y = pl.when(both).then(x), pl.when(both).then(y)
    mean = lambda e: e.rolling_mean(window, min_samples=min_obs)  # noqa: E731
    n = both.cast(pl.Float64).rolling_sum(window, min_samples=1)
    correction = n / (n - 1)
    m_x, m_y = mean(x), mean(y)
    var_x = (mean(x * x) - m_x * m_x) * correction
    var_y = (mean(y * y) - m_y * m_y) * correction
    cov = (mean(x * y) - m_x * m_y) * correction
    variance = var_x + dte * dte * var_y - 2 * dte * cov
    return m_x - dte * m_y, pl.when(variance > 0).then(variance.sqrt())


def nearest_quarterly(basis: pl.DataFrame, min_dte: float) -> pl.DataFrame:
    return (
        _with_family(basis).filter((pl.col("kind") == "future") & (pl.col("dte") >= min_dte))
        .sort("dte", "symbol")
        .group_by("date", *FAMILY)
        .first()
        .select(
            "date", *FAMILY,
            quarterly_symbol="symbol", quarterly_dte="dte", quarterly_basis="basis",
            quarterly_basis_ann="basis_ann_simple",
        )
    )


def perp_quarterly_spread(
    basis: pl.DataFrame, funding: pl.DataFrame, min_dte: float, window: int, min_fraction: float,
    gap_std_floor: float = 0.0,
) -> pl.DataFrame:
    """`gap_std_floor`: the smallest std the gap's z-score divides by,
    so that a gap that barely moved for months cannot turn a small move into a z of 100."""
    keys = ["venue", "perp_symbol"]
    perp = _with_family(basis).filter(pl.col("kind") == "perp").select(
        "date", *FAMILY, perp_symbol="symbol", perp_price_type="price_type", perp_premium="basis"
    )
    funding_7d = funding.select("date", "venue", perp_symbol="symbol", funding_apr_7d="apr_7d")
    min_obs = min_observations(window, min_fraction)
    usual_gap, usual_gap_std = usual_gap_at_tenor(pl.col("perp_premium"), pl.col("curve_intercept"),
                                                  pl.col("curve_slope"), pl.col("quarterly_dte"), window, min_obs)
    return (
        perp.join(nearest_quarterly(basis, min_dte), on=["date", *FAMILY], how="inner")
        .join(funding_7d, on=["date", "venue", "perp_symbol"], how="left")
        .join(curve_lines(basis), on=["date", *FAMILY], how="left")
        .with_columns(
            gap=pl.col("perp_premium") - pl.col("quarterly_basis"),
            carry_spread=pl.col("quarterly_basis_ann") - pl.col("funding_apr_7d"),
        )
        .sort(*keys, "date")
        .with_columns(
            usual_gap=usual_gap.over(keys),
            usual_gap_std=usual_gap_std.over(keys),
            carry_spread_z=trailing_zscore(pl.col("carry_spread"), window, min_obs).over(keys),
        )
        .with_columns(
            gap_vs_usual=pl.col("gap") - pl.col("usual_gap"),
            gap_z=(pl.col("gap") - pl.col("usual_gap")) / pl.max_horizontal(pl.col("usual_gap_std"), pl.lit(gap_std_floor)),
        )
        .select(
            "date", "venue", "underlying", "perp_symbol", "perp_price_type", "perp_premium",
            "quarterly_symbol", "quarterly_dte", "quarterly_basis", "quarterly_basis_ann",
            "gap", "gap_vs_usual", "gap_z", "funding_apr_7d", "carry_spread", "carry_spread_z",
        )
    )
