"""Raw layer: what the sources deliver, stored unchanged per UTC day (one partition per day).

Each source is asked venue by venue (ticker by ticker for Yahoo): one that gives up after its retries is an
outage hole of that venue or series and the others land. Rows of a series or instrument that fail an
expectation are kept out for that day (quarantined). Every hole is recorded in raw.coverage_ledger
(assets/raw/coverage.py).
"""

import dagster as dg
import polars as pl

from assets.metadata import table_asset, table_definition_metadata, window
from assets.raw.coverage import raw_check_specs, store_raw
from assets.raw.sources.partial import fetch_by_unit
from assets.resources import AnalyticsResource, MarketSourceResource, WarehouseResource
from warehouse.formatting import markdown_table
from warehouse.ledger import read_ledger
from warehouse.schemas import (
    LEDGER_OPEN_STATUSES,
    RAW_COVERAGE_LEDGER,
    RAW_CRYPTO_OHLCV,
    RAW_FUNDING,
    RAW_INSTRUMENTS,
    RAW_TRADITIONAL_OHLCV,
)

RAW_SPECS = (RAW_INSTRUMENTS, RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_TRADITIONAL_OHLCV)


def build_raw_assets(settings, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    def raw_asset(spec, description):
        arguments = table_asset("raw", spec, spec.description + " " + description, settings, partitions_def,
                                kinds={"duckdb", "python"})
        return dg.asset(**{**arguments, "check_specs": raw_check_specs(spec, settings)})

    @raw_asset(RAW_INSTRUMENTS, "One row per venue, symbol and UTC day: spot, perpetuals and every dated future "
               "with its expiry.")
    def raw_instruments(context: dg.AssetExecutionContext, market: MarketSourceResource,
                        warehouse: WarehouseResource, analytics: AnalyticsResource):
        source = market.crypto()
        start, end = window(context)
        fetched = fetch_by_unit(source, "instruments", start, end, RAW_INSTRUMENTS.polars_schema)
        yield from store_raw(context, warehouse, analytics.settings, RAW_INSTRUMENTS, fetched, source.name)

    @raw_asset(RAW_CRYPTO_OHLCV, "Prices in quote currency per coin (USD per coin for inverse contracts); mark and "
               "index where the venue has them.")
    def raw_crypto_ohlcv(context: dg.AssetExecutionContext, market: MarketSourceResource,
                         warehouse: WarehouseResource, analytics: AnalyticsResource):
        source = market.crypto()
        start, end = window(context)
        fetched = fetch_by_unit(source, "crypto_bars", start, end, RAW_CRYPTO_OHLCV.polars_schema)
        yield from store_raw(context, warehouse, analytics.settings, RAW_CRYPTO_OHLCV, fetched, source.name,
                             unit_error_by=["venue", "symbol", "price_type"])

    @raw_asset(RAW_FUNDING, "Rates are fractions per settlement interval; the interval comes from the venue's own data.")
    def raw_funding(context: dg.AssetExecutionContext, market: MarketSourceResource,
                    warehouse: WarehouseResource, analytics: AnalyticsResource):
        source = market.crypto()
        start, end = window(context)
        fetched = fetch_by_unit(source, "funding", start, end, RAW_FUNDING.polars_schema)
        yield from store_raw(context, warehouse, analytics.settings, RAW_FUNDING, fetched, source.name,
                             history_days=30)

    @raw_asset(RAW_TRADITIONAL_OHLCV, "Gold, silver, copper, Nasdaq Composite, Nasdaq-100 future, S&P 500 and the "
               "dollar index by default.")
    def raw_traditional_ohlcv(context: dg.AssetExecutionContext, market: MarketSourceResource,
                              warehouse: WarehouseResource, analytics: AnalyticsResource):
        source = market.traditional()
        start, end = window(context)
        fetched = fetch_by_unit(source, "traditional_bars", start, end, RAW_TRADITIONAL_OHLCV.polars_schema,
                                attribute="tickers")
        yield from store_raw(context, warehouse, analytics.settings, RAW_TRADITIONAL_OHLCV, fetched, source.name,
                             unit_error_by=["ticker"])

    @dg.asset(
        name=RAW_COVERAGE_LEDGER.name, key_prefix=["raw"], group_name="raw", kinds={"duckdb"},
        deps=[dg.AssetKey(["raw", spec.name]) for spec in RAW_SPECS],
        metadata=table_definition_metadata(RAW_COVERAGE_LEDGER),
        description=RAW_COVERAGE_LEDGER.description + " Each raw asset writes its window's entries with the window; "
        "this asset shows the ledger after every run (the holes still open, by status) and is what the anomaly "
        "tables read to name missing inputs. See them with: make sql Q=\"SELECT * FROM bi.coverage_ledger WHERE "
        "status IN ('missing', 'quarantined', 'outage', 'failed') ORDER BY date DESC\"",
    )
    def raw_coverage_ledger(warehouse: WarehouseResource) -> dg.MaterializeResult:
        ledger = read_ledger(warehouse.warehouse)
        open_holes = ledger.filter(pl.col("status").is_in(list(LEDGER_OPEN_STATUSES)))
        counts = ledger.group_by("status").len().sort("status")
        return dg.MaterializeResult(metadata={
            "dagster/row_count": ledger.height,
            "open_holes": open_holes.height,
            "by_status": dg.MetadataValue.md("\n".join(f"- {s}: {n}" for s, n in counts.iter_rows()) or "no holes"),
            "open": dg.MetadataValue.md(markdown_table(open_holes.sort("date", descending=True), 30)
                                        if open_holes.height else "none"),
        })

    return [raw_instruments, raw_crypto_ohlcv, raw_funding, raw_traditional_ohlcv, raw_coverage_ledger]
