"""What a run left out, for the command line: each table, series or instrument, day and reason (the failed
expectation, or the source's error), and what was stored. The same lines are in the run's log and in each raw
asset's `coverage_ledger` check in the UI."""

from __future__ import annotations

import dagster as dg

from quality.quarantine import COVERAGE_CHECK


def run_holes(result: dg.ExecuteInProcessResult) -> str:
    """The coverage check of every raw table the run wrote, holes first; empty when the run left nothing out."""
    lines = []
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.check_name == COVERAGE_CHECK and not evaluation.passed:
            lines.append(f"  {evaluation.description}")
    if not lines:
        return ""
    return ("Partial: these holes were recorded in raw.coverage_ledger (bi.coverage_ledger), the rest was stored; "
            "the retry sensor asks for them again:\n" + "\n".join(lines) + "\n")
