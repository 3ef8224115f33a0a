"""The catch-up sensor: when the machine was off and the daily schedule missed days, ask for them in one run."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from pipelines.jobs import DAILY_JOB, RANGE_END_TAG, RANGE_START_TAG
from pipelines.writer import mark_abandoned_runs


def missing_days(last_stored: dt.date | None, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The days after the last stored one up to yesterday, when more than one is missing (the schedule takes
    yesterday itself); None when the warehouse is up to date or empty."""
    yesterday = today - dt.timedelta(days=1)
    if last_stored is None or last_stored >= yesterday - dt.timedelta(days=1):
        return None
    return last_stored + dt.timedelta(days=1), yesterday


def last_materialized_day(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> dt.date | None:
    """The newest daily partition of `asset_key` that Dagster records as materialised."""
    keys = instance.get_materialized_partitions(asset_key)
    return max((dt.date.fromisoformat(k) for k in keys), default=None)


# The last partitioned table of a run: a day counts as done once its anomalies were evaluated.
CATCH_UP_ASSET = dg.AssetKey(["marts", "anomaly_daily"])


def build_missed_days_sensor(job, warehouse_path: str) -> dg.SensorDefinition:
    @dg.sensor(
        job=job,
        minimum_interval_seconds=3600,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Catch-up: once an hour, reads Dagster's own partition status of marts/anomaly_daily; when the "
        "schedule missed two or more days (the machine was off), launches one run for every missing day up to "
        "yesterday. Never starts history on its own: with nothing materialised it waits for a first backfill.",
    )
    def missed_days_sensor(context: dg.SensorEvaluationContext):
        last = last_materialized_day(context.instance, CATCH_UP_ASSET)
        if last is None:
            return dg.SkipReason("nothing materialised yet: run a first backfill (make demo)")
        gap = missing_days(last, dt.datetime.now(dt.timezone.utc).date())
        if gap is None:
            return dg.SkipReason(f"up to date: last materialised day {last}")
        start, end = gap
        return dg.RunRequest(
            run_key=f"catch-up {start}..{end}",
            tags={RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()},
        )

    return missed_days_sensor


# Backfills launched from the UI run as Dagster's implicit asset job; the schedule and the sensors run the daily job.
WATCHED_JOBS = (DAILY_JOB, "__ASSET_JOB")


def build_abandoned_runs_sensor() -> dg.SensorDefinition:
    @dg.sensor(
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Abandoned runs: every 5 minutes, marks failed every run still STARTED whose process is gone "
        "(killed, or the machine restarted), naming it in the log. Dagster's own run monitoring cannot see a "
        "killed in-process run, and with one run at a time a run left STARTED would hold the queue forever.",
    )
    def abandoned_runs_sensor(context: dg.SensorEvaluationContext):
        found = [line for job in WATCHED_JOBS for line in mark_abandoned_runs(context.instance, job)]
        for line in found:
            context.log.warning(line)
        return dg.SkipReason("; ".join(found) if found else "no abandoned run")

    return abandoned_runs_sensor
