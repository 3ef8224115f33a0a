"""The retry sensor: asks again for the days the coverage ledger holds open holes for, and rebuilds every
downstream day whose window read them.

An open hole (missing, quarantined, outage) that has had fewer than `coverage.max_attempts` attempts, whose
last attempt is at least `coverage.retry_after_minutes` old and whose day is within `coverage.lookback_days`,
is due. One run covers the first due day to the last one plus the longest look-back declared downstream of
the raw tables (the partition mappings of `Reads`), capped at the last stored day: re-ingesting the hole's day
and rebuilding the windows that used it. Each run that asks for a day counts one more attempt in the ledger;
once the source serves the day, the ledger marks it late-arrived or filled.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import polars as pl

from warehouse.schemas import LEDGER_OPEN_STATUSES, RAW_COVERAGE_LEDGER
from warehouse.serving import published_dir

from pipelines.jobs import RANGE_END_TAG, RANGE_START_TAG


def downstream_lookback(assets: list[dg.AssetsDefinition]) -> int:
    """The most days after a raw day D whose windows read D, along any chain of declared look-backs."""
    offsets: dict[dg.AssetKey, dict[dg.AssetKey, int]] = {}
    for asset in assets:
        mappings = {up: asset.get_partition_mapping_for_dep(up) for up in asset.dependency_keys}
        for key in asset.keys:
            offsets[key] = {up: -mapping.start_offset for up, mapping in mappings.items()
                            if isinstance(mapping, dg.TimeWindowPartitionMapping)}
    memo: dict[dg.AssetKey, int] = {}

    def reach(key: dg.AssetKey) -> int:  # the longest look-back chain ending at `key`
        if key not in memo:
            memo[key] = max((days + reach(up) for up, days in offsets.get(key, {}).items()), default=0)
        return memo[key]

    return max((reach(key) for key in offsets), default=0)


def due_holes(ledger: pl.DataFrame, now: dt.datetime, coverage) -> pl.DataFrame:
    """The open holes to ask for again now (see the module docstring)."""
    oldest = now.date() - dt.timedelta(days=coverage.lookback_days)
    return ledger.filter(
        pl.col("status").is_in(list(LEDGER_OPEN_STATUSES))
        & (pl.col("attempts") < coverage.max_attempts)
        & (pl.col("last_attempt") <= now - dt.timedelta(minutes=coverage.retry_after_minutes))
        & (pl.col("date") >= oldest)
    )


def retry_range(due: pl.DataFrame, last_stored: dt.date, lookback: int) -> tuple[dt.date, dt.date] | None:
    if due.height == 0:
        return None
    first, last = due["date"].min(), due["date"].max()
    return first, max(last, min(last_stored, last + dt.timedelta(days=lookback)))


def build_retry_sensor(job, warehouse_path: str, coverage, assets: list[dg.AssetsDefinition]) -> dg.SensorDefinition:
    lookback = downstream_lookback(assets)

    @dg.sensor(
        job=job,
        minimum_interval_seconds=600,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Retries holes: every 10 minutes, reads raw.coverage_ledger of the published warehouse and "
        f"launches one run from the first open hole (missing, quarantined or outage; at most "
        f"{coverage.max_attempts} attempts, {coverage.retry_after_minutes:g} minutes apart, days within "
        f"{coverage.lookback_days} days) to {lookback} days after the last one (the longest declared look-back "
        "downstream of the raw tables), so the day is asked for again and every window that read it is rebuilt.",
    )
    def retry_holes_sensor(context: dg.SensorEvaluationContext):
        database = published_dir(warehouse_path) / "warehouse.duckdb"
        if not database.exists():
            return dg.SkipReason(f"nothing published yet at {database}")
        with duckdb.connect(str(database), read_only=True) as con:
            known = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' "
                                "AND table_name = 'coverage_ledger'").fetchone()[0]
            if not known:
                return dg.SkipReason("no coverage ledger published yet")
            ledger = con.execute(f"SELECT * FROM {RAW_COVERAGE_LEDGER.qualified}").pl()
            last_stored = con.execute("SELECT max(date) FROM raw.crypto_ohlcv").fetchone()[0]
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        due = due_holes(ledger, now, coverage)
        window = retry_range(due, last_stored or now.date(), lookback)
        if window is None:
            return dg.SkipReason(f"no hole due: {ledger.filter(pl.col('status').is_in(list(LEDGER_OPEN_STATUSES))).height} "
                                 "open, none due (each waits retry_after_minutes, stops at max_attempts and must lie within lookback_days)")
        start, end = window
        return dg.RunRequest(
            run_key=f"retry {start}..{end} after {due['last_attempt'].max():%Y-%m-%dT%H:%M:%S}",
            tags={RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()},
        )

    return retry_holes_sensor
