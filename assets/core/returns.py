"""Daily log returns on the two calendars of the domain reference. Pure polars, no I/O.

- crypto calendar: every UTC day.
- traditional calendar: the sessions of the Nasdaq series' declared calendar (the NYSE by default), for every
  traditional series and the crypto underlyings alike, so that the legs of a cross-asset pair or rule span the
  same interval: the crypto return over Friday to Monday is one return, ln(close Monday / close Friday), the sum
  of its daily log returns, and gold's return over a US holiday weekend spans the holiday even though CME Globex
  traded it. The sessions come from the calendar, not from the closes stored: a series missing a session never
  removes that date from another. Each series' own calendar decides which of its rows are expected (ingestion,
  the quality gate and the coverage ledger: gold's row on a Globex-only session is stored, not refused).
A price is never forward-filled. A hole (a calendar date without the series' close: missing, quarantined or
an outage, see raw.coverage_ledger) has no return, and the next return spans it: ln(close / the last close
before the hole), with `prev_date` that close's date. It counts as one observation, and the hole as a missing
one, under the rolling windows' 80% rule. `assets/core/correlation.py` puts both legs of a pair on the same
interval when one of them spans a hole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from assets.raw.sources.calendars import CalendarError, trading_days

from .spread import settle_of

RETURN_COLUMNS = ["calendar", "series", "date", "prev_date", "symbol", "close", "log_return"]


def utc_days(start: dt.date, end: dt.date) -> pl.Series:
    """Every UTC day in [start, end]."""
    return pl.date_range(start, end, interval="1d", eager=True).alias("date")


def returns_on_calendar(closes: pl.DataFrame, calendar: pl.Series, name: str) -> pl.DataFrame:
    """closes: date, series, symbol, close. Log returns between consecutive calendar dates on which the series
    has a close; a return after a hole spans it (see the module's docstring)."""
    dates = pl.DataFrame({"date": calendar.unique().sort()}).with_columns(prev_date=pl.col("date").shift(1))
    grid = dates.join(closes.select("series").unique(), how="cross")
    joined = grid.join(closes, on=["date", "series"], how="left").filter(pl.col("close").is_not_null())
    return (
        joined.sort("series", "date")
        .with_columns(prev_close=pl.col("close").shift(1).over("series"),
                      last_date=pl.col("date").shift(1).over("series"))
        .with_columns(log_return=(pl.col("close") / pl.col("prev_close")).log(),
                      prev_date=pl.coalesce("last_date", "prev_date"))
        .select(calendar=pl.lit(name), series="series", date="date", prev_date="prev_date", symbol="symbol",
                close="close", log_return="log_return")
    )


def sessions(calendar: str, first: dt.date, end: dt.date) -> pl.Series:
    """The sessions of `calendar` in [first, end) as a date column."""
    return pl.Series("date", trading_days(calendar, first, end), dtype=pl.Date)


def traditional_returns(closes: pl.DataFrame, crypto: pl.DataFrame, calendars: Mapping[str, str],
                        grid_calendar: str, first: dt.date, end: dt.date) -> pl.DataFrame:
    """Returns on the traditional calendar: every series of `closes` (date, series, symbol, close) that `calendars`
    declares, and the `crypto` closes, on the sessions of `grid_calendar` in [first, end). A session of the grid
    on which a series has no close (missed, or not a session of its own calendar) is a hole: no return, the next
    one spans it."""
    grid = sessions(grid_calendar, first, end)
    declared = closes.filter(pl.col("series").is_in(list(calendars)))
    return pl.concat([returns_on_calendar(crypto, grid, "traditional"),
                      returns_on_calendar(declared, grid, "traditional")], how="vertical_relaxed")


def continuous_quarterly(futures: pl.DataFrame, min_dte: float, series: str) -> pl.DataFrame:
    """Daily log return of the nearest quarterly with dte >= min_dte, always within one contract: on a
    roll day the return is that of the new contract over the day, never a jump between contracts.

    futures: date, symbol, dte, price for one venue and underlying."""
    by_contract = futures.sort("symbol", "date").with_columns(
        prev_price=pl.col("price").shift(1).over("symbol"),
        prev_date=pl.col("date").shift(1).over("symbol"),
    )
    nearest = (
        by_contract.filter(pl.col("dte") >= min_dte).sort("dte").group_by("date").first()
        .with_columns(
            log_return=pl.when(pl.col("prev_date") == pl.col("date") - pl.duration(days=1))
            .then((pl.col("price") / pl.col("prev_price")).log())
            .otherwise(None)
        )
    )
    return nearest.select(
        calendar=pl.lit("crypto"), series=pl.lit(series), date="date", prev_date="prev_date", symbol="symbol",
        close="price", log_return="log_return",
    ).sort("date")


def reference_perp(bars: pl.DataFrame, venue: str, coin: str = "BTC") -> str | None:
    """The perpetual that stands for `coin` on a venue: the one settled in its quote currency (linear,
    e.g. BTC/USDT:USDT) when the venue lists it, else the coin-margined one. One symbol for the whole
    window, so the series never switches contracts."""
    symbols = bars.filter((pl.col("venue") == venue) & (pl.col("kind") == "perp")
                          & pl.col("symbol").str.starts_with(f"{coin}/"))["symbol"].unique().to_list()
    ordered = sorted(symbols, key=lambda symbol: (not is_linear(symbol), symbol))
    return ordered[0] if ordered else None


def is_linear(symbol: str) -> bool:
    """A contract settled in its quote currency: BTC/USDT:USDT is, BTC/USD:BTC is not."""
    quote = symbol.split("/")[1].split(":")[0]
    return ":" in symbol and symbol.split(":")[1].split("-")[0] == quote


def crypto_closes(bars: pl.DataFrame, venue: str, underlyings: tuple[str, ...], perp: str | None) -> pl.DataFrame:
    """date, series, symbol, close: the reference venue's spot per coin and its BTC perpetual `perp` (mark first,
    see `reference_perp`)."""
    on_venue = bars.filter(pl.col("venue") == venue)
    spot = on_venue.filter(pl.col("kind") == "spot").with_columns(series=pl.col("symbol").str.split("/").list.first())
    perp = (
        on_venue.filter((pl.col("kind") == "perp") & (pl.col("symbol") == pl.lit(perp, dtype=pl.Utf8)))
        .sort(pl.col("price_type") != "mark")
        .group_by("date", maintain_order=True)
        .first()
        .with_columns(series=pl.lit("BTC_PERP"))
    )
    frame = pl.concat([spot.filter(pl.col("series").is_in(list(underlyings))), perp], how="diagonal_relaxed")
    return frame.select("date", "series", "symbol", "close")


def returns_daily(
    bars: pl.DataFrame,
    basis: pl.DataFrame,
    traditional: pl.DataFrame,
    *,
    reference_venue: str,
    underlyings: tuple[str, ...],
    nasdaq_series: str,
    calendars: Mapping[str, str],
    min_dte: float,
    first: dt.date,
    end: dt.date,
) -> pl.DataFrame:
    """The whole returns table (RETURN_COLUMNS) from the raw bars, the core basis and the traditional bars.

    - crypto calendar, every UTC day of [first, end): spot of each of `underlyings` on the reference venue,
      its BTC perpetual (`reference_perp`) and the continuous nearest BTC quarterly with dte >= `min_dte` of
      the perpetual's own margin family (a venue may list USDT- and coin-margined quarterlies side by side).
    - traditional calendar: every traditional series of `calendars` (series -> its declared calendar) and the
      spot of each of `underlyings` on the sessions of `nasdaq_series`' declared calendar, so a crypto return
      there spans weekends and holidays, and every leg of a cross-asset comparison the same interval.

    bars: raw crypto bars; basis: core basis rows; traditional: raw traditional bars (date, series, ticker,
    close)."""
    if nasdaq_series not in calendars:
        raise CalendarError(f"the Nasdaq series '{nasdaq_series}' has no declared trading calendar, so the crypto "
                            "returns of the traditional calendar have no sessions")
    perp = reference_perp(bars, reference_venue)
    crypto = crypto_closes(bars, reference_venue, underlyings, perp)
    crypto_returns = returns_on_calendar(crypto, utc_days(first, end - dt.timedelta(days=1)), "crypto")
    same_family = settle_of(pl.col("symbol")) == settle_of(pl.lit(perp, dtype=pl.Utf8))
    futures = basis.filter(
        (pl.col("venue") == reference_venue) & (pl.col("underlying") == "BTC") & (pl.col("kind") == "future")
        & same_family
    )
    quarterly = continuous_quarterly(futures, min_dte, "BTC_QUARTERLY")
    closes = traditional.select("date", "series", symbol="ticker", close="close")
    on_trading = traditional_returns(closes, crypto.filter(pl.col("series").is_in(list(underlyings))), calendars,
                                     calendars[nasdaq_series], first, end)
    return pl.concat([crypto_returns, quarterly, on_trading], how="vertical_relaxed").select(RETURN_COLUMNS)
