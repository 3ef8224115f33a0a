"""Stored raw rows only disappear on purpose: the comparison of an answer with what is stored."""

import datetime as dt

import polars as pl
import pytest

from assets.guard import ALLOW_SHRINK_TAG, ShrinkRefused, decide, find_shrink, guarded
from warehouse.schemas import CORE_BASIS_DAILY, RAW_CRYPTO_OHLCV, RAW_FUNDING

START, END = dt.date(2025, 4, 1), dt.date(2025, 4, 4)


def bars(days: list[int], venues=("binance", "okx"), symbols=("BTC/USDT",)) -> pl.DataFrame:
    rows = [{"date": dt.date(2025, 4, d), "venue": v, "symbol": s, "price_type": "last"}
            for d in days for v in venues for s in symbols]
    return pl.DataFrame(rows, schema={"date": pl.Date, "venue": pl.Utf8, "symbol": pl.Utf8, "price_type": pl.Utf8})


def test_the_same_or_a_larger_answer_loses_nothing():
    stored = bars([1, 2, 3])
    assert find_shrink(RAW_CRYPTO_OHLCV, stored, stored, "ccxt", START, END) is None
    assert find_shrink(RAW_CRYPTO_OHLCV, stored, bars([1, 2, 3], symbols=("BTC/USDT", "ETH/USDT")), "ccxt",
                       START, END) is None
    assert find_shrink(RAW_CRYPTO_OHLCV, stored.head(0), bars([1]), "ccxt", START, END) is None


def test_an_empty_answer_names_every_stored_subject_and_its_days():
    shrink = find_shrink(RAW_CRYPTO_OHLCV, bars([1, 2, 3]), bars([]), "ccxt", START, END)
    assert shrink.rows == 6
    message = shrink.message()
    assert "raw.crypto_ohlcv: the answer of ccxt for 2025-04-01 to 2025-04-03 lacks 6 stored row(s)" in message
    assert "binance BTC/USDT last on 2025-04-01..2025-04-03 (3 row(s))" in message
    assert "Nothing was written" in message and "--allow-shrink" in message and ALLOW_SHRINK_TAG in message


def test_a_venue_missing_on_two_days_is_named_with_those_days():
    incoming = pl.concat([bars([1, 2, 3], venues=("binance",)), bars([1], venues=("okx",))])
    shrink = find_shrink(RAW_CRYPTO_OHLCV, bars([1, 2, 3]), incoming, "ccxt", START, END)
    assert shrink.rows == 2
    assert shrink.describe() == "okx BTC/USDT last on 2025-04-02..2025-04-03 (2 row(s))"


def test_a_missing_funding_settlement_is_a_loss():
    stamps = [dt.datetime(2025, 4, 1, h) for h in (0, 8, 16)]
    stored = pl.DataFrame({"date": [dt.date(2025, 4, 1)] * 3, "venue": ["bybit"] * 3, "symbol": ["BTC/USDT:USDT"] * 3,
                           "funding_ts": stamps})
    shrink = find_shrink(RAW_FUNDING, stored, stored.head(2), "ccxt", START, END)
    assert shrink.rows == 1 and shrink.describe() == "bybit BTC/USDT:USDT on 2025-04-01 (1 row(s))"


def test_the_decision_refuses_unless_allowed():
    shrink = find_shrink(RAW_CRYPTO_OHLCV, bars([1]), bars([]), "ccxt", START, END)
    with pytest.raises(ShrinkRefused, match="lacks 2 stored row"):
        decide(shrink, allowed=False)
    assert decide(shrink, allowed=True) is shrink
    assert decide(None, allowed=False) is None


def test_derived_tables_are_not_guarded():
    assert guarded(RAW_CRYPTO_OHLCV) and not guarded(CORE_BASIS_DAILY)
    assert find_shrink(CORE_BASIS_DAILY, pl.DataFrame({"date": [START]}), pl.DataFrame(), "core", START, END) is None
