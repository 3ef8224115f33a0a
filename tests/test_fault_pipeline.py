"""Faults at the pipeline level, through the CLI and the live stand-ins on 127.0.0.1: answers that are empty,
short or junk over stored days, a second writer, a run killed mid-way, and backfills out of order.

Each case asserts the run's final status, the message in the CLI's last line, and that no stored row
disappeared (every table's full contents before and after). At the end the module prints the figures:
faults injected, survived (refused with the stored data intact, or recovered), rows lost.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from yfinance.data import YfData

from conftest import print_figures
from fake_venues import Fault, Venues
from fake_yahoo import YahooServer, sample_series
from pipelines import cli
from pipelines.home import project_instance
from pipelines.settings import Settings
from warehouse.db import Warehouse
from warehouse.schemas import CORE_CORRELATION_DAILY, CORE_TABLES, MARTS_TABLES, RAW_CRYPTO_OHLCV, RAW_TABLES

ROOT = Path(__file__).resolve().parents[1]
WINDOW = ("2025-04-01", "2025-04-03")
OUTCOMES = {"injected": 0, "survived": 0, "rows_lost": 0}


def figures_line() -> str:
    """The figures of the cases run so far (for the README's Reliability section)."""
    return (f"pipeline faults: {OUTCOMES['injected']} faults injected, {OUTCOMES['survived']} survived, "
            f"{OUTCOMES['rows_lost']} stored rows lost")


@pytest.fixture(scope="module", autouse=True)
def figures(request):
    yield
    if OUTCOMES["injected"]:
        print_figures(request, figures_line())
    assert OUTCOMES["rows_lost"] == 0


def tables(path: Path) -> dict[str, pl.DataFrame]:
    """Every table's full contents, in key order."""
    warehouse = Warehouse(path)
    return {spec.qualified: warehouse.read_window(spec) for spec in (*RAW_TABLES, *CORE_TABLES, *MARTS_TABLES)
            if spec.name != "alert_log"}  # the alert log records when each attempt was made


def rows_lost(before: dict[str, pl.DataFrame], after: dict[str, pl.DataFrame]) -> int:
    """Stored rows of `before` that are not in `after`, identical in every column."""
    return sum(frame.join(after[name], on=frame.columns, how="anti", nulls_equal=True).height
               for name, frame in before.items() if frame.height)


def run_cli(capsys, *args: str) -> tuple[int, list[str]]:
    # yfinance keeps past ranges' answers in memory for the process: each CLI run is a fresh process.
    YfData().cache_get.cache_clear()
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).strip().splitlines()


def survived(before: dict, path: Path, code: int, lines: list[str], expected: str) -> None:
    """The case's outcome: the run failed, its last line says why, and nothing stored was lost."""
    OUTCOMES["injected"] += 1
    lost = rows_lost(before, tables(path))
    OUTCOMES["rows_lost"] += lost
    assert code == 1, lines[-5:]
    assert lines[-1].startswith("FAILED") and expected in lines[-1], lines[-1]
    assert lost == 0
    OUTCOMES["survived"] += 1


# ------------------------------------------------------------------------------------- live stand-ins
@pytest.fixture(scope="module")
def servers():
    venues = Venues(dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    yahoo = YahooServer(sample_series(dt.date(2025, 1, 1), dt.date(2025, 6, 30), Settings().traditional_series())).start()
    yield venues, yahoo
    venues.stop()
    yahoo.stop()


@pytest.fixture
def live(servers, warehouse_path, tmp_path, monkeypatch, capsys):
    """The window stored once from clean stand-ins; faults cleared afterwards."""
    venues, yahoo = servers
    settings_file = tmp_path / "live.yaml"
    settings_file.write_text(yaml.safe_dump({
        "source": "live", "live": {"endpoints": {**venues.endpoints, "yahoo": yahoo.url}, "max_retries": 1,
                                   "backoff_seconds": 0.01, "venue_budget_seconds": 5}}))
    monkeypatch.setenv("MARKET_SETTINGS", str(settings_file))
    code, lines = run_cli(capsys, "materialize", "--start", WINDOW[0], "--end", WINDOW[1])
    assert code == 0, lines[-5:]
    yield venues, yahoo
    for server in (*venues.servers.values(), yahoo):
        server.faults.clear()
    for server in venues.servers.values():
        server.empty_days.clear()
    yahoo.missing_days.clear()


SHORT_DAY = dt.date(2025, 4, 2)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["okx candles short a day", "bybit funding empty", "yahoo short a session",
                                  "reference venue empty day", "yahoo junk 200"])
def test_a_bad_answer_over_stored_days_fails_the_run_and_loses_nothing(case, live, warehouse_path, capsys):
    venues, yahoo = live
    before = tables(warehouse_path)
    if case == "okx candles short a day":
        venues["okx"].empty_days.add(SHORT_DAY)
        expected = "raw.crypto_ohlcv: the answer of"
    elif case == "bybit funding empty":
        venues["bybit"].faults.append(Fault("/v5/market/funding/history", 200, times=None, body=(
            '{"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": []}, "retExtInfo": {}, "time": 0}')))
        expected = "raw.funding: the answer of"
    elif case == "yahoo short a session":
        yahoo.missing_days.add(SHORT_DAY)
        expected = "raw.traditional_ohlcv"
    elif case == "reference venue empty day":
        venues["binance"].empty_days.add(SHORT_DAY)
        expected = "raw.crypto_ohlcv"
    else:
        yahoo.faults.append(Fault("/v8/finance/chart/", 200, "<html>try again</html>", times=None, query="period1",
                                  content_type="text/html"))
        expected = "raw.traditional_ohlcv: the answer of yahoo"
    code, lines = run_cli(capsys, "materialize", "--start", WINDOW[0], "--end", WINDOW[1])
    survived(before, warehouse_path, code, lines, expected)


@pytest.mark.slow
def test_a_short_answer_names_venue_symbol_and_days_and_the_option_that_allows_it(live, warehouse_path, capsys):
    venues, _ = live
    venues["okx"].empty_days.add(SHORT_DAY)
    before = tables(warehouse_path)
    code, lines = run_cli(capsys, "materialize", "--start", WINDOW[0], "--end", WINDOW[1])
    survived(before, warehouse_path, code, lines, "okx BTC/USDT last on 2025-04-02")
    assert "Nothing was written; the stored rows are unchanged" in lines[-1] and "--allow-shrink" in lines[-1]
    # Asked for explicitly, the smaller answer replaces the stored rows.
    code, lines = run_cli(capsys, "materialize", "--start", WINDOW[0], "--end", WINDOW[1], "--allow-shrink")
    assert code == 0, lines[-5:]
    bars = Warehouse(warehouse_path).read_window(RAW_CRYPTO_OHLCV)
    assert bars.filter((pl.col("venue") == "okx") & (pl.col("date") == SHORT_DAY)).height == 0
    assert bars.filter((pl.col("venue") == "okx") & (pl.col("date") != SHORT_DAY)).height > 0


# ------------------------------------------------------------------------------------ writers and kills
@pytest.mark.slow
def test_a_run_killed_mid_way_then_rerun_equals_an_uninterrupted_run(tmp_path, warehouse_path, monkeypatch, capsys):
    home = tmp_path / "dagster"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    start, end = "2025-03-20", "2025-03-26"
    child = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "materialize", "--start", start, "--end", end],
                             cwd=ROOT, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    instance = project_instance()
    deadline = time.monotonic() + 120
    while True:  # kill it once a few steps have written
        runs = instance.get_runs()
        done = len(instance.get_records_for_run(runs[0].run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records) \
            if runs else 0
        if done >= 3:
            break
        assert child.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    OUTCOMES["injected"] += 1
    killed = instance.get_runs()[0]
    assert killed.status == dg.DagsterRunStatus.STARTED  # what Dagster alone would leave forever

    code, lines = run_cli(capsys, "materialize", "--start", start, "--end", end)
    assert code == 0, lines[-5:]
    assert lines[0].startswith(f"found run {killed.run_id[:8]} (pid {child.pid}, started 20")
    assert lines[0].endswith("still marked STARTED although its process is gone: marked it failed.")
    assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE

    reference = tmp_path / "uninterrupted.duckdb"
    monkeypatch.setenv("WAREHOUSE_DB", str(reference))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "reference-dagster"))
    assert run_cli(capsys, "materialize", "--start", start, "--end", end)[0] == 0
    rerun, uninterrupted = tables(warehouse_path), tables(reference)
    OUTCOMES["rows_lost"] += rows_lost(uninterrupted, rerun)
    for name, frame in uninterrupted.items():
        assert rerun[name].equals(frame), name
    OUTCOMES["survived"] += 1


@pytest.mark.slow
def test_a_backfill_before_stored_days_rebuilds_them_like_an_in_order_build(tmp_path, warehouse_path, monkeypatch,
                                                                             capsys):
    settings_file = tmp_path / "short.yaml"
    settings_file.write_text(yaml.safe_dump({"correlation": {"short_window": 5, "baseline_window": 10}}))
    monkeypatch.setenv("MARKET_SETTINGS", str(settings_file))
    assert run_cli(capsys, "materialize", "--start", "2024-10-10", "--end", "2024-10-20")[0] == 0
    first_day = Warehouse(warehouse_path).read_window(CORE_CORRELATION_DAILY).filter(
        (pl.col("pair") == "eth~btc") & (pl.col("date") == dt.date(2024, 10, 10)))
    assert first_day["corr_short"].is_null().all()  # no history before the first stored day

    code, lines = run_cli(capsys, "materialize", "--start", "2024-10-01", "--end", "2024-10-09")
    assert code == 0, lines[-5:]
    assert any(line.startswith("Rebuilding the stored core and mart days 2024-10-10 to 2024-10-20") for line in lines)

    in_order = tmp_path / "in_order.duckdb"
    monkeypatch.setenv("WAREHOUSE_DB", str(in_order))
    assert run_cli(capsys, "materialize", "--start", "2024-10-01", "--end", "2024-10-20")[0] == 0
    backfilled, expected = tables(warehouse_path), tables(in_order)
    for name, frame in expected.items():
        assert backfilled[name].equals(frame), name
    short = expected[CORE_CORRELATION_DAILY.qualified].filter(
        (pl.col("pair") == "eth~btc") & (pl.col("date") == dt.date(2024, 10, 10)))["corr_short"]
    assert short.is_not_null().all()
