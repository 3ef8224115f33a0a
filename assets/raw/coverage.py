"""Storing a raw window series by series: quarantine, outages and healing, recorded in raw.coverage_ledger.

`store_raw` replaces `assets.store.store` for the raw tables:
1. A stored day that the new window reveals as a unit error (yesterday's x2 spike, reversed today) is healed:
   its rows are removed and the day is quarantined in the ledger, so the retry sensor asks for it again and
   every downstream day that read it is rebuilt.
2. The window is validated (quality/suites.py). Whole-window corruption (columns, duplicate keys) refuses it
   as before; a series or instrument failing any other error-tier expectation is kept out for that day
   (quarantined); a subject absent on a day it should trade is missing, or an outage when the source gave up
   on its venue or ticker (`assets/raw/sources/partial.py`).
3. The rest of the window, the healed deletions and the ledger entries land in one transaction.
Every hole is logged (the run's log in the UI), reported by the non-blocking `coverage_ledger` check and
listed in the materialisation's metadata. Downstream runs on what is there.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl

from assets.metadata import materialization, window
from assets.raw.sources.partial import Fetched
from assets.store import refuse_shrink
from quality.checks import GATE, quality_check_specs
from quality.derive import revealed_spikes
from quality.gate import validate_window
from quality.quarantine import WindowVerdict, check_results, check_spec, describe, verdict
from warehouse.formatting import markdown_table
from warehouse.ledger import observed, replace_window_with_ledger, subject_of
from warehouse.schemas import RAW_COVERAGE_LEDGER, TableSpec

# Stored days around the window that unit-error checks compare with: enough for a long weekend and holidays.
CONTEXT_DAYS = 10


def raw_check_specs(spec: TableSpec, settings) -> list[dg.AssetCheckSpec]:
    """The table's quality checks, with the gate described as what it now refuses, plus the coverage check."""
    specs = []
    for check in quality_check_specs(spec, settings):
        if check.name == GATE:
            expectations = check.description.split(":\n", 1)[1]
            check = dg.AssetCheckSpec(
                GATE, asset=check.asset_key, blocking=True,
                description=f"Blocking great-expectations suite on {spec.qualified}. It refuses the whole window "
                "only for whole-window corruption (missing columns, duplicate keys); a series or instrument that "
                "fails any other expectation below is kept out for that day and recorded in raw.coverage_ledger "
                "(the coverage_ledger check), and the rest of the window is written:\n" + expectations,
            )
        specs.append(check)
    return specs + [check_spec(spec)]


def store_raw(context: dg.AssetExecutionContext, warehouse, settings, spec: TableSpec, fetched: Fetched,
              source: str, history_days: int = CONTEXT_DAYS, unit_error_by: list[str] | None = None):
    """Validate, quarantine and write the run's window of raw `spec` with its ledger entries (yield from it).
    `unit_error_by`: the columns of one price series, for tables whose closes are checked for unit errors."""
    with warehouse.warehouse.session():  # one connection for the step's reads and its write (see one_connection)
        yield from _store_raw(context, warehouse, settings, spec, fetched, source, history_days, unit_error_by)


def _store_raw(context, warehouse, settings, spec: TableSpec, fetched: Fetched, source: str, history_days: int,
               unit_error_by: list[str] | None):
    start, end = window(context)
    wh = warehouse.warehouse
    frame = fetched.frame
    history = wh.read_window(spec, start - dt.timedelta(days=history_days), start)
    healed = frame.clear()
    if unit_error_by:
        healed = revealed_spikes(frame, history, unit_error_by, settings.quality.unit_error_move, start)
        history = history.join(healed.select(*unit_error_by, "date"), on=[*unit_error_by, "date"], how="anti")
        # Stored days after the window (a day asked for again) let a spike in it be seen by its reversal.
        history = pl.concat([history, wh.read_window(spec, end, end + dt.timedelta(days=CONTEXT_DAYS))])
    report = validate_window(spec, frame, history=history, settings=settings, start=start, end=end)
    v = verdict(spec, report, fetched.failures)
    if v.refused:
        yield from check_results(v, 0)
        raise dg.Failure(
            description=f"quality gate refused {spec.qualified} for {start} to {end - dt.timedelta(days=1)} from "
            f"{source}: " + "; ".join(f"{f.name} on {f.unexpected} of {f.evaluated} rows" for f in v.refused)
            + ". Nothing was written; the stored rows are unchanged.",
            metadata={"source": source},
        )
    column = spec.partition_column
    healed_entries = _healed(spec, healed)
    v = WindowVerdict(v.refused, pl.concat([v.quarantined, healed_entries]), v.holes, v.report)
    kept_out = v.quarantined.select("subject", pl.col("date").alias(column))
    kept = frame.with_columns(_subject=subject_of(spec)).join(
        kept_out.rename({"subject": "_subject"}), on=["_subject", column], how="anti").drop("_subject")
    removed = healed_entries.select("subject", pl.col("date").alias(column))
    refuse_shrink(context, warehouse, settings, spec, kept, start, end, source, removed=removed)
    stored, decided = replace_window_with_ledger(wh, spec, kept, start, end, source, v.entries, removed)
    for line in describe(spec.qualified, v.entries, stored).splitlines()[1:]:
        context.log.warning(line.strip())
    context.log.info(f"{spec.qualified}: replaced {start} to {end} with {stored} rows from {source}; "
                     f"{v.entries.height} hole(s) recorded in {RAW_COVERAGE_LEDGER.qualified}")
    # Run-level facts go on the latest day's event only (see assets.metadata.materialization).
    latest = {"coverage_ledger": dg.MetadataValue.md(
        markdown_table(decided.sort("date", "subject"), 30) if decided.height else "no holes in this window")}
    if fetched.failures:
        latest["sources_failed"] = dg.MetadataValue.md("\n".join(f"- {u}: {e}" for u, e in fetched.failures.items()))
    yield materialization(context, spec, kept, start, end, check_results=check_results(v, stored), source=source,
                          **latest)


def _healed(spec: TableSpec, healed: pl.DataFrame) -> pl.DataFrame:
    """Ledger entries for stored rows revealed as unit errors: one per subject and day."""
    if healed.height == 0:
        return observed()
    return healed.select(subject=subject_of(spec), date=pl.col("date")).unique().select(
        table=pl.lit(spec.qualified), subject="subject", date="date", status=pl.lit("quarantined"),
        reason=pl.lit("expect_column_values_to_be_in_set(unit_error): a close move beyond the bound that the next "
                      "day reversed; removed from stored history and asked for again"),
    ).sort("date", "subject")
