"""A missing funding settlement is a hole: which settlements the venue's schedule lists and the venue did not
send, the ledger entry it becomes (naming the time and the schedule), and the day's APR, computed over the hours
its settlements cover, staying what the settled rates say rather than dropping by a third."""

import datetime as dt

import polars as pl
import pytest

from assets.core.funding import funding_daily
from assets.raw.sources.funding_history import normalize_settlements
from pipelines.settings import Settings
from quality.derive import missing_settlements
from quality.gate import validate_window
from quality.quarantine import verdict
from warehouse.schemas import RAW_FUNDING

D = dt.date
DAY = D(2025, 6, 16)
PERP = "BTC/USDT:USDT"
SETTINGS = Settings(universe={"venues": ["sample_a"], "underlyings": ["BTC"]})


def at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))


def settlements(stamps, rates=None, hours=8.0, venue="sample_a", symbol=PERP) -> pl.DataFrame:
    rates = rates or [0.0001] * len(stamps)
    return pl.DataFrame({"date": [s.date() for s in stamps], "venue": venue, "symbol": symbol, "funding_ts": stamps,
                         "rate": rates, "interval_hours": hours}, schema=RAW_FUNDING.polars_schema)


def due(rows, history=None, start=DAY, end=DAY + dt.timedelta(days=1)):
    history = rows.clear() if history is None else history
    return missing_settlements(rows, history, start, end)["due_ts"].to_list()


# ------------------------------------------------------------------------- what the schedule lists
def test_a_complete_day_lacks_nothing_on_an_8h_or_an_hourly_schedule():
    assert due(settlements([at(DAY, h) for h in (0, 8, 16)])) == []
    assert due(settlements([at(DAY, h) for h in range(24)], hours=1.0)) == []


def test_each_missing_settlement_is_named_at_its_scheduled_time():
    assert due(settlements([at(DAY, 0), at(DAY, 16)])) == [at(DAY, 8)]  # between two known settlements
    assert due(settlements([at(DAY, 8), at(DAY, 16)])) == [at(DAY, 0)]  # before the first, back to 00:00
    assert due(settlements([at(DAY, 0), at(DAY, 8)])) == [at(DAY, 16)]  # after the last, up to midnight
    assert due(settlements([at(DAY, 8)])) == [at(DAY, 0), at(DAY, 16)]
    hourly = [at(DAY, h) for h in range(24) if h not in (5, 6)]
    assert due(settlements(hourly, hours=1.0)) == [at(DAY, 5), at(DAY, 6)]


def test_the_stored_day_before_is_the_context_of_the_first_settlement():
    yesterday = DAY - dt.timedelta(days=1)
    history = settlements([at(yesterday, h) for h in (0, 8)])  # yesterday's 16:00 never came
    rows = settlements([at(DAY, h) for h in (0, 8, 16)])
    # The hole is yesterday's, outside the window: today's run records nothing.
    assert due(rows, history) == []
    assert due(pl.concat([history, rows]), start=yesterday) == [at(yesterday, 16)]


def test_a_venue_moving_from_8h_to_4h_settlements_lacks_none():
    rows = settlements([at(DAY, 0), at(DAY, 8), at(DAY, 12), at(DAY, 16), at(DAY, 20)])
    rows = rows.with_columns(interval_hours=pl.Series([8.0, 8.0, 4.0, 4.0, 4.0]))
    assert due(rows) == []


def test_a_day_without_any_settlement_is_a_coverage_hole_not_a_list_of_missing_settlements():
    before, after = DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1)
    rows = settlements([at(before, h) for h in (0, 8, 16)] + [at(after, h) for h in (0, 8, 16)])
    assert due(rows, start=before, end=after + dt.timedelta(days=1)) == []


# ------------------------------------------------------------------------------ the day's APR
@pytest.mark.parametrize("declared", [8.0, None])
def test_a_missing_settlement_keeps_the_days_apr_per_hour_covered(declared):
    """08:00 never came; 00:00 paid 1 bp and 16:00 paid 3 bp, each for 8 hours (the venue's schedule), so the day
    covers 16 hours and its APR is 4 bp / 16 h * 8760 h = 21.9%. Read from the gap, 16:00 would cover 16 hours and
    the APR would be 4 bp / 24 h * 8760 h = 14.6%, a third lower."""
    frame = pl.DataFrame({"funding_ts": [at(DAY, 0), at(DAY, 16), at(DAY + dt.timedelta(days=1), 0)],
                          "rate": [0.0001, 0.0003, 0.0002]})
    rows = normalize_settlements(frame, "binance", PERP, declared_hours=declared, usual_hours=8.0)
    assert rows["interval_hours"].to_list() == [8.0, 8.0, 8.0]
    day = funding_daily(rows).filter(pl.col("date") == DAY).row(0, named=True)
    assert day["settlements"] == 2 and day["hours_covered"] == 16.0
    assert day["daily_rate"] == pytest.approx(0.0004)
    assert day["apr"] == pytest.approx(0.219)


# -------------------------------------------------------------------------------------- the ledger
def judged(rows, history=None):
    report = validate_window(RAW_FUNDING, rows, history=history, settings=SETTINGS, start=DAY,
                             end=DAY + dt.timedelta(days=1))
    return report, verdict(RAW_FUNDING, report, {})


def test_a_missing_settlement_is_a_missing_hole_naming_the_time_and_the_schedule_and_the_day_is_stored():
    report, v = judged(settlements([at(DAY, 0), at(DAY, 16)]))
    assert not v.refused and v.quarantined.height == 0  # the settled rows land
    hole = v.holes.row(0, named=True)
    assert v.holes.height == 1
    assert (hole["subject"], hole["date"], hole["status"]) == (f"sample_a:{PERP}", DAY, "missing")
    assert "08:00 UTC on 2025-06-16" in hole["reason"] and "every 8 h" in hole["reason"]
    assert "2 of 3 settled" in hole["reason"]
    assert not report.passed("warn") and report.passed("error")  # reported, never refused


def test_a_quarantined_day_is_not_also_a_missing_settlement():
    history = settlements([at(DAY - dt.timedelta(days=d), h) for d in range(1, 15) for h in (0, 8, 16)])
    _, v = judged(settlements([at(DAY, 0), at(DAY, 16)], rates=[0.01, 0.012]), history)  # x100, and 08:00 missing
    assert v.quarantined.select("subject", "status").rows() == [(f"sample_a:{PERP}", "quarantined")]
    assert v.holes.height == 0
