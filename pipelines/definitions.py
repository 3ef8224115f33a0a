"""The Dagster code location: every asset, check, job, schedule, sensor and resource of the product.

The settings are loaded once, here, and handed to everything else: to the asset factories (partitions,
look-backs, check descriptions) and, through the resources, to the code that runs.
"""

import warnings

import dagster as dg

from assets.core.assets import build_core_assets
from assets.marts.assets import build_mart_assets
from assets.raw.assets import build_raw_assets
from pipelines.jobs import build_daily_job, build_daily_schedule
from pipelines.ledger_hooks import with_ledger_hooks
from pipelines.resources import build_resources
from pipelines.retry_sensor import build_retry_sensor
from pipelines.run_history import build_run_history_sensor
from pipelines.sensors import build_abandoned_runs_sensor, build_missed_days_sensor
from pipelines.history import first_partition
from pipelines.settings import Settings, load_settings

# Single-run backfills (BackfillPolicy) are flagged beta by Dagster; they are a deliberate choice here,
# so the warning would only be noise in every run and test.
warnings.filterwarnings("ignore", category=dg.BetaWarning)


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day from the first day of history (see first_partition)."""
    return dg.DailyPartitionsDefinition(start_date=first_partition(settings).isoformat(), timezone="UTC", fmt="%Y-%m-%d")


def build_definitions(settings: Settings) -> dg.Definitions:
    partitions = daily_partitions(settings)
    job = build_daily_job()
    assets = with_ledger_hooks([*build_raw_assets(settings, partitions), *build_core_assets(settings, partitions),
                                *build_mart_assets(settings, partitions)])
    return dg.Definitions(
        assets=assets,
        jobs=[job],
        schedules=[build_daily_schedule(job)],
        sensors=[build_missed_days_sensor(job, settings.warehouse_path),
                 build_retry_sensor(job, settings.warehouse_path, settings.coverage, assets),
                 build_abandoned_runs_sensor(),
                 build_run_history_sensor(settings.run_history.keep_step_events_days)],
        resources=build_resources(settings),
        # One process writes the DuckDB file at a time: steps run one after another in the run's process.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location the UI and the daemon load (workspace.yaml): the settings of this deployment
    ($MARKET_SETTINGS, $MARKET_SOURCE, $WAREHOUSE_DB), loaded when Dagster loads the location, not on import."""
    return build_definitions(load_settings())
