"""Running the daily job over a range of UTC days as one run, recorded in the project's Dagster instance."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from pipelines.definitions import build_definitions
from pipelines.history import first_partition
from pipelines.home import project_instance
from pipelines.jobs import DAILY_JOB, RANGE_END_TAG, RANGE_START_TAG
from pipelines.settings import Settings, check_date_range, check_writable
from pipelines.stale import StaleDays, derived_selection, stale_after
from warehouse.db import Warehouse


def materialize_range(start: dt.date, end: dt.date, settings: Settings, instance: dg.DagsterInstance | None = None,
                      raise_on_error: bool = True, log_level: str = "WARNING", tags: dict[str, str] | None = None,
                      derived_only: bool = False) -> dg.ExecuteInProcessResult:
    """Run the daily job over [start, end] (inclusive UTC days) as a single run; `derived_only` runs the core
    and mart assets alone (a rebuild from the stored raw rows)."""
    check_date_range(start, end, settings.history_start)
    check_writable(settings.warehouse_path)
    # Partitions from where the data starts, or from `start` when the run goes back further.
    settings = settings.model_copy(update={"history_start": first_partition(settings, start)})
    definitions = build_definitions(settings)
    job = definitions.resolve_job_def(DAILY_JOB)
    instance = instance or project_instance()  # recorded where the UI looks, never in a throwaway instance
    return job.execute_in_process(
        instance=instance,
        tags={**(tags or {}), RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()},
        raise_on_error=raise_on_error,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        asset_selection=derived_selection(definitions.resolve_asset_graph()) if derived_only else None,
    )


def stale_later_days(end: dt.date, settings: Settings) -> StaleDays | None:
    """Stored core and mart days after `end` whose declared look-back reaches back to `end` or before."""
    graph = build_definitions(settings).resolve_asset_graph()
    return stale_after(graph, Warehouse(settings.warehouse_path), end)
