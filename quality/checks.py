"""The quality suites as Dagster asset checks on the table each guards.

Every table asset carries:
- `quality_gate` (ERROR, blocking): the suite's critical expectations. The window is validated before it
  is written; when the gate fails nothing is written, the stored partition stays as it was, and every
  asset downstream (the anomaly tables included) is skipped in that run.
- `quality_watch` (WARN), only on tables whose suite has warning expectations: those expectations,
  reported, never blocking. A table without any has no watch check rather than one that checks nothing.
Descriptions list each expectation with the thresholds of the settings in force.
"""

from __future__ import annotations

import dagster as dg
import polars as pl

from warehouse.formatting import markdown_table
from warehouse.schemas import TableSpec

from .gate import QualityReport, expectation_name
from .suites import AnalyticsSettings, Tier, suite_for, tier_of

GATE, WATCH = "quality_gate", "quality_watch"
CHECKS: dict[Tier, tuple[str, dg.AssetCheckSeverity]] = {
    "error": (GATE, dg.AssetCheckSeverity.ERROR),
    "warn": (WATCH, dg.AssetCheckSeverity.WARN),
}


def quality_check_specs(spec: TableSpec, settings: AnalyticsSettings) -> list[dg.AssetCheckSpec]:
    expectations = [e for frame in suite_for(spec).expectations(settings).values() for e in frame]
    lines: dict[Tier, list[str]] = {"error": [], "warn": []}
    for expectation in expectations:
        why = (expectation.meta or {}).get("why")
        text = f"- {expectation_name(expectation.configuration)}: {expectation.description}" + (f" ({why})" if why else "")
        lines[tier_of(expectation.severity)].append(text)
    key = dg.AssetKey([spec.schema, spec.name])
    specs = [
        dg.AssetCheckSpec(
            GATE, asset=key, blocking=True,
            description=f"Blocking great-expectations suite on {spec.qualified}; the window is written only when "
            "every expectation passes:\n" + "\n".join(lines["error"]),
        )
    ]
    if lines["warn"]:
        specs.append(
            dg.AssetCheckSpec(
                WATCH, asset=key, blocking=False,
                description=f"Warning-level expectations on {spec.qualified}, reported but never blocking:\n"
                + "\n".join(lines["warn"]),
            )
        )
    return specs


def check_results(report: QualityReport) -> list[dg.AssetCheckResult]:
    """One result per check declared for the table (the watch check only where the suite has warnings)."""
    return [
        dg.AssetCheckResult(
            check_name=CHECKS[tier][0], passed=report.passed(tier), severity=CHECKS[tier][1],
            metadata=_metadata(report, tier), description=report.summary(tier),
        )
        for tier in report.tiers
    ]


def _metadata(report: QualityReport, tier: Tier) -> dict:
    failed = report.failed(tier)
    metadata = {
        "expectations_evaluated": report.evaluated[tier],
        "expectations_failed": len(failed),
        # How many were proven to pass in polars; the rest ran through great-expectations.
        "expectations_screened": report.screened[tier],
        "validation_seconds": round(report.seconds, 3),
    }
    if failed:
        lines = ["| expectation | rows failed | rows checked | expected | why it matters |", "|---|---|---|---|---|"]
        lines += [f"| {f.name} | {f.unexpected} | {f.evaluated} | {f.description} | {f.why or ''} |" for f in failed]
        metadata["failed_expectations"] = dg.MetadataValue.md("\n".join(lines))
        examples = [row for f in failed for row in f.examples][:10]
        if examples:
            metadata["offending_rows"] = dg.MetadataValue.md(markdown_table(pl.DataFrame(examples, infer_schema_length=None), 10))
    return metadata

