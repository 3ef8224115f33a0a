"""Trading calendars: NYSE sessions and quarterly futures expiries.

Pure date arithmetic, no I/O. The NYSE rules cover the regular holidays since 2000 plus the
one-off closures that fell inside the product's history.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

# One-off NYSE closures (national days of mourning) that no rule produces.
NYSE_SPECIAL_CLOSURES = frozenset(
    {
        dt.date(2004, 6, 11),  # Reagan
        dt.date(2007, 1, 2),  # Ford
        dt.date(2012, 10, 29),  # Hurricane Sandy
        dt.date(2012, 10, 30),
        dt.date(2018, 12, 5),  # G. H. W. Bush
        dt.date(2025, 1, 9),  # Carter
    }
)

# Quarterly futures deliver at this hour (UTC) on their expiry date.
QUARTERLY_EXPIRY_HOUR_UTC = 8
QUARTERLY_MONTHS = (3, 6, 9, 12)


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> dt.date:
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    last = next_month - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: dt.date) -> dt.date:
    """A Saturday holiday is observed on Friday, a Sunday holiday on Monday."""
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


@lru_cache(maxsize=None)
def nyse_holidays(year: int) -> frozenset[dt.date]:
    """Full-day NYSE closures of one year that fall on weekdays."""
    days = {
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        easter_sunday(year) - dt.timedelta(days=2),  # Good Friday
        _last_weekday(year, 5, 0),  # Memorial Day
        _observed(dt.date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(dt.date(year, 12, 25)),
    }
    # New Year's Day on a Saturday is not observed on the preceding Friday (NYSE rule 7.2).
    new_year = dt.date(year, 1, 1)
    if new_year.weekday() != 5:
        days.add(_observed(new_year))
    if year >= 2022:
        days.add(_observed(dt.date(year, 6, 19)))  # Juneteenth
    days |= {d for d in NYSE_SPECIAL_CLOSURES if d.year == year}
    return frozenset(d for d in days if d.weekday() < 5 and d.year == year)


def is_nyse_trading_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in nyse_holidays(day.year)


def nyse_trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE sessions in [start, end)."""
    return [d for d in date_range(start, end) if is_nyse_trading_day(d)]


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Calendar days in [start, end)."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


def quarterly_expiry(year: int, month: int) -> dt.datetime:
    """Expiry of a quarterly contract: last Friday of the month, 08:00 UTC (naive UTC)."""
    day = _last_weekday(year, month, 4)
    return dt.datetime(day.year, day.month, day.day, QUARTERLY_EXPIRY_HOUR_UTC)


def quarterly_expiries_from(day: dt.date, count: int) -> list[dt.datetime]:
    """The next `count` quarterly expiries whose expiry date is on or after `day`."""
    expiries: list[dt.datetime] = []
    year, month = day.year, ((day.month - 1) // 3) * 3 + 3
    while len(expiries) < count:
        expiry = quarterly_expiry(year, month)
        if expiry.date() >= day:
            expiries.append(expiry)
        month += 3
        if month > 12:
            year, month = year + 1, 3
    return expiries
