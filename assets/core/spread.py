"""The perpetual against the nearest quarterly, per venue and underlying. Pure polars, no I/O.

- gap = perp premium - basis of the nearest quarterly with dte >= 7 (both as fractions of spot).
- carry_spread = the quarterly's simple annualised basis - the perpetual's 7-day funding APR: what
  holding the quarterly earns over what a perpetual long pays.
- gap_z, carry_spread_z: against the trailing 180 days (current excluded, 80% of days needed).
"""

from __future__ import annotations

import polars as pl

from .stats import min_observations, trailing_zscore


def nearest_quarterly(basis: pl.DataFrame, min_dte: float) -> pl.DataFrame:
    return (
        basis.filter((pl.col("kind") == "future") & (pl.col("dte") >= min_dte))
        .sort("dte")
        .group_by("date", "venue", "underlying")
        .first()
        .select(
            "date", "venue", "underlying",
            quarterly_symbol="symbol", quarterly_dte="dte", quarterly_basis="basis",
            quarterly_basis_ann="basis_ann_simple",
        )
    )


def perp_quarterly_spread(
    basis: pl.DataFrame, funding: pl.DataFrame, min_dte: float, window: int, min_fraction: float
) -> pl.DataFrame:
    keys = ["venue", "underlying"]
    perp = basis.filter(pl.col("kind") == "perp").select(
        "date", "venue", "underlying", perp_symbol="symbol", perp_price_type="price_type", perp_premium="basis"
    )
    funding_7d = funding.select("date", "venue", perp_symbol="symbol", funding_apr_7d="apr_7d")
    min_obs = min_observations(window, min_fraction)
    return (
        perp.join(nearest_quarterly(basis, min_dte), on=["date", *keys], how="inner")
        .join(funding_7d, on=["date", "venue", "perp_symbol"], how="left")
        .with_columns(
            gap=pl.col("perp_premium") - pl.col("quarterly_basis"),
            carry_spread=pl.col("quarterly_basis_ann") - pl.col("funding_apr_7d"),
        )
        .sort(*keys, "date")
        .with_columns(
            gap_z=trailing_zscore(pl.col("gap"), window, min_obs).over(keys),
            carry_spread_z=trailing_zscore(pl.col("carry_spread"), window, min_obs).over(keys),
        )
        .select(
            "date", "venue", "underlying", "perp_symbol", "perp_price_type", "perp_premium",
            "quarterly_symbol", "quarterly_dte", "quarterly_basis", "quarterly_basis_ann",
            "gap", "gap_z", "funding_apr_7d", "carry_spread", "carry_spread_z",
        )
    )
