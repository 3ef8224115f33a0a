"""A replay through the whole pipeline: the archive folder (served over HTTP) up to 1 July 2023, Binance's
continuous and delivery klines after it, Deribit's chart data throughout, all on 127.0.0.1, replayed by
`python -m pipelines.cli replay` into a real DuckDB file across the June 2023 quarterly expiry.

The stored raw tables and core.basis_daily are compared row for row with what the servers were given to
serve (the archive's written rows, the sample market behind the REST stand-ins), for the linear (Binance
USD-M) and the inverse (Binance COIN-M, Deribit) contracts.
"""

import datetime as dt

import polars as pl
import pytest
import yaml

from fake_archive import FolderServer, write_archive
from fake_history_venues import HistoryVenueServer
from fake_venues import sample_book
from fake_yahoo import YahooServer, sample_series
from pipelines.cli import main
from pipelines.settings import Settings
from test_history_sources import assert_rows_equal, sample_bars, window
from pipelines.replay import find_holes, record_holes
from warehouse.db import Warehouse
from warehouse.schemas import CORE_BASIS_DAILY, RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_INSTRUMENTS

FIRST, LAST = dt.date(2023, 3, 1), dt.date(2023, 8, 31)
START, END = dt.date(2023, 6, 20), dt.date(2023, 7, 11)  # inclusive; the June quarterlies expire 30 June 08:00
SWITCH = dt.date(2023, 7, 1)  # the archive serves the days before, Binance's REST API the days from it
TODAY = dt.date(2024, 1, 15)
KEY = ["date", "venue", "symbol", "price_type"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    book = sample_book(FIRST, LAST)
    root = tmp_path_factory.mktemp("archive")
    written = write_archive(root, book)
    servers = {
        "archive": FolderServer(root).start(),
        "binance": HistoryVenueServer("binance", book, TODAY).start(),
        "deribit": HistoryVenueServer("deribit", book, TODAY).start(),
        "yahoo": YahooServer(sample_series(FIRST, LAST, Settings().traditional_series())).start(),
    }
    yield book, written, servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def replayed(served, warehouse_path, tmp_path, monkeypatch, capsys):
    _, written, servers = served
    settings_file = tmp_path / "replay.yaml"
    settings_file.write_text(yaml.safe_dump({
        "source": "live",
        "universe": {"venues": ["binance", "deribit"]},
        "live": {"endpoints": {"binance": servers["binance"].url, "deribit": servers["deribit"].url,
                               "yahoo": servers["yahoo"].url}, "max_retries": 1, "backoff_seconds": 0.0},
        "history": {
            "binance_archive": servers["archive"].url,
            "archive_cache_dir": str(tmp_path / "archive-cache"),
            "routes": [{"sources": ["binance_archive", "deribit_rest"], "end": SWITCH.isoformat()},
                       {"sources": ["binance_rest", "deribit_rest"], "start": SWITCH.isoformat()}],
        },
    }))
    monkeypatch.setenv("MARKET_SETTINGS", str(settings_file))
    servers["archive"].requests.clear()
    code = main(["replay", "--start", START.isoformat(), "--end", END.isoformat()])
    output = capsys.readouterr().out
    assert code == 0, output
    return served[0], written, servers, output


def binance_rest_served(start: dt.date, end: dt.date) -> pl.DataFrame:
    """What the Binance stand-in serves: sample_a as spot and USD-M, sample_b as COIN-M (its index is
    not a Binance series)."""
    bars = window(sample_bars(start, end), start, end)
    return bars.filter(~((pl.col("venue") == "sample_b") & (pl.col("kind") == "spot"))).with_columns(
        venue=pl.lit("binance"))


def deribit_served(start: dt.date, end: dt.date) -> pl.DataFrame:
    """What the Deribit stand-in serves: sample_b's futures and perpetual (last) and its index."""
    bars = window(sample_bars(start, end), start, end).filter(pl.col("venue") == "sample_b")
    return bars.filter((pl.col("kind") == "spot") | (pl.col("price_type") == "last")).with_columns(
        venue=pl.lit("deribit"))


def binance_funding_served(book, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The settlements the Binance stand-in serves (rates written with 8 decimals, as Binance does): sample_a's
    (USD-M) and sample_b's (COIN-M) perpetuals."""
    rows = []
    for (sample_venue, symbol), settlements in book.funding.items():
        for ts, rate, hours in settlements:
            moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ts)
            if sample_venue in ("sample_a", "sample_b") and start <= moment.date() < end:
                rows.append({"date": moment.date(), "venue": "binance", "symbol": symbol, "funding_ts": moment,
                             "rate": float(f"{rate:.8f}"), "interval_hours": float(hours)})
    return pl.DataFrame(rows, schema=RAW_FUNDING.polars_schema)


def expected_basis(bars: pl.DataFrame) -> pl.DataFrame:
    """F / S - 1 of every future close against its venue's spot close, computed here from the served rows."""
    spot = bars.filter(pl.col("kind") == "spot").select(
        "date", "venue", underlying=pl.col("symbol").str.split("/").list.first(), spot="close")
    futures = bars.filter(pl.col("kind") == "future").with_columns(
        underlying=pl.col("symbol").str.split("/").list.first(),
        expiry_ts=pl.col("symbol").str.slice(-6).str.strptime(pl.Datetime("us"), "%y%m%d") + pl.duration(hours=8))
    joined = futures.join(spot, on=["date", "venue", "underlying"]).with_columns(
        dte=(pl.col("expiry_ts") - pl.col("date").cast(pl.Datetime("us")) - pl.duration(days=1)).dt.total_seconds()
        / 86_400)
    return joined.filter(pl.col("dte") >= 0).select(
        "date", "venue", "symbol", "expiry_ts", "dte", price=pl.col("close"), spot=pl.col("spot"),
        basis=pl.col("close") / pl.col("spot") - 1)


@pytest.mark.slow
def test_replay_stores_what_was_served_across_a_quarterly_roll_and_a_rerun_downloads_nothing(replayed, warehouse_path,
                                                                                             capsys):
    book, written, servers, output = replayed
    wh = Warehouse(warehouse_path)
    end = END + dt.timedelta(days=1)

    # raw.crypto_ohlcv: the archive's rows before the switch, the REST rows from it, Deribit throughout.
    archive_part = window(written.bars_frame(), START, SWITCH).filter(pl.col("price_type") != "index")
    rest_part = binance_rest_served(SWITCH, end)
    expected = pl.concat([archive_part, rest_part, deribit_served(START, end)]).select(RAW_CRYPTO_OHLCV.column_names)
    stored = wh.read_window(RAW_CRYPTO_OHLCV).drop("source", strict=False).select(RAW_CRYPTO_OHLCV.column_names)
    assert_rows_equal(stored.cast(expected.schema), expected.cast(stored.schema), KEY)
    for symbol in ("BTC/USDT:USDT-230630", "BTC/USD:BTC-230630"):  # linear and inverse both roll
        days = stored.filter((pl.col("venue") == "binance") & (pl.col("symbol") == symbol))["date"]
        assert days.max() == dt.date(2023, 6, 30)
    assert stored.filter(pl.col("symbol") == "BTC/USD:BTC-230929")["venue"].unique().sort().to_list() == [
        "binance", "deribit"]

    # raw.instruments: reconstructed snapshots, one per day and contract that has candles that day.
    instruments = wh.read_window(RAW_INSTRUMENTS)
    assert instruments.height and instruments["reconstructed"].all()
    listed = instruments.select(date="snapshot_date", venue="venue", symbol="symbol").sort("date", "venue", "symbol")
    assert listed.equals(stored.select("date", "venue", "symbol").unique().sort("date", "venue", "symbol"))
    june = instruments.filter((pl.col("symbol") == "BTC/USDT:USDT-230630")).row(0, named=True)
    assert (june["linear"], june["inverse"], june["contract_size"], june["expiry_ts"]) == (
        True, False, 1.0, dt.datetime(2023, 6, 30, 8))
    inverse = instruments.filter((pl.col("venue") == "deribit") & (pl.col("symbol") == "BTC/USD:BTC-230630"))
    assert inverse["inverse"].all() and inverse["contract_size"].unique().to_list() == [10.0]

    # raw.funding: Binance's settlements (the archive's text, then the REST history) and Deribit's hourly interest.
    funding = wh.read_window(RAW_FUNDING).select(RAW_FUNDING.column_names)
    binance_funding = pl.concat([window(written.funding_frame(), START, SWITCH).select(RAW_FUNDING.column_names),
                                 binance_funding_served(book, SWITCH, end)])
    assert_rows_equal(funding.filter(pl.col("venue") == "binance"), binance_funding, ["symbol", "funding_ts"])
    assert set(funding.filter(pl.col("venue") == "deribit")["interval_hours"]) == {1.0}

    # core.basis_daily: every future's basis against its venue's spot, from the served closes.
    basis = wh.read_window(CORE_BASIS_DAILY).filter(pl.col("kind") == "future")
    want = expected_basis(expected)
    got = basis.select(want.columns)
    assert_rows_equal(got.cast(want.schema), want, ["date", "venue", "symbol"])
    assert {"BTC/USDT:USDT-230630", "BTC/USD:BTC-230630", "BTC/USDT:USDT-230929"} <= set(got["symbol"])

    # Progress as the run went, and the closing summary of what came from where.
    assert "instruments 2023-06-20 to 2023-06-30: binance_archive+deribit_rest:" in output
    assert "crypto_bars 2023-07-01 to 2023-07-11: binance_rest+deribit_rest:" in output
    assert "What came from where:" in output and "Still missing in the stored raw tables:" in output
    assert "Anomaly episodes by code:" in output
    assert len(servers["archive"].requests) > 0

    # A second replay reads every archive file from the cache: the archive server is not asked again.
    asked = len(servers["archive"].requests)
    before = wh.read_window(RAW_CRYPTO_OHLCV)
    assert main(["replay", "--start", START.isoformat(), "--end", END.isoformat()]) == 0
    output = capsys.readouterr().out
    assert len(servers["archive"].requests) == asked, servers["archive"].requests[asked:]
    archive_line = next(line for line in output.splitlines() if line.startswith("  binance_archive+deribit_rest:"))
    assert "22 files read, 0 downloaded" in archive_line
    assert wh.read_window(RAW_CRYPTO_OHLCV).equals(before)


def test_holes_are_the_spot_and_perpetual_days_without_rows_and_go_to_the_coverage_ledger(warehouse_path):
    wh = Warehouse(warehouse_path)
    days = [dt.date(2023, 7, 1) + dt.timedelta(days=i) for i in range(5)]
    bars = pl.DataFrame([
        {"date": d, "venue": "binance", "symbol": symbol, "kind": kind, "price_type": "last", "open": 1.0,
         "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}
        for d in days for symbol, kind in (("BTC/USDT", "spot"), ("BTC/USDT:USDT", "perp"), ("BTC/USDT:USDT-230929",
                                                                                          "future"))
        if not (kind == "spot" and d == days[2]) and not (kind == "future" and d > days[1])
    ], schema=RAW_CRYPTO_OHLCV.polars_schema)
    wh.replace_window(RAW_CRYPTO_OHLCV, bars, days[0], days[-1] + dt.timedelta(days=1), "test")
    funding = pl.DataFrame([{"date": d, "venue": "binance", "symbol": "BTC/USDT:USDT",
                             "funding_ts": dt.datetime(d.year, d.month, d.day, 8), "rate": 0.0001,
                             "interval_hours": 8.0} for d in days if d != days[4]], schema=RAW_FUNDING.polars_schema)
    wh.replace_window(RAW_FUNDING, funding, days[0], days[-1] + dt.timedelta(days=1), "test")

    holes = find_holes(wh, days[0], days[-1])
    # The spot's missing day and the perpetual's day without funding; the quarterly's absence is no hole.
    assert holes.select("table", "subject", "date", "reason").rows() == [
        ("raw.crypto_ohlcv", "binance:BTC/USDT", days[2], "no last candle"),
        ("raw.funding", "binance:BTC/USDT:USDT", days[4], "no funding settlement")]
    assert record_holes(wh, holes).startswith("(printed only: the warehouse has no raw.coverage_ledger table")

    with wh.connect() as con:  # the ledger as the warehouse defines it
        con.execute('CREATE TABLE raw.coverage_ledger ("table" VARCHAR NOT NULL, subject VARCHAR NOT NULL, '
                    'date DATE NOT NULL, status VARCHAR NOT NULL, reason VARCHAR, first_seen TIMESTAMP NOT NULL, '
                    'last_attempt TIMESTAMP NOT NULL, attempts BIGINT NOT NULL, PRIMARY KEY ("table", subject, date))')
    assert record_holes(wh, holes) == "(recorded in raw.coverage_ledger: 2 holes)"
    assert record_holes(wh, holes) == "(recorded in raw.coverage_ledger: 2 holes)"  # a rerun counts an attempt
    ledger = wh.query('SELECT "table", subject, date, status, attempts, first_seen <= last_attempt AS ordered '
                      'FROM raw.coverage_ledger ORDER BY 1, 2')
    assert ledger.rows() == [("raw.crypto_ohlcv", "binance:BTC/USDT", days[2], "missing", 2, True),
                             ("raw.funding", "binance:BTC/USDT:USDT", days[4], "missing", 2, True)]
