"""One writer at a time: the CLI's lock names its holder and dies with it, DuckDB's lock error is one sentence,
a run left STARTED by a killed process is marked failed, the project's instance queues runs one at a time, and a
run's later stored days are found from the declared look-backs."""

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines import cli
from pipelines.definitions import build_definitions
from pipelines.home import prepare_dagster_home
from pipelines.settings import Settings
from pipelines.stale import lookback_reach
from pipelines.writer import PID_TAG, WarehouseBusy, duckdb_lock_message, lock_path, mark_abandoned_runs, writer_lock

ROOT = Path(__file__).resolve().parents[1]


def hold(code: str, ready: Path) -> subprocess.Popen:
    """A child process that runs `code` and then touches `ready` and sleeps until killed."""
    script = textwrap.dedent(code) + f"\nopen({str(ready)!r}, 'w').close()\nimport time; time.sleep(120)\n"
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the holding process did not start"
        time.sleep(0.05)
    return child


def test_a_second_writer_stops_at_once_naming_the_holder_and_the_lock_dies_with_it(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    holder = hold(f"""
        from pipelines.writer import writer_lock
        lock = writer_lock({str(warehouse)!r}, command="materialize --start 2025-01-01")
        lock.__enter__()""", tmp_path / "ready")
    try:
        with pytest.raises(WarehouseBusy) as refused:
            with writer_lock(warehouse):
                pass
        message = str(refused.value)
        assert f"is being written by pid {holder.pid} (materialize --start 2025-01-01) since 20" in message
        assert "nothing was run" in message and "integrity.lock_wait_seconds" in message
        began = time.monotonic()
        with pytest.raises(WarehouseBusy, match="after waiting 0.3 s"):
            with writer_lock(warehouse, wait_seconds=0.3):
                pass
        assert time.monotonic() - began >= 0.3
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with writer_lock(warehouse) as path:  # the kernel released the killed holder's lock
        assert path == lock_path(warehouse) and f'"pid": {os.getpid()}' in path.read_text()


def test_the_cli_refuses_a_second_run_in_one_sentence(tmp_path, warehouse_path, capsys):
    holder = hold(f"""
        from pipelines.writer import writer_lock
        lock = writer_lock({str(warehouse_path)!r}, command="demo")
        lock.__enter__()""", tmp_path / "ready")
    try:
        assert cli.main(["materialize", "--start", "2025-03-01", "--end", "2025-03-02"]) == 3
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and f"pid {holder.pid} (demo)" in err[0]
    assert not warehouse_path.exists()  # nothing was run


def test_duckdb_held_by_another_process_is_one_sentence(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    holder = hold(f"""
        import duckdb
        con = duckdb.connect({str(database)!r})""", tmp_path / "ready")
    try:
        with pytest.raises(duckdb.IOException) as held:
            duckdb.connect(str(database))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    message = duckdb_lock_message(held.value)
    assert message == (f"the warehouse {database} is open for writing in another process (pid {holder.pid}, "
                       f"{message.split(', ')[1].split(')')[0]}); nothing more was written. Run again when it has "
                       "finished.")
    assert duckdb_lock_message("Binder Error: something else") is None


def test_a_run_left_started_by_a_killed_process_is_marked_failed():
    instance = dg.DagsterInstance.ephemeral()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    abandoned = instance.add_run(dg.DagsterRun(job_name="daily_market_job", run_id="a" * 36,
                                               status=dg.DagsterRunStatus.STARTED, tags={PID_TAG: str(dead.pid)}))
    running = instance.add_run(dg.DagsterRun(job_name="daily_market_job", run_id="b" * 36,
                                             status=dg.DagsterRunStatus.STARTED, tags={PID_TAG: str(os.getpid())}))
    found = mark_abandoned_runs(instance, "daily_market_job")
    assert len(found) == 1 and found[0].startswith(f"found run aaaaaaaa (pid {dead.pid}, started")
    assert "marked it failed" in found[0]
    assert instance.get_run_by_id(abandoned.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(running.run_id).status == dg.DagsterRunStatus.STARTED


def test_the_daemon_marks_a_killed_ui_run_failed_so_the_queue_moves_on():
    """A backfill from the UI (the implicit asset job) killed mid-way: the sensor finds it without any CLI run."""
    instance = dg.DagsterInstance.ephemeral()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id="c" * 36,
                                            status=dg.DagsterRunStatus.STARTED, tags={PID_TAG: str(dead.pid)}))
    sensor = build_definitions(Settings()).resolve_sensor_def("abandoned_runs_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    skipped = sensor(dg.build_sensor_context(instance=instance))
    assert f"found run cccccccc (pid {dead.pid}" in skipped.skip_message
    assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
    assert sensor(dg.build_sensor_context(instance=instance)).skip_message == "no abandoned run"
    assert mark_abandoned_runs(instance, "daily_market_job") == []


def test_the_project_instance_runs_one_run_at_a_time_with_run_monitoring(tmp_path):
    home = prepare_dagster_home(tmp_path / "dagster")  # what `make ui` and the CLI use
    instance = dg.DagsterInstance.from_config(str(home))
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
    assert instance.run_monitoring_enabled


def test_later_days_are_stale_as_far_as_the_declared_look_backs_reach():
    settings = Settings()
    reach = {k.to_user_string(): v for k, v in lookback_reach(build_definitions(settings).resolve_asset_graph()).items()}
    assert reach["core/basis_daily"] == 0  # reads the same day only
    # correlations read returns over their baseline window, returns read a few days of raw before theirs
    assert reach["core/correlation_daily"] > reach["core/returns_daily"] > 0
    assert reach["marts/anomaly_daily"] >= reach["core/correlation_daily"]
    assert "raw/crypto_ohlcv" not in reach and "marts/anomaly_status" not in reach


def test_a_warehouse_held_by_another_program_fails_the_run_with_one_sentence_last(tmp_path, warehouse_path, capsys):
    holder = hold(f"""
        import duckdb
        con = duckdb.connect({str(warehouse_path)!r})""", tmp_path / "ready")
    try:
        assert cli.main(["materialize", "--start", "2025-03-01", "--end", "2025-03-02"]) == 1
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    out = capsys.readouterr()
    last = out.out.strip().splitlines()[-1]
    assert last.startswith("FAILED (1 step(s)): raw__") and last.endswith(
        f"the warehouse {warehouse_path} is open for writing in another process (pid {holder.pid}, "
        f"{last.split(f'pid {holder.pid}, ')[1].split(')')[0]}); nothing more was written. Run again when it has "
        "finished.")
    assert "Traceback" not in out.out + out.err
