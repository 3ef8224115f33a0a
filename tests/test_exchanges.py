"""The live crypto source: a real ccxt client talking HTTP to local servers in each venue's wire format.

`fake_venues` serves the sample market as Binance, Bybit, OKX and Deribit would (their documented
payloads), so what ccxt reads can be compared row for row with the sample market; the recorded
responses in ../shared/realdata/ccxt check that ccxt reads real venue bytes the way its authors recorded.
"""

import datetime as dt
import json
import logging

import polars as pl
import pytest

from assets.raw.sources import venues as venue_profiles
from assets.raw.sources.base import GaveUp, SourceError
from assets.raw.sources.exchanges import ExchangeSource
from assets.raw.sources.sample import SampleMarket
from fake_venues import Fault, Venues

FIRST, LAST = dt.date(2024, 10, 1), dt.date(2025, 6, 30)
# 2025-03-28 08:00 UTC: the March quarterlies deliver inside this window.
EXPIRY_WINDOW = (dt.date(2025, 3, 26), dt.date(2025, 3, 31))
ALL = ("binance", "bybit", "okx", "deribit")


@pytest.fixture(scope="module")
def venues():
    servers = Venues(FIRST, LAST)
    yield servers
    servers.stop()


@pytest.fixture(autouse=True)
def clean_servers(venues):
    for server in venues.servers.values():
        server.faults.clear()
        server.empty_days.clear()
        server.overrides.clear()
    venues.reset_counts()


@pytest.fixture(scope="module")
def sample():
    return SampleMarket(seed=7, venues=("sample_a", "sample_b"), underlyings=("BTC", "ETH"))


def source(venues, names=ALL, sleeps=None, **kwargs) -> ExchangeSource:
    kwargs.setdefault("max_retries", 3)
    kwargs.setdefault("backoff_seconds", 0.01)
    return ExchangeSource(names, ("BTC", "ETH"), endpoints=venues.endpoints,
                          sleep=(sleeps.append if sleeps is not None else lambda s: None), **kwargs)


def served_sample(frame: pl.DataFrame, venue: str) -> pl.DataFrame:
    """The sample rows a venue's server carries (see fake_venues), renamed to the venue."""
    inverse = (pl.col("venue") == "sample_b") & pl.col("kind").is_in(["perp", "future"])
    keep = inverse if venue == "deribit" else (pl.col("venue") == "sample_a") | inverse
    return frame.filter(keep).with_columns(venue=pl.lit(venue))


def test_candles_read_through_ccxt_equal_the_market_served_on_every_venue(venues, sample):
    bars = source(venues).crypto_bars(*EXPIRY_WINDOW)
    expected = sample.crypto_bars(*EXPIRY_WINDOW)
    for venue in ALL:
        served = served_sample(expected, venue)
        if venue == "deribit":  # Deribit has no mark-price candles
            served = served.filter(pl.col("price_type") == "last")
        got = bars.filter(pl.col("venue") == venue)
        key = ["date", "symbol", "price_type"]
        assert got.select(key).sort(key).equals(served.select(key).sort(key)), venue
        joined = served.join(got, on=key, suffix="_live")
        for column in ("open", "high", "low", "close"):
            assert (joined[column] - joined[f"{column}_live"]).abs().max() < 1e-9, (venue, column)
        # Volume in coins on every venue, whatever column the venue puts it in (COIN-M column 7,
        # Bybit inverse `turnover`, OKX `volCcy`); mark candles have none.
        last = joined.filter(pl.col("price_type") == "last")
        assert ((last["volume"] - last["volume_live"]).abs() / last["volume"]).max() < 1e-9, venue
        assert joined.filter(pl.col("price_type") == "mark")["volume_live"].null_count() == \
            joined.filter(pl.col("price_type") == "mark").height


def test_a_quarterly_that_delivers_inside_the_range_keeps_its_days_and_stops_at_expiry(venues):
    live = source(venues)
    instruments = live.instruments(*EXPIRY_WINDOW)
    bars = live.crypto_bars(*EXPIRY_WINDOW)
    for venue, symbol in [("binance", "BTC/USDT:USDT-250328"), ("binance", "BTC/USD:BTC-250328"),
                          ("bybit", "ETH/USD:ETH-250328"), ("okx", "BTC/USD:BTC-250328"), ("deribit", "BTC/USD:BTC-250328")]:
        listed = instruments.filter((pl.col("venue") == venue) & (pl.col("symbol") == symbol))
        assert listed["snapshot_date"].to_list() == [dt.date(2025, 3, 26), dt.date(2025, 3, 27), dt.date(2025, 3, 28)]
        assert listed["expiry_ts"].unique().to_list() == [dt.datetime(2025, 3, 28, 8)]
        days = bars.filter((pl.col("venue") == venue) & (pl.col("symbol") == symbol))["date"].to_list()
        assert days == [dt.date(2025, 3, 26), dt.date(2025, 3, 27), dt.date(2025, 3, 28)], (venue, symbol)
    # The next quarterly is listed every day, linear and inverse told apart.
    june = instruments.filter((pl.col("venue") == "binance") & pl.col("symbol").str.ends_with("-250627"))
    assert june.group_by("symbol").len().sort("symbol").rows() == [
        ("BTC/USD:BTC-250627", 5), ("BTC/USDT:USDT-250627", 5), ("ETH/USD:ETH-250627", 5), ("ETH/USDT:USDT-250627", 5)]
    assert june.filter(pl.col("symbol") == "BTC/USD:BTC-250627").row(0, named=True) | {"snapshot_date": None} == {
        "snapshot_date": None, "venue": "binance", "symbol": "BTC/USD:BTC-250627", "underlying": "BTC", "kind": "future",
        "quote": "USD", "settle": "BTC", "linear": False, "inverse": True, "contract_size": 100.0,
        "expiry_ts": dt.datetime(2025, 6, 27, 8), "reconstructed": None}


def test_funding_settlements_and_their_intervals_come_from_the_venue(venues, sample):
    funding = source(venues).funding(*EXPIRY_WINDOW)
    expected = sample.funding(*EXPIRY_WINDOW)
    for venue in ("binance", "bybit", "okx"):
        served = served_sample(expected.with_columns(kind=pl.lit("perp")), venue).drop("kind")
        got = funding.filter(pl.col("venue") == venue)
        key = ["symbol", "funding_ts"]
        joined = served.join(got, on=key, how="full", suffix="_live")
        assert joined.height == served.height == got.height, venue
        assert (joined["rate"] - joined["rate_live"]).abs().max() < 1e-8, venue  # venues send 8 decimals
        assert joined["interval_hours"].equals(joined["interval_hours_live"], check_names=False), venue
    # 8h on the USDT-margined perpetuals, 4h on the coin-margined ones (the sample's schedule since 2022).
    intervals = dict(funding.filter(pl.col("venue") == "okx").group_by("symbol").agg(
        pl.col("interval_hours").unique().first()).rows())
    assert intervals == {"BTC/USDT:USDT": 8.0, "ETH/USDT:USDT": 8.0, "BTC/USD:BTC": 4.0, "ETH/USD:ETH": 4.0}


def test_deribit_hourly_rows_are_read_as_one_hour_of_funding_not_eight(venues, sample):
    """Deribit's rows carry interest_8h and interest_1h; ccxt's fundingRate is interest_8h."""
    live = source(venues, ("deribit",))
    day = (dt.date(2025, 3, 27), dt.date(2025, 3, 28))
    funding = live.funding(*day).filter(pl.col("symbol") == "BTC/USD:BTC")
    assert funding.height == 24 and funding["interval_hours"].unique().to_list() == [1.0]
    # The server spreads each 4h settlement over its four hours: the hours 01:00-04:00 carry the 04:00 one.
    settled = sample.funding(*day).filter((pl.col("venue") == "sample_b") & (pl.col("symbol") == "BTC/USD:BTC"))
    at_four = settled.filter(pl.col("funding_ts") == dt.datetime(2025, 3, 27, 4))["rate"].item()
    hours_one_to_four = funding.filter(pl.col("funding_ts").dt.hour().is_between(1, 4))["rate"]
    assert hours_one_to_four.sum() == pytest.approx(at_four, rel=1e-12)
    ccxt_rates = live.exchange("deribit").fetch_funding_rate_history(
        "BTC/USD:BTC", since=int(dt.datetime(2025, 3, 27, 1, tzinfo=dt.timezone.utc).timestamp() * 1000), limit=4)
    assert sum(r["fundingRate"] for r in ccxt_rates) == pytest.approx(8 * at_four, rel=1e-12)


def test_a_backfill_pages_through_the_range_and_a_daily_run_asks_once_per_series(venues):
    okx = venues["okx"]
    start, end = dt.date(2024, 11, 1), dt.date(2025, 3, 1)  # 120 days
    live = source(venues, ("okx",))
    bars = live.crypto_bars(start, end).filter(pl.col("symbol") == "BTC/USDT:USDT")
    assert okx.count("/market/candles?instId=BTC-USDT-SWAP") == 2  # OKX gives at most 100 candles a page
    assert okx.count("/market/mark-price-candles?instId=BTC-USDT-SWAP") == 2
    assert bars.filter(pl.col("price_type") == "last")["date"].to_list() == [
        start + dt.timedelta(days=i) for i in range(120)]
    funding = live.funding(start, end).filter(pl.col("symbol") == "BTC/USDT:USDT")
    assert okx.count("funding-rate-history?instId=BTC-USDT-SWAP") >= 7
    assert funding.height == 3 * 120 and funding["funding_ts"].is_unique().all()

    venues.reset_counts()
    one_day = (dt.date(2025, 3, 3), dt.date(2025, 3, 4))
    daily = source(venues, ("okx",))
    daily.instruments(*one_day), daily.crypto_bars(*one_day), daily.funding(*one_day)
    listed = daily.instruments(*one_day)
    perps = listed.filter(pl.col("kind") == "perp").height
    # Three market lists, one candle request per instrument, a mark request and a funding request per perpetual.
    assert venues.request_counts()["okx"] == 3 + listed.height + 2 * perps


def test_a_full_page_is_split_so_no_settlement_is_lost(venues, monkeypatch):
    """A venue settling more often than its profile expects fills a page; the window is halved and asked again."""
    tight = venue_profiles.VenueProfile("binance", options=venue_profiles.PROFILES["binance"].options,
                                        funding_per_page=4, settlements_per_day=1)
    monkeypatch.setitem(venue_profiles.PROFILES, "binance", tight)
    monkeypatch.setattr("assets.raw.sources.exchanges.PROFILES", venue_profiles.PROFILES)
    window = (dt.date(2025, 3, 10), dt.date(2025, 3, 14))
    funding = source(venues, ("binance",)).funding(*window)
    inverse = funding.filter(pl.col("symbol") == "BTC/USD:BTC")
    assert inverse.height == 6 * 4 and inverse["funding_ts"].is_unique().all()  # 4h settlements, four days


def test_a_429_is_retried_with_backoff_then_succeeds(venues):
    venues["bybit"].faults.append(Fault("/v5/market/kline", 429, '{"retCode":10006,"retMsg":"Too many visits!"}', times=2))
    sleeps = []
    bars = source(venues, ("bybit",), sleeps=sleeps, backoff_seconds=0.5).crypto_bars(dt.date(2025, 3, 3), dt.date(2025, 3, 4))
    assert sleeps == [0.5, 1.0]
    assert bars.filter(pl.col("price_type") == "last").height == 14  # every instrument, the 429 hit one only twice


def test_a_500_that_never_ends_names_venue_symbol_and_date(venues):
    venues["binance"].faults.append(Fault("/dapi/v1/klines", 500, "<html>Internal Server Error</html>", times=None))
    live = source(venues, ("binance",), max_retries=2)
    with pytest.raises(SourceError) as error:
        live.crypto_bars(dt.date(2025, 3, 3), dt.date(2025, 3, 5))
    message = str(error.value)
    assert "live binance" in message and "BTC/USD:BTC" in message and "2025-03-03..2025-03-04" in message
    assert "failed after 3 attempts" in message and "ExchangeNotAvailable" in message
    assert venues["binance"].count("/dapi/v1/klines") == 3


@pytest.mark.parametrize("body", ["<html><body>Bad gateway</body></html>", '{"code":"0","data":[["17'])
def test_malformed_json_is_an_error_not_junk_rows(venues, body):
    venues["okx"].faults.append(Fault("/api/v5/market/candles", 200, body, times=None, content_type="text/html"))
    with pytest.raises(SourceError, match=r"live okx: fetch_ohlcv BTC/USD:BTC for 2025-03-03 .*not JSON"):
        source(venues, ("okx",), max_retries=1).crypto_bars(dt.date(2025, 3, 3), dt.date(2025, 3, 4))


def test_a_market_list_that_lost_its_contracts_is_an_error(venues):
    venues["deribit"].overrides["/api/v2/public/get_instruments"] = {"jsonrpc": "2.0", "result": []}
    # ccxt turns an empty or unparseable market list into no markets of that type, without a word.
    with pytest.raises(GaveUp, match=r"live deribit: load_markets \(all markets\) for 2025-03-03 failed after 4 "
                       r"attempts .*returned no swap and no future markets"):
        source(venues, ("deribit",)).instruments(dt.date(2025, 3, 3), dt.date(2025, 3, 4))


def test_an_empty_day_gives_no_rows_and_no_error(venues, caplog):
    venues["binance"].empty_days.add(dt.date(2025, 3, 4))
    live = source(venues, ("binance",))
    with caplog.at_level(logging.WARNING):
        bars = live.crypto_bars(dt.date(2025, 3, 3), dt.date(2025, 3, 6))
        funding = live.funding(dt.date(2025, 3, 3), dt.date(2025, 3, 6))
    perp = bars.filter((pl.col("symbol") == "BTC/USD:BTC") & (pl.col("price_type") == "last"))
    assert perp["date"].to_list() == [dt.date(2025, 3, 3), dt.date(2025, 3, 5)]
    assert dt.date(2025, 3, 4) not in funding["date"].to_list()
    assert funding.height == 2 * (3 + 3 + 6 + 6)  # two days of two 8h and two 4h perpetuals
    assert "no last candle of BTC/USD:BTC for 2025-03-04" in caplog.text


def test_api_keys_come_from_the_environment_and_never_reach_a_message_or_log(venues, caplog):
    secret = "s3cr3t-never-print-me"
    environ = {"BINANCE_API_KEY": "key-never-print-me", "BINANCE_API_SECRET": secret}
    venues["binance"].faults.append(
        Fault("/fapi/v1/klines", 500, f"upstream saw key-never-print-me and {secret}", times=None))
    live = source(venues, ("binance",), environ=environ, max_retries=1)
    assert live.exchange("binance").apiKey == "key-never-print-me"
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceError) as error:
        live.crypto_bars(dt.date(2025, 3, 3), dt.date(2025, 3, 4))
    for text in (str(error.value), caplog.text):
        assert secret not in text and "key-never-print-me" not in text
    assert "***" in str(error.value)


def test_recorded_venue_responses_parse_as_ccxt_recorded_them(venues, realdata):
    """ccxt's own captures (../shared/realdata/ccxt): real Deribit and Binance bytes served to a real client."""
    deribit = venues["deribit"]
    deribit.overrides["/api/v2/public/get_instruments"] = {"jsonrpc": "2.0", "result": [
        deribit._deribit_instrument(c) for _, c in deribit.served()] + [{
            # Deribit's spot pair as its API documents it; the captures are of BTC_USDT.
            "instrument_name": "BTC_USDT", "kind": "spot", "base_currency": "BTC", "counter_currency": "USDT",
            "quote_currency": "USDT", "settlement_currency": None, "contract_size": 0.0001, "tick_size": 0.01,
            "min_trade_amount": 0.0001, "creation_timestamp": 1681799560000, "expiration_timestamp": 32503708800000,
            "settlement_period": None, "is_active": True, "instrument_type": "linear", "price_index": "btc_usdt",
            "taker_commission": 0.0, "maker_commission": 0.0, "rfq": False}]}
    paths = {"fetchOHLCV": "/api/v2/public/get_tradingview_chart_data", "fetchTicker": "/api/v2/public/ticker",
             "fetchTrades": "/api/v2/public/get_last_trades_by_instrument", "fetchTickers": "/api/v3/ticker"}
    live = source(venues, ("binance", "deribit"))
    compared = 0
    for name in ("deribit.static-response.json", "binance.fetchTickers.static-response.json"):
        recording = json.loads((realdata / "ccxt" / name).read_text())
        exchange = live.exchange(recording["exchange"])
        exchange.load_markets()
        for method, cases in recording["methods"].items():
            if method == "fetchTicker":
                # Recorded in 2024; ccxt 4.5 reads Deribit ticker volumes from other fields since.
                # The warehouse reads no tickers.
                continue
            for case in cases:
                server = venues[recording["exchange"]]
                server.overrides[paths[method]] = case["httpResponse"]
                args = list(case["input"])
                result = getattr(exchange, method[0].lower() + method[1:])(*args)
                assert _comparable(result, recording["skipKeys"]) == _comparable(case["parsedResponse"], recording["skipKeys"]), \
                    (recording["exchange"], method)
                compared += 1
    assert compared == 3


def _comparable(value, skip):
    """Numbers as floats, skipping what ccxt's static tests skip. A trade's `cost` is left out too: ccxt
    recorded it against its own stored market file, where Deribit's BTC_USDT is priced as an inverse
    contract (cost = amount / price); against the venue's market list, as here, it is amount * price."""
    if isinstance(value, dict):
        return {k: _comparable(v, skip) for k, v in value.items() if k not in skip and not (k == "cost" and "takerOrMaker" in value)}
    if isinstance(value, list):
        return [_comparable(v, skip) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def test_a_missing_settlement_does_not_make_the_next_one_a_16h_interval(venues):
    """Binance sends 08:00 nowhere: the 16:00 settlement still covers 8 hours, as the schedule says."""
    hours = [(2, 0), (2, 8), (2, 16), (3, 0), (3, 16)]
    venues["binance"].overrides["/fapi/v1/fundingRate"] = [
        {"symbol": "BTCUSDT", "fundingTime": int(dt.datetime(2025, 3, d, h, tzinfo=dt.timezone.utc).timestamp() * 1000),
         "fundingRate": "0.00010000", "markPrice": "0"} for d, h in hours]
    live = ExchangeSource(("binance",), ("BTC",), endpoints=venues.endpoints, sleep=lambda s: None)
    funding = live.funding(dt.date(2025, 3, 3), dt.date(2025, 3, 4))
    linear = funding.filter(pl.col("symbol") == "BTC/USDT:USDT")
    assert linear["funding_ts"].dt.hour().to_list() == [0, 16]
    assert linear["interval_hours"].to_list() == [8.0, 8.0]


def test_a_declared_interval_caps_the_gap(venues):
    """Bybit declares each perpetual's interval; a gap of two intervals is still one interval."""
    day = (dt.date(2025, 3, 3), dt.date(2025, 3, 4))
    live = source(venues, ("bybit",))
    declared = {i.symbol: i.funding_hours for i in live.listing("bybit", "2025-03-03") if i.kind == "perp"}
    assert declared == {"BTC/USDT:USDT": 8.0, "ETH/USDT:USDT": 8.0, "BTC/USD:BTC": 4.0, "ETH/USD:ETH": 4.0}
    venues["bybit"].empty_days.add(dt.date(2025, 3, 2))  # the day before: the first settlement has no predecessor
    funding = live.funding(*day)
    assert funding.group_by("symbol").agg(pl.col("interval_hours").max()).sort("symbol").rows() == [
        ("BTC/USD:BTC", 4.0), ("BTC/USDT:USDT", 8.0), ("ETH/USD:ETH", 4.0), ("ETH/USDT:USDT", 8.0)]
