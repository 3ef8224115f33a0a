import datetime as dt

import polars as pl
import pytest

from assets.raw.sources.base import SourceError
from assets.raw.sources.calendars import trading_days
from assets.raw.sources.sample import ANOMALY_CODES, CONTEXT_CODES, TRADITIONAL_CALENDARS, SampleMarket
from pipelines.settings import Settings

START, END = dt.date(2024, 12, 20), dt.date(2025, 1, 10)


def all_tables(market: SampleMarket, start: dt.date, end: dt.date) -> dict[str, pl.DataFrame]:
    return {
        "instruments": market.instruments(start, end),
        "crypto": market.crypto_bars(start, end),
        "funding": market.funding(start, end),
        "traditional": market.traditional_bars(start, end),
    }


def test_same_seed_same_rows_and_other_seed_other_rows():
    first = all_tables(SampleMarket(seed=11), START, END)
    again = all_tables(SampleMarket(seed=11), START, END)
    other = all_tables(SampleMarket(seed=12), START, END)
    for name in first:
        assert first[name].height > 0
        assert first[name].equals(again[name]), name
    assert not first["crypto"].equals(other["crypto"])


def test_a_single_day_equals_that_day_of_a_range():
    market = SampleMarket()
    day = dt.date(2025, 1, 3)
    whole = all_tables(market, START, END)
    single = all_tables(market, day, day + dt.timedelta(days=1))
    date_column = {"instruments": "snapshot_date"}
    for name, frame in whole.items():
        column = date_column.get(name, "date")
        expected = frame.filter(pl.col(column) == day)
        assert expected.height > 0
        assert single[name].sort(single[name].columns).equals(expected.sort(expected.columns)), name


def test_each_traditional_series_trades_on_its_own_calendar():
    first, end = dt.date(2024, 1, 1), dt.date(2026, 1, 1)
    bars = SampleMarket().traditional_bars(first, end)
    calendars = {t.series: t.calendar for t in Settings().universe.traditional}
    for (series,), rows in bars.group_by("series"):
        assert rows["date"].sort().to_list() == trading_days(calendars[series], first, end), series
    dates = lambda series: set(bars.filter(pl.col("series") == series)["date"])  # noqa: E731
    # 2025-01-09 (day of mourning) and 2025-07-04: COMEX traded, the NYSE did not.
    for day in (dt.date(2025, 1, 9), dt.date(2025, 7, 4)):
        assert day in dates("gold") and day in dates("nasdaq100") and day not in dates("sp500") and day not in dates("nasdaq")
    for closed in (dt.date(2025, 4, 18), dt.date(2024, 12, 25), dt.date(2025, 1, 4)):  # Good Friday, Christmas, Saturday
        assert all(closed not in dates(series) for series in calendars)
    # Every NYSE session has all seven series.
    nyse = bars.filter(pl.col("date").is_in(trading_days("XNYS", first, end)))
    assert nyse.group_by("date").len()["len"].unique().to_list() == [7]


def test_sample_calendars_are_the_settings_defaults_and_can_be_overridden():
    assert TRADITIONAL_CALENDARS == {t.series: t.calendar for t in Settings().universe.traditional}
    day = dt.date(2025, 1, 9)
    on_nyse = SampleMarket(traditional={"gold": "GC=F"}, calendars={"gold": "XNYS"}).traditional_bars(day, day + dt.timedelta(days=2))
    assert on_nyse["date"].to_list() == [dt.date(2025, 1, 10)]
    with pytest.raises(SourceError, match="series gold: unknown trading calendar 'GLOBEX'"):
        SampleMarket(calendars={"gold": "GLOBEX"})


def test_crypto_rows_on_every_utc_day():
    bars = SampleMarket().crypto_bars(START, END)
    spot = bars.filter(pl.col("kind") == "spot")
    assert spot["date"].n_unique() == (END - START).days


def test_two_quarterlies_listed_and_expiring_on_schedule():
    market = SampleMarket()
    instruments = market.instruments(dt.date(2025, 3, 26), dt.date(2025, 3, 30))
    futures = instruments.filter((pl.col("kind") == "future") & (pl.col("venue") == "sample_a") & (pl.col("underlying") == "BTC"))
    listed = {d: sorted(g["symbol"].to_list()) for (d,), g in futures.group_by("snapshot_date")}
    # 2025-03-28 is the last Friday of March: listed that day, gone the next, replaced by September.
    assert listed[dt.date(2025, 3, 28)] == ["BTC/USDT:USDT-250328", "BTC/USDT:USDT-250627"]
    assert listed[dt.date(2025, 3, 29)] == ["BTC/USDT:USDT-250627", "BTC/USDT:USDT-250926"]
    expiry = futures.filter(pl.col("symbol") == "BTC/USDT:USDT-250328")["expiry_ts"].unique().to_list()
    assert expiry == [dt.datetime(2025, 3, 28, 8)]


def test_linear_and_inverse_contracts():
    instruments = SampleMarket().instruments(START, START + dt.timedelta(days=1))
    perps = {r["symbol"]: r for r in instruments.filter(pl.col("kind") == "perp").iter_rows(named=True)}
    assert perps["BTC/USDT:USDT"]["linear"] and perps["BTC/USDT:USDT"]["settle"] == "USDT"
    assert perps["BTC/USD:BTC"]["inverse"] and perps["BTC/USD:BTC"]["settle"] == "BTC"


def test_quarterly_basis_converges_to_zero_at_expiry():
    bars = SampleMarket().crypto_bars(dt.date(2025, 2, 1), dt.date(2025, 3, 29))
    venue = pl.col("venue") == "sample_a"
    spot = bars.filter(venue & (pl.col("symbol") == "BTC/USDT")).select("date", spot="close")
    future = bars.filter(venue & (pl.col("symbol") == "BTC/USDT:USDT-250328")).select("date", future="close")
    basis = future.join(spot, on="date").with_columns(basis=pl.col("future") / pl.col("spot") - 1).sort("date")
    early = basis.filter(pl.col("date") == dt.date(2025, 2, 1))["basis"].item()
    last_full_day = basis.filter(pl.col("date") == dt.date(2025, 3, 27))["basis"].item()
    assert early > 0.003  # about 7% a year with ~55 days left
    assert abs(last_full_day) < 0.001 < abs(early)


def test_funding_intervals_come_from_the_data():
    market = SampleMarket()
    before = market.funding(dt.date(2022, 6, 28), dt.date(2022, 6, 30))
    after = market.funding(dt.date(2022, 6, 30), dt.date(2022, 7, 2))
    per_day = lambda f, v: f.filter(pl.col("venue") == v).group_by("date", "symbol").len()["len"].unique().to_list()
    assert per_day(before, "sample_a") == [3] and per_day(after, "sample_a") == [3]
    assert per_day(before, "sample_b") == [3] and per_day(after, "sample_b") == [6]
    # interval_hours equals the spacing of consecutive settlements.
    spacing = (
        after.filter(pl.col("venue") == "sample_b")
        .sort("symbol", "funding_ts")
        .with_columns(gap=pl.col("funding_ts").diff().over("symbol").dt.total_hours())
        .drop_nulls("gap")
    )
    assert (spacing["gap"] == spacing["interval_hours"]).all()


def test_ground_truth_has_every_code_and_is_not_in_market_tables():
    market = SampleMarket()
    truth = market.ground_truth()
    assert set(truth["code"]) == set(ANOMALY_CODES) | set(CONTEXT_CODES)
    assert truth.filter(pl.col("code").is_in(CONTEXT_CODES))["kind"].unique().to_list() == ["context"]
    for frame in all_tables(market, START, END).values():
        assert not {"code", "episode", "anomaly"} & set(frame.columns)


def test_unknown_venue_and_out_of_range_are_clear_errors():
    with pytest.raises(SourceError, match="unknown venue.*binance"):
        SampleMarket(venues=("binance",))
    with pytest.raises(SourceError, match="outside the simulated history"):
        SampleMarket().crypto_bars(dt.date(2010, 1, 1), dt.date(2010, 1, 2))


def test_open_is_the_previous_session_close_of_the_same_series():
    bars = SampleMarket().traditional_bars(dt.date(2025, 1, 6), dt.date(2025, 1, 15))
    for series in ("gold", "sp500"):
        rows = bars.filter(pl.col("series") == series).sort("date")
        # Across the weekend and, for the S&P 500, across 2025-01-09 when only the NYSE was closed.
        assert rows["open"].to_list()[1:] == rows["close"].to_list()[:-1], series
