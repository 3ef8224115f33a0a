"""Every core formula on small hand-computed cases."""

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from assets.core.basis import basis_daily, constant_maturity, days_to_expiry, futures_basis, perp_premium
from assets.core.correlation import Pair, label, pair_correlations
from assets.core.funding import funding_daily
from assets.core.returns import (
    RETURN_COLUMNS,
    continuous_quarterly,
    is_linear,
    reference_perp,
    returns_daily,
    returns_on_calendar,
)
from assets.core.spread import perp_quarterly_spread
from assets.core.stats import rolling_correlation, trailing_zscore

D = dt.date
T = dt.datetime


def bar(date, symbol, kind, close, price_type="last", venue="v"):
    return dict(date=date, venue=venue, symbol=symbol, kind=kind, price_type=price_type,
                open=close, high=close, low=close, close=close, volume=1.0)


def instrument(date, symbol, kind, expiry=None, venue="v"):
    return dict(snapshot_date=date, venue=venue, symbol=symbol, underlying="BTC", kind=kind, expiry_ts=expiry)


def test_days_to_expiry_counts_from_the_close_of_the_utc_day():
    frame = pl.DataFrame({"date": [D(2026, 3, 24)], "expiry": [T(2026, 3, 27, 8)]})
    dte = frame.select(days_to_expiry(pl.col("expiry"), pl.col("date"))).item()
    assert dte == pytest.approx(2 + 8 / 24)


def test_three_day_basis_and_its_annualisation():
    day = D(2026, 1, 10)
    bars = pl.DataFrame([bar(day, "BTC/USDT", "spot", 100.0), bar(day, "BTC/USDT:USDT-260114", "future", 101.0)])
    inst = pl.DataFrame([instrument(day, "BTC/USDT:USDT-260114", "future", T(2026, 1, 14, 0))])
    row = futures_basis(bars, inst, min_dte=3).row(0, named=True)
    assert row["dte"] == pytest.approx(3.0)
    assert row["basis"] == pytest.approx(0.01)
    assert row["basis_abs"] == pytest.approx(1.0)
    assert row["basis_ann_simple"] == pytest.approx(0.01 * 365 / 3)  # 1.216667
    assert row["basis_ann_log"] == pytest.approx(math.log(1.01) * 365 / 3)
    assert row["structure"] == "contango" and row["short_dte"] is False


def test_annualised_basis_is_null_and_flagged_below_three_days():
    day = D(2026, 1, 10)
    bars = pl.DataFrame([bar(day, "BTC/USDT", "spot", 100.0), bar(day, "F", "future", 99.0)])
    inst = pl.DataFrame([instrument(day, "F", "future", T(2026, 1, 13, 12))])  # dte 2.5
    row = futures_basis(bars, inst, min_dte=3).row(0, named=True)
    assert row["dte"] == pytest.approx(2.5)
    assert row["basis"] == pytest.approx(-0.01) and row["structure"] == "backwardation"
    assert row["basis_ann_simple"] is None and row["basis_ann_log"] is None and row["short_dte"] is True


def test_delivery_day_after_expiry_is_not_a_basis_row():
    day = D(2026, 3, 27)
    bars = pl.DataFrame([bar(day, "BTC/USDT", "spot", 100.0), bar(day, "F", "future", 100.0)])
    inst = pl.DataFrame([instrument(day, "F", "future", T(2026, 3, 27, 8))])
    assert futures_basis(bars, inst, min_dte=3).height == 0


def test_constant_maturity_interpolates_between_bracketing_contracts():
    rows = pl.DataFrame({
        "date": [D(2026, 1, 1)] * 2, "venue": ["v"] * 2, "underlying": ["BTC"] * 2,
        "dte": [60.0, 150.0], "basis_ann_simple": [0.06, 0.12],
    })
    cm = constant_maturity(rows, 90).row(0, named=True)
    assert cm["basis_ann_simple"] == pytest.approx(0.06 + (90 - 60) / (150 - 60) * (0.12 - 0.06))  # 0.08
    assert cm["symbol"] == "BTC-CM90D"
    # Nothing brackets 90 days: no value.
    assert constant_maturity(rows.head(1), 90).height == 0


def test_perp_premium_uses_mark_when_published_and_says_so():
    day = D(2026, 1, 1)
    with_mark = pl.DataFrame([
        bar(day, "BTC/USDT", "spot", 100.0), bar(day, "BTC/USDT:USDT", "perp", 101.0),
        bar(day, "BTC/USDT:USDT", "perp", 100.5, price_type="mark"),
    ])
    row = perp_premium(with_mark).row(0, named=True)
    assert row["price_type"] == "mark" and row["basis"] == pytest.approx(0.005)
    last_only = with_mark.filter(pl.col("price_type") != "mark")
    row = perp_premium(last_only).row(0, named=True)
    assert row["price_type"] == "last" and row["basis"] == pytest.approx(0.01)


def test_basis_daily_holds_futures_perp_and_constant_maturity_rows():
    day = D(2026, 1, 1)
    bars = pl.DataFrame([
        bar(day, "BTC/USDT", "spot", 100.0), bar(day, "BTC/USDT:USDT", "perp", 100.1),
        bar(day, "A", "future", 101.0), bar(day, "B", "future", 103.0),
    ])
    inst = pl.DataFrame([instrument(day, "A", "future", T(2026, 2, 1)), instrument(day, "B", "future", T(2026, 6, 1))])
    frame = basis_daily(bars, inst, min_dte=3, tenor_days=90)
    assert sorted(frame["kind"].to_list()) == ["constant_maturity", "future", "future", "perp"]


def settlements(rows):
    return pl.DataFrame(rows, schema=["date", "venue", "symbol", "funding_ts", "rate", "interval_hours"], orient="row")


def test_four_hour_funding_apr():
    day = D(2026, 1, 1)
    rows = [(day, "v", "P", T(2026, 1, 1, h), 0.0001, 4.0) for h in range(0, 24, 4)]
    out = funding_daily(settlements(rows)).row(0, named=True)
    assert out["settlements"] == 6 and out["interval_hours"] == 4.0
    assert out["daily_rate"] == pytest.approx(0.0006)
    assert out["apr"] == pytest.approx(0.0001 * (24 / 4) * 365)  # 0.219


def test_funding_apr_on_a_day_the_interval_changes_weights_by_hours():
    day = D(2026, 1, 1)
    rows = [(day, "v", "P", T(2026, 1, 1, 0), 0.0003, 8.0), (day, "v", "P", T(2026, 1, 1, 8), 0.0003, 8.0)]
    rows += [(day, "v", "P", T(2026, 1, 1, h), 0.0001, 4.0) for h in (16, 20)]
    out = funding_daily(settlements(rows)).row(0, named=True)
    assert out["daily_rate"] == pytest.approx(0.0008)
    assert out["apr"] == pytest.approx(0.0008 / 24 * 24 * 365)


def test_funding_rolling_means_and_trailing_zscore():
    rates = [0.0001, 0.0002, 0.0003, 0.0010]
    rows = [(D(2026, 1, i + 1), "v", "P", T(2026, 1, i + 1, 0), r, 24.0) for i, r in enumerate(rates)]
    out = funding_daily(settlements(rows), short_days=2, long_days=3, z_days=3, min_fraction=1.0)
    last = out.row(3, named=True)
    assert last["apr_7d"] == pytest.approx((0.0003 + 0.0010) * 365 / 2)
    assert last["apr_30d"] == pytest.approx((0.0002 + 0.0003 + 0.0010) * 365 / 3)
    # trailing mean 0.0002, std 0.0001 of the three previous days: (0.0010 - 0.0002) / 0.0001 = 8
    assert last["daily_rate_z"] == pytest.approx(8.0)
    assert out["daily_rate_z"][:3].is_null().all()


def test_friday_to_monday_cross_asset_return_is_one_return():
    closes = pl.DataFrame({
        "date": [D(2026, 1, 2), D(2026, 1, 3), D(2026, 1, 4), D(2026, 1, 5)],  # Fri..Mon
        "series": ["BTC"] * 4, "symbol": ["BTC/USDT"] * 4, "close": [100.0, 110.0, 99.0, 105.0],
    })
    trading = pl.Series([D(2026, 1, 2), D(2026, 1, 5)])
    out = returns_on_calendar(closes, trading, "traditional")
    monday = out.filter(pl.col("date") == D(2026, 1, 5)).row(0, named=True)
    assert monday["prev_date"] == D(2026, 1, 2)
    assert monday["log_return"] == pytest.approx(math.log(105 / 100))
    daily = returns_on_calendar(closes, closes["date"], "crypto")["log_return"].drop_nulls().sum()
    assert monday["log_return"] == pytest.approx(daily)


def test_a_missing_close_is_a_hole_that_the_next_return_spans_never_a_forward_filled_zero():
    closes = pl.DataFrame({
        "date": [D(2026, 1, 5), D(2026, 1, 7)], "series": ["gold"] * 2, "symbol": ["GC=F"] * 2, "close": [10.0, 11.0],
    })
    calendar = pl.Series([D(2026, 1, 5), D(2026, 1, 6), D(2026, 1, 7)])
    out = returns_on_calendar(closes, calendar, "traditional")
    assert out["date"].to_list() == [D(2026, 1, 5), D(2026, 1, 7)]  # no row, so no zero return, on the hole
    spanning = out.row(1, named=True)
    assert spanning["prev_date"] == D(2026, 1, 5) and spanning["log_return"] == pytest.approx(math.log(11 / 10))


def test_continuous_quarterly_return_stays_within_one_contract_across_a_roll():
    futures = pl.DataFrame({
        "date": [D(2026, 1, 1), D(2026, 1, 2), D(2026, 1, 1), D(2026, 1, 2)],
        "symbol": ["NEAR", "NEAR", "FAR", "FAR"],
        "dte": [7.5, 6.5, 97.5, 96.5],
        "price": [100.0, 101.0, 102.0, 104.0],
    })
    out = continuous_quarterly(futures, 7, "BTC_QUARTERLY")
    roll = out.filter(pl.col("date") == D(2026, 1, 2)).row(0, named=True)
    assert roll["symbol"] == "FAR" and roll["log_return"] == pytest.approx(math.log(104 / 102))


def test_rolling_correlation_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(60)
    y = 0.5 * x + rng.standard_normal(60)
    frame = pl.DataFrame({"x": x, "y": y}).with_columns(c=rolling_correlation(pl.col("x"), pl.col("y"), 30, 24))
    for end in (30, 45, 60):
        assert frame["c"][end - 1] == pytest.approx(np.corrcoef(x[end - 30:end], y[end - 30:end])[0, 1], abs=1e-9)
    assert frame["c"][:23].is_null().all()


def test_eighty_percent_observation_rule():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(10), rng.standard_normal(10)
    missing_two = [None if i in (2, 5) else v for i, v in enumerate(x)]
    missing_three = [None if i in (2, 5, 7) else v for i, v in enumerate(x)]
    corr = lambda xs: pl.DataFrame({"x": xs, "y": y}, schema={"x": pl.Float64, "y": pl.Float64}).select(
        rolling_correlation(pl.col("x"), pl.col("y"), 10, 8)).item(9, 0)
    keep = [i for i in range(10) if i not in (2, 5)]
    assert corr(missing_two) == pytest.approx(np.corrcoef(x[keep], y[keep])[0, 1])
    assert corr(missing_three) is None


def test_correlation_labels_at_their_boundaries():
    values = [0.6, 0.59, 0.3, 0.29, -0.29, -0.3, -0.59, -0.6]
    out = pl.DataFrame({"c": values}).select(label=label(pl.col("c")))["label"].to_list()
    assert out == ["high positive", "positive", "positive", "weak", "weak", "negative", "negative", "high negative"]


def test_pair_correlations_align_the_two_series_by_date():
    dates = [D(2026, 1, 1) + dt.timedelta(days=i) for i in range(40)]
    rng = np.random.default_rng(2)
    a = rng.standard_normal(40)
    returns = pl.concat([
        pl.DataFrame({"calendar": "crypto", "series": "A", "date": dates, "log_return": a}),
        pl.DataFrame({"calendar": "crypto", "series": "B", "date": dates[::-1], "log_return": (-a)[::-1]}),
    ])
    out = pair_correlations(returns, [Pair("a~b", "A", "B", "crypto")], 30, 35, 0.8)
    last = out.filter(pl.col("date") == dates[-1]).row(0, named=True)
    assert last["corr_short"] == pytest.approx(-1.0) and last["label_short"] == "high negative"
    assert last["corr_baseline"] == pytest.approx(-1.0) and last["n_baseline"] == 35


def test_gap_uses_the_nearest_quarterly_with_at_least_seven_days():
    day = D(2026, 1, 1)
    basis = pl.DataFrame({
        "date": [day] * 3, "venue": ["v"] * 3, "underlying": ["BTC"] * 3,
        "symbol": ["BTC/USDT:USDT", "BTC/USDT:USDT-260106", "BTC/USDT:USDT-260210"], "kind": ["perp", "future", "future"],
        "price_type": ["mark", "last", "last"],
        "dte": [None, 5.0, 40.0], "basis": [0.015, 0.001, -0.02], "basis_ann_simple": [None, 0.07, -0.1825],
    })
    funding = pl.DataFrame({"date": [day], "venue": ["v"], "symbol": ["BTC/USDT:USDT"], "apr_7d": [0.5]})
    row = perp_quarterly_spread(basis, funding, min_dte=7, window=180, min_fraction=0.8).row(0, named=True)
    assert row["quarterly_symbol"] == "BTC/USDT:USDT-260210"
    assert row["gap"] == pytest.approx(0.015 - (-0.02))
    assert row["carry_spread"] == pytest.approx(-0.1825 - 0.5)


def test_each_perpetual_is_compared_with_quarterlies_of_its_own_margin_family():
    """A venue listing USDT-margined and coin-margined contracts side by side gives one row per perpetual."""
    day = D(2026, 1, 1)
    basis = pl.DataFrame({
        "date": [day] * 4, "venue": ["binance"] * 4, "underlying": ["BTC"] * 4,
        "symbol": ["BTC/USDT:USDT", "BTC/USDT:USDT-260327", "BTC/USD:BTC", "BTC/USD:BTC-260327"],
        "kind": ["perp", "future", "perp", "future"], "price_type": ["mark", "last", "mark", "last"],
        "dte": [None, 85.0, None, 85.0], "basis": [0.001, 0.012, 0.002, 0.010], "basis_ann_simple": [None, 0.0515, None, 0.0429],
    })
    funding = pl.DataFrame({"date": [day, day], "venue": ["binance"] * 2, "symbol": ["BTC/USDT:USDT", "BTC/USD:BTC"],
                            "apr_7d": [0.10, 0.08]})
    rows = perp_quarterly_spread(basis, funding, min_dte=7, window=180, min_fraction=0.8).sort("perp_symbol")
    assert rows.select("perp_symbol", "quarterly_symbol").rows() == [
        ("BTC/USD:BTC", "BTC/USD:BTC-260327"), ("BTC/USDT:USDT", "BTC/USDT:USDT-260327")]
    assert rows["gap"].to_list() == pytest.approx([0.002 - 0.010, 0.001 - 0.012])
    assert rows["carry_spread"].to_list() == pytest.approx([0.0429 - 0.08, 0.0515 - 0.10])


def test_trailing_zscore_excludes_the_current_value():
    out = pl.DataFrame({"x": [1.0, 2.0, 3.0, 10.0]}).select(trailing_zscore(pl.col("x"), 3, 3))["x"].to_list()
    assert out[:3] == [None, None, None] and out[3] == pytest.approx(8.0)


def test_the_reference_perpetual_is_the_linear_one_when_the_venue_lists_both():
    assert is_linear("BTC/USDT:USDT") and is_linear("BTC/USDT:USDT-250627")
    assert not is_linear("BTC/USD:BTC") and not is_linear("BTC/USDT")
    both = pl.DataFrame({"venue": ["binance"] * 3, "kind": ["perp", "perp", "spot"],
                         "symbol": ["BTC/USD:BTC", "BTC/USDT:USDT", "BTC/USDT"]})
    assert reference_perp(both, "binance") == "BTC/USDT:USDT"
    assert reference_perp(both.filter(pl.col("symbol") != "BTC/USDT:USDT"), "binance") == "BTC/USD:BTC"
    assert reference_perp(both, "okx") is None


def test_returns_daily_assembles_both_calendars_from_the_reference_venue():
    fri, sat, sun, mon = (D(2026, 1, d) for d in (2, 3, 4, 5))
    days = [fri, sat, sun, mon]
    btc, eth = [100.0, 110.0, 99.0, 105.0], [10.0, 11.0, 12.0, 13.0]
    bars = pl.DataFrame(
        [bar(d, "BTC/USDT", "spot", c, venue="ref") for d, c in zip(days, btc)]
        + [bar(d, "ETH/USDT", "spot", c, venue="ref") for d, c in zip(days, eth)]
        # the linear perpetual on its mark price (its last price and the coin-margined one are not used)
        + [bar(d, "BTC/USDT:USDT", "perp", c + 1, "mark", venue="ref") for d, c in zip(days, btc)]
        + [bar(d, "BTC/USDT:USDT", "perp", 999.0, venue="ref") for d in days]
        + [bar(d, "BTC/USD:BTC", "perp", 777.0, venue="ref") for d in days]
        + [bar(d, "BTC/USDT", "spot", 1000.0, venue="other") for d in days]
    )
    basis = pl.DataFrame([
        dict(date=d, venue=venue, underlying="BTC", kind="future", symbol=symbol, dte=dte - i, price=price + i)
        for i, d in enumerate(days)
        for venue, symbol, dte, price in (
            ("ref", "BTC/USDT:USDT-260327", 84.0, 102.0),   # nearest of the perpetual's family with dte >= 7
            ("ref", "BTC/USDT:USDT-260109", 6.0, 50.0),     # under 7 days
            ("ref", "BTC/USD:BTC-260227", 56.0, 300.0),     # nearer, but of the coin-margined family
            ("other", "BTC/USDT:USDT-260130", 28.0, 400.0),
        )
    ])
    traditional = pl.DataFrame({
        "date": [fri, mon, fri, sat, mon], "series": ["nasdaq", "nasdaq", "gold", "gold", "gold"],
        "ticker": ["^IXIC", "^IXIC", "GC=F", "GC=F", "GC=F"], "close": [50.0, 55.0, 20.0, 20.5, 21.0],
    })
    out = returns_daily(bars, basis, traditional, reference_venue="ref", underlyings=("BTC", "ETH"),
                        nasdaq_series="nasdaq", calendars={"nasdaq": "XNYS", "gold": "us_futures"}, min_dte=7.0,
                        first=fri, end=D(2026, 1, 6))
    assert out.columns == RETURN_COLUMNS

    def series(calendar, name):
        return out.filter((pl.col("calendar") == calendar) & (pl.col("series") == name)).sort("date")

    crypto_btc = series("crypto", "BTC")
    assert crypto_btc["date"].to_list() == days and crypto_btc["symbol"].unique().to_list() == ["BTC/USDT"]
    assert crypto_btc["log_return"].to_list()[1:] == pytest.approx([math.log(b / a) for a, b in zip(btc, btc[1:])])
    assert crypto_btc["log_return"][0] is None
    assert series("crypto", "ETH")["close"].to_list() == eth
    perp = series("crypto", "BTC_PERP")
    assert perp["symbol"].unique().to_list() == ["BTC/USDT:USDT"] and perp["close"].to_list() == [c + 1 for c in btc]
    quarterly = series("crypto", "BTC_QUARTERLY")
    assert quarterly["symbol"].unique().to_list() == ["BTC/USDT:USDT-260327"]
    assert quarterly["log_return"].to_list()[1:] == pytest.approx([math.log(103 / 102), math.log(104 / 103),
                                                                  math.log(105 / 104)])
    # Traditional calendar: each series' sessions (gold's Saturday bar is none); BTC's Monday return spans the weekend.
    assert set(out.filter(pl.col("calendar") == "traditional")["date"].to_list()) == {fri, mon}
    assert set(out.filter(pl.col("calendar") == "traditional")["series"].to_list()) == {"nasdaq", "gold", "BTC", "ETH"}
    monday_btc = series("traditional", "BTC").row(1, named=True)
    assert monday_btc["prev_date"] == fri and monday_btc["log_return"] == pytest.approx(math.log(105 / 100))
    assert series("traditional", "gold")["log_return"][1] == pytest.approx(math.log(21 / 20))


def test_returns_daily_crypto_calendar_is_every_utc_day_of_the_window():
    days = [D(2026, 1, 1) + dt.timedelta(days=i) for i in range(5)]
    bars = pl.DataFrame([bar(d, "BTC/USDT", "spot", 100.0 + i, venue="ref") for i, d in enumerate(days)])
    basis = pl.DataFrame(schema={"date": pl.Date, "venue": pl.Utf8, "underlying": pl.Utf8, "kind": pl.Utf8,
                                 "symbol": pl.Utf8, "dte": pl.Float64, "price": pl.Float64})
    traditional = pl.DataFrame(schema={"date": pl.Date, "series": pl.Utf8, "ticker": pl.Utf8, "close": pl.Float64})
    out = returns_daily(bars, basis, traditional, reference_venue="ref", underlyings=("BTC",),
                        nasdaq_series="nasdaq", calendars={"nasdaq": "XNYS"}, min_dte=7.0, first=days[1],
                        end=days[4]).filter(pl.col("calendar") == "crypto")
    assert out["date"].to_list() == days[1:4]  # [first, end): the bars outside it are not returns
    assert out["prev_date"][0] is None and out["log_return"][0] is None  # no close before `first` is used
    assert set(out["series"].to_list()) == {"BTC"}  # no perpetual on the venue: no perp or quarterly series


def test_a_near_constant_gap_is_judged_against_the_std_floor():
    """Ten days of a gap that moves by 0.01% then a 1% move: without a floor a z near 30, with the
    0.25% floor a z of about 4 (still a divergence at |z| >= 3, no longer one that flattens every chart)."""
    days = [D(2026, 1, 1) + dt.timedelta(days=i) for i in range(11)]
    premium = [0.0001 * (i % 2) for i in range(10)] + [0.01]
    rows = []
    for day, p in zip(days, premium):
        rows += [dict(date=day, venue="v", underlying="BTC", symbol="BTC/USDT:USDT", kind="perp", price_type="mark",
                      dte=None, basis=p, basis_ann_simple=None),
                 dict(date=day, venue="v", underlying="BTC", symbol="BTC/USDT:USDT-260327", kind="future",
                      price_type="last", dte=85.0 - (day - days[0]).days, basis=0.01, basis_ann_simple=0.04),
                 dict(date=day, venue="v", underlying="BTC", symbol="BTC/USDT:USDT-260626", kind="future",
                      price_type="last", dte=176.0 - (day - days[0]).days, basis=0.02, basis_ann_simple=0.04)]
    basis = pl.DataFrame(rows)
    funding = pl.DataFrame({"date": days, "venue": "v", "symbol": "BTC/USDT:USDT", "apr_7d": 0.1})
    unfloored = perp_quarterly_spread(basis, funding, min_dte=7, window=10, min_fraction=0.8).sort("date")
    floored = perp_quarterly_spread(basis, funding, min_dte=7, window=10, min_fraction=0.8, gap_std_floor=0.0025).sort("date")
    assert abs(unfloored["gap_z"][-1]) > 20
    assert floored["gap_z"][-1] == pytest.approx(unfloored["gap_vs_usual"][-1] / 0.0025)
    assert 3 < floored["gap_z"][-1] < 5
    assert floored["gap_vs_usual"].equals(unfloored["gap_vs_usual"])  # only the z-score changes
