"""Table specifications: the single description of every warehouse table.

Each spec gives the DuckDB DDL (with column comments), the polars schema used to validate what is
written, and the column docs shown in the Dagster UI and the data dictionary.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

_SQL_TYPES = {
    pl.Date: "DATE",
    pl.Datetime: "TIMESTAMP",
    pl.Utf8: "VARCHAR",
    pl.Float64: "DOUBLE",
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Boolean: "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: type[pl.DataType] | pl.DataType
    description: str
    nullable: bool = True

    @property
    def sql_type(self) -> str:
        base = self.dtype if isinstance(self.dtype, type) else type(self.dtype)
        return _SQL_TYPES[base]

    @property
    def polars_dtype(self) -> pl.DataType:
        if self.dtype is pl.Datetime:
            return pl.Datetime("us")
        return self.dtype() if isinstance(self.dtype, type) else self.dtype


@dataclass(frozen=True)
class TableSpec:
    schema: str
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # The column a daily partition is defined on: a run for [start, end) replaces exactly these rows.
    partition_column: str = "date"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.polars_dtype for c in self.columns}

    def create_sql(self) -> list[str]:
        cols = ",\n  ".join(
            f"{c.name} {c.sql_type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns
        )
        statements = [
            f"CREATE SCHEMA IF NOT EXISTS {self.schema}",
            f"CREATE TABLE IF NOT EXISTS {self.qualified} (\n  {cols}\n)",
            f"COMMENT ON TABLE {self.qualified} IS {_quote(self.description)}",
        ]
        statements += [
            f"COMMENT ON COLUMN {self.qualified}.{c.name} IS {_quote(c.description)}" for c in self.columns
        ]
        return statements


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def C(name, dtype, description, nullable=True) -> Column:  # noqa: N802 - short constructor for the tables below
    return Column(name, dtype, description, nullable)


# ---------------------------------------------------------------------------------------------- raw
RAW_INSTRUMENTS = TableSpec(
    "raw",
    "instruments",
    "Daily snapshot of every listed instrument per venue. Kept every day because expired contracts "
    "vanish from the venues' lists, and with them their expiry.",
    (
        C("snapshot_date", pl.Date, "UTC day of the snapshot", False),
        C("venue", pl.Utf8, "Exchange id (ccxt id, or sample_a/sample_b offline)", False),
        C("symbol", pl.Utf8, "ccxt unified symbol, e.g. BTC/USDT:USDT-260327", False),
        C("underlying", pl.Utf8, "Base coin, e.g. BTC", False),
        C("kind", pl.Utf8, "spot | perp | future", False),
        C("quote", pl.Utf8, "Quote currency of the price", False),
        C("settle", pl.Utf8, "Settlement currency (USDT for linear, the coin for inverse); null for spot"),
        C("linear", pl.Boolean, "True when margined and settled in the quote currency"),
        C("inverse", pl.Boolean, "True when coin-margined (settled in the base coin)"),
        C("contract_size", pl.Float64, "Coins per contract (linear) or USD per contract (inverse)"),
        C("expiry_ts", pl.Datetime, "Expiry/delivery time, UTC; null for spot and perpetuals"),
    ),
    key=("snapshot_date", "venue", "symbol"),
    partition_column="snapshot_date",
)

RAW_CRYPTO_OHLCV = TableSpec(
    "raw",
    "crypto_ohlcv",
    "Daily candles (00:00-24:00 UTC) of spot, perpetual (last and mark) and every dated future.",
    (
        C("date", pl.Date, "UTC day of the candle", False),
        C("venue", pl.Utf8, "Exchange id", False),
        C("symbol", pl.Utf8, "ccxt unified symbol", False),
        C("kind", pl.Utf8, "spot | perp | future", False),
        C("price_type", pl.Utf8, "last (traded), mark (venue mark price) or index (venue index)", False),
        C("open", pl.Float64, "Open, quote currency per coin (USD per coin for inverse contracts)", False),
        C("high", pl.Float64, "High, quote currency per coin", False),
        C("low", pl.Float64, "Low, quote currency per coin", False),
        C("close", pl.Float64, "Close (for an expiring future: settlement price), quote currency per coin", False),
        C("volume", pl.Float64, "Traded volume in base-asset units (coins); null for mark and index"),
    ),
    key=("date", "venue", "symbol", "price_type"),
)

RAW_FUNDING = TableSpec(
    "raw",
    "funding",
    "One row per perpetual funding settlement, with the interval it covered.",
    (
        C("date", pl.Date, "UTC day of funding_ts", False),
        C("venue", pl.Utf8, "Exchange id", False),
        C("symbol", pl.Utf8, "Perpetual's ccxt unified symbol", False),
        C("funding_ts", pl.Datetime, "Settlement time, UTC", False),
        C("rate", pl.Float64, "Funding rate paid by longs to shorts for the interval, fraction (0.0001 = 1 bp)", False),
        C("interval_hours", pl.Float64, "Hours covered by this settlement (8, 4, 1...)", False),
    ),
    key=("venue", "symbol", "funding_ts"),
)

RAW_TRADITIONAL_OHLCV = TableSpec(
    "raw",
    "traditional_ohlcv",
    "Daily bars of traditional markets, one row per exchange trading session, under its trading date. "
    "Weekends and holidays have no row; prices are never forward-filled.",
    (
        C("date", pl.Date, "Exchange trading date", False),
        C("series", pl.Utf8, "Series name used by pairs and rules, e.g. gold, nasdaq", False),
        C("ticker", pl.Utf8, "Yahoo ticker, e.g. GC=F", False),
        C("open", pl.Float64, "Open, instrument units (USD/oz, index points...)", False),
        C("high", pl.Float64, "High, instrument units", False),
        C("low", pl.Float64, "Low, instrument units", False),
        C("close", pl.Float64, "Close, instrument units", False),
        C("volume", pl.Float64, "Volume, contracts or shares; null for indices without volume"),
    ),
    key=("date", "ticker"),
)

RAW_TABLES = (RAW_INSTRUMENTS, RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_TRADITIONAL_OHLCV)
