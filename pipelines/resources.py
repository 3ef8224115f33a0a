"""Dagster resources: the warehouse file and the market-data sources, both built from Settings."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from assets.raw.sources.base import CryptoSource, TraditionalSource
from assets.raw.sources.exchanges import ExchangeSource
from assets.raw.sources.sample import SampleMarket
from assets.raw.sources.yahoo import YahooSource
from warehouse.db import Warehouse

from .settings import Settings, check_writable, load_settings


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file (default data/warehouse.duckdb, or $WAREHOUSE_DB)."""

    path: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Fail before any asset runs when the file cannot be written.
        check_writable(self.path)

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.path)


class MarketDataResource(dg.ConfigurableResource):
    """Where market data comes from and every analytics default (see pipelines/settings.py).

    `source` is `sample` (the built-in deterministic market) or `live` (ccxt venues and Yahoo).
    `settings_file` names a YAML file overriding any default of the domain reference.
    """

    source: str = "sample"
    settings_file: str | None = None
    _settings: Settings | None = PrivateAttr(default=None)
    # Built once per run: one exchange instance per venue, markets loaded once.
    _crypto: CryptoSource | None = PrivateAttr(default=None)
    _traditional: TraditionalSource | None = PrivateAttr(default=None)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.settings_file, source=self.source)
        return self._settings

    def crypto(self) -> CryptoSource:
        if self.settings.source == "sample":
            return self._build_source()
        if self._crypto is None:
            s = self.settings
            self._crypto = ExchangeSource(
                venues=s.venues, underlyings=s.universe.underlyings, endpoints=s.live.endpoints,
                max_retries=s.live.max_retries, backoff_seconds=s.live.backoff_seconds,
                timeout_seconds=s.live.timeout_seconds,
            )
        return self._crypto

    def traditional(self) -> TraditionalSource:
        if self.settings.source == "sample":
            return self._build_source()
        if self._traditional is None:
            s = self.settings
            self._traditional = YahooSource(
                tickers=s.traditional_series(), endpoint=s.live.endpoints.get("yahoo"),
                max_retries=s.live.max_retries, backoff_seconds=s.live.backoff_seconds,
                timeout_seconds=s.live.timeout_seconds, cache_dir=Path(s.warehouse_path).parent / ".yfinance",
            )
        return self._traditional

    def _build_source(self):
        s = self.settings
        return SampleMarket(
            seed=s.sample.seed,
            venues=s.venues,
            underlyings=s.universe.underlyings,
            traditional=s.traditional_series(),
        )


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(path=settings.warehouse_path),
        "market": MarketDataResource(source=settings.source, settings_file=None),
    }
