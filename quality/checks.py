"""The quality suites as Dagster asset checks on the table each guards.

Every raw and core asset carries two checks:
- `quality_gate` (ERROR, blocking): the error-tier expectations. The window is validated before it is
  written; when the gate fails nothing is written, the stored partition stays as it was, and every
  asset downstream (the anomaly tables included) is skipped in that run.
- `quality_watch` (WARN): the warn-tier expectations; reported, never blocking.
"""

from __future__ import annotations

import dagster as dg

from warehouse.formatting import markdown_table
from warehouse.schemas import TableSpec

from .gate import QualityReport
from .suites import SUITES

GATE, WATCH = "quality_gate", "quality_watch"


def _rule_list(spec: TableSpec, tier: str, settings) -> str:
    rules = [r for r in SUITES[spec.qualified](settings) if r.tier == tier]
    return "\n".join(f"- {r.name}: {r.why}" for r in rules)


def quality_check_specs(spec: TableSpec, settings) -> list[dg.AssetCheckSpec]:
    key = dg.AssetKey([spec.schema, spec.name])
    return [
        dg.AssetCheckSpec(
            GATE, asset=key, blocking=True,
            description=f"Blocking great-expectations suite on {spec.qualified}; the window is written only "
            f"when every expectation passes:\n{_rule_list(spec, 'error', settings)}",
        ),
        dg.AssetCheckSpec(
            WATCH, asset=key, blocking=False,
            description=f"Warning-level expectations on {spec.qualified}, reported but never blocking:\n"
            f"{_rule_list(spec, 'warn', settings) or '- none'}",
        ),
    ]


def check_results(report: QualityReport) -> list[dg.AssetCheckResult]:
    return [
        dg.AssetCheckResult(
            check_name=name, passed=report.passed(tier), severity=severity, metadata=_metadata(report, tier),
            description=report.summary(tier),
        )
        for name, tier, severity in ((GATE, "error", dg.AssetCheckSeverity.ERROR), (WATCH, "warn", dg.AssetCheckSeverity.WARN))
    ]


def _metadata(report: QualityReport, tier: str) -> dict:
    failed = report.failed(tier)
    metadata = {
        "expectations_evaluated": report.evaluated[tier],
        "expectations_failed": len(failed),
        "validation_seconds": round(report.seconds, 3),
    }
    if failed:
        lines = ["| expectation | rows failed | rows checked | why it matters |", "|---|---|---|---|"]
        lines += [f"| {f.rule.name} | {f.unexpected} | {f.evaluated} | {f.rule.why} |" for f in failed]
        metadata["failed_expectations"] = dg.MetadataValue.md("\n".join(lines))
        examples = [row for f in failed for row in f.examples][:10]
        if examples:
            import polars as pl

            metadata["offending_rows"] = dg.MetadataValue.md(markdown_table(pl.DataFrame(examples, infer_schema_length=None), 10))
    return metadata
