"""The live traditional-market source: the real yfinance client against a local Yahoo.

The seam is a `requests.Session` whose transport adapter sends every https request to 127.0.0.1, keeping
path and query (the product's `live.endpoints: {yahoo: ...}`, usable for a mirror or proxy too). It keeps
all of yfinance in play: cookie, crumb, the time-zone lookup, the chart request and yfinance's own parsing
of Yahoo's chart JSON into a tz-aware frame. Patching yfinance's URL constants would not: the cookie and
crumb addresses are hard-coded elsewhere. An HTTPS proxy with a test CA would also work but needs
certificates generated per run for no extra coverage.
"""

import datetime as dt

import polars as pl
import pytest

from assets.raw.sources.base import SourceError
from assets.raw.sources.sample import SampleMarket
from assets.raw.sources.yahoo import YahooSource
from fake_yahoo import YahooServer, recorded_series, sample_series
from pipelines.settings import Settings
from quality.gate import validate_window
from warehouse.schemas import RAW_TRADITIONAL_OHLCV

TICKERS = Settings().traditional_series()
FIRST, LAST = dt.date(2025, 1, 1), dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def yahoo(realdata_optional):
    series = sample_series(FIRST, LAST, TICKERS)
    if realdata_optional:
        series["SSW.JO"] = recorded_series(realdata_optional / "yahoo" / "SSW-JO-1d-100x-error.csv")
    server = YahooServer(series).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def realdata_optional():
    from conftest import REALDATA
    return REALDATA if REALDATA.is_dir() else None


@pytest.fixture(autouse=True)
def fresh(yahoo):
    yahoo.rate_limited = 0
    yahoo.requests.clear()


def source(yahoo, tmp_path, tickers=None, sleeps=None, **kwargs) -> YahooSource:
    tickers = tickers or TICKERS
    calendars = {t.series: t.calendar for t in Settings().universe.traditional} | kwargs.pop("calendars", {})
    return YahooSource(tickers, calendars, endpoint=yahoo.url, backoff_seconds=0.25, cache_dir=tmp_path / "yf",
                       sleep=(sleeps.append if sleeps is not None else lambda s: None), **kwargs)


def test_bars_are_the_market_served_each_series_on_its_own_calendar(yahoo, tmp_path):
    window = (dt.date(2025, 6, 30), dt.date(2025, 7, 9))  # Independence Day, Friday 4 July
    bars = source(yahoo, tmp_path).traditional_bars(*window)
    expected = SampleMarket(seed=7, traditional=TICKERS).traditional_bars(*window)
    assert sorted(bars["series"].unique()) == sorted(TICKERS)
    # The NYSE is closed on Independence Day; CME Globex futures (gold, the Nasdaq-100 future) trade.
    on_the_fourth = set(bars.filter(pl.col("date") == dt.date(2025, 7, 4))["series"])
    assert {"nasdaq", "sp500"}.isdisjoint(on_the_fourth) and {"gold", "nasdaq100"} <= on_the_fourth
    assert bars.filter(pl.col("series") == "sp500")["date"].to_list() == [
        dt.date(2025, 6, 30), dt.date(2025, 7, 1), dt.date(2025, 7, 2), dt.date(2025, 7, 3), dt.date(2025, 7, 7),
        dt.date(2025, 7, 8)]
    joined = expected.join(bars, on=["date", "series"], how="full", suffix="_yahoo")
    assert joined.height == expected.height == bars.height
    for column in ("open", "high", "low", "close"):
        assert (joined[column] - joined[f"{column}_yahoo"]).abs().max() < 1e-9, column
    # One chart request per ticker for the whole range.
    assert all(yahoo.chart_requests(t) == 1 for t in TICKERS.values())


def test_a_run_on_a_day_markets_are_closed_gives_no_rows_and_no_error(yahoo, tmp_path):
    good_friday = dt.date(2025, 4, 18)  # every default calendar is closed
    bars = source(yahoo, tmp_path).traditional_bars(good_friday, good_friday + dt.timedelta(days=1))
    assert bars.height == 0 and bars.schema == pl.Schema(RAW_TRADITIONAL_OHLCV.polars_schema)


def test_a_rate_limit_is_retried_with_backoff_then_succeeds(yahoo, tmp_path):
    yahoo.rate_limited = 3  # yfinance itself asks again once, with a new crumb, before it raises
    sleeps = []
    bars = source(yahoo, tmp_path, {"gold": "GC=F"}, sleeps=sleeps).traditional_bars(dt.date(2025, 3, 3), dt.date(2025, 3, 8))
    assert sleeps and sleeps == [0.25 * 2**i for i in range(len(sleeps))]
    assert bars["date"].to_list() == [dt.date(2025, 3, d) for d in (3, 4, 5, 6, 7)]


def test_a_rate_limit_that_does_not_end_is_an_error_naming_ticker_and_range(yahoo, tmp_path):
    yahoo.rate_limited = 1000
    # Another range than the test before: yfinance keeps answers for past ranges in memory, process-wide.
    with pytest.raises(SourceError, match=r"yahoo: GC=F \(gold\) chart for 2025-03-10..2025-03-14 failed after 3 "
                       r"attempts .*\(failures: 3x HTTP 429\)"):
        source(yahoo, tmp_path, {"gold": "GC=F"}, max_retries=2).traditional_bars(dt.date(2025, 3, 10), dt.date(2025, 3, 15))


def test_an_unknown_ticker_is_an_error_never_an_empty_success(yahoo, tmp_path):
    with pytest.raises(SourceError, match=r"yahoo: XAUUSD=NOPE \(gold\) chart for 2025-03-03..2025-03-07 was refused"):
        source(yahoo, tmp_path, {"gold": "XAUUSD=NOPE"}).traditional_bars(dt.date(2025, 3, 3), dt.date(2025, 3, 8))


def test_a_tz_aware_history_keeps_the_exchange_trading_date(yahoo, tmp_path, realdata):
    """Johannesburg: a daily bar stamped at local midnight is 22:00 UTC the day before."""
    bars = source(yahoo, tmp_path, {"gold": "SSW.JO"}, calendars={"gold": "XJSE"}).traditional_bars(
        dt.date(2023, 6, 5), dt.date(2023, 6, 10))
    assert bars["date"].to_list() == [dt.date(2023, 6, d) for d in (5, 6, 7, 8, 9)]
    recorded = pl.read_csv(realdata / "yahoo" / "SSW-JO-1d-100x-error.csv")
    friday = recorded.filter(pl.col("Date").str.starts_with("2023-06-09"))["Close"].item()
    assert bars.filter(pl.col("date") == dt.date(2023, 6, 9))["close"].item() == pytest.approx(friday)


def test_real_yahoo_unit_errors_served_through_yfinance_are_stopped_by_the_quality_gate(yahoo, tmp_path, realdata):
    settings = Settings(universe={"traditional": [{"series": "gold", "ticker": "SSW.JO", "calendar": "XJSE"}]})
    start, end = dt.date(2023, 5, 2), dt.date(2023, 6, 10)
    bars = source(yahoo, tmp_path, {"gold": "SSW.JO"}, calendars={"gold": "XJSE"}).traditional_bars(start, end)
    assert bars.height == 29 and bars["close"].max() > 50 * bars["close"].min()  # prices in cents and in rand
    last = end - dt.timedelta(days=1)
    report = validate_window(RAW_TRADITIONAL_OHLCV, bars, history=None, settings=settings, start=start, end=last)
    assert "expect_column_values_to_be_in_set(unit_error)" in {f.name for f in report.failed("error")}
