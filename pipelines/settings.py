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
    min_dte_for_annualised: float = Field(3.0, gt=0, description="Annualised basis is null below this dte (days).")
    constant_maturity_days: float = Field(90.0, gt=0, description="Tenor of the constant-maturity basis (days).")


class FundingSettings(_Section):
    rolling_short_days: int = Field(7, ge=1, description="Short rolling mean of daily funding (days).")
    rolling_long_days: int = Field(30, ge=1, description="Long rolling mean of daily funding (days).")
    zscore_days: int = Field(180, ge=2, description="Trailing window of the daily funding z-score (days).")


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
    short_window: int = Field(30, ge=2, description="Short (current) correlation window, in observations.")
    baseline_window: int = Field(180, ge=2, description="Baseline (typical) correlation window, in observations.")
    min_fraction: float = Field(0.8, gt=0, le=1, description="A window needs this share of its observations.")
    high: float = Field(0.6, gt=0, le=1, description="abs(correlation) at or above this is 'high'.")
    moderate: float = Field(0.3, gt=0, le=1, description="abs(correlation) at or above this (below high) is moderate.")

    @model_validator(mode="after")
    def _check_order(self) -> "CorrelationSettings":
        if self.short_window >= self.baseline_window:
            raise ValueError(f"short_window ({self.short_window}) must be below baseline_window ({self.baseline_window})")
        if self.moderate >= self.high:
            raise ValueError(f"moderate ({self.moderate}) must be below high ({self.high})")
        return self


class AnomalySettings(_Section):
    """Thresholds of the anomaly rules. Signs are checked: a crash threshold is a negative z, a rise positive."""

    return_horizon: int = Field(5, ge=1, description="n of z_X(n), in observations of the rule's calendar.")
    sigma_window: int = Field(180, ge=2, description="Trailing observations for sigma_X.")
    sigma_min_obs: int = Field(144, ge=2, description="Fewest observations for sigma_X, else null.")
    crash_z: float = Field(-2.0, lt=0, description="z_BTC at or below this is a BTC crash.")
    nasdaq_fall_z: float = Field(-1.5, lt=0, description="z_Nasdaq at or below this is a Nasdaq fall.")
    gold_up_z: float = Field(1.0, gt=0, description="z_gold at or above this: gold rose (flight to safety).")
    gold_down_z: float = Field(-1.0, lt=0, description="z_gold at or below this: gold fell (broad liquidation).")
    rotation_nasdaq_z: float = Field(-2.0, lt=0, description="z_Nasdaq at or below this for capital rotation.")
    rotation_btc_abs_z: float = Field(0.5, gt=0, description="abs(z_BTC) at or below this: BTC sideways.")
    divergence_gap_z: float = Field(3.0, gt=0, description="abs(z) of the perp/quarterly gap that is a divergence.")
    divergence_min_leg: float = Field(0.005, gt=0, description="Both legs at least this size, opposite signs.")
    divergence_min_dte: float = Field(7.0, ge=0, description="Nearest quarterly used for the gap has dte >= this.")
    gap_window: int = Field(180, ge=2, description="Trailing days of the gap's z-score.")
    liquidation_gap: float = Field(0.01, gt=0, description="Perp premium below quarterly basis by at least this.")
    liquidation_z: float = Field(-2.0, lt=0, description="BTC 1-day z at or below this for a liquidation.")
    correlation_break_diff: float = Field(0.5, gt=0, le=2, description="Short minus baseline correlation that is a break.")
    correlation_flip_abs: float = Field(0.3, gt=0, le=1, description="Both windows at least this size for a sign flip.")
    expiry_window_days: float = Field(7.0, gt=0, description="Days to expiry within which convergence is context.")
    funding_pressure_apr: float = Field(0.5, gt=0, description="abs(funding APR) beyond this is funding pressure.")
    funding_pressure_z: float = Field(3.0, gt=0, description="abs(funding z) beyond this is funding pressure.")
    gap_std_floor: float = Field(0.0025, ge=0, description="Smallest std of the perp/quarterly gap (fraction of spot) "
                                 "its z-score divides by: months of a near-constant gap must not make a small move a "
                                 "z of 100.")

    @model_validator(mode="after")
    def _check_windows(self) -> "AnomalySettings":
        if self.sigma_min_obs > self.sigma_window:
            raise ValueError(f"sigma_min_obs ({self.sigma_min_obs}) cannot exceed sigma_window ({self.sigma_window})")
        if self.gold_down_z >= self.gold_up_z:
            raise ValueError(f"gold_down_z ({self.gold_down_z}) must be below gold_up_z ({self.gold_up_z})")
        return self


class VenueCosts(_Section):
    """Trading costs on one venue, in basis points of the traded value, charged on every leg at entry and
    at exit (a delivery at settlement pays the fee but no slippage: it trades at the settlement price)."""

    fee_bp: float = Field(5.0, ge=0, description="Taker fee on a derivative (perpetual or dated future) leg, "
                          "basis points of the traded value per side.")
    spot_fee_bp: float = Field(10.0, ge=0, description="Taker fee on a spot leg (the carry baseline), basis points "
                               "of the traded value per side.")
    slippage_bp: float = Field(2.0, ge=0, description="Slippage against the daily close on every leg, basis points "
                               "of the traded value per side.")


class BacktestSettings(_Section):
    """The convergence trade (article section 4.1) and its carry baseline, replayed on the stored history.

    Every trade has two legs of `notional_usd` each. Linear (USDT-margined) contracts make P&L in USD;
    inverse (coin-margined) contracts have a contract value in USD and make P&L in the coin."""

    codes: tuple[str, ...] = Field(
        ("PERP_QUARTERLY_DIVERGENCE", "LIQUIDATION_DISLOCATION"),
        description="Anomaly codes whose episodes are traded: one trade per episode, per venue and perpetual.")
    notional_usd: float = Field(10_000.0, gt=0, description="Notional of each leg at entry, USD.")
    exit_gap_z: float = Field(0.5, ge=0, description="Convergence: exit at the first close where abs(gap_z) is at "
                              "or below this.")
    exit_gap_vs_usual: float = Field(0.002, ge=0, description="Convergence: exit at the first close where the gap is "
                                     "within this of its usual level (abs(gap_vs_usual), fraction of spot).")
    stop_loss: float = Field(0.03, gt=0, description="Stop: exit at the first close where the position's loss "
                             "(spread P&L plus funding so far) reaches this fraction of one leg's notional.")
    max_holding_days: int = Field(30, ge=1, description="Exit at the first close at least this many days after entry.")
    exit_days_before_expiry: float = Field(
        2.0, ge=0, description="Exit at the first close where the quarterly has at most this many days to expiry; "
        "0 holds it to delivery and settles it at the settlement price.")
    leverage: float = Field(5.0, gt=0, description="Leverage of each leg: margin used = the legs' notional / leverage.")
    maintenance_margin: float = Field(0.005, ge=0, lt=1, description="Maintenance margin, fraction of the notional, "
                                      "used for the leverage at which a position would have been liquidated.")
    default_costs: VenueCosts = Field(VenueCosts(), description="Costs on a venue not listed in venue_costs.")
    venue_costs: dict[str, VenueCosts] = Field(default_factory=dict, description="Costs per venue id, e.g. "
                                               "{binance: {fee_bp: 5, spot_fee_bp: 10, slippage_bp: 1}}.")
    carry_min_basis_ann: float = Field(0.05, description="Carry baseline: enter when the nearest quarterly's simple "
                                       "annualised basis is at or above this (fraction per year).")
    carry_min_dte: float = Field(7.0, ge=0, description="Carry baseline: only quarterlies with at least this many "
                                 "days to expiry are entered.")

    def costs(self, venue: str) -> VenueCosts:
        return self.venue_costs.get(venue, self.default_costs)


class QualitySettings(_Section):
    max_abs_funding_rate: float = Field(0.03, gt=0, description="abs(rate) per settlement above this fails.")
    unit_error_move: float = Field(
        0.5, gt=0, description="A day-over-day log move beyond this that reverses the next day is a unit error."
    )
    funding_ceiling_8h: float = Field(
        0.008, gt=0, description="abs(funding rate) per 8 hours, scaled to the settlement's interval, above which a "
        "settlement must also be within funding_history_multiple times its venue's recent median abs(rate) to pass.")
    funding_history_multiple: float = Field(
        50.0, gt=1, description="How many times the venue and perpetual's trailing median abs(rate) a settlement above "
        "the ceiling may reach; a rate stored in percent is 100 times.")
    funding_history_days: int = Field(
        14, ge=1, description="Days of the venue's own settlements before each one whose median abs(rate) is the "
        "reference.")
    funding_history_min_settlements: int = Field(
        9, ge=1, description="Fewest settlements in that window for a reference; with fewer, the ceiling alone judges.")
    screen: bool = Field(
        True, description="Prove in polars first that a frame passes each of its expectations (quality/screen.py) and "
        "run great-expectations only on a frame where that fails: the same verdicts, a fraction of the time. false "
        "runs great-expectations on every frame.")


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
    max_retries: int = Field(
        5, ge=0, description="Retries of a request after a transient failure (timeout, 408/418/429, 5xx, the "
        "venue's own busy or internal-error codes, an empty, short or malformed answer).")
    backoff_seconds: float = Field(
        1.0, ge=0, description="First retry delay; doubles at each retry, at most 60 s; a longer Retry-After "
        "from the venue is honoured.")
    timeout_seconds: float = Field(10.0, gt=0, description="HTTP timeout of one request (an endpoint that "
                                   "hangs costs at most this per attempt).")
    venue_budget_seconds: float = Field(
        40.0, gt=0, description="Per venue (and Yahoo) and run: time that failed requests and retry waits may "
        "take before the venue is given up for the run. Successful requests do not count.")


class WebhookChannel(_Section):
    """An HTTP endpoint that receives one POST per alert. A Slack incoming-webhook address is itself a
    secret, so it can be read from an environment variable instead of being written here."""

    name: str = Field(description="Channel name recorded in marts.alert_log, e.g. 'desk-slack'.")
    url: str | None = Field(default=None, description="Receiver address, for an endpoint without a secret in it.")
    url_env: str | None = Field(default=None, description="Environment variable holding the address.")
    style: Literal["json", "slack"] = Field(
        default="json", description="json: the alert and its evidence as one object; slack: {\"text\": ...}."
    )
    timeout_seconds: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _one_address(self) -> "WebhookChannel":
        if (self.url is None) == (self.url_env is None):
            raise ValueError(f"webhook '{self.name}': give exactly one of url and url_env")
        return self


class EmailChannel(_Section):
    """SMTP delivery. The login comes from the environment variables named here, never from this file."""

    name: str = Field(description="Channel name recorded in marts.alert_log, e.g. 'desk-mail'.")
    host: str
    port: int = Field(587, gt=0, lt=65536)
    sender: str = Field(description="From address.")
    to: tuple[str, ...] = Field(min_length=1, description="Recipient addresses.")
    starttls: bool = Field(True, description="Upgrade the connection with STARTTLS before logging in.")
    ca_file: str | None = Field(
        default=None, description="CA bundle that signs the server's certificate, for a private relay; "
        "default: the system's trusted CAs."
    )
    user_env: str | None = Field(default=None, description="Environment variable holding the SMTP user.")
    password_env: str | None = Field(default=None, description="Environment variable holding the SMTP password.")
    timeout_seconds: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _login_pair(self) -> "EmailChannel":
        if (self.user_env is None) != (self.password_env is None):
            raise ValueError(f"email '{self.name}': give both user_env and password_env, or neither")
        return self


class AlertSettings(_Section):
    """Who is told when an anomaly episode opens or a Table 1 row turns active or quiet."""

    webhooks: tuple[WebhookChannel, ...] = ()
    emails: tuple[EmailChannel, ...] = ()
    recent_days: int = Field(
        3, ge=0, description="Episodes that ended, and Table 1 changes dated, more than this many days before the "
        "run day are recorded as suppressed (historical) instead of sent: a backfill announces nothing. 3 keeps "
        "a Friday trading date recent on Monday."
    )
    max_attempts: int = Field(3, ge=1, description="Sends of one alert to one channel before it is given up.")

    @model_validator(mode="after")
    def _unique_names(self) -> "AlertSettings":
        names = [c.name for c in (*self.webhooks, *self.emails)]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"alert channel name(s) {repeated} used more than once")
        return self

    @property
    def channels(self) -> tuple["WebhookChannel | EmailChannel", ...]:
        return (*self.webhooks, *self.emails)


class HistoryRoute(_Section):
    """The sources that serve the UTC days [start, end) (each source its own venues)."""

    sources: tuple[Literal["binance_archive", "binance_rest", "deribit_rest", "live", "sample"], ...] = Field(
        description="binance_archive (Binance's public data archive), binance_rest (Binance continuous and delivery "
        "klines), deribit_rest (Deribit chart data of expired futures), live (the ccxt venues), sample.",
        min_length=1,
    )
    start: dt.date | None = Field(None, description="First day served; empty: from the beginning.")
    end: dt.date | None = Field(None, description="Day after the last day served; empty: open-ended.")


class HistorySettings(_Section):
    """Where the history of past days comes from (expired quarterlies are not in the venues' market lists).

    Example: the archive up to the last complete month, the live venues after it::

        history:
          binance_archive: /data/binance-archive      # or https://data.binance.vision
          routes:
            - {sources: [binance_archive, deribit_rest], end: 2025-11-01}
            - {sources: [live], start: 2025-11-01}
    """

    routes: tuple[HistoryRoute, ...] = Field(
        default=(), description="Which sources serve which days; empty: the `source` setting serves every day."
    )
    binance_archive: str | None = Field(
        None, description="A folder holding Binance's archive tree (data/futures/..., data/spot/...) or a base URL "
        "of the archive or a mirror (https://data.binance.vision).",
    )
    archive_cache_dir: str = Field(
        "data/archive-cache", description="Where downloaded archive files are kept, so a rerun downloads nothing."
    )
    verify_checksums: bool = Field(True, description="Refuse archive files whose sha256 differs from their CHECKSUM.")
    archive_spot: Literal["spot", "index"] = Field(
        "spot", description="Spot price from the spot archive (BTC/USDT last, as the live source stores) or from "
        "the USD-M index price klines (price_type index).",
    )
    binance_margins: tuple[Literal["um", "cm"], ...] = Field(
        ("um", "cm"), description="Binance families to read: um (USD-M, linear), cm (COIN-M, inverse)."
    )
    binance_delivery_margins: tuple[Literal["um", "cm"], ...] = Field(
        ("um",), description="Families whose quarterlies binance_rest reads as delivery klines (one request per "
        "contract; Binance still serves expired USD-M contracts); the others come from continuous klines.",
    )

    @model_validator(mode="after")
    def _check_routes(self) -> "HistorySettings":
        for route in self.routes:
            if route.start and route.end and route.start >= route.end:
                raise ValueError(f"history.routes: start {route.start} is not before end {route.end}")
        ordered = sorted(self.routes, key=lambda r: r.start or dt.date.min)
        for before, after in zip(ordered, ordered[1:]):
            if before.end is None or after.start is None or before.end > after.start:
                raise ValueError(f"history.routes: {list(before.sources)} (to {before.end or 'open end'}) and "
                                 f"{list(after.sources)} (from {after.start or 'the beginning'}) overlap")
        if any("binance_archive" in r.sources for r in self.routes) and not self.binance_archive:
            raise ValueError("history.routes use binance_archive but history.binance_archive (folder or URL) is not set")
        return self


class IntegritySettings(_Section):
    """What protects the stored data: shrinking on purpose only, and one writer at a time."""

    allow_shrink: bool = Field(
        False, description="Let a source's answer that lacks stored raw rows (days, instruments, settlements) replace "
        "them. Off: such a run fails naming the table, subjects and days, and nothing is written. For one run, "
        "`--allow-shrink` on the CLI or the run tag market/allow_shrink=true.")
    lock_wait_seconds: float = Field(
        0.0, ge=0, description="How long a CLI run waits for another run holding the warehouse's writer lock; 0 stops "
        "at once, naming the holder.")


class CoverageSettings(_Section):
    """Holes in the raw data (raw.coverage_ledger) and how the retry sensor asks for them again."""

    max_attempts: int = Field(5, ge=1, description="Runs that may ask for a hole's day before the sensor stops "
                              "asking (the ledger's attempts column counts them).")
    retry_after_minutes: float = Field(60.0, ge=0, description="Minutes since a hole's last attempt before the "
                                       "sensor asks for its day again.")
    lookback_days: int = Field(60, ge=1, description="Only holes this many days back or newer are retried.")


class RunHistorySettings(_Section):
    """How much of Dagster's own run history is kept (`.dagster/`): results for ever, step-by-step logs a while."""

    keep_step_events_days: int = Field(
        14, ge=0, description="Days a finished run keeps its complete log (step events, info lines, previews and "
        "charts of its materialisations); older runs keep their materialisations (rows and day per partition), check "
        "results, warnings and errors. Each asset's latest materialisation keeps its preview and chart.")


class RunSettings(_Section):
    """How a range of days is run (`materialize`, `replay`, a backfill from the CLI)."""

    max_days_per_run: int = Field(
        366, ge=1, description="A longer range runs as consecutive runs of at most this many days, oldest first, with "
        "the same tables as one run. A run holds its days' frames in memory: about a year per run keeps a build of "
        "any length within 1 GiB; fewer days per run use less memory and take longer.")


class Settings(_Section):
    source: Literal["sample", "live"] = "sample"
    warehouse_path: str = DEFAULT_WAREHOUSE
    history_start: dt.date | None = Field(
        None, description="First daily partition (UTC day). By default where the stored data starts (the first day of "
        "the published warehouse), or 2019-01-01 before anything is stored; set it to backfill earlier days."
    )
    universe: UniverseSettings = UniverseSettings()
    basis: BasisSettings = BasisSettings()
    funding: FundingSettings = FundingSettings()
    correlation: CorrelationSettings = CorrelationSettings()
    anomaly: AnomalySettings = AnomalySettings()
    backtest: BacktestSettings = BacktestSettings()
    quality: QualitySettings = QualitySettings()
    sample: SampleSettings = SampleSettings()
    live: LiveSettings = LiveSettings()
    alerts: AlertSettings = AlertSettings()
    history: HistorySettings = HistorySettings()
    integrity: IntegritySettings = IntegritySettings()
    coverage: CoverageSettings = CoverageSettings()
    run_history: RunHistorySettings = RunHistorySettings()
    runs: RunSettings = RunSettings()

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

    def traditional_calendars(self) -> dict[str, str]:
        """series name -> its trading calendar."""
        return {t.series: t.calendar for t in self.universe.traditional}


def load_settings(path: str | os.PathLike | None = None, **overrides) -> Settings:
    """Defaults, then the YAML file (`path` or $MARKET_SETTINGS), then environment, then overrides."""
    data: dict = {}
    path = path or os.environ.get("MARKET_SETTINGS")
    if path:
        file = Path(path)
        if not file.is_file():
            raise SettingsError(f"settings file {file} does not exist (set by MARKET_SETTINGS or argument)")
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise SettingsError(f"settings file {file} is not valid YAML{where}: {problem}") from None
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


def check_date_range(start: dt.date, end: dt.date, history_start: dt.date | None) -> None:
    """A range is [start, end] inclusive in UTC days."""
    if start > end:
        raise SettingsError(f"start {start} is after end {end}; swap them")
    if history_start is not None and start < history_start:
        raise SettingsError(
            f"start {start} is before the first partition {history_start}; raise start or lower history_start"
        )
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    if end > yesterday:
        raise SettingsError(f"end {end} is not a complete UTC day yet; the latest complete day is {yesterday}")
