"""Expectation suites, written in code, for every raw and core table.

Each rule has a tier. `error` rules gate: one failure stops the table from being written and blocks
everything downstream of it, the anomaly tables included. `warn` rules are reported but never block.
A rule validates either the table's rows (plus derived columns, see quality/derive.py) or its coverage
frame (one row per date and subject that must be present).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import great_expectations.expectations as gxe

from pipelines.settings import Settings
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

Tier = Literal["error", "warn"]


@dataclass(frozen=True)
class Rule:
    tier: Tier
    expectation: gxe.Expectation
    why: str
    frame: Literal["rows", "coverage"] = "rows"

    @property
    def name(self) -> str:
        return describe(self.expectation)


def describe(expectation: gxe.Expectation) -> str:
    config = expectation.configuration.kwargs
    target = config.get("column") or config.get("column_list") or (
        f"{config.get('column_A')} vs {config.get('column_B')}" if "column_A" in config else None
    )
    return f"{expectation.expectation_type}({target})" if target else expectation.expectation_type


def _schema(spec: TableSpec) -> list[Rule]:
    rules = [Rule("error", gxe.ExpectTableColumnsToMatchSet(column_set=spec.column_names, exact_match=False),
                  "every column of the table is there")]
    rules += [Rule("error", gxe.ExpectColumnValuesToNotBeNull(column=c.name), f"{c.name} is required")
              for c in spec.columns if not c.nullable]
    unique = (gxe.ExpectCompoundColumnsToBeUnique(column_list=list(spec.key)) if len(spec.key) > 1
              else gxe.ExpectColumnValuesToBeUnique(column=spec.key[0]))
    rules.append(Rule("error", unique, f"one row per {', '.join(spec.key)}"))
    return rules


def _ohlc() -> list[Rule]:
    rules = [Rule("error", gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, strict_min=True),
                  "prices are positive") for c in ("open", "high", "low", "close")]
    for other in ("open", "close"):
        rules.append(Rule("error", gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B=other, or_equal=True),
                          "the high is the highest price of the bar"))
        rules.append(Rule("error", gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A=other, column_B="low", or_equal=True),
                          "the low is the lowest price of the bar"))
    rules.append(Rule("error", gxe.ExpectColumnValuesToBeInSet(column="unit_error", value_set=[False]),
                      "a move beyond the bound that reverses the next day, or a 100x jump, is a unit error, not a market move"))
    return rules


def _coverage(what: str) -> list[Rule]:
    return [
        Rule("error", gxe.ExpectColumnValuesToBeInSet(column="missing_required", value_set=[False]),
             f"every configured {what} of the reference venue (or every traditional series) has its day", "coverage"),
        Rule("warn", gxe.ExpectColumnValuesToBeInSet(column="missing_optional", value_set=[False]),
             f"another venue missing its {what} for a day is worth knowing but other venues still carry the signal",
             "coverage"),
    ]


def raw_crypto_ohlcv(s: Settings) -> list[Rule]:
    return _schema(RAW_CRYPTO_OHLCV) + _ohlc() + [
        Rule("error", gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=["spot", "perp", "future"]), "known kinds"),
        Rule("error", gxe.ExpectColumnValuesToBeInSet(column="price_type", value_set=["last", "mark", "index"]),
             "known price types"),
    ] + _coverage("spot and perpetual candle")


def raw_traditional_ohlcv(s: Settings) -> list[Rule]:
    return _schema(RAW_TRADITIONAL_OHLCV) + _ohlc() + [
        Rule("error", gxe.ExpectColumnValuesToBeInSet(column="is_trading_day", value_set=[True]),
             "traditional rows only on exchange trading days: a weekend or holiday row is a fake (zero) return"),
        Rule("error", gxe.ExpectColumnValuesToBeInSet(column="series", value_set=list(s.traditional_series())),
             "only configured series"),
    ] + _coverage("traditional series")


def raw_funding(s: Settings) -> list[Rule]:
    bound = s.quality.max_abs_funding_rate
    return _schema(RAW_FUNDING) + [
        Rule("error", gxe.ExpectColumnValuesToBeBetween(column="rate", min_value=-bound, max_value=bound),
             f"abs(rate) per settlement at most {bound:g}: beyond it the value is a unit or parsing error"),
        Rule("error", gxe.ExpectColumnValuesToBeBetween(column="interval_hours", min_value=0.5, max_value=24),
             "funding intervals run from 1 to 8 hours in practice"),
    ] + _coverage("funding settlement")


def raw_instruments(s: Settings) -> list[Rule]:
    return _schema(RAW_INSTRUMENTS) + [
        Rule("error", gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=["spot", "perp", "future"]), "known kinds"),
        Rule("error", gxe.ExpectColumnValuesToBeInSet(column="expiry_known", value_set=[True]),
             "every dated future carries its expiry"),
    ] + _coverage("perpetual listing")


def core_basis_daily(s: Settings) -> list[Rule]:
    return _schema(CORE_BASIS_DAILY) + [
        Rule("error", gxe.ExpectColumnValuesToBeBetween(column="dte", min_value=0), "no basis of an expired contract"),
        Rule("error", gxe.ExpectColumnValuesToBeBetween(column="spot", min_value=0, strict_min=True), "spot is positive"),
        Rule("error", gxe.ExpectColumnValuesToBeBetween(column="basis", min_value=-0.5, max_value=0.5),
             "a basis beyond 50% of spot means mismatched prices"),
    ]


def core_funding_daily(s: Settings) -> list[Rule]:
    return _schema(CORE_FUNDING_DAILY) + [
        Rule("error", gxe.ExpectColumnValuesToBeBetween(column="settlements", min_value=1), "a day has settlements"),
        Rule("warn", gxe.ExpectColumnValuesToBeBetween(column="hours_covered", min_value=24, max_value=24),
             "a day's settlements cover 24 hours; fewer means a settlement is missing"),
    ]


def core_perp_quarterly_spread(s: Settings) -> list[Rule]:
    return _schema(CORE_PERP_QUARTERLY_SPREAD) + [
        Rule("error", gxe.ExpectColumnValuesToBeBetween(column="quarterly_dte", min_value=s.anomaly.divergence_min_dte),
             "the gap uses a quarterly with at least 7 days left"),
    ]


def core_returns_daily(s: Settings) -> list[Rule]:
    return _schema(CORE_RETURNS_DAILY) + [
        Rule("error", gxe.ExpectColumnValuesToBeBetween(column="close", min_value=0, strict_min=True), "prices are positive"),
        Rule("error", gxe.ExpectColumnValuesToBeInSet(column="calendar", value_set=["crypto", "traditional"]),
             "two calendars"),
    ]


def core_correlation_daily(s: Settings) -> list[Rule]:
    rules = _schema(CORE_CORRELATION_DAILY)
    for column in ("corr_short", "corr_baseline"):
        rules.append(Rule("error", gxe.ExpectColumnValuesToBeBetween(column=column, min_value=-1, max_value=1),
                          "a correlation lies in [-1, 1]"))
    rules.append(Rule("error", gxe.ExpectColumnValuesToBeBetween(column="n_short", min_value=0,
                                                                 max_value=s.correlation.short_window),
                      "a window holds at most its size"))
    return rules


def marts_anomaly_daily(s: Settings) -> list[Rule]:
    from assets.marts.rules import IMPLICATIONS

    return _schema(MARTS_ANOMALY_DAILY) + [
        Rule("error", gxe.ExpectColumnValuesToBeInSet(column="code", value_set=list(IMPLICATIONS)), "known rule codes"),
        Rule("error", gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=["anomaly", "context"]),
             "context labels are kept apart from anomalies"),
        Rule("error", gxe.ExpectColumnValuesToBeBetween(column="severity", min_value=0), "severity is a size"),
    ]


def marts_anomaly_episodes(s: Settings) -> list[Rule]:
    return _schema(MARTS_ANOMALY_EPISODES) + [
        Rule("error", gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="end", column_B="start", or_equal=True),
             "an episode ends on or after its start"),
    ]


def marts_anomaly_status(s: Settings) -> list[Rule]:
    return _schema(MARTS_ANOMALY_STATUS) + [
        Rule("error", gxe.ExpectTableRowCountToEqual(value=3), "one row per Table 1 pair"),
    ]


def marts_basis_trades(s: Settings) -> list[Rule]:
    return _schema(MARTS_BASIS_TRADES) + [
        Rule("error", gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="exit_date", column_B="entry_date",
                                                                   or_equal=True, ignore_row_if="either_value_is_missing"),
             "a trade exits on or after its entry"),
        Rule("error", gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="entry_date", column_B="signal_date",
                                                                   ignore_row_if="either_value_is_missing"),
             "entry strictly after the signal day: no look-ahead"),
    ]


def marts_basis_trade_summary(s: Settings) -> list[Rule]:
    return _schema(MARTS_BASIS_TRADE_SUMMARY) + [
        Rule("error", gxe.ExpectColumnValuesToBeBetween(column="hit_rate", min_value=0, max_value=1),
             "a hit rate is a share"),
    ]


SUITES: dict[str, Callable[[Settings], list[Rule]]] = {
    RAW_CRYPTO_OHLCV.qualified: raw_crypto_ohlcv,
    RAW_TRADITIONAL_OHLCV.qualified: raw_traditional_ohlcv,
    RAW_FUNDING.qualified: raw_funding,
    RAW_INSTRUMENTS.qualified: raw_instruments,
    CORE_BASIS_DAILY.qualified: core_basis_daily,
    CORE_FUNDING_DAILY.qualified: core_funding_daily,
    CORE_PERP_QUARTERLY_SPREAD.qualified: core_perp_quarterly_spread,
    CORE_RETURNS_DAILY.qualified: core_returns_daily,
    CORE_CORRELATION_DAILY.qualified: core_correlation_daily,
    MARTS_ANOMALY_DAILY.qualified: marts_anomaly_daily,
    MARTS_ANOMALY_EPISODES.qualified: marts_anomaly_episodes,
    MARTS_ANOMALY_STATUS.qualified: marts_anomaly_status,
    MARTS_BASIS_TRADES.qualified: marts_basis_trades,
    MARTS_BASIS_TRADE_SUMMARY.qualified: marts_basis_trade_summary,
}
