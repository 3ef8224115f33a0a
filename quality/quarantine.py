"""Per-series quarantine: what of a raw window's failed expectations refuses the whole window, and what only
keeps one series' (or instrument's) day out.

- Whole-window corruption refuses the window (the blocking `quality_gate`): an expectation on the table as a
  whole (its columns) or on its keys (duplicate keys). Nothing is written.
- Any other error-tier expectation on the rows (a non-positive close, a unit error on the close, a funding
  rate beyond its cap or its venue's history, a row on a day the series' calendar has no session) names rows:
  those rows' subject (series, or venue:symbol) is kept out for that day, quarantined, with the expectation's
  name as the reason. The rest of the window lands.
- The coverage frame's failures are holes: a subject absent on a day it should trade is `missing` (an
  `outage` when the source gave up on its venue or ticker, see `assets/raw/sources/partial.py`).
Everything kept out or absent is written to raw.coverage_ledger in the same transaction as the window, and
reported by the non-blocking `coverage_ledger` check (ERROR when rows were quarantined or a source failed,
WARN for holes alone): downstream runs on what is there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg
import polars as pl

from warehouse.formatting import markdown_table
from warehouse.ledger import observed, subject_of
from warehouse.schemas import TableSpec

from .checks import CHECKS, _metadata
from .gate import FailedExpectation, QualityReport

COVERAGE_CHECK = "coverage_ledger"
# Expectations on keys: a duplicate key corrupts every join downstream, whichever series it is in.
WHOLE_WINDOW_TYPES = ("expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique")


@dataclass
class WindowVerdict:
    """What a raw window's validation decided."""

    refused: list[FailedExpectation]  # whole-window corruption: nothing is written
    quarantined: pl.DataFrame  # OBSERVED_SCHEMA rows with status quarantined
    holes: pl.DataFrame  # OBSERVED_SCHEMA rows with status missing or outage
    report: QualityReport

    @property
    def entries(self) -> pl.DataFrame:
        return pl.concat([self.quarantined, self.holes])


def is_coverage(failure: FailedExpectation) -> bool:
    """A failure on a coverage frame (`coverage`, `coverage_*`): holes, not bad rows."""
    return failure.frame == "coverage" or failure.frame.startswith("coverage_")


def is_whole_window(failure: FailedExpectation) -> bool:
    return failure.offending is None or failure.name.split("(")[0] in WHOLE_WINDOW_TYPES


def verdict(spec: TableSpec, report: QualityReport, failures: dict[str, str]) -> WindowVerdict:
    """Split `report`'s failures for a raw window of `spec`. `failures`: a unit the source gave up on (a venue,
    or a series) -> its error; the holes of that unit (the subject itself, or `unit:...`) are outages."""
    refused, quarantined, holes = [], [], []
    for failure in report.failures:
        if is_coverage(failure):
            holes.append(_holes(spec, failure, failures))
        elif failure.tier == "error" and is_whole_window(failure):
            refused.append(failure)
        elif failure.tier == "error":
            quarantined.append(_quarantined(spec, failure))
    quarantine = _one_per_day(quarantined, "quarantined")
    # A quarantined subject is not also missing (its day is kept out whole); a hole seen by two coverage
    # expectations is one hole.
    hole_frame = _one_per_day(holes, None).join(quarantine.select("table", "subject", "date"),
                                                on=["table", "subject", "date"], how="anti")
    return WindowVerdict(refused, quarantine, hole_frame, report)


def _quarantined(spec: TableSpec, failure: FailedExpectation) -> pl.DataFrame:
    rows = failure.offending.select(subject=subject_of(spec), date=pl.col(spec.partition_column))
    return rows.unique().with_columns(table=pl.lit(spec.qualified), status=pl.lit("quarantined"),
                                      reason=pl.lit(failure.name + ": " + failure.description))


def _holes(spec: TableSpec, failure: FailedExpectation, failures: dict[str, str]) -> pl.DataFrame:
    outage = pl.lit(None, dtype=pl.Utf8)
    for prefix, error in failures.items():
        under = (pl.col("subject") == prefix) | pl.col("subject").str.starts_with(prefix + ":")
        outage = pl.when(under).then(pl.lit(error)).otherwise(outage)
    # A coverage frame may say what exactly is absent (`detail`, e.g. the missing settlement times).
    absent = (pl.col("detail") if "detail" in failure.offending.columns
              else pl.lit("no row on a day it should have one: " + failure.description))
    rows = failure.offending.select("subject", "date", absent.alias("absent")).unique()
    return rows.with_columns(table=pl.lit(spec.qualified), outage=outage).select(
        "table", "subject", "date",
        status=pl.when(pl.col("outage").is_not_null()).then(pl.lit("outage")).otherwise(pl.lit("missing")),
        reason=pl.when(pl.col("outage").is_not_null()).then(pl.col("outage")).otherwise(pl.col("absent")),
    )


def _one_per_day(frames: list[pl.DataFrame], status: str | None) -> pl.DataFrame:
    if not frames:
        return observed()
    frame = pl.concat([f.select("table", "subject", "date", "status", "reason") for f in frames])
    return frame.group_by("table", "subject", "date", "status").agg(pl.col("reason").unique().sort().str.join("; ")) \
        .select(observed().columns).sort("date", "subject")


def check_results(v: WindowVerdict, stored: int) -> list[dg.AssetCheckResult]:
    """The gate (whole-window corruption only), the watch check (warnings) and the coverage check."""
    report = v.report
    gate_name, gate_severity = CHECKS["error"]
    refused = "; ".join(f"{f.name} on {f.unexpected} of {f.evaluated} rows" for f in v.refused)
    results = [dg.AssetCheckResult(
        check_name=gate_name, passed=not v.refused, severity=gate_severity, metadata=_metadata(_only(report, v.refused), "error"),
        description=f"{report.table}: the window is refused: {refused}" if v.refused else
        f"{report.table}: no whole-window corruption (columns, keys); {report.evaluated['error']} error expectations "
        "evaluated, any per-series failure is quarantined (see the coverage_ledger check)",
    )]
    if "warn" in report.tiers:
        name, severity = CHECKS["warn"]
        warnings = [f for f in report.failed("warn") if not is_coverage(f)]
        results.append(dg.AssetCheckResult(check_name=name, passed=not warnings, severity=severity,
                                           metadata=_metadata(_only(report, warnings), "warn"),
                                           description=_only(report, warnings).summary("warn")))
    entries = v.entries
    serious = v.quarantined.height > 0 or (entries["status"] == "outage").any()
    results.append(dg.AssetCheckResult(
        check_name=COVERAGE_CHECK, passed=entries.height == 0,
        severity=dg.AssetCheckSeverity.ERROR if serious else dg.AssetCheckSeverity.WARN,
        description=describe(report.table, entries, stored),
        metadata={"quarantined": v.quarantined.height, "missing": int((entries["status"] == "missing").sum()),
                  "outage": int((entries["status"] == "outage").sum()), "rows_stored": stored,
                  **({"holes": dg.MetadataValue.md(markdown_table(entries, 30))} if entries.height else {})},
    ))
    return results


def describe(table: str, entries: pl.DataFrame, stored: int) -> str:
    """One line for a window: what was stored and every hole by status, subject and day."""
    if entries.height == 0:
        return f"{table}: {stored} rows stored, no holes"
    lines = [f"{table}: {stored} rows stored; kept out or absent:"]
    for row in entries.sort("status", "subject", "date").iter_rows(named=True):
        lines.append(f"  {row['status']} {row['subject']} on {row['date']}: {row['reason']}")
    return "\n".join(lines)


def _only(report: QualityReport, failures: list[FailedExpectation]) -> QualityReport:
    return QualityReport(report.table, tiers=report.tiers, failures=failures, evaluated=report.evaluated,
                         seconds=report.seconds)


def check_spec(spec: TableSpec) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        COVERAGE_CHECK, asset=dg.AssetKey([spec.schema, spec.name]), blocking=False,
        description=f"Holes in {spec.qualified}, recorded in raw.coverage_ledger and never blocking: rows of a series "
        "or instrument that failed an error-tier expectation (kept out for that day, quarantined), subjects absent on "
        "a day they should trade (missing) and venues or tickers that still failed after their retries (outage). "
        "ERROR when rows were quarantined or a source failed, WARN for holes alone; downstream runs on what is there.",
    )
