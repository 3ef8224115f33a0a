"""Every default of the domain reference in one settings object.

`Settings()` gives the documented defaults. A YAML file named by `MARKET_SETTINGS` (or passed to
`load_settings`) overrides any of them without touching code, e.g.::

    source: live
    anomaly:
      crash_z: -2.5
    correlation:
      short_window: 20

`WAREHOUSE_DB` overrides the warehouse path and `MARKET_SOURCE` the source.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assets.raw.sources.calendars import CalendarError, check_calendar

SAMPLE_VENUES = ("sample_a", "sample_b")
LIVE_VENUES = ("binance", "bybit", "okx", "deribit")
DEFAULT_WAREHOUSE = "data/warehouse.duckdb"


class SettingsError(ValueError):
    """A setting is wrong; the message says which one and how to fix it."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TraditionalInstrument(_Section):
    series: str = Field(description="Name used in tables and pairs, e.g. 'gold'.")
    ticker: str = Field(description="Yahoo ticker, e.g. 'GC=F'.")
    calendar: str = Field(
        description="Trading calendar of the series, a canonical exchange_calendars name: XNYS for indices and "
        "ETFs, us_futures for CME Globex futures, IEPA for ICE Futures US, 24/5 for currencies."
    )
    description: str = ""

    @model_validator(mode="after")
    def _check_calendar(self) -> "TraditionalInstrument":
        try:
            check_calendar(self.calendar)
        except CalendarError as exc:
            raise ValueError(f"{self.series} ({self.ticker}): {exc}") from None
        return self


DEFAULT_TRADITIONAL = (
    TraditionalInstrument(series="gold", ticker="GC=F", calendar="us_futures", description="COMEX gold future, USD/oz"),
    TraditionalInstrument(series="silver", ticker="SI=F", calendar="us_futures",
                          description="COMEX silver future, USD/oz"),
    TraditionalInstrument(series="copper", ticker="HG=F", calendar="us_futures",
                          description="COMEX copper future, USD/lb"),
    TraditionalInstrument(series="nasdaq", ticker="^IXIC", calendar="XNYS", description="Nasdaq Composite index, points"),
    TraditionalInstrument(series="nasdaq100", ticker="NQ=F", calendar="us_futures",
                          description="E-mini Nasdaq-100 future, points"),
    TraditionalInstrument(series="sp500", ticker="^GSPC", calendar="XNYS", description="S&P 500 index, points"),
    # The dollar index is computed from ICE Futures US quotes: its calendar is the nearest the library has.
    TraditionalInstrument(series="dollar", ticker="DX-Y.NYB", calendar="IEPA", description="US dollar index, points"),
)


class UniverseSettings(_Section):
    underlyings: tuple[str, ...] = ("BTC", "ETH")
    venues: tuple[str, ...] | None = Field(
        default=None, description="Crypto venues; default: every venue of the chosen source."
    )
    reference_venue: str | None = Field(
        default=None,
        description="Venue whose spot close is 'BTC' in cross-asset pairs; default: the first venue.",
    )
    traditional: tuple[TraditionalInstrument, ...] = DEFAULT_TRADITIONAL
    nasdaq_series: Literal["nasdaq", "nasdaq100"] = Field(
        default="nasdaq", description="Which Nasdaq series the rules call 'Nasdaq'."
    )


class BasisSettings(_Section):
    min_dte_for_annualised: float = Field(3.0, description="Annualised basis is null below this dte (days).")
    constant_maturity_days: float = Field(90.0, description="Tenor of the constant-maturity basis (days).")


class FundingSettings(_Section):
    rolling_short_days: int = 7
    rolling_long_days: int = 30
    zscore_days: int = Field(180, description="Trailing window of the daily funding z-score (days).")
    max_abs_rate: float = Field(0.03, description="Quality bound on abs(rate) per settlement.")


class PairSetting(_Section):
    name: str
    series_a: str
    series_b: str = Field(description="A traditional series name, BTC/ETH, BTC_PERP/BTC_QUARTERLY, or NASDAQ "
                          "(the Nasdaq series chosen in universe.nasdaq_series)")
    calendar: Literal["crypto", "traditional"]


DEFAULT_PAIRS = (
    PairSetting(name="btc_perp~btc_quarterly", series_a="BTC_PERP", series_b="BTC_QUARTERLY", calendar="crypto"),
    PairSetting(name="btc~gold", series_a="BTC", series_b="gold", calendar="traditional"),
    PairSetting(name="btc~nasdaq", series_a="BTC", series_b="NASDAQ", calendar="traditional"),
    PairSetting(name="btc~sp500", series_a="BTC", series_b="sp500", calendar="traditional"),
    PairSetting(name="gold~copper", series_a="gold", series_b="copper", calendar="traditional"),
    PairSetting(name="eth~btc", series_a="ETH", series_b="BTC", calendar="crypto"),
)


class CorrelationSettings(_Section):
    pairs: tuple[PairSetting, ...] = DEFAULT_PAIRS
    short_window: int = 30
    baseline_window: int = 180
    min_fraction: float = Field(0.8, description="A window needs this share of its observations.")
    high: float = 0.6
    moderate: float = 0.3


class AnomalySettings(_Section):
    return_horizon: int = Field(5, description="n of z_X(n), in observations of the rule's calendar.")
    sigma_window: int = Field(180, description="Trailing observations for sigma_X.")
    sigma_min_obs: int = Field(144, description="Fewest observations for sigma_X, else null.")
    crash_z: float = Field(-2.0, description="z_BTC at or below this is a BTC crash.")
    nasdaq_fall_z: float = Field(-1.5, description="z_Nasdaq at or below this is a Nasdaq fall.")
    gold_up_z: float = 1.0
    gold_down_z: float = -1.0
    rotation_nasdaq_z: float = -2.0
    rotation_btc_abs_z: float = 0.5
    divergence_gap_z: float = 3.0
    divergence_min_leg: float = Field(0.005, description="Both legs at least this size, opposite signs.")
    divergence_min_dte: float = Field(7.0, description="Nearest quarterly used for the gap has dte >= this.")
    gap_window: int = 180
    liquidation_gap: float = Field(0.01, description="Perp premium below quarterly basis by at least this.")
    liquidation_z: float = -2.0
    correlation_break_diff: float = 0.5
    correlation_flip_abs: float = 0.3
    expiry_window_days: float = 7.0
    funding_pressure_apr: float = 0.5
    funding_pressure_z: float = 3.0


class TradeSettings(_Section):
    fee_bp_per_leg_side: float = 5.0
    exit_gap_z: float = 0.5
    exit_days_before_expiry: float = 2.0


class QualitySettings(_Section):
    max_abs_funding_rate: float = Field(0.03, description="abs(rate) per settlement above this fails.")
    unit_error_move: float = Field(
        0.5, description="A day-over-day log move beyond this that reverses the next day is a unit error."
    )


class SampleSettings(_Section):
    seed: int = Field(7, description="Same seed and dates give the same rows.")


class LiveSettings(_Section):
    """How the live sources (ccxt venues, Yahoo) are reached. API keys are never settings: they come from
    the environment (BINANCE_API_KEY, BINANCE_API_SECRET, ..., OKX_API_PASSWORD) and are optional."""

    endpoints: dict[str, str] = Field(
        default_factory=dict,
        description="Per venue (binance, bybit, okx, deribit) a base URL that replaces the scheme and host of "
        "every API address of that venue, keeping each path: a mirror, a proxy or a local recording server.",
    )
    max_retries: int = Field(5, ge=0, description="Retries of a request after a network error, 429 or 5xx.")
    backoff_seconds: float = Field(1.0, ge=0, description="First retry delay; doubles at each retry, at most 60 s.")
    timeout_seconds: float = Field(30.0, gt=0, description="HTTP timeout of one request.")


class Settings(_Section):
    source: Literal["sample", "live"] = "sample"
    warehouse_path: str = DEFAULT_WAREHOUSE
    history_start: dt.date = Field(
        dt.date(2019, 1, 1), description="First daily partition (UTC day)."
    )
    universe: UniverseSettings = UniverseSettings()
    basis: BasisSettings = BasisSettings()
    funding: FundingSettings = FundingSettings()
    correlation: CorrelationSettings = CorrelationSettings()
    anomaly: AnomalySettings = AnomalySettings()
    trade: TradeSettings = TradeSettings()
    quality: QualitySettings = QualitySettings()
    sample: SampleSettings = SampleSettings()
    live: LiveSettings = LiveSettings()

    @model_validator(mode="after")
    def _check_venues(self) -> "Settings":
        known = SAMPLE_VENUES if self.source == "sample" else LIVE_VENUES
        unknown = [v for v in self.venues if v not in known]
        if unknown:
            raise ValueError(
                f"unknown venue(s) {unknown} for source '{self.source}'; choose from {list(known)}"
            )
        unknown_endpoints = [v for v in self.live.endpoints if v not in (*LIVE_VENUES, "yahoo")]
        if unknown_endpoints:
            raise ValueError(f"live.endpoints: unknown venue(s) {unknown_endpoints}; choose from {[*LIVE_VENUES, 'yahoo']}")
        if self.universe.reference_venue and self.universe.reference_venue not in self.venues:
            raise ValueError(
                f"reference_venue '{self.universe.reference_venue}' is not one of the venues {list(self.venues)}"
            )
        return self

    @property
    def venues(self) -> tuple[str, ...]:
        if self.universe.venues:
            return self.universe.venues
        return SAMPLE_VENUES if self.source == "sample" else LIVE_VENUES

    @property
    def reference_venue(self) -> str:
        return self.universe.reference_venue or self.venues[0]

    @property
    def nasdaq_series(self) -> str:
        return self.universe.nasdaq_series

    def pairs(self) -> list[tuple[str, str, str, str]]:
        """(name, series_a, series_b, calendar) with NASDAQ resolved to the chosen Nasdaq series."""
        resolve = lambda s: self.nasdaq_series if s == "NASDAQ" else s  # noqa: E731
        return [(p.name, resolve(p.series_a), resolve(p.series_b), p.calendar) for p in self.correlation.pairs]

    def traditional_series(self) -> dict[str, str]:
        """series name -> ticker."""
        return {t.series: t.ticker for t in self.universe.traditional}


def load_settings(path: str | os.PathLike | None = None, **overrides) -> Settings:
    """Defaults, then the YAML file (`path` or $MARKET_SETTINGS), then environment, then overrides."""
    data: dict = {}
    path = path or os.environ.get("MARKET_SETTINGS")
    if path:
        file = Path(path)
        if not file.is_file():
            raise SettingsError(f"settings file {file} does not exist (set by MARKET_SETTINGS or argument)")
        data = yaml.safe_load(file.read_text()) or {}
        if not isinstance(data, dict):
            raise SettingsError(f"settings file {file} must hold a mapping of setting names to values")
    if os.environ.get("MARKET_SOURCE"):
        data["source"] = os.environ["MARKET_SOURCE"]
    if os.environ.get("WAREHOUSE_DB"):
        data["warehouse_path"] = os.environ["WAREHOUSE_DB"]
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None


def check_writable(db_path: str) -> Path:
    """Fail early, before anything is written, when the warehouse file cannot be created or written."""
    path = Path(db_path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            f"warehouse path {path}: cannot create folder {parent} ({exc.strerror}); "
            "set WAREHOUSE_DB to a writable file path"
        ) from None
    if path.is_dir():
        raise SettingsError(f"warehouse path {path} is a folder; set WAREHOUSE_DB to a file path")
    target = path if path.exists() else parent
    if not os.access(target, os.W_OK):
        raise SettingsError(f"warehouse path {path} is not writable; set WAREHOUSE_DB to a writable file path")
    return path


def check_date_range(start: dt.date, end: dt.date, history_start: dt.date) -> None:
    """A range is [start, end] inclusive in UTC days."""
    if start > end:
        raise SettingsError(f"start {start} is after end {end}; swap them")
    if start < history_start:
        raise SettingsError(
            f"start {start} is before the first partition {history_start}; raise start or lower history_start"
        )
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    if end > yesterday:
        raise SettingsError(f"end {end} is not a complete UTC day yet; the latest complete day is {yesterday}")
