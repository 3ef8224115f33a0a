"""Validate a window of any table with its registered suite and summarise what failed.

`validate_window` asks the table's suite (quality/suites.py) for the frames it validates and the
expectations of each, runs them through great-expectations (pandas data source: polars -> pandas via
Arrow) and returns a QualityReport naming each failed expectation, how many rows failed and a few
offending rows. A frame whose every expectation is first proven to pass in polars (quality/screen.py, which can only
ever say "passes") skips the great-expectations run: a passing day costs milliseconds, and great-expectations decides
and describes whatever the screen cannot prove. Each result is read back from the expectation configuration GX returns with it (its
type, columns, severity, description and meta), so nothing has to be matched by hand.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from functools import lru_cache

import great_expectations as gx
import polars as pl
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from warehouse.schemas import TableSpec

from .screen import proven_to_pass
from .suites import AnalyticsSettings, Frames, Suite, Tier, Window, suite_for, tier_of

EXAMPLES = 5


def expectation_name(config: ExpectationConfiguration) -> str:
    """e.g. expect_column_values_to_be_between(rate): the GX type and the column(s) it looks at."""
    kwargs = config.kwargs
    target = kwargs.get("column") or kwargs.get("column_list") or (
        f"{kwargs.get('column_A')} vs {kwargs.get('column_B')}" if "column_A" in kwargs else None
    )
    return f"{config.type}({target})" if target else config.type


@dataclass
class FailedExpectation:
    name: str
    tier: Tier
    description: str
    why: str | None
    unexpected: int
    evaluated: int
    examples: list[dict]
    # The frame of the suite it ran on ("rows", "coverage") and every row that failed it (None for an
    # expectation on the whole table, such as its columns): what per-series quarantine keeps out.
    frame: str = "rows"
    offending: pl.DataFrame | None = None


@dataclass
class QualityReport:
    table: str
    # The tiers the table's suite has expectations in: a check is declared and reported for each.
    tiers: tuple[Tier, ...] = ("error",)
    failures: list[FailedExpectation] = field(default_factory=list)
    evaluated: dict[Tier, int] = field(default_factory=lambda: {"error": 0, "warn": 0})
    seconds: float = 0.0
    # Of those evaluated, the ones proven to pass in polars (quality/screen.py), without a great-expectations run.
    screened: dict[Tier, int] = field(default_factory=lambda: {"error": 0, "warn": 0})

    def passed(self, tier: Tier) -> bool:
        return not any(f.tier == tier for f in self.failures)

    def failed(self, tier: Tier) -> list[FailedExpectation]:
        return [f for f in self.failures if f.tier == tier]

    def summary(self, tier: Tier) -> str:
        failed = self.failed(tier)
        if not failed:
            return f"{self.table}: all {self.evaluated[tier]} {tier} expectations passed"
        parts = [f"{f.name} on {f.unexpected} of {f.evaluated} rows" for f in failed]
        return f"{self.table}: {len(failed)} {tier} expectation(s) failed: " + "; ".join(parts)


@lru_cache(maxsize=1)
def _batch_definition():
    """One ephemeral GX context per process: building it costs far more than validating a day."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context.data_sources.add_pandas("warehouse").add_dataframe_asset("window").add_batch_definition_whole_dataframe("all")


def validate_window(spec: TableSpec, rows: pl.DataFrame, *, history: pl.DataFrame | None,
                    settings: AnalyticsSettings, start: dt.date, end: dt.date) -> QualityReport:
    """Validate the rows of `spec` for [start, end) with the table's suite. `history` holds the stored rows
    just before `start` (context for expectations that compare with earlier days), or None."""
    began = time.perf_counter()
    suite = suite_for(spec)
    window = Window(rows, history if history is not None else rows.clear(), start, end)
    report = _validate(suite, suite.frames(window, settings), settings)
    report.seconds = time.perf_counter() - began
    return report


def _validate(suite: Suite, frames: Frames, settings: AnalyticsSettings) -> QualityReport:
    expectations = suite.expectations(settings)
    tiers = {tier_of(e.severity) for frame in expectations.values() for e in frame}
    report = QualityReport(suite.spec.qualified, tiers=tuple(t for t in ("error", "warn") if t in tiers))
    for frame_name, selected in expectations.items():
        frame = frames[frame_name]
        # Most frames pass everything: proven in polars (quality/screen.py), they need no great-expectations run.
        if getattr(settings.quality, "screen", True) and all(proven_to_pass(e, frame) for e in selected):
            for expectation in selected:
                report.evaluated[tier_of(expectation.severity)] += 1
                report.screened[tier_of(expectation.severity)] += 1
            continue
        gx_suite = gx.ExpectationSuite(name=f"{suite.spec.qualified}:{frame_name}", expectations=selected)
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame.to_pandas()})
        # Pass or fail first: most of GX's time goes to the metrics behind the details (unexpected values and
        # rows), which only a failure needs. When anything failed, the frame is validated again in full.
        result = batch.validate(gx_suite, result_format={"result_format": "BOOLEAN_ONLY"})
        if not all(outcome.success for outcome in result.results):
            result = batch.validate(gx_suite, result_format={"result_format": "COMPLETE",
                                                             "partial_unexpected_count": EXAMPLES})
        for outcome in result.results:
            config = outcome.expectation_config
            tier = tier_of(config.severity)
            report.evaluated[tier] += 1
            if not outcome.success:
                report.failures.append(_failure(config, tier, outcome.result or {}, frame, frame_name))
    return report


def _failure(config: ExpectationConfiguration, tier: Tier, details: dict, frame: pl.DataFrame,
             frame_name: str) -> FailedExpectation:
    listed = details.get("unexpected_index_list")
    every = [int(i) for i in listed or [] if str(i).isdigit()]
    indices = every[:EXAMPLES]
    # A table-level expectation (columns, row count) names no rows: the whole window failed it.
    unexpected = details.get("unexpected_count")
    return FailedExpectation(
        name=expectation_name(config),
        tier=tier,
        description=config.description or expectation_name(config),
        why=(config.meta or {}).get("why"),
        unexpected=int(unexpected) if unexpected is not None else frame.height,
        evaluated=int(details.get("element_count") or frame.height),
        examples=[frame.row(i, named=True) for i in indices],
        frame=frame_name,
        offending=frame[every] if listed is not None else None,
    )
