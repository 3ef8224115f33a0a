"""The live crypto source: binance, bybit, okx and deribit through ccxt.

It delivers the same frames as the sample market (`base.CryptoSource`). Design:

- One ccxt instance per venue per run (the source is built once per run), with ccxt's rate limiter on
  and its markets loaded once.
- Every request has both ends of its window bounded. A window holds at most one page, sized from the
  venue's page limit; a page that comes back full is split and asked again, so nothing is silently cut.
  A daily run therefore makes one request per instrument and series; a backfill pages through the range.
- Transient failures are asked again under `retry.call_with_retries`: timeouts, connection resets and
  truncated bodies, 408/418/429 (honouring Retry-After) and every 5xx, and each venue's own "try
  again" error codes (`VenueProfile.transient_codes`), whatever class ccxt gives them. Each venue has a
  time budget per run. After giving up, a `GaveUp` names venue, endpoint, symbol and dates, the
  attempts and the last error; the asset writes nothing of that partition.
- ccxt trusts what it is sent (a 200 answer with junk JSON becomes junk candles, an empty list becomes
  no rows, a market list that failed to parse silently drops that market type), so every market list,
  candle page and funding window is checked: empty, short or malformed answers are asked again and
  then raise (`IncompleteAnswer`, `MalformedAnswer`), never becoming an empty or partial frame.
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

from .base import IncompleteAnswer, MalformedAnswer, SourceError
from .funding_history import normalize_settlements
from .retry import RetryPolicy, Transient, VenueBudget, call_with_retries, parse_retry_after
from .venues import DAY_MS, HOUR_MS, PROFILES, VenueProfile

log = logging.getLogger(__name__)

# One name for the source (the venues through ccxt): settings routes, progress, summaries, messages.
NAME = "live"
KINDS = {"spot": "spot", "swap": "perp", "future": "future"}
# One spot pair per coin and venue is the venue's spot price (basis and returns need exactly one).
SPOT_QUOTES = ("USDT", "USD", "USDC")
# Statuses asked again whatever ccxt makes of them: request timeout, Binance's IP ban (418, after
# ignored 429s), rate limit; and every 5xx.
RETRIED_STATUSES = (408, 418, 429)


@dataclass(frozen=True)
class _Answer:
    """The last HTTP answer of a venue, kept to classify a failure."""

    status: int
    path: str
    retry_after: float | None
    body: str


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
    venue_id: str = ""
    funding_hours: float | None = None  # the settlement interval the venue declares, if it does

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
    """ccxt venues as a `CryptoSource`. `sleep` is replaceable so waits can be observed in tests."""

    name = NAME

    def __init__(
        self,
        venues: tuple[str, ...],
        underlyings: tuple[str, ...],
        endpoints: dict[str, str] | None = None,
        max_retries: int = 5,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 10.0,
        venue_budget_seconds: float = 40.0,
        environ: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        unknown = [v for v in venues if v not in PROFILES]
        if unknown:
            raise SourceError(f"{NAME}: no profile for venue(s) {unknown}; known: {sorted(PROFILES)}")
        self.venues = venues
        self.underlyings = tuple(underlyings)
        self.endpoints = dict(endpoints or {})
        self.policy = RetryPolicy(retries=max_retries, backoff_seconds=backoff_seconds,
                                  timeout_seconds=timeout_seconds, venue_budget_seconds=venue_budget_seconds)
        self.budgets = {venue: VenueBudget(venue, venue_budget_seconds) for venue in venues}
        self.environ = os.environ if environ is None else environ
        self.sleep = sleep
        self._exchanges: dict[str, ccxt.Exchange] = {}
        self._answers: dict[str, _Answer | None] = {}
        self._instruments: dict[str, list[Instrument]] = {}
        self._declared_hours: dict[str, dict[str, float]] = {}
        self._secrets = [v for venue in venues for v in credentials(venue, self.environ).values()]
        if self._secrets:
            _REDACT.secrets.update(self._secrets)

    # ------------------------------------------------------------------------------------ exchanges
    def exchange(self, venue: str) -> ccxt.Exchange:
        if venue not in self._exchanges:
            profile = PROFILES[venue]
            config = {"enableRateLimit": True, "timeout": int(self.policy.timeout_seconds * 1000),
                      "options": dict(profile.options), **credentials(venue, self.environ)}
            exchange = getattr(ccxt, venue)(config)
            if venue in self.endpoints:
                exchange.urls["api"] = redirect(exchange.urls["api"], self.endpoints[venue])
            exchange.on_rest_response = self._observe(venue, exchange.on_rest_response)
            self._exchanges[venue] = exchange
        return self._exchanges[venue]

    def call(self, venue: str, what: str, symbol: str, span: str, method: Callable[[], Any]) -> Any:
        """One ccxt call (with the checks of its answer) under the retry rule; a clear SourceError after."""
        exchange = self.exchange(venue)

        def attempt(timeout: float) -> Any:
            exchange.timeout = int(timeout * 1000)  # what is left of the venue's budget, at most the setting
            self._answers[venue] = None
            return method()

        return call_with_retries(
            attempt, what=f"{NAME} {venue}: {what} {symbol} for {span}", policy=self.policy,
            budget=self.budgets[venue], classify=lambda exc: self._transient(venue, exc),
            describe=lambda exc: self._describe(venue, exc), sleep=self.sleep,
        )

    def _transient(self, venue: str, exc: BaseException) -> Transient | None:
        """Whether a failure is worth asking again. ccxt maps some venues' own server errors (Binance
        -1001 and -1008, Bybit 10016) to refusals, so the HTTP status and the venue's error code of the
        answer decide too, not only ccxt's class."""
        answer = self._answers.get(venue)
        retry_after = answer.retry_after if answer else None
        if isinstance(exc, IncompleteAnswer):
            return Transient("incomplete answer")
        if isinstance(exc, (MalformedAnswer, ccxt.BadResponse)):
            return Transient("malformed answer")
        if isinstance(exc, ccxt.RequestTimeout):
            return Transient("timeout")
        if answer and (answer.status in RETRIED_STATUSES or answer.status >= 500):
            return Transient(f"HTTP {answer.status}", retry_after)
        code = PROFILES[venue].error_code(answer.body) if answer else None
        if code in PROFILES[venue].transient_codes:
            return Transient(f"{venue} error {code}", retry_after)
        if isinstance(exc, ccxt.NetworkError):  # connection reset, truncated body
            return Transient(type(exc).__name__, retry_after)
        return None

    def _describe(self, venue: str, exc: BaseException) -> str:
        answer = self._answers.get(venue)
        text = f"{type(exc).__name__}: {exc}"[:400]
        if answer is not None and answer.status != 200:
            text += f" (HTTP {answer.status} on {answer.path})"
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _observe(self, venue: str, on_rest_response: Callable) -> Callable:
        """Wrap ccxt's response hook: remember status, path, Retry-After and the start of the body of the
        answer (to classify a failure), and refuse a 200 answer that is not JSON instead of letting ccxt
        turn it into junk rows."""

        def check(code, reason, url, method, response_headers, response_body, request_headers, request_body):
            body = on_rest_response(code, reason, url, method, response_headers, response_body, request_headers,
                                    request_body)
            path = urlsplit(url).path
            self._answers[venue] = _Answer(code, path, parse_retry_after(response_headers.get("Retry-After")),
                                           (body or "")[:2000])
            if code == 200:
                try:
                    json.loads(body)
                except ValueError:
                    raise ccxt.BadResponse(f"{venue} answered {path} with a body that is not JSON: "
                                           f"{body[:80]!r}") from None
            return body

        return check

    # ---------------------------------------------------------------------------------- instruments
    def listing(self, venue: str, span: str) -> list[Instrument]:
        """The venue's spot, perpetual and dated-future markets of the underlyings (loaded once per run)."""
        if venue not in self._instruments:
            exchange = self.exchange(venue)

            def load() -> dict:
                markets = exchange.load_markets(reload=True) or {}
                self._check_market_lists(venue, span, markets)
                return markets

            markets = self.call(venue, "load_markets", "(all markets)", span, load)
            instruments = [self._instrument(venue, m) for m in markets.values() if self._wanted(m)]
            spots = {}
            for inst in sorted((i for i in instruments if i.kind == "spot"), key=lambda i: SPOT_QUOTES.index(i.quote)):
                spots.setdefault(inst.underlying, inst)
            instruments = [i for i in instruments if i.kind != "spot" or spots[i.underlying] is i]
            if not any(i.kind == "perp" for i in instruments):
                raise IncompleteAnswer(
                    f"{NAME} {venue}: load_markets for {span} returned no perpetual of {list(self.underlyings)}: "
                    "the venue's market list is missing or malformed"
                )
            self._instruments[venue] = sorted(instruments, key=lambda i: i.symbol)
        return self._instruments[venue]

    def _check_market_lists(self, venue: str, span: str, markets: dict) -> None:
        """Each market list the venue serves separately (e.g. Binance spot, USD-M, COIN-M) must be there:
        ccxt drops a list that failed to parse without a word."""
        present = {name for m in markets.values() if isinstance(m, dict) for name in _market_lists(m)}
        missing = [name for name in PROFILES[venue].market_lists if name not in present]
        if missing:
            raise IncompleteAnswer(f"{NAME} {venue}: load_markets for {span} returned no {' and no '.join(missing)} "
                                   "markets: that market list is missing or malformed")

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
            raise MalformedAnswer(f"{NAME} {venue}: {market.get('symbol')}: dated future without an expiry")
        if kind == "future" and _hour(expiry) != PROFILES[venue].delivery_hour_utc:
            log.warning(NAME + " %s: %s expires at %s, not at the venue's usual %02d:00 UTC", venue, market["symbol"],
                        dt.datetime.fromtimestamp(expiry / 1000, tz=dt.timezone.utc), PROFILES[venue].delivery_hour_utc)
        contract = kind != "spot"
        return Instrument(
            venue=venue,
            symbol=market["symbol"],
            venue_id=str(market.get("id")),
            underlying=market["base"],
            kind=kind,
            quote=market["quote"],
            settle=market.get("settle") if contract else None,
            linear=bool(market.get("linear")) if contract else None,
            inverse=bool(market.get("inverse")) if contract else None,
            contract_size=float(market["contractSize"]) if contract and market.get("contractSize") else None,
            expiry_ms=expiry if kind == "future" else None,
            listed_ms=market.get("created") if isinstance(market.get("created"), int) else None,
            funding_hours=PROFILES[venue].declared_funding_hours(market) if kind == "perp" else None,
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
        end = min(end, _today())  # a day is complete once it is over
        chunk_start = start
        while chunk_start < end:
            chunk_end = min(chunk_start + page, end)
            since, until = _ms(chunk_start), _ms(chunk_end)
            span = _span(chunk_start, chunk_end)
            # Once the series has started (or on the last page), a page must reach its last day.
            must_reach = bool(rows) or chunk_end == end

            def fetch_page() -> dict[int, list]:
                candles = exchange.fetch_ohlcv(inst.symbol, "1d", since=since, limit=profile.candles_per_page,
                                               params={**params, "until": until - 1})
                return self._page_of_candles(profile.venue, what, inst.symbol, price, span, candles, since, until,
                                             must_reach)

            rows.update(self.call(profile.venue, what, inst.symbol, span, fetch_page))
            chunk_start = chunk_end
        if rows and len(rows) < (end - _day(min(rows))).days:
            got = {_day(ts) for ts in rows}
            first = _day(min(rows))
            missing = [str(first + dt.timedelta(days=i)) for i in range((end - first).days)
                       if first + dt.timedelta(days=i) not in got]
            log.warning(NAME + " %s: no %s candle of %s for %s", profile.venue, price, inst.symbol, ", ".join(missing[:10]))
        volume_kept = price == "last"
        return pl.DataFrame(
            [{
                "date": _day(ts), "venue": profile.venue, "symbol": inst.symbol, "kind": inst.kind, "price_type": price,
                "open": float(c[1]), "high": float(c[2]), "low": float(c[3]), "close": float(c[4]),
                "volume": float(c[5]) if volume_kept and c[5] is not None else None,
            } for ts, c in sorted(rows.items())],
            schema=RAW_CRYPTO_OHLCV.polars_schema,
        )

    def _page_of_candles(self, venue: str, what: str, symbol: str, price: str, span: str, candles: Any,
                         since: int, until: int, must_reach: bool) -> dict[int, list]:
        if not isinstance(candles, list):
            raise MalformedAnswer(f"{NAME} {venue}: {what} {symbol} for {span} is not a list of candles: "
                                  f"{str(candles)[:200]}")
        page = {}
        for candle in candles:
            ts = self._check_candle(venue, symbol, price, candle)
            if since <= ts < until:
                page[ts] = candle
        last_day = until - DAY_MS
        if must_reach and (not page or max(page) < last_day):
            got = f"stops at {_day(max(page))}" if page else "is empty"
            raise IncompleteAnswer(f"{NAME} {venue}: {what} {symbol} for {span}: the answer {got}, "
                                   f"the window ends on {_day(last_day)}")
        return page

    @staticmethod
    def _check_candle(venue: str, symbol: str, price: str, candle: Any) -> int:
        def bad(reason: str) -> MalformedAnswer:
            return MalformedAnswer(f"{NAME} {venue}: {price} candle of {symbol} is malformed ({reason}): {str(candle)[:200]}")

        if not isinstance(candle, (list, tuple)) or len(candle) < 6 or not isinstance(candle[0], int):
            raise bad("not [timestamp, open, high, low, close, volume]")
        ts = candle[0]
        day = _day(ts)
        if ts % DAY_MS:
            raise bad(f"{day} does not start at 00:00 UTC")
        values = candle[1:5]
        if any(not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0 for v in values):
            raise bad(f"{day} has a missing or non-positive price")
        if candle[2] < max(candle[1], candle[4]) * (1 - 1e-9) or candle[3] > min(candle[1], candle[4]) * (1 + 1e-9):
            raise bad(f"{day} has high/low outside open/close")
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

    def declared_funding_hours(self, profile: VenueProfile, inst: Instrument) -> float | None:
        """The settlement interval the venue declares for a perpetual: from its market entry (Bybit,
        Deribit) or, on Binance, from `fundingInfo` (asked once per run; it lists the USD-M contracts
        whose schedule differs from the default)."""
        if inst.funding_hours is not None or not profile.funding_info:
            return inst.funding_hours
        if inst.inverse:
            return None
        if profile.venue not in self._declared_hours:
            exchange = self.exchange(profile.venue)

            def ask() -> dict[str, float]:
                rows = exchange.fapiPublicGetFundingInfo()
                if not isinstance(rows, list):
                    raise MalformedAnswer(f"{NAME} {profile.venue}: fundingInfo is not a list: {str(rows)[:200]}")
                return {str(r.get("symbol")): float(r["fundingIntervalHours"]) for r in rows
                        if isinstance(r, dict) and r.get("fundingIntervalHours")}

            self._declared_hours[profile.venue] = self.call(profile.venue, "fundingInfo", "(all USD-M perpetuals)",
                                                             "the current schedule", ask)
        return self._declared_hours[profile.venue].get(inst.venue_id)

    def _funding(self, profile: VenueProfile, inst: Instrument, start: dt.date, end: dt.date) -> pl.DataFrame:
        # One day before the window too: the first settlement's interval is the time since the previous one.
        fetch_start = start - dt.timedelta(days=1)
        end = min(end, _today())
        settlements: dict[int, float] = {}
        chunk_start = fetch_start
        while chunk_start < end:
            chunk_end = min(chunk_start + profile.funding_window(), end)
            since, until = _ms(chunk_start), _ms(chunk_end)
            span = _span(chunk_start, chunk_end)
            # Once settlements have started (or on the last window), the venue's schedule says the window
            # holds settlements up to one usual interval before its end.
            must_reach = bool(settlements) or chunk_end == end

            def fetch_window() -> dict[int, float]:
                found = self._funding_window(profile, inst, since, until)
                if must_reach and (not found or max(found) < until - profile.usual_funding_hours * HOUR_MS):
                    got = ("stops at " + _stamp(max(found))) if found else "is empty"
                    raise IncompleteAnswer(
                        f"{NAME} {profile.venue}: fetch_funding_rate_history {inst.symbol} for {span}: the answer "
                        f"{got}, while the venue settles at least every {profile.usual_funding_hours:g} h")
                return found

            settlements.update(self.call(profile.venue, "fetch_funding_rate_history", inst.symbol, span,
                                          fetch_window))
            chunk_start = chunk_end
        if not settlements:
            return pl.DataFrame(schema=RAW_FUNDING.polars_schema)
        frame = pl.DataFrame(
            {"funding_ts": [dt.datetime.fromtimestamp(ts / 1000, tz=dt.timezone.utc).replace(tzinfo=None)
                            for ts in sorted(settlements)],
             "rate": [settlements[ts] for ts in sorted(settlements)]},
            schema={"funding_ts": pl.Datetime("us"), "rate": pl.Float64},
        )
        rows = normalize_settlements(frame, profile.venue, inst.symbol,
                                     declared_hours=self.declared_funding_hours(profile, inst),
                                     usual_hours=profile.usual_funding_hours)
        return rows.filter((pl.col("date") >= start) & (pl.col("date") < end))

    def _funding_window(self, profile: VenueProfile, inst: Instrument, since: int, until: int) -> dict[int, float]:
        """Settlements in [since, until), one request (two halves again when the page came back full)."""
        exchange = self.exchange(profile.venue)
        span = _span(_day(since), _day(until - 1) + dt.timedelta(days=1))
        history = exchange.fetch_funding_rate_history(inst.symbol, since=since, limit=profile.funding_per_page,
                                                      params=profile.funding_until(until))
        if not isinstance(history, list):
            raise MalformedAnswer(f"{NAME} {profile.venue}: fetch_funding_rate_history {inst.symbol} for {span} is "
                                  f"not a list: {str(history)[:200]}")
        if len(history) >= profile.funding_per_page and until - since >= 2 * HOUR_MS:
            middle = since + (until - since) // 2 // HOUR_MS * HOUR_MS
            return {**self._funding_window(profile, inst, since, middle),
                    **self._funding_window(profile, inst, middle, until)}
        found: dict[int, float] = {}
        for row in history:
            ts = row.get("timestamp") if isinstance(row, dict) else None
            rate = profile.funding_rate(row) if isinstance(row, dict) else None
            if not isinstance(ts, int) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
                raise MalformedAnswer(f"{NAME} {profile.venue}: funding row of {inst.symbol} for {span} is malformed: "
                                      f"{str(row)[:200]}")
            if since <= ts < until:
                found[ts] = float(rate)
        return found


def _market_lists(market: dict) -> list[str]:
    """The market lists (as `VenueProfile.market_lists` names them) a ccxt market belongs to."""
    names = [market.get("type")]
    if market.get("contract"):
        names += [name for name in ("linear", "inverse") if market.get(name)]
    return names


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def _stamp(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


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


def _hour(ms: int) -> int:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).hour
