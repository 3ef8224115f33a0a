"""The catch-up sensor: when the machine was off and the daily schedule missed days, ask for them in one run."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb

from warehouse.serving import published_dir

from pipelines.jobs import RANGE_END_TAG, RANGE_START_TAG


def missing_days(last_stored: dt.date | None, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The days after the last stored one up to yesterday, when more than one is missing (the schedule takes
    yesterday itself); None when the warehouse is up to date or empty."""
    yesterday = today - dt.timedelta(days=1)
    if last_stored is None or last_stored >= yesterday - dt.timedelta(days=1):
        return None
    return last_stored + dt.timedelta(days=1), yesterday


def build_missed_days_sensor(job, warehouse_path: str) -> dg.SensorDefinition:
    @dg.sensor(
        job=job,
        minimum_interval_seconds=3600,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Catch-up: once an hour, reads the last day of the published warehouse; when the schedule missed "
        "two or more days (the machine was off), launches one run for every missing day up to yesterday. Reads only "
        "the published copy, so it never waits on a running pipeline. Turn it on for unattended machines.",
    )
    def missed_days_sensor(context: dg.SensorEvaluationContext):
        database = published_dir(warehouse_path) / "warehouse.duckdb"
        if not database.exists():
            return dg.SkipReason(f"nothing published yet at {database}: run a first backfill (make demo)")
        with duckdb.connect(str(database), read_only=True) as con:
            last = con.execute("SELECT max(date) FROM raw.crypto_ohlcv").fetchone()[0]
        gap = missing_days(last, dt.datetime.now(dt.timezone.utc).date())
        if gap is None:
            return dg.SkipReason(f"up to date: last stored day {last}")
        start, end = gap
        return dg.RunRequest(
            run_key=f"catch-up {start}..{end}",
            tags={RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()},
        )

    return missed_days_sensor
