import datetime as dt

import exchange_calendars
import polars as pl
import pytest

from assets.raw.sources import calendars
from assets.raw.sources.calendars import (
    CalendarError,
    calendar_for_series,
    flag_sessions,
    is_trading_day,
    quarterly_expiries_from,
    quarterly_expiry,
    series_sessions,
    trading_days,
)
from pipelines.settings import Settings, SettingsError, TraditionalInstrument, load_settings

D = dt.date
CALENDARS = {t.series: t.calendar for t in Settings().universe.traditional}


def weekdays(start: dt.date, end: dt.date) -> set[dt.date]:
    return {start + dt.timedelta(days=i) for i in range((end - start).days) if (start + dt.timedelta(days=i)).weekday() < 5}


def test_every_default_series_declares_the_calendar_of_its_market():
    assert CALENDARS == {
        "gold": "us_futures", "silver": "us_futures", "copper": "us_futures", "nasdaq100": "us_futures",
        "nasdaq": "XNYS", "sp500": "XNYS", "dollar": "IEPA",
    }


def test_gold_trades_on_the_day_of_mourning_when_the_nyse_was_closed():
    # 2025-01-09, national day of mourning for President Carter: NYSE closed, COMEX metals traded.
    mourning = D(2025, 1, 9)
    assert is_trading_day(CALENDARS["gold"], mourning)
    assert not is_trading_day(CALENDARS["sp500"], mourning)
    assert not is_trading_day(CALENDARS["nasdaq"], mourning)
    # Same on 2018-12-05 (President G. H. W. Bush).
    assert is_trading_day("us_futures", D(2018, 12, 5)) and not is_trading_day("XNYS", D(2018, 12, 5))


def test_futures_trade_on_us_holidays_the_nyse_closes():
    for holiday in (D(2025, 7, 4), D(2025, 1, 20), D(2025, 5, 26), D(2025, 6, 19), D(2025, 9, 1), D(2025, 11, 27)):
        assert is_trading_day("us_futures", holiday), holiday
        assert not is_trading_day("XNYS", holiday), holiday


def test_fx_trades_every_weekday_including_us_holidays_but_never_on_weekends():
    assert is_trading_day("24/5", D(2025, 7, 4))  # Friday, Independence Day
    assert is_trading_day("24/5", D(2025, 12, 25))
    assert not is_trading_day("24/5", D(2025, 7, 5))  # Saturday
    assert not is_trading_day("24/5", D(2025, 7, 6))  # Sunday
    assert trading_days("24/5", D(2025, 6, 30), D(2025, 7, 14)) == sorted(weekdays(D(2025, 6, 30), D(2025, 7, 14)))


def test_good_friday_closes_exchanges_but_not_fx():
    good_friday = D(2025, 4, 18)
    for calendar in ("XNYS", "us_futures", "IEPA"):
        assert not is_trading_day(calendar, good_friday), calendar
    assert is_trading_day("24/5", good_friday)
    assert not is_trading_day("XNYS", D(2024, 3, 29)) and is_trading_day("XNYS", D(2024, 4, 1))


@pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")
def test_an_early_close_is_still_a_trading_day():
    # CME Globex closes early on the Friday after Thanksgiving, on 2025-07-04 and on Christmas Eve; the
    # library records them as early closes of CME (CMES), not as holidays.
    cme_early = {d.date() for d in exchange_calendars.get_calendar("CMES", start="2025-01-01", end="2025-12-31").early_closes}
    for day in (D(2025, 11, 28), D(2025, 7, 4), D(2025, 12, 24)):
        assert day in cme_early
        assert is_trading_day("us_futures", day), day
    # NYSE early closes too (13:00 New York).
    assert is_trading_day("XNYS", D(2025, 11, 28)) and is_trading_day("XNYS", D(2025, 12, 24))


def test_nyse_closures_of_2025_match_the_published_list():
    published = {
        D(2025, 1, 1), D(2025, 1, 9), D(2025, 1, 20), D(2025, 2, 17), D(2025, 4, 18), D(2025, 5, 26),
        D(2025, 6, 19), D(2025, 7, 4), D(2025, 9, 1), D(2025, 11, 27), D(2025, 12, 25),
    }
    year = weekdays(D(2025, 1, 1), D(2026, 1, 1))
    assert year - set(trading_days("XNYS", D(2025, 1, 1), D(2026, 1, 1))) == published


def test_nyse_observed_holiday_rules():
    # 2021-07-04 was a Sunday: observed Monday 5th. 2021-12-25 a Saturday: observed Friday 24th.
    assert not is_trading_day("XNYS", D(2021, 7, 5)) and not is_trading_day("XNYS", D(2021, 12, 24))
    # 2022-01-01 was a Saturday: the NYSE stays open on Friday 2021-12-31.
    assert is_trading_day("XNYS", D(2021, 12, 31))
    # Juneteenth only from 2022.
    assert is_trading_day("XNYS", D(2021, 6, 18)) and not is_trading_day("XNYS", D(2023, 6, 19))


def test_ranges_are_half_open():
    week = trading_days("XNYS", D(2025, 11, 24), D(2025, 12, 1))
    assert week == [D(2025, 11, 24), D(2025, 11, 25), D(2025, 11, 26), D(2025, 11, 28)]
    assert trading_days("XNYS", D(2025, 11, 24), D(2025, 11, 25)) == [D(2025, 11, 24)]
    assert trading_days("XNYS", D(2025, 11, 24), D(2025, 11, 24)) == []
    assert trading_days("XNYS", D(2025, 11, 25), D(2025, 11, 24)) == []


def test_ranges_outside_the_default_span_are_answered():
    assert trading_days("XNYS", D(1995, 12, 22), D(1995, 12, 28)) == [D(1995, 12, 22), D(1995, 12, 26), D(1995, 12, 27)]
    assert is_trading_day("XNYS", D(2055, 7, 6)) and not is_trading_day("XNYS", D(2055, 7, 5))
    assert is_trading_day("XNYS", D(2025, 1, 10))  # the span built first is still answered


def test_sessions_are_built_once_per_calendar(monkeypatch):
    built = []
    real = exchange_calendars.get_calendar
    monkeypatch.setattr(calendars, "_SESSIONS", {})
    monkeypatch.setattr(exchange_calendars, "get_calendar", lambda name, **kw: built.append(name) or real(name, **kw))
    for year in range(2019, 2026):
        trading_days("XNYS", D(year, 1, 1), D(year + 1, 1, 1))
        is_trading_day("XNYS", D(year, 7, 4))
        is_trading_day("us_futures", D(year, 7, 4))
    assert built == ["XNYS", "us_futures"]


def test_the_usual_calendar_names_are_canonical_library_names():
    assert set(calendars.COMMON_CALENDARS) <= set(exchange_calendars.get_calendar_names(include_aliases=False))


def test_unknown_and_alias_calendar_names_are_one_line_errors():
    with pytest.raises(CalendarError, match="unknown trading calendar 'NASDAQX'") as unknown:
        trading_days("NASDAQX", D(2025, 1, 1), D(2025, 2, 1))
    assert "\n" not in str(unknown.value) and "us_futures" in str(unknown.value)
    with pytest.raises(CalendarError, match="'COMEX' is an alias of 'CMES'"):
        is_trading_day("COMEX", D(2025, 1, 9))


def test_a_datetime_is_refused_rather_than_matching_no_session():
    with pytest.raises(TypeError, match="dates"):
        is_trading_day("XNYS", dt.datetime(2025, 1, 10))


def test_series_sessions_follow_each_series_calendar():
    frame = series_sessions({"gold": "us_futures", "sp500": "XNYS", "yen": "24/5"}, D(2025, 1, 8), D(2025, 1, 11))
    by_series = {s: sorted(g["date"].to_list()) for (s,), g in frame.group_by("series")}
    assert by_series == {
        "gold": [D(2025, 1, 8), D(2025, 1, 9), D(2025, 1, 10)],
        "sp500": [D(2025, 1, 8), D(2025, 1, 10)],
        "yen": [D(2025, 1, 8), D(2025, 1, 9), D(2025, 1, 10)],
    }
    assert series_sessions({}, D(2025, 1, 8), D(2025, 1, 11)).height == 0


def test_calendar_for_series_reads_the_settings():
    traditional = Settings().universe.traditional
    assert calendar_for_series(traditional, "gold") == "us_futures"
    assert calendar_for_series(traditional, "sp500") == "XNYS"
    with pytest.raises(CalendarError, match="'platinum' is not in the settings"):
        calendar_for_series(traditional, "platinum")


def test_settings_refuse_an_unknown_calendar_in_one_line(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("universe:\n  traditional:\n    - {series: yen, ticker: JPY=X, calendar: FX24}\n")
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    message = str(error.value)
    assert "\n" not in message
    assert "universe.traditional.0" in message and "yen (JPY=X)" in message and "unknown trading calendar 'FX24'" in message


def test_settings_require_every_series_to_declare_its_calendar():
    with pytest.raises(ValueError, match="calendar"):
        TraditionalInstrument(series="yen", ticker="JPY=X")
    assert TraditionalInstrument(series="yen", ticker="JPY=X", calendar="24/5").calendar == "24/5"


def test_quarterly_expiry_is_last_friday_0800_utc():
    assert quarterly_expiry(2026, 3) == dt.datetime(2026, 3, 27, 8)
    assert quarterly_expiry(2026, 6) == dt.datetime(2026, 6, 26, 8)
    assert quarterly_expiry(2026, 9) == dt.datetime(2026, 9, 25, 8)
    assert quarterly_expiry(2026, 12) == dt.datetime(2026, 12, 25, 8)


def test_two_nearest_expiries_roll_the_day_after_expiry():
    assert quarterly_expiries_from(D(2026, 3, 27), 2) == [dt.datetime(2026, 3, 27, 8), dt.datetime(2026, 6, 26, 8)]
    assert quarterly_expiries_from(D(2026, 3, 28), 2) == [dt.datetime(2026, 6, 26, 8), dt.datetime(2026, 9, 25, 8)]


def test_rows_are_flagged_against_their_own_series_calendar():
    rows = pl.DataFrame({
        "series": ["gold", "sp500", "gold", "sp500", "yen", "yen"],
        "date": [D(2025, 7, 4), D(2025, 7, 4), D(2025, 7, 5), D(2025, 7, 3), D(2025, 12, 25), D(2025, 4, 19)],
        "close": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    })
    flagged = flag_sessions(rows, {"gold": "us_futures", "sp500": "XNYS", "yen": "24/5"})
    assert flagged.columns == ["series", "date", "close", "is_trading_day"]
    assert flagged["close"].to_list() == rows["close"].to_list()  # order and rows kept
    assert flagged["is_trading_day"].to_list() == [True, False, False, True, True, False]
    with pytest.raises(CalendarError, match=r"\['copper'\] have no declared trading calendar"):
        flag_sessions(rows.with_columns(series=pl.lit("copper")), {"gold": "us_futures"})
    assert flag_sessions(rows.clear(), {})["is_trading_day"].dtype == pl.Boolean
