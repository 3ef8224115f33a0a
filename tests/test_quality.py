"""Each expectation suite passes on good data and fails on a corrupted copy, at the severity it declares;
check descriptions follow the settings in force; a watch check exists only where it checks something."""

import datetime as dt
import subprocess
import sys
from types import SimpleNamespace

import polars as pl
import pytest

from assets.raw.sources.sample import SampleMarket
from assets.raw.sources.yahoo import history_to_bars
from pipelines.settings import QualitySettings, Settings
from quality.checks import GATE, WATCH, check_results, quality_check_specs
from quality.gate import validate_window
from quality.suites import SUITES, tier_of
from warehouse.schemas import (
    CORE_BASIS_DAILY,
    CORE_CORRELATION_DAILY,
    MARTS_ANOMALY_DAILY,
    RAW_CRYPTO_OHLCV,
    RAW_FUNDING,
    RAW_INSTRUMENTS,
    RAW_TRADITIONAL_OHLCV,
)

START, END = dt.date(2025, 3, 3), dt.date(2025, 3, 17)  # two weeks: weekends, all venues
SETTINGS = Settings()


def run_suite(spec, rows, history=None, start=START, end=END, settings=SETTINGS):
    return validate_window(spec, rows, history=history, settings=settings, start=start, end=end)


def failed_names(report, tier="error"):
    return {f.name for f in report.failed(tier)}


@pytest.fixture(scope="module")
def good():
    m = SampleMarket()
    return dict(
        instruments=m.instruments(START, END), crypto=m.crypto_bars(START, END),
        funding=m.funding(START, END), traditional=m.traditional_bars(START, END),
    )


@pytest.mark.parametrize("spec, name", [(RAW_INSTRUMENTS, "instruments"), (RAW_CRYPTO_OHLCV, "crypto"),
                                        (RAW_FUNDING, "funding"), (RAW_TRADITIONAL_OHLCV, "traditional")])
def test_sample_market_passes_every_suite(good, spec, name):
    report = run_suite(spec, good[name])
    assert report.passed("error") and report.passed("warn"), report.summary("error") + report.summary("warn")
    assert report.evaluated["error"] >= 10


def test_negative_price_fails_and_names_the_row(good):
    bad = good["crypto"].with_columns(
        low=pl.when((pl.col("symbol") == "BTC/USDT") & (pl.col("date") == dt.date(2025, 3, 5))).then(-5.0).otherwise(pl.col("low"))
    )
    report = run_suite(RAW_CRYPTO_OHLCV, bad)
    assert "expect_column_values_to_be_between(low)" in failed_names(report)
    failure = next(f for f in report.failures if f.name == "expect_column_values_to_be_between(low)")
    assert failure.unexpected == 1 and failure.description == "the low is positive"
    assert failure.examples[0]["symbol"] == "BTC/USDT" and failure.examples[0]["date"] == dt.date(2025, 3, 5)


def test_high_below_close_fails(good):
    bad = good["crypto"].with_columns(high=pl.when(pl.col("kind") == "future").then(pl.col("close") * 0.9).otherwise(pl.col("high")))
    assert "expect_column_pair_values_a_to_be_greater_than_b(high vs close)" in failed_names(run_suite(RAW_CRYPTO_OHLCV, bad))


def test_duplicated_key_fails(good):
    bad = pl.concat([good["funding"], good["funding"].head(1)])
    assert "expect_compound_columns_to_be_unique(['venue', 'symbol', 'funding_ts'])" in failed_names(run_suite(RAW_FUNDING, bad))


def test_missing_crypto_day_on_the_reference_venue_fails(good):
    bad = good["crypto"].filter(~((pl.col("venue") == "sample_a") & (pl.col("date") == dt.date(2025, 3, 9))))
    report = run_suite(RAW_CRYPTO_OHLCV, bad)
    assert "expect_column_values_to_be_in_set(missing_required)" in failed_names(report)


def test_one_venue_of_several_missing_funding_only_warns(good):
    bad = good["funding"].filter(~((pl.col("venue") == "sample_b") & (pl.col("date") == dt.date(2025, 3, 9))))
    report = run_suite(RAW_FUNDING, bad)
    assert report.passed("error")
    assert "expect_column_values_to_be_in_set(missing_optional)" in failed_names(report, "warn")


def test_missing_traditional_session_fails(good):
    bad = good["traditional"].filter(~((pl.col("series") == "gold") & (pl.col("date") == dt.date(2025, 3, 12))))
    assert "expect_column_values_to_be_in_set(present)" in failed_names(run_suite(RAW_TRADITIONAL_OHLCV, bad))


def test_traditional_row_on_a_sunday_or_holiday_fails(good):
    sunday = good["traditional"].filter(pl.col("date") == dt.date(2025, 3, 7)).with_columns(date=pl.lit(dt.date(2025, 3, 9)))
    report = run_suite(RAW_TRADITIONAL_OHLCV, pl.concat([good["traditional"], sunday]))
    assert "expect_column_values_to_be_in_set(is_trading_day)" in failed_names(report)
    # Good Friday 2025 (April 18) is an NYSE holiday; the Thursday before is a session.
    holiday = good["traditional"].filter(pl.col("date") == dt.date(2025, 3, 7))
    friday, thursday = (holiday.with_columns(date=pl.lit(d)) for d in (dt.date(2025, 4, 18), dt.date(2025, 4, 17)))
    report = run_suite(RAW_TRADITIONAL_OHLCV, friday, start=dt.date(2025, 4, 18), end=dt.date(2025, 4, 19))
    assert "expect_column_values_to_be_in_set(is_trading_day)" in failed_names(report)
    assert run_suite(RAW_TRADITIONAL_OHLCV, thursday, start=dt.date(2025, 4, 17), end=dt.date(2025, 4, 18)).passed("error")


def test_funding_rate_of_five_percent_fails(good):
    bad = good["funding"].with_columns(rate=pl.when(pl.col("funding_ts") == dt.datetime(2025, 3, 5, 8)).then(0.05).otherwise(pl.col("rate")))
    assert "expect_column_values_to_be_between(rate)" in failed_names(run_suite(RAW_FUNDING, bad))


def test_future_without_expiry_fails(good):
    bad = good["instruments"].with_columns(expiry_ts=pl.lit(None, dtype=pl.Datetime("us")))
    assert "expect_column_values_to_be_in_set(expiry_known)" in failed_names(run_suite(RAW_INSTRUMENTS, bad))


def test_correlation_outside_minus_one_one_fails():
    rows = pl.DataFrame({
        "date": [dt.date(2025, 1, 1)], "pair": ["btc~gold"], "calendar": ["traditional"], "series_a": ["BTC"],
        "series_b": ["gold"], "n_short": [30], "corr_short": [1.2], "label_short": ["high positive"],
        "n_baseline": [180], "corr_baseline": [0.1], "label_baseline": ["weak"], "corr_change": [1.1],
    })
    report = run_suite(CORE_CORRELATION_DAILY, rows)
    assert failed_names(report) == {"expect_column_values_to_be_between(corr_short)"}


# ------------------------------------------------------------------------ funding against its history
def funding_days(first: dt.date, days: int, rates: list[float], venue="sample_a", symbol="BTC/USDT:USDT") -> pl.DataFrame:
    """Three 8-hour settlements a day; `rates` cycles over them."""
    stamps = [dt.datetime.combine(first + dt.timedelta(days=d), dt.time(h)) for d in range(days) for h in (0, 8, 16)]
    return pl.DataFrame({
        "date": [s.date() for s in stamps], "venue": venue, "symbol": symbol, "funding_ts": stamps,
        "rate": [rates[i % len(rates)] for i in range(len(stamps))], "interval_hours": 8.0,
    }, schema=RAW_FUNDING.polars_schema)


ONE_VENUE = Settings(universe={"venues": ["sample_a"], "underlyings": ["BTC"]})
DAY = dt.date(2025, 6, 15)
HISTORY = funding_days(DAY - dt.timedelta(days=14), 14, [0.0001, 0.00012, 0.00008, 0.00015, 0.00009])


def funding_report(rates, history=HISTORY, settings=ONE_VENUE):
    return run_suite(RAW_FUNDING, funding_days(DAY, 1, rates), history=history, start=DAY, end=DAY + dt.timedelta(days=1),
                     settings=settings)


def test_a_funding_day_stored_in_percent_is_caught_under_the_absolute_cap():
    report = funding_report([0.01, 0.012, 0.009])  # 1%, 1.2%, 0.9%: a typical day x100, all under the 3% cap
    assert "expect_column_values_to_be_between(rate)" not in failed_names(report)
    assert "expect_column_values_to_be_in_set(rate_beyond_history)" in failed_names(report)
    failure = next(f for f in report.failures if f.name.endswith("(rate_beyond_history)"))
    assert failure.unexpected == 3
    assert failure.examples[0]["rate_reference"] == pytest.approx(0.0001)
    assert funding_report([0.0001, 0.00012, 0.00009]).passed("error")


def test_a_venue_running_hot_may_exceed_the_ceiling_but_not_100x_its_own_history():
    hot = funding_days(DAY - dt.timedelta(days=14), 14, [0.0003, 0.00035, 0.00025])
    assert funding_report([0.01, 0.009, 0.011], history=hot).passed("error")  # 33x its median: a squeeze
    assert not funding_report([0.029, 0.03, 0.028], history=hot).passed("error")  # 100x: stored in percent


def test_without_history_the_ceiling_alone_judges_funding():
    assert not funding_report([0.01, 0.012, 0.009], history=None).passed("error")
    assert funding_report([0.0075, 0.0075, 0.0075], history=None).passed("error")  # the sample's own cap


# ------------------------------------------------------------------- close-only traditional series
def gold_bars(**changes) -> pl.DataFrame:
    days = [dt.date(2025, 6, 2), dt.date(2025, 6, 3), dt.date(2025, 6, 4)]
    bars = {"date": days, "series": "gold", "ticker": "GC=F", "open": [3300.0, 3310.0, 3320.0],
            "high": [3330.0, 3340.0, 3350.0], "low": [3290.0, 3300.0, 3310.0], "close": [3320.0, 3325.0, 3330.0],
            "volume": [1000.0, 1100.0, 1200.0]}
    for column, (i, value) in changes.items():
        bars[column][i] = value
    return pl.DataFrame(bars, schema=RAW_TRADITIONAL_OHLCV.polars_schema)


GOLD_ONLY = Settings(universe={"traditional": [{"series": "gold", "ticker": "GC=F", "calendar": "us_futures"}]})


def gold_report(**changes):
    return run_suite(RAW_TRADITIONAL_OHLCV, gold_bars(**changes), start=dt.date(2025, 6, 2), end=dt.date(2025, 6, 5),
                     settings=GOLD_ONLY)


def test_a_bad_open_on_gold_is_a_warning_not_a_refusal():
    report = gold_report(open=(1, 3500.0))  # open above the high, as in real Yahoo bars
    assert report.passed("error"), report.summary("error")
    assert failed_names(report, "warn") == {"expect_column_pair_values_a_to_be_greater_than_b(high vs open)"}
    assert gold_report(low=(2, -1.0)).passed("error")


def test_a_non_positive_close_on_gold_is_an_error():
    report = gold_report(close=(1, 0.0))
    assert "expect_column_values_to_be_between(close)" in failed_names(report, "error")


def test_a_unit_error_on_the_close_of_gold_stays_an_error():
    report = gold_report(close=(1, 33.25))  # one day quoted in hundreds, reversed the next day
    assert "expect_column_values_to_be_in_set(unit_error)" in failed_names(report, "error")


# ------------------------------------------------------------------------ descriptions and checks
def description(spec, settings, check=GATE):
    return next(c.description for c in quality_check_specs(spec, settings) if c.name == check)


def test_check_descriptions_show_the_settings_in_force():
    assert "abs(rate) per settlement at most 0.03" in description(RAW_FUNDING, SETTINGS)
    tighter = Settings(quality=QualitySettings(max_abs_funding_rate=0.02))
    assert "abs(rate) per settlement at most 0.02" in description(RAW_FUNDING, tighter)
    assert "0.03" not in description(RAW_FUNDING, tighter).split("rate_beyond_history")[0]


def test_quality_reads_any_settings_object_with_the_fields_it_needs():
    """Duck-typed settings, including the funding-history thresholds the settings model may add."""
    quality = SimpleNamespace(max_abs_funding_rate=0.03, unit_error_move=0.5, funding_ceiling_8h=0.005,
                              funding_history_multiple=10.0, funding_history_days=7, funding_history_min_settlements=3)
    settings = SimpleNamespace(quality=quality, universe=SimpleNamespace(underlyings=("BTC",)), venues=("sample_a",),
                               reference_venue="sample_a")
    text = description(RAW_FUNDING, settings)
    assert "at most 0.005 per 8 hours" in text and "within 10x" in text and "over the 7 days before" in text
    assert funding_report([0.006, 0.006, 0.006]).passed("error")  # under the default ceiling of 0.008
    report = funding_report([0.006, 0.006, 0.006], settings=settings)
    assert "expect_column_values_to_be_in_set(rate_beyond_history)" in failed_names(report)


def test_a_watch_check_is_declared_only_where_the_suite_has_warnings(good):
    for spec_name, suite in SUITES.items():
        tiers = {tier_of(e.severity) for frame in suite.expectations(SETTINGS).values() for e in frame}
        checks = [c.name for c in quality_check_specs(suite.spec, SETTINGS)]
        assert checks == ([GATE, WATCH] if "warn" in tiers else [GATE]), spec_name
    assert [c.name for c in quality_check_specs(CORE_BASIS_DAILY, SETTINGS)] == [GATE]
    assert "missing_optional" in description(RAW_FUNDING, SETTINGS, WATCH)
    # The results match the declared checks, and a reported watch check evaluated something.
    funding = check_results(run_suite(RAW_FUNDING, good["funding"]))
    assert [r.check_name for r in funding] == [GATE, WATCH]
    assert funding[1].metadata["expectations_evaluated"].value >= 1
    empty_basis = pl.DataFrame(schema=CORE_BASIS_DAILY.polars_schema)
    assert [r.check_name for r in check_results(run_suite(CORE_BASIS_DAILY, empty_basis))] == [GATE]


def test_failed_results_name_the_expectation_and_the_offending_rows(good):
    bad = good["funding"].with_columns(rate=pl.when(pl.col("funding_ts") == dt.datetime(2025, 3, 5, 8)).then(0.05).otherwise(pl.col("rate")))
    gate = check_results(run_suite(RAW_FUNDING, bad))[0]
    assert not gate.passed
    assert "| expect_column_values_to_be_between(rate) | 4 |" in gate.metadata["failed_expectations"].value
    assert "2025-03-05 08:00:00" in gate.metadata["offending_rows"].value


def test_anomaly_codes_and_kinds_come_from_the_table_spec():
    allowed = {c.name: c.allowed_values for c in MARTS_ANOMALY_DAILY.columns}
    row = {c.name: None for c in MARTS_ANOMALY_DAILY.columns} | {
        "date": dt.date(2025, 1, 1), "code": allowed["code"][0], "kind": "anomaly", "subject": "BTC",
        "calendar": "crypto", "severity": 2.5,
    }
    rows = pl.DataFrame([row], schema=MARTS_ANOMALY_DAILY.polars_schema)
    assert run_suite(MARTS_ANOMALY_DAILY, rows).passed("error")
    unknown = rows.with_columns(code=pl.lit("MADE_UP"), kind=pl.lit("rumour"))
    assert failed_names(run_suite(MARTS_ANOMALY_DAILY, unknown)) == {
        "expect_column_values_to_be_in_set(code)", "expect_column_values_to_be_in_set(kind)"}


def test_quality_imports_no_pipelines_and_no_asset_modules():
    code = ("import sys, quality.gate, quality.checks, quality.suites, quality.derive; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pipelines', 'assets')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['assets', 'assets.raw', 'assets.raw.sources', 'assets.raw.sources.calendars', 'assets.raw.sources.venues']"


# ---------------------------------------------------------------------------------- real Yahoo bars
def yahoo(realdata, name):
    bars = history_to_bars(pl.read_csv(realdata / "yahoo" / name), "gold", "GC=F")
    if "-1h-" in name:  # hourly bars: give each bar its own day so the daily checks see every move
        days = pl.date_range(dt.date(2024, 1, 1), dt.date(2024, 1, 1) + dt.timedelta(days=bars.height - 1), eager=True)
        bars = bars.with_columns(date=days)
    return bars


@pytest.mark.parametrize("name", ["SSW-JO-1d-100x-error.csv", "ASAI-L-1h-bad-unit.csv"])
def test_real_yahoo_unit_errors_fail(realdata, name):
    bars = yahoo(realdata, name)
    report = run_suite(RAW_TRADITIONAL_OHLCV, bars, start=bars["date"].min(), end=bars["date"].max(), settings=GOLD_ONLY)
    assert "expect_column_values_to_be_in_set(unit_error)" in failed_names(report)


@pytest.mark.parametrize("name", ["SSW-JO-1d-100x-error-fixed.csv", "ASAI-L-1h-bad-unit-fixed.csv",
                                  "CALM-1d-no-bad-divs.csv", "EWG-1d-no-bad-divs.csv"])
def test_real_yahoo_repaired_and_clean_histories_pass_the_unit_check(realdata, name):
    bars = yahoo(realdata, name)
    report = run_suite(RAW_TRADITIONAL_OHLCV, bars, start=bars["date"].min(), end=bars["date"].max(), settings=GOLD_ONLY)
    assert "expect_column_values_to_be_in_set(unit_error)" not in failed_names(report)


def test_yahoo_bars_keep_the_exchange_trading_date(realdata):
    bars = yahoo(realdata, "SSW-JO-1d-100x-error.csv")  # Johannesburg, +02:00: midnight local is 22:00 UTC the day before
    assert dt.date(2023, 6, 9) in bars["date"].to_list()
    assert all(d.weekday() < 5 for d in bars["date"].to_list())
