"""Daily funding on real venue histories (../shared/realdata/funding), against independent computations."""

import csv
import datetime as dt
from collections import defaultdict

import polars as pl
import pytest

from assets.core.funding import funding_daily
from assets.raw.sources.exchanges import ExchangeSource
from assets.raw.sources.funding_history import normalize_settlements
from fake_venues import VenueServer, sample_book


@pytest.fixture(scope="module")
def deribit():
    # The sample market lists BTC-PERPETUAL from April 2019, before the first recorded row.
    server = VenueServer("deribit", sample_book(dt.date(2019, 4, 1), dt.date(2019, 4, 30)), dt.date(2021, 3, 1)).start()
    yield server
    server.stop()


def test_deribit_hourly_rows_do_not_overstate_daily_funding(realdata, deribit):
    """Real Deribit rows served as Deribit sends them, read by the live source as a run reads them."""
    path = realdata / "funding/deribit/BTC-PERPETUAL-funding-history.csv"
    # Independent: plain csv, sum interest_1h per UTC day; the naive (wrong) sum of interest_8h beside it.
    right, naive = defaultdict(float), defaultdict(float)
    with path.open() as handle:
        reader = csv.reader(handle)
        header = next(reader)
        ts_col, h1_col, h8_col = header.index("timestamp"), header.index("interest_1h"), header.index("interest_8h")
        for row in reader:
            day = dt.datetime.fromtimestamp(int(row[ts_col]) / 1000, dt.timezone.utc).date()
            right[day] += float(row[h1_col])
            naive[day] += float(row[h8_col])
    records = pl.read_csv(path, columns=["timestamp", "interest_1h", "interest_8h", "index_price", "prev_index_price"])
    deribit.funding_records["BTC-PERPETUAL"] = records.sort("timestamp").to_dicts()
    first, last = min(right), max(right)
    live = ExchangeSource(("deribit",), ("BTC",), endpoints={"deribit": deribit.url}, sleep=lambda s: None)
    settlements = live.funding(first + dt.timedelta(days=1), last).filter(pl.col("symbol") == "BTC/USD:BTC")
    assert settlements["interval_hours"].unique().to_list() == [1.0]
    daily = funding_daily(settlements)
    full_days = daily.filter(pl.col("settlements") == 24)
    assert full_days.height > 500
    for row in full_days.sample(200, seed=1).iter_rows(named=True):
        assert row["daily_rate"] == pytest.approx(right[row["date"]], abs=1e-12)
        assert row["apr"] == pytest.approx(right[row["date"]] * 365, abs=1e-12)
    # Summing the 8h rate of every hourly row would overstate funding about eightfold.
    ratios = [naive[d] / right[d] for d in full_days["date"].to_list() if abs(right[d]) > 1e-5]
    median = sorted(ratios)[len(ratios) // 2]
    assert 6 < median < 10


LOCAL_UTC_OFFSET = 3  # the multi-venue files are in local time, UTC+3


@pytest.mark.parametrize(
    "file, venue, expected_interval",
    [
        ("BTC-USDT_bybit_2021-01-01_2024-01-01_funding_history.csv", "bybit", 8.0),
        ("ETH-USDT_kucoin_2021-01-01_2024-01-01_funding_history.csv", "kucoin", 8.0),
        ("BTC-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv", "dydx", 1.0),
    ],
)
def test_multi_venue_daily_sums_and_aprs(realdata, file, venue, expected_interval):
    path = realdata / "funding/multi-venue" / file
    raw = pl.read_csv(path, schema_overrides={"Funding Rate": pl.Float64})
    frame = raw.select(
        funding_ts=pl.col("Date").str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=True), rate=pl.col("Funding Rate")
    )
    settlements = normalize_settlements(frame, venue, "BTC/USDT:USDT", utc_offset_hours=LOCAL_UTC_OFFSET)
    # Jitter is gone and timestamps are on whole hours of UTC.
    assert (settlements["funding_ts"].dt.minute() == 0).all() and (settlements["funding_ts"].dt.second() == 0).all()
    assert settlements["interval_hours"].mode().to_list() == [expected_interval]
    daily = funding_daily(settlements)

    # Independent computation: parse, shift to UTC, bucket by UTC day.
    sums, counts = defaultdict(float), defaultdict(int)
    with path.open() as handle:
        for row in csv.DictReader(handle):
            local = dt.datetime.fromisoformat(row["Date"])
            utc = local - dt.timedelta(hours=LOCAL_UTC_OFFSET)
            utc = (utc + dt.timedelta(seconds=30)).replace(second=0, microsecond=0)
            sums[utc.date()] += float(row["Funding Rate"])
            counts[utc.date()] += 1
    per_day = round(24 / expected_interval)
    complete = daily.filter((pl.col("settlements") == per_day) & (pl.col("hours_covered") == 24))
    assert complete.height > 300
    for row in complete.iter_rows(named=True):
        assert row["daily_rate"] == pytest.approx(sums[row["date"]], abs=1e-12)
        mean_rate = sums[row["date"]] / counts[row["date"]]
        assert row["apr"] == pytest.approx(mean_rate * (24 / expected_interval) * 365, rel=1e-9)
