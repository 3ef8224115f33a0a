"""Run a table's expectation suites on a window of rows and summarise what failed.

`prepare` adds the derived columns and the coverage frame the suites read; `validate` runs them through
great-expectations (pandas data source: polars -> pandas via Arrow) and returns a QualityReport that
names each failed expectation, how many rows failed, and a few offending rows.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache

import polars as pl

from pipelines.settings import Settings
from warehouse.schemas import RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_INSTRUMENTS, RAW_TRADITIONAL_OHLCV, TableSpec

from .derive import coverage, with_trading_day, with_unit_errors
from .suites import SUITES, Rule, Tier

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
EXAMPLES = 5


@dataclass
class FailedExpectation:
    rule: Rule
    unexpected: int
    evaluated: int
    examples: list[dict]


@dataclass
class QualityReport:
    table: str
    failures: list[FailedExpectation] = field(default_factory=list)
    evaluated: dict[Tier, int] = field(default_factory=lambda: {"error": 0, "warn": 0})
    seconds: float = 0.0

    def passed(self, tier: Tier) -> bool:
        return not any(f.rule.tier == tier for f in self.failures)

    def failed(self, tier: Tier) -> list[FailedExpectation]:
        return [f for f in self.failures if f.rule.tier == tier]

    def summary(self, tier: Tier) -> str:
        failed = self.failed(tier)
        if not failed:
            return f"{self.table}: all {self.evaluated[tier]} {tier} expectations passed"
        parts = [f"{f.rule.name} on {f.unexpected} of {f.evaluated} rows" for f in failed]
        return f"{self.table}: {len(failed)} {tier} expectation(s) failed: " + "; ".join(parts)


@lru_cache(maxsize=1)
def _batch_definition():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context.data_sources.add_pandas("warehouse").add_dataframe_asset("window").add_batch_definition_whole_dataframe("all")


def prepare(spec: TableSpec, rows: pl.DataFrame, history: pl.DataFrame | None, settings: Settings,
            start: dt.date, end: dt.date) -> dict[str, pl.DataFrame]:
    """The frames a table's suites validate: its rows with derived columns, and its coverage."""
    history = history if history is not None else rows.clear()
    days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
    bound = settings.quality.unit_error_move
    reference, underlyings = settings.reference_venue, settings.universe.underlyings
    frames = {"rows": rows}
    if spec is RAW_CRYPTO_OHLCV:
        frames["rows"] = with_unit_errors(rows, history, ["venue", "symbol", "price_type"], bound)
        present = rows.filter(pl.col("kind").is_in(["spot", "perp"]) & (pl.col("price_type") != "mark")).select(
            "date", subject=pl.col("venue") + ":" + pl.col("symbol").str.split("/").list.first() + ":" + pl.col("kind"))
        subjects = [f"{v}:{u}:{k}" for v in settings.venues for u in underlyings for k in ("spot", "perp")]
        frames["coverage"] = _required(coverage(present, subjects, days), reference)
    elif spec is RAW_TRADITIONAL_OHLCV:
        frames["rows"] = with_trading_day(with_unit_errors(rows, history, ["ticker"], bound))
        trading = [d for d in days if with_trading_day(pl.DataFrame({"date": [d]}))["is_trading_day"][0]]
        present = rows.select("date", subject="series")
        frames["coverage"] = coverage(present, list(settings.traditional_series()), trading).with_columns(
            missing_required=~pl.col("present"), missing_optional=pl.lit(False))
    elif spec is RAW_FUNDING:
        present = rows.select("date", subject=pl.col("venue") + ":" + pl.col("symbol").str.split("/").list.first())
        subjects = [f"{v}:{u}" for v in settings.venues for u in underlyings]
        frames["coverage"] = _required(coverage(present, subjects, days), reference)
    elif spec is RAW_INSTRUMENTS:
        frames["rows"] = rows.with_columns(expiry_known=(pl.col("kind") != "future") | pl.col("expiry_ts").is_not_null())
        present = rows.filter(pl.col("kind") == "perp").select(
            date="snapshot_date", subject=pl.col("venue") + ":" + pl.col("underlying"))
        subjects = [f"{v}:{u}" for v in settings.venues for u in underlyings]
        frames["coverage"] = _required(coverage(present, subjects, days), reference)
    return frames


def _required(frame: pl.DataFrame, reference_venue: str) -> pl.DataFrame:
    required = pl.col("subject").str.starts_with(reference_venue + ":")
    return frame.with_columns(
        missing_required=required & ~pl.col("present"), missing_optional=~required & ~pl.col("present")
    )


def _config_key(configuration) -> str:
    kwargs = {k: v for k, v in configuration.kwargs.items() if k not in ("result_format", "batch_id")}
    return f"{configuration.type}:{sorted((k, str(v)) for k, v in kwargs.items())}"


def validate(spec: TableSpec, frames: dict[str, pl.DataFrame], settings: Settings) -> QualityReport:
    import great_expectations as gx

    began = time.perf_counter()
    report = QualityReport(spec.qualified)
    rules = SUITES[spec.qualified](settings)
    batch_definition = _batch_definition()
    for frame_name, frame in frames.items():
        selected = [r for r in rules if r.frame == frame_name]
        if not selected:
            continue
        data = frame.to_pandas()
        if data.empty:
            data = frame.head(0).to_pandas()
        suite = gx.ExpectationSuite(name=f"{spec.qualified}:{frame_name}", expectations=[r.expectation for r in selected])
        result = batch_definition.get_batch(batch_parameters={"dataframe": data}).validate(
            suite, result_format={"result_format": "COMPLETE", "partial_unexpected_count": EXAMPLES}
        )
        by_config = {_config_key(r.expectation.configuration): r for r in selected}
        for outcome in result.results:
            rule = by_config[_config_key(outcome.expectation_config)]
            report.evaluated[rule.tier] += 1
            if outcome.success:
                continue
            details = outcome.result or {}
            indices = (details.get("unexpected_index_list") or [])[:EXAMPLES]
            examples = [frame.row(int(i), named=True) for i in indices if isinstance(i, (int,)) or str(i).isdigit()]
            report.failures.append(
                FailedExpectation(
                    rule=rule,
                    unexpected=int(details.get("unexpected_count") or (0 if indices else len(frame) or 1)),
                    evaluated=int(details.get("element_count") or len(frame)),
                    examples=examples,
                )
            )
    report.seconds = time.perf_counter() - began
    return report


def validate_window(spec: TableSpec, rows: pl.DataFrame, *, history: pl.DataFrame | None, settings,
                    start: dt.date, end: dt.date) -> QualityReport:
    """Validate the rows about to replace [start, end) of `spec`, with stored `history` as context."""
    return validate(spec, prepare(spec, rows, history, settings, start, end), settings)
