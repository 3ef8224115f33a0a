"""The project's Dagster home: where every run is recorded, so that the UI (`make ui`) shows CLI runs too."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

# `make demo`, `make ui` and the CLI share this folder unless DAGSTER_HOME names another.
PROJECT_DAGSTER_HOME = Path(__file__).resolve().parents[1] / ".dagster"

# One SQLite file for the whole event log, instead of Dagster's default of one file per run plus an index that
# repeats every asset event: half the bytes per run, and one file to vacuum. One run at a time: the daemon of
# `make ui` queues the schedule's runs and backfills instead of letting two write the DuckDB file at once.
# Run monitoring fails a run stuck starting; a run whose process was killed is marked failed by the next CLI run.
WRITTEN_HERE = "# Written by pipelines/home.py (rewritten when the project's settings change); remove this line to keep your own."
DAGSTER_YAML = WRITTEN_HERE + """
telemetry:
  enabled: false
event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {history}
concurrency:
  runs:
    max_concurrent_runs: 1
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  poll_interval_seconds: 30
"""


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or PROJECT_DAGSTER_HOME)


def prepare_dagster_home(home: Path) -> Path:
    """Create the home with the project's instance settings (telemetry off, one run at a time, the UI's first-visit
    pop-up marked as seen). A dagster.yaml written here earlier is brought up to date; one of the user's own is
    left as it is."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = DAGSTER_YAML.format(history=home.resolve() / "history")
    if not config.exists() or (config.read_text().startswith(WRITTEN_HERE) and config.read_text() != wanted):
        config.write_text(wanted)
    nux = home / ".nux" / "nux.yaml"
    if not nux.exists():
        nux.parent.mkdir(exist_ok=True)
        nux.write_text("seen: 1\n")
    return home


def project_instance() -> dg.DagsterInstance:
    """The persistent instance of $DAGSTER_HOME, or of the project's `.dagster/` when it is not set."""
    return dg.DagsterInstance.from_config(str(prepare_dagster_home(dagster_home())))
