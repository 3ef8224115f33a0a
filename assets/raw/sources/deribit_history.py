"""Deribit history of expired futures through its public chart data, with its index for basis.

Deribit drops expired futures from `get_instruments`, but `public/get_tradingview_chart_data` still
answers by instrument name. Names come from the expiry schedule: the quarterlies deliver on the last
Friday of Mar/Jun/Sep/Dec at 08:00 UTC and are named `BTC-27DEC24` (day without a leading zero, month,
two-digit year). Per coin it reads:

- each quarterly of the range: one chart-data request (1D resolution) over the part of the range it may
  trade in; the contracts are inverse (settled in the coin), 10 USD (BTC) or 1 USD (others) per contract;
- the perpetual `BTC-PERPETUAL`: chart data, and funding from `public/get_funding_rate_history`
  (hourly rows, `interest_1h` is what settled that hour; 744 rows a request, so 31 days a request);
- the index `btc_usd` from `public/get_index_chart_data` (range `all`, one request per coin): spot for basis,
  stored as symbol BTC/USD, kind spot, price_type index. A day's open is the index at 00:00 UTC, its close
  the index at the next 00:00 (the last point at or before it), high and low over the points in between,
  so it reads right whether the points are hourly or daily.

Instrument snapshots are rebuilt from the days that have candles and marked reconstructed.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any, Callable, Iterable

import ccxt
import polars as pl

from warehouse.schemas import RAW_CRYPTO_OHLCV, RAW_FUNDING

from .base import SourceError
from .binance_archive import CONTRACT_LIFE_DAYS, quarterly_expiries_between
from .exchanges import ExchangeSource
from .funding_history import normalize_settlements
from .routed import HistoryStats, ReconstructedInstrument, concat_frames, snapshots_from_bars

VENUE = "deribit"
NAME = "deribit_rest"  # one name for the source: settings routes, progress, summaries, messages
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
FUNDING_ROWS_PER_PAGE = 744  # hourly rows one funding-history request returns
CHART_DAYS_PER_PAGE = 1000


def instrument_name(coin: str, expiry: dt.datetime | None) -> str:
    """Deribit's name: BTC-PERPETUAL, or BTC-27DEC24 for the future expiring on 27 Dec 2024."""
    if expiry is None:
        return f"{coin}-PERPETUAL"
    return f"{coin}-{expiry.day}{MONTHS[expiry.month - 1]}{expiry:%y}"


def deribit_instrument(coin: str, kind: str, expiry: dt.datetime | None = None) -> ReconstructedInstrument:
    if kind == "spot":
        return ReconstructedInstrument(VENUE, f"{coin}/USD", coin, "spot", "USD", None, None, None, None, None)
    symbol = f"{coin}/USD:{coin}" + (f"-{expiry:%y%m%d}" if expiry else "")
    return ReconstructedInstrument(VENUE, symbol, coin, kind, "USD", coin, False, True,
                                   10.0 if coin == "BTC" else 1.0, expiry)


class DeribitHistorySource:
    """Deribit futures, perpetual, funding and index history by instrument name (see the module doc).

    endpoint: a base URL replacing Deribit's API host (a mirror or a local server)."""

    name = NAME

    def __init__(self, underlyings: Iterable[str] = ("BTC", "ETH"), endpoint: str | None = None,
                 max_retries: int = 5, backoff_seconds: float = 1.0, timeout_seconds: float = 30.0,
                 venue_budget_seconds: float = 40.0, environ: dict[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.underlyings = tuple(underlyings)
        self.stats = HistoryStats()
        # The live source builds the ccxt instance (endpoint, timeouts, credentials, junk-body check) and
        # owns the retry rule and the venue's time budget.
        self._live = ExchangeSource((VENUE,), self.underlyings, endpoints={VENUE: endpoint} if endpoint else None,
                                    max_retries=max_retries, backoff_seconds=backoff_seconds,
                                    timeout_seconds=timeout_seconds, venue_budget_seconds=venue_budget_seconds,
                                    environ=environ, sleep=sleep)
        self._index: dict[str, list] = {}
        self._bars: dict[tuple[dt.date, dt.date], pl.DataFrame] = {}

    @property
    def exchange(self) -> ccxt.Exchange:
        return self._live.exchange(VENUE)

    # ------------------------------------------------------------------------------- CryptoSource
    def crypto_bars(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        if (start, end) not in self._bars:
            frames = []
            for coin in self.underlyings:
                frames.append(self._index_bars(coin, start, end))
                frames.append(self._chart(deribit_instrument(coin, "perp"), coin, None, start, end))
                for expiry in quarterly_expiries_between(start, end):
                    first = max(start, expiry.date() - dt.timedelta(days=CONTRACT_LIFE_DAYS))
                    stop = min(end, expiry.date() + dt.timedelta(days=1))
                    if first < stop:
                        frames.append(self._chart(deribit_instrument(coin, "future", expiry), coin, expiry, first, stop))
            self._bars[(start, end)] = concat_frames(frames, RAW_CRYPTO_OHLCV.polars_schema,
                                                     ["date", "venue", "symbol", "price_type"])
        return self._bars[(start, end)]

    def instruments(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        known = []
        for coin in self.underlyings:
            known += [deribit_instrument(coin, "spot"), deribit_instrument(coin, "perp")]
            known += [deribit_instrument(coin, "future", e) for e in quarterly_expiries_between(start, end)]
        return snapshots_from_bars(self.crypto_bars(start, end), known)

    def funding(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        frames = []
        for coin in self.underlyings:
            name = instrument_name(coin, None)
            records: dict[int, dict] = {}
            page_start = _ms(start)
            while page_start < _ms(end):
                page_end = min(page_start + FUNDING_ROWS_PER_PAGE * HOUR_MS, _ms(end))
                answer = self._call(f"funding history of {name}", page_start, page_end,
                                    lambda: self.exchange.publicGetGetFundingRateHistory({
                                        "instrument_name": name, "start_timestamp": page_start,
                                        "end_timestamp": page_end - 1}))
                for row in _result(answer, name, list):
                    if not isinstance(row, dict) or not isinstance(row.get("timestamp"), int) or \
                            not _finite(row.get("interest_1h")):
                        raise SourceError(f"{NAME}: funding row of {name} is malformed: {str(row)[:200]}")
                    if page_start <= row["timestamp"] < page_end:
                        records[row["timestamp"]] = row
                page_start = page_end
            if records:
                # Deribit settles every hour; interest_1h is the hour's rate (interest_8h would overstate it 8x).
                frame = pl.DataFrame(
                    [{"funding_ts": dt.datetime.fromtimestamp(ts / 1000, dt.timezone.utc).replace(tzinfo=None),
                      "rate": float(r["interest_1h"])} for ts, r in sorted(records.items())],
                    schema={"funding_ts": pl.Datetime("us"), "rate": pl.Float64})
                frames.append(normalize_settlements(frame, VENUE, deribit_instrument(coin, "perp").symbol,
                                                    declared_hours=1.0))
        return concat_frames(frames, RAW_FUNDING.polars_schema, ["date", "venue", "symbol", "funding_ts"])

    # ------------------------------------------------------------------------------------ reading
    def _chart(self, inst: ReconstructedInstrument, coin: str, expiry: dt.datetime | None, start: dt.date,
               end: dt.date) -> pl.DataFrame:
        name = instrument_name(coin, expiry)
        candles: dict[int, tuple] = {}
        page_start = start
        while page_start < end:
            page_end = min(page_start + dt.timedelta(days=CHART_DAYS_PER_PAGE), end)
            since, until = _ms(page_start), _ms(page_end)
            answer = self._call(f"chart data of {name}", since, until,
                                lambda: self.exchange.publicGetGetTradingviewChartData({
                                    "instrument_name": name, "start_timestamp": since, "end_timestamp": until - 1,
                                    "resolution": "1D"}))
            result = _result(answer, name, dict)
            if result.get("status") == "no_data":
                page_start = page_end
                continue
            columns = [result.get(k) for k in ("ticks", "open", "high", "low", "close", "volume")]
            if not all(isinstance(c, list) for c in columns) or len({len(c) for c in columns}) != 1:
                raise SourceError(f"{NAME}: chart data of {name} for {page_start} to {page_end} is malformed: "
                                  f"{str(result)[:200]}")
            for ts, o, h, low, c, volume in zip(*columns):
                if not isinstance(ts, int) or ts % DAY_MS or not all(_finite(v) and v > 0 for v in (o, h, low, c)):
                    raise SourceError(f"{NAME}: candle of {name} for {_day(ts) if isinstance(ts, int) else ts} "
                                      f"is malformed: {[ts, o, h, low, c, volume]}")
                if since <= ts < until and (expiry is None or ts < _ms(expiry)):
                    candles[ts] = (o, h, low, c, volume)
            page_start = page_end
        return pl.DataFrame(
            [{"date": _day(ts), "venue": VENUE, "symbol": inst.symbol, "kind": inst.kind, "price_type": "last",
              "open": float(o), "high": float(h), "low": float(low), "close": float(c),
              "volume": float(v) if _finite(v) else None} for ts, (o, h, low, c, v) in sorted(candles.items())],
            schema=RAW_CRYPTO_OHLCV.polars_schema,
        )

    def _index_bars(self, coin: str, start: dt.date, end: dt.date) -> pl.DataFrame:
        index_name = f"{coin.lower()}_usd"
        if index_name not in self._index:
            answer = self._call(f"index chart of {index_name}", _ms(start), _ms(end),
                                lambda: self.exchange.publicGetGetIndexChartData({"index_name": index_name,
                                                                                  "range": "all"}))
            points = _result(answer, index_name, list)
            if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], int) and _finite(p[1]) and p[1] > 0
                       for p in points):
                raise SourceError(f"{NAME}: index chart of {index_name} is malformed: {str(points)[:200]}")
            self._index[index_name] = sorted(points)
        points = self._index[index_name]
        spot = deribit_instrument(coin, "spot")
        rows = []
        for offset in range((end - start).days):
            day = start + dt.timedelta(days=offset)
            opened, closed = _ms(day), _ms(day) + DAY_MS
            inside = [p for p in points if opened <= p[0] <= closed]
            if not inside or inside[0][0] != opened or inside[-1][0] != closed:
                continue  # the index is not known at both ends of the day
            values = [float(v) for _, v in inside]
            rows.append({"date": day, "venue": VENUE, "symbol": spot.symbol, "kind": "spot", "price_type": "index",
                         "open": values[0], "high": max(values), "low": min(values), "close": values[-1],
                         "volume": None})
        return pl.DataFrame(rows, schema=RAW_CRYPTO_OHLCV.polars_schema)

    def _call(self, what: str, since: int, until: int, call: Callable[[], Any]) -> Any:
        """One request under the live source's retry rule, each attempt counted."""

        def ask() -> Any:
            self.stats.requests += 1
            return call()

        endpoint, name = what.rsplit(" ", 1)  # e.g. "chart data of", "BTC-30JUN23"
        return self._live.call(VENUE, endpoint, name, f"{_day(since)} to {_day(until - 1)}", ask)

def _result(answer: Any, name: str, kind: type) -> Any:
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, kind):
        raise SourceError(f"{NAME}: answer for {name} has no {kind.__name__} result: {str(answer)[:200]}")
    return result


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _ms(moment: dt.date | dt.datetime) -> int:
    """Epoch milliseconds of a UTC day's 00:00, or of a naive UTC moment."""
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day)
    return int(moment.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def _day(ms: int) -> dt.date:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)).date()
