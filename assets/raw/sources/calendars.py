"""Trading calendars of the traditional series, and quarterly futures expiries.

Exchange sessions come from the maintained `exchange_calendars` library; nothing here encodes a
holiday rule. Every traditional series declares the calendar it trades on in the settings
(`universe.traditional[*].calendar`), by its canonical `exchange_calendars` name:

| calendar | used for | why |
|---|---|---|
| `XNYS` | indices and ETFs (^GSPC, ^IXIC) | NYSE sessions; Nasdaq's holidays are the NYSE's (the library's `XNAS` is an alias of it) |
| `us_futures` | CME Globex futures (GC=F, SI=F, HG=F, NQ=F) | Globex trades every weekday but New Year's Day, Good Friday and Christmas: US holidays such as 2025-07-04 are (shortened) sessions, and so are national days of mourning (2018-12-05, 2025-01-09), when the NYSE closed but COMEX metals traded. The library's `CMES` (alias `CME`, `COMEX`) closes on days of mourning, which refuses real GC=F bars |
| `IEPA` | ICE Futures US (DX-Y.NYB, the US dollar index) | the library's ICE US calendar, the nearest to where the dollar index is computed; it closes New Year's Day, Good Friday, Christmas and the days of mourning |
| `24/5` | currencies (e.g. JPY=X) | every weekday, US holidays included |

Dates are exchange trading dates (a session is stored under its trading date, DOMAIN.md). Ranges are
half-open, `[start, end)`, like every date range of the sources.

Sessions are built once per calendar and process over a wide span of years (one library call costs
0.05 to 0.4 s, almost independent of the span) and answered from memory afterwards. The library (and
pandas under it, about a second) is imported at the first name check or session build, not at import,
so importing the settings stays cheap.
"""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

# Quarterly futures deliver at this hour (UTC) on their expiry date.
QUARTERLY_EXPIRY_HOUR_UTC = 8
QUARTERLY_MONTHS = (3, 6, 9, 12)

NYSE = "XNYS"
CME_GLOBEX = "us_futures"
ICE_US = "IEPA"
FX_24_5 = "24/5"
# Named in error messages as the usual choices.
COMMON_CALENDARS = {
    NYSE: "NYSE: indices and ETFs",
    CME_GLOBEX: "CME Globex: CME, CBOT, NYMEX and COMEX futures",
    ICE_US: "ICE Futures US: the dollar index",
    FX_24_5: "every weekday: currencies",
}
# Sessions are built over at least these years, so that one build serves every range a run asks for.
DEFAULT_FIRST_YEAR, DEFAULT_LAST_YEAR = 2000, 2040


class CalendarError(ValueError):
    """A calendar name is unknown or cannot answer for the dates asked."""


@dataclass(frozen=True)
class _Sessions:
    start: dt.date  # first day covered
    end: dt.date  # first day past the covered span
    days: tuple[dt.date, ...]  # sorted sessions in [start, end)
    lookup: frozenset[dt.date]

    def covers(self, start: dt.date, end: dt.date) -> bool:
        return self.start <= start and end <= self.end


_SESSIONS: dict[str, _Sessions] = {}
_LOCK = threading.Lock()


def check_calendar(name: str) -> str:
    """`name` when `exchange_calendars` knows it as a canonical calendar name, else a one-line CalendarError."""
    # The usual names are answered without importing the library: the default settings check them.
    if name in COMMON_CALENDARS or name in _canonical_names():
        return name
    usual = ", ".join(f"{k} ({v})" for k, v in COMMON_CALENDARS.items())
    aliases = _library().aliases_to_names()
    if name in aliases:
        # An alias can hide a poor fit (COMEX is an alias of CMES, which closes on days COMEX traded).
        raise CalendarError(f"trading calendar '{name}' is an alias of '{aliases[name]}'; write a canonical "
                            f"exchange_calendars name such as {usual}")
    raise CalendarError(f"unknown trading calendar '{name}'; use an exchange_calendars name such as {usual}")


def trading_days(calendar: str, start: dt.date, end: dt.date) -> list[dt.date]:
    """Sessions of `calendar` in [start, end)."""
    start, end = _as_date(start), _as_date(end)
    if end <= start:
        return []
    sessions = _sessions(calendar, start, end)
    return list(sessions.days[bisect_left(sessions.days, start):bisect_left(sessions.days, end)])


def is_trading_day(calendar: str, day: dt.date) -> bool:
    """Whether `day` is a session (trading date) of `calendar`."""
    day = _as_date(day)
    return day in _sessions(calendar, day, day + dt.timedelta(days=1)).lookup


def calendar_for_series(instruments: Iterable, series: str) -> str:
    """The declared calendar of one traditional series; `instruments` have `.series` and `.calendar`
    (the settings' `universe.traditional`)."""
    for instrument in instruments:
        if instrument.series == series:
            return instrument.calendar
    raise CalendarError(f"traditional series '{series}' is not in the settings, so it has no trading calendar")


def series_sessions(calendars: Mapping[str, str], start: dt.date, end: dt.date) -> pl.DataFrame:
    """One row (series, date) per session in [start, end) of each series' calendar.

    `calendars` maps series to calendar name. The frame every traditional row is judged against: a row
    outside it is not a session of its series; a session without a row is a hole.
    """
    frames = [
        pl.DataFrame({"series": series, "date": trading_days(calendar, start, end)},
                     schema={"series": pl.Utf8, "date": pl.Date})
        for series, calendar in calendars.items()
    ]
    if not frames:
        return pl.DataFrame(schema={"series": pl.Utf8, "date": pl.Date})
    return pl.concat(frames).sort("series", "date")


def flag_sessions(rows: pl.DataFrame, calendars: Mapping[str, str], flag: str = "is_trading_day") -> pl.DataFrame:
    """`rows` (with `series` and `date`) plus a boolean column `flag`: whether the date is a session of
    that series' calendar. A series without a declared calendar is an error naming it."""
    undeclared = sorted(set(rows["series"].unique().to_list()) - set(calendars))
    if undeclared:
        raise CalendarError(f"traditional series {undeclared} have no declared trading calendar")
    if rows.is_empty():
        return rows.with_columns(pl.lit(None, dtype=pl.Boolean).alias(flag))
    used = {s: calendars[s] for s in rows["series"].unique().to_list()}
    sessions = series_sessions(used, rows["date"].min(), rows["date"].max() + dt.timedelta(days=1))
    return rows.join(sessions.with_columns(pl.lit(True).alias(flag)), on=["series", "date"], how="left",
                     maintain_order="left").with_columns(pl.col(flag).fill_null(False))


# Thin NYSE names kept for callers that do not yet know their series' calendar.
def is_nyse_trading_day(day: dt.date) -> bool:
    return is_trading_day(NYSE, day)


def nyse_trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE sessions in [start, end)."""
    return trading_days(NYSE, start, end)


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Calendar days in [start, end)."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


def quarterly_expiry(year: int, month: int) -> dt.datetime:
    """Expiry of a quarterly contract: last Friday of the month, 08:00 UTC (naive UTC)."""
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    last = next_month - dt.timedelta(days=1)
    day = last - dt.timedelta(days=(last.weekday() - 4) % 7)
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


# ---------------------------------------------------------------------------------------- internals
def _library():
    # Deferred: exchange_calendars imports pandas, about a second that importing the settings need not pay.
    import exchange_calendars

    return exchange_calendars


def _canonical_names() -> frozenset[str]:
    return frozenset(_library().get_calendar_names(include_aliases=False))


def _as_date(day: dt.date) -> dt.date:
    # A datetime is a date too, but never equal to one: it would silently match no session.
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        raise TypeError(f"trading calendars take dates, got {type(day).__name__} {day!r}")
    return day


def _sessions(calendar: str, start: dt.date, end: dt.date) -> _Sessions:
    """Sessions covering [start, end), built once per calendar over at least the default years."""
    cached = _SESSIONS.get(calendar)
    if cached is not None and cached.covers(start, end):
        return cached
    with _LOCK:
        cached = _SESSIONS.get(calendar)
        if cached is not None and cached.covers(start, end):
            return cached
        check_calendar(calendar)
        first = min(start, dt.date(DEFAULT_FIRST_YEAR, 1, 1), cached.start if cached else start)
        last = max(end, dt.date(DEFAULT_LAST_YEAR + 1, 1, 1), cached.end if cached else end)
        try:
            built = _build(calendar, first, last)
        except ValueError:
            # Some calendars' holiday data covers fewer years than the default span: build just the range.
            built = _build(calendar, start, end)
        _SESSIONS[calendar] = built
        return built


def _build(calendar: str, start: dt.date, end: dt.date) -> _Sessions:
    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.13 reads tz-aware columns with `.values` (UTC nanoseconds, which it
            # wants); pandas 3.1 warns that this will change in pandas 4. Noise in every run log.
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
            library = _library().get_calendar(calendar, start=start.isoformat(),
                                                end=(end - dt.timedelta(days=1)).isoformat())
    except (ValueError, NotImplementedError) as exc:
        raise CalendarError(f"trading calendar '{calendar}' cannot give sessions for {start} to {end}: {exc}") from None
    days = tuple(library.sessions.date)
    return _Sessions(start=start, end=end, days=days, lookup=frozenset(days))
