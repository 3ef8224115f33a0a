"""The project's Dagster home: where every run is recorded, so that the UI (`make ui`) shows CLI runs too."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

# `make demo`, `make ui` and the CLI share this folder unless DAGSTER_HOME names another.
PROJECT_DAGSTER_HOME = Path(__file__).resolve().parents[1] / ".dagster"

# One SQLite file for the whole event log, instead of Dagster's default of one file per run plus an index that
# repeats every asset event: half the bytes per run, and one file to vacuum.
DAGSTER_YAML = """telemetry:
  enabled: false
event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {history}
"""


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or PROJECT_DAGSTER_HOME)


def prepare_dagster_home(home: Path) -> Path:
    """Create the home with the project's instance settings (telemetry off, the UI's first-visit pop-up
    marked as seen) unless it already has a dagster.yaml of its own."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML.format(history=home.resolve() / "history"))
    nux = home / ".nux" / "nux.yaml"
    if not nux.exists():
        nux.parent.mkdir(exist_ok=True)
        nux.write_text("seen: 1\n")
    return home


def project_instance() -> dg.DagsterInstance:
    """The persistent instance of $DAGSTER_HOME, or of the project's `.dagster/` when it is not set."""
    return dg.DagsterInstance.from_config(str(prepare_dagster_home(dagster_home())))
