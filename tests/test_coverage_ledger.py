"""The pure parts of holes-as-data: the ledger's merge rules, the spike a next day reveals, what of a failed
validation quarantines one series and what refuses the window, returns and correlations across a hole."""

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from assets.core.correlation import same_interval
from assets.core.returns import returns_on_calendar
from pipelines.settings import Settings
from quality.derive import revealed_spikes, unit_error_flags
from quality.gate import validate_window
from quality.quarantine import verdict
from warehouse.db import Warehouse
from warehouse.ledger import merge_ledger, observed, read_ledger, replace_window_with_ledger
from warehouse.schemas import RAW_COVERAGE_LEDGER, RAW_TRADITIONAL_OHLCV

D = dt.date
T = "raw.traditional_ohlcv"
NOW = dt.datetime(2025, 1, 10, 1, 0)
LATER = dt.datetime(2025, 1, 10, 2, 0)


def hole(subject, day, status="missing", reason="absent"):
    return {"table": T, "subject": subject, "date": day, "status": status, "reason": reason}


# ------------------------------------------------------------------------------------------- ledger
def test_a_new_hole_is_recorded_once_with_one_attempt():
    out = merge_ledger(pl.DataFrame(schema=RAW_COVERAGE_LEDGER.polars_schema), observed([hole("gold", D(2025, 1, 9))]),
                       T, [D(2025, 1, 9)], NOW)
    row = out.row(0, named=True)
    assert out.height == 1 and row["status"] == "missing" and row["attempts"] == 1 and row["first_seen"] == NOW


def test_a_hole_seen_again_keeps_its_first_sighting_and_counts_the_attempt():
    first = merge_ledger(pl.DataFrame(schema=RAW_COVERAGE_LEDGER.polars_schema),
                         observed([hole("gold", D(2025, 1, 9), "outage", "GaveUp: 503")]), T, [D(2025, 1, 9)], NOW)
    again = merge_ledger(first, observed([hole("gold", D(2025, 1, 9), "outage", "GaveUp: 503")]), T, [D(2025, 1, 9)],
                         LATER).row(0, named=True)
    assert again["attempts"] == 2 and again["first_seen"] == NOW and again["last_attempt"] == LATER


def test_a_hole_no_longer_seen_is_resolved_late_arrived_or_filled():
    days = [D(2025, 1, 9)]
    first = merge_ledger(pl.DataFrame(schema=RAW_COVERAGE_LEDGER.polars_schema),
                         observed([hole("gold", days[0]), hole("silver", days[0], "quarantined", "unit error")]), T,
                         days, NOW)
    resolved = merge_ledger(first, observed(), T, days, LATER).sort("subject")
    assert resolved["status"].to_list() == ["late-arrived", "filled"]
    assert resolved["attempts"].to_list() == [2, 2]
    assert resolved["reason"][1] == "was quarantined: unit error"
    # Outside the window nothing changes; a resolved entry stays as it is.
    assert merge_ledger(resolved, observed(), T, days, LATER).equals(resolved)


def test_the_window_and_its_ledger_entries_land_in_one_transaction(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    bars = pl.DataFrame({"date": [D(2025, 1, 8), D(2025, 1, 9)], "series": ["gold"] * 2, "ticker": ["GC=F"] * 2,
                         "open": [1.0, 1.0], "high": [1.0, 1.0], "low": [1.0, 1.0], "close": [1.0, 1.0],
                         "volume": [None, None]})
    removed = pl.DataFrame(schema={"date": pl.Date, "subject": pl.Utf8})
    replace_window_with_ledger(wh, RAW_TRADITIONAL_OHLCV, bars, D(2025, 1, 8), D(2025, 1, 10), "t",
                               observed([hole("silver", D(2025, 1, 9))]), removed)
    # A later window that finds the stored 8 January bad removes it with its ledger entry, atomically.
    spiked = observed([hole("gold", D(2025, 1, 8), "quarantined", "unit error")])
    replace_window_with_ledger(wh, RAW_TRADITIONAL_OHLCV, bars.clear(), D(2025, 1, 10), D(2025, 1, 11), "t", spiked,
                               pl.DataFrame({"date": [D(2025, 1, 8)], "subject": ["gold"]}))
    assert wh.read_window(RAW_TRADITIONAL_OHLCV)["date"].to_list() == [D(2025, 1, 9)]
    ledger = read_ledger(wh, T).sort("date")
    assert ledger.select("subject", "date", "status").rows() == [
        ("gold", D(2025, 1, 8), "quarantined"), ("silver", D(2025, 1, 9), "missing")]
    # A write that fails leaves both as they were.
    with pytest.raises(Exception):
        replace_window_with_ledger(wh, RAW_TRADITIONAL_OHLCV, pl.concat([bars, bars]), D(2025, 1, 8), D(2025, 1, 10),
                                   "t", observed([hole("copper", D(2025, 1, 9))]), removed)
    assert read_ledger(wh, T).height == 2 and wh.read_window(RAW_TRADITIONAL_OHLCV).height == 1


# ------------------------------------------------------------------------------------------- spikes
def closes(values, first=D(2025, 1, 6)):
    return pl.DataFrame({"ticker": ["GC=F"] * len(values), "date": [first + dt.timedelta(days=i) for i in range(len(values))],
                         "close": values})


def test_the_spike_is_the_error_and_the_day_that_reverses_it_is_not():
    flags = unit_error_flags(closes([100.0, 101.0, 202.0, 102.0, 103.0]), ["ticker"], 0.5)
    assert flags["unit_error"].to_list() == [False, False, True, False, False]
    assert flags["reversal"].to_list() == [False, False, False, True, False]


def test_a_hundredfold_jump_and_its_return_flag_only_the_jump():
    flags = unit_error_flags(closes([100.0, 10100.0, 102.0]), ["ticker"], 0.5)
    assert flags["unit_error"].to_list() == [False, True, False]


def test_the_next_day_reveals_the_stored_spike():
    history = closes([100.0, 101.0, 202.0])  # 8 January doubled, stored by yesterday's daily run
    today = closes([102.0], first=D(2025, 1, 9))
    revealed = revealed_spikes(today, history, ["ticker"], 0.5, D(2025, 1, 9))
    assert revealed["date"].to_list() == [D(2025, 1, 8)]
    assert revealed_spikes(today, closes([100.0, 101.0, 101.5]), ["ticker"], 0.5, D(2025, 1, 9)).height == 0


# --------------------------------------------------------------------------------------- quarantine
def gold_and_silver(gold_close):
    days = [D(2025, 1, 6), D(2025, 1, 7), D(2025, 1, 8)]
    rows = []
    for series, ticker, price in (("gold", "GC=F", 2000.0), ("silver", "SI=F", 30.0)):
        for i, day in enumerate(days):
            close = gold_close[i] if series == "gold" else price
            rows.append({"date": day, "series": series, "ticker": ticker, "open": price, "high": max(price, close),
                         "low": min(price, close), "close": close, "volume": 1.0})
    return pl.DataFrame(rows, schema=RAW_TRADITIONAL_OHLCV.polars_schema)


SETTINGS = Settings(universe={"traditional": [
    {"series": "gold", "ticker": "GC=F", "calendar": "us_futures", "description": "gold"},
    {"series": "silver", "ticker": "SI=F", "calendar": "us_futures", "description": "silver"},
]})


def judge(rows, failures=None):
    report = validate_window(RAW_TRADITIONAL_OHLCV, rows, history=None, settings=SETTINGS, start=D(2025, 1, 6),
                             end=D(2025, 1, 9))
    return verdict(RAW_TRADITIONAL_OHLCV, report, failures or {})


def test_a_series_failing_an_error_expectation_is_quarantined_for_that_day_only():
    v = judge(gold_and_silver([2000.0, 0.0, 2001.0]))  # a zero close on 7 January
    assert not v.refused
    assert v.quarantined.select("subject", "date").rows() == [("gold", D(2025, 1, 7))]
    assert "expect_column_values_to_be_between(close)" in v.quarantined["reason"][0]


def test_duplicate_keys_refuse_the_whole_window():
    rows = gold_and_silver([2000.0, 2001.0, 2002.0])
    v = judge(pl.concat([rows, rows.head(1)]))
    assert [f.name.split("(")[0] for f in v.refused] == ["expect_compound_columns_to_be_unique"]


def test_a_series_the_source_gave_up_on_is_an_outage_on_each_of_its_sessions():
    rows = gold_and_silver([2000.0, 2001.0, 2002.0]).filter(pl.col("series") == "silver")
    v = judge(rows, {"gold": "GaveUp: yahoo: GC=F answered 503"})
    assert v.holes.select("subject", "status").unique().rows() == [("gold", "outage")]
    assert v.holes.height == 3 and v.quarantined.height == 0


# ------------------------------------------------------------------------------------ across a hole
def test_a_pair_puts_both_legs_on_the_interval_a_hole_made_longer():
    days = [D(2025, 1, 6) + dt.timedelta(days=i) for i in range(5)]
    gold = pl.DataFrame({"date": days, "series": "gold", "symbol": "GC=F", "close": [10.0, 11.0, 12.0, 13.0, 14.0]})
    btc = pl.DataFrame({"date": days, "series": "BTC", "symbol": "BTC", "close": [100.0, 90.0, 80.0, 85.0, 95.0]})
    calendar = pl.Series(days)
    returns = returns_on_calendar(pl.concat([gold.filter(pl.col("date") != days[2]), btc]), calendar, "traditional")
    aligned = same_interval(returns.filter(pl.col("series") == "gold"), returns.filter(pl.col("series") == "BTC"))
    by_day = {r["date"]: r for r in aligned.iter_rows(named=True)}
    assert by_day[days[2]]["a"] is None  # the hole: one leg only, a missing observation
    assert by_day[days[3]]["a"] == pytest.approx(math.log(13 / 11))  # spans the hole
    assert by_day[days[3]]["b"] == pytest.approx(math.log(85 / 90))  # BTC over the same two sessions
    assert by_day[days[4]]["b"] == pytest.approx(math.log(95 / 85))


def test_without_holes_the_aligned_returns_are_the_returns():
    days = [D(2025, 1, 6) + dt.timedelta(days=i) for i in range(30)]
    rng = np.random.default_rng(3)
    closes_a = 100 * np.exp(np.cumsum(rng.standard_normal(30) * 0.01))
    frame = pl.DataFrame({"date": days, "series": "A", "symbol": "A", "close": closes_a})
    returns = returns_on_calendar(frame, pl.Series(days), "crypto")
    aligned = same_interval(returns, returns)
    assert aligned["a"].to_list() == returns["log_return"].to_list() == aligned["b"].to_list()
