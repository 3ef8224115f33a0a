"""Raw layer: what the sources deliver, stored unchanged per UTC day (one partition per day)."""


import dagster as dg

from assets.metadata import table_asset, window
from assets.store import store, stored_before
from pipelines.resources import MarketDataResource, WarehouseResource
from warehouse.schemas import RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_INSTRUMENTS, RAW_TRADITIONAL_OHLCV

@dg.asset(
    **table_asset(
        "raw",
        RAW_INSTRUMENTS,
        RAW_INSTRUMENTS.description
    + " One row per venue, symbol and UTC day: spot, perpetuals and every dated future with its expiry.",
        kinds={"duckdb", "python"},
    )
)
def raw_instruments(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    source = market.crypto()
    start, end = window(context)
    yield from store(context, warehouse, market.settings, RAW_INSTRUMENTS, source.instruments(start, end), source.name)


@dg.asset(
    **table_asset(
        "raw",
        RAW_CRYPTO_OHLCV,
        RAW_CRYPTO_OHLCV.description
    + " Prices in quote currency per coin (USD per coin for inverse contracts); mark and index where the venue has them.",
        kinds={"duckdb", "python"},
    )
)
def raw_crypto_ohlcv(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    source = market.crypto()
    start, end = window(context)
    history = stored_before(warehouse, RAW_CRYPTO_OHLCV, start)
    yield from store(context, warehouse, market.settings, RAW_CRYPTO_OHLCV, source.crypto_bars(start, end), source.name,
                     history=history)


@dg.asset(
    **table_asset(
        "raw",
        RAW_FUNDING,
        RAW_FUNDING.description
    + " Rates are fractions per settlement interval; the interval comes from the venue's own data.",
        kinds={"duckdb", "python"},
    )
)
def raw_funding(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    source = market.crypto()
    start, end = window(context)
    yield from store(context, warehouse, market.settings, RAW_FUNDING, source.funding(start, end), source.name)


@dg.asset(
    **table_asset(
        "raw",
        RAW_TRADITIONAL_OHLCV,
        RAW_TRADITIONAL_OHLCV.description
    + " Gold, silver, copper, Nasdaq Composite, Nasdaq-100 future, S&P 500 and the dollar index by default.",
        kinds={"duckdb", "python"},
    )
)
def raw_traditional_ohlcv(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    source = market.traditional()
    start, end = window(context)
    history = stored_before(warehouse, RAW_TRADITIONAL_OHLCV, start)
    yield from store(context, warehouse, market.settings, RAW_TRADITIONAL_OHLCV, source.traditional_bars(start, end),
                     source.name, history=history)


RAW_ASSETS = [raw_instruments, raw_crypto_ohlcv, raw_funding, raw_traditional_ohlcv]
