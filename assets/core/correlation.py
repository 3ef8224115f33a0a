"""Rolling correlations of daily log returns for the domain reference's pairs. Pure polars, no I/O.

Each pair uses its own calendar (crypto: UTC days; traditional: trading dates). Windows count
observations of that calendar; a window needs `min_fraction` of them with both returns, else null.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .stats import min_observations, rolling_correlation, rolling_count


@dataclass(frozen=True)
class Pair:
    name: str
    series_a: str
    series_b: str
    calendar: str  # "crypto" or "traditional"


def label(corr: pl.Expr, high: float = 0.6, moderate: float = 0.3) -> pl.Expr:
    return (
        pl.when(corr.is_null()).then(None)
        .when(corr >= high).then(pl.lit("high positive"))
        .when(corr >= moderate).then(pl.lit("positive"))
        .when(corr > -moderate).then(pl.lit("weak"))
        .when(corr > -high).then(pl.lit("negative"))
        .otherwise(pl.lit("high negative"))
    )


def pair_correlations(
    returns: pl.DataFrame, pairs: list[Pair], short: int, baseline: int, min_fraction: float,
    high: float = 0.6, moderate: float = 0.3,
) -> pl.DataFrame:
    frames = []
    for pair in pairs:
        on_calendar = returns.filter(pl.col("calendar") == pair.calendar)
        a = on_calendar.filter(pl.col("series") == pair.series_a).select("date", a="log_return")
        b = on_calendar.filter(pl.col("series") == pair.series_b).select("date", b="log_return")
        aligned = a.join(b, on="date", how="full", coalesce=True).sort("date")
        x, y = pl.col("a"), pl.col("b")
        frames.append(
            aligned.select(
                "date",
                pair=pl.lit(pair.name),
                calendar=pl.lit(pair.calendar),
                series_a=pl.lit(pair.series_a),
                series_b=pl.lit(pair.series_b),
                n_short=rolling_count(x, y, short),
                corr_short=rolling_correlation(x, y, short, min_observations(short, min_fraction)),
                n_baseline=rolling_count(x, y, baseline),
                corr_baseline=rolling_correlation(x, y, baseline, min_observations(baseline, min_fraction)),
            )
        )
    out = pl.concat(frames) if frames else pl.DataFrame()
    return out.with_columns(
        label_short=label(pl.col("corr_short"), high, moderate),
        label_baseline=label(pl.col("corr_baseline"), high, moderate),
        corr_change=pl.col("corr_short") - pl.col("corr_baseline"),
    ).sort("date", "pair")
