"""The Dagster resources the assets take: the warehouse file, the settings in force, and the market-data source.

The source is one interface (`MarketSourceResource`: `crypto()` and `traditional()`) with one implementation
per kind of deployment, picked by `pipelines/resources.py` from the settings: the built-in sample market, or
the live venues and Yahoo. Each source is built once per run (one exchange instance per venue, markets loaded
once).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from assets.raw.sources.base import CryptoSource, TraditionalSource
from assets.raw.sources.exchanges import ExchangeSource
from assets.raw.sources.sample import SampleMarket
from assets.raw.sources.yahoo import YahooSource
from warehouse.db import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file the pipeline writes (settings `warehouse_path`, or $WAREHOUSE_DB)."""

    path: str

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.path)


class AnalyticsResource(dg.ConfigurableResource):
    """Every default of the domain reference in force (windows, thresholds, pairs, venues), as loaded once
    where the definitions are built; shown in the UI as JSON. The deployment's implementation
    (`pipelines/resources.py`) turns it into the typed settings object, `settings`."""

    settings_json: str

    @property
    def settings(self):
        raise NotImplementedError(f"{type(self).__name__} does not parse settings; use the deployment's resource")


class MarketSourceResource(dg.ConfigurableResource):
    """Where market data comes from. Implementations: `SampleMarketResource`, `LiveMarketResource`."""

    def crypto(self) -> CryptoSource:
        raise NotImplementedError(f"{type(self).__name__} has no crypto source")

    def traditional(self) -> TraditionalSource:
        raise NotImplementedError(f"{type(self).__name__} has no traditional source")


class SampleMarketResource(MarketSourceResource):
    """The built-in deterministic sample market: the same seed and days always give the same rows."""

    seed: int
    venues: list[str]
    underlyings: list[str]
    traditional_tickers: dict[str, str]
    traditional_calendars: dict[str, str]
    _market: SampleMarket | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings) -> "SampleMarketResource":
        return cls(seed=settings.sample.seed, venues=list(settings.venues),
                   underlyings=list(settings.universe.underlyings), traditional_tickers=settings.traditional_series(),
                   traditional_calendars=settings.traditional_calendars())

    def _build(self) -> SampleMarket:
        if self._market is None:
            self._market = SampleMarket(seed=self.seed, venues=tuple(self.venues), underlyings=tuple(self.underlyings),
                                        traditional=dict(self.traditional_tickers),
                                        calendars=dict(self.traditional_calendars))
        return self._market

    def crypto(self) -> CryptoSource:
        return self._build()

    def traditional(self) -> TraditionalSource:
        return self._build()


class LiveMarketResource(MarketSourceResource):
    """The live venues through ccxt and Yahoo through yfinance. API keys come from the environment only."""

    venues: list[str]
    underlyings: list[str]
    traditional_tickers: dict[str, str]
    traditional_calendars: dict[str, str]
    endpoints: dict[str, str]
    max_retries: int
    backoff_seconds: float
    timeout_seconds: float
    venue_budget_seconds: float
    yahoo_cache_dir: str
    _crypto: CryptoSource | None = PrivateAttr(default=None)
    _traditional: TraditionalSource | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings) -> "LiveMarketResource":
        live = settings.live
        return cls(
            venues=list(settings.venues), underlyings=list(settings.universe.underlyings),
            traditional_tickers=settings.traditional_series(), traditional_calendars=settings.traditional_calendars(),
            endpoints=dict(live.endpoints), max_retries=live.max_retries, backoff_seconds=live.backoff_seconds,
            timeout_seconds=live.timeout_seconds, venue_budget_seconds=live.venue_budget_seconds,
            yahoo_cache_dir=str(Path(settings.warehouse_path).parent / ".yfinance"),
        )

    def crypto(self) -> CryptoSource:
        if self._crypto is None:
            self._crypto = ExchangeSource(
                venues=tuple(self.venues), underlyings=tuple(self.underlyings), endpoints=self.endpoints,
                max_retries=self.max_retries, backoff_seconds=self.backoff_seconds,
                timeout_seconds=self.timeout_seconds, venue_budget_seconds=self.venue_budget_seconds,
            )
        return self._crypto

    def traditional(self) -> TraditionalSource:
        if self._traditional is None:
            self._traditional = YahooSource(
                tickers=dict(self.traditional_tickers), calendars=dict(self.traditional_calendars),
                endpoint=self.endpoints.get("yahoo"), max_retries=self.max_retries,
                backoff_seconds=self.backoff_seconds, timeout_seconds=self.timeout_seconds,
                venue_budget_seconds=self.venue_budget_seconds, cache_dir=Path(self.yahoo_cache_dir),
            )
        return self._traditional
