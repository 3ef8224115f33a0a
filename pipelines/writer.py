"""One writer at a time: the CLI's exclusive lock on the pipeline's warehouse, what a run finds left over by a
run that was killed, and the one sentence that says why a run could not write.

The lock is an `fcntl.flock` on a file beside the warehouse (`warehouse.duckdb.lock`). The kernel releases it
when the holding process ends, however it ends (a SIGKILL included), so a lock is never left stale; the file
itself stays and names the last holder (pid, command, since when) for the message a second run prints.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg

PID_TAG = "market/pid"
# DuckDB's message when another process holds the file: "Could not set lock on file ...: Conflicting lock is
# held in /usr/bin/python3 (PID 1234) by user x."
_DUCKDB_LOCK = re.compile(r"Could not set lock on file \"?(?P<file>[^\"]+?)\"?:.*?held in (?P<program>\S+) "
                          r"\(PID (?P<pid>\d+)\)", re.S)


class WarehouseBusy(RuntimeError):
    """Another process writes the warehouse; the message names it."""


def lock_path(warehouse_path: str | os.PathLike) -> Path:
    path = Path(warehouse_path)
    return path.with_name(path.name + ".lock")


@contextmanager
def writer_lock(warehouse_path: str | os.PathLike, wait_seconds: float = 0.0,
                command: str | None = None) -> Iterator[Path]:
    """Hold the exclusive writer lock of the warehouse for the block; wait up to `wait_seconds` for another
    holder, then raise WarehouseBusy naming it."""
    path = lock_path(warehouse_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    waited = f" after waiting {wait_seconds:g} s" if wait_seconds else ""
                    raise WarehouseBusy(f"{warehouse_path} is being written by {describe_holder(path)}{waited}; "
                                        "nothing was run. Wait for it to finish, or set integrity.lock_wait_seconds "
                                        "to wait for it.") from None
                time.sleep(min(0.5, max(deadline - time.monotonic(), 0.01)))
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "command": command or " ".join(sys.argv),
                                 "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}))
        handle.flush()
        yield path
    finally:
        handle.close()  # releases the lock


def describe_holder(path: Path) -> str:
    """'pid 123 (python -m pipelines.cli materialize ...) since 2025-01-01T00:00:00+00:00', from the lock file."""
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} ({holder.get('command')}) since {holder.get('since')}"


def duckdb_lock_message(error: BaseException | str) -> str | None:
    """One sentence for DuckDB's 'Could not set lock on file' error (another process holds the file), else None."""
    match = _DUCKDB_LOCK.search(str(error))
    if match is None:
        return None
    return (f"the warehouse {match['file']} is open for writing in another process (pid {match['pid']}, "
            f"{match['program']}); nothing more was written. Run again when it has finished.")


def mark_abandoned_runs(instance: dg.DagsterInstance, job_name: str) -> list[str]:
    """Runs of `job_name` still STARTED (or STARTING) whose process is gone: marked failed through the
    instance, one line each for the CLI to print. A run that never recorded its process (killed before its
    resources were set up) is left to Dagster's run monitoring."""
    found = []
    runs = instance.get_runs(dg.RunsFilter(job_name=job_name,
                                           statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]))
    for run in runs:
        pid = run.tags.get(PID_TAG)
        if pid is None or _alive(int(pid)):
            continue
        record = instance.get_run_record_by_id(run.run_id)
        started = record.start_time if record else None
        since = dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(timespec="seconds") if started else "?"
        instance.report_run_failed(run, message=f"Marked failed by a later run: its process (pid {pid}) is gone.")
        found.append(f"found run {run.run_id[:8]} (pid {pid}, started {since}) still marked STARTED although its "
                     "process is gone: marked it failed.")
    return found


def record_run_process(instance: dg.DagsterInstance | None, run_id: str | None) -> None:
    """Tag the run with the process that executes it (a CLI run, or the UI's run worker), so a later run can
    tell a run left STARTED by a killed process from one still going."""
    if instance is not None and run_id is not None:
        instance.add_run_tags(run_id, {PID_TAG: str(os.getpid())})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
