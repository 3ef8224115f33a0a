"""Columns and frames derived for validation: facts an expectation cannot see in a single row.
Pure polars, no I/O.

- unit errors: a day-over-day close move beyond `bound` (log) that the next day reverses (the two moves
  cancel to within 20%), or a jump of about 100x either way (a quote switched between units and cents).
  Both the spike and its reversal are flagged, so a daily run stops on whichever day it sees.
- trading days: whether a traditional row's date is an exchange session.
- coverage: one row per (date, subject) that must be present, with `present`.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl

from assets.raw.sources.calendars import is_nyse_trading_day

HUNDREDFOLD = math.log(100.0)


def unit_errors(frame: pl.DataFrame, by: list[str], bound: float) -> pl.Series:
    """A boolean per row of `frame` (in its order): part of a unit error in its series."""
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
    result = flagged.select("_row", unit_error=pl.col("spike") | pl.col("reversal") | pl.col("hundredfold")).sort("_row")
    return result["unit_error"]


def with_unit_errors(rows: pl.DataFrame, history: pl.DataFrame, by: list[str], bound: float) -> pl.DataFrame:
    """`rows` with a `unit_error` column, judged with the stored `history` just before them as context."""
    combined = pl.concat([history.select(rows.columns), rows], how="vertical_relaxed").unique(
        subset=[*by, "date"], keep="last", maintain_order=True
    )
    flags = combined.with_columns(unit_error=unit_errors(combined, by, bound))
    return rows.join(flags.select(*by, "date", "unit_error"), on=[*by, "date"], how="left")


def with_trading_day(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(
        is_trading_day=pl.col("date").map_elements(is_nyse_trading_day, return_dtype=pl.Boolean)
    )


def coverage(present: pl.DataFrame, expected_subjects: list[str], days: list[dt.date]) -> pl.DataFrame:
    """present: date, subject. One row per expected (date, subject) with whether it is there."""
    grid = pl.DataFrame({"date": days}, schema={"date": pl.Date}).join(
        pl.DataFrame({"subject": expected_subjects}, schema={"subject": pl.Utf8}), how="cross"
    )
    found = present.select("date", "subject").unique().with_columns(present=pl.lit(True))
    return grid.join(found, on=["date", "subject"], how="left").with_columns(pl.col("present").fill_null(False))
