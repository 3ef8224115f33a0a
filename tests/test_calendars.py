import datetime as dt

from assets.raw.sources.calendars import (
    easter_sunday,
    is_nyse_trading_day,
    nyse_holidays,
    nyse_trading_days,
    quarterly_expiries_from,
    quarterly_expiry,
)

D = dt.date


def test_nyse_holidays_2025_match_the_published_list():
    published = {
        D(2025, 1, 1), D(2025, 1, 9), D(2025, 1, 20), D(2025, 2, 17), D(2025, 4, 18), D(2025, 5, 26),
        D(2025, 6, 19), D(2025, 7, 4), D(2025, 9, 1), D(2025, 11, 27), D(2025, 12, 25),
    }
    assert nyse_holidays(2025) == published


def test_nyse_holidays_observed_on_weekday_rules():
    # 2021-07-04 was a Sunday: observed Monday 5th. 2021-12-25 a Saturday: observed Friday 24th.
    assert D(2021, 7, 5) in nyse_holidays(2021)
    assert D(2021, 12, 24) in nyse_holidays(2021)
    # 2022-01-01 was a Saturday: NYSE stays open on Friday 2021-12-31.
    assert is_nyse_trading_day(D(2021, 12, 31))
    # Juneteenth only from 2022.
    assert is_nyse_trading_day(D(2021, 6, 18)) and not is_nyse_trading_day(D(2023, 6, 19))


def test_easter():
    assert easter_sunday(2024) == D(2024, 3, 31)
    assert easter_sunday(2026) == D(2026, 4, 5)


def test_trading_days_of_a_week_with_thanksgiving():
    week = nyse_trading_days(D(2025, 11, 24), D(2025, 12, 1))
    assert week == [D(2025, 11, 24), D(2025, 11, 25), D(2025, 11, 26), D(2025, 11, 28)]


def test_quarterly_expiry_is_last_friday_0800_utc():
    assert quarterly_expiry(2026, 3) == dt.datetime(2026, 3, 27, 8)
    assert quarterly_expiry(2026, 6) == dt.datetime(2026, 6, 26, 8)
    assert quarterly_expiry(2026, 9) == dt.datetime(2026, 9, 25, 8)
    assert quarterly_expiry(2026, 12) == dt.datetime(2026, 12, 25, 8)


def test_two_nearest_expiries_roll_the_day_after_expiry():
    assert quarterly_expiries_from(D(2026, 3, 27), 2) == [dt.datetime(2026, 3, 27, 8), dt.datetime(2026, 6, 26, 8)]
    assert quarterly_expiries_from(D(2026, 3, 28), 2) == [dt.datetime(2026, 6, 26, 8), dt.datetime(2026, 9, 25, 8)]
