"""Validating an asset's window, writing it to the warehouse and describing it, shared by every layer."""

import datetime as dt

import dagster as dg
import polars as pl

from quality.checks import check_results
from quality.gate import validate_window
from warehouse.schemas import TableSpec

from .metadata import materialization, whole_table_metadata, window


def store(context: dg.AssetExecutionContext, warehouse, settings, spec: TableSpec, frame: pl.DataFrame,
          source: str, trim: bool = False, history: pl.DataFrame | None = None, **extra):
    """Validate the run's window of `spec`, then replace it with `frame` (a generator: yield from it).

    `trim` drops the look-back rows a derived table computed only as history for its rolling windows;
    `history` holds stored rows just before the window, the context some expectations need. When the
    quality gate fails nothing is written and the step fails, naming the expectations that failed."""
    start, end = window(context)
    if trim:
        column = pl.col(spec.partition_column)
        frame = frame.filter((column >= start) & (column < end))
    results = yield from _gate(spec, frame, history, settings, start, end, source)
    rows = warehouse.warehouse.replace_window(spec, frame, start, end, source=source)
    context.log.info(f"{spec.qualified}: replaced {start} to {end} with {rows} rows from {source}")
    yield materialization(context, spec, frame, start, end, check_results=results, source=source, **extra)


def store_all(context: dg.AssetExecutionContext, warehouse, settings, spec: TableSpec, frame: pl.DataFrame,
              source: str, **extra):
    """Validate and replace a whole (unpartitioned) table: the same gate as `store`."""
    column = spec.partition_column
    first, last = (frame[column].min(), frame[column].max()) if frame.height else (None, None)
    # A whole table has no window; its suites need none beyond the rows themselves.
    start = first if isinstance(first, dt.date) else dt.date.min
    end = last + dt.timedelta(days=1) if isinstance(last, dt.date) else start
    results = yield from _gate(spec, frame, None, settings, start, end, source)
    rows = warehouse.warehouse.replace_all(spec, frame, source=source)
    context.log.info(f"{spec.qualified}: rebuilt with {rows} rows from {source}")
    # Recorded on the materialisation only (metadata on the result would be copied into the step's output too).
    context.add_asset_metadata({
        "dagster/row_count": rows,
        f"{column}_covered": f"{first} to {last}" if frame.height else "no rows",
        **whole_table_metadata(spec, frame),
        "source": source,
        **extra,
    })
    yield dg.MaterializeResult(check_results=results)


def _gate(spec, frame, history, settings, start, end, source):
    """Run the table's suites; on an error-tier failure yield the check results and fail the step."""
    report = validate_window(spec, frame, history=history, settings=settings, start=start, end=end)
    results = check_results(report)
    if not report.passed("error"):
        yield from results
        raise dg.Failure(
            description=f"quality gate refused {spec.qualified} for {start} to {end - dt.timedelta(days=1)} from "
            f"{source}: " + report.summary("error") + ". Nothing was written; the stored rows are unchanged.",
            metadata={"source": source},
        )
    return results


def stored_before(warehouse, spec: TableSpec, start: dt.date, days: int = 10) -> pl.DataFrame:
    """The stored rows of the `days` before `start`: context for checks that compare with yesterday."""
    return warehouse.warehouse.read_window(spec, start - dt.timedelta(days=days), start)
