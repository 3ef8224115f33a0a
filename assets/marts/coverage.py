"""Holes in the anomaly evidence: which inputs of a day were missing, quarantined or down. Pure polars.

Every stored row passed its table's gate; what the marts add is what is *not* there. A rule that needs a
series without a close that day cannot fire (its return is absent), so the hole is named where it matters:
- marts.anomaly_daily: each firing's `quality_status` names the open holes of its day in the tables its
  calendar reads (traditional: the traditional bars and the reference venue's crypto candles; crypto: the
  crypto candles, funding and instrument list);
- marts.anomaly_status: a Table 1 row whose pair's series has an open hole on `as_of` says its input is
  missing (the reference venue is required for every BTC/ETH series).
"""

from __future__ import annotations

import polars as pl

from warehouse.schemas import LEDGER_OPEN_STATUSES

PASSED = "passed"
_TABLES = {
    "traditional": ("raw.traditional_ohlcv", "raw.crypto_ohlcv"),
    "crypto": ("raw.crypto_ohlcv", "raw.funding", "raw.instruments"),
}
_EMPTY = {"date": pl.Date, "holes": pl.Utf8}


def open_holes(ledger: pl.DataFrame) -> pl.DataFrame:
    return ledger.filter(pl.col("status").is_in(list(LEDGER_OPEN_STATUSES)))


def _named(holes: pl.DataFrame) -> pl.DataFrame:
    """date -> "gold missing; okx:BTC:spot outage" per day."""
    if holes.height == 0:
        return pl.DataFrame(schema=_EMPTY)
    return holes.sort("subject").group_by("date").agg(
        (pl.col("subject") + " " + pl.col("status")).unique(maintain_order=True).str.join("; ").alias("holes"))


def with_quality_status(anomalies: pl.DataFrame, ledger: pl.DataFrame, reference_venue: str) -> pl.DataFrame:
    """`anomalies` with `quality_status`: "passed", or "passed; holes that day: ..." naming the open holes of
    the row's day in the tables its calendar reads (crypto tables: the reference venue and the row's venue)."""
    holes = open_holes(ledger)
    frames = []
    for calendar, tables in _TABLES.items():
        rows = anomalies.filter(pl.col("calendar") == calendar)
        relevant = holes.filter(pl.col("table").is_in(list(tables)))
        if calendar == "traditional":
            on_crypto = pl.col("table") == "raw.crypto_ohlcv"
            relevant = relevant.filter(~on_crypto | pl.col("subject").str.starts_with(reference_venue + ":"))
        frames.append(rows.join(_named(relevant), on="date", how="left"))
    out = pl.concat(frames, how="vertical_relaxed") if frames else anomalies.with_columns(holes=pl.lit(None, pl.Utf8))
    status = pl.when(pl.col("holes").is_null()).then(pl.lit(PASSED)).otherwise(
        pl.lit(PASSED + "; holes that day: ") + pl.col("holes"))
    return out.with_columns(quality_status=status).drop("holes").sort("date", "code", "subject")


def series_holes(ledger: pl.DataFrame, series: str, day, traditional: list[str], reference_venue: str) -> pl.DataFrame:
    """Open holes of `series` on `day`: a traditional series by name, a crypto series (BTC, ETH, BTC_PERP,
    BTC_QUARTERLY) on the reference venue's candles."""
    holes = open_holes(ledger).filter(pl.col("date") == day)
    if series in traditional:
        return holes.filter((pl.col("table") == "raw.traditional_ohlcv") & (pl.col("subject") == series))
    coin = series.split("_")[0]
    return holes.filter((pl.col("table") == "raw.crypto_ohlcv")
                        & pl.col("subject").str.starts_with(f"{reference_venue}:{coin}"))


def status_quality(status: pl.DataFrame, pairs: dict[str, tuple[str, str]], ledger: pl.DataFrame, day,
                   traditional: list[str], reference_venue: str, default: str) -> pl.DataFrame:
    """Table 1 with `quality_status`: "input missing on <day>: ..." for a row whose pair has an open hole that
    day, else `default`. pairs: pair name -> (series_a, series_b)."""
    notes = []
    for pair in status["pair"].to_list():
        found = [series_holes(ledger, s, day, traditional, reference_venue) for s in pairs.get(pair, ())]
        found = [f for f in found if f.height]
        if found:
            named = "; ".join(f"{r['subject']} {r['status']} ({r['reason']})" for f in found for r in f.iter_rows(named=True))
            notes.append(f"input missing on {day}: {named}")
        else:
            notes.append(default)
    return status.with_columns(quality_status=pl.Series(notes, dtype=pl.Utf8))
