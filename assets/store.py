"""Writing an asset's window to the warehouse and describing it, shared by every layer."""

import datetime as dt
import math

import dagster as dg
import polars as pl

from warehouse.schemas import TableSpec

from .metadata import materialization, window


def store(context: dg.AssetExecutionContext, warehouse, spec: TableSpec, frame: pl.DataFrame, source: str,
          trim: bool = False, **extra) -> dg.MaterializeResult:
    """Replace the run's window of `spec` with `frame`. `trim` drops the look-back rows a derived
    table computed only as history for its rolling windows."""
    start, end = window(context)
    if trim:
        column = pl.col(spec.partition_column)
        frame = frame.filter((column >= start) & (column < end))
    rows = warehouse.warehouse.replace_window(spec, frame, start, end, source=source)
    context.log.info(f"{spec.qualified}: replaced {start} to {end} with {rows} rows from {source}")
    return materialization(spec, frame, start, end, source=source, **extra)


def history_start(start: dt.date, observations: int, calendar: str) -> dt.date:
    """First day to read so that a window of `observations` ending at `start` is complete: UTC days on
    the crypto calendar; on the traditional calendar, trading dates (about 252 a year) plus holidays."""
    if calendar == "crypto":
        days = observations + 1
    else:
        days = math.ceil((observations + 1) * 365 / 250) + 7
    return start - dt.timedelta(days=days)
