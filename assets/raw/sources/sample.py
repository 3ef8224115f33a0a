"""The sample market: a deterministic simulator standing in for the live venues and Yahoo.

The whole history from EPOCH to HORIZON is simulated once per seed from fixed random draws, so the
same seed and dates always give the same rows, and any single day can be produced on its own.

What it simulates:
- BTC and ETH with fat-tailed (Student-t), volatility-clustered (GARCH) daily returns, correlated with
  equities (BTC~Nasdaq positive) and weakly with gold.
- Two venues. `sample_a`: USDT-margined linear perpetual and quarterlies, 8h funding, spot traded.
  `sample_b`: coin-margined inverse perpetual and quarterlies, its index as spot, funding every 8h
  until 2022-06-30 and every 4h after (venues do change their interval).
- A mean-reverting perpetual premium per venue; funding settles from it. Quarterlies list and expire
  on the real schedule (last Friday of Mar/Jun/Sep/Dec, 08:00 UTC), two live at once, their basis
  converging to zero at expiry.
- Gold, silver, copper, Nasdaq Composite, Nasdaq-100 future, S&P 500 and the dollar index, each on the
  sessions of its own trading calendar (futures on CME Globex, indices on the NYSE, the dollar index on
  ICE Futures US, as in the settings' defaults; a caller may pass others). Volatility clusters and
  scripted crashes follow NYSE sessions, which every one of those calendars trades.
- Scripted episodes, one of every anomaly code and context label, at dates drawn from the seed. They are
  returned by `ground_truth()` and never written to the market tables.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from warehouse.schemas import RAW_TABLES

from .base import SourceError
from .calendars import NYSE, CalendarError, check_calendar, quarterly_expiries_from, trading_days

EPOCH = dt.date(2018, 1, 1)
HORIZON = dt.date(2032, 1, 1)
FIRST_EPISODE = EPOCH + dt.timedelta(days=300)  # baselines need ~180 trading days of history
EPISODE_SPACING_DAYS = 36
CALM_SESSIONS = 5  # sessions on each side of a scripted crash whose moves are calmed
CRASH_SESSIONS = 3
QUIET_FACTOR = 0.3
# Scripted cross-asset crashes: each leg's total move over the crash sessions, in units of its daily vol.
CROSS_ASSET_MOVES = {
    "CRYPTO_SPECIFIC_SHOCK": dict(crypto=-14.0, nasdaq=1.0, gold=2.0),
    "FLIGHT_TO_SAFETY": dict(crypto=-14.0, nasdaq=-10.0, gold=6.0),
    "RISK_ASSET_CO_CRASH": dict(crypto=-14.0, nasdaq=-10.0, gold=0.0),
    "BROAD_LIQUIDATION": dict(crypto=-14.0, nasdaq=-10.0, gold=-6.0),
    "CAPITAL_ROTATION": dict(crypto=0.0, nasdaq=-10.0, gold=0.0),
}
# Short-window correlations a scripted crash can break, by moving a leg or calming it for a third of the
# window: listed as explained consequences.
CONSEQUENCE_PAIRS = ("btc~gold", "btc~nasdaq", "btc~sp500", "gold~copper", "eth~btc")

CRYPTO = ("BTC", "ETH")
# Standardised innovations share this correlation matrix (order of LATENT).
LATENT = ("BTC", "ETH", "nasdaq", "sp500", "gold", "silver", "copper", "dollar")
CORRELATION = np.array(
    [
        [1.00, 0.85, 0.68, 0.64, 0.10, 0.12, 0.22, -0.10],
        [0.85, 1.00, 0.62, 0.58, 0.08, 0.10, 0.20, -0.08],
        [0.68, 0.62, 1.00, 0.93, 0.02, 0.10, 0.30, -0.15],
        [0.64, 0.58, 0.93, 1.00, 0.03, 0.12, 0.33, -0.15],
        [0.10, 0.08, 0.02, 0.03, 1.00, 0.80, 0.35, -0.40],
        [0.12, 0.10, 0.10, 0.12, 0.80, 1.00, 0.45, -0.35],
        [0.22, 0.20, 0.30, 0.33, 0.35, 0.45, 1.00, -0.25],
        [-0.10, -0.08, -0.15, -0.15, -0.40, -0.35, -0.25, 1.00],
    ]
)
# Daily volatility (crypto per UTC day, traditional per session), drift per day, price at EPOCH.
VOL = dict(BTC=0.032, ETH=0.042, nasdaq=0.014, sp500=0.011, gold=0.009, silver=0.018, copper=0.014, dollar=0.0045)
DRIFT = dict(BTC=0.0006, ETH=0.0005, nasdaq=0.0004, sp500=0.0003, gold=0.0002, silver=0.0001, copper=0.0001, dollar=0.0)
START_PRICE = dict(BTC=13500.0, ETH=750.0, nasdaq=6900.0, sp500=2670.0, gold=1300.0, silver=17.0, copper=3.25, dollar=92.0)
TAIL_DOF = 10
GARCH_ALPHA, GARCH_BETA = 0.04, 0.90
# Daily returns partly reverse the next day (MA(1) coefficient), as crypto and index returns do.
REVERSAL = 0.12
# Premium and basis innovations are bounded (truncated Gaussian): the background stays calm so that
# scripted divergences stand out and false alarms come only from the rules' own tails.
NOISE_BOUND = 2.0
MEAN_REVERSION = dict(crypto=0.002, traditional=0.001)  # pull of log price toward its trend, per day

TRADITIONAL_TICKERS = {
    "gold": "GC=F",
    "silver": "SI=F",
    "copper": "HG=F",
    "nasdaq": "^IXIC",
    "nasdaq100": "NQ=F",
    "sp500": "^GSPC",
    "dollar": "DX-Y.NYB",
}
# The trading calendar each simulated series follows by default (the settings' defaults).
TRADITIONAL_CALENDARS = {
    "gold": "us_futures",
    "silver": "us_futures",
    "copper": "us_futures",
    "nasdaq": "XNYS",
    "nasdaq100": "us_futures",
    "sp500": "XNYS",
    "dollar": "IEPA",
}

# Perpetual premium (fraction of spot): mean, AR(1) coefficient, innovation std; funding from premium.
PREMIUM_MEAN, PREMIUM_PHI, PREMIUM_VOL = 0.0002, 0.3, 0.0003
PREMIUM_RETURN_BETA = 0.001  # premium dips when the coin falls
FUNDING_PREMIUM_SHARE, FUNDING_INTEREST_8H, FUNDING_CAP_8H = 0.5, 0.00005, 0.0075
# Annualised basis of the quarterlies: mean, AR(1), innovation std; the far contract carries a bit more.
BASIS_MEAN, BASIS_PHI, BASIS_VOL = 0.07, 0.9, 0.0005


@dataclass(frozen=True)
class VenueSpec:
    name: str
    linear: bool
    quote: str
    spot_price_type: str
    basis_offset: float
    funding_switch: dt.date | None = None  # interval becomes `funding_hours_after` from this day
    funding_hours: int = 8
    funding_hours_after: int = 8

    def settle(self, coin: str) -> str:
        return self.quote if self.linear else coin

    def spot_symbol(self, coin: str) -> str:
        return f"{coin}/{self.quote}"

    def perp_symbol(self, coin: str) -> str:
        return f"{coin}/{self.quote}:{self.settle(coin)}"

    def future_symbol(self, coin: str, expiry: dt.datetime) -> str:
        return f"{self.perp_symbol(coin)}-{expiry:%y%m%d}"

    def contract_size(self, coin: str) -> float:
        if self.linear:
            return 0.001 if coin == "BTC" else 0.01
        return 100.0 if coin == "BTC" else 10.0

    def funding_interval(self, day: dt.date) -> int:
        if self.funding_switch and day >= self.funding_switch:
            return self.funding_hours_after
        return self.funding_hours


VENUES = {
    "sample_a": VenueSpec("sample_a", linear=True, quote="USDT", spot_price_type="last", basis_offset=0.0),
    "sample_b": VenueSpec(
        "sample_b",
        linear=False,
        quote="USD",
        spot_price_type="index",
        basis_offset=0.01,
        funding_switch=dt.date(2022, 6, 30),
        funding_hours_after=4,
    ),
}

ANOMALY_CODES = (
    "PERP_QUARTERLY_DIVERGENCE",
    "LIQUIDATION_DISLOCATION",
    "CRYPTO_SPECIFIC_SHOCK",
    "FLIGHT_TO_SAFETY",
    "RISK_ASSET_CO_CRASH",
    "BROAD_LIQUIDATION",
    "CAPITAL_ROTATION",
    "CORRELATION_BREAK",
)
CONTEXT_CODES = ("EXPIRY_CONVERGENCE", "FUNDING_PRESSURE")
SCRIPTED_CODES = tuple(c for c in ANOMALY_CODES) + ("FUNDING_PRESSURE",)


def _rng(seed: int, *labels: str) -> np.random.Generator:
    """An independent stream per purpose, so adding one never shifts the draws of another."""
    key = zlib.crc32("/".join(labels).encode())
    return np.random.default_rng([seed, key])


class _World:
    """Every simulated series over [EPOCH, HORIZON) for one seed and one calendar per traditional series."""

    def __init__(self, seed: int, calendars: tuple[tuple[str, str], ...]):
        self.seed = seed
        self.days = [EPOCH + dt.timedelta(days=i) for i in range((HORIZON - EPOCH).days)]
        self.index = {d: i for i, d in enumerate(self.days)}
        n = len(self.days)
        self.sessions = {series: self._sessions(calendar) for series, calendar in calendars}
        # NYSE sessions: the clock of traditional volatility and of scripted crashes.
        self.trading = self._sessions(NYSE)
        self.returns = self._returns(n)
        self.premium = {}  # (venue, coin) -> daily premium
        self.basis = {}  # (venue, coin) -> annualised basis of the near contract
        for coin in CRYPTO:
            common_basis = self._ar1(self._bounded(seed, n, "basis", coin), BASIS_MEAN, BASIS_PHI, BASIS_VOL)
            for venue in VENUES.values():
                premium = self._ar1(self._bounded(seed, n, "premium", venue.name, coin), PREMIUM_MEAN, PREMIUM_PHI, PREMIUM_VOL)
                self.premium[(venue.name, coin)] = premium + PREMIUM_RETURN_BETA * self.returns[coin]
                venue_noise = 0.0005 * self._bounded(seed, n, "basis-noise", venue.name, coin)
                self.basis[(venue.name, coin)] = common_basis + venue.basis_offset + venue_noise
        # Per-contract basis overrides from scripted episodes: (venue, coin, expiry) -> {day index: basis}
        self.basis_override: dict[tuple[str, str, dt.datetime], dict[int, float]] = {}
        self.episodes = self._script_episodes()
        self.close = self._integrate()

    def _sessions(self, calendar: str) -> np.ndarray:
        sessions = set(trading_days(calendar, EPOCH, HORIZON))
        return np.array([d in sessions for d in self.days])

    def _active(self, name: str) -> np.ndarray:
        """Days on which `name` moves: every UTC day for crypto, its calendar's sessions otherwise."""
        return np.ones(len(self.days), dtype=bool) if name in CRYPTO else self.sessions[name]

    # ----------------------------------------------------------------------------- random paths
    @staticmethod
    def _bounded(seed: int, n: int, *labels: str) -> np.ndarray:
        return np.clip(_rng(seed, *labels).standard_normal(n), -NOISE_BOUND, NOISE_BOUND)

    @staticmethod
    def _ar1(noise: np.ndarray, mean: float, phi: float, vol: float) -> np.ndarray:
        """AR(1) around `mean` whose distance from it stays within NOISE_BOUND stationary SDs."""
        out = np.empty_like(noise)
        bound = NOISE_BOUND * vol / np.sqrt(1 - phi**2)
        level = mean
        for i, e in enumerate(noise):
            level = mean + np.clip(phi * (level - mean) + vol * e, -bound, bound)
            out[i] = level
        return out

    def _returns(self, n: int) -> dict[str, np.ndarray]:
        rng = _rng(self.seed, "returns")
        chol = np.linalg.cholesky(CORRELATION)
        gaussian = rng.standard_normal((n, len(LATENT))) @ chol.T
        mixing = np.sqrt(rng.chisquare(TAIL_DOF, n) / TAIL_DOF)[:, None]
        shocks = gaussian / mixing * np.sqrt((TAIL_DOF - 2) / TAIL_DOF)  # unit variance, fat tails
        shocks[1:] = (shocks[1:] - REVERSAL * shocks[:-1]) / np.sqrt(1 + REVERSAL**2)
        self.independent = _rng(self.seed, "independent").standard_normal((n, len(LATENT)))
        crypto_var = self._garch(shocks[:, 0], np.ones(n, dtype=bool))
        trad_var = self._garch(shocks[:, 2], self.trading)
        self.shocks = shocks
        self.variance = {"crypto": crypto_var, "traditional": trad_var}
        returns = {}
        for j, name in enumerate(LATENT):
            if name in CRYPTO:
                returns[name] = DRIFT[name] + VOL[name] * np.sqrt(crypto_var) * shocks[:, j]
            else:
                session = DRIFT[name] + VOL[name] * np.sqrt(trad_var) * shocks[:, j]
                returns[name] = np.where(self.sessions[name], session, 0.0)
        return returns

    @staticmethod
    def _garch(shock: np.ndarray, active: np.ndarray) -> np.ndarray:
        var = np.ones_like(shock)
        omega = 1.0 - GARCH_ALPHA - GARCH_BETA
        level = 1.0
        for i in range(len(shock)):
            var[i] = level
            if active[i]:
                level = omega + GARCH_ALPHA * min(shock[i] ** 2, 25.0) + GARCH_BETA * level
        return var

    def _scale(self, name: str, i: int) -> float:
        group = "crypto" if name in CRYPTO else "traditional"
        return VOL[name] * max(float(np.sqrt(self.variance[group][i])), 1.0)

    def _integrate(self) -> dict[str, np.ndarray]:
        """Prices from returns, with a slow pull toward the drift trend so levels stay plausible."""
        closes = {}
        for name in LATENT:
            kappa = MEAN_REVERSION["crypto" if name in CRYPTO else "traditional"]
            active = self._active(name)
            log_start = np.log(START_PRICE[name])
            r = self.returns[name]
            out = np.empty_like(r)
            level = log_start
            for i in range(len(r)):
                trend = log_start + DRIFT[name] * i
                pull = -kappa * (level - trend) if active[i] else 0.0
                level = level + r[i] + pull
                out[i] = level
            closes[name] = np.exp(out)
        nq_noise = 0.002 * _rng(self.seed, "nasdaq100").standard_normal(len(self.days))
        closes["nasdaq100"] = closes["nasdaq"] * (6400.0 / 6900.0) * np.exp(np.where(self.sessions["nasdaq100"], nq_noise, 0))
        return closes

    # ----------------------------------------------------------------------------- scripted episodes
    def _trading_after(self, i: int, count: int) -> list[int]:
        out = []
        while len(out) < count:
            if self.trading[i]:
                out.append(i)
            i += 1
        return out

    def _trading_before(self, i: int, count: int) -> int:
        while count:
            i -= 1
            count -= int(self.trading[i])
        return i

    def _quiet(self, name: str, lo: int, hi: int, factor: float) -> None:
        self.returns[name][lo:hi] *= factor

    def _script_episodes(self) -> list[dict]:
        rng = _rng(self.seed, "episodes")
        episodes: list[dict] = []
        i = self.index[FIRST_EPISODE]
        last = len(self.days) - 60
        order: list[str] = []
        while i < last:
            if not order:
                order = list(rng.permutation(SCRIPTED_CODES))
            code = order.pop()
            venue = list(VENUES)[int(rng.integers(len(VENUES)))]
            episodes += self._inject(code, i, venue)
            i += EPISODE_SPACING_DAYS + int(rng.integers(-3, 4))
        return episodes

    def _episode(self, code: str, subject: str, lo: int, hi: int, kind: str = "anomaly") -> dict:
        return dict(code=code, subject=subject, start=self.days[lo], end=self.days[min(hi, len(self.days) - 1)], kind=kind)

    def _move(self, name: str, days: list[int], sigmas: float) -> float:
        total = 0.0
        for d in days:
            step = sigmas * self._scale(name, d)
            self.returns[name][d] += step
            total += step
        return total

    def _scripted_move(self, names: tuple[str, ...], days: list[int], sigmas: float, recover_after: int) -> None:
        for name in names:
            self._recover(name, self._move(name, days, sigmas), recover_after)

    def _recover(self, name: str, total: float, after: int, count: int = 30) -> None:
        """Give back a scripted move slowly after the episode, so price levels stay plausible."""
        active = self._active(name)
        days = [d for d in range(after, min(after + 3 * count, len(self.days))) if active[d]][:count]
        for d in days:
            self.returns[name][d] -= total / len(days)

    def _inject(self, code: str, i: int, venue: str) -> list[dict]:
        r = self.returns
        if code in CROSS_ASSET_MOVES:
            # Three crash sessions, every leg moved in proportion, calm sessions around them. Each leg is
            # sized to pass its rule threshold once the 5-observation window holds two of the three
            # sessions and not with one, so all legs cross their thresholds together and the day's code
            # does not flip to a neighbouring one as the window rolls off the event.
            days = self._trading_after(i, CRASH_SESSIONS)
            lo = self._trading_before(days[0], CALM_SESSIONS)
            after = self._trading_after(days[-1] + 1, CALM_SESSIONS)
            hi = after[-1] + 1
            for name in ("BTC", "ETH", "nasdaq", "sp500", "gold"):
                self._quiet(name, lo, hi, QUIET_FACTOR)
            moves = CROSS_ASSET_MOVES[code]
            for names, key in ((CRYPTO, "crypto"), (("nasdaq", "sp500"), "nasdaq"), (("gold",), "gold")):
                self._scripted_move(names, days, moves[key] / CRASH_SESSIONS, hi)
            out = [self._episode(code, "BTC", days[0], after[2])]
            # The crash moves short-window correlations of the legs it moves: explained, so such a
            # break is neither required nor counted as a false alarm.
            short_end = self._trading_after(days[0], 31)[-1]
            for pair in CONSEQUENCE_PAIRS:
                out.append(self._episode("CORRELATION_BREAK", pair, days[0], short_end, kind="consequence"))
            return out
        if code == "LIQUIDATION_DISLOCATION":
            # A one-day wick: the coin gaps down, the perpetual is dumped first, then it recovers.
            self._scripted_move(CRYPTO, [i], -5.0, i + 8)
            self._scripted_move(CRYPTO, [i + 1], 4.0, i + 8)
            out = []
            for v in VENUES:
                self.premium[(v, "BTC")][i] = -0.015
                self.premium[(v, "BTC")][i + 1] = -0.003
                out.append(self._episode(code, f"{v}:{VENUES[v].perp_symbol('BTC')}", i, i + 1))
                # The day after, the perpetual is still dislocated but the coin has bounced: a divergence.
                out.append(self._episode("PERP_QUARTERLY_DIVERGENCE", f"{v}:{VENUES[v].perp_symbol('BTC')}", i, i + 2, kind="consequence"))
            short_end = self._trading_after(i, 31)[-1]
            out += [self._episode("CORRELATION_BREAK", pair, i, short_end, kind="consequence")
                    for pair in ("btc~gold", "btc~nasdaq", "btc~sp500")]
            return out
        if code == "PERP_QUARTERLY_DIVERGENCE":
            days = [i, i + 1, i + 2]
            for d in days:
                self.premium[(venue, "BTC")][d] = 0.015
                expiry = self._nearest_quarterly(d)
                self.basis_override.setdefault((venue, "BTC", expiry), {})[d] = -0.02
            out = [self._episode(code, f"{venue}:{VENUES[venue].perp_symbol('BTC')}", days[0], days[-1] + 1)]
            if venue == list(VENUES)[0]:  # the perp/quarterly return pair is read on the first venue
                out.append(self._episode("CORRELATION_BREAK", "btc_perp~btc_quarterly", days[0], days[-1] + 31,
                                         kind="consequence"))
            return out
        if code == "FUNDING_PRESSURE":
            # Leveraged longs: perpetual and quarterlies both rich, so the gap between them stays normal.
            days = list(range(i, i + 5))
            for d in days:
                lift = 0.004 - self.premium[(venue, "BTC")][d]
                self.premium[(venue, "BTC")][d] = 0.004
                for expiry in self._listed_expiries(d):
                    self.basis_override.setdefault((venue, "BTC", expiry), {})[d] = ("lift", lift)
            return [self._episode(code, f"{venue}:{VENUES[venue].perp_symbol('BTC')}", days[0], days[-1] + 1, kind="context")]
        if code == "CORRELATION_BREAK":
            # ETH decouples from BTC for 40 days: its shocks become independent of everyone else's.
            lo, hi = i, i + 40
            j = LATENT.index("ETH")
            var = self.variance["crypto"][lo:hi]
            natural = VOL["ETH"] * np.sqrt(var) * self.shocks[lo:hi, j]
            decoupled = VOL["ETH"] * np.sqrt(var) * self.independent[lo:hi, j]
            r["ETH"][lo:hi] += decoupled - natural
            return [self._episode(code, "eth~btc", lo + 5, hi + 29)]
        raise ValueError(code)

    def _listed_expiries(self, i: int) -> list[dt.datetime]:
        return quarterly_expiries_from(self.days[i], 2)

    def _nearest_quarterly(self, i: int, min_dte: float = 7.0) -> dt.datetime:
        close = dt.datetime.combine(self.days[i], dt.time()) + dt.timedelta(days=1)
        for expiry in self._listed_expiries(i):
            if (expiry - close).total_seconds() / 86400 >= min_dte:
                return expiry
        return self._listed_expiries(i)[-1]

    def contract_basis(self, venue: str, coin: str, expiry: dt.datetime, i: int) -> float:
        """Annualised basis of one contract on day i: one level for every listed contract (a flat curve)."""
        return self.basis[(venue, coin)][i]

    def expiry_episodes(self) -> list[dict]:
        out = []
        first, last = self.days[0], self.days[-1]
        for expiry in quarterly_expiries_from(first, 200):
            if expiry.date() > last:
                break
            for v in VENUES.values():
                for coin in CRYPTO:
                    out.append(
                        dict(
                            code="EXPIRY_CONVERGENCE",
                            subject=f"{v.name}:{v.future_symbol(coin, expiry)}",
                            start=expiry.date() - dt.timedelta(days=7),
                            end=expiry.date(),
                            kind="context",
                        )
                    )
        return out


@lru_cache(maxsize=4)
def _world(seed: int, calendars: tuple[tuple[str, str], ...]) -> _World:
    return _World(seed, calendars)


def _bar_shape(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.abs(rng.standard_normal(n)), np.abs(rng.standard_normal(n)), rng.lognormal(0.0, 0.4, n)


class SampleMarket:
    """Deterministic offline source for every raw table. Implements CryptoSource and TraditionalSource."""

    name = "sample"

    def __init__(self, seed: int = 7, venues: tuple[str, ...] = tuple(VENUES), underlyings: tuple[str, ...] = CRYPTO,
                 traditional: dict[str, str] | None = None, calendars: dict[str, str] | None = None):
        """`traditional`: series -> ticker; `calendars`: series -> trading calendar, defaults for the rest."""
        unknown = [v for v in venues if v not in VENUES]
        if unknown:
            raise SourceError(f"sample market: unknown venue(s) {unknown}; it simulates {list(VENUES)}")
        missing = [u for u in underlyings if u not in CRYPTO]
        if missing:
            raise SourceError(f"sample market: no simulation for underlying(s) {missing}; it has {list(CRYPTO)}")
        self.seed = seed
        self.venues = tuple(venues)
        self.underlyings = tuple(underlyings)
        self.traditional = traditional or dict(TRADITIONAL_TICKERS)
        unknown_series = [s for s in self.traditional if s not in TRADITIONAL_TICKERS]
        if unknown_series:
            raise SourceError(f"sample market: no simulation for series {unknown_series}")
        calendars = {**TRADITIONAL_CALENDARS, **(calendars or {})}
        unknown_series = [s for s in calendars if s not in TRADITIONAL_TICKERS]
        if unknown_series:
            raise SourceError(f"sample market: no simulation for series {unknown_series}")
        for series, calendar in calendars.items():
            try:
                check_calendar(calendar)
            except CalendarError as exc:
                raise SourceError(f"sample market: series {series}: {exc}") from None
        self.calendars = tuple(sorted(calendars.items()))

    # ------------------------------------------------------------------------------------ helpers
    @property
    def world(self) -> _World:
        return _world(self.seed, self.calendars)

    def _span(self, start: dt.date, end: dt.date) -> range:
        if start < EPOCH or end > HORIZON or start > end:
            raise SourceError(
                f"sample market: range {start} to {end} is outside the simulated history {EPOCH} to {HORIZON}"
            )
        w = self.world
        return range(w.index[start], w.index[end] if end < HORIZON else len(w.days))

    def _spot(self, venue: str, coin: str) -> np.ndarray:
        noise = 0.0001 * _rng(self.seed, "spot", venue, coin).standard_normal(len(self.world.days))
        return self.world.close[coin] * (1 + noise)

    def _bars(self, days: range, close: np.ndarray, label: tuple[str, ...], vol: float,
              volume_scale: float | None) -> dict[str, np.ndarray]:
        """OHLC around a close series: open at the previous close, high/low from the day's range."""
        rng = _rng(self.seed, "bars", *label)
        up, down, size = _bar_shape(rng, len(self.world.days))
        idx = np.array(days)
        c = close[idx]
        o = close[np.maximum(idx - 1, 0)]
        high = np.maximum(o, c) * np.exp(0.4 * vol * up[idx])
        low = np.minimum(o, c) * np.exp(-0.4 * vol * down[idx])
        volume = volume_scale * size[idx] if volume_scale is not None else np.full(len(idx), np.nan)
        return dict(open=o, high=high, low=low, close=c, volume=volume)

    def ground_truth(self) -> pl.DataFrame:
        """Scripted episodes (code, subject, start, end, kind): what a detector should find."""
        rows = self.world.episodes + self.world.expiry_episodes()
        frame = pl.DataFrame(rows, schema={"code": pl.Utf8, "subject": pl.Utf8, "start": pl.Date, "end": pl.Date, "kind": pl.Utf8})
        keep = pl.col("subject").str.split(":").list.first().is_in(list(self.venues)) | ~pl.col("subject").str.contains(":")
        return frame.filter(keep).sort("start", "code", "subject")

    # ------------------------------------------------------------------------------------ interface
    def instruments(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        rows = []
        for i in self._span(start, end):
            day = self.world.days[i]
            expiries = quarterly_expiries_from(day, 2)
            for venue in (VENUES[v] for v in self.venues):
                for coin in self.underlyings:
                    common = dict(snapshot_date=day, venue=venue.name, underlying=coin, quote=venue.quote)
                    rows.append(dict(common, symbol=venue.spot_symbol(coin), kind="spot", settle=None,
                                     linear=None, inverse=None, contract_size=None, expiry_ts=None))
                    derivative = dict(common, settle=venue.settle(coin), linear=venue.linear,
                                      inverse=not venue.linear, contract_size=venue.contract_size(coin))
                    rows.append(dict(derivative, symbol=venue.perp_symbol(coin), kind="perp", expiry_ts=None))
                    for expiry in expiries:
                        rows.append(dict(derivative, symbol=venue.future_symbol(coin, expiry), kind="future",
                                         expiry_ts=expiry))
        return pl.DataFrame(rows, schema=_schema("instruments"), orient="row") if rows else _empty("instruments")

    def crypto_bars(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        days = self._span(start, end)
        if not days:
            return _empty("crypto_ohlcv")
        w = self.world
        frames = []
        dates = [w.days[i] for i in days]
        for venue in (VENUES[v] for v in self.venues):
            for coin in self.underlyings:
                spot = self._spot(venue.name, coin)
                mark = spot * (1 + w.premium[(venue.name, coin)])
                last = mark * (1 + 0.0002 * _rng(self.seed, "perp-last", venue.name, coin).standard_normal(len(mark)))
                base_volume = 20000.0 if coin == "BTC" else 300000.0
                series = [
                    (venue.spot_symbol(coin), "spot", venue.spot_price_type, spot,
                     base_volume if venue.spot_price_type == "last" else None),
                    (venue.perp_symbol(coin), "perp", "last", last, base_volume * 4),
                    (venue.perp_symbol(coin), "perp", "mark", mark, None),
                ]
                for symbol, kind, price_type, close, volume in series:
                    bars = self._bars(days, close, (venue.name, symbol, price_type), VOL[coin], volume)
                    frames.append(_frame(dates, venue.name, symbol, kind, price_type, bars))
                frames += self._future_bars(days, venue, coin, spot, base_volume)
        return pl.concat(frames).select(_schema("crypto_ohlcv").keys()).sort("date", "venue", "symbol", "price_type")

    def _future_bars(self, days: range, venue: VenueSpec, coin: str, spot: np.ndarray, base_volume: float) -> list[pl.DataFrame]:
        w = self.world
        contracts: dict[dt.datetime, list[int]] = {}
        for i in days:
            for expiry in quarterly_expiries_from(w.days[i], 2):
                contracts.setdefault(expiry, []).append(i)
        frames = []
        for expiry, live in contracts.items():
            symbol = venue.future_symbol(coin, expiry)
            # Price the contract from one day before the window so the first open is its previous close.
            span = list(range(max(live[0] - 1, 0), live[-1] + 1))
            close = np.full(len(w.days), np.nan)
            for i in span:
                close[i] = self._future_close(venue, coin, expiry, i, spot)
            noise = 1 + 0.0001 * np.clip(_rng(self.seed, "future", venue.name, symbol).standard_normal(len(w.days)),
                                         -NOISE_BOUND, NOISE_BOUND)
            close = close * noise
            if live[-1] == w.index.get(expiry.date()):
                close[live[-1]] = self._settlement(coin, spot, live[-1])
            bars = self._bars(live, close, (venue.name, symbol), VOL[coin], base_volume * 0.3)
            frames.append(_frame([w.days[i] for i in live], venue.name, symbol, "future", "last", bars))
        return frames

    def _future_close(self, venue: VenueSpec, coin: str, expiry: dt.datetime, i: int, spot: np.ndarray) -> float:
        w = self.world
        close_ts = dt.datetime.combine(w.days[i], dt.time()) + dt.timedelta(days=1)
        dte = max((expiry - close_ts).total_seconds() / 86400, 0.0)
        annualised = w.contract_basis(venue.name, coin, expiry, i)
        override = w.basis_override.get((venue.name, coin, expiry), {}).get(i)
        if isinstance(override, tuple):  # lift the whole curve by a premium shift
            return spot[i] * np.exp(annualised * dte / 365) * (1 + override[1])
        if override is not None:  # pin the simple basis F/S - 1
            return spot[i] * (1 + override)
        return spot[i] * np.exp(annualised * dte / 365)

    def _settlement(self, coin: str, spot: np.ndarray, i: int) -> float:
        """Delivery price at 08:00 UTC: spot interpolated a third of the way into the day (log-linear)."""
        prev = spot[max(i - 1, 0)]
        return float(prev * (spot[i] / prev) ** (8 / 24))

    def funding(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        days = self._span(start, end)
        w = self.world
        rows = []
        for venue in (VENUES[v] for v in self.venues):
            for coin in self.underlyings:
                premium = w.premium[(venue.name, coin)]
                jitter = 0.0001 * _rng(self.seed, "funding", venue.name, coin).standard_normal((len(w.days), 24))
                symbol = venue.perp_symbol(coin)
                for i in days:
                    day = w.days[i]
                    hours = venue.funding_interval(day)
                    for k in range(24 // hours):
                        ts = dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=k * hours)
                        # A settlement pays for the interval that just ended.
                        paid_day = (ts - dt.timedelta(hours=hours)).date()
                        j = w.index.get(paid_day, i)
                        level = FUNDING_PREMIUM_SHARE * (premium[j] + jitter[i, k]) + FUNDING_INTEREST_8H
                        rate = float(np.clip(level, -FUNDING_CAP_8H, FUNDING_CAP_8H)) * hours / 8
                        rows.append((day, venue.name, symbol, ts, rate, float(hours)))
        if not rows:
            return _empty("funding")
        return pl.DataFrame(rows, schema=_schema("funding"), orient="row").sort("venue", "symbol", "funding_ts")

    def traditional_bars(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        """Each series' bars on the sessions of its own calendar in [start, end)."""
        span = self._span(start, end)
        w = self.world
        frames = []
        for series, ticker in self.traditional.items():
            sessions = w.sessions[series]
            days = [i for i in span if sessions[i]]
            if not days:
                continue
            vol = VOL.get(series, VOL["nasdaq"])
            close = w.close[series]
            volume = None if series in ("nasdaq", "sp500", "dollar") else 150000.0
            # Open at the previous session's close, not the previous calendar day's.
            session_close = np.where(sessions, close, np.nan)
            previous = pl.Series(session_close, nan_to_null=True).shift(1).fill_null(strategy="forward").to_numpy()
            bars = self._bars(days, close, ("trad", series), vol, volume)
            bars["open"] = np.where(np.isnan(previous[days]), close[days], previous[days])
            bars["high"] = np.maximum(bars["high"], np.maximum(bars["open"], bars["close"]))
            bars["low"] = np.minimum(bars["low"], np.minimum(bars["open"], bars["close"]))
            frames.append(
                pl.DataFrame({"date": [w.days[i] for i in days], "series": series, "ticker": ticker, **bars})
            )
        if not frames:
            return _empty("traditional_ohlcv")
        return pl.concat(frames).select(_schema("traditional_ohlcv").keys()).sort("date", "ticker")


def _frame(dates, venue, symbol, kind, price_type, bars) -> pl.DataFrame:
    return pl.DataFrame(
        {"date": dates, "venue": venue, "symbol": symbol, "kind": kind, "price_type": price_type, **bars},
    ).with_columns(pl.col("volume").fill_nan(None))


def _schema(table: str) -> dict[str, pl.DataType]:
    return next(t for t in RAW_TABLES if t.name == table).polars_schema


def _empty(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=_schema(table))
