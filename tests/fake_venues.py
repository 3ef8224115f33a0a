"""Binance, Bybit, OKX and Deribit on 127.0.0.1: each venue's public REST API in its own wire format.

The payloads follow the venues' API documentation (field names, string-encoded numbers, envelopes,
sort order, how `limit`, `before`/`after`, `startTime`/`endTime` bound a page). The prices are the
built-in sample market's, so whatever a real ccxt client reads through these servers can be compared
row for row with the sample market:

- binance, bybit, okx: the sample venue `sample_a` as their spot and USDT-margined (linear) contracts,
  and `sample_b` as their coin-margined (inverse) contracts.
- deribit: `sample_b` as its inverse perpetuals and futures, funding as Deribit's hourly rows.

Each server counts requests and can inject faults (`local_http.Fault`: a status, a body, headers, a
truncated body or a hang, a number of times or forever) and empty days, to show what the source does
with 429s, 5xx, junk JSON, timeouts and days without data. `funding_records` replaces a Deribit
instrument's funding history with recorded rows (real venue data).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import polars as pl

from assets.raw.sources.sample import SampleMarket
from local_http import Fault, LocalServer, send  # noqa: F401 - Fault is part of this module's interface

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
PERPETUAL_EXPIRY = {"binance": 4133404800000, "deribit": 32503708800000}
MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
BYBIT_MONTH_CODES = "FGHJKMNQUVXZ"


def ms(value: dt.date | dt.datetime) -> int:
    if isinstance(value, dt.datetime):
        return int(value.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
    return ms(dt.datetime.combine(value, dt.time()))


def num(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True)
class Contract:
    """One sample-market instrument as a venue lists it."""

    symbol: str  # ccxt unified symbol, as the sample market names it
    coin: str
    kind: str  # spot | perp | future
    linear: bool
    contract_size: float | None
    expiry_ms: int | None
    listed_ms: int
    venue_id: str = ""
    segment: str = ""  # binance: spot|fapi|dapi; bybit: spot|linear|inverse; okx: SPOT|SWAP|FUTURES


@dataclass
class Book:
    """The sample market over [first, last], indexed by sample symbol."""

    contracts: dict[str, list[Contract]]  # sample venue -> contracts
    candles: dict[tuple[str, str, str], list[tuple]]  # (sample venue, symbol, price_type) -> [(ts, o, h, l, c, v)]
    funding: dict[tuple[str, str], list[tuple[int, float, float]]]  # (venue, symbol) -> [(ts, rate, hours)]


@lru_cache(maxsize=4)
def sample_book(first: dt.date, last: dt.date, seed: int = 7) -> Book:
    market = SampleMarket(seed=seed, venues=("sample_a", "sample_b"), underlyings=("BTC", "ETH"))
    end = last + dt.timedelta(days=1)
    instruments = market.instruments(first, end)
    listed = instruments.group_by("venue", "symbol").agg(
        pl.col("snapshot_date").min().alias("listed"), pl.col("underlying").first(), pl.col("kind").first(),
        pl.col("linear").first(), pl.col("contract_size").first(), pl.col("expiry_ts").first(),
    ).sort("venue", "symbol")
    contracts: dict[str, list[Contract]] = {}
    for row in listed.iter_rows(named=True):
        contracts.setdefault(row["venue"], []).append(Contract(
            symbol=row["symbol"], coin=row["underlying"], kind=row["kind"], linear=bool(row["linear"]),
            contract_size=row["contract_size"], expiry_ms=ms(row["expiry_ts"]) if row["expiry_ts"] else None,
            listed_ms=ms(row["listed"]),
        ))
    candles: dict[tuple[str, str, str], list[tuple]] = {}
    for row in market.crypto_bars(first, end).sort("date").iter_rows(named=True):
        candles.setdefault((row["venue"], row["symbol"], row["price_type"]), []).append(
            (ms(row["date"]), row["open"], row["high"], row["low"], row["close"], row["volume"]))
    funding: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for row in market.funding(first, end).sort("funding_ts").iter_rows(named=True):
        funding.setdefault((row["venue"], row["symbol"]), []).append(
            (ms(row["funding_ts"]), row["rate"], row["interval_hours"]))
    return Book(contracts, candles, funding)


@dataclass
class VenueServer(LocalServer):
    venue: str
    book: Book
    today: dt.date
    requests: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    empty_days: set[dt.date] = field(default_factory=set)
    overrides: dict[str, object] = field(default_factory=dict)  # path -> JSON body, served as is
    funding_records: dict[str, list[dict]] = field(default_factory=dict)  # deribit instrument -> rows

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if path in r)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        self.requests.append(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if self.serve_fault(request, self.faults, parts.path, parts.query):
            return
        if parts.path in self.overrides:
            return send(request, 200, json.dumps(self.overrides[parts.path]))
        route = getattr(self, f"_{self.venue}")
        try:
            status, payload = route(parts.path, query)
        except KeyError as exc:
            status, payload = 400, {"error": f"unknown instrument {exc}"}
        send(request, status, json.dumps(payload))

    # --------------------------------------------------------------------------------- the market
    def served(self) -> list[tuple[str, Contract]]:
        """(sample venue, contract) for every instrument this venue lists, with its venue id."""
        if self.venue == "deribit":
            chosen = [("sample_b", c) for c in self.book.contracts["sample_b"] if c.kind != "spot"]
        else:
            chosen = [("sample_a", c) for c in self.book.contracts["sample_a"]]
            chosen += [("sample_b", c) for c in self.book.contracts["sample_b"] if c.kind != "spot"]
        return [(source, identify(self.venue, c)) for source, c in chosen]

    def contract(self, segment: str, venue_id: str) -> tuple[str, Contract]:
        for source, c in self.served():
            if c.venue_id == venue_id and (not segment or c.segment == segment):
                return source, c
        raise KeyError(venue_id)

    def candles(self, source: str, c: Contract, price: str, start: int, end: int) -> list[tuple]:
        rows = self.book.candles.get((source, c.symbol, price), [])
        return [r for r in rows if start <= r[0] <= end and _day(r[0]) not in self.empty_days]

    def settlements(self, source: str, c: Contract, start: int, end: int) -> list[tuple[int, float, float]]:
        rows = self.book.funding.get((source, c.symbol), [])
        return [r for r in rows if start <= r[0] <= end and _day(r[0]) not in self.empty_days]

    def funding_hours(self, source: str, c: Contract) -> int:
        """The contract's current settlement interval (its latest settlement's)."""
        rows = self.book.funding.get((source, c.symbol))
        return int(rows[-1][2]) if rows else 8

    def status(self, c: Contract, trading: str, closed: str) -> str:
        return closed if c.expiry_ms is not None and c.expiry_ms < ms(self.today) else trading

    # ------------------------------------------------------------------------------------ binance
    def _binance(self, path: str, q: dict) -> tuple[int, object]:
        segment = next(s for prefix, s in (("/api/", "spot"), ("/fapi/", "fapi"), ("/dapi/", "dapi"))
                       if path.startswith(prefix))
        if path.endswith("/exchangeInfo"):
            symbols = [self._binance_symbol(c) for _, c in self.served() if c.segment == segment]
            return 200, {"timezone": "UTC", "serverTime": ms(self.today), "rateLimits": [], "exchangeFilters": [],
                         "symbols": symbols}
        if path == "/fapi/v1/fundingInfo":  # the USD-M contracts whose interval is not the default 8h
            return 200, [{"symbol": c.venue_id, "adjustedFundingRateCap": "0.03", "adjustedFundingRateFloor": "-0.03",
                          "fundingIntervalHours": hours, "disclaimer": False}
                         for source, c in self.served() if c.segment == "fapi" and c.kind == "perp"
                         for hours in [self.funding_hours(source, c)] if hours != 8]
        source, c = self.contract(segment, q["symbol"])
        start = int(q.get("startTime", 0))
        end = int(q.get("endTime", 2**62))
        limit = int(q.get("limit", 500))
        if path.endswith("/fundingRate"):
            rows = self.settlements(source, c, start, end)[:limit]
            return 200, [{"symbol": c.venue_id, "fundingTime": ts, "fundingRate": f"{rate:.8f}", "markPrice": "0"}
                         for ts, rate, _ in rows]
        price = "mark" if path.endswith("/markPriceKlines") else "last"
        rows = self.candles(source, c, price, start, end)[:limit]
        out = []
        for ts, o, h, low, close, volume in rows:
            if price == "mark":
                out.append([ts, num(o), num(h), num(low), num(close), "0", ts + DAY_MS - 1, "0", 0, "0", "0", "0"])
            elif segment == "dapi":  # COIN-M: volume in contracts, the coin volume in column 7
                contracts = volume * close / c.contract_size
                out.append([ts, num(o), num(h), num(low), num(close), num(contracts), ts + DAY_MS - 1, num(volume),
                            1000, "0", "0", "0"])
            else:
                out.append([ts, num(o), num(h), num(low), num(close), num(volume), ts + DAY_MS - 1,
                            num(volume * close), 1000, "0", "0", "0"])
        return 200, out

    def _binance_symbol(self, c: Contract) -> dict:
        quote = "USDT" if c.linear or c.kind == "spot" else "USD"
        common = {"symbol": c.venue_id, "baseAsset": c.coin, "quoteAsset": quote, "baseAssetPrecision": 8,
                  "quotePrecision": 8, "filters": [{"filterType": "PRICE_FILTER", "minPrice": "0.01",
                                                    "maxPrice": "1000000", "tickSize": "0.01"}]}
        if c.kind == "spot":
            return {**common, "status": "TRADING", "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                    "orderTypes": ["LIMIT", "MARKET"], "permissions": [], "permissionSets": [["SPOT"]]}
        contract = {**common, "pair": f"{c.coin}{quote}", "onboardDate": c.listed_ms,
                    "deliveryDate": c.expiry_ms or PERPETUAL_EXPIRY["binance"],
                    "contractType": "PERPETUAL" if c.kind == "perp" else "CURRENT_QUARTER",
                    "marginAsset": quote if c.linear else c.coin, "pricePrecision": 2, "quantityPrecision": 3,
                    "underlyingType": "COIN"}
        status = self.status(c, "TRADING", "SETTLING")
        if c.linear:
            return {**contract, "status": status}
        return {**contract, "contractStatus": status, "contractSize": c.contract_size}

    # -------------------------------------------------------------------------------------- bybit
    def _bybit(self, path: str, q: dict) -> tuple[int, object]:
        category = q.get("category", "spot")
        if path == "/v5/market/instruments-info":
            rows = [] if q.get("status") == "PreLaunch" else [
                self._bybit_instrument(source, c) for source, c in self.served() if c.segment == category]
            return 200, _bybit_envelope({"category": category, "list": rows, "nextPageCursor": ""})
        source, c = self.contract(category, q["symbol"])
        start = int(q.get("start", q.get("startTime", 0)))
        end = int(q.get("end", q.get("endTime", 2**62)))
        limit = int(q.get("limit", 200))
        if path == "/v5/market/funding/history":
            rows = self.settlements(source, c, start, end)[::-1][:limit]
            return 200, _bybit_envelope({"category": category, "list": [
                {"symbol": c.venue_id, "fundingRate": f"{rate:.8f}", "fundingRateTimestamp": str(ts)}
                for ts, rate, _ in rows]})
        price = "mark" if path == "/v5/market/mark-price-kline" else "last"
        rows = self.candles(source, c, price, start, end)[::-1][:limit]
        out = []
        for ts, o, h, low, close, volume in rows:
            bar = [str(ts), num(o), num(h), num(low), num(close)]
            if price == "last" and (c.linear or c.kind == "spot"):
                bar += [num(volume), num(volume * close)]
            elif price == "last":  # inverse: volume in contracts (USD), turnover in coins
                bar += [num(volume * close), num(volume)]
            out.append(bar)
        return 200, _bybit_envelope({"category": category, "symbol": c.venue_id, "list": out})

    def _bybit_instrument(self, source: str, c: Contract) -> dict:
        quote = "USDT" if c.linear or c.kind == "spot" else "USD"
        common = {"symbol": c.venue_id, "baseCoin": c.coin, "quoteCoin": quote,
                  "lotSizeFilter": {"minOrderQty": "0.001", "maxOrderQty": "100", "qtyStep": "0.001"},
                  "priceFilter": {"tickSize": "0.1", "minPrice": "0.1", "maxPrice": "1999999"}}
        if c.kind == "spot":
            return {**common, "status": "Trading", "marginTrading": "none"}
        kind = ("Linear" if c.linear else "Inverse") + ("Perpetual" if c.kind == "perp" else "Futures")
        lot = {"minOrderQty": "1", "maxOrderQty": "1000000", "qtyStep": "1"} if not c.linear else common["lotSizeFilter"]
        return {**common, "lotSizeFilter": lot, "contractType": kind, "status": self.status(c, "Trading", "Closed"),
                "settleCoin": quote if c.linear else c.coin, "launchTime": str(c.listed_ms),
                "deliveryTime": str(c.expiry_ms or 0),
                "fundingInterval": 60 * self.funding_hours(source, c) if c.kind == "perp" else 0,
                "leverageFilter": {"minLeverage": "1", "maxLeverage": "100", "leverageStep": "0.01"}}

    # ---------------------------------------------------------------------------------------- okx
    def _okx(self, path: str, q: dict) -> tuple[int, object]:
        if path == "/api/v5/public/instruments":
            rows = [self._okx_instrument(c) for _, c in self.served() if c.segment == q["instType"]]
            return 200, {"code": "0", "msg": "", "data": rows}
        source, c = self.contract("", q["instId"])
        after = int(q.get("after", 2**62))
        before = int(q.get("before", -1))
        limit = int(q.get("limit", 100))
        if path == "/api/v5/public/funding-rate-history":
            rows = self.settlements(source, c, before + 1, after - 1)[::-1][:limit]
            return 200, {"code": "0", "msg": "", "data": [
                {"instType": "SWAP", "instId": c.venue_id, "fundingRate": f"{rate:.8f}", "realizedRate": f"{rate:.8f}",
                 "fundingTime": str(ts), "method": "current_period"} for ts, rate, _ in rows]}
        price = "mark" if "mark-price" in path else "last"
        rows = self.candles(source, c, price, before + 1, after - 1)[::-1][:limit]
        out = []
        for ts, o, h, low, close, volume in rows:
            bar = [str(ts), num(o), num(h), num(low), num(close)]
            if price == "last" and c.kind == "spot":
                bar += [num(volume), num(volume * close), num(volume * close)]
            elif price == "last":  # contracts, then the coin volume
                bar += [num(volume / c.contract_size if c.linear else volume * close / c.contract_size),
                        num(volume), num(volume * close)]
            out.append(bar + ["1"])
        return 200, {"code": "0", "msg": "", "data": out}

    def _okx_instrument(self, c: Contract) -> dict:
        quote = "USDT" if c.linear or c.kind == "spot" else "USD"
        row = {"instType": c.segment, "instId": c.venue_id, "listTime": str(c.listed_ms), "tickSz": "0.1",
               "lotSz": "1", "minSz": "1", "lever": "100", "state": self.status(c, "live", "expired"),
               "uly": "", "instFamily": "", "baseCcy": "", "quoteCcy": "", "settleCcy": "", "ctVal": "", "ctMult": "",
               "ctValCcy": "", "ctType": "", "expTime": "", "alias": "", "optType": "", "stk": ""}
        if c.kind == "spot":
            return {**row, "baseCcy": c.coin, "quoteCcy": quote, "lotSz": "0.00000001", "minSz": "0.00001"}
        return {**row, "uly": f"{c.coin}-{quote}", "instFamily": f"{c.coin}-{quote}",
                "settleCcy": quote if c.linear else c.coin, "ctVal": num(c.contract_size), "ctMult": "1",
                "ctValCcy": c.coin if c.linear else "USD", "ctType": "linear" if c.linear else "inverse",
                "expTime": str(c.expiry_ms or ""), "alias": "" if c.kind == "perp" else "quarter"}

    # ------------------------------------------------------------------------------------ deribit
    def _deribit(self, path: str, q: dict) -> tuple[int, object]:
        if path == "/api/v2/public/get_currencies":
            return 200, _rpc([{"currency": coin, "currency_long": coin, "fee_precision": 4, "min_confirmations": 1,
                               "min_withdrawal_fee": 0.0001, "withdrawal_fee": 0.0001}
                              for coin in ("BTC", "ETH")])
        if path == "/api/v2/public/get_instruments":
            return 200, _rpc([self._deribit_instrument(c) for _, c in self.served()])
        source, c = self.contract("", q["instrument_name"])
        start = int(q.get("start_timestamp", 0))
        end = int(q.get("end_timestamp", 2**62))
        if path == "/api/v2/public/get_funding_rate_history" and c.venue_id in self.funding_records:
            rows = [r for r in self.funding_records[c.venue_id] if start <= r["timestamp"] <= end]
            return 200, _rpc(rows[:744])
        if path == "/api/v2/public/get_funding_rate_history":
            rows = []
            for ts, rate, hours in self.settlements(source, c, start, end + int(8 * HOUR_MS)):
                for k in range(int(hours)):  # funding accrues hourly: spread each settlement over its hours
                    hour = ts - (int(hours) - 1 - k) * HOUR_MS
                    if start <= hour <= end:
                        rows.append({"timestamp": hour, "index_price": 0.0, "prev_index_price": 0.0,
                                     "interest_1h": rate / hours, "interest_8h": rate / hours * 8})
            return 200, _rpc(sorted(rows, key=lambda r: r["timestamp"])[:744])
        rows = self.candles(source, c, "last", start, end)
        columns = list(zip(*rows)) if rows else [[]] * 6
        return 200, _rpc({"ticks": list(columns[0]), "open": list(columns[1]), "high": list(columns[2]),
                          "low": list(columns[3]), "close": list(columns[4]), "volume": list(columns[5]),
                          "cost": [v * cl for v, cl in zip(columns[5], columns[4])],
                          "status": "ok" if rows else "no_data"})

    def _deribit_instrument(self, c: Contract) -> dict:
        return {"instrument_name": c.venue_id, "kind": "future", "base_currency": c.coin, "counter_currency": "USD",
                "quote_currency": "USD", "settlement_currency": c.coin, "contract_size": c.contract_size,
                "tick_size": 0.5, "min_trade_amount": c.contract_size, "creation_timestamp": c.listed_ms,
                "expiration_timestamp": c.expiry_ms or PERPETUAL_EXPIRY["deribit"],
                "settlement_period": "perpetual" if c.kind == "perp" else "month",
                "is_active": self.status(c, "yes", "no") == "yes", "instrument_type": "reversed",
                "price_index": f"{c.coin.lower()}_usd", "taker_commission": 0.0005, "maker_commission": 0.0,
                "max_leverage": 50, "rfq": False}


def identify(venue: str, c: Contract) -> Contract:
    """The venue's own id and API segment of a sample instrument."""
    from dataclasses import replace

    quote = "USDT" if c.linear or c.kind == "spot" else "USD"
    expiry = dt.datetime.fromtimestamp(c.expiry_ms / 1000, tz=dt.timezone.utc) if c.expiry_ms else None
    yymmdd = f"{expiry:%y%m%d}" if expiry else ""
    ddmonyy = f"{expiry.day}{MONTHS[expiry.month - 1]}{expiry:%y}" if expiry else ""
    if venue == "binance":
        segment = "spot" if c.kind == "spot" else ("fapi" if c.linear else "dapi")
        suffix = {"spot": "", "perp": "" if c.linear else "_PERP", "future": f"_{yymmdd}"}[c.kind]
        return replace(c, venue_id=f"{c.coin}{quote}{suffix}", segment=segment)
    if venue == "bybit":
        segment = "spot" if c.kind == "spot" else ("linear" if c.linear else "inverse")
        if c.kind == "future":
            venue_id = f"{c.coin}-{ddmonyy}" if c.linear else f"{c.coin}USD{BYBIT_MONTH_CODES[expiry.month - 1]}{expiry:%y}"
        else:
            venue_id = f"{c.coin}{quote}"
        return replace(c, venue_id=venue_id, segment=segment)
    if venue == "okx":
        segment = {"spot": "SPOT", "perp": "SWAP", "future": "FUTURES"}[c.kind]
        suffix = {"spot": "", "perp": "-SWAP", "future": f"-{yymmdd}"}[c.kind]
        return replace(c, venue_id=f"{c.coin}-{quote}{suffix}", segment=segment)
    if venue == "deribit":
        return replace(c, venue_id=f"{c.coin}-{'PERPETUAL' if c.kind == 'perp' else ddmonyy}", segment="")
    raise ValueError(venue)


def _day(ts: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts / 1000, tz=dt.timezone.utc).date()


def _bybit_envelope(result: dict) -> dict:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 0}


def _rpc(result: object) -> dict:
    return {"jsonrpc": "2.0", "result": result, "usIn": 0, "usOut": 0, "usDiff": 0, "testnet": False}


class Venues:
    """All four venue servers, started together; `endpoints` is what `live.endpoints` takes."""

    def __init__(self, first: dt.date, last: dt.date, today: dt.date | None = None):
        book = sample_book(first, last)
        self.servers = {v: VenueServer(v, book, today or last).start() for v in ("binance", "bybit", "okx", "deribit")}

    @property
    def endpoints(self) -> dict[str, str]:
        return {v: s.url for v, s in self.servers.items()}

    def __getitem__(self, venue: str) -> VenueServer:
        return self.servers[venue]

    def request_counts(self) -> Counter:
        return Counter({v: len(s.requests) for v, s in self.servers.items()})

    def reset_counts(self) -> None:
        for server in self.servers.values():
            server.requests.clear()

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
