"""Basis of dated futures and the perpetual premium against spot. Pure polars, no I/O.

Definitions (domain reference):
- dte = (expiry_ts - obs_ts) / 86400, obs_ts = the close of the UTC day (date + 1 day, 00:00 UTC).
- basis = F / S - 1 (and F - S); contango when > 0, backwardation when < 0.
- simple annualised basis = basis * 365 / dte; log annualised = ln(F / S) * 365 / dte; both null when dte < 3.
- constant-maturity basis: linear interpolation in dte of the simple annualised basis between the listed
  contracts that bracket the tenor; null when no pair brackets it.
- perpetual premium = perp / S - 1, on the mark price where the venue publishes one, else the last price.
"""

from __future__ import annotations

import polars as pl

SECONDS_PER_DAY = 86400.0


def days_to_expiry(expiry_ts: pl.Expr, date: pl.Expr) -> pl.Expr:
    """Fractional days from the close of the UTC day `date` to `expiry_ts`."""
    close_of_day = date.cast(pl.Datetime("us")) + pl.duration(days=1)
    return (expiry_ts - close_of_day).dt.total_microseconds() / 1e6 / SECONDS_PER_DAY


def structure(basis: pl.Expr) -> pl.Expr:
    return pl.when(basis > 0).then(pl.lit("contango")).when(basis < 0).then(pl.lit("backwardation")).otherwise(pl.lit("flat"))


def spot_closes(bars: pl.DataFrame) -> pl.DataFrame:
    """date, venue, underlying, spot: each venue's spot (or index) close."""
    return bars.filter(pl.col("kind") == "spot").select(
        "date", "venue", underlying=pl.col("symbol").str.split("/").list.first(), spot=pl.col("close")
    )


def futures_basis(bars: pl.DataFrame, instruments: pl.DataFrame, min_dte: float) -> pl.DataFrame:
    """One row per venue, dated contract and UTC day with dte >= 0 (a contract's delivery day is excluded)."""
    futures = bars.filter((pl.col("kind") == "future") & (pl.col("price_type") == "last")).join(
        instruments.filter(pl.col("kind") == "future").select(
            date="snapshot_date", venue="venue", symbol="symbol", underlying="underlying", expiry_ts="expiry_ts"
        ),
        on=["date", "venue", "symbol"],
        how="inner",
    )
    joined = futures.join(spot_closes(bars), on=["date", "venue", "underlying"], how="inner")
    dte = days_to_expiry(pl.col("expiry_ts"), pl.col("date"))
    ratio = pl.col("price") / pl.col("spot")
    short = pl.col("dte") < min_dte
    return (
        joined.select("date", "venue", "underlying", "symbol", "expiry_ts", price="close", spot="spot")
        .with_columns(dte=dte)
        .filter(pl.col("dte") >= 0)
        .with_columns(
            kind=pl.lit("future"),
            price_type=pl.lit("last"),
            basis_abs=pl.col("price") - pl.col("spot"),
            basis=ratio - 1,
            basis_ann_simple=pl.when(short).then(None).otherwise((ratio - 1) * 365 / pl.col("dte")),
            basis_ann_log=pl.when(short).then(None).otherwise(ratio.log() * 365 / pl.col("dte")),
            short_dte=short,
        )
        .with_columns(structure=structure(pl.col("basis")))
    )


def perp_premium(bars: pl.DataFrame) -> pl.DataFrame:
    """One row per venue, perpetual and UTC day: premium over spot, on mark when the venue has it."""
    perps = bars.filter(pl.col("kind") == "perp").with_columns(
        preference=pl.when(pl.col("price_type") == "mark").then(0).otherwise(1)
    )
    chosen = perps.sort("preference").group_by("date", "venue", "symbol", maintain_order=True).first()
    joined = chosen.with_columns(underlying=pl.col("symbol").str.split("/").list.first()).join(
        spot_closes(bars), on=["date", "venue", "underlying"], how="inner"
    )
    return joined.select(
        "date", "venue", "underlying", "symbol", "price_type",
        kind=pl.lit("perp"),
        price="close",
        spot="spot",
        basis_abs=pl.col("close") - pl.col("spot"),
        basis=pl.col("close") / pl.col("spot") - 1,
    ).with_columns(structure=structure(pl.col("basis")))


def constant_maturity(futures: pl.DataFrame, tenor_days: float) -> pl.DataFrame:
    """Annualised basis at a fixed tenor, interpolated linearly in dte between the bracketing contracts."""
    eligible = futures.filter(pl.col("basis_ann_simple").is_not_null())
    keys = ["date", "venue", "underlying"]
    below = (
        eligible.filter(pl.col("dte") <= tenor_days).sort("dte").group_by(keys).last()
        .select(*keys, dte_lo="dte", b_lo="basis_ann_simple")
    )
    above = (
        eligible.filter(pl.col("dte") >= tenor_days).sort("dte").group_by(keys).first()
        .select(*keys, dte_hi="dte", b_hi="basis_ann_simple")
    )
    span = pl.col("dte_hi") - pl.col("dte_lo")
    weight = pl.when(span > 0).then((tenor_days - pl.col("dte_lo")) / span).otherwise(0.0)
    return below.join(above, on=keys, how="inner").select(
        *keys,
        symbol=pl.col("underlying") + pl.lit(f"-CM{tenor_days:g}D"),
        kind=pl.lit("constant_maturity"),
        dte=pl.lit(float(tenor_days)),
        basis_ann_simple=pl.col("b_lo") + weight * (pl.col("b_hi") - pl.col("b_lo")),
    )


BASIS_COLUMNS = [
    "date", "venue", "underlying", "symbol", "kind", "price_type", "expiry_ts", "dte", "price", "spot",
    "basis_abs", "basis", "basis_ann_simple", "basis_ann_log", "short_dte", "structure",
]


def basis_daily(bars: pl.DataFrame, instruments: pl.DataFrame, min_dte: float, tenor_days: float) -> pl.DataFrame:
    """Every derivative's basis against its venue's spot, per UTC day: dated futures, the perpetual
    (its premium) and the constant-maturity point."""
    futures = futures_basis(bars, instruments, min_dte)
    frames = [futures, perp_premium(bars), constant_maturity(futures, tenor_days)]
    return pl.concat(frames, how="diagonal_relaxed").select(BASIS_COLUMNS).sort("date", "venue", "underlying", "kind", "symbol")
