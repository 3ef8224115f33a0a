"""Binance history over its REST API through ccxt, expired quarterlies included.

Everything is read by the venue's own symbol, without loading the market list (which lacks expired
contracts): spot `BTCUSDT` (`/api/v3/klines`), perpetuals `BTCUSDT` / `BTCUSD_PERP` (klines and mark
price klines), funding through the live source (`ExchangeSource`, the perpetuals are still listed).
Quarterlies:

- Delivery klines (`/fapi/v1/klines?symbol=BTCUSDT_230630`) for the families in `delivery_margins`:
  one request per contract and range (a contract lives < 1500 days), its own candles, expiry day included.
  Binance still serves expired USD-M contracts; an expired COIN-M contract is refused ("Invalid symbol"),
  and a refused contract is read from the continuous klines instead.
- Continuous-contract klines (`/fapi/v1/continuousKlines`, `/dapi/v1/continuousKlines`, pair and
  `CURRENT_QUARTER` / `NEXT_QUARTER`): two series per pair, paged by date range at 1500 days a request.
  Each day's candle is attached to the contract that was current (or next) that day on the expiry schedule
  (last Friday of Mar/Jun/Sep/Dec, 08:00 UTC). An expiry day's candle is dropped: the series switches
  contract at 08:00, so that candle mixes two contracts (the delivery day has a negative dte at the close,
  so no basis is lost).

Instrument snapshots are rebuilt from the days that have candles and marked reconstructed.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, Callable, Iterable

import ccxt
import polars as pl

from warehouse.schemas import RAW_CRYPTO_OHLCV

from .base import SourceError
from .binance_archive import MARGINS, VENUE, BinanceContract, contract_life, quarterlies
from .calendars import quarterly_expiries_from
from .exchanges import ExchangeSource
from .routed import HistoryStats, concat_frames, snapshots_from_bars

log = logging.getLogger(__name__)

NAME = "binance_rest"  # one name for the source: settings routes, progress, summaries, messages
DAY_MS = 86_400_000
# ccxt's implicit method prefix and the most candles one request returns, per API.
API = {"spot": ("publicGet", 1000), "um": ("fapiPublicGet", 1500), "cm": ("dapiPublicGet", 1500)}
CONTRACT_TYPES = {"CURRENT_QUARTER": 0, "NEXT_QUARTER": 1}  # position on the schedule after the day


class BinanceRestHistorySource:
    """Binance history through ccxt (see the module doc).

    endpoint: a base URL replacing Binance's API host (a mirror or a local server); margins: `um`
    (USD-M, linear) and/or `cm` (COIN-M, inverse); delivery_margins: the families read by delivery klines."""

    name = NAME

    def __init__(self, underlyings: Iterable[str] = ("BTC", "ETH"), margins: Iterable[str] = MARGINS,
                 delivery_margins: Iterable[str] = ("um",), endpoint: str | None = None, max_retries: int = 5,
                 backoff_seconds: float = 1.0, timeout_seconds: float = 30.0, venue_budget_seconds: float = 40.0,
                 environ: dict[str, str] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.underlyings = tuple(underlyings)
        self.margins = tuple(margins)
        self.delivery_margins = tuple(m for m in delivery_margins if m in self.margins)
        if any(m not in MARGINS for m in self.margins):
            raise SourceError(f"{NAME}: margins must be among {MARGINS}, got {list(self.margins)}")
        self.stats = HistoryStats()
        # The live source builds the ccxt instance and owns the retry rule and the venue's time budget.
        self.live = ExchangeSource((VENUE,), self.underlyings, endpoints={VENUE: endpoint} if endpoint else None,
                                   max_retries=max_retries, backoff_seconds=backoff_seconds,
                                   timeout_seconds=timeout_seconds, venue_budget_seconds=venue_budget_seconds,
                                   environ=environ, sleep=sleep)
        self._continuous: dict[tuple[str, str, dt.date, dt.date], pl.DataFrame] = {}
        self._bars: dict[tuple[dt.date, dt.date], pl.DataFrame] = {}

    @property
    def exchange(self) -> ccxt.Exchange:
        exchange = self.live.exchange(VENUE)
        if not getattr(exchange, "_history_counted", False):
            answered = exchange.on_rest_response

            def count(*args):
                self.stats.requests += 1
                return answered(*args)

            exchange.on_rest_response = count
            exchange._history_counted = True
        return exchange

    # ------------------------------------------------------------------------------- CryptoSource
    def crypto_bars(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        if (start, end) not in self._bars:
            frames = []
            for coin in self.underlyings:
                spot = BinanceContract("spot", coin, "spot")
                frames.append(self._named_series(spot, "spot", "klines", "last", start, end))
                for margin in self.margins:
                    perp = BinanceContract(margin, coin, "perp")
                    frames.append(self._named_series(perp, margin, "klines", "last", start, end))
                    frames.append(self._named_series(perp, margin, "markPriceKlines", "mark", start, end))
                    frames.append(self._quarterlies(margin, coin, start, end))
            self._bars[(start, end)] = concat_frames(frames, RAW_CRYPTO_OHLCV.polars_schema,
                                                     ["date", "venue", "symbol", "price_type"])
        return self._bars[(start, end)]

    def instruments(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        known = []
        for coin in self.underlyings:
            known.append(BinanceContract("spot", coin, "spot").instrument())
            for margin in self.margins:
                known.append(BinanceContract(margin, coin, "perp").instrument())
                known += [c.instrument() for c in quarterlies(margin, coin, start, end)]
        return snapshots_from_bars(self.crypto_bars(start, end), known)

    def funding(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        """Funding of the perpetuals (still listed): the live source's paged funding history."""
        self.exchange  # noqa: B018 - count its requests too
        return self.live.funding(start, end)

    def _named_series(self, contract: BinanceContract, api: str, endpoint: str, price_type: str, start: dt.date,
                      end: dt.date) -> pl.DataFrame:
        """Spot or perpetual candles by the venue's symbol; an unknown symbol is an error."""
        rows = self._klines(api, endpoint, {"symbol": contract.venue_id}, f"{contract.venue_id} {endpoint}", start, end)
        if rows is None:
            raise SourceError(f"{NAME}: {endpoint} of {contract.venue_id} for {start} to "
                              f"{end - dt.timedelta(days=1)} refused: Invalid symbol")
        return _frame(contract, rows, f"{contract.venue_id} {endpoint}", price_type)

    # -------------------------------------------------------------------------------- quarterlies
    def _quarterlies(self, margin: str, coin: str, start: dt.date, end: dt.date) -> pl.DataFrame:
        if margin not in self.delivery_margins:
            return self._continuous_series(margin, coin, start, end)
        frames = []
        for contract in quarterlies(margin, coin, start, end):
            life = contract_life(contract, start, end)
            if life is None:
                continue
            rows = self._klines(margin, "klines", {"symbol": contract.venue_id}, contract.venue_id, *life)
            if rows is None:
                log.info(NAME + ": %s refused (expired %s contract); reading it from continuous klines",
                         contract.venue_id, margin)
                continuous = self._continuous_series(margin, coin, start, end)
                frames.append(continuous.filter(pl.col("symbol") == contract.symbol))
                continue
            expiry_ms = contract.expiry_ms()
            frames.append(_frame(contract, [r for r in rows if int(r[0]) < expiry_ms], f"{contract.venue_id} klines",
                                 "last"))
        return concat_frames(frames, RAW_CRYPTO_OHLCV.polars_schema, ["date", "symbol"])

    def _continuous_series(self, margin: str, coin: str, start: dt.date, end: dt.date) -> pl.DataFrame:
        key = (margin, coin, start, end)
        if key not in self._continuous:
            pair = BinanceContract(margin, coin, "perp").pair
            by_contract: dict[BinanceContract, list] = {}
            for contract_type, position in CONTRACT_TYPES.items():
                rows = self._klines(margin, "continuousKlines", {"pair": pair, "contractType": contract_type},
                                    f"{pair} {contract_type}", start, end)
                if rows is None:
                    raise SourceError(f"{NAME}: continuous klines of {pair} {contract_type} for {start} to "
                                      f"{end - dt.timedelta(days=1)} were refused")
                for row in rows:
                    day = _day(int(row[0]))
                    upcoming = quarterly_expiries_from(day, 2)
                    if upcoming[0].date() == day:
                        continue  # the series switches contract at 08:00 on an expiry day: a mixed candle
                    contract = BinanceContract(margin, coin, "future", upcoming[position])
                    by_contract.setdefault(contract, []).append(row)
            frames = [_frame(c, rows, f"{pair} continuous klines", "last") for c, rows in by_contract.items()]
            self._continuous[key] = concat_frames(frames, RAW_CRYPTO_OHLCV.polars_schema, ["date", "symbol"])
        return self._continuous[key]

    def _klines(self, api: str, endpoint: str, params: dict, what: str, start: dt.date,
                end: dt.date) -> list | None:
        """All 1d klines of [start, end) from `api` (spot, um, cm), one request per page of days;
        None when the venue refuses the symbol."""
        prefix, per_page = API[api]
        method = getattr(self.exchange, prefix + endpoint[0].upper() + endpoint[1:])
        rows: dict[int, list] = {}
        page_start = start
        while page_start < end:
            page_end = min(page_start + dt.timedelta(days=per_page), end)
            since, until = _ms(page_start), _ms(page_end)
            request = {**params, "interval": "1d", "startTime": since, "endTime": until - 1, "limit": per_page}
            answer = self._request(what, page_start, page_end, lambda: method(request))
            if answer is None:
                return None
            if not isinstance(answer, list):
                raise SourceError(f"{NAME}: {endpoint} of {what} for {page_start} to {page_end} is not a list: "
                                  f"{str(answer)[:200]}")
            for row in answer:
                if not isinstance(row, list) or len(row) < 8:
                    raise SourceError(f"{NAME}: {endpoint} row of {what} is malformed: {str(row)[:200]}")
                if since <= int(row[0]) < until:
                    rows[int(row[0])] = row
            page_start = page_end
        return [rows[ts] for ts in sorted(rows)]

    def _request(self, what: str, start: dt.date, end: dt.date, call: Callable[[], Any]) -> Any:
        """One call under the live source's retry rule (transient failures asked again within the venue's
        budget); None when the venue refuses the symbol (an expired COIN-M contract)."""

        def ask() -> Any:
            try:
                return call()
            except ccxt.BadSymbol:
                return None
            except ccxt.ExchangeError as exc:
                if "Invalid symbol" in str(exc):
                    return None
                raise

        return self.live.call(VENUE, "klines", what, _span(start, end), ask)

def _frame(contract: BinanceContract, rows: list, where: str, price_type: str) -> pl.DataFrame:
    """raw.crypto_ohlcv rows of klines; the coin volume is column 7 on COIN-M, none for mark candles."""
    out = []
    for row in rows:
        opened = int(row[0])
        day = _day(opened)
        if opened % DAY_MS:
            raise SourceError(f"{NAME}: {where}: candle of {contract.venue_id} for {day} does not open at 00:00 UTC")
        try:
            prices = [float(v) for v in row[1:5]]
            volume = None if price_type != "last" else float(row[7] if contract.margin == "cm" else row[5])
        except (TypeError, ValueError):
            raise SourceError(f"{NAME}: {where}: candle of {contract.venue_id} for {day} is malformed: {row}") from None
        if min(prices) <= 0:
            raise SourceError(f"{NAME}: {where}: candle of {contract.venue_id} for {day} has a non-positive price: {row}")
        out.append({"date": day, "venue": VENUE, "symbol": contract.symbol, "kind": contract.kind,
                    "price_type": price_type, "open": prices[0], "high": prices[1], "low": prices[2],
                    "close": prices[3], "volume": volume})
    return pl.DataFrame(out, schema=RAW_CRYPTO_OHLCV.polars_schema)


def _span(start: dt.date, end: dt.date) -> str:
    return f"{start} to {end - dt.timedelta(days=1)}"


def _ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)


def _day(ms: int) -> dt.date:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)).date()
