"""Core layer: basis, funding, the perp/quarterly spread, aligned returns and rolling correlations.

Thin wrappers: each declares what it reads and how far back (`Reads`), calls the pure functions of this
package, and replaces the run's window in the warehouse.
"""

import datetime as dt

import dagster as dg

from assets import charts
from assets.metadata import chart_metadata, table_asset, window
from assets.reads import Read, Reads, history_days
from assets.resources import AnalyticsResource, WarehouseResource
from assets.store import one_connection, store
from warehouse.schemas import (
    CORE_BASIS_DAILY,
    CORE_CORRELATION_DAILY,
    CORE_FUNDING_DAILY,
    CORE_PERP_QUARTERLY_SPREAD,
    CORE_RETURNS_DAILY,
    RAW_CRYPTO_OHLCV,
    RAW_FUNDING,
    RAW_INSTRUMENTS,
    RAW_TRADITIONAL_OHLCV,
)

from .basis import basis_daily
from .correlation import Pair, pair_correlations
from .funding import funding_daily
from .returns import returns_daily
from .spread import perp_quarterly_spread

# Longest gap between two trading dates (a long weekend next to a holiday) is well inside this.
MAX_CALENDAR_GAP_DAYS = 10


def build_core_assets(settings, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    s = settings

    def core_asset(spec, description, reads):
        asset = dg.asset(**table_asset("core", spec, description, settings, partitions_def, reads=reads))
        return lambda compute: asset(one_connection(compute))

    basis_reads = Reads(Read(RAW_CRYPTO_OHLCV), Read(RAW_INSTRUMENTS))

    @core_asset(CORE_BASIS_DAILY,
                "Basis of every dated future against its venue's spot (F - S, F / S - 1, simple and continuously "
                "compounded annualised, days to expiry, contango/backwardation), the perpetual premium (on the mark "
                "price where the venue has one, and says which), and the constant-maturity "
                f"{s.basis.constant_maturity_days:g}-day annualised basis.", basis_reads)
    def core_basis_daily(context: dg.AssetExecutionContext, analytics: AnalyticsResource,
                         warehouse: WarehouseResource):
        start, end = window(context)
        b = analytics.settings.basis
        inputs = basis_reads.load(warehouse.warehouse, start, end)
        frame = basis_daily(inputs[RAW_CRYPTO_OHLCV], inputs[RAW_INSTRUMENTS],
                            min_dte=b.min_dte_for_annualised, tenor_days=b.constant_maturity_days)
        yield from store(context, warehouse, analytics.settings, CORE_BASIS_DAILY, frame, basis_reads.label,
                         **chart_metadata(context, charts.term_structure, frame, title="basis term structure"))

    f = s.funding
    funding_reads = Reads(Read(RAW_FUNDING, history_days(max(f.zscore_days, f.rolling_long_days), "crypto")))

    @core_asset(CORE_FUNDING_DAILY,
                "Daily funding per venue and perpetual: settlements in the UTC day, their interval, the daily sum, "
                f"the APR, {f.rolling_short_days}- and {f.rolling_long_days}-day rolling means and a z-score against "
                f"the trailing {f.zscore_days} days.", funding_reads)
    def core_funding_daily(context: dg.AssetExecutionContext, analytics: AnalyticsResource,
                           warehouse: WarehouseResource):
        start, end = window(context)
        settings = analytics.settings
        fs = settings.funding
        inputs = funding_reads.load(warehouse.warehouse, start, end)
        frame = funding_daily(inputs[RAW_FUNDING], fs.rolling_short_days, fs.rolling_long_days, fs.zscore_days,
                              settings.correlation.min_fraction)
        yield from store(context, warehouse, settings, CORE_FUNDING_DAILY, frame, funding_reads.label, trim=True,
                         **chart_metadata(context, charts.funding_apr, frame, title="funding APR per venue"))

    gap_days = history_days(s.anomaly.gap_window, "crypto")
    spread_reads = Reads(Read(CORE_BASIS_DAILY, gap_days), Read(CORE_FUNDING_DAILY, gap_days))

    @core_asset(CORE_PERP_QUARTERLY_SPREAD,
                "Perpetual premium minus the basis of the nearest quarterly with at least "
                f"{s.anomaly.divergence_min_dte:g} days to expiry (the gap), the carry spread (quarterly annualised "
                f"basis minus 7-day funding APR), and their z-scores against the trailing {s.anomaly.gap_window} days (the "
                f"gap's std taken as at least {s.anomaly.gap_std_floor:.2%} of spot).",
                spread_reads)
    def core_perp_quarterly_spread(context: dg.AssetExecutionContext, analytics: AnalyticsResource,
                                   warehouse: WarehouseResource):
        start, end = window(context)
        settings = analytics.settings
        inputs = spread_reads.load(warehouse.warehouse, start, end)
        frame = perp_quarterly_spread(
            inputs[CORE_BASIS_DAILY], inputs[CORE_FUNDING_DAILY],
            min_dte=settings.anomaly.divergence_min_dte, window=settings.anomaly.gap_window,
            min_fraction=settings.correlation.min_fraction, gap_std_floor=settings.anomaly.gap_std_floor,
        )
        yield from store(context, warehouse, settings, CORE_PERP_QUARTERLY_SPREAD, frame, spread_reads.label,
                         trim=True, **chart_metadata(context, charts.premium_vs_basis, frame,
                                                     title="perpetual premium vs quarterly basis"))

    returns_reads = Reads(
        Read(RAW_CRYPTO_OHLCV, MAX_CALENDAR_GAP_DAYS),
        Read(RAW_TRADITIONAL_OHLCV, MAX_CALENDAR_GAP_DAYS, required=False),
        Read(CORE_BASIS_DAILY, MAX_CALENDAR_GAP_DAYS),
    )

    @core_asset(CORE_RETURNS_DAILY,
                "Daily log returns on both calendars. Crypto calendar: every UTC day, for BTC and ETH spot on the "
                "reference venue, the BTC perpetual and the nearest BTC quarterly (within one contract). Traditional "
                "calendar: the Nasdaq series' trading dates, for every traditional series and for BTC/ETH summed "
                "across weekends and holidays. Prices are never forward-filled.", returns_reads)
    def core_returns_daily(context: dg.AssetExecutionContext, analytics: AnalyticsResource,
                           warehouse: WarehouseResource):
        start, end = window(context)
        settings = analytics.settings
        inputs = returns_reads.load(warehouse.warehouse, start, end)
        frame = returns_daily(
            inputs[RAW_CRYPTO_OHLCV], inputs[CORE_BASIS_DAILY], inputs[RAW_TRADITIONAL_OHLCV],
            reference_venue=settings.reference_venue, underlyings=settings.universe.underlyings,
            nasdaq_series=settings.nasdaq_series, calendars=settings.traditional_calendars(), min_dte=settings.anomaly.divergence_min_dte,
            first=start - dt.timedelta(days=MAX_CALENDAR_GAP_DAYS), end=end,
        )
        yield from store(context, warehouse, settings, CORE_RETURNS_DAILY, frame, returns_reads.label, trim=True)

    c = s.correlation
    traditional_pairs = any(p.calendar == "traditional" for p in c.pairs)
    correlation_reads = Reads(
        Read(CORE_RETURNS_DAILY, history_days(c.baseline_window, "traditional" if traditional_pairs else "crypto"))
    )

    @core_asset(CORE_CORRELATION_DAILY,
                "Rolling correlations of daily log returns for every pair of the settings (by default BTC perp vs BTC "
                "quarterly, BTC vs gold, Nasdaq, S&P 500, gold vs copper, ETH vs BTC): short window "
                f"({c.short_window} observations) and baseline ({c.baseline_window}), each with its label; null when "
                f"under {c.min_fraction:.0%} of the window is present.", correlation_reads)
    def core_correlation_daily(context: dg.AssetExecutionContext, analytics: AnalyticsResource,
                               warehouse: WarehouseResource):
        start, end = window(context)
        settings = analytics.settings
        cs = settings.correlation
        pairs = [Pair(*p) for p in settings.pairs()]
        returns = correlation_reads.load(warehouse.warehouse, start, end)[CORE_RETURNS_DAILY]
        frame = pair_correlations(returns, pairs, cs.short_window, cs.baseline_window, cs.min_fraction, cs.high,
                                  cs.moderate)
        yield from store(context, warehouse, settings, CORE_CORRELATION_DAILY, frame, correlation_reads.label,
                         trim=True, **chart_metadata(context, charts.correlations, frame,
                                                     title="short vs baseline correlation"))

    return [core_basis_daily, core_funding_daily, core_perp_quarterly_spread, core_returns_daily,
            core_correlation_daily]
