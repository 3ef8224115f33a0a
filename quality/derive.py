"""Columns and frames derived for validation: facts an expectation cannot see in a single row.
Pure polars, no I/O.

- unit errors: a day-over-day close move beyond `bound` (log) that the next day reverses (the two moves
  cancel to within 20%), or a jump of about 100x either way (a quote switched between units and cents).
  The bad day is the spike; the day that reverses it is the correct price coming back and is not flagged.
  A daily run cannot see a spike until the next day: `revealed_spikes` finds the stored day the new one
  reveals, so that it can be quarantined and asked for again.
- trading days: whether a traditional row's date is an exchange session.
- funding magnitude against the venue's own history: a rate stored in percent instead of a fraction is
  100x its neighbours although it can stay under the absolute cap (see `with_funding_history`).
- funding settlements against the venue's schedule: a settlement the schedule lists but the venue did not
  send (see `missing_settlements`).
- coverage: one row per (date, subject) that must be present, with `present`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import polars as pl

from assets.raw.sources.calendars import flag_sessions, series_sessions

HUNDREDFOLD = math.log(100.0)


def unit_errors(frame: pl.DataFrame, by: list[str], bound: float) -> pl.Series:
    """A boolean per row of `frame` (in its order): a unit error in its series (the spike, or a 100x jump that
    does not bring the price back from a spike)."""
    return unit_error_flags(frame, by, bound)["unit_error"]


def unit_error_flags(frame: pl.DataFrame, by: list[str], bound: float) -> pl.DataFrame:
    """Per row of `frame` (in its order): `spike` (a move beyond `bound` that the next day reverses),
    `reversal` (the move back from yesterday's spike), `hundredfold` (a jump of about 100x) and `unit_error`
    (a spike, or a 100x jump that is not a reversal)."""
    ordered = frame.with_row_index("_row").sort(*by, "date")
    move = (pl.col("close") / pl.col("close").shift(1)).log().over(by)
    flagged = ordered.with_columns(move=move).with_columns(next_move=pl.col("move").shift(-1).over(by))
    spike = (
        (pl.col("move").abs() > bound)
        & (pl.col("next_move").sign() == -pl.col("move").sign())
        & ((pl.col("move") + pl.col("next_move")).abs() < 0.2 * pl.col("move").abs())
    )
    hundredfold = (pl.col("move").abs() - HUNDREDFOLD).abs() < 0.25
    flagged = flagged.with_columns(spike=spike.fill_null(False), hundredfold=hundredfold.fill_null(False))
    flagged = flagged.with_columns(reversal=pl.col("spike").shift(1).over(by).fill_null(False))
    error = pl.col("spike") | (pl.col("hundredfold") & ~pl.col("reversal"))
    return flagged.select("_row", "spike", "reversal", "hundredfold", unit_error=error).sort("_row").drop("_row")


def revealed_spikes(rows: pl.DataFrame, history: pl.DataFrame, by: list[str], bound: float,
                    start: dt.date) -> pl.DataFrame:
    """The stored rows of `history` before `start` that `rows` (the new window) reveal as unit errors: a spike
    whose reversal is in the window. Columns of `history`."""
    combined = pl.concat([history.select(rows.columns), rows], how="vertical_relaxed").unique(
        subset=[*by, "date"], keep="last", maintain_order=True
    )
    flags = pl.concat([combined, unit_error_flags(combined, by, bound)], how="horizontal")
    before = history.filter(pl.col("date") < start).select(*by, "date")
    return flags.filter(pl.col("unit_error") & (pl.col("date") < start)).join(before, on=[*by, "date"]).select(rows.columns)


def with_unit_errors(rows: pl.DataFrame, history: pl.DataFrame, by: list[str], bound: float) -> pl.DataFrame:
    """`rows` with a `unit_error` column, judged with the stored `history` just before them as context."""
    combined = pl.concat([history.select(rows.columns), rows], how="vertical_relaxed").unique(
        subset=[*by, "date"], keep="last", maintain_order=True
    )
    flags = combined.with_columns(unit_error=unit_errors(combined, by, bound))
    return rows.join(flags.select(*by, "date", "unit_error"), on=[*by, "date"], how="left")


def with_trading_day(rows: pl.DataFrame, calendars: dict[str, str]) -> pl.DataFrame:
    """`rows` with `is_trading_day`: whether the row's date is a session of its series' own calendar
    (`calendars`: series -> calendar). A series outside the settings is judged by the series expectation."""
    declared = rows.filter(pl.col("series").is_in(list(calendars)))
    flagged = flag_sessions(declared, calendars).select("series", "date", "is_trading_day")
    return rows.join(flagged, on=["series", "date"], how="left", maintain_order="left").with_columns(
        pl.col("is_trading_day").fill_null(True))


def session_coverage(present: pl.DataFrame, calendars: dict[str, str], start: dt.date, end: dt.date) -> pl.DataFrame:
    """present: date, subject (a series). One row per session of each series' calendar in [start, end) with
    whether its bar is there."""
    grid = series_sessions(calendars, start, end).select("date", subject="series")
    found = present.select("date", "subject").unique().with_columns(present=pl.lit(True))
    return grid.join(found, on=["date", "subject"], how="left").with_columns(pl.col("present").fill_null(False))


@dataclass(frozen=True)
class FundingHistoryRule:
    """A settlement is implausible when abs(rate) exceeds both the ceiling (per 8 hours, scaled to the
    settlement's interval) and `multiple` x its reference: the median abs(rate) of the same venue and
    perpetual over the `days` before it (given at least `min_settlements` of them; without, the ceiling
    alone judges).

    The ceiling is the most a BTC or ETH perpetual plausibly pays per 8 hours (venues cap it at or below
    0.75%), so a typical 0.01% stored in percent (1%) is caught although it is under the absolute cap.
    The venue's own history lets a venue that runs hot exceed the ceiling: with a median of 0.03% per 8
    hours a genuine 1% passes, while the same median stored in percent (3%, 100x) is still caught. The
    median ignores the venue's few genuine spikes. Left uncaught: a near-zero rate stored in percent that
    stays under the ceiling (0.005% -> 0.5%)."""

    days: int
    multiple: float
    ceiling_8h: float
    min_settlements: int


def with_funding_history(rows: pl.DataFrame, history: pl.DataFrame, rule: FundingHistoryRule) -> pl.DataFrame:
    """`rows` with `rate_reference` (the venue's trailing median abs rate, null without enough history) and
    `rate_beyond_history` (True when abs(rate) exceeds what `rule` allows), with `history` as context."""
    by = ["venue", "symbol"]
    combined = pl.concat([history.select(rows.columns), rows], how="vertical_relaxed").unique(
        subset=[*by, "funding_ts"], keep="last"
    ).sort(*by, "funding_ts")
    reference = pl.col("rate").abs().rolling_median_by(
        "funding_ts", f"{rule.days}d", min_samples=rule.min_settlements, closed="left"
    ).over(by)
    ceiling = rule.ceiling_8h * pl.col("interval_hours") / 8
    allowed = pl.max_horizontal(ceiling, rule.multiple * pl.col("rate_reference"))  # a null reference: the ceiling
    judged = combined.with_columns(rate_reference=reference).with_columns(
        rate_beyond_history=(pl.col("rate").abs() > allowed).fill_null(False)
    )
    return rows.join(judged.select(*by, "funding_ts", "rate_reference", "rate_beyond_history"),
                     on=[*by, "funding_ts"], how="left", maintain_order="left")


def coverage(present: pl.DataFrame, expected_subjects: list[str], days: list[dt.date]) -> pl.DataFrame:
    """present: date, subject. One row per expected (date, subject) with whether it is there."""
    grid = pl.DataFrame({"date": days}, schema={"date": pl.Date}).join(
        pl.DataFrame({"subject": expected_subjects}, schema={"subject": pl.Utf8}), how="cross"
    )
    found = present.select("date", "subject").unique().with_columns(present=pl.lit(True))
    return grid.join(found, on=["date", "subject"], how="left").with_columns(pl.col("present").fill_null(False))


def missing_settlements(rows: pl.DataFrame, history: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The funding settlements the schedule lists on the days of [start, end) but the venue did not send: one row
    per venue, symbol and due time (columns venue, symbol, date, due_ts, interval_hours).

    The schedule is each settlement's `interval_hours`: the interval the venue declares for the contract where it
    declares one, else the spacing of its settlements capped at its usual interval
    (`assets.raw.sources.funding_history`), never a gap, so a settlement after a missing one still says 8 h.
    - Between two known settlements (`history` gives the one before the window) the schedule lists one every
      interval: a gap of n intervals lacks n - 1 (the longer of the two intervals is the schedule, so a venue
      moving from 8 h to 4 h settlements lacks none).
    - Before the first known settlement the schedule reaches back to the start of its UTC day, and after the last
      one to the end of its day: a day settled at 00:00 and 08:00 on an 8 h schedule lacks 16:00.
    Only days with at least one settlement of the symbol are judged: a day without any is a coverage hole of its
    venue (the `coverage` frame), not a missing settlement."""
    by = ["venue", "symbol"]
    combined = pl.concat([history.select(rows.columns), rows], how="vertical_relaxed").unique(
        subset=[*by, "funding_ts"], keep="last").sort(*by, "funding_ts")
    minute = (pl.col("funding_ts").dt.epoch("s") // 60)
    day_start = (pl.col("funding_ts").dt.truncate("1d").dt.epoch("s") // 60)
    step = (pl.col("interval_hours") * 60).round().cast(pl.Int64)
    timed = combined.with_columns(minute=minute, day_start=day_start, step=step).with_columns(
        prev=pl.col("minute").shift(1).over(by), prev_step=pl.col("step").shift(1).over(by),
        is_last=pl.col("minute").shift(-1).over(by).is_null(),
    )
    schedule = pl.max_horizontal("step", "prev_step")
    before = timed.with_columns(
        step=pl.when(pl.col("prev").is_null()).then(pl.col("step")).otherwise(schedule)).with_columns(
        count=pl.when(pl.col("prev").is_null())
        .then((pl.col("minute") - pl.col("day_start")) // pl.col("step"))
        .otherwise(((pl.col("minute") - pl.col("prev")) / pl.col("step")).round().cast(pl.Int64) - 1),
        sign=pl.lit(-1),
    )
    after = timed.filter(pl.col("is_last")).with_columns(
        count=(pl.col("day_start") + 24 * 60 - pl.col("minute") - 1) // pl.col("step"), sign=pl.lit(1))
    due = (
        pl.concat([before, after], how="vertical_relaxed")
        .filter(pl.col("count") > 0)
        .with_columns(k=pl.int_ranges(1, pl.col("count") + 1))
        .explode("k")
        .select(*by, "interval_hours", due_minute=pl.col("minute") + pl.col("sign") * pl.col("k") * pl.col("step"))
        .with_columns(due_ts=pl.from_epoch(pl.col("due_minute") * 60, time_unit="s").cast(pl.Datetime("us")))
        .with_columns(date=pl.col("due_ts").dt.date())
    )
    settled_days = rows.select(*by, "date").unique()
    return (
        due.filter((pl.col("date") >= start) & (pl.col("date") < end))
        .join(settled_days, on=[*by, "date"], how="semi")
        .unique(subset=[*by, "due_ts"])
        .select(*by, "date", "due_ts", "interval_hours")
        .sort(*by, "due_ts")
    )


def settlement_coverage(rows: pl.DataFrame, history: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """One row per venue, perpetual and day of [start, end) with settlements: subject (venue:symbol), date,
    `complete` (every settlement its schedule lists is there) and `detail` (which are not, and the schedule)."""
    missing = missing_settlements(rows, history, start, end)
    days = rows.filter((pl.col("date") >= start) & (pl.col("date") < end)).group_by("venue", "symbol", "date").agg(
        settled=pl.len())
    lacking = missing.group_by("venue", "symbol", "date").agg(
        due=pl.col("due_ts").dt.strftime("%H:%M").sort().str.join(", "),
        lacking=pl.len(), interval_hours=pl.col("interval_hours").max())
    joined = days.join(lacking, on=["venue", "symbol", "date"], how="left")
    hours = pl.col("interval_hours").round(2).cast(pl.Utf8).str.strip_suffix(".0")
    detail = pl.concat_str(
        pl.lit("missing funding settlement(s) at "), pl.col("due"), pl.lit(" UTC on "), pl.col("date").cast(pl.Utf8),
        pl.lit(": the venue's schedule settles every "), hours, pl.lit(" h, "),
        pl.col("settled").cast(pl.Utf8), pl.lit(" of "), (pl.col("settled") + pl.col("lacking")).cast(pl.Utf8),
        pl.lit(" settled"),
    )
    return joined.select(
        "date", subject=pl.concat_str("venue", "symbol", separator=":"),
        complete=pl.col("lacking").is_null(), detail=detail,
    ).sort("date", "subject")
