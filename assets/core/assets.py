"""Core layer: basis, funding, the perp/quarterly spread, aligned returns and rolling correlations.

Thin wrappers: each reads its inputs for the run's window plus the history its longest rolling window
needs, calls the pure functions of this package, and replaces the window in the warehouse.
"""

import datetime as dt

import dagster as dg
import polars as pl

from assets import charts
from assets.metadata import chart_metadata, table_asset, window
from assets.store import history_start, store
from pipelines.resources import MarketDataResource, WarehouseResource
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
from .returns import RETURN_COLUMNS, continuous_quarterly, crypto_closes, reference_perp, returns_on_calendar, utc_days
from .spread import perp_quarterly_spread, settle_of

# Longest gap between two trading dates (a long weekend next to a holiday) is well inside this.
MAX_CALENDAR_GAP_DAYS = 10


@dg.asset(
    **table_asset(
        "core",
        CORE_BASIS_DAILY,
        "Basis of every dated future against its venue's spot (F - S, F / S - 1, simple and continuously "
        "compounded annualised, days to expiry, contango/backwardation), the perpetual premium (on the mark "
        "price where the venue has one, and says which), and the constant-maturity 90-day annualised basis.",
        ["raw/crypto_ohlcv", "raw/instruments"],
    )
)
def core_basis_daily(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    start, end = window(context)
    wh = warehouse.warehouse
    settings = market.settings
    frame = basis_daily(
        wh.read_window(RAW_CRYPTO_OHLCV, start, end),
        wh.read_window(RAW_INSTRUMENTS, start, end),
        min_dte=settings.basis.min_dte_for_annualised,
        tenor_days=settings.basis.constant_maturity_days,
    )
    yield from store(context, warehouse, market.settings, CORE_BASIS_DAILY, frame, "raw.crypto_ohlcv, raw.instruments",
                     **chart_metadata(context, charts.term_structure, frame, title="basis term structure"))


@dg.asset(
    **table_asset(
        "core",
        CORE_FUNDING_DAILY,
        "Daily funding per venue and perpetual: settlements in the UTC day, their interval, the daily sum, the "
        "APR, 7- and 30-day rolling means and a z-score against the trailing 180 days.",
        ["raw/funding"],
    )
)
def core_funding_daily(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    start, end = window(context)
    f = market.settings.funding
    first = history_start(start, max(f.zscore_days, f.rolling_long_days), "crypto")
    settlements = warehouse.warehouse.read_window(RAW_FUNDING, first, end)
    frame = funding_daily(settlements, f.rolling_short_days, f.rolling_long_days, f.zscore_days,
                          market.settings.correlation.min_fraction)
    yield from store(context, warehouse, market.settings, CORE_FUNDING_DAILY, frame, "raw.funding", trim=True,
                     **chart_metadata(context, charts.funding_apr, frame, title="funding APR per venue"))


@dg.asset(
    **table_asset(
        "core",
        CORE_PERP_QUARTERLY_SPREAD,
        "Perpetual premium minus the basis of the nearest quarterly with at least 7 days to expiry (the gap), "
        "the carry spread (quarterly annualised basis minus 7-day funding APR), and their z-scores against "
        "the trailing 180 days.",
        ["core/basis_daily", "core/funding_daily"],
    )
)
def core_perp_quarterly_spread(context: dg.AssetExecutionContext, market: MarketDataResource,
                               warehouse: WarehouseResource):
    start, end = window(context)
    s = market.settings
    first = history_start(start, s.anomaly.gap_window, "crypto")
    wh = warehouse.warehouse
    frame = perp_quarterly_spread(
        wh.read_window(CORE_BASIS_DAILY, first, end),
        wh.read_window(CORE_FUNDING_DAILY, first, end),
        min_dte=s.anomaly.divergence_min_dte,
        window=s.anomaly.gap_window,
        min_fraction=s.correlation.min_fraction,
    )
    yield from store(context, warehouse, market.settings, CORE_PERP_QUARTERLY_SPREAD, frame,
                     "core.basis_daily, core.funding_daily", trim=True,
                     **chart_metadata(context, charts.premium_vs_basis, frame, title="perpetual premium vs quarterly basis"))


@dg.asset(
    **table_asset(
        "core",
        CORE_RETURNS_DAILY,
        "Daily log returns on both calendars. Crypto calendar: every UTC day, for BTC and ETH spot on the "
        "reference venue, the BTC perpetual and the nearest BTC quarterly (within one contract). Traditional "
        "calendar: the Nasdaq series' trading dates, for every traditional series and for BTC/ETH summed "
        "across weekends and holidays. Prices are never forward-filled.",
        ["raw/crypto_ohlcv", "raw/traditional_ohlcv", "core/basis_daily"],
    )
)
def core_returns_daily(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    start, end = window(context)
    s = market.settings
    wh = warehouse.warehouse
    first = start - dt.timedelta(days=MAX_CALENDAR_GAP_DAYS)
    bars = wh.read_window(RAW_CRYPTO_OHLCV, first, end)
    perp = reference_perp(bars, s.reference_venue)
    crypto = crypto_closes(bars, s.reference_venue, s.universe.underlyings, perp)
    crypto_returns = returns_on_calendar(crypto, utc_days(first, end - dt.timedelta(days=1)), "crypto")
    # The quarterly of the perpetual's own margin family (a venue may list USDT- and coin-margined ones).
    basis = wh.read_window(CORE_BASIS_DAILY, first, end).filter(
        (pl.col("venue") == s.reference_venue) & (pl.col("underlying") == "BTC") & (pl.col("kind") == "future")
        & (settle_of(pl.col("symbol")) == settle_of(pl.lit(perp, dtype=pl.Utf8)))
    )
    quarterly = continuous_quarterly(basis, s.anomaly.divergence_min_dte, "BTC_QUARTERLY")
    traditional = wh.read_window(RAW_TRADITIONAL_OHLCV, first, end).select("date", "series", symbol="ticker", close="close")
    trading_dates = traditional.filter(pl.col("series") == s.nasdaq_series)["date"]
    on_trading = returns_on_calendar(
        pl.concat([traditional, crypto.filter(pl.col("series").is_in(list(s.universe.underlyings)))]),
        trading_dates,
        "traditional",
    )
    frame = pl.concat([crypto_returns, quarterly, on_trading], how="vertical_relaxed").select(RETURN_COLUMNS)
    yield from store(context, warehouse, market.settings, CORE_RETURNS_DAILY, frame, "raw.crypto_ohlcv, raw.traditional_ohlcv", trim=True)


@dg.asset(
    **table_asset(
        "core",
        CORE_CORRELATION_DAILY,
        "Rolling correlations of daily log returns for every pair of the domain reference (BTC perp vs BTC "
        "quarterly, BTC vs gold, Nasdaq, S&P 500, gold vs copper, ETH vs BTC): short window (30 observations) "
        "and baseline (180), each with its label; null when under 80% of the window is present.",
        ["core/returns_daily"],
    )
)
def core_correlation_daily(context: dg.AssetExecutionContext, market: MarketDataResource,
                           warehouse: WarehouseResource):
    start, end = window(context)
    c = market.settings.correlation
    pairs = [Pair(*p) for p in market.settings.pairs()]
    calendar = "traditional" if any(p.calendar == "traditional" for p in pairs) else "crypto"
    first = history_start(start, c.baseline_window, calendar)
    returns = warehouse.warehouse.read_window(CORE_RETURNS_DAILY, first, end)
    frame = pair_correlations(returns, pairs, c.short_window, c.baseline_window, c.min_fraction, c.high, c.moderate)
    yield from store(context, warehouse, market.settings, CORE_CORRELATION_DAILY, frame, "core.returns_daily", trim=True,
                     **chart_metadata(context, charts.correlations, frame, title="short vs baseline correlation"))


CORE_ASSETS = [core_basis_daily, core_funding_daily, core_perp_quarterly_spread, core_returns_daily, core_correlation_daily]
