"""Yahoo Finance on 127.0.0.1: the endpoints yfinance calls, in the JSON Yahoo sends.

yfinance makes four kinds of request for a daily history: `fc.yahoo.com` (a cookie), `/v1/test/getcrumb`
(a crumb), `/v8/finance/chart/<ticker>?range=1d` (the exchange's time zone) and
`/v8/finance/chart/<ticker>?period1=..&period2=..&interval=1d` (the bars). An unknown ticker gets Yahoo's
404 chart error and then a 404 from `/v10/finance/quoteSummary`, which yfinance asks as a fallback.

Bars are daily timestamps at the exchange's local midnight (what Yahoo sends for daily bars), from:
- the built-in sample market for the default tickers (New York), with no bar on NYSE holidays;
- a recorded yfinance history CSV (../shared/realdata/yahoo), in that file's own time zone.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import polars as pl

from assets.raw.sources.sample import SampleMarket
from local_http import Fault, LocalServer, send

COOKIE = "A3=d=AQABBKfake&S=AQAAAfake; Expires=Fri, 26 Nov 2027 00:00:00 GMT; Max-Age=31557600; Domain=.yahoo.com; Path=/; Secure; SameSite=None"


@dataclass
class Series:
    timezone: str
    rows: list[tuple[dt.date, float, float, float, float, float]]  # date, open, high, low, close, volume


@dataclass
class YahooServer(LocalServer):
    series: dict[str, Series]
    requests: list[str] = field(default_factory=list)
    rate_limited: int = 0  # answer this many chart requests with 429 first
    faults: list[Fault] = field(default_factory=list)
    missing_days: set[dt.date] = field(default_factory=set)  # bars left out of every answer

    def requests_to(self, path: str) -> int:
        return sum(1 for r in self.requests if path in r)

    def chart_requests(self, ticker: str) -> int:
        return sum(1 for r in self.requests if "/v8/finance/chart/" in r and "period1" in r and ticker in unquote(r))

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        self.requests.append(f"{request.headers.get('X-Forwarded-Host')}{request.path}")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if self.serve_fault(request, self.faults, parts.path, parts.query):
            return
        if parts.path == "/":
            return send(request, 404, "<html>Not found</html>", "text/html", headers={"Set-Cookie": COOKIE})
        if parts.path == "/v1/test/getcrumb":
            return send(request, 200, "fAkEcRuMb", "text/plain")
        if parts.path.startswith("/v10/finance/quoteSummary/"):
            ticker = unquote(parts.path.rsplit("/", 1)[1])
            return send(request, 404, json.dumps({"quoteSummary": {"result": None, "error": {
                "code": "Not Found", "description": f"Quote not found for symbol: {ticker}"}}}))
        if parts.path.startswith("/v8/finance/chart/"):
            ticker = unquote(parts.path.rsplit("/", 1)[1])
            if "period1" in query and self.rate_limited > 0:
                self.rate_limited -= 1
                return send(request, 429, "Too Many Requests", "text/plain")
            if ticker not in self.series:
                return send(request, 404, json.dumps({"chart": {"result": None, "error": {
                    "code": "Not Found", "description": "No data found, symbol may be delisted"}}}))
            return send(request, 200, json.dumps(self._chart(ticker, query)))
        send(request, 404, "{}")

    def _chart(self, ticker: str, query: dict) -> dict:
        series = self.series[ticker]
        zone = ZoneInfo(series.timezone)
        stamped = [(int(dt.datetime.combine(r[0], dt.time(), zone).timestamp()), r) for r in series.rows
                   if r[0] not in self.missing_days]
        if "period1" in query:
            first, last = int(query["period1"]), int(query["period2"])
            stamped = [(ts, r) for ts, r in stamped if first <= ts < last]
        else:  # range=1d: the latest session, asked for the time zone
            stamped = stamped[-1:]
        offset = int(zone.utcoffset(dt.datetime(2025, 1, 15)).total_seconds())
        meta = {"currency": "USD", "symbol": ticker, "exchangeName": "NYB", "instrumentType": "INDEX",
                "firstTradeDate": 0, "regularMarketTime": stamped[-1][0] if stamped else 0, "gmtoffset": offset,
                "timezone": "EST", "exchangeTimezoneName": series.timezone, "priceHint": 2,
                "hasPrePostMarketData": False, "dataGranularity": "1d", "range": "",
                "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
                "currentTradingPeriod": {name: {"timezone": "EST", "start": 0, "end": 0, "gmtoffset": offset}
                                         for name in ("pre", "regular", "post")}}
        result = {"meta": meta}
        if stamped:
            rows = [r for _, r in stamped]
            result["timestamp"] = [ts for ts, _ in stamped]
            result["indicators"] = {
                "quote": [{"open": [r[1] for r in rows], "high": [r[2] for r in rows], "low": [r[3] for r in rows],
                           "close": [r[4] for r in rows], "volume": [int(r[5]) for r in rows]}],
                "adjclose": [{"adjclose": [r[4] for r in rows]}]}
        else:
            result["indicators"] = {"quote": [{}], "adjclose": [{}]}
        return {"chart": {"result": [result], "error": None}}


def sample_series(first: dt.date, last: dt.date, tickers: dict[str, str], seed: int = 7) -> dict[str, Series]:
    """The sample market's traditional bars, by ticker, on New York dates."""
    bars = SampleMarket(seed=seed, traditional=tickers).traditional_bars(first, last + dt.timedelta(days=1))
    out = {}
    for ticker in tickers.values():
        rows = bars.filter(pl.col("ticker") == ticker).sort("date")
        out[ticker] = Series("America/New_York", [
            # Yahoo sends a volume of 0 for indices.
            (r["date"], r["open"], r["high"], r["low"], r["close"], _volume(r["volume"])) for r in rows.iter_rows(named=True)])
    return out


def _volume(value: float | None) -> float:
    return 0.0 if value is None or value != value else value


def recorded_series(csv: Path) -> Series:
    """A yfinance history CSV (tz-aware Date column) as a series in the file's own time zone."""
    frame = pl.read_csv(csv).sort("Date")
    offset = frame["Date"][0][-6:]
    zone = {"+02:00": "Africa/Johannesburg", "+01:00": "Europe/London", "-05:00": "America/New_York",
            "-04:00": "America/New_York"}[offset]
    return Series(zone, [(dt.date.fromisoformat(r["Date"][:10]), r["Open"], r["High"], r["Low"], r["Close"], r["Volume"])
                         for r in frame.iter_rows(named=True)])
