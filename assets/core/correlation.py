"""Rolling correlations of daily log returns for the domain reference's pairs. Pure polars, no I/O.

Each pair uses its own calendar (crypto: UTC days; traditional: trading dates). Windows count
observations of that calendar; a window needs `min_fraction` of them with both returns, else null.
Both legs of an observation cover the same interval: when one leg's return spans a hole (its `prev_date` is
earlier than the other's), the other leg's log returns over that longer interval are summed (`same_interval`).
The hole's own date has one leg only and counts as a missing observation.
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


def same_interval(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """date, a, b: the two legs' log returns by date, over the same interval. a, b: one series' returns each
    (date, log_return, and prev_date where returns may span a hole). Where the legs' prev_dates differ, both
    returns are taken from each leg's running sum of log returns over the longer interval; null when a leg has
    no close at its start or a null return inside it."""
    if "prev_date" not in a.columns or "prev_date" not in b.columns:
        return a.select("date", a="log_return").join(b.select("date", b="log_return"), on="date", how="full",
                                                     coalesce=True).sort("date")

    def levels(leg: pl.DataFrame, name: str) -> pl.DataFrame:
        # Running sum of log returns; a null return breaks the chain (a new segment starts).
        return leg.sort("date").select(
            "date", pl.col("prev_date").alias(f"prev_{name}"), pl.col("log_return").alias(name),
            pl.col("log_return").fill_null(0.0).cum_sum().alias(f"level_{name}"),
            pl.col("log_return").is_null().cum_sum().alias(f"segment_{name}"),
        )

    la, lb = levels(a, "a"), levels(b, "b")
    aligned = la.join(lb, on="date", how="full", coalesce=True).sort("date")
    start = pl.min_horizontal("prev_a", "prev_b")
    differs = pl.col("a").is_not_null() & pl.col("b").is_not_null() & (pl.col("prev_a") != pl.col("prev_b"))
    aligned = aligned.with_columns(start=pl.when(differs).then(start))
    for name, leg in (("a", la), ("b", lb)):
        at_start = leg.select(start="date", **{f"start_level_{name}": f"level_{name}",
                                               f"start_segment_{name}": f"segment_{name}"})
        aligned = aligned.join(at_start, on="start", how="left")
        spanned = pl.when(pl.col(f"segment_{name}") == pl.col(f"start_segment_{name}")).then(
            pl.col(f"level_{name}") - pl.col(f"start_level_{name}"))
        aligned = aligned.with_columns(pl.when(differs).then(spanned).otherwise(pl.col(name)).alias(name))
    return aligned.select("date", "a", "b").sort("date")


def pair_correlations(
    returns: pl.DataFrame, pairs: list[Pair], short: int, baseline: int, min_fraction: float,
    high: float = 0.6, moderate: float = 0.3,
) -> pl.DataFrame:
    frames = []
    for pair in pairs:
        on_calendar = returns.filter(pl.col("calendar") == pair.calendar)
        aligned = same_interval(on_calendar.filter(pl.col("series") == pair.series_a),
                                on_calendar.filter(pl.col("series") == pair.series_b))
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
