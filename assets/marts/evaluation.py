"""Score detected anomaly episodes against the sample market's scripted ground truth. Pure polars.

An injected episode is detected when an episode of the same code and subject overlaps its window; a
detected episode is false when it overlaps no injected episode of its code and subject. The ground truth
also lists `consequence` rows: correlation breaks a scripted crash session's own moves can cause (one
-7 sigma BTC day next to a +3.5 sigma gold day does break a 30-observation correlation). They are not
required, and a break overlapping one is explained, not false. Context labels are scored apart and must
never appear among the anomalies.
"""

from __future__ import annotations

import datetime as dt

import polars as pl


def _overlaps(left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    """Pairs of (left, right) rows with the same code and subject whose date windows overlap."""
    pairs = left.join(right, on=["code", "subject"], how="inner", suffix="_r")
    return pairs.filter((pl.col("start") <= pl.col("end_r")) & (pl.col("start_r") <= pl.col("end")))


def score(truth: pl.DataFrame, detected: pl.DataFrame, start: dt.date, end: dt.date, kind: str = "anomaly") -> pl.DataFrame:
    """Per code: injected, detected, missed and false episodes inside [start, end]."""
    all_truth = truth
    truth = truth.filter((pl.col("kind") == kind) & (pl.col("start") >= start) & (pl.col("end") <= end)).with_row_index("truth_id")
    found = detected.filter((pl.col("kind") == kind) & (pl.col("end") >= start) & (pl.col("start") <= end)).with_row_index("found_id")
    matches = _overlaps(truth.select("truth_id", "code", "subject", "start", "end"),
                        found.select("found_id", "code", "subject", "start", "end"))
    truth = truth.with_columns(detected=pl.col("truth_id").is_in(matches["truth_id"].implode()))
    unexplained = false_episodes(all_truth, detected, start, end) if kind == "anomaly" else found.filter(
        ~pl.col("found_id").is_in(matches["found_id"].implode()))
    found = found.with_columns(false=pl.struct("code", "subject", "start").is_in(
        unexplained.select(pl.struct("code", "subject", "start")).to_series().implode()))
    per_code = (
        truth.group_by("code").agg(injected=pl.len(), detected=pl.col("detected").sum())
        .join(found.group_by("code").agg(false=pl.col("false").sum()), on="code", how="full", coalesce=True)
        .with_columns(pl.col("injected", "detected", "false").fill_null(0))
        .with_columns(missed=pl.col("injected") - pl.col("detected"))
        .select("code", "injected", "detected", "missed", "false")
        .sort("code")
    )
    return per_code


def false_episodes(truth: pl.DataFrame, detected: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The detected anomaly episodes that match nothing injected or explained."""
    truth = truth.filter(pl.col("kind").is_in(["anomaly", "consequence"]))
    found = detected.filter((pl.col("kind") == "anomaly") & (pl.col("end") >= start) & (pl.col("start") <= end)).with_row_index("found_id")
    matches = _overlaps(found, truth.select("code", "subject", "start", "end"))
    return found.filter(~pl.col("found_id").is_in(matches["found_id"].implode())).drop("found_id")


def venue_and_coin(subject: pl.Expr) -> pl.Expr:
    """venue:BTC/USDT:USDT-250328 -> venue:BTC; subjects without a venue (BTC, btc~gold) unchanged."""
    parts = subject.str.split(":")
    coin = parts.list.get(1, null_on_oob=True).str.split("/").list.first()
    return pl.when(parts.list.len() > 1).then(parts.list.first() + ":" + coin).otherwise(subject)


def context_reported_as_anomaly(truth: pl.DataFrame, detected: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Anomaly episodes on the subject of a context period (expiry convergence, funding pressure) that
    overlap it and are not explained by a scripted anomaly: a context period reported as an anomaly."""
    context = truth.filter((pl.col("kind") == "context") & (pl.col("start") >= start) & (pl.col("end") <= end))
    # Context subjects are a dated contract or a perpetual (venue:BTC/USDT:USDT-250328, venue:BTC/USDT:USDT),
    # anomalies a perpetual: both are compared on venue and coin.
    context = context.with_columns(subject=venue_and_coin(pl.col("subject")))
    unexplained = false_episodes(truth, detected, start, end).with_columns(subject=venue_and_coin(pl.col("subject")))
    pairs = unexplained.join(context.select("subject", c_start="start", c_end="end", context_code="code"), on="subject")
    return pairs.filter((pl.col("start") <= pl.col("c_end")) & (pl.col("c_start") <= pl.col("end")))


def report(truth: pl.DataFrame, detected: pl.DataFrame, start: dt.date, end: dt.date) -> dict:
    """Everything `make evaluate` prints, as data."""
    anomalies = score(truth, detected, start, end, "anomaly")
    context = score(truth, detected, start, end, "context")
    years = ((end - start).days + 1) / 365.25
    false_total = int(anomalies["false"].sum())
    return dict(
        anomalies=anomalies,
        context=context,
        years=years,
        false_per_year=false_total / years,
        context_as_anomaly=context_reported_as_anomaly(truth, detected, start, end),
        false_episodes=false_episodes(truth, detected, start, end),
    )
