"""The Dagster resources the assets take: the warehouse file, the settings in force, and the market-data source.

The source is one interface (`MarketSourceResource`: `crypto()` and `traditional()`) with one implementation
per kind of deployment, picked by `pipelines/resources.py` from the settings: the built-in sample market, or
the live venues and Yahoo. Each source is built once per run (one exchange instance per venue, markets loaded
once).

History: when the settings name `history.routes`, the live deployment's crypto source is a
`RoutedCryptoSource`: each route's days come from the sources it names (the Binance archive, Binance and
Deribit history over REST, the live venues, the sample market), so expired quarterlies are stored as
reconstructed instrument snapshots and the core layer treats past days like live ones.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from assets.raw.sources.base import CryptoSource, TraditionalSource
from assets.raw.sources.binance_archive import BinanceArchiveSource
from assets.raw.sources.binance_history import BinanceRestHistorySource
from assets.raw.sources.deribit_history import DeribitHistorySource
from assets.raw.sources.exchanges import ExchangeSource
from assets.raw.sources.routed import CombinedCryptoSource, Route, RoutedCryptoSource
from assets.raw.sources.sample import SampleMarket
from assets.raw.sources.yahoo import YahooSource
from warehouse.db import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file the pipeline writes (settings `warehouse_path`, or $WAREHOUSE_DB)."""

    path: str
    _warehouse: Warehouse | None = PrivateAttr(default=None)

    @property
    def warehouse(self) -> Warehouse:
        """One Warehouse per resource, so that a step's session (assets.store.one_connection) serves every read and
        write of the step."""
        if self._warehouse is None or str(self._warehouse.path) != self.path:
            self._warehouse = Warehouse(self.path)
        return self._warehouse


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


class HistoryRouteConfig(dg.Config):
    """The sources that serve the UTC days [start, end) (ISO dates; empty: open end)."""

    sources: list[str]
    start: str | None = None
    end: str | None = None

    @classmethod
    def from_settings(cls, route) -> "HistoryRouteConfig":
        return cls(sources=list(route.sources), start=route.start.isoformat() if route.start else None,
                   end=route.end.isoformat() if route.end else None)


class LiveMarketResource(MarketSourceResource):
    """The live venues through ccxt and Yahoo through yfinance, and for past days the history sources the
    routes name (settings `history`). API keys come from the environment only."""

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
    history_routes: list[HistoryRouteConfig] = []
    binance_archive: str | None = None
    archive_cache_dir: str = "data/archive-cache"
    verify_checksums: bool = True
    archive_spot: str = "spot"
    binance_margins: list[str] = ["um", "cm"]
    binance_delivery_margins: list[str] = ["um"]
    sample_seed: int = 7
    _crypto: CryptoSource | None = PrivateAttr(default=None)
    _traditional: TraditionalSource | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings) -> "LiveMarketResource":
        live, history = settings.live, settings.history
        return cls(
            venues=list(settings.venues), underlyings=list(settings.universe.underlyings),
            traditional_tickers=settings.traditional_series(), traditional_calendars=settings.traditional_calendars(),
            endpoints=dict(live.endpoints), max_retries=live.max_retries, backoff_seconds=live.backoff_seconds,
            timeout_seconds=live.timeout_seconds, venue_budget_seconds=live.venue_budget_seconds,
            yahoo_cache_dir=str(Path(settings.warehouse_path).parent / ".yfinance"),
            history_routes=[HistoryRouteConfig.from_settings(r) for r in history.routes],
            binance_archive=history.binance_archive, archive_cache_dir=history.archive_cache_dir,
            verify_checksums=history.verify_checksums, archive_spot=history.archive_spot,
            binance_margins=list(history.binance_margins),
            binance_delivery_margins=list(history.binance_delivery_margins), sample_seed=settings.sample.seed,
        )

    def crypto(self) -> CryptoSource:
        if self._crypto is None:
            self._crypto = self._routed() if self.history_routes else self._named_source("live")
        return self._crypto

    def _routed(self) -> RoutedCryptoSource:
        """One source per route; a source named in several routes is built once (one budget, one cache)."""
        built: dict[str, CryptoSource] = {}
        routes = []
        for route in self.history_routes:
            for name in route.sources:
                if name not in built:
                    built[name] = self._named_source(name)
            sources = [built[name] for name in route.sources]
            routes.append(Route(sources[0] if len(sources) == 1 else CombinedCryptoSource(sources),
                                start=dt.date.fromisoformat(route.start) if route.start else None,
                                end=dt.date.fromisoformat(route.end) if route.end else None))
        return RoutedCryptoSource(routes)

    def _named_source(self, name: str) -> CryptoSource:
        retries = dict(max_retries=self.max_retries, backoff_seconds=self.backoff_seconds,
                       timeout_seconds=self.timeout_seconds, venue_budget_seconds=self.venue_budget_seconds)
        underlyings = tuple(self.underlyings)
        if name == "live":
            return ExchangeSource(venues=tuple(self.venues), underlyings=underlyings, endpoints=self.endpoints,
                                  **retries)
        if name == "binance_archive":
            return BinanceArchiveSource(self.binance_archive, underlyings=underlyings, margins=self.binance_margins,
                                        cache_dir=self.archive_cache_dir, spot=self.archive_spot,
                                        verify_checksums=self.verify_checksums, **retries)
        if name == "binance_rest":
            return BinanceRestHistorySource(underlyings=underlyings, margins=self.binance_margins,
                                            delivery_margins=self.binance_delivery_margins,
                                            endpoint=self.endpoints.get("binance"), **retries)
        if name == "deribit_rest":
            return DeribitHistorySource(underlyings=underlyings, endpoint=self.endpoints.get("deribit"), **retries)
        if name == "sample":
            return SampleMarket(seed=self.sample_seed, underlyings=underlyings)
        raise ValueError(f"history route: unknown source '{name}'; choose from binance_archive, binance_rest, "
                         "deribit_rest, live, sample")

    def traditional(self) -> TraditionalSource:
        if self._traditional is None:
            self._traditional = YahooSource(
                tickers=dict(self.traditional_tickers), calendars=dict(self.traditional_calendars),
                endpoint=self.endpoints.get("yahoo"), max_retries=self.max_retries,
                backoff_seconds=self.backoff_seconds, timeout_seconds=self.timeout_seconds,
                venue_budget_seconds=self.venue_budget_seconds, cache_dir=Path(self.yahoo_cache_dir),
            )
        return self._traditional
