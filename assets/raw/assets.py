"""Raw layer: what the sources deliver, stored unchanged per UTC day (one partition per day)."""

import dagster as dg

from assets.metadata import table_asset, window
from assets.resources import AnalyticsResource, MarketSourceResource, WarehouseResource
from assets.store import store, stored_before
from warehouse.schemas import RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_INSTRUMENTS, RAW_TRADITIONAL_OHLCV


def build_raw_assets(settings, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    def raw_asset(spec, description):
        return dg.asset(**table_asset("raw", spec, spec.description + " " + description, settings, partitions_def,
                                      kinds={"duckdb", "python"}))

    @raw_asset(RAW_INSTRUMENTS, "One row per venue, symbol and UTC day: spot, perpetuals and every dated future "
               "with its expiry.")
    def raw_instruments(context: dg.AssetExecutionContext, market: MarketSourceResource,
                        warehouse: WarehouseResource, analytics: AnalyticsResource):
        source = market.crypto()
        start, end = window(context)
        yield from store(context, warehouse, analytics.settings, RAW_INSTRUMENTS, source.instruments(start, end),
                         source.name)

    @raw_asset(RAW_CRYPTO_OHLCV, "Prices in quote currency per coin (USD per coin for inverse contracts); mark and "
               "index where the venue has them.")
    def raw_crypto_ohlcv(context: dg.AssetExecutionContext, market: MarketSourceResource,
                         warehouse: WarehouseResource, analytics: AnalyticsResource):
        source = market.crypto()
        start, end = window(context)
        yield from store(context, warehouse, analytics.settings, RAW_CRYPTO_OHLCV, source.crypto_bars(start, end),
                         source.name, history=stored_before(warehouse, RAW_CRYPTO_OHLCV, start))

    @raw_asset(RAW_FUNDING, "Rates are fractions per settlement interval; the interval comes from the venue's own data.")
    def raw_funding(context: dg.AssetExecutionContext, market: MarketSourceResource,
                    warehouse: WarehouseResource, analytics: AnalyticsResource):
        source = market.crypto()
        start, end = window(context)
        yield from store(context, warehouse, analytics.settings, RAW_FUNDING, source.funding(start, end), source.name,
                         history=stored_before(warehouse, RAW_FUNDING, start, days=30))

    @raw_asset(RAW_TRADITIONAL_OHLCV, "Gold, silver, copper, Nasdaq Composite, Nasdaq-100 future, S&P 500 and the "
               "dollar index by default.")
    def raw_traditional_ohlcv(context: dg.AssetExecutionContext, market: MarketSourceResource,
                              warehouse: WarehouseResource, analytics: AnalyticsResource):
        source = market.traditional()
        start, end = window(context)
        yield from store(context, warehouse, analytics.settings, RAW_TRADITIONAL_OHLCV,
                         source.traditional_bars(start, end), source.name,
                         history=stored_before(warehouse, RAW_TRADITIONAL_OHLCV, start))

    return [raw_instruments, raw_crypto_ohlcv, raw_funding, raw_traditional_ohlcv]
