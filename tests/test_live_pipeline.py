"""The whole pipeline on `source: live`, with local servers standing in for the four venues and Yahoo."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest
import yaml

from fake_venues import Fault, Venues
from fake_yahoo import YahooServer, sample_series
from pipelines.run import materialize_range
from pipelines.run_holes import run_holes
from pipelines.settings import load_settings
from pipelines.settings import Settings
from warehouse.db import Warehouse
from warehouse.ledger import read_ledger
from warehouse.schemas import CORE_CORRELATION_DAILY, MARTS_ANOMALY_STATUS, RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_TRADITIONAL_OHLCV

START, END = dt.date(2025, 3, 20), dt.date(2025, 4, 4)  # the March quarterlies deliver on 28 March


@pytest.fixture(scope="module")
def servers():
    venues = Venues(dt.date(2024, 10, 1), dt.date(2025, 6, 30))
    yahoo = YahooServer(sample_series(dt.date(2024, 10, 1), dt.date(2025, 6, 30), Settings().traditional_series())).start()
    yield venues, yahoo
    venues.stop()
    yahoo.stop()


@pytest.fixture
def live(servers, warehouse_path, tmp_path, monkeypatch):
    venues, yahoo = servers
    settings_file = tmp_path / "live.yaml"
    settings_file.write_text(yaml.safe_dump({
        "source": "live",
        "live": {"endpoints": {**venues.endpoints, "yahoo": yahoo.url}, "max_retries": 2, "backoff_seconds": 0.01},
    }))
    monkeypatch.setenv("MARKET_SETTINGS", str(settings_file))
    for server in venues.servers.values():
        server.faults.clear()
    venues.reset_counts()
    return venues, yahoo


@pytest.mark.slow
def test_the_whole_pipeline_materialises_from_the_live_sources(live, warehouse_path):
    venues, _ = live
    result = materialize_range(START, END, load_settings(), instance=dg.DagsterInstance.ephemeral())
    assert result.success
    wh = Warehouse(warehouse_path)
    bars = wh.read_window(RAW_CRYPTO_OHLCV)
    assert sorted(bars["venue"].unique()) == ["binance", "bybit", "deribit", "okx"]
    march = bars.filter(pl.col("symbol") == "BTC/USD:BTC-250328")
    assert march["date"].max() == dt.date(2025, 3, 28)  # delivered inside the range, kept up to its expiry
    funding = wh.read_window(RAW_FUNDING)
    assert funding.filter(pl.col("venue") == "deribit")["interval_hours"].unique().to_list() == [1.0]
    traditional = wh.read_window(RAW_TRADITIONAL_OHLCV)
    assert sorted(traditional["series"].unique()) == sorted(Settings().traditional_series())
    assert dt.date(2025, 3, 22) not in traditional["date"].to_list()  # a Saturday
    correlations = wh.read_window(CORE_CORRELATION_DAILY)
    assert correlations.height > 0 and set(correlations["pair"]) >= {"btc~gold", "btc~nasdaq"}
    status = wh.read_window(MARTS_ANOMALY_STATUS)
    assert status.height == 3 and status["as_of"].unique().to_list() == [END]
    counts = venues.request_counts()
    assert all(counts[v] > 0 for v in ("binance", "bybit", "okx", "deribit"))
    # One exchange instance per venue per run: Binance's three market lists are loaded once, not per asset.
    assert venues["binance"].count("/exchangeInfo") == 3


@pytest.mark.slow
def test_a_venue_failing_for_good_is_an_outage_hole_and_the_other_venues_land(live, warehouse_path):
    venues, _ = live
    instance = dg.DagsterInstance.ephemeral()
    window = (dt.date(2025, 4, 1), dt.date(2025, 4, 4))
    venues["okx"].faults.append(Fault("/api/v5/market/candles", 500, "<html>500</html>", times=None))
    result = materialize_range(*window, load_settings(), instance=instance)
    assert result.success
    wh = Warehouse(warehouse_path)
    assert sorted(wh.read_window(RAW_CRYPTO_OHLCV)["venue"].unique()) == ["binance", "bybit", "deribit"]
    ledger = read_ledger(wh).filter(pl.col("subject").str.starts_with("okx:") & (pl.col("table") == "raw.crypto_ohlcv"))
    assert set(ledger["status"]) == {"outage"}
    assert "live okx: fetch_ohlcv BTC/USD:BTC for 2025-04-01..2025-04-04 failed after 3 attempts" in ledger["reason"][0]
    assert "outage okx:BTC:spot on 2025-04-01" in run_holes(result)
