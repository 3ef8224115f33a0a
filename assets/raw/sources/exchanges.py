"""The live crypto source: binance, bybit, okx and deribit through ccxt.

It delivers the same frames as the sample market (`base.CryptoSource`). Design:

- One ccxt instance per venue per run (the source is built once per run), with ccxt's rate limiter on
  and its markets loaded once.
- Every request has both ends of its window bounded. A window holds at most one page, sized from the
  venue's page limit; a page that comes back full is split and asked again, so nothing is silently cut.
  A daily run therefore makes one request per instrument and series; a backfill pages through the range.
- Network errors, 429 and 5xx are retried with exponential backoff; after the retries a `SourceError`
  names the venue, the symbol and the dates, and the asset writes nothing of that partition.
- ccxt trusts what it is sent (a 200 answer with junk JSON becomes junk candles, or a silently missing
  market type), so every candle, funding row and market list is checked before it is used.
- Expired contracts: venues drop them from their market lists, so history survives only through the
  instrument snapshot stored every day. A backfill lists what the venue lists today, on each day from
  the contract's listing (when the venue says) up to its expiry.
- API keys are optional (all of this is public data), read from the environment and never logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

import ccxt
import polars as pl

from warehouse.schemas import RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_INSTRUMENTS

from .base import SourceError
from .funding_history import normalize_settlements
from .venues import DAY_MS, PROFILES, VenueProfile

log = logging.getLogger(__name__)

KINDS = {"spot": "spot", "swap": "perp", "future": "future"}
# One spot pair per coin and venue is the venue's spot price (basis and returns need exactly one).
SPOT_QUOTES = ("USDT", "USD", "USDC")
MAX_BACKOFF_SECONDS = 60.0


def _ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)


def _day(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).date()


def _span(start: dt.date, end: dt.date) -> str:
    last = end - dt.timedelta(days=1)
    return str(start) if last <= start else f"{start}..{last}"


def credentials(venue: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """ccxt credentials for a venue from <VENUE>_API_KEY, <VENUE>_API_SECRET (and OKX_API_PASSWORD)."""
    environ = os.environ if environ is None else environ
    names = {"apiKey": "API_KEY", "secret": "API_SECRET", "password": "API_PASSWORD"}
    found = {field: environ.get(f"{venue.upper()}_{suffix}") for field, suffix in names.items()}
    return {field: value for field, value in found.items() if value}


def redirect(urls: Any, base_url: str) -> Any:
    """Replace the scheme and host of every address in ccxt's `urls['api']`, keeping each path."""
    if isinstance(urls, dict):
        return {key: redirect(value, base_url) for key, value in urls.items()}
    if isinstance(urls, str) and urls.startswith("http"):
        parts = urlsplit(urls)
        return base_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    return urls


@dataclass(frozen=True)
class Instrument:
    venue: str
    symbol: str
    underlying: str
    kind: str
    quote: str
    settle: str | None
    linear: bool | None
    inverse: bool | None
    contract_size: float | None
    expiry_ms: int | None
    listed_ms: int | None

    def listed_on(self, day: dt.date) -> bool:
        if self.listed_ms is not None and _day(self.listed_ms) > day:
            return False
        return self.expiry_ms is None or _day(self.expiry_ms) >= day

    def listed_days(self, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date] | None:
        """The part of [start, end) on which the instrument is listed, or None."""
        first = max(start, _day(self.listed_ms)) if self.listed_ms is not None else start
        stop = min(end, _day(self.expiry_ms) + dt.timedelta(days=1)) if self.expiry_ms is not None else end
        return (first, stop) if first < stop else None


class ExchangeSource:
    """ccxt venues as a `CryptoSource`. `exchange_factory(venue, config)` builds a ccxt instance (tests
    and the default build a real `ccxt.<venue>`); `sleep` is replaceable so backoff can be observed."""

    name = "ccxt"

    def __init__(
        self,
        venues: tuple[str, ...],
        underlyings: tuple[str, ...],
        endpoints: dict[str, str] | None = None,
        max_retries: int = 5,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 30.0,
        environ: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        unknown = [v for v in venues if v not in PROFILES]
        if unknown:
            raise SourceError(f"ccxt: no profile for venue(s) {unknown}; known: {sorted(PROFILES)}")
        self.venues = venues
        self.underlyings = tuple(underlyings)
        self.endpoints = dict(endpoints or {})
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.timeout_ms = int(timeout_seconds * 1000)
        self.environ = os.environ if environ is None else environ
        self.sleep = sleep
        self._exchanges: dict[str, ccxt.Exchange] = {}
        self._instruments: dict[str, list[Instrument]] = {}
        self._secrets = [v for venue in venues for v in credentials(venue, self.environ).values()]
        if self._secrets:
            _REDACT.secrets.update(self._secrets)

    # ------------------------------------------------------------------------------------ exchanges
    def exchange(self, venue: str) -> ccxt.Exchange:
        if venue not in self._exchanges:
            profile = PROFILES[venue]
            config = {"enableRateLimit": True, "timeout": self.timeout_ms, "options": dict(profile.options),
                      **credentials(venue, self.environ)}
            exchange = getattr(ccxt, venue)(config)
            if venue in self.endpoints:
                exchange.urls["api"] = redirect(exchange.urls["api"], self.endpoints[venue])
            exchange.on_rest_response = _reject_unparseable(venue, exchange.on_rest_response)
            self._exchanges[venue] = exchange
        return self._exchanges[venue]

    def _call(self, venue: str, what: str, symbol: str, span: str, method: Callable[[], Any]) -> Any:
        """Run one ccxt call with retries on network errors, 429 and 5xx; fail with a clear SourceError."""
        attempt = 0
        while True:
            try:
                return method()
            # NetworkError covers 429 (DDoSProtection, RateLimitExceeded), 5xx and timeouts; BadResponse is a
            # 200 answer that is not JSON (an error page from a proxy), often gone on the next try.
            except (ccxt.NetworkError, ccxt.BadResponse) as exc:
                if attempt >= self.max_retries:
                    raise SourceError(
                        f"ccxt {venue}: {what} {symbol} for {span} failed after {attempt + 1} attempts: "
                        f"{type(exc).__name__}: {self._scrub(exc)}"
                    ) from None
                delay = min(self.backoff_seconds * 2**attempt, MAX_BACKOFF_SECONDS)
                log.warning("ccxt %s: %s %s for %s: %s; retry %d/%d in %.1fs", venue, what, symbol, span,
                            type(exc).__name__, attempt + 1, self.max_retries, delay)
                self.sleep(delay)
                attempt += 1
            except ccxt.BaseError as exc:
                raise SourceError(
                    f"ccxt {venue}: {what} {symbol} for {span} was refused: {type(exc).__name__}: {self._scrub(exc)}"
                ) from None

    def _scrub(self, exc: Exception) -> str:
        text = str(exc)[:500]
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # ---------------------------------------------------------------------------------- instruments
    def listing(self, venue: str, span: str) -> list[Instrument]:
        """The venue's spot, perpetual and dated-future markets of the underlyings (loaded once per run)."""
        if venue not in self._instruments:
            exchange = self.exchange(venue)
            markets = self._call(venue, "load_markets", "(all markets)", span, exchange.load_markets)
            instruments = [self._instrument(venue, m) for m in (markets or {}).values() if self._wanted(m)]
            spots = {}
            for inst in sorted((i for i in instruments if i.kind == "spot"), key=lambda i: SPOT_QUOTES.index(i.quote)):
                spots.setdefault(inst.underlying, inst)
            instruments = [i for i in instruments if i.kind != "spot" or spots[i.underlying] is i]
            if not any(i.kind == "perp" for i in instruments):
                # A 200 answer with junk makes ccxt drop a market type without a word.
                raise SourceError(
                    f"ccxt {venue}: load_markets for {span} returned no perpetual of {list(self.underlyings)}: "
                    "the venue's market list is missing or malformed"
                )
            self._instruments[venue] = sorted(instruments, key=lambda i: i.symbol)
        return self._instruments[venue]

    def _wanted(self, market: dict) -> bool:
        if market.get("type") not in KINDS or market.get("base") not in self.underlyings:
            return False
        if market.get("type") == "spot":
            return market.get("quote") in SPOT_QUOTES
        return market.get("quote") in ("USDT", "USD") and market.get("settle") in ("USDT", "USD", market.get("base"))

    def _instrument(self, venue: str, market: dict) -> Instrument:
        kind = KINDS[market["type"]]
        expiry = market.get("expiry")
        if kind == "future" and not isinstance(expiry, int):
            raise SourceError(f"ccxt {venue}: {market.get('symbol')}: dated future without an expiry")
        if kind == "future" and _hour(expiry) != PROFILES[venue].delivery_hour_utc:
            log.warning("ccxt %s: %s expires at %s, not at the venue's usual %02d:00 UTC", venue, market["symbol"],
                        dt.datetime.fromtimestamp(expiry / 1000, tz=dt.timezone.utc), PROFILES[venue].delivery_hour_utc)
        contract = kind != "spot"
        return Instrument(
            venue=venue,
            symbol=market["symbol"],
            underlying=market["base"],
            kind=kind,
            quote=market["quote"],
            settle=market.get("settle") if contract else None,
            linear=bool(market.get("linear")) if contract else None,
            inverse=bool(market.get("inverse")) if contract else None,
            contract_size=float(market["contractSize"]) if contract and market.get("contractSize") else None,
            expiry_ms=expiry if kind == "future" else None,
            listed_ms=market.get("created") if isinstance(market.get("created"), int) else None,
        )

    def instruments(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        rows = []
        span = _span(start, end)
        for venue in self.venues:
            for inst in self.listing(venue, span):
                for offset in range((end - start).days):
                    day = start + dt.timedelta(days=offset)
                    if inst.listed_on(day):
                        rows.append({
                            "snapshot_date": day, "venue": venue, "symbol": inst.symbol, "underlying": inst.underlying,
                            "kind": inst.kind, "quote": inst.quote, "settle": inst.settle, "linear": inst.linear,
                            "inverse": inst.inverse, "contract_size": inst.contract_size,
                            "expiry_ts": None if inst.expiry_ms is None else
                            dt.datetime.fromtimestamp(inst.expiry_ms / 1000, tz=dt.timezone.utc).replace(tzinfo=None),
                        })
        return pl.DataFrame(rows, schema=RAW_INSTRUMENTS.polars_schema).sort(["snapshot_date", "venue", "symbol"])

    # -------------------------------------------------------------------------------------- candles
    def crypto_bars(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        frames = []
        span = _span(start, end)
        for venue in self.venues:
            profile = PROFILES[venue]
            for inst in self.listing(venue, span):
                listed = inst.listed_days(start, end)
                if listed is None:
                    continue
                frames.append(self._candles(profile, inst, *listed, price="last"))
                if inst.kind == "perp" and profile.has_mark_candles:
                    frames.append(self._candles(profile, inst, *listed, price="mark"))
        return _stack(frames, RAW_CRYPTO_OHLCV.polars_schema, ["date", "venue", "symbol", "price_type"])

    def _candles(self, profile: VenueProfile, inst: Instrument, start: dt.date, end: dt.date, price: str) -> pl.DataFrame:
        exchange = self.exchange(profile.venue)
        what = "fetch_ohlcv" if price == "last" else "fetch_mark_ohlcv"
        params = {} if price == "last" else {"price": "mark"}
        rows: dict[int, list] = {}
        page = dt.timedelta(days=profile.candle_window_days())
        chunk_start = start
        while chunk_start < end:
            chunk_end = min(chunk_start + page, end)
            since, until = _ms(chunk_start), _ms(chunk_end)
            candles = self._call(
                profile.venue, what, inst.symbol, _span(chunk_start, chunk_end),
                lambda: exchange.fetch_ohlcv(inst.symbol, "1d", since=since, limit=profile.candles_per_page,
                                             params={**params, "until": until - 1}),
            )
            for candle in candles or []:
                ts = self._check_candle(profile.venue, inst.symbol, price, candle)
                if since <= ts < until:
                    rows[ts] = candle
            chunk_start = chunk_end
        if price == "last" and inst.kind != "future" and len(rows) < (end - start).days:
            got = {_day(ts) for ts in rows}
            missing = [str(start + dt.timedelta(days=i)) for i in range((end - start).days)
                       if start + dt.timedelta(days=i) not in got]
            log.warning("ccxt %s: no %s candle of %s for %s", profile.venue, price, inst.symbol, ", ".join(missing[:10]))
        volume_kept = price == "last"
        return pl.DataFrame(
            [{
                "date": _day(ts), "venue": profile.venue, "symbol": inst.symbol, "kind": inst.kind, "price_type": price,
                "open": float(c[1]), "high": float(c[2]), "low": float(c[3]), "close": float(c[4]),
                "volume": float(c[5]) if volume_kept and c[5] is not None else None,
            } for ts, c in sorted(rows.items())],
            schema=RAW_CRYPTO_OHLCV.polars_schema,
        )

    @staticmethod
    def _check_candle(venue: str, symbol: str, price: str, candle: Any) -> int:
        def bad(reason: str) -> SourceError:
            return SourceError(f"ccxt {venue}: {price} candle of {symbol} is malformed ({reason}): {str(candle)[:200]}")

        if not isinstance(candle, (list, tuple)) or len(candle) < 6 or not isinstance(candle[0], int):
            raise bad("not [timestamp, open, high, low, close, volume]")
        ts = candle[0]
        day = _day(ts)
        if ts % DAY_MS:
            raise SourceError(f"ccxt {venue}: {price} candle of {symbol} for {day} does not start at 00:00 UTC: {candle}")
        values = candle[1:5]
        if any(not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0 for v in values):
            raise SourceError(f"ccxt {venue}: {price} candle of {symbol} for {day} has a missing or non-positive "
                              f"price: {candle}")
        if candle[2] < max(candle[1], candle[4]) * (1 - 1e-9) or candle[3] > min(candle[1], candle[4]) * (1 + 1e-9):
            raise SourceError(f"ccxt {venue}: {price} candle of {symbol} for {day} has high/low outside open/close: {candle}")
        return ts

    # -------------------------------------------------------------------------------------- funding
    def funding(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        frames = []
        span = _span(start, end)
        for venue in self.venues:
            profile = PROFILES[venue]
            for inst in self.listing(venue, span):
                if inst.kind != "perp" or inst.listed_days(start, end) is None:
                    continue
                frames.append(self._funding(profile, inst, start, end))
        return _stack(frames, RAW_FUNDING.polars_schema, ["date", "venue", "symbol", "funding_ts"])

    def _funding(self, profile: VenueProfile, inst: Instrument, start: dt.date, end: dt.date) -> pl.DataFrame:
        # One day before the window too: the first settlement's interval is the time since the previous one.
        fetch_start = start - dt.timedelta(days=1)
        settlements: dict[int, float] = {}
        chunk_start = fetch_start
        while chunk_start < end:
            chunk_end = min(chunk_start + profile.funding_window(), end)
            settlements.update(self._funding_window(profile, inst, _ms(chunk_start), _ms(chunk_end)))
            chunk_start = chunk_end
        if not settlements:
            return pl.DataFrame(schema=RAW_FUNDING.polars_schema)
        frame = pl.DataFrame(
            {"funding_ts": [dt.datetime.fromtimestamp(ts / 1000, tz=dt.timezone.utc).replace(tzinfo=None)
                            for ts in sorted(settlements)],
             "rate": [settlements[ts] for ts in sorted(settlements)]},
            schema={"funding_ts": pl.Datetime("us"), "rate": pl.Float64},
        )
        rows = normalize_settlements(frame, profile.venue, inst.symbol)
        if profile.funding_interval_hours is not None:
            rows = rows.with_columns(interval_hours=pl.lit(profile.funding_interval_hours))
        return rows.filter((pl.col("date") >= start) & (pl.col("date") < end))

    def _funding_window(self, profile: VenueProfile, inst: Instrument, since: int, until: int) -> dict[int, float]:
        exchange = self.exchange(profile.venue)
        span = _span(_day(since), _day(until - 1) + dt.timedelta(days=1))
        history = self._call(
            profile.venue, "fetch_funding_rate_history", inst.symbol, span,
            lambda: exchange.fetch_funding_rate_history(inst.symbol, since=since, limit=profile.funding_per_page,
                                                        params=profile.funding_until(until)),
        ) or []
        if len(history) >= profile.funding_per_page and until - since >= 2 * 3_600_000:
            middle = since + (until - since) // 2 // 3_600_000 * 3_600_000
            return {**self._funding_window(profile, inst, since, middle),
                    **self._funding_window(profile, inst, middle, until)}
        found: dict[int, float] = {}
        for row in history:
            ts = row.get("timestamp") if isinstance(row, dict) else None
            rate = profile.funding_rate(row) if isinstance(row, dict) else None
            if not isinstance(ts, int) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
                raise SourceError(f"ccxt {profile.venue}: funding row of {inst.symbol} for {span} is malformed: "
                                  f"{str(row)[:200]}")
            if since <= ts < until:
                found[ts] = float(rate)
        return found


def _stack(frames: list[pl.DataFrame], schema: dict, order: list[str]) -> pl.DataFrame:
    frames = [f for f in frames if f.height]
    return pl.concat(frames).sort(order) if frames else pl.DataFrame(schema=schema)


class _Redactor(logging.Filter):
    """ccxt logs request headers at DEBUG, and some venues send the API key in a header even on public
    calls: every record of ccxt's logger has the keys in use replaced by ***."""

    def __init__(self):
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            if any(secret in text for secret in self.secrets):
                for secret in self.secrets:
                    text = text.replace(secret, "***")
                record.msg, record.args = text, ()
        return True


_REDACT = _Redactor()
logging.getLogger("ccxt.base.exchange").addFilter(_REDACT)


def _reject_unparseable(venue: str, on_rest_response: Callable) -> Callable:
    """Wrap ccxt's response hook: a 200 answer that is not JSON raises instead of becoming junk rows."""

    def check(code, reason, url, method, response_headers, response_body, request_headers, request_body):
        body = on_rest_response(code, reason, url, method, response_headers, response_body, request_headers, request_body)
        if code == 200:
            try:
                json.loads(body)
            except ValueError:
                path = urlsplit(url).path
                raise ccxt.BadResponse(f"{venue} answered {path} with a body that is not JSON: {body[:80]!r}") from None
        return body

    return check


def _hour(ms: int) -> int:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).hour
