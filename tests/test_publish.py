"""Publishing costs what changed: a new snapshot starts from the previous one and copies only changed days,
stays equal to the pipeline's tables, and a killed publish's leftovers are cleared by the next one."""

import datetime as dt
import importlib.util
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from warehouse.db import Warehouse
from warehouse.schemas import (CORE_BASIS_DAILY, MARTS_ALERT_LOG, MARTS_ANOMALY_STATUS,
                               MARTS_BASIS_TRADE_SUMMARY)
from warehouse.serving import ALL_TABLES, LOCK_NAME, PUBLISH_STATE, VIEWS, publish, published_dir

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("publish_bench", ROOT / "bench" / "publish.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

START, END = dt.date(2025, 1, 1), dt.date(2025, 3, 1)


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    bench.fill(wh, START, START, END, seed=1)
    return wh


def tables_of(path: Path) -> dict[str, pl.DataFrame]:
    """Every table in key order; a table the warehouse never wrote reads as empty (the snapshot holds it empty)."""
    wh = Warehouse(path)
    return {spec.qualified: wh.read_window(spec) for spec in ALL_TABLES}


def assert_snapshot_equals_live(wh: Warehouse, snapshot: Path) -> None:
    live, published = tables_of(wh.path), tables_of(snapshot)
    for name in live:
        assert published[name].equals(live[name]), name


def test_a_daily_publish_copies_only_the_changed_days_and_equals_a_full_one(warehouse, tmp_path):
    first = publish(warehouse.path)
    assert not first.incremental and first.changed["raw.crypto_ohlcv"] == (END - START).days
    bench.fill(warehouse, START, END, END + dt.timedelta(days=1), seed=7)  # one new day everywhere
    # a restated day in the middle of the history, as a backfill leaves it
    restated = CORE_BASIS_DAILY.name
    warehouse.replace_window(CORE_BASIS_DAILY, bench.synthetic(CORE_BASIS_DAILY, [dt.date(2025, 2, 1)], 16, seed=9),
                             dt.date(2025, 2, 1), dt.date(2025, 2, 2), source="test")
    daily = publish(warehouse.path)
    assert daily.incremental
    assert daily.changed["raw.crypto_ohlcv"] == 1 and daily.changed[f"core.{restated}"] == 2
    assert daily.changed["marts.anomaly_status"] == 1  # a whole-history table is copied again as one unit
    assert "marts.anomaly_episodes" not in daily.changed  # rebuilt by the run, but the same rows
    assert_snapshot_equals_live(warehouse, daily.database)
    full = tables_of(publish(warehouse.path, tmp_path / "full", full=True).database)
    assert all(full[name].equals(rows) for name, rows in tables_of(daily.database).items())


def test_an_unchanged_view_keeps_its_parquet_file_and_a_changed_one_is_rewritten(warehouse):
    first = publish(warehouse.path)
    episodes = (first.parquet / "anomaly_episodes.parquet").resolve()
    status = (first.parquet / "anomaly_status.parquet").resolve()
    warehouse.replace_all(MARTS_ANOMALY_STATUS, bench.synthetic(MARTS_ANOMALY_STATUS, [END], 3, seed=3), "test")
    second = publish(warehouse.path)
    assert set(second.changed) == {"marts.anomaly_status"}
    current = second.parquet
    assert os.path.samefile(current / "anomaly_episodes.parquet", episodes)  # linked, not written again
    assert not os.path.samefile(current / "anomaly_status.parquet", status)
    with duckdb.connect(str(second.database), read_only=True) as con:
        for view in VIEWS:
            assert pl.read_parquet(current / f"{view.name}.parquet").equals(
                con.execute(f"SELECT * FROM {view.qualified}").pl()), view.name


def test_nothing_changed_means_nothing_copied(warehouse):
    publish(warehouse.path)
    again = publish(warehouse.path)
    assert again.incremental and again.changed == {}
    assert_snapshot_equals_live(warehouse, again.database)


def test_a_snapshot_of_another_interface_is_rebuilt_from_nothing(warehouse):
    first = publish(warehouse.path)
    with duckdb.connect(str(first.database)) as con:  # as if published by an older version of the views
        con.execute(f"UPDATE {PUBLISH_STATE} SET interface = 'older'")
        con.execute("DELETE FROM raw.funding")
    second = publish(warehouse.path)
    assert not second.incremental
    assert_snapshot_equals_live(warehouse, second.database)


def test_a_table_gone_from_the_warehouse_is_emptied_in_the_snapshot(warehouse):
    publish(warehouse.path)
    with duckdb.connect(str(warehouse.path)) as con:
        con.execute("DROP TABLE raw.traditional_ohlcv")
    second = publish(warehouse.path)
    assert second.changed["raw.traditional_ohlcv"] > 0 and second.rows["raw.traditional_ohlcv"] == 0


HOLDER = """
import fcntl, pathlib, sys
target, ready = map(pathlib.Path, sys.argv[1:])
lock = open(target / ".publish.lock", "a+")
fcntl.flock(lock, fcntl.LOCK_EX)
(target / ".warehouse-20250101T000000000000-inflight.duckdb").write_bytes(b"being written")
ready.touch()
sys.stdin.read()  # holds the lock until the test closes stdin, or until killed
"""


def test_a_killed_publish_leaves_files_the_next_one_removes_but_never_while_it_runs(warehouse, tmp_path):
    target = published_dir(warehouse.path)
    target.mkdir()
    # Left by a publish killed earlier: a temporary copy, its WAL and a half-made Parquet link.
    stale = [target / ".warehouse-20240101T000000000000-dead.duckdb",
             target / ".warehouse-20240101T000000000000-dead.duckdb.wal"]
    for path in stale:
        path.write_bytes(b"left behind")
    (target / "parquet").mkdir()
    (target / "parquet" / ".current-20240101T000000000000-dead").symlink_to("nowhere")
    ready = tmp_path / "ready"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(target), str(ready)], stdin=subprocess.PIPE)
    try:
        while not ready.exists():
            assert holder.poll() is None, "the lock holder died"
            time.sleep(0.02)
        inflight = target / ".warehouse-20250101T000000000000-inflight.duckdb"
        done = threading.Event()
        runner = threading.Thread(target=lambda: (publish(warehouse.path), done.set()))
        runner.start()
        time.sleep(1)  # a publish that ignored the lock would have finished by now
        assert not done.is_set() and inflight.exists() and all(p.exists() for p in stale)
        holder.kill()  # killed mid-publish: the lock goes with it, its temporary file stays
        holder.wait()
        runner.join(timeout=120)
        assert done.is_set()
    finally:
        if holder.poll() is None:
            holder.kill()
    leftovers = sorted(p.name for p in target.iterdir() if p.name.startswith(".warehouse-"))
    assert leftovers == [] and not list((target / "parquet").glob(".current-*"))
    assert (target / LOCK_NAME).exists() and (target / "warehouse.duckdb").exists()


def test_the_publish_benchmark_runs():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "publish.py"), "--years", "0.05", "--repeat", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "first publish" in done.stdout and "0.05 y" in done.stdout


def test_tables_partitioned_by_a_year_or_a_timestamp_publish_and_update_incrementally(warehouse):
    """basis_trade_summary is partitioned by its signal year (an integer), alert_log by a timestamp."""
    summary = bench.synthetic(MARTS_BASIS_TRADE_SUMMARY, [START, START + dt.timedelta(days=1)], 3, seed=3)
    warehouse.replace_all(MARTS_BASIS_TRADE_SUMMARY, summary, source="test")
    warehouse.replace_all(MARTS_ALERT_LOG, bench.synthetic(MARTS_ALERT_LOG, [START], 2, seed=4), source="test")
    first = publish(warehouse.path)
    assert first.changed["marts.basis_trade_summary"] > 0
    assert_snapshot_equals_live(warehouse, first.database)
    warehouse.replace_all(MARTS_BASIS_TRADE_SUMMARY, summary.head(4), source="test")
    second = publish(warehouse.path)
    assert second.incremental and second.changed["marts.basis_trade_summary"] > 0
    assert_snapshot_equals_live(warehouse, second.database)
