"""History of expired quarterlies: Binance's archive, Binance continuous and delivery klines, Deribit chart
data, and the routed source that serves each date range from its own source.

The archive (`fake_archive`) and the REST endpoints (`fake_history_venues`) serve the sample market in the
venues' documented formats on 127.0.0.1; each test shows row for row that what the source returns equals what
was served, across the June 2023 quarterly expiry (2023-06-30 08:00 UTC), for the linear (USD-M) and the
inverse (COIN-M, Deribit) contracts.
"""

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from assets.core.basis import futures_basis
from assets.raw.sources.base import SourceError
from assets.raw.sources.binance_archive import BinanceArchiveSource, parse_funding
from assets.raw.sources.binance_history import BinanceRestHistorySource
from assets.raw.sources.deribit_history import DeribitHistorySource, instrument_name
from assets.raw.sources.routed import Route, RoutedCryptoSource
from assets.raw.sources.sample import SampleMarket
from fake_archive import FolderServer, write_archive, write_zip
from fake_history_venues import HistoryVenueServer
from fake_venues import sample_book
from warehouse.schemas import RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_INSTRUMENTS

FIRST, LAST = dt.date(2023, 3, 1), dt.date(2023, 8, 31)
EXPIRY = dt.datetime(2023, 6, 30, 8)
ROLL = (dt.date(2023, 6, 20), dt.date(2023, 7, 12))  # [start, end) across the June expiry
TODAY = dt.date(2024, 1, 15)
KEY = ["date", "venue", "symbol", "price_type"]


def window(frame: pl.DataFrame, start: dt.date, end: dt.date, column: str = "date") -> pl.DataFrame:
    return frame.filter((pl.col(column) >= start) & (pl.col(column) < end))


def assert_rows_equal(got: pl.DataFrame, expected: pl.DataFrame, key: list[str]) -> None:
    assert got.columns == expected.columns
    got, expected = got.sort(key), expected.sort(key)
    assert got.select(key).equals(expected.select(key)), "different rows"
    for column in got.columns:
        if got[column].dtype == pl.Float64:
            diff = (got[column] - expected[column]).abs().fill_null(0).max() or 0.0
            assert diff <= 1e-9 * max(1.0, expected[column].abs().max() or 1.0), column
            assert got[column].is_null().equals(expected[column].is_null()), column
        else:
            assert got[column].equals(expected[column]), column


@pytest.fixture(scope="module")
def book():
    return sample_book(FIRST, LAST)


@pytest.fixture(scope="module")
def archive(tmp_path_factory, book):
    root = tmp_path_factory.mktemp("archive")
    return root, write_archive(root, book)


def sample_bars(start: dt.date, end: dt.date) -> pl.DataFrame:
    return SampleMarket(seed=7, venues=("sample_a", "sample_b"), underlyings=("BTC", "ETH")).crypto_bars(start, end)


# ------------------------------------------------------------------------------------------ archive
def test_archive_candles_equal_the_files_served_across_a_quarterly_roll(archive):
    root, written = archive
    source = BinanceArchiveSource(str(root), today=TODAY)
    bars = source.crypto_bars(*ROLL)
    assert bars.schema == RAW_CRYPTO_OHLCV.polars_schema
    expected = window(written.bars_frame(), *ROLL).filter(pl.col("price_type") != "index")
    assert_rows_equal(bars, expected, KEY)
    # Both families roll: the June contract ends on its expiry day, the September one goes on.
    for symbol in ("BTC/USDT:USDT-230630", "BTC/USD:BTC-230630", "ETH/USD:ETH-230630"):
        assert bars.filter(pl.col("symbol") == symbol)["date"].max() == EXPIRY.date()
    for symbol in ("BTC/USDT:USDT-230929", "BTC/USD:BTC-230929"):
        assert bars.filter(pl.col("symbol") == symbol)["date"].max() == ROLL[1] - dt.timedelta(days=1)
    # The expiry month's files carry junk rows after the expiry (price 1.0): none is read.
    assert bars["low"].min() > 100
    # COIN-M volume is the coin volume of column 7, not the contracts of column 5.
    inverse = bars.filter(pl.col("symbol") == "BTC/USD:BTC-230929").sort("date")
    served = expected.filter(pl.col("symbol") == "BTC/USD:BTC-230929").sort("date")
    assert inverse["volume"].to_list() == served["volume"].to_list()


def test_archive_reads_files_with_and_without_header_rows(archive):
    root, _ = archive
    june = root / "data/futures/cm/monthly/klines/BTCUSD_230929/1d/BTCUSD_230929-1d-2023-06.zip"
    july = june.with_name("BTCUSD_230929-1d-2023-07.zip")
    import zipfile

    assert zipfile.ZipFile(june).read(zipfile.ZipFile(june).namelist()[0]).startswith(b"open_time,")
    assert zipfile.ZipFile(july).read(zipfile.ZipFile(july).namelist()[0])[:1].isdigit()
    bars = BinanceArchiveSource(str(root), today=TODAY).crypto_bars(dt.date(2023, 6, 28), dt.date(2023, 7, 3))
    days = bars.filter(pl.col("symbol") == "BTC/USD:BTC-230929")["date"].to_list()
    assert days == [dt.date(2023, 6, 28) + dt.timedelta(days=i) for i in range(5)]


def test_archive_instruments_are_reconstructed_snapshots_of_the_contracts_trading_each_day(archive):
    root, _ = archive
    instruments = BinanceArchiveSource(str(root), today=TODAY).instruments(*ROLL)
    assert instruments.schema == RAW_INSTRUMENTS.polars_schema
    assert instruments["reconstructed"].all()
    on_expiry = instruments.filter((pl.col("snapshot_date") == EXPIRY.date()) & (pl.col("underlying") == "BTC"))
    assert sorted(on_expiry["symbol"]) == ["BTC/USD:BTC", "BTC/USD:BTC-230630", "BTC/USD:BTC-230929", "BTC/USDT",
                                           "BTC/USDT:USDT", "BTC/USDT:USDT-230630", "BTC/USDT:USDT-230929"]
    linear = on_expiry.filter(pl.col("symbol") == "BTC/USDT:USDT-230630").row(0, named=True)
    assert (linear["kind"], linear["linear"], linear["inverse"], linear["settle"], linear["contract_size"],
            linear["expiry_ts"]) == ("future", True, False, "USDT", 1.0, EXPIRY)
    inverse = on_expiry.filter(pl.col("symbol") == "BTC/USD:BTC-230630").row(0, named=True)
    assert (inverse["linear"], inverse["inverse"], inverse["settle"], inverse["contract_size"]) == (False, True, "BTC", 100.0)
    after = instruments.filter(pl.col("snapshot_date") == EXPIRY.date() + dt.timedelta(days=1))
    assert "BTC/USDT:USDT-230630" not in after["symbol"].to_list()


def test_archive_basis_across_the_roll_equals_the_served_closes(archive):
    root, written = archive
    source = BinanceArchiveSource(str(root), today=TODAY)
    basis = futures_basis(source.crypto_bars(*ROLL), source.instruments(*ROLL), min_dte=3.0)
    served = window(written.bars_frame(), *ROLL)
    spot = served.filter((pl.col("symbol") == "BTC/USDT") & (pl.col("price_type") == "last")).select("date", spot="close")
    for symbol in ("BTC/USDT:USDT-230630", "BTC/USDT:USDT-230929", "BTC/USD:BTC-230630", "BTC/USD:BTC-230929"):
        expiry = dt.datetime(2023, 6 if symbol.endswith("0630") else 9, 30 if symbol.endswith("0630") else 29, 8)
        closes = served.filter(pl.col("symbol") == symbol).join(spot, on="date").filter(
            pl.col("date") < expiry.date())  # the expiry day has a negative dte at the close
        got = basis.filter(pl.col("symbol") == symbol).sort("date")
        assert got["date"].to_list() == closes.sort("date")["date"].to_list(), symbol
        expected = (closes.sort("date")["close"] / closes.sort("date")["spot"] - 1).to_list()
        assert got["basis"].to_list() == pytest.approx(expected, rel=1e-12), symbol


def test_archive_funding_equals_the_settlements_served(archive):
    root, written = archive
    funding = BinanceArchiveSource(str(root), today=TODAY).funding(*ROLL)
    assert funding.schema == RAW_FUNDING.polars_schema
    assert_rows_equal(funding, window(written.funding_frame(), *ROLL), ["venue", "symbol", "funding_ts"])
    # sample_b (COIN-M) settles every 4 hours since mid-2022, sample_a (USD-M) every 8.
    assert set(funding.filter(pl.col("symbol") == "BTC/USD:BTC")["interval_hours"]) == {4.0}
    assert set(funding.filter(pl.col("symbol") == "BTC/USDT:USDT")["interval_hours"]) == {8.0}


def test_real_binance_funding_archive_file_parses(realdata):
    data = (realdata / "binance-archive" / "BTCUSDT-fundingRate-2022-11.csv").read_bytes()
    rows = parse_funding(data, "BTCUSDT-fundingRate-2022-11.csv", "BTC/USDT:USDT")
    assert rows.height == 90
    # Jittered milliseconds (1667404800019) land on the 8-hour settlement times.
    assert rows["funding_ts"].dt.hour().unique().sort().to_list() == [0, 8, 16]
    assert (rows["funding_ts"].dt.minute() == 0).all() and (rows["funding_ts"].dt.second() == 0).all()
    assert rows["date"].min() == dt.date(2022, 11, 1) and rows["date"].max() == dt.date(2022, 11, 30)
    assert rows.filter(pl.col("funding_ts") == dt.datetime(2022, 11, 28, 16))["rate"].item() == pytest.approx(2.1e-7)
    assert rows.filter(pl.col("funding_ts") == dt.datetime(2022, 11, 1, 8))["rate"].item() == pytest.approx(-0.00001088)
    assert set(rows["interval_hours"]) == {8.0}


def test_archive_file_with_a_wrong_checksum_is_refused_naming_the_file(tmp_path, book):
    write_archive(tmp_path, book, coins=("BTC",))
    bad = tmp_path / "data/futures/um/monthly/klines/BTCUSDT_230929/1d/BTCUSDT_230929-1d-2023-07.zip"
    bad.write_bytes(bad.read_bytes()[:-4] + b"XXXX")
    source = BinanceArchiveSource(str(tmp_path), underlyings=("BTC",), today=TODAY)
    with pytest.raises(SourceError, match=r"BTCUSDT_230929-1d-2023-07\.zip does not match its CHECKSUM"):
        source.crypto_bars(*ROLL)


def test_archive_file_without_its_checksum_is_refused_unless_told(tmp_path, book):
    write_zip(tmp_path, "data/futures/um/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2023-07.zip",
              "1688169600000,1,2,0.5,1.5,10,0,0,0,0,0,0\n")
    (tmp_path / "data/futures/um/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2023-07.zip.CHECKSUM").unlink()
    strict = BinanceArchiveSource(str(tmp_path), underlyings=("BTC",), margins=("um",), today=TODAY)
    with pytest.raises(SourceError, match=r"BTCUSDT-1d-2023-07\.zip\.CHECKSUM is missing"):
        strict.crypto_bars(dt.date(2023, 7, 1), dt.date(2023, 7, 2))
    lenient = BinanceArchiveSource(str(tmp_path), underlyings=("BTC",), margins=("um",), today=TODAY,
                                   verify_checksums=False)
    assert lenient.crypto_bars(dt.date(2023, 7, 1), dt.date(2023, 7, 2))["close"].to_list() == [1.5]


def test_archive_over_http_is_cached_so_a_rerun_downloads_nothing(archive, tmp_path):
    root, _ = archive
    server = FolderServer(root).start()
    try:
        cache = tmp_path / "cache"
        first = BinanceArchiveSource(server.url, cache_dir=cache, today=TODAY)
        bars = first.crypto_bars(*ROLL)
        local = BinanceArchiveSource(str(root), today=TODAY).crypto_bars(*ROLL)
        assert_rows_equal(bars, local, KEY)
        assert first.stats.downloads == first.stats.files_read > 0
        asked = len(server.requests)
        # Zips and CHECKSUMs, and one look for each file the archive does not have.
        assert asked == 2 * first.stats.downloads + len(first.stats.missing)
        rerun = BinanceArchiveSource(server.url, cache_dir=cache, today=TODAY)
        assert_rows_equal(rerun.crypto_bars(*ROLL), local, KEY)
        assert len(server.requests) == asked and rerun.stats.downloads == 0 and rerun.stats.requests == 0
    finally:
        server.stop()


def test_archive_reads_daily_files_for_the_month_not_yet_published(tmp_path, book):
    written = write_archive(tmp_path, book, coins=("BTC",), daily_months={(2023, 8)})
    today = dt.date(2023, 8, 20)
    source = BinanceArchiveSource(str(tmp_path), underlyings=("BTC",), today=today)
    span = (dt.date(2023, 7, 25), today)
    bars = source.crypto_bars(*span)
    expected = window(written.bars_frame(), *span).filter(pl.col("price_type") != "index")
    assert_rows_equal(bars, expected, KEY)
    assert any("/daily/klines/BTCUSDT/1d/BTCUSDT-1d-2023-08-19.zip" in f for f in written.files)


# --------------------------------------------------------------------------------------- Binance REST
@pytest.fixture(scope="module")
def binance(book):
    server = HistoryVenueServer("binance", book, TODAY).start()
    yield server
    server.stop()


def rest_source(binance, **kwargs) -> BinanceRestHistorySource:
    return BinanceRestHistorySource(endpoint=binance.url, max_retries=1, backoff_seconds=0.0, environ={}, **kwargs)


def served_quarterlies(start: dt.date, end: dt.date, venue: str = "binance", keep_expiry_day: bool = True) -> pl.DataFrame:
    bars = window(sample_bars(start, end), start, end).filter(pl.col("kind") == "future")
    if not keep_expiry_day:
        bars = bars.filter(pl.col("date") != EXPIRY.date())
    return bars.with_columns(venue=pl.lit(venue))


def test_continuous_klines_attach_each_day_to_the_contract_current_that_day(binance):
    binance.requests.clear()
    source = rest_source(binance, delivery_margins=())
    bars = source.crypto_bars(*ROLL).filter(pl.col("kind") == "future")
    # The expiry day's continuous candle mixes two contracts: dropped, for linear and inverse alike.
    assert_rows_equal(bars, served_quarterlies(*ROLL, keep_expiry_day=False), KEY)
    assert EXPIRY.date() not in bars["date"].to_list()
    continuous = [r for r in binance.requests if "continuousKlines" in r]
    # CURRENT and NEXT quarter, per pair (BTCUSDT, ETHUSDT, BTCUSD, ETHUSD): one request each for 22 days.
    assert len(continuous) == 8


def test_delivery_klines_serve_expired_usdm_contracts_and_coinm_falls_back_to_continuous(binance):
    binance.requests.clear()
    source = rest_source(binance, delivery_margins=("um", "cm"))
    bars = source.crypto_bars(*ROLL).filter(pl.col("kind") == "future")
    served = served_quarterlies(*ROLL)
    linear = served.filter(pl.col("symbol").str.contains("USDT"))
    # USD-M delivery klines include the expiry day (00:00-08:00).
    assert_rows_equal(bars.filter(pl.col("symbol").str.contains("USDT")), linear, KEY)
    # The expired COIN-M contract is refused ("Invalid symbol"): it comes from continuous klines.
    inverse = bars.filter(pl.col("symbol").str.contains(":BTC-") | pl.col("symbol").str.contains(":ETH-"))
    expected = served.filter(~pl.col("symbol").str.contains("USDT") & (pl.col("date") != EXPIRY.date()))
    assert_rows_equal(inverse, expected, KEY)
    assert any("/dapi/v1/klines" in r and "BTCUSD_230630" in r for r in binance.requests)


def test_rest_history_snapshots_and_spot_perp_funding_come_through_the_live_listing(binance):
    source = rest_source(binance)
    instruments = source.instruments(*ROLL)
    assert instruments["reconstructed"].all()
    expired = instruments.filter(pl.col("symbol") == "BTC/USD:BTC-230630")
    assert expired["snapshot_date"].max() == EXPIRY.date() - dt.timedelta(days=1)  # from continuous klines
    assert expired["expiry_ts"].unique().to_list() == [EXPIRY]
    perps = source.crypto_bars(*ROLL).filter(pl.col("kind") == "perp")
    assert set(perps["symbol"]) == {"BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USD:BTC", "ETH/USD:ETH"}
    assert source.funding(*ROLL).height > 0
    assert source.stats.requests > 0


# --------------------------------------------------------------------------------------------- Deribit
@pytest.fixture(scope="module")
def deribit(book):
    server = HistoryVenueServer("deribit", book, TODAY).start()
    yield server
    server.stop()


def test_deribit_names_follow_the_expiry_schedule():
    assert instrument_name("BTC", dt.datetime(2024, 12, 27, 8)) == "BTC-27DEC24"
    assert instrument_name("ETH", dt.datetime(2023, 6, 30, 8)) == "ETH-30JUN23"
    assert instrument_name("BTC", None) == "BTC-PERPETUAL"


def test_deribit_expired_futures_and_index_equal_what_was_served(deribit):
    deribit.requests.clear()
    source = DeribitHistorySource(endpoint=deribit.url, environ={}, max_retries=1, backoff_seconds=0.0)
    bars = source.crypto_bars(*ROLL)
    sample = window(sample_bars(*ROLL), *ROLL).filter(pl.col("venue") == "sample_b")
    futures = sample.filter((pl.col("kind") != "spot") & (pl.col("price_type") == "last")).with_columns(venue=pl.lit("deribit"))
    assert_rows_equal(bars.filter(pl.col("kind") != "spot"), futures, KEY)
    index = sample.filter(pl.col("kind") == "spot").with_columns(venue=pl.lit("deribit"))
    assert_rows_equal(bars.filter(pl.col("kind") == "spot"), index, KEY)
    assert any("instrument_name=BTC-30JUN23" in r for r in deribit.requests)
    instruments = source.instruments(*ROLL)
    assert instruments["reconstructed"].all()
    june = instruments.filter(pl.col("symbol") == "BTC/USD:BTC-230630")
    assert june["snapshot_date"].max() == EXPIRY.date() and june["inverse"].all()
    basis = futures_basis(bars, instruments, min_dte=3.0)
    assert set(basis["symbol"]) >= {"BTC/USD:BTC-230630", "BTC/USD:BTC-230929"}


def test_deribit_funding_is_the_hourly_interest_served(deribit, book):
    start, end = dt.date(2023, 6, 29), dt.date(2023, 7, 2)
    funding = DeribitHistorySource(endpoint=deribit.url, environ={}).funding(start, end)
    # The server spreads each sample settlement over the hours it covers, a share of the rate per hour.
    expected = []
    for coin in ("BTC", "ETH"):
        for ts, rate, hours in book.funding[("sample_b", f"{coin}/USD:{coin}")]:
            for back in range(int(hours)):
                moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ts) - dt.timedelta(hours=back)
                if start <= moment.date() < end:
                    expected.append({"date": moment.date(), "venue": "deribit", "symbol": f"{coin}/USD:{coin}",
                                     "funding_ts": moment, "rate": rate / hours, "interval_hours": 1.0})
    assert_rows_equal(funding, pl.DataFrame(expected, schema=RAW_FUNDING.polars_schema), ["symbol", "funding_ts"])


# ---------------------------------------------------------------------------------------------- routed
def test_routed_source_serves_each_range_from_its_source_and_counts_what_came_from_where(archive, binance):
    root, written = archive
    switch = dt.date(2023, 7, 1)
    archive_source = BinanceArchiveSource(str(root), today=TODAY)
    rest = rest_source(binance)
    routed = RoutedCryptoSource([Route(rest, start=switch), Route(archive_source, end=switch)])
    bars = routed.crypto_bars(*ROLL)
    before = archive_source.crypto_bars(ROLL[0], switch)
    after = rest.crypto_bars(switch, ROLL[1])
    assert_rows_equal(bars, pl.concat([before, after]), KEY)
    instruments = routed.instruments(*ROLL)
    assert instruments["snapshot_date"].n_unique() == (ROLL[1] - ROLL[0]).days
    summary = routed.summary()
    assert summary[0].startswith(f"binance_archive: {(switch - ROLL[0]).days} days (2023-06-20 to 2023-06-30)")
    assert "files read" in summary[0] and f"{archive_source.stats.files_read} files read" in summary[0]
    assert summary[1].startswith(f"binance_rest: {(ROLL[1] - switch).days} days (2023-07-01 to 2023-07-11)")


def test_routed_source_refuses_overlaps_and_days_no_route_serves(archive):
    root, _ = archive
    source = BinanceArchiveSource(str(root), today=TODAY)
    with pytest.raises(SourceError, match="overlap"):
        RoutedCryptoSource([Route(source, end=dt.date(2023, 7, 2)), Route(source, start=dt.date(2023, 7, 1))])
    routed = RoutedCryptoSource([Route(source, start=dt.date(2023, 6, 25), end=dt.date(2023, 7, 1))])
    with pytest.raises(SourceError, match=r"no route serves 2023-06-20 to 2023-06-24, 2023-07-01 to 2023-07-11 \(16 days\)"):
        routed.crypto_bars(*ROLL)
