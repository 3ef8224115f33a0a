"""Running the daily job over a range of UTC days as one run, recorded in the project's Dagster instance."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from pipelines.definitions import build_definitions
from pipelines.history import first_partition
from pipelines.home import project_instance
from pipelines.jobs import DAILY_JOB, RANGE_END_TAG, RANGE_START_TAG
from pipelines.settings import Settings, check_date_range, check_writable


def materialize_range(start: dt.date, end: dt.date, settings: Settings, instance: dg.DagsterInstance | None = None,
                      raise_on_error: bool = True, log_level: str = "WARNING") -> dg.ExecuteInProcessResult:
    """Run the daily job over [start, end] (inclusive UTC days) as a single run."""
    check_date_range(start, end, settings.history_start)
    check_writable(settings.warehouse_path)
    # Partitions from where the data starts, or from `start` when the run goes back further.
    settings = settings.model_copy(update={"history_start": first_partition(settings, start)})
    job = build_definitions(settings).resolve_job_def(DAILY_JOB)
    instance = instance or project_instance()  # recorded where the UI looks, never in a throwaway instance
    return job.execute_in_process(
        instance=instance,
        tags={RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()},
        raise_on_error=raise_on_error,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
