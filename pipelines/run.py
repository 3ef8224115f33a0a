"""Running the daily job over a range of UTC days, recorded in the project's Dagster instance.

A run holds every frame of its range in memory (each raw table fetched for the whole range, each core table
computed over it), so a range of years would need gigabytes. A range longer than the setting
`runs.max_days_per_run` (366 by default) is run as consecutive runs of at most that many days, oldest first:
each is a single-run backfill of its part (its look-backs read the days the runs before it stored), the
whole-history marts are built once, by the last run, and the tables end exactly as one run over the whole
range leaves them. A failed run stops the sequence: the parts before it are complete, its own part is
untouched, and nothing after it ran.
"""

from __future__ import annotations

import datetime as dt
import gc

import dagster as dg

from pipelines.definitions import build_definitions
from pipelines.history import first_partition
from pipelines.home import project_instance
from pipelines.jobs import DAILY_JOB, RANGE_END_TAG, RANGE_START_TAG
from pipelines.run_history import compact_run_history
from pipelines.settings import Settings, check_date_range, check_writable
from pipelines.stale import StaleDays, derived_selection, stale_after
from warehouse.db import Warehouse


def run_parts(start: dt.date, end: dt.date, max_days: int) -> list[tuple[dt.date, dt.date]]:
    """[start, end] (inclusive) cut into consecutive inclusive parts of at most `max_days` days, oldest first."""
    parts = []
    while start <= end:
        last = min(end, start + dt.timedelta(days=max_days - 1))
        parts.append((start, last))
        start = last + dt.timedelta(days=1)
    return parts


def materialize_range(start: dt.date, end: dt.date, settings: Settings, instance: dg.DagsterInstance | None = None,
                      raise_on_error: bool = True, log_level: str = "WARNING",
                      max_days_per_run: int | None = None, tags: dict[str, str] | None = None,
                      derived_only: bool = False) -> dg.ExecuteInProcessResult:
    """Run the daily job over [start, end] (inclusive UTC days): one run, or consecutive runs of at most
    `max_days_per_run` days (default: the setting `runs.max_days_per_run`) for a longer range. Returns the last
    run's result (the failed one, if any failed). `derived_only` runs the core and mart assets alone (a rebuild
    from the stored raw rows)."""
    check_date_range(start, end, settings.history_start)
    check_writable(settings.warehouse_path)
    # Partitions from where the data starts, or from `start` when the run goes back further.
    settings = settings.model_copy(update={"history_start": first_partition(settings, start)})
    job = build_definitions(settings).resolve_job_def(DAILY_JOB)
    instance = instance or project_instance()  # recorded where the UI looks, never in a throwaway instance
    parts = run_parts(start, end, max_days_per_run or settings.runs.max_days_per_run)
    # Runs before the last build the daily partitions only; the whole-history marts would be rebuilt by the next.
    graph = job.asset_layer.asset_graph
    partitioned = sorted(graph.get_all_asset_keys() - graph.unpartitioned_asset_keys)
    for index, (first, last) in enumerate(parts):
        selection = None if index == len(parts) - 1 else partitioned
        if derived_only:
            selection = [key for key in derived_selection(graph) if selection is None or key in selection]
        # A run's result holds every event of its run: let the previous part's go before the next part starts,
        # and collect its frames' cycles, so the peak stays that of one part.
        result = None
        gc.collect()
        result = job.execute_in_process(
            instance=instance,
            tags={**(tags or {}), RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()},
            raise_on_error=raise_on_error,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            asset_selection=selection,
        )
        if not result.success:
            break
    compact_run_history(instance, settings.run_history.keep_step_events_days)
    return result


def stale_later_days(end: dt.date, settings: Settings) -> StaleDays | None:
    """Stored core and mart days after `end` whose declared look-back reaches back to `end` or before."""
    graph = build_definitions(settings).resolve_asset_graph()
    return stale_after(graph, Warehouse(settings.warehouse_path), end)
