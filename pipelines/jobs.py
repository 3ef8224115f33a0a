"""The daily job and its schedule."""

import dagster as dg

# Tags that make one run cover a range of daily partitions (what a single-run backfill sets).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
DAILY_JOB = "daily_market_job"


def build_daily_job():
    return dg.define_asset_job(
        name=DAILY_JOB,
        selection=dg.AssetSelection.all(),
        description="Ingest one UTC day (or a range, as one run) and rebuild every table downstream of it.",
    )


def build_daily_schedule(job) -> dg.ScheduleDefinition:
    # Funding settles at 00:00 UTC; 00:30 leaves the venues time to publish the day's last settlement.
    return dg.build_schedule_from_partitioned_job(
        job,
        hour_of_day=0,
        minute_of_hour=30,
        name="daily_market_schedule",
        # On from the start: a machine left running `make ui` gets every night's data (pause it in the UI).
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every day at 00:30 UTC, after the 00:00 funding settlement: materialise the UTC day that just "
        "closed.",
    )
