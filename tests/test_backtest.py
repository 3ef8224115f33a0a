"""The convergence-trade backtest: hand-computed trades, no look-ahead, and the sample market's signals.

Every hand-computed trade has legs of N = 10,000 USD. Day 0 is the signal day; the entry is day 1's close.
"""

import datetime as dt

import polars as pl
import pytest

from assets.core.basis import basis_daily
from assets.core.funding import funding_daily
from assets.core.returns import crypto_closes, reference_perp, returns_on_calendar, utc_days
from assets.core.spread import perp_quarterly_spread
from assets.marts import rules
from assets.marts.backtest import basis_trades, carry_trades, delivery_prices, signal_trades, trade_summary
from assets.raw.sources.sample import SampleMarket
from pipelines.settings import BacktestSettings, Settings, VenueCosts
from warehouse.schemas import MARTS_BASIS_TRADE_SUMMARY, MARTS_BASIS_TRADES

DAY0 = dt.date(2024, 1, 1)
LINEAR, INVERSE = "BTC/USDT:USDT", "BTC/USD:BTC"
NO_COSTS = VenueCosts(fee_bp=0, spot_fee_bp=0, slippage_bp=0)


def day(i: int) -> dt.date:
    return DAY0 + dt.timedelta(days=i)


def at(i: int, hour: int) -> dt.datetime:
    return dt.datetime.combine(day(i), dt.time(hour))


def settings(**overrides) -> BacktestSettings:
    return BacktestSettings(**{"default_costs": NO_COSTS, **overrides})


def market(perp, quarterly, spot=None, gap_z=None, gap_vs_usual=None, perp_symbol=LINEAR, expiry=None,
           code="PERP_QUARTERLY_DIVERGENCE", funding=(), venue="v", basis_ann=None):
    """spread, basis, funding settlements and one episode starting on day 0, from daily closes."""
    n = len(perp)
    spot = spot or [100.0] * n
    expiry = expiry or at(60, 8)
    gap_z = gap_z or [4.0] * n
    gap_vs_usual = gap_vs_usual or [0.03] * n
    quarterly_symbol = f"{perp_symbol}-{expiry:%y%m%d}"
    dates = [day(i) for i in range(n)]
    dte = [(expiry - dt.datetime.combine(d + dt.timedelta(days=1), dt.time())).total_seconds() / 86400 for d in dates]
    basis_ann = basis_ann or [(q / s - 1) * 365 / t for q, s, t in zip(quarterly, spot, dte)]
    common = dict(date=dates, venue=venue, underlying="BTC", spot=spot)
    perp_rows = pl.DataFrame(dict(common, symbol=perp_symbol, kind="perp", price=perp, expiry_ts=[None] * n,
                                  dte=[None] * n, basis=[p / s - 1 for p, s in zip(perp, spot)], basis_ann_simple=[None] * n),
                             schema_overrides={"expiry_ts": pl.Datetime("us"), "dte": pl.Float64, "basis_ann_simple": pl.Float64})
    future_rows = pl.DataFrame(dict(common, symbol=quarterly_symbol, kind="future", price=quarterly, expiry_ts=expiry,
                                    dte=dte, basis=[q / s - 1 for q, s in zip(quarterly, spot)], basis_ann_simple=basis_ann),
                               schema_overrides={"expiry_ts": pl.Datetime("us")})
    basis = pl.concat([perp_rows, future_rows])
    spread = pl.DataFrame(dict(
        date=dates, venue=venue, underlying="BTC", perp_symbol=perp_symbol, quarterly_symbol=quarterly_symbol,
        quarterly_dte=dte, quarterly_basis_ann=basis_ann,
        gap=[p / s - q / s for p, q, s in zip(perp, quarterly, spot)], gap_vs_usual=gap_vs_usual, gap_z=gap_z))
    settlements = pl.DataFrame(
        [dict(date=ts.date(), venue=venue, symbol=perp_symbol, funding_ts=ts, rate=rate, interval_hours=8.0)
         for ts, rate in funding],
        schema={"date": pl.Date, "venue": pl.Utf8, "symbol": pl.Utf8, "funding_ts": pl.Datetime("us"), "rate": pl.Float64,
                "interval_hours": pl.Float64})
    episodes = pl.DataFrame(dict(code=[code], kind="anomaly", subject=f"{venue}:{perp_symbol}", calendar="crypto",
                                 start=DAY0, peak_date=DAY0, end=DAY0, days=1, peak_severity=4.0, open=False,
                                 implication=""))
    return spread, basis, settlements, episodes


def one_trade(frames, backtest, deliveries=None) -> dict:
    trades = signal_trades(*frames, backtest, deliveries)
    assert trades.height == 1
    return trades.row(0, named=True)


# A divergence that closes: perp rich (gap above usual) on day 0, back to usual on day 3.
CONVERGING = dict(perp=[101.5, 101.0, 100.5, 100.0], quarterly=[98.0, 98.0, 99.0, 100.5],
                  gap_z=[5.0, 4.0, 2.0, 0.3], gap_vs_usual=[0.035, 0.03, 0.015, 0.001])


def test_convergence_exit_short_the_rich_perpetual_long_the_cheap_quarterly():
    t = one_trade(market(**CONVERGING), settings())
    assert t["direction"] == "short_perp_long_quarterly" and (t["hedge_side"], t["quarterly_side"]) == (-1, 1)
    assert (t["entry_date"], t["entry_hedge_price"], t["entry_quarterly_price"]) == (day(1), 101.0, 98.0)
    # Day 2: abs(z) = 2 > 0.5 and abs(gap_vs_usual) = 1.5% > 0.2%: still open. Day 3: z = 0.3: converged.
    assert (t["exit_reason"], t["exit_date"], t["days_held"]) == ("convergence", day(3), 2.0)
    # perp short: -10000 * (100 / 101 - 1) = 99.0099; quarterly long: 10000 * (100.5 / 98 - 1) = 255.1020
    assert t["spread_pnl"] == pytest.approx(99.00990 + 255.10204, abs=1e-4)
    assert t["net_pnl"] == pytest.approx(354.11194, abs=1e-4)
    # Day 2 marks at +49.50 + 102.04 > 0: never under water. Cross margin at 5x: 20,000 / 5 = 4,000 USDT.
    assert t["max_adverse_excursion"] == 0.0 and t["margin_used"] == pytest.approx(4000.0)
    assert t["pnl_currency"] == "USDT" and t["contract_type"] == "linear"


def test_gap_back_inside_its_usual_band_exits_without_a_z_score():
    frames = market(**dict(CONVERGING, gap_z=[None, None, None, None]))
    t = one_trade(frames, settings())
    # z unknown (short history); day 3's gap is 0.1% from its usual level, inside the 0.2% band.
    assert (t["exit_reason"], t["exit_date"]) == ("convergence", day(3))


def test_fees_and_slippage_per_venue():
    costs = settings(default_costs=VenueCosts(fee_bp=100, slippage_bp=100),
                     venue_costs={"v": VenueCosts(fee_bp=5, slippage_bp=2)})
    t = one_trade(market(**CONVERGING), costs)
    # Traded values: perp 10000 at entry + 10000 * 100 / 101 = 9900.990 at exit; quarterly 10000 +
    # 10000 * 100.5 / 98 = 10255.102. Sum 40156.092. Fees 5 bp = 20.0780; slippage 2 bp = 8.0312.
    assert t["fees"] == pytest.approx(20.078046, abs=1e-5)
    assert t["slippage"] == pytest.approx(8.031218, abs=1e-5)
    assert t["net_pnl"] == pytest.approx(354.11194 - 20.078046 - 8.031218, abs=1e-4)


def test_stop_and_the_leverage_that_would_have_been_liquidated():
    # Perp cheap (gap below usual): long the perp at 100, short the quarterly at 102; the gap widens.
    frames = market(perp=[99.0, 100.0, 99.0, 98.0, 97.0], quarterly=[102.0, 102.0, 103.0, 104.0, 105.0],
                    gap_vs_usual=[-0.03] * 5, code="LIQUIDATION_DISLOCATION")
    t = one_trade(frames, settings(leverage=50.0))
    assert t["direction"] == "long_perp_short_quarterly"
    # Day 2: 10000 * (99 / 100 - 1) - 10000 * (103 / 102 - 1) = -100 - 98.039 = -198.04, above the -300 stop.
    # Day 3: -200 - 196.078 = -396.078 <= -3% of 10,000: stopped at day 3's close.
    assert (t["exit_reason"], t["exit_date"]) == ("stop", day(3))
    assert t["net_pnl"] == pytest.approx(-396.07843, abs=1e-4)
    assert (t["max_adverse_excursion"], t["mae_date"]) == (pytest.approx(396.07843, abs=1e-4), day(3))
    # Cross: 1 / (0.005 + 396.078 / 20000) = 1 / 0.0248039 = 40.316. Isolated: the perp lost 2% of its
    # notional (the quarterly 1.96%): 1 / (0.005 + 0.02) = 40. At 50x it would have been liquidated.
    assert t["liquidation_leverage"] == pytest.approx(40.3162, abs=1e-3)
    assert t["liquidation_leverage_isolated"] == pytest.approx(40.0)
    assert t["liquidated_at_leverage"] is True


def test_exit_days_before_expiry():
    # Expiry day 5, 08:00: day i closes at day i+1 00:00, so dte = 4.333 - i; day 3 is the first <= 2.
    frames = market(perp=[101.5, 101.0, 101.0, 101.0, 101.0], quarterly=[98.0, 98.0, 98.5, 99.0, 99.5],
                    expiry=at(5, 8))
    t = one_trade(frames, settings(exit_days_before_expiry=2.0))
    assert (t["exit_reason"], t["exit_date"]) == ("expiry", day(3))
    assert t["entry_dte"] == pytest.approx(10 / 3)
    # perp flat; quarterly long 10000 * (99 / 98 - 1) = 102.0408
    assert t["net_pnl"] == pytest.approx(102.0408, abs=1e-4)


def test_settlement_at_expiry_with_funding_up_to_delivery():
    expiry = at(5, 8)
    funding = [(at(2, 0), 0.001),  # the entry close itself: not taken by a position opened then
               (at(5, 8), 0.0001),  # at delivery: taken
               (at(5, 16), 0.0001)]  # after delivery: not taken
    frames = market(perp=[101.5, 101.0, 101.0, 101.0, 100.5, 100.0], quarterly=[98.0, 99.0, 99.5, 99.8, 99.9, 100.0],
                    expiry=expiry, funding=funding)
    spread, basis, settlements, episodes = frames
    # The quarterly has no basis row on its delivery day (dte < 0): its settlement price comes from raw bars.
    basis = basis.filter(~((pl.col("kind") == "future") & (pl.col("date") == day(5))))
    deliveries = pl.DataFrame(dict(venue=["v"], symbol=[f"{LINEAR}-{expiry:%y%m%d}"], settlement_price=[100.0]))
    t = one_trade((spread, basis, settlements, episodes), settings(exit_days_before_expiry=0.0), deliveries)
    assert (t["exit_reason"], t["exit_date"]) == ("settlement", day(5))
    # Delivered at 100; the perpetual closed at 100 * (1 + day 4's premium 100.5 / 100 - 1) = 100.5.
    assert (t["exit_quarterly_price"], t["exit_hedge_price"]) == (100.0, pytest.approx(100.5))
    # From day 1's close (day 2 00:00) to day 5 08:00: 3 days 8 hours.
    assert t["days_held"] == pytest.approx(10 / 3)
    # perp short: 10000 * 0.5 / 101 = 49.50495; quarterly long: 10000 * (100 / 99 - 1) = 101.01010
    assert t["spread_pnl"] == pytest.approx(150.51505, abs=1e-4)
    # One settlement, priced at day 4's close 100.5: value 10000 * 100.5 / 101 = 9950.495; the short
    # receives 0.0001 of it.
    assert t["funding_settlements"] == 1 and t["funding_pnl"] == pytest.approx(0.9950495, abs=1e-6)


def test_a_delivery_without_a_settlement_price_names_the_contract():
    expiry = at(5, 8)
    frames = market(perp=[101.5, 101.0, 101.0, 101.0, 100.5, 100.0], quarterly=[98.0, 99.0, 99.5, 99.8, 99.9, 100.0],
                    expiry=expiry)
    with pytest.raises(ValueError, match=r"no settlement price for v BTC/USDT:USDT-240106 \(expiry 2024-01-06 08:00:00\)"):
        signal_trades(*frames, settings(exit_days_before_expiry=0.0))


def test_maximum_holding_time():
    frames = market(perp=[101.5] * 6, quarterly=[98.0, 98.0, 98.2, 98.4, 98.6, 98.8])
    t = one_trade(frames, settings(max_holding_days=3))
    # Entered day 1, still diverged: out at the first close 3 days later, day 4. 10000 * (98.6 / 98 - 1) = 61.2245
    assert (t["exit_reason"], t["exit_date"], t["days_held"]) == ("max_holding", day(4), 3.0)
    assert t["net_pnl"] == pytest.approx(61.2245, abs=1e-4)


def test_inverse_contract_pnl_fees_funding_and_margin_in_the_coin():
    frames = market(perp=[20100.0, 20000.0, 19900.0], quarterly=[19500.0, 19600.0, 19800.0], spot=[20000.0] * 3,
                    gap_z=[5.0, 4.0, 0.2], perp_symbol=INVERSE, funding=[(at(2, 8), 0.0002)])
    t = one_trade(frames, settings(default_costs=VenueCosts(fee_bp=5, slippage_bp=0)))
    assert (t["contract_type"], t["pnl_currency"], t["direction"]) == ("inverse", "BTC", "short_perp_long_quarterly")
    # perp short: -10000 * (1/20000 - 1/19900) = 0.00251256 BTC; quarterly long: 10000 * (1/19600 - 1/19800) = 0.00515358
    assert t["spread_pnl"] == pytest.approx(0.00251256 + 0.00515358, abs=1e-8)
    # Settlement at day 2 08:00, priced at day 1's close 20000: value 10000 / 20000 = 0.5 BTC; the short receives 0.0001.
    assert t["funding_pnl"] == pytest.approx(0.0001, abs=1e-12)
    # Traded values in BTC: 10000/20000 + 10000/19900 + 10000/19600 + 10000/19800 = 2.01776715; 5 bp of it.
    assert t["fees"] == pytest.approx(0.00100888, abs=1e-8)
    assert t["net_pnl"] == pytest.approx(0.00766614 + 0.0001 - 0.00100888, abs=1e-8)
    # Margin at 5x: (0.5 + 0.51020408) / 5 BTC.
    assert t["margin_used"] == pytest.approx(0.20204082, abs=1e-8)


def test_funding_flipping_sign_mid_trade():
    # Long the cheap perpetual at 100; it rises to 104 on day 2; converged at day 3.
    funding = [(at(2, 0), 0.001),  # at the entry close: not taken
               (at(2, 8), 0.0003),  # priced at day 1's close 100: value 10000, the long pays 3.00
               (at(3, 0), -0.0002),  # priced at day 2's close 104: value 10400, the long receives 2.08
               (at(3, 8), -0.0005),  # priced at day 2's close 104: receives 5.20
               (at(4, 8), -0.0005)]  # after the exit at day 3's close (day 4 00:00): not taken
    frames = market(perp=[99.0, 100.0, 104.0, 104.0, 104.0], quarterly=[102.0, 102.0, 102.0, 104.0, 104.0],
                    gap_z=[-5.0, -4.0, -3.0, 0.1, 0.1], gap_vs_usual=[-0.03, -0.03, -0.02, 0.0, 0.0], funding=funding)
    t = one_trade(frames, settings())
    assert (t["direction"], t["exit_date"]) == ("long_perp_short_quarterly", day(3))
    assert t["funding_settlements"] == 3
    assert t["funding_pnl"] == pytest.approx(-3.0 + 2.08 + 5.2)
    # perp long: 10000 * 0.04 = 400; quarterly short: -10000 * (104 / 102 - 1) = -196.0784
    assert t["net_pnl"] == pytest.approx(400 - 196.07843 + 4.28, abs=1e-4)


def test_prices_after_the_entry_day_do_not_change_the_entry():
    base = one_trade(market(**CONVERGING), settings())
    moved = dict(CONVERGING, perp=[101.5, 101.0, 90.0, 80.0], quarterly=[98.0, 98.0, 120.0, 130.0])
    changed = one_trade(market(**moved), settings())
    entry = ["direction", "entry_date", "entry_hedge_price", "entry_quarterly_price", "entry_dte"]
    assert {k: changed[k] for k in entry} == {k: base[k] for k in entry}
    assert changed["net_pnl"] != base["net_pnl"]
    # The entry is never the signal day's own close.
    assert base["entry_hedge_price"] != CONVERGING["perp"][0] and base["entry_date"] > base["signal_date"]


def test_a_signal_on_the_latest_day_is_pending_and_an_unfinished_trade_is_open():
    pending = one_trade(market(perp=[101.5], quarterly=[98.0]), settings())
    assert pending["exit_reason"] == "pending" and pending["entry_date"] is None
    still = one_trade(market(perp=[101.5, 101.0, 101.0], quarterly=[98.0, 98.0, 98.5]), settings())
    assert (still["exit_reason"], still["exit_date"]) == ("open", day(2))
    summary = trade_summary(pl.DataFrame([pending, still], schema=MARTS_BASIS_TRADES.polars_schema))
    assert summary.select("trades", "open_trades").row(0) == (0, 2)


def test_carry_baseline_long_spot_short_the_quarterly_to_expiry():
    # Expiry day 5, 08:00; annualised basis above 5% from day 0; out at day 3 (dte 1.33 <= 2).
    frames = market(perp=[100.0] * 5, quarterly=[101.0, 101.0, 102.0, 105.2, 105.0], spot=[100.0, 100.0, 101.0, 105.0, 105.0],
                    expiry=at(5, 8))
    basis = frames[1]
    carry = carry_trades(basis, settings(default_costs=VenueCosts(fee_bp=5, spot_fee_bp=10, slippage_bp=0),
                                         carry_min_dte=3.0))
    assert carry.height == 1
    t = carry.row(0, named=True)
    assert (t["code"], t["direction"], t["hedge_symbol"]) == ("CARRY_BASELINE", "long_spot_short_quarterly", "BTC/USDT")
    assert (t["signal_date"], t["entry_date"], t["exit_date"], t["exit_reason"]) == (day(0), day(1), day(3), "expiry")
    # spot long: 10000 * (105 / 100 - 1) = 500; quarterly short: -10000 * (105.2 / 101 - 1) = -415.8416
    assert t["spread_pnl"] == pytest.approx(84.15842, abs=1e-4)
    # Spot fee 10 bp on 10000 + 10500; quarterly 5 bp on 10000 + 10415.842.
    assert t["fees"] == pytest.approx(20.5 + 10.207921, abs=1e-5)
    # The spot leg is paid in full, the quarterly at 5x: 10000 + 2000.
    assert t["margin_used"] == pytest.approx(12000.0) and t["funding_pnl"] == 0.0


def test_missing_spread_on_a_signal_day_is_an_error_naming_it():
    spread, basis, settlements, episodes = market(**CONVERGING)
    with pytest.raises(ValueError, match=r"no row for v BTC/USDT:USDT on 2024-01-01"):
        signal_trades(spread.filter(pl.col("date") > DAY0), basis, settlements, episodes, settings())


# ------------------------------------------------------------------------------------- sample market
SAMPLE_START, SAMPLE_END = dt.date(2019, 9, 1), dt.date(2021, 3, 1)  # ~7 months of warm-up for the 180-day z
SCORED_FROM = dt.date(2020, 4, 1)


@pytest.fixture(scope="module")
def sample_trades():
    s = Settings()
    market_ = SampleMarket(seed=s.sample.seed, venues=s.venues)
    bars = market_.crypto_bars(SAMPLE_START, SAMPLE_END)
    settlements = market_.funding(SAMPLE_START, SAMPLE_END)
    basis = basis_daily(bars, market_.instruments(SAMPLE_START, SAMPLE_END), s.basis.min_dte_for_annualised,
                        s.basis.constant_maturity_days)
    funding = funding_daily(settlements, s.funding.rolling_short_days, s.funding.rolling_long_days, s.funding.zscore_days,
                            s.correlation.min_fraction)
    spread = perp_quarterly_spread(basis, funding, s.anomaly.divergence_min_dte, s.anomaly.gap_window,
                                   s.correlation.min_fraction)
    days = utc_days(SAMPLE_START, SAMPLE_END - dt.timedelta(days=1))
    closes = crypto_closes(bars, s.reference_venue, s.universe.underlyings, reference_perp(bars, s.reference_venue))
    a = s.anomaly
    z = rules.zscores(returns_on_calendar(closes, days, "crypto"), a.return_horizon, a.sigma_window, a.sigma_min_obs)
    episodes = rules.episodes(rules.crypto_only(spread, funding, z, a), {"crypto": days}, {"crypto": days.max()})
    trades = basis_trades(spread, basis, settlements, episodes, s.backtest, delivery_prices(bars, basis))
    return market_.ground_truth(), trades


def test_every_scripted_divergence_on_the_sample_market_gets_a_trade(sample_trades):
    truth, trades = sample_trades
    scripted = truth.filter(pl.col("code").is_in(["PERP_QUARTERLY_DIVERGENCE", "LIQUIDATION_DISLOCATION"])
                            & (pl.col("kind") == "anomaly") & (pl.col("start") >= SCORED_FROM)
                            & (pl.col("end") < SAMPLE_END))
    assert scripted.height >= 5 and set(scripted["code"]) == {"PERP_QUARTERLY_DIVERGENCE", "LIQUIDATION_DISLOCATION"}
    traded = trades.with_columns(subject=pl.col("venue") + ":" + pl.col("hedge_symbol"))
    matched = scripted.join(traded, on=["code", "subject"], how="inner").filter(
        pl.col("signal_date").is_between(pl.col("start"), pl.col("end")))
    missing = scripted.join(matched.select("code", "subject", "start"), on=["code", "subject", "start"], how="anti")
    assert missing.height == 0, missing
    # Entered after the signal day, closed on one of the exit rules, with its perpetual's funding counted.
    assert (matched["entry_date"] > matched["signal_date"]).all()
    assert set(matched["exit_reason"]) <= {"convergence", "stop", "expiry", "max_holding"}
    assert (matched["funding_settlements"] > 0).all()
    # The scripted divergences (perpetual +1.5%, quarterly -2%) are shorted on the perpetual and pay before
    # costs; the scripted liquidations are bought on the perpetual.
    divergences = matched.filter(pl.col("code") == "PERP_QUARTERLY_DIVERGENCE")
    assert (divergences["direction"] == "short_perp_long_quarterly").all() and (divergences["spread_pnl"] > 0).all()
    liquidations = matched.filter(pl.col("code") == "LIQUIDATION_DISLOCATION")
    assert (liquidations["direction"] == "long_perp_short_quarterly").all()


def test_sample_market_tables_follow_their_specs_and_carry_stands_beside(sample_trades):
    _, trades = sample_trades
    assert trades.schema == pl.Schema(MARTS_BASIS_TRADES.polars_schema)
    summary = trade_summary(trades)
    assert summary.schema == pl.Schema(MARTS_BASIS_TRADE_SUMMARY.polars_schema)
    carry = trades.filter(pl.col("code") == "CARRY_BASELINE")
    # One carry position at a time per venue and margin family, each held to its expiry.
    assert set(carry["exit_reason"]) <= {"expiry", "open"}
    for _, group in carry.group_by("venue", "quarterly_symbol"):
        assert group.height == 1
    assert set(summary["code"]) >= {"CARRY_BASELINE", "PERP_QUARTERLY_DIVERGENCE", "LIQUIDATION_DISLOCATION"}
