"""Validating an asset's window, writing it to the warehouse and describing it, shared by every layer."""

import datetime as dt
import functools
import inspect

import dagster as dg
import polars as pl

from assets.guard import ALLOW_SHRINK_TAG, ShrinkRefused, decide, find_shrink, guarded
from quality.checks import check_results
from quality.gate import validate_window
from warehouse.ledger import subject_of
from warehouse.schemas import TableSpec

from .metadata import materialization, whole_table_metadata, window


def one_connection(compute):
    """An asset's compute function whose step reads, validates and writes on one warehouse connection: opening
    the DuckDB file costs about 30 ms, as much as reading a day of every input, and a step used to open it once
    per read and per write. The connection is closed when the step ends, so other processes can open the file."""
    if inspect.isgeneratorfunction(compute):
        @functools.wraps(compute)
        def step(context, **resources):
            with resources["warehouse"].warehouse.session():
                return (yield from compute(context, **resources))
    else:
        @functools.wraps(compute)
        def step(context, **resources):
            with resources["warehouse"].warehouse.session():
                return compute(context, **resources)
    return step


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


def refuse_shrink(context, warehouse, settings, spec: TableSpec, frame: pl.DataFrame, start: dt.date, end: dt.date,
                  source: str, removed: pl.DataFrame | None = None) -> None:
    """Fail the step when `frame`, about to replace [start, end) of raw `spec`, lacks stored rows, unless the run
    or the settings allow shrinking. `removed`: (subject, day) pairs deleted on purpose (healed unit errors)."""
    if not guarded(spec):
        return
    allowed = settings.integrity.allow_shrink or context.run.tags.get(ALLOW_SHRINK_TAG, "").lower() == "true"
    stored = warehouse.warehouse.read_window(spec, start, end)
    if removed is not None and removed.height:
        column = spec.partition_column
        stored = stored.with_columns(_subject=subject_of(spec)).join(
            removed.select(_subject="subject", **{column: pl.col(column)}), on=["_subject", column], how="anti"
        ).drop("_subject")
    try:
        allowed_shrink = decide(find_shrink(spec, stored, frame, source, start, end), allowed)
    except ShrinkRefused as exc:
        raise dg.Failure(description=str(exc), metadata={"source": source}) from None
    if allowed_shrink is not None:
        context.log.warning(f"shrinking on purpose: {allowed_shrink.summary()}")


def stored_before(warehouse, spec: TableSpec, start: dt.date, days: int = 10) -> pl.DataFrame:
    """The stored rows of the `days` before `start`: context for checks that compare with yesterday."""
    return warehouse.warehouse.read_window(spec, start - dt.timedelta(days=days), start)
