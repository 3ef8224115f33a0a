"""Each anomaly rule on small hand-built frames: fires at its threshold, stays quiet just below it."""

import datetime as dt
import json
import math

import polars as pl
import pytest

from assets.marts import rules
from pipelines.settings import AnomalySettings
from warehouse.schemas import MARTS_ANOMALY_DAILY

A = AnomalySettings()
D = dt.date(2025, 1, 10)


def z_frame(z_btc, z_nasdaq, z_gold, gold_return=None):
    """z-scores as rules.zscores returns them, traditional calendar, one date."""
    rows = [("BTC", z_btc), ("nasdaq", z_nasdaq), ("gold", z_gold)]
    return pl.DataFrame(
        [dict(calendar="traditional", series=s, date=D, prev_date=D, ret_1=0.0,
              ret_n=(gold_return if s == "gold" and gold_return is not None else 0.01 * z), sigma=0.01, z_1=z, z_n=z)
         for s, z in rows]
    )


def codes(frame):
    return sorted(frame["code"].to_list())


@pytest.mark.parametrize(
    "z_btc, z_nasdaq, z_gold, gold_return, expected",
    [
        (-2.0, -1.0, 0.5, 0.0, ["CRYPTO_SPECIFIC_SHOCK"]),  # at every threshold
        (-1.99, -1.0, 0.5, 0.0, []),  # BTC just above -2
        (-2.0, -1.0, -0.5, -0.0001, []),  # gold fell a little
        (-2.0, -1.5, 1.0, None, ["FLIGHT_TO_SAFETY"]),
        (-2.0, -1.5, 0.99, None, ["RISK_ASSET_CO_CRASH"]),
        (-2.0, -1.5, -0.99, None, ["RISK_ASSET_CO_CRASH"]),
        (-2.0, -1.5, -1.0, None, ["BROAD_LIQUIDATION"]),
        (-2.0, -1.49, -1.0, -0.01, []),  # Nasdaq held, gold fell: none of the four
        (0.5, -2.0, 0.0, None, ["CAPITAL_ROTATION"]),
        (0.51, -2.0, 0.0, None, []),
        (-0.5, -1.99, 0.0, None, []),
    ],
)
def test_cross_asset_rules(z_btc, z_nasdaq, z_gold, gold_return, expected):
    fired = rules.cross_asset(z_frame(z_btc, z_nasdaq, z_gold, gold_return), "nasdaq", A)
    assert codes(fired) == expected
    if expected:
        row = fired.row(0, named=True)
        assert row["subject"] == "BTC" and row["kind"] == "anomaly" and row["calendar"] == "traditional"
        raw = (max(abs(z_btc), abs(z_nasdaq)) if expected != ["FLIGHT_TO_SAFETY"]
               else max(abs(z_btc), abs(z_nasdaq), abs(z_gold)))
        assert json.loads(row["evidence"])["z"] == pytest.approx(raw)  # the raw z, kept as evidence
        assert row["severity"] == pytest.approx(pl.select(rules.severity_of(pl.lit(raw))).item())
        assert '"z_btc"' in row["evidence"] and row["implication"]


def test_the_four_crash_rules_never_fire_together():
    grid = [(-3.0, n, g) for n in (-3.0, -1.5, -1.0, 0.0) for g in (-2.0, -1.0, 0.0, 1.0, 2.0)]
    for z_btc, z_n, z_g in grid:
        fired = rules.cross_asset(z_frame(z_btc, z_n, z_g, 0.01 * z_g), "nasdaq", A)
        crash_codes = set(fired["code"]) - {"CAPITAL_ROTATION"}
        assert len(crash_codes) <= 1, (z_n, z_g, crash_codes)


def spread_row(**overrides):
    row = dict(date=D, venue="v", underlying="BTC", perp_symbol="BTC/USDT:USDT", perp_price_type="mark",
               perp_premium=0.0002, quarterly_symbol="Q", quarterly_dte=40.0, quarterly_basis=0.008,
               quarterly_basis_ann=0.073, gap=-0.0078, gap_vs_usual=0.0, gap_z=0.0, funding_apr_7d=0.1,
               carry_spread=0.0, carry_spread_z=0.0)
    row.update(overrides)
    return pl.DataFrame([row])


def funding_row(daily_rate=0.0003, apr=0.1095, z=0.0):
    return pl.DataFrame([dict(date=D, venue="v", symbol="BTC/USDT:USDT", daily_rate=daily_rate, apr=apr, daily_rate_z=z)])


def crypto_z(z_1):
    return pl.DataFrame([dict(calendar="crypto", series="BTC", date=D, prev_date=D, ret_1=0.0, ret_n=0.0, sigma=0.03,
                              z_1=z_1, z_n=0.0)])


def crypto_codes(spread, funding=None, z_1=0.0):
    return codes(rules.crypto_only(spread, funding if funding is not None else funding_row(), crypto_z(z_1), A))


def test_divergence_on_a_gap_z_of_three_either_way():
    assert crypto_codes(spread_row(gap_z=3.0)) == ["PERP_QUARTERLY_DIVERGENCE"]
    assert crypto_codes(spread_row(gap_z=-3.0)) == ["PERP_QUARTERLY_DIVERGENCE"]
    assert crypto_codes(spread_row(gap_z=2.99)) == []


def test_divergence_on_opposite_signs_of_at_least_half_a_percent():
    # The article's example: quarterly -2% against spot while the perpetual is +1.5%.
    assert crypto_codes(spread_row(perp_premium=0.015, quarterly_basis=-0.02, gap=0.035)) == ["PERP_QUARTERLY_DIVERGENCE"]
    assert crypto_codes(spread_row(perp_premium=0.005, quarterly_basis=-0.005, gap=0.01)) == ["PERP_QUARTERLY_DIVERGENCE"]
    assert crypto_codes(spread_row(perp_premium=0.0049, quarterly_basis=-0.02, gap=0.0249)) == []


def test_divergence_needs_seven_days_to_expiry():
    assert crypto_codes(spread_row(gap_z=5.0, quarterly_dte=6.9)) == []


def test_liquidation_dislocation_and_its_precedence_over_divergence():
    dislocated = spread_row(gap_vs_usual=-0.01, gap_z=-8.0)
    negative_funding = funding_row(daily_rate=-0.0001, apr=-0.0365)
    assert crypto_codes(dislocated, negative_funding, z_1=-2.0) == ["LIQUIDATION_DISLOCATION"]
    # Just below any one condition: the same day is a divergence instead.
    assert crypto_codes(spread_row(gap_vs_usual=-0.0099, gap_z=-8.0), negative_funding, z_1=-2.0) == ["PERP_QUARTERLY_DIVERGENCE"]
    assert crypto_codes(dislocated, negative_funding, z_1=-1.99) == ["PERP_QUARTERLY_DIVERGENCE"]
    assert crypto_codes(dislocated, funding_row(daily_rate=0.0), z_1=-3.0) == ["PERP_QUARTERLY_DIVERGENCE"]


def test_funding_pressure_is_context_only_while_the_gap_is_normal():
    high = funding_row(daily_rate=0.005, apr=0.5)
    fired = rules.crypto_only(spread_row(), high, crypto_z(0.0), A)
    assert codes(fired) == ["FUNDING_PRESSURE"] and fired["kind"].to_list() == ["context"]
    assert crypto_codes(spread_row(), funding_row(apr=0.49)) == []
    assert crypto_codes(spread_row(), funding_row(z=-3.0)) == ["FUNDING_PRESSURE"]
    # With the gap diverging it is the divergence, not the funding mechanism.
    assert crypto_codes(spread_row(gap_z=4.0), high) == ["PERP_QUARTERLY_DIVERGENCE"]


def correlation_row(short, base, n_short=30, n_base=180):
    return pl.DataFrame([dict(date=D, pair="btc~gold", calendar="traditional", series_a="BTC", series_b="gold",
                              n_short=n_short, corr_short=short, n_baseline=n_base, corr_baseline=base)])


@pytest.mark.parametrize(
    "short, base, fires",
    [(0.625, 0.125, True), (0.6, 0.125, False), (0.25, 0.75, True), (0.265625, 0.75, False), (-0.375, 0.125, True)],
)
def test_correlation_break_on_a_difference_of_half(short, base, fires):
    fired = rules.correlation_breaks(correlation_row(short, base), A)
    assert (fired.height == 1) is fires
    if fires:
        expected = abs(math.atanh(short) - math.atanh(base)) / math.sqrt(1 / 27 + 1 / 177)
        assert json.loads(fired["evidence"][0])["z"] == pytest.approx(expected, abs=1e-6)
        assert fired["severity"][0] == pytest.approx(pl.select(rules.severity_of(pl.lit(expected))).item())


@pytest.mark.parametrize("short, base, fires", [(-0.3, 0.3, True), (-0.29, 0.3, False), (-0.3, 0.29, False), (0.3, 0.9, False)])
def test_correlation_break_on_a_flip_of_a_relation_of_at_least_point_three(short, base, fires):
    # With the default 0.5 difference every such flip differs by at least 0.6 anyway; the flip clause
    # decides on its own once the difference threshold is raised.
    strict = AnomalySettings(correlation_break_diff=0.9)
    assert (rules.correlation_breaks(correlation_row(short, base), strict).height == 1) is fires


def test_expiry_convergence_is_a_context_label():
    days = [D + dt.timedelta(days=i) for i in range(6)]
    basis = pl.DataFrame({
        "date": days, "venue": "v", "underlying": "BTC", "symbol": "F", "kind": "future",
        "dte": [10.0, 9.0, 8.0, 6.9, 5.9, 4.9], "basis": [0.004, 0.0038, 0.0035, 0.0020, 0.0015, 0.0010],
    })
    fired = rules.expiry_convergence(basis, A)
    assert fired["date"].to_list() == days[3:] and set(fired["kind"]) == {"context"}
    assert set(fired["subject"]) == {"v:F"}


def test_zscores_use_the_trailing_sigma_without_the_current_observation():
    returns = pl.DataFrame({
        "calendar": "crypto", "series": "BTC", "prev_date": None,
        "date": [D + dt.timedelta(days=i) for i in range(6)],
        "log_return": [0.01, -0.01, 0.01, -0.01, 0.01, -0.05],
    })
    z = rules.zscores(returns, horizon=2, window=5, min_obs=4)
    last = z.row(5, named=True)
    sigma = pl.Series([0.01, -0.01, 0.01, -0.01, 0.01]).std()
    assert last["sigma"] == pytest.approx(sigma)
    assert last["z_1"] == pytest.approx(-0.05 / sigma)
    assert last["z_n"] == pytest.approx((0.01 - 0.05) / (sigma * math.sqrt(2)))
    assert z["sigma"][:4].is_null().all()


def test_episodes_merge_consecutive_observations_of_the_calendar():
    trading = pl.Series([dt.date(2025, 1, d) for d in (6, 7, 8, 9, 10, 13, 14, 15)])  # Mon-Fri, Mon-Wed
    fired = pl.DataFrame({
        "date": [dt.date(2025, 1, d) for d in (9, 10, 13, 15)], "code": "CAPITAL_ROTATION", "kind": "anomaly",
        "subject": "BTC", "calendar": "traditional", "severity": [2.1, 2.6, 2.2, 2.0], "implication": "x",
    })
    out = rules.episodes(fired, {"traditional": trading}, {"traditional": dt.date(2025, 1, 15)})
    assert out.select("start", "end", "days", "peak_date", "open").rows() == [
        (dt.date(2025, 1, 9), dt.date(2025, 1, 13), 3, dt.date(2025, 1, 10), False),  # Friday to Monday is consecutive
        (dt.date(2025, 1, 15), dt.date(2025, 1, 15), 1, dt.date(2025, 1, 15), True),
    ]


def test_status_has_one_row_per_table_1_pair_and_says_since_when():
    correlations = pl.DataFrame([
        dict(date=D, pair=p, corr_short=0.1, corr_baseline=0.5, label_short="weak", label_baseline="positive")
        for p in ("btc_perp~btc_quarterly", "btc~gold", "btc~nasdaq")
    ])
    anomalies = pl.DataFrame([dict(date=D, code="CAPITAL_ROTATION", subject="BTC", calendar="traditional",
                                   severity=2.5)])
    episode_table = pl.DataFrame([dict(code="CAPITAL_ROTATION", subject="BTC", start=D - dt.timedelta(days=3),
                                       end=D, open=True)])
    out = rules.status(correlations, anomalies, episode_table, D, 0.6, 0.3)
    assert out["asset_pair"].to_list() == ["BTC perpetual vs BTC quarterly", "BTC vs gold", "BTC vs Nasdaq"]
    nasdaq = out.row(2, named=True)
    assert nasdaq["active"] and nasdaq["active_codes"] == "CAPITAL_ROTATION"
    assert nasdaq["active_since"] == D - dt.timedelta(days=3) and nasdaq["severity"] == 2.5
    assert not out.row(0, named=True)["active"] and out.row(0, named=True)["typical_correlation"] == 0.5


def test_every_rule_code_is_a_value_the_table_allows():
    allowed = next(c for c in MARTS_ANOMALY_DAILY.columns if c.name == "code").allowed_values
    assert set(allowed) == set(rules.IMPLICATIONS)


TABLE_1_CORRELATIONS = pl.DataFrame([
    dict(date=d, pair=p, corr_short=0.1, corr_baseline=0.5, label_short="weak", label_baseline="positive")
    for p in ("btc_perp~btc_quarterly", "btc~gold", "btc~nasdaq") for d in (D, D + dt.timedelta(days=1))
])


def test_a_cross_asset_episode_stays_active_over_the_weekend():
    friday, saturday, sunday = D, D + dt.timedelta(days=1), D + dt.timedelta(days=2)  # 2025-01-10 is a Friday
    shock = pl.DataFrame([dict(date=friday, code="CRYPTO_SPECIFIC_SHOCK", subject="BTC", calendar="traditional",
                               severity=3.0)])
    episode_table = pl.DataFrame([dict(code="CRYPTO_SPECIFIC_SHOCK", subject="BTC", start=friday - dt.timedelta(days=1),
                                       end=friday, open=True)])
    trading = pl.Series([D - dt.timedelta(days=1), friday])  # no session on the weekend
    crypto = pl.Series([friday, saturday, sunday])
    for day in (friday, saturday, sunday):
        latest = rules.latest_observations({"crypto": crypto, "traditional": trading}, day)
        assert latest == {"crypto": day, "traditional": friday}
        gold = rules.status(TABLE_1_CORRELATIONS, shock, episode_table, day, 0.6, 0.3, latest).row(1, named=True)
        assert gold["active"] and gold["active_codes"] == "CRYPTO_SPECIFIC_SHOCK", day
        assert gold["active_since"] == friday - dt.timedelta(days=1)
    # The next session without a firing ends it: Monday's state is Monday's.
    monday = D + dt.timedelta(days=3)
    latest = rules.latest_observations({"crypto": crypto, "traditional": pl.Series([friday, monday])}, monday)
    assert not rules.status(TABLE_1_CORRELATIONS, shock, episode_table.with_columns(open=False), monday, 0.6, 0.3,
                            latest).row(1, named=True)["active"]


def test_an_eth_divergence_is_not_the_btc_perpetual_vs_quarterly_row():
    def divergence(symbol):
        return pl.DataFrame([dict(date=D, code="PERP_QUARTERLY_DIVERGENCE", subject=f"sample_a:{symbol}",
                                  calendar="crypto", severity=5.0)])

    eth = divergence("ETH/USDT:USDT")
    eth_episode = pl.DataFrame([dict(code="PERP_QUARTERLY_DIVERGENCE", subject="sample_a:ETH/USDT:USDT", start=D,
                                     end=D, open=True)])
    assert not rules.status(TABLE_1_CORRELATIONS, eth, eth_episode, D, 0.6, 0.3).row(0, named=True)["active"]
    btc = rules.status(TABLE_1_CORRELATIONS, divergence("BTC/USD:BTC"), eth_episode, D, 0.6, 0.3).row(0, named=True)
    assert btc["active"] and btc["active_since"] == D  # the ETH episode is not its start


@pytest.mark.parametrize("subject, coin", [("sample_a:ETH/USDT:USDT", "ETH"), ("binance:BTC/USD:BTC-250328", "BTC"),
                                           ("BTC", "BTC"), ("btc~gold", None)])
def test_subject_underlying(subject, coin):
    assert pl.select(rules.subject_underlying(pl.lit(subject))).item() == coin


@pytest.mark.parametrize("z, severity", [(0.0, 0.0), (2.0, 1.34), (-3.0, 2.57), (4.0, 4.20), (5.0, 6.24),
                                         (6.2, 9.25), (6.5, 10.0), (131.0, 10.0)])
def test_severity_is_one_bounded_scale(z, severity):
    assert pl.select(rules.severity_of(pl.lit(z))).item() == pytest.approx(severity, abs=0.01)


def test_a_divergence_from_a_tiny_baseline_keeps_its_raw_z_as_evidence_and_a_bounded_severity():
    spread = pl.DataFrame([dict(date=D, venue="v", perp_symbol="BTC/USDT:USDT", underlying="BTC", perp_premium=0.001,
                                quarterly_basis=0.01, gap=-0.009, gap_vs_usual=-0.002, gap_z=-131.0, quarterly_dte=60.0)])
    funding = pl.DataFrame(schema={"date": pl.Date, "venue": pl.Utf8, "symbol": pl.Utf8, "daily_rate": pl.Float64,
                                   "apr": pl.Float64, "daily_rate_z": pl.Float64})
    z = pl.DataFrame(schema={"calendar": pl.Utf8, "series": pl.Utf8, "date": pl.Date, "z_1": pl.Float64})
    fired = rules.crypto_only(spread, funding, z, A)
    row = fired.filter(pl.col("code") == "PERP_QUARTERLY_DIVERGENCE").row(0, named=True)
    assert row["severity"] == rules.SEVERITY_MAX and row["gap_z"] == -131.0
    assert json.loads(row["evidence"])["z"] == 131.0
