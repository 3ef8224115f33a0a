"""Expectation suites, one per table: how a window of the table is prepared for validation and what is
expected of it. The gate (quality/gate.py) knows no table; it asks the suite registered for the table.

Every expectation is a great-expectations 1.x expectation carrying its own metadata:
- `severity`: critical (GX's default) expectations gate the table: one failure stops the window from
  being written and blocks everything downstream, the anomaly tables included. Warning expectations are
  reported by the `quality_watch` check and never block.
- `description`: what is expected, in words, with the thresholds in force (shown in the Dagster UI).
- `meta["why"]`: why it matters, where the description alone does not say.

A suite validates frames it prepares itself: `rows` (the window's rows plus derived columns, see
quality/derive.py) and, for raw tables, `coverage` (one row per date and subject that must be present) and
any other frame named `coverage_*` (more holes, such as a funding settlement the venue's schedule lists but the
venue did not send): a failure on a coverage frame is a hole in the ledger, never a refusal or a quarantine.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import great_expectations.expectations as gxe
import polars as pl
from great_expectations.expectations.metadata_types import FailureSeverity

from assets.raw.sources.calendars import date_range
from assets.raw.sources.venues import lists_spot
from warehouse.schemas import (
    CORE_BASIS_DAILY,
    CORE_CORRELATION_DAILY,
    CORE_FUNDING_DAILY,
    CORE_PERP_QUARTERLY_SPREAD,
    CORE_RETURNS_DAILY,
    MARTS_ANOMALY_DAILY,
    MARTS_ANOMALY_EPISODES,
    MARTS_ANOMALY_STATUS,
    MARTS_BASIS_TRADE_SUMMARY,
    MARTS_BASIS_TRADES,
    RAW_CRYPTO_OHLCV,
    RAW_FUNDING,
    RAW_INSTRUMENTS,
    RAW_TRADITIONAL_OHLCV,
    TableSpec,
)

from .derive import (
    FundingHistoryRule,
    coverage,
    session_coverage,
    settlement_coverage,
    with_funding_history,
    with_trading_day,
    with_unit_errors,
)

Tier = Literal["error", "warn"]
WARNING = FailureSeverity.WARNING
Frames = dict[str, pl.DataFrame]
Expectations = dict[str, list[gxe.Expectation]]  # frame name -> the expectations run on that frame


class AnalyticsSettings(Protocol):
    """What the suites read from the settings. `pipelines.settings.Settings` satisfies it; it arrives as an
    argument so that quality never imports pipelines."""

    quality: Any  # .max_abs_funding_rate, .unit_error_move, .funding_history_* (see funding_history_rule), .screen
    # (optional: the polars first pass of quality/gate.py, on unless False)
    anomaly: Any  # .divergence_min_dte
    correlation: Any  # .short_window
    universe: Any  # .underlyings

    @property
    def venues(self) -> tuple[str, ...]: ...

    @property
    def reference_venue(self) -> str: ...

    def traditional_series(self) -> dict[str, str]: ...

    def traditional_calendars(self) -> dict[str, str]: ...


def tier_of(severity: FailureSeverity) -> Tier:
    """Critical expectations gate (`error`); warning and info ones are reported (`warn`)."""
    return "error" if FailureSeverity(severity) == FailureSeverity.CRITICAL else "warn"


@dataclass(frozen=True)
class Window:
    """The rows of [start, end) about to be written, and the stored rows just before them (context for
    expectations that compare with earlier days; empty when there are none)."""

    rows: pl.DataFrame
    history: pl.DataFrame
    start: dt.date
    end: dt.date

    @property
    def days(self) -> list[dt.date]:
        return date_range(self.start, self.end)


class Suite:
    """A table's suite: `frames` prepares what is validated, `expectations` says what is expected of each
    frame. The default validates the rows as they are against the table's schema."""

    spec: TableSpec

    def frames(self, window: Window, settings: AnalyticsSettings) -> Frames:
        return {"rows": window.rows}

    def expectations(self, settings: AnalyticsSettings) -> Expectations:
        return {"rows": schema_expectations(self.spec)}


def schema_expectations(spec: TableSpec) -> list[gxe.Expectation]:
    """Columns present, required columns filled, closed vocabularies respected, one row per key."""
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(column_set=spec.column_names, exact_match=False,
                                         description="every column of the table is there"),
    ]
    expectations += [gxe.ExpectColumnValuesToNotBeNull(column=c.name, description=f"{c.name} is required")
                     for c in spec.columns if not c.nullable]
    expectations += [
        gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=list(c.allowed_values),
                                        description=f"{c.name} is one of {', '.join(c.allowed_values)}")
        for c in spec.columns if c.allowed_values
    ]
    key = ", ".join(spec.key)
    expectations.append(
        gxe.ExpectCompoundColumnsToBeUnique(column_list=list(spec.key), description=f"one row per {key}")
        if len(spec.key) > 1 else gxe.ExpectColumnValuesToBeUnique(column=spec.key[0], description=f"one row per {key}")
    )
    return expectations


def bar_expectations(bar_severity: FailureSeverity) -> list[gxe.Expectation]:
    """OHLC bars: the close positive and free of unit errors (critical: every return is computed from it);
    open, high and low positive and consistent with the close, at `bar_severity`."""
    expectations: list[gxe.Expectation] = [
        gxe.ExpectColumnValuesToBeBetween(column="close", min_value=0, strict_min=True, description="the close is positive"),
        gxe.ExpectColumnValuesToBeInSet(
            column="unit_error", value_set=[False], description="no unit error on the close",
            meta={"why": "a move beyond the bound that reverses the next day, or a 100x jump, is a unit error "
                         "(a quote switched between units and cents), not a market move"},
        ),
    ]
    expectations += [
        gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, strict_min=True, severity=bar_severity,
                                          description=f"the {c} is positive")
        for c in ("open", "high", "low")
    ]
    for other in ("open", "close"):
        expectations += [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B=other, or_equal=True, severity=bar_severity,
                                                        description=f"the high is at least the {other}"),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A=other, column_B="low", or_equal=True, severity=bar_severity,
                                                        description=f"the low is at most the {other}"),
        ]
    return expectations


def coverage_expectations(what: str) -> list[gxe.Expectation]:
    """Coverage of a venue table: the reference venue is required, the others are reported."""
    return [
        gxe.ExpectColumnValuesToBeInSet(column="missing_required", value_set=[False],
                                        description=f"the reference venue has its {what} for every configured coin and day"),
        gxe.ExpectColumnValuesToBeInSet(
            column="missing_optional", value_set=[False], severity=WARNING,
            description=f"every other venue has its {what} for every configured coin and day",
            meta={"why": "another venue missing a day is worth knowing, but the other venues still carry the signal"},
        ),
    ]


def required_coverage(present: pl.DataFrame, subjects: list[str], days: list[dt.date], reference_venue: str) -> pl.DataFrame:
    """Coverage of `venue:...` subjects: a missing subject of the reference venue is required, others optional."""
    frame = coverage(present, subjects, days)
    required = pl.col("subject").str.starts_with(reference_venue + ":")
    return frame.with_columns(missing_required=required & ~pl.col("present"), missing_optional=~required & ~pl.col("present"))


def kind_expectation() -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=["spot", "perp", "future"],
                                           description="kind is spot, perp or future")


# ---------------------------------------------------------------------------------------------- raw
class RawCryptoOhlcv(Suite):
    spec = RAW_CRYPTO_OHLCV

    def frames(self, window, settings):
        rows = with_unit_errors(window.rows, window.history, ["venue", "symbol", "price_type"],
                                settings.quality.unit_error_move)
        present = window.rows.filter(pl.col("kind").is_in(["spot", "perp"]) & (pl.col("price_type") != "mark")).select(
            "date", subject=pl.col("venue") + ":" + pl.col("symbol").str.split("/").list.first() + ":" + pl.col("kind"))
        # A venue without a spot market (Deribit) is expected to have perpetual candles only.
        subjects = [f"{v}:{u}:{k}" for v in settings.venues for u in settings.universe.underlyings
                    for k in (("spot", "perp") if lists_spot(v) else ("perp",))]
        return {"rows": rows, "coverage": required_coverage(present, subjects, window.days, settings.reference_venue)}

    def expectations(self, settings):
        return {
            "rows": schema_expectations(self.spec) + bar_expectations(FailureSeverity.CRITICAL) + [
                kind_expectation(),
                gxe.ExpectColumnValuesToBeInSet(column="price_type", value_set=["last", "mark", "index"],
                                                description="price_type is last, mark or index"),
            ],
            "coverage": coverage_expectations("spot and perpetual candle"),
        }


class RawTraditionalOhlcv(Suite):
    spec = RAW_TRADITIONAL_OHLCV

    def frames(self, window, settings):
        calendars = settings.traditional_calendars()
        rows = with_trading_day(with_unit_errors(window.rows, window.history, ["ticker"], settings.quality.unit_error_move),
                                calendars)
        present = window.rows.select("date", subject="series")
        return {"rows": rows, "coverage": session_coverage(present, calendars, window.start, window.end)}

    def expectations(self, settings):
        # Only the close of a traditional bar is used downstream: a bad open, high or low (real Yahoo bars
        # have opens outside low..high) is reported, never refused.
        return {
            "rows": schema_expectations(self.spec) + bar_expectations(WARNING) + [
                gxe.ExpectColumnValuesToBeInSet(
                    column="is_trading_day", value_set=[True], description="rows only on exchange trading days",
                    meta={"why": "a weekend or holiday row is a fake (zero) return"},
                ),
                gxe.ExpectColumnValuesToBeInSet(column="series", value_set=list(settings.traditional_series()),
                                                description="only configured series"),
            ],
            "coverage": [gxe.ExpectColumnValuesToBeInSet(column="present", value_set=[True],
                                                         description="every configured series has a bar on every session of its calendar")],
        }


def funding_history_rule(settings: AnalyticsSettings) -> FundingHistoryRule:
    """The funding-history thresholds of the settings in force."""
    quality = settings.quality
    return FundingHistoryRule(days=quality.funding_history_days, multiple=quality.funding_history_multiple,
                              ceiling_8h=quality.funding_ceiling_8h, min_settlements=quality.funding_history_min_settlements)


class RawFunding(Suite):
    spec = RAW_FUNDING

    def frames(self, window, settings):
        rows = with_funding_history(window.rows, window.history, funding_history_rule(settings))
        present = window.rows.select("date", subject=pl.col("venue") + ":" + pl.col("symbol").str.split("/").list.first())
        subjects = [f"{v}:{u}" for v in settings.venues for u in settings.universe.underlyings]
        return {"rows": rows, "coverage": required_coverage(present, subjects, window.days, settings.reference_venue),
                "coverage_settlements": settlement_coverage(window.rows, window.history, window.start, window.end)}

    def expectations(self, settings):
        cap, rule = settings.quality.max_abs_funding_rate, funding_history_rule(settings)
        return {
            "rows": schema_expectations(self.spec) + [
                gxe.ExpectColumnValuesToBeBetween(
                    column="rate", min_value=-cap, max_value=cap, description=f"abs(rate) per settlement at most {cap:g}",
                    meta={"why": "beyond it the value is a unit or parsing error"},
                ),
                gxe.ExpectColumnValuesToBeInSet(
                    column="rate_beyond_history", value_set=[False],
                    description=f"abs(rate) at most {rule.ceiling_8h:g} per 8 hours (scaled to the interval), or "
                    f"within {rule.multiple:g}x the median abs(rate) of the same venue and perpetual over the "
                    f"{rule.days} days before (given at least {rule.min_settlements} settlements)",
                    meta={"why": "a rate stored in percent instead of a fraction is 100x its neighbours, yet can stay "
                                 "under the absolute cap; a venue that runs hot may exceed the ceiling"},
                ),
                gxe.ExpectColumnValuesToBeBetween(column="interval_hours", min_value=0.5, max_value=24,
                                                  description="a settlement covers 0.5 to 24 hours",
                                                  meta={"why": "funding intervals run from 1 to 8 hours in practice"}),
            ],
            "coverage": coverage_expectations("funding settlement"),
            "coverage_settlements": [gxe.ExpectColumnValuesToBeInSet(
                column="complete", value_set=[True], severity=WARNING,
                description="every settlement the venue's funding schedule lists for a day is there",
                meta={"why": "a missing settlement is a hole: the day's APR is computed over the hours its "
                             "settlements cover, and the day is asked for again"},
            )],
        }


class RawInstruments(Suite):
    spec = RAW_INSTRUMENTS

    def frames(self, window, settings):
        rows = window.rows.with_columns(expiry_known=(pl.col("kind") != "future") | pl.col("expiry_ts").is_not_null())
        present = window.rows.filter(pl.col("kind") == "perp").select(
            date="snapshot_date", subject=pl.col("venue") + ":" + pl.col("underlying"))
        subjects = [f"{v}:{u}" for v in settings.venues for u in settings.universe.underlyings]
        return {"rows": rows, "coverage": required_coverage(present, subjects, window.days, settings.reference_venue)}

    def expectations(self, settings):
        return {
            "rows": schema_expectations(self.spec) + [
                kind_expectation(),
                gxe.ExpectColumnValuesToBeInSet(column="expiry_known", value_set=[True],
                                                description="every dated future carries its expiry"),
            ],
            "coverage": coverage_expectations("perpetual listing"),
        }


# --------------------------------------------------------------------------------------------- core
class CoreBasisDaily(Suite):
    spec = CORE_BASIS_DAILY

    def expectations(self, settings):
        return {"rows": schema_expectations(self.spec) + [
            gxe.ExpectColumnValuesToBeBetween(column="dte", min_value=0, description="no basis of an expired contract"),
            gxe.ExpectColumnValuesToBeBetween(column="spot", min_value=0, strict_min=True, description="spot is positive"),
            gxe.ExpectColumnValuesToBeBetween(column="basis", min_value=-0.5, max_value=0.5,
                                              description="the basis lies within 50% of spot",
                                              meta={"why": "a basis beyond 50% of spot means mismatched prices"}),
        ]}


class CoreFundingDaily(Suite):
    spec = CORE_FUNDING_DAILY

    def expectations(self, settings):
        return {"rows": schema_expectations(self.spec) + [
            gxe.ExpectColumnValuesToBeBetween(column="settlements", min_value=1, description="a day has settlements"),
            gxe.ExpectColumnValuesToBeBetween(column="hours_covered", min_value=24, max_value=24, severity=WARNING,
                                              description="a day's settlements cover 24 hours",
                                              meta={"why": "fewer hours means a settlement is missing"}),
        ]}


class CorePerpQuarterlySpread(Suite):
    spec = CORE_PERP_QUARTERLY_SPREAD

    def expectations(self, settings):
        min_dte = settings.anomaly.divergence_min_dte
        return {"rows": schema_expectations(self.spec) + [
            gxe.ExpectColumnValuesToBeBetween(column="quarterly_dte", min_value=min_dte,
                                              description=f"the gap uses a quarterly with at least {min_dte:g} days left"),
        ]}


class CoreReturnsDaily(Suite):
    spec = CORE_RETURNS_DAILY

    def expectations(self, settings):
        return {"rows": schema_expectations(self.spec) + [
            gxe.ExpectColumnValuesToBeBetween(column="close", min_value=0, strict_min=True, description="the close is positive"),
            gxe.ExpectColumnValuesToBeInSet(column="calendar", value_set=["crypto", "traditional"],
                                            description="calendar is crypto or traditional"),
        ]}


class CoreCorrelationDaily(Suite):
    spec = CORE_CORRELATION_DAILY

    def expectations(self, settings):
        short = settings.correlation.short_window
        return {"rows": schema_expectations(self.spec) + [
            gxe.ExpectColumnValuesToBeBetween(column=c, min_value=-1, max_value=1, description=f"{c} lies in [-1, 1]")
            for c in ("corr_short", "corr_baseline")
        ] + [
            gxe.ExpectColumnValuesToBeBetween(column="n_short", min_value=0, max_value=short,
                                              description=f"the short window holds at most its {short} observations"),
        ]}


# -------------------------------------------------------------------------------------------- marts
class MartsAnomalyDaily(Suite):
    spec = MARTS_ANOMALY_DAILY  # its code and kind vocabularies come from the table spec (Column.allowed_values)

    def expectations(self, settings):
        return {"rows": schema_expectations(self.spec) + [
            gxe.ExpectColumnValuesToBeBetween(column="severity", min_value=0, description="severity is a size (>= 0)"),
        ]}


class MartsAnomalyEpisodes(Suite):
    spec = MARTS_ANOMALY_EPISODES

    def expectations(self, settings):
        return {"rows": schema_expectations(self.spec) + [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="end", column_B="start", or_equal=True,
                                                        description="an episode ends on or after its start"),
        ]}


class MartsAnomalyStatus(Suite):
    spec = MARTS_ANOMALY_STATUS

    def expectations(self, settings):
        return {"rows": schema_expectations(self.spec) + [
            gxe.ExpectTableRowCountToEqual(value=3, description="one row per Table 1 pair"),
        ]}


class MartsBasisTrades(Suite):
    spec = MARTS_BASIS_TRADES

    def expectations(self, settings):
        return {"rows": schema_expectations(self.spec) + [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="entry_date", column_B="signal_date", ignore_row_if="either_value_is_missing",
                description="entry strictly after the signal day: no look-ahead"),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="exit_date", column_B="entry_date", or_equal=True, ignore_row_if="either_value_is_missing",
                description="a trade exits on or after its entry"),
        ]}


class MartsBasisTradeSummary(Suite):
    spec = MARTS_BASIS_TRADE_SUMMARY

    def expectations(self, settings):
        return {"rows": schema_expectations(self.spec) + [
            gxe.ExpectColumnValuesToBeBetween(column="hit_rate", min_value=0, max_value=1,
                                              description="a hit rate is a share of trades"),
        ]}


SUITES: dict[str, Suite] = {
    suite.spec.qualified: suite
    for suite in (
        RawCryptoOhlcv(), RawTraditionalOhlcv(), RawFunding(), RawInstruments(),
        CoreBasisDaily(), CoreFundingDaily(), CorePerpQuarterlySpread(), CoreReturnsDaily(), CoreCorrelationDaily(),
        MartsAnomalyDaily(), MartsAnomalyEpisodes(), MartsAnomalyStatus(), MartsBasisTrades(),
        MartsBasisTradeSummary(),
    )
}


def suite_for(spec: TableSpec) -> Suite:
    try:
        return SUITES[spec.qualified]
    except KeyError:
        raise KeyError(f"no expectation suite is registered for table {spec.qualified}") from None
