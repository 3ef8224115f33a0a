"""Raw layer: what the sources deliver, stored unchanged per UTC day (one partition per day)."""


import dagster as dg

from assets.metadata import table_definition_metadata, window
from assets.store import store, stored_before
from pipelines.partitions import DAILY
from pipelines.resources import MarketDataResource, WarehouseResource
from quality.checks import quality_check_specs
from warehouse.schemas import RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_INSTRUMENTS, RAW_TRADITIONAL_OHLCV

RAW = dict(
    key_prefix=["raw"],
    group_name="raw",
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
)


@dg.asset(
    name="instruments",
    description=RAW_INSTRUMENTS.description
    + " One row per venue, symbol and UTC day: spot, perpetuals and every dated future with its expiry.",
    metadata=table_definition_metadata(RAW_INSTRUMENTS),
    check_specs=quality_check_specs(RAW_INSTRUMENTS),
    kinds={"duckdb", "python"},
    **RAW,
)
def raw_instruments(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    source = market.crypto()
    start, end = window(context)
    yield from store(context, warehouse, market.settings, RAW_INSTRUMENTS, source.instruments(start, end), source.name)


@dg.asset(
    name="crypto_ohlcv",
    description=RAW_CRYPTO_OHLCV.description
    + " Prices in quote currency per coin (USD per coin for inverse contracts); mark and index where the venue has them.",
    metadata=table_definition_metadata(RAW_CRYPTO_OHLCV),
    check_specs=quality_check_specs(RAW_CRYPTO_OHLCV),
    kinds={"duckdb", "python"},
    **RAW,
)
def raw_crypto_ohlcv(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    source = market.crypto()
    start, end = window(context)
    history = stored_before(warehouse, RAW_CRYPTO_OHLCV, start)
    yield from store(context, warehouse, market.settings, RAW_CRYPTO_OHLCV, source.crypto_bars(start, end), source.name,
                     history=history)


@dg.asset(
    name="funding",
    description=RAW_FUNDING.description
    + " Rates are fractions per settlement interval; the interval comes from the venue's own data.",
    metadata=table_definition_metadata(RAW_FUNDING),
    check_specs=quality_check_specs(RAW_FUNDING),
    kinds={"duckdb", "python"},
    **RAW,
)
def raw_funding(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    source = market.crypto()
    start, end = window(context)
    yield from store(context, warehouse, market.settings, RAW_FUNDING, source.funding(start, end), source.name)


@dg.asset(
    name="traditional_ohlcv",
    description=RAW_TRADITIONAL_OHLCV.description
    + " Gold, silver, copper, Nasdaq Composite, Nasdaq-100 future, S&P 500 and the dollar index by default.",
    metadata=table_definition_metadata(RAW_TRADITIONAL_OHLCV),
    check_specs=quality_check_specs(RAW_TRADITIONAL_OHLCV),
    kinds={"duckdb", "python"},
    **RAW,
)
def raw_traditional_ohlcv(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    source = market.traditional()
    start, end = window(context)
    history = stored_before(warehouse, RAW_TRADITIONAL_OHLCV, start)
    yield from store(context, warehouse, market.settings, RAW_TRADITIONAL_OHLCV, source.traditional_bars(start, end),
                     source.name, history=history)


RAW_ASSETS = [raw_instruments, raw_crypto_ohlcv, raw_funding, raw_traditional_ohlcv]
