"""The daily partitioning every asset shares: one partition per UTC day."""

import dagster as dg

from .settings import load_settings

DAILY = dg.DailyPartitionsDefinition(
    start_date=load_settings().history_start.isoformat(), timezone="UTC", fmt="%Y-%m-%d"
)
