"""Where the daily partitions start: where the stored data starts, unless the settings say otherwise.

A partition before the first stored day would show as "missing" on every asset of a healthy install (a
demo starting in 2025 under partitions from 2019 shows thousands of them), so by default the partitions
start at the first day of the published warehouse.
"""

from __future__ import annotations

import datetime as dt

from pipelines.settings import Settings
from warehouse.serving import connect_published, published_database

# Before anything is stored: the first year the default venues list dated futures of both coins.
DEFAULT_HISTORY_START = dt.date(2019, 1, 1)


def first_stored_day(warehouse_path: str) -> dt.date | None:
    """The first day of crypto candles in the published copy (read-only, so never waiting on a run)."""
    try:
        with connect_published(published_database(warehouse_path)) as con:
            return con.execute("SELECT min(date) FROM raw.crypto_ohlcv").fetchone()[0]
    except FileNotFoundError:
        return None


def first_partition(settings: Settings, wanted: dt.date | None = None) -> dt.date:
    """settings.history_start when set; otherwise the first stored day (or DEFAULT_HISTORY_START), moved back
    to `wanted` when a run asks for earlier days."""
    if settings.history_start is not None:
        return settings.history_start
    first = first_stored_day(settings.warehouse_path) or DEFAULT_HISTORY_START
    return min(first, wanted) if wanted else first
