"""Real data with its quirks through the live sources on 127.0.0.1, materialised through Dagster into DuckDB:
holes are recorded and the rest lands, a next-day reversal heals the stored spike, and the retry sensor fills
the holes once the stand-ins serve them.

Served: the sample market on the four venues (OKX answering 503 to everything during the backfill), Yahoo with
gold and the Nasdaq from the sample market and SSW.JO as recorded by Yahoo (real 100x unit change, real opens
outside low..high), gold absent on one NYSE session, Bybit's BTC funding stored in percent (x100) for one day and
missing one settlement on another, then a one-day x2 gold spike followed by a correct day.
"""

import datetime as dt

import dagster as dg
import polars as pl
import pytest
import yaml

from fake_venues import Fault, Venues, ms
from fake_yahoo import YahooServer, recorded_series, sample_series
from pipelines.definitions import build_definitions
from pipelines.run import materialize_range
from pipelines.run_holes import run_holes
from pipelines.settings import load_settings
from warehouse.db import Warehouse
from warehouse.ledger import read_ledger
from warehouse.schemas import (
    CORE_RETURNS_DAILY,
    MARTS_ANOMALY_STATUS,
    RAW_CRYPTO_OHLCV,
    RAW_FUNDING,
    RAW_TRADITIONAL_OHLCV,
)

D = dt.date
START, END = D(2023, 5, 15), D(2023, 6, 2)
GOLD_HOLE = D(2023, 5, 24)  # a Wednesday: COMEX and the NYSE traded
MEMORIAL_DAY = D(2023, 5, 29)  # the NYSE closed, CME Globex (gold) traded
SPIKE, NEXT = D(2023, 6, 5), D(2023, 6, 6)
PERP = "BTC/USDT:USDT"
PERCENT_DAY = D(2023, 5, 20)  # Bybit's BTC funding served in percent instead of a fraction
SKIPPED_SETTLEMENT = dt.datetime(2023, 5, 25, 8)  # Bybit never sends it; its schedule declares 8 h
TRADITIONAL = [
    {"series": "gold", "ticker": "GC=F", "calendar": "us_futures", "description": "gold"},
    {"series": "nasdaq", "ticker": "^IXIC", "calendar": "XNYS", "description": "Nasdaq Composite"},
    {"series": "ssw", "ticker": "SSW.JO", "calendar": "XJSE", "description": "Sibanye Stillwater, Johannesburg"},
]
PAIRS = [
    {"name": "btc_perp~btc_quarterly", "series_a": "BTC_PERP", "series_b": "BTC_QUARTERLY", "calendar": "crypto"},
    {"name": "btc~gold", "series_a": "BTC", "series_b": "gold", "calendar": "traditional"},
    {"name": "btc~nasdaq", "series_a": "BTC", "series_b": "NASDAQ", "calendar": "traditional"},
]


def gold_close(yahoo, day):
    return next(r for r in yahoo.series["GC=F"].rows if r[0] == day)[4]


def bybit_funding_quirks(server):
    """Bybit's BTC perpetual: every rate of PERCENT_DAY x100, and SKIPPED_SETTLEMENT absent."""
    served = server.settlements

    def settlements(source, contract, start, end):
        rows = served(source, contract, start, end)
        if contract.symbol != PERP:
            return rows
        day = lambda ts: dt.datetime.fromtimestamp(ts / 1000, dt.timezone.utc).date()  # noqa: E731
        return [(ts, rate * 100 if day(ts) == PERCENT_DAY else rate, hours) for ts, rate, hours in rows
                if ts != ms(SKIPPED_SETTLEMENT)]

    server.settlements = settlements


def set_gold(yahoo, day, factor):
    yahoo.series["GC=F"].rows = [(r[0], r[1] * factor, r[2] * factor, r[3] * factor, r[4] * factor, r[5])
                                 if r[0] == day else r for r in yahoo.series["GC=F"].rows]


@pytest.mark.slow
def test_real_quirks_are_quarantined_named_healed_and_filled(warehouse_path, tmp_path, monkeypatch, realdata):
    venues = Venues(D(2023, 3, 1), D(2023, 6, 30))
    served = sample_series(D(2023, 3, 1), D(2023, 6, 30), {"gold": "GC=F", "nasdaq": "^IXIC"})
    served["SSW.JO"] = recorded_series(realdata / "yahoo" / "SSW-JO-1d-100x-error.csv")
    yahoo = YahooServer(served).start()
    try:
        settings_file = tmp_path / "live.yaml"
        settings_file.write_text(yaml.safe_dump({
            "source": "live", "history_start": "2023-01-01",
            "universe": {"traditional": TRADITIONAL},
            "correlation": {"pairs": PAIRS},
            "live": {"endpoints": {**venues.endpoints, "yahoo": yahoo.url}, "max_retries": 1, "backoff_seconds": 0.01,
                     "venue_budget_seconds": 5},
            "coverage": {"retry_after_minutes": 0, "lookback_days": 10000},  # the replayed days are in 2023
        }))
        monkeypatch.setenv("MARKET_SETTINGS", str(settings_file))
        instance = dg.DagsterInstance.ephemeral()
        wh = Warehouse(warehouse_path)
        correct_gold = gold_close(yahoo, GOLD_HOLE)
        yahoo.series["GC=F"].rows = [r for r in yahoo.series["GC=F"].rows if r[0] != GOLD_HOLE]
        venues["okx"].faults.append(Fault("/", 503, '{"code": "50001", "msg": "service unavailable"}', times=None))
        bybit_funding_quirks(venues["bybit"])

        # 1. Backfill: OKX down, gold absent one session, SSW.JO's real 100x change: the rest lands.
        backfill = materialize_range(START, END, load_settings(), instance=instance)
        assert backfill.success
        bars = wh.read_window(RAW_CRYPTO_OHLCV)
        assert sorted(bars["venue"].unique()) == ["binance", "bybit", "deribit"]
        ledger = read_ledger(wh)
        okx = ledger.filter(pl.col("subject").str.starts_with("okx:"))
        assert set(okx["status"]) == {"outage"} and "GaveUp" in okx["reason"][0]
        gold = ledger.filter(pl.col("subject") == "gold")
        assert gold.select("date", "status").rows() == [(GOLD_HOLE, "missing")]
        ssw = ledger.filter(pl.col("subject") == "ssw")
        assert ssw["status"].to_list() == ["quarantined"] and "unit_error" in ssw["reason"][0]
        traditional = wh.read_window(RAW_TRADITIONAL_OHLCV)
        stored_ssw = traditional.filter(pl.col("series") == "ssw")
        assert stored_ssw.height > 5 and ssw["date"][0] not in stored_ssw["date"].to_list()
        assert stored_ssw.filter(pl.col("open") > pl.col("high")).height > 0  # a bad open is a warning, stored
        assert traditional.filter(pl.col("series") == "nasdaq").height == 14  # every NYSE session of the range
        on_memorial_day = set(traditional.filter(pl.col("date") == MEMORIAL_DAY)["series"])
        assert "gold" in on_memorial_day and "nasdaq" not in on_memorial_day  # each series on its own calendar
        # Bybit's day in percent is quarantined and named; the other venues' funding of that day is stored.
        bybit_btc = f"bybit:{PERP}"
        percent = ledger.filter((pl.col("subject") == bybit_btc) & (pl.col("date") == PERCENT_DAY)).row(0, named=True)
        assert percent["status"] == "quarantined" and "(rate" in percent["reason"]
        funding = wh.read_window(RAW_FUNDING)
        on_percent_day = funding.filter(pl.col("date") == PERCENT_DAY)
        assert {"binance", "bybit", "deribit"} <= set(on_percent_day["venue"])
        assert on_percent_day.filter((pl.col("venue") == "bybit") & (pl.col("symbol") == PERP)).height == 0
        assert on_percent_day.filter(pl.col("venue") == "bybit")["rate"].abs().max() < 0.01
        # The missing settlement is a hole naming its time and the schedule; the day's other two are stored.
        skipped = ledger.filter((pl.col("subject") == bybit_btc) & (pl.col("date") == SKIPPED_SETTLEMENT.date()))
        assert skipped.select("status").rows() == [("missing",)]
        assert "08:00 UTC" in skipped["reason"][0] and "every 8 h" in skipped["reason"][0]
        kept = funding.filter((pl.col("venue") == "bybit") & (pl.col("symbol") == PERP)
                              & (pl.col("date") == SKIPPED_SETTLEMENT.date()))
        assert kept["funding_ts"].dt.hour().to_list() == [0, 16] and kept["interval_hours"].to_list() == [8.0, 8.0]
        message = run_holes(backfill)
        assert f"missing gold on {GOLD_HOLE}" in message and "outage okx:BTC:spot" in message
        status = wh.read_window(MARTS_ANOMALY_STATUS)
        assert status.height == 3

        # 2. Daily runs: a x2 gold close on 5 June is stored (nothing to compare with yet) ...
        venues["okx"].faults.clear()
        set_gold(yahoo, SPIKE, 2.0)
        assert materialize_range(SPIKE, SPIKE, load_settings(), instance=instance).success
        assert wh.read_window(RAW_TRADITIONAL_OHLCV, SPIKE, NEXT).filter(pl.col("series") == "gold").height == 1
        # ... and the correct 6 June reveals it: 5 June is removed and quarantined, 6 June lands.
        assert materialize_range(NEXT, NEXT, load_settings(), instance=instance).success
        gold_rows = wh.read_window(RAW_TRADITIONAL_OHLCV, SPIKE, NEXT + dt.timedelta(days=1)).filter(
            pl.col("series") == "gold")
        assert gold_rows["date"].to_list() == [NEXT]
        healed = read_ledger(wh).filter((pl.col("subject") == "gold") & (pl.col("date") == SPIKE)).row(0, named=True)
        assert healed["status"] == "quarantined" and "next day reversed" in healed["reason"]

        # 3. The stand-ins serve the missing day and the corrected spike: the retry sensor asks for them, and
        # every window that read them is rebuilt.
        set_gold(yahoo, SPIKE, 0.5)
        yahoo.series["GC=F"].rows = sorted([*yahoo.series["GC=F"].rows, (GOLD_HOLE, correct_gold, correct_gold,
                                                                          correct_gold, correct_gold, 1.0)])
        sensor = next(s for s in build_definitions(load_settings()).sensors if s.name == "retry_holes_sensor")
        [request] = sensor(dg.build_sensor_context(instance=instance)).run_requests
        first, last = (D.fromisoformat(request.tags[t]) for t in
                       ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end"))
        assert first == START and last == NEXT  # from the first open hole to the last stored day
        assert materialize_range(first, last, load_settings(), instance=instance).success
        ledger = read_ledger(wh)
        by_key = {(r["subject"], r["date"]): r for r in ledger.iter_rows(named=True)}
        assert by_key[("gold", GOLD_HOLE)]["status"] == "late-arrived"
        assert by_key[("gold", SPIKE)]["status"] == "filled" and by_key[("gold", SPIKE)]["attempts"] == 2
        assert set(ledger.filter(pl.col("subject").str.starts_with("okx:"))["status"]) == {"late-arrived"}
        assert by_key[("ssw", ssw["date"][0])]["status"] == "quarantined"  # Yahoo still serves the 100x bar
        assert by_key[("ssw", ssw["date"][0])]["attempts"] == 2
        # Bybit still serves them as before: asked again, still holes, one more attempt each.
        assert by_key[(bybit_btc, PERCENT_DAY)]["status"] == "quarantined"
        assert by_key[(bybit_btc, SKIPPED_SETTLEMENT.date())]["status"] == "missing"
        assert by_key[(bybit_btc, SKIPPED_SETTLEMENT.date())]["attempts"] == 2
        returns = wh.read_window(CORE_RETURNS_DAILY).filter(
            (pl.col("series") == "gold") & (pl.col("calendar") == "traditional"))
        after_spike = returns.filter(pl.col("date") == NEXT).row(0, named=True)
        assert after_spike["prev_date"] == SPIKE and abs(after_spike["log_return"]) < 0.1
        assert returns.filter(pl.col("date") == GOLD_HOLE).height == 1
    finally:
        venues.stop()
        yahoo.stop()
