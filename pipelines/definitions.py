"""The Dagster code location: every asset, check, job, schedule and resource of the product."""

import dagster as dg

from assets.core.assets import CORE_ASSETS
from assets.marts.assets import MART_ASSETS
from assets.raw.assets import RAW_ASSETS

from .jobs import daily_market_job, daily_market_schedule
from .resources import build_resources
from .sensors import missed_days_sensor
from .settings import Settings, load_settings


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[*RAW_ASSETS, *CORE_ASSETS, *MART_ASSETS],
        jobs=[daily_market_job],
        schedules=[daily_market_schedule],
        sensors=[missed_days_sensor],
        resources=build_resources(settings),
        # One process writes the DuckDB file at a time: steps run one after another in the run's process.
        executor=dg.in_process_executor,
    )


defs = build_definitions(load_settings())
