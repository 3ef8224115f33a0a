"""Faults injected into the local venues and Yahoo, read by the real ccxt and yfinance clients.

Each case states what the server does, and asserts how often it was asked (counted by the server), whether
the source recovered or refused, and the message. Waits are recorded instead of slept (a Retry-After is
seen in the waits), timeouts and budgets are a fraction of a second, so the whole module runs in seconds.
At the end it prints the figures: faults injected, survived by retrying, refused with a clear error.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import polars as pl
import pytest
from yfinance.data import YfData

from assets.raw.sources.base import GaveUp, SourceError
from assets.raw.sources.exchanges import ExchangeSource
from assets.raw.sources.yahoo import YahooSource
from conftest import print_figures
from fake_venues import Venues
from fake_yahoo import YahooServer, sample_series
from local_http import Fault

DAY = (dt.date(2025, 3, 3), dt.date(2025, 3, 4))
THREE_DAYS = (dt.date(2025, 3, 3), dt.date(2025, 3, 6))
OUTCOMES: Counter = Counter()


def survived(kind: str) -> None:
    OUTCOMES["injected"] += 1
    OUTCOMES["survived"] += 1


def refused(error: SourceError, *names: str) -> str:
    """A refusal counts when its message names everything a reader needs."""
    message = str(error)
    for name in names:
        assert name in message, (name, message)
    OUTCOMES["injected"] += 1
    OUTCOMES["refused"] += 1
    return message


def figures_line() -> str:
    """The figures of the cases run so far (for the README's Reliability section)."""
    return (f"fault injection: {OUTCOMES['injected']} faults injected, {OUTCOMES['survived']} survived by "
            f"retrying, {OUTCOMES['refused']} refused with a clear error")


@pytest.fixture(scope="module", autouse=True)
def figures(request):
    yield
    print_figures(request, figures_line())
    assert OUTCOMES["injected"] == OUTCOMES["survived"] + OUTCOMES["refused"]


@pytest.fixture(scope="module")
def venues():
    servers = Venues(dt.date(2025, 2, 1), dt.date(2025, 3, 31))
    yield servers
    servers.stop()


@pytest.fixture(autouse=True)
def clean(venues):
    for server in venues.servers.values():
        server.faults.clear()
        server.empty_days.clear()
        server.overrides.clear()
    venues.reset_counts()


def crypto(venues, venue, sleeps=None, **kwargs) -> ExchangeSource:
    settings = {"max_retries": 3, "backoff_seconds": 0.01, "timeout_seconds": 0.3, "venue_budget_seconds": 5.0}
    return ExchangeSource((venue,), ("BTC",), endpoints=venues.endpoints,
                          sleep=sleeps.append if sleeps is not None else (lambda s: None), **{**settings, **kwargs})


def last_candles(bars: pl.DataFrame, symbol: str) -> list[dt.date]:
    return bars.filter((pl.col("symbol") == symbol) & (pl.col("price_type") == "last"))["date"].to_list()


# ------------------------------------------------------------------ venues' own errors in 5xx / 200 JSON
VENUE_ERRORS = [
    # venue, path, status, body: each venue's own "try again" answer; ccxt calls some of them refusals.
    ("binance", "/fapi/v1/klines", 500, '{"code":-1001,"msg":"Internal error; unable to process your request."}'),
    ("binance", "/fapi/v1/klines", 503, '{"code":-1008,"msg":"Server is currently overloaded with other requests."}'),
    ("bybit", "/v5/market/kline", 200, '{"retCode":10016,"retMsg":"System error. Please try again later.","result":{}}'),
    ("okx", "/api/v5/market/candles", 500, '{"code":"50026","msg":"System error, please try again later.","data":[]}'),
    ("deribit", "/get_tradingview_chart_data", 503,
     '{"jsonrpc":"2.0","error":{"code":13028,"message":"temporarily_unavailable"}}'),
]


@pytest.mark.parametrize("venue, path, status, body", VENUE_ERRORS, ids=[f"{v[0]}-{v[2]}" for v in VENUE_ERRORS])
def test_a_venue_error_that_says_try_again_is_asked_again(venues, venue, path, status, body):
    fault = Fault(path, status, body, times=2)
    venues[venue].faults.append(fault)
    bars = crypto(venues, venue).crypto_bars(*DAY)
    assert fault.served == 2 and bars.filter(pl.col("price_type") == "last").height == len(
        bars.filter(pl.col("price_type") == "last")["symbol"].unique())
    assert venues[venue].count(path) >= 3  # two faults, then the answer
    survived(f"{venue} {status}")


@pytest.mark.parametrize("venue, path, status, body", VENUE_ERRORS, ids=[f"{v[0]}-{v[2]}" for v in VENUE_ERRORS])
def test_a_venue_error_that_never_ends_names_venue_endpoint_symbol_dates_and_attempts(venues, venue, path, status, body):
    venues[venue].faults.append(Fault(path, status, body, times=None))
    with pytest.raises(GaveUp) as error:
        crypto(venues, venue).crypto_bars(*DAY)
    assert error.value.attempts == 4 and venues[venue].count(path) == 4
    refused(error.value, f"live {venue}: fetch_ohlcv", "2025-03-03", "failed after 4 attempts", "last error")


# ------------------------------------------------------------------------- rate limits and Retry-After
def test_a_429_with_retry_after_waits_as_long_as_the_venue_asks(venues):
    venues["binance"].faults.append(Fault("/api/v3/klines", 429, '{"code":-1003,"msg":"Too many requests."}',
                                          headers={"Retry-After": "2"}, times=1))
    sleeps = []
    bars = crypto(venues, "binance", sleeps).crypto_bars(*DAY)
    assert sleeps == [2.0] and "BTC/USDT" in bars["symbol"].to_list()
    assert venues["binance"].count("/api/v3/klines") == 2
    survived("binance 429 Retry-After")


def test_a_418_ban_longer_than_the_budget_gives_the_venue_up_at_once(venues):
    venues["binance"].faults.append(Fault("/api/v3/klines", 418, '{"code":-1003,"msg":"Way too many requests; IP banned"}',
                                          headers={"Retry-After": "600"}, times=None))
    live = crypto(venues, "binance")
    with pytest.raises(GaveUp) as error:
        live.crypto_bars(*DAY)
    assert venues["binance"].count("/api/v3/klines") == 1  # no second request into a ban
    refused(error.value, "live binance: fetch_ohlcv BTC/USDT for 2025-03-03", "wait 600 s (Retry-After)",
            "given up for this run", "HTTP 418")
    venues.reset_counts()
    with pytest.raises(GaveUp, match="given up earlier in this run"):
        live.funding(*DAY)
    assert venues.request_counts()["binance"] == 0


# -------------------------------------------------------------------------- timeouts, hangs, truncation
def test_a_request_that_times_out_once_is_asked_again(venues):
    fault = Fault("/v5/market/kline", 200, "[]", hang_seconds=1.0, times=1)
    venues["bybit"].faults.append(fault)
    bars = crypto(venues, "bybit", timeout_seconds=0.2).crypto_bars(*DAY)
    assert fault.served == 1 and len(last_candles(bars, "BTC/USDT:USDT")) == 1
    survived("bybit timeout")


def test_an_endpoint_that_hangs_costs_at_most_the_venue_budget(venues):
    venues["okx"].faults.append(Fault("/api/v5/market/candles", 200, "{}", hang_seconds=5.0, times=None))
    live = crypto(venues, "okx", max_retries=20, timeout_seconds=0.2, venue_budget_seconds=1.0)
    with pytest.raises(GaveUp) as error:
        live.crypto_bars(*DAY)
    # Each request waits at most the timeout, cut to what is left: the budget bounds the time spent.
    assert live.budgets["okx"].spent <= 1.0 + 0.2
    assert 2 <= error.value.attempts <= 5
    refused(error.value, "live okx: fetch_ohlcv", "timeout", "budget of 1 s is spent", "RequestTimeout")


@pytest.mark.parametrize("times", [1, None], ids=["once", "always"])
def test_a_truncated_body_is_asked_again(venues, times):
    body = json.dumps([[1740960000000, "1", "2", "0.5", "1.5", "10", 1741046399999, "15", 100, "0", "0", "0"]])
    venues["binance"].faults.append(Fault("/api/v3/klines", 200, body, truncate=True, times=times))
    live = crypto(venues, "binance")
    if times == 1:
        assert "BTC/USDT" in live.crypto_bars(*DAY)["symbol"].to_list()
        survived("binance truncated")
        return
    with pytest.raises(GaveUp) as error:
        live.crypto_bars(*DAY)
    assert venues["binance"].count("/api/v3/klines") == 4
    refused(error.value, "live binance: fetch_ohlcv BTC/USDT for 2025-03-03", "4x NetworkError")


def test_a_venue_that_is_down_is_given_up_within_its_budget(venues):
    venues["bybit"].faults.append(Fault("/", 503, "<html>503 Service Unavailable</html>", content_type="text/html", times=None))
    live = crypto(venues, "bybit", max_retries=10, backoff_seconds=0.2, venue_budget_seconds=1.0)
    sleeps = live.sleep = []
    live.sleep = sleeps.append
    with pytest.raises(GaveUp) as error:
        live.instruments(*DAY)
    assert sleeps == [0.2, 0.4] and venues["bybit"].count("/") == 3  # the next wait (0.8 s) does not fit
    refused(error.value, "live bybit: load_markets", "3x HTTP 503", "budget of 1 s is spent")
    venues.reset_counts()
    with pytest.raises(GaveUp, match="not asked, bybit was given up earlier"):
        live.crypto_bars(*DAY)
    assert venues.request_counts()["bybit"] == 0


# ------------------------------------------------------------------------ empty, short and junk 200s
CANDLE_PATHS = {"binance": "/fapi/v1/klines", "bybit": "/v5/market/kline", "okx": "/api/v5/market/candles",
                "deribit": "/get_tradingview_chart_data"}
EMPTY = {"binance": "[]", "bybit": '{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[]}}',
         "okx": '{"code":"0","msg":"","data":[]}', "deribit": '{"jsonrpc":"2.0","result":{"status":"no_data","ticks":[]}}'}


@pytest.mark.parametrize("venue", sorted(CANDLE_PATHS))
def test_an_empty_candle_answer_is_asked_again_then_refused(venues, venue):
    path = CANDLE_PATHS[venue]
    venues[venue].faults.append(Fault(path, 200, EMPTY[venue], times=1))
    bars = crypto(venues, venue).crypto_bars(*DAY)
    assert len(last_candles(bars, "BTC/USD:BTC")) == 1
    survived(f"{venue} empty once")
    venues[venue].faults.append(Fault(path, 200, EMPTY[venue], times=None))
    with pytest.raises(GaveUp) as error:
        crypto(venues, venue).crypto_bars(*DAY)
    refused(error.value, f"live {venue}: fetch_ohlcv", "for 2025-03-03", "the answer is empty",
            "the window ends on 2025-03-03", "4x incomplete answer")


def test_a_candle_answer_that_stops_early_is_refused(venues):
    venues["okx"].empty_days.add(dt.date(2025, 3, 5))
    with pytest.raises(GaveUp) as error:
        crypto(venues, "okx").crypto_bars(*THREE_DAYS)
    refused(error.value, "live okx: fetch_ohlcv", "2025-03-03..2025-03-05", "the answer stops at 2025-03-04",
            "the window ends on 2025-03-05")


@pytest.mark.parametrize("body", ["<html>cached error page</html>", "[[1, 2, 3]]", '{"unexpected": "shape"}'],
                         ids=["html", "short-rows", "object"])
def test_junk_in_a_200_is_refused_never_stored(venues, body):
    venues["binance"].faults.append(Fault("/api/v3/klines", 200, body, times=None))
    with pytest.raises(GaveUp) as error:
        crypto(venues, "binance").crypto_bars(*DAY)
    assert venues["binance"].count("/api/v3/klines") == 4
    refused(error.value, "live binance: fetch_ohlcv BTC/USDT for 2025-03-03", "failed after 4 attempts")


FUNDING_PATHS = {"binance": ("/fapi/v1/fundingRate", "[]"),
                 "bybit": ("/v5/market/funding/history", EMPTY["bybit"]),
                 "okx": ("/api/v5/public/funding-rate-history", EMPTY["okx"]),
                 "deribit": ("/get_funding_rate_history", '{"jsonrpc":"2.0","result":[]}')}


@pytest.mark.parametrize("venue", sorted(FUNDING_PATHS))
def test_an_empty_funding_history_on_a_day_with_settlements_is_refused(venues, venue):
    path, body = FUNDING_PATHS[venue]
    venues[venue].faults.append(Fault(path, 200, body, times=None))
    with pytest.raises(GaveUp) as error:
        crypto(venues, venue).funding(*DAY)
    refused(error.value, f"live {venue}: fetch_funding_rate_history", "the answer is empty",
            "settles at least every")


def test_a_market_list_that_comes_back_empty_is_refused_not_silently_dropped(venues):
    venues["binance"].overrides["/dapi/v1/exchangeInfo"] = {"timezone": "UTC", "serverTime": 0, "symbols": []}
    with pytest.raises(GaveUp) as error:
        crypto(venues, "binance").instruments(*DAY)
    refused(error.value, "live binance: load_markets", "returned no inverse markets")


# ----------------------------------------------------------------------------------- secrets
def test_no_secret_reaches_a_message_or_a_log_line_after_retries(venues, caplog):
    environ = {"BINANCE_API_KEY": "key-never-print", "BINANCE_API_SECRET": "secret-never-print"}
    venues["binance"].faults.append(Fault("/api/v3/klines", 503,
                                          '{"code":-1001,"msg":"saw key-never-print and secret-never-print"}', times=None))
    with caplog.at_level("DEBUG"), pytest.raises(GaveUp) as error:
        crypto(venues, "binance", environ=environ).crypto_bars(*DAY)
    for text in (str(error.value), caplog.text):
        assert "never-print" not in text
    refused(error.value, "live binance", "***")


# ------------------------------------------------------------------------------------------ Yahoo
YAHOO_FIRST, YAHOO_LAST = dt.date(2025, 1, 1), dt.date(2025, 6, 30)
WEEK = (dt.date(2025, 3, 3), dt.date(2025, 3, 8))
CHART = "/v8/finance/chart/GC=F"


@pytest.fixture(scope="module")
def yahoo():
    server = YahooServer(sample_series(YAHOO_FIRST, YAHOO_LAST, {"gold": "GC=F"})).start()
    yield server
    server.stop()


@pytest.fixture
def yahoo_clean(yahoo):
    yahoo.faults.clear()
    yahoo.missing_days.clear()
    yahoo.requests.clear()
    YfData().cache_get.cache_clear()  # yfinance keeps past ranges' answers in memory, process-wide
    return yahoo


def yahoo_source(server, tmp_path, sleeps=None, **kwargs) -> YahooSource:
    settings = {"max_retries": 3, "backoff_seconds": 0.01, "timeout_seconds": 0.3, "venue_budget_seconds": 5.0}
    return YahooSource({"gold": "GC=F"}, {"gold": "us_futures"}, endpoint=server.url, cache_dir=tmp_path / "yf",
                       sleep=sleeps.append if sleeps is not None else (lambda s: None), **{**settings, **kwargs})


WEEKDAYS = [dt.date(2025, 3, d) for d in (3, 4, 5, 6, 7)]


@pytest.mark.parametrize("fault", [
    Fault(CHART, 200, "{}", hang_seconds=1.0, query="period1"),
    Fault(CHART, 200, json.dumps({"chart": {"result": None, "error": None}}) + " " * 200, truncate=True, query="period1"),
    Fault(CHART, 503, "<html>Will be right back</html>", content_type="text/html", times=2, query="period1"),
    Fault(CHART, 429, "Too Many Requests", content_type="text/plain", headers={"Retry-After": "3"}, times=2, query="period1"),
], ids=["timeout", "truncated", "503", "429-retry-after"])
def test_yahoo_transient_failures_are_asked_again(yahoo_clean, tmp_path, fault):
    yahoo_clean.faults.append(fault)
    sleeps = []
    bars = yahoo_source(yahoo_clean, tmp_path, sleeps).traditional_bars(*WEEK)
    assert bars["date"].to_list() == WEEKDAYS and fault.served >= 1
    if fault.status == 429:
        assert 3.0 in sleeps  # the Retry-After, not the 0.01 s backoff
    survived(f"yahoo {fault.status}")


def test_yahoo_503_that_persists_is_refused_as_unavailable_not_delisted(yahoo_clean, tmp_path):
    yahoo_clean.faults.append(Fault(CHART, 503, "<html>Service Unavailable</html>", content_type="text/html", times=None))
    with pytest.raises(GaveUp) as error:
        yahoo_source(yahoo_clean, tmp_path).traditional_bars(*WEEK)
    assert error.value.attempts == 4
    message = refused(error.value, "yahoo: GC=F (gold) chart for 2025-03-03..2025-03-07", "failed after 4 attempts",
                      "HTTP 503")
    assert "delisted" not in message.split("last error")[0]


def test_an_invalid_crumb_gets_a_new_crumb_and_is_never_called_delisted(yahoo_clean, tmp_path):
    crumb_401 = '{"finance":{"result":null,"error":{"code":"Unauthorized","description":"Invalid Crumb"}}}'
    yahoo_clean.faults.append(Fault(CHART, 401, crumb_401, times=2, query="period1"))
    bars = yahoo_source(yahoo_clean, tmp_path).traditional_bars(*WEEK)
    assert bars["date"].to_list() == WEEKDAYS
    assert yahoo_clean.requests_to("/v1/test/getcrumb") >= 2  # authenticated again
    survived("yahoo invalid crumb")
    yahoo_clean.faults.append(Fault(CHART, 401, crumb_401, times=None))
    YfData().cache_get.cache_clear()
    with pytest.raises(GaveUp) as error:
        yahoo_source(yahoo_clean, tmp_path).traditional_bars(*WEEK)
    message = refused(error.value, "yahoo: GC=F (gold)", "HTTP 401 Invalid Crumb")
    assert "possibly delisted" not in message.split("last error")[0]


def test_an_empty_yahoo_answer_on_trading_days_is_refused(yahoo_clean, tmp_path):
    yahoo_clean.missing_days.update(WEEKDAYS)
    with pytest.raises(GaveUp) as error:
        yahoo_source(yahoo_clean, tmp_path).traditional_bars(*WEEK)
    refused(error.value, "yahoo: GC=F (gold) chart for 2025-03-03..2025-03-07", "4x incomplete answer", "no bars")


def test_a_short_yahoo_answer_is_refused(yahoo_clean, tmp_path):
    yahoo_clean.missing_days.add(dt.date(2025, 3, 7))
    with pytest.raises(GaveUp) as error:
        yahoo_source(yahoo_clean, tmp_path).traditional_bars(*WEEK)
    refused(error.value, "yahoo: GC=F (gold)", "the answer stops at 2025-03-06", "last session is 2025-03-07")


def test_an_unknown_ticker_is_refused_at_once(yahoo_clean, tmp_path):
    with pytest.raises(SourceError) as error:
        YahooSource({"gold": "NOPE=F"}, {"gold": "us_futures"}, endpoint=yahoo_clean.url, cache_dir=tmp_path / "yf", max_retries=3,
                    sleep=lambda s: None).traditional_bars(*WEEK)
    assert not isinstance(error.value, GaveUp)
    refused(error.value, "yahoo: NOPE=F (gold) chart for 2025-03-03..2025-03-07 was refused")
