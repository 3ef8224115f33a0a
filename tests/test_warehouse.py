import datetime as dt

import polars as pl
import pytest

from assets.raw.sources.sample import SampleMarket
from warehouse.db import Warehouse, WarehouseError
from warehouse.schemas import RAW_CRYPTO_OHLCV, RAW_FUNDING

START, MID, END = dt.date(2025, 1, 1), dt.date(2025, 1, 3), dt.date(2025, 1, 5)


@pytest.fixture
def stored(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    bars = SampleMarket().crypto_bars(START, END)
    wh.replace_window(RAW_CRYPTO_OHLCV, bars, START, END, source="sample")
    return wh, bars


def test_replacing_a_window_twice_gives_identical_tables(stored):
    wh, bars = stored
    wh.replace_window(RAW_CRYPTO_OHLCV, bars.filter(pl.col("date") >= MID), MID, END, source="sample")
    assert wh.read_window(RAW_CRYPTO_OHLCV).equals(bars.sort(RAW_CRYPTO_OHLCV.key))


def test_a_window_is_replaced_whole(stored):
    wh, bars = stored
    fewer = bars.filter((pl.col("date") >= MID) & (pl.col("venue") == "sample_a"))
    wh.replace_window(RAW_CRYPTO_OHLCV, fewer, MID, END, source="sample")
    after = wh.read_window(RAW_CRYPTO_OHLCV, MID, END)
    assert set(after["venue"]) == {"sample_a"}
    # Days outside the window are untouched.
    assert wh.read_window(RAW_CRYPTO_OHLCV, START, MID).equals(
        bars.filter(pl.col("date") < MID).sort(RAW_CRYPTO_OHLCV.key)
    )


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda f: f.with_columns(close=pl.when(pl.col("symbol") == "BTC/USDT").then(None).otherwise(pl.col("close"))),
         r"without close, first: venue=sample_a, symbol=BTC/USDT, date=2025-01-03"),
        (lambda f: pl.concat([f, f.head(1)]), r"share a key"),
        (lambda f: f.drop("volume"), r"missing column\(s\) \['volume'\]"),
        (lambda f: f.with_columns(date=pl.col("date") + pl.duration(days=10)), r"outside the window"),
    ],
)
def test_bad_rows_are_refused_and_nothing_stored_is_lost(stored, corrupt, message):
    wh, bars = stored
    before = wh.read_window(RAW_CRYPTO_OHLCV)
    with pytest.raises(WarehouseError, match=message):
        wh.replace_window(RAW_CRYPTO_OHLCV, corrupt(bars.filter(pl.col("date") >= MID)), MID, END, source="sample")
    assert wh.read_window(RAW_CRYPTO_OHLCV).equals(before)


def test_a_failure_inside_the_transaction_rolls_back(stored, monkeypatch):
    wh, bars = stored
    before = wh.read_window(RAW_CRYPTO_OHLCV)
    # Rows that pass validation but break the INSERT, which runs after the DELETE: nothing may be lost.
    import warehouse.db as db

    monkeypatch.setattr(db, "conform", lambda frame, spec, source: frame.rename({"close": "last"}))
    with pytest.raises(Exception, match="close"):
        wh.replace_window(RAW_CRYPTO_OHLCV, bars, START, END, source="sample")
    assert wh.read_window(RAW_CRYPTO_OHLCV).equals(before)
