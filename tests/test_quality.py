"""Each expectation suite passes on good data and fails on a corrupted copy; the gate blocks a run."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from assets.raw.sources.sample import SampleMarket
from assets.raw.sources.yahoo import history_to_bars
from pipelines.settings import Settings
from quality.gate import prepare, validate
from warehouse.schemas import (
    CORE_CORRELATION_DAILY,
    RAW_CRYPTO_OHLCV,
    RAW_FUNDING,
    RAW_INSTRUMENTS,
    RAW_TRADITIONAL_OHLCV,
)

START, END = dt.date(2025, 3, 3), dt.date(2025, 3, 17)  # two weeks: weekends, all venues
SETTINGS = Settings()


def run_suite(spec, rows, history=None, start=START, end=END, settings=SETTINGS):
    return validate(spec, prepare(spec, rows, history, settings, start, end), settings)


def failed_names(report, tier="error"):
    return {f.rule.name for f in report.failed(tier)}


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
    failure = next(f for f in report.failures if f.rule.name == "expect_column_values_to_be_between(low)")
    assert failure.unexpected == 1
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
    assert "expect_column_values_to_be_in_set(missing_required)" in failed_names(run_suite(RAW_TRADITIONAL_OHLCV, bad))


def test_traditional_row_on_a_sunday_fails(good):
    sunday = good["traditional"].filter(pl.col("date") == dt.date(2025, 3, 7)).with_columns(date=pl.lit(dt.date(2025, 3, 9)))
    report = run_suite(RAW_TRADITIONAL_OHLCV, pl.concat([good["traditional"], sunday]))
    assert "expect_column_values_to_be_in_set(is_trading_day)" in failed_names(report)


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


def yahoo(realdata, name):
    bars = history_to_bars(pl.read_csv(realdata / "yahoo" / name), "gold", "GC=F")
    if "-1h-" in name:  # hourly bars: give each bar its own day so the daily checks see every move
        days = pl.date_range(dt.date(2024, 1, 1), dt.date(2024, 1, 1) + dt.timedelta(days=bars.height - 1), eager=True)
        bars = bars.with_columns(date=days)
    return bars


@pytest.mark.parametrize("name", ["SSW-JO-1d-100x-error.csv", "ASAI-L-1h-bad-unit.csv"])
def test_real_yahoo_unit_errors_fail(realdata, name):
    bars = yahoo(realdata, name)
    report = run_suite(RAW_TRADITIONAL_OHLCV, bars, start=bars["date"].min(), end=bars["date"].max(),
                       settings=Settings(universe={"traditional": [{"series": "gold", "ticker": "GC=F"}]}))
    assert "expect_column_values_to_be_in_set(unit_error)" in failed_names(report)


@pytest.mark.parametrize("name", ["SSW-JO-1d-100x-error-fixed.csv", "ASAI-L-1h-bad-unit-fixed.csv",
                                  "CALM-1d-no-bad-divs.csv", "EWG-1d-no-bad-divs.csv"])
def test_real_yahoo_repaired_and_clean_histories_pass_the_unit_check(realdata, name):
    bars = yahoo(realdata, name)
    flagged = prepare(RAW_TRADITIONAL_OHLCV, bars, None, SETTINGS, bars["date"].min(), bars["date"].max())["rows"]
    assert not flagged["unit_error"].any()


def test_yahoo_bars_keep_the_exchange_trading_date(realdata):
    bars = yahoo(realdata, "SSW-JO-1d-100x-error.csv")  # Johannesburg, +02:00: midnight local is 22:00 UTC the day before
    assert dt.date(2023, 6, 9) in bars["date"].to_list()
    assert all(d.weekday() < 5 for d in bars["date"].to_list())
