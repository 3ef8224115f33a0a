"""Traditional returns on the declared sessions of the Nasdaq series' calendar: a session one series misses stays a
return date of the others, a return across the hole spans it (ln(close / the last close before the hole)), a
session only gold's own calendar has is spanned like a weekend, and a pair counts the hole as a missing
observation under the 80% window rule. Hand-computed values over late May 2025: the Nasdaq (NYSE) misses
Wednesday 21 May; gold (CME Globex) trades on Memorial Day, 26 May, when the NYSE is closed."""

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from assets.core.correlation import Pair, pair_correlations, same_interval
from assets.core.returns import traditional_returns

D = dt.date
CALENDARS = {"nasdaq": "XNYS", "gold": "us_futures"}
FIRST, END = D(2025, 5, 19), D(2025, 5, 31)
BTC = {19: 100.0, 20: 102.0, 21: 99.0, 22: 101.0, 23: 104.0, 24: 103.0, 25: 105.0, 26: 100.0, 27: 98.0, 28: 101.0,
       29: 103.0, 30: 99.0}
NASDAQ = {19: 200.0, 20: 203.0, 22: 201.0, 23: 205.0, 27: 199.0, 28: 204.0, 29: 206.0, 30: 202.0}  # 21 May missing
GOLD = {19: 30.0, 20: 30.3, 21: 30.1, 22: 30.6, 23: 30.4, 26: 30.9, 27: 30.7, 28: 31.0, 29: 30.8, 30: 31.2}


def closes(series: str, symbol: str, by_day: dict[int, float]) -> pl.DataFrame:
    return pl.DataFrame({"date": [D(2025, 5, d) for d in by_day], "series": series, "symbol": symbol,
                         "close": list(by_day.values())})


@pytest.fixture(scope="module")
def returns() -> pl.DataFrame:
    traditional = pl.concat([closes("nasdaq", "^IXIC", NASDAQ), closes("gold", "GC=F", GOLD)])
    return traditional_returns(traditional, closes("BTC", "BTC/USDT", BTC), CALENDARS, "XNYS", FIRST, END)


def of(returns: pl.DataFrame, series: str) -> dict[int, dict]:
    return {r["date"].day: r for r in returns.filter(pl.col("series") == series).iter_rows(named=True)}


def test_a_session_the_nasdaq_misses_is_still_a_return_date_of_gold_and_btc(returns):
    nasdaq, gold, btc = of(returns, "nasdaq"), of(returns, "gold"), of(returns, "BTC")
    assert 21 not in nasdaq  # the hole has no return, never a forward-filled zero
    assert gold[21]["log_return"] == pytest.approx(math.log(30.1 / 30.3))
    assert btc[21]["log_return"] == pytest.approx(math.log(99 / 102))
    # The Nasdaq's next return spans the hole, from its last close.
    assert nasdaq[22]["prev_date"] == D(2025, 5, 20)
    assert nasdaq[22]["log_return"] == pytest.approx(math.log(201 / 203))


def test_every_leg_returns_over_the_sessions_of_the_nasdaq_calendar(returns):
    gold, btc, nasdaq = of(returns, "gold"), of(returns, "BTC"), of(returns, "nasdaq")
    # Memorial Day is a Globex session but not an NYSE one: gold's return spans it, over the same Friday to Tuesday
    # as BTC's and the Nasdaq's, so a cross-asset rule compares moves over one interval.
    assert sorted(gold) == [19, 20, 21, 22, 23, 27, 28, 29, 30]
    assert gold[27]["prev_date"] == D(2025, 5, 23) and gold[27]["log_return"] == pytest.approx(math.log(30.7 / 30.4))
    assert sorted(btc) == [19, 20, 21, 22, 23, 27, 28, 29, 30]
    assert btc[27]["prev_date"] == D(2025, 5, 23) and btc[27]["log_return"] == pytest.approx(math.log(98 / 104))
    assert sorted(nasdaq) == [19, 20, 22, 23, 27, 28, 29, 30]


def test_a_pair_puts_both_legs_on_one_interval_across_a_hole(returns):
    btc = returns.filter(pl.col("series") == "BTC")
    by_day = {r["date"].day: r for r in same_interval(btc, returns.filter(pl.col("series") == "nasdaq")).iter_rows(named=True)}
    assert by_day[21]["b"] is None  # the Nasdaq's hole: one leg, a missing observation
    assert by_day[22]["a"] == pytest.approx(math.log(101 / 102))  # BTC over the Nasdaq's 20 to 22 May
    gold_pair = {r["date"].day: r for r in same_interval(btc, returns.filter(pl.col("series") == "gold")).iter_rows(named=True)}
    assert 26 not in gold_pair
    assert gold_pair[27]["a"] == pytest.approx(math.log(98 / 104)) and gold_pair[27]["b"] == pytest.approx(math.log(30.7 / 30.4))


def test_the_hole_counts_as_a_missing_observation_under_the_80_percent_rule(returns):
    pair = Pair("btc~nasdaq", "BTC", "nasdaq", "traditional")
    out = pair_correlations(returns, [pair], short=5, baseline=9, min_fraction=0.8)
    by_day = {r["date"].day: r for r in out.iter_rows(named=True)}
    # 27 May's window: 20, 21 (the hole), 22, 23 and 27 May: 4 of 5 observations, enough.
    btc = [math.log(102 / 100), math.log(101 / 102), math.log(104 / 101), math.log(98 / 104)]
    nasdaq = [math.log(203 / 200), math.log(201 / 203), math.log(205 / 201), math.log(199 / 205)]
    assert by_day[27]["n_short"] == 4
    assert by_day[27]["corr_short"] == pytest.approx(np.corrcoef(btc, nasdaq)[0, 1])
    # 23 May's window: 19 May (no earlier close), 20, 21 (the hole), 22, 23: 3 of 5, below 80%.
    assert by_day[23]["n_short"] == 3 and by_day[23]["corr_short"] is None
