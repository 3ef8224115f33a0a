"""The retry sensor: asks again for the days the coverage ledger holds open holes for and the days Dagster
recorded a partition of the daily job as failed, and rebuilds every downstream day whose window read them.

An open hole (missing, quarantined, outage) that has had fewer than `coverage.max_attempts` attempts, whose
last attempt is at least `coverage.retry_after_minutes` old and whose day is within `coverage.lookback_days`,
is due. One run covers the first due day to the last one plus the longest look-back declared downstream of
the raw tables (the partition mappings of `Reads`), capped at the last stored day: re-ingesting the hole's day
and rebuilding the windows that used it. Each run that asks for a day counts one more attempt in the ledger;
once the source serves the day, the ledger marks it late-arrived or filled.

A failed partition (`instance.get_status_by_partition` says FAILED for a partition of any asset of the job: the
gate refused the window, a source or an input was missing, the run was killed) is due on the same terms: at most
`coverage.max_attempts` runs ask for it, `coverage.retry_after_minutes` apart, within `coverage.lookback_days`.
Those attempts are counted in the sensor's cursor (Dagster keeps it between evaluations), and each run the sensor
launches names its failed days with their attempt in the tag `market/retry_failed_days` (2025-01-02#2). Where the
published ledger holds `failed` entries for the day (pipelines/ledger_hooks.py writes one per failed step and
day), the day's attempts are the ledger's (the runs in which it failed, the first one included) when they are
more than the cursor's, and its last attempt the later of the two: the tag then names the attempt the ledger
will count if the run fails again. `failed` entries are retried on this path only, never as holes, since the
published ledger lags a failed run (nothing is published after one) and Dagster's partition status does not.
Due holes and due failed days make one run, never one run per day.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

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


# Failed steps are asked for again from Dagster's partition status (FailedAttempts), not as holes.
HOLE_STATUSES = tuple(s for s in LEDGER_OPEN_STATUSES if s != "failed")


def due_holes(ledger: pl.DataFrame, now: dt.datetime, coverage) -> pl.DataFrame:
    """The open holes to ask for again now (see the module docstring)."""
    oldest = now.date() - dt.timedelta(days=coverage.lookback_days)
    return ledger.filter(
        pl.col("status").is_in(list(HOLE_STATUSES))
        & (pl.col("attempts") < coverage.max_attempts)
        & (pl.col("last_attempt") <= now - dt.timedelta(minutes=coverage.retry_after_minutes))
        & (pl.col("date") >= oldest)
    )


def retry_range(days: list[dt.date], last_stored: dt.date, lookback: int) -> tuple[dt.date, dt.date] | None:
    """One run for every due day: from the first to the last plus the downstream look-back, capped at the last
    stored day."""
    if not days:
        return None
    first, last = min(days), max(days)
    return first, max(last, min(last_stored, last + dt.timedelta(days=lookback)))


FAILED_DAYS_TAG = "market/retry_failed_days"


def failed_days(instance: dg.DagsterInstance, assets: list[dg.AssetsDefinition], first: dt.date,
                last: dt.date) -> dict[dt.date, list[str]]:
    """The days in [first, last] on which Dagster records a partition of `assets` as failed (its latest
    materialisation attempt failed and none succeeded since), with the assets that failed."""
    keys = [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    failed: dict[dt.date, list[str]] = {}
    for asset in assets:
        partitions = asset.partitions_def
        if not isinstance(partitions, dg.TimeWindowPartitionsDefinition) or not keys:
            continue
        for key in asset.keys:
            status = instance.get_status_by_partition(key, keys, partitions) or {}
            for partition, state in status.items():
                if state == dg.AssetPartitionStatus.FAILED:
                    failed.setdefault(dt.date.fromisoformat(partition), []).append(key.to_user_string())
    return failed


def ledger_failed_attempts(ledger: pl.DataFrame | None) -> dict[str, tuple[int, str]]:
    """Per day with open `failed` entries in the ledger: the most attempts of any of them and the last one."""
    if ledger is None:
        return {}
    rows = ledger.filter(pl.col("status") == "failed").group_by("date").agg(
        pl.col("attempts").max(), pl.col("last_attempt").max())
    return {day.isoformat(): (attempts, last.isoformat(timespec="seconds")) for day, attempts, last in rows.iter_rows()}


@dataclass(frozen=True)
class FailedAttempts:
    """The sensor's cursor: per failed day, the runs it launched for it and when the last one was launched."""

    attempts: dict[str, int]
    last: dict[str, str]

    @classmethod
    def parse(cls, cursor: str | None) -> FailedAttempts:
        data = json.loads(cursor) if cursor else {}
        return cls(dict(data.get("attempts", {})), dict(data.get("last", {})))

    def with_ledger(self, recorded: dict[str, tuple[int, str]]) -> FailedAttempts:
        """The cursor brought up to the ledger's `failed` entries (ledger_failed_attempts): per day the more
        attempts and the later last attempt of the two."""
        attempts, last = dict(self.attempts), dict(self.last)
        for day, (count, when) in recorded.items():
            attempts[day] = max(attempts.get(day, 0), count)
            last[day] = max(last.get(day, when), when)
        return FailedAttempts(attempts, last)

    def due(self, failed: dict[dt.date, list[str]], now: dt.datetime, coverage) -> list[dt.date]:
        wait = dt.timedelta(minutes=coverage.retry_after_minutes)
        return sorted(day for day in failed if self.attempts.get(day.isoformat(), 0) < coverage.max_attempts
                      and (day.isoformat() not in self.last
                           or dt.datetime.fromisoformat(self.last[day.isoformat()]) <= now - wait))

    def launched(self, days: list[dt.date], failed: dict[dt.date, list[str]], now: dt.datetime) -> FailedAttempts:
        """After launching a run for `days`; days no longer failed are forgotten (a success resets them)."""
        keep = {d.isoformat() for d in failed}
        attempts = {d: n for d, n in self.attempts.items() if d in keep}
        last = {d: t for d, t in self.last.items() if d in keep}
        for day in days:
            attempts[day.isoformat()] = attempts.get(day.isoformat(), 0) + 1
            last[day.isoformat()] = now.isoformat(timespec="seconds")
        return FailedAttempts(attempts, last)

    def dump(self) -> str:
        return json.dumps({"attempts": self.attempts, "last": self.last}, sort_keys=True)


def published_ledger(warehouse_path: str) -> tuple[pl.DataFrame, dt.date | None] | str:
    """The published coverage ledger and the last stored crypto day, or why there is none yet."""
    database = published_dir(warehouse_path) / "warehouse.duckdb"
    if not database.exists():
        return f"nothing published yet at {database}"
    with duckdb.connect(str(database), read_only=True) as con:
        known = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' "
                            "AND table_name = 'coverage_ledger'").fetchone()[0]
        if not known:
            return "no coverage ledger published yet"
        ledger = con.execute(f"SELECT * FROM {RAW_COVERAGE_LEDGER.qualified}").pl()
        last_stored = con.execute("SELECT max(date) FROM raw.crypto_ohlcv").fetchone()[0]
    return ledger, last_stored


def build_retry_sensor(job, warehouse_path: str, coverage, assets: list[dg.AssetsDefinition]) -> dg.SensorDefinition:
    lookback = downstream_lookback(assets)

    @dg.sensor(
        job=job,
        minimum_interval_seconds=600,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Retries holes and failed partitions: every 10 minutes, reads raw.coverage_ledger of the "
        "published warehouse and the partitions of the daily job's assets that Dagster records as failed, and "
        f"launches one run from the first due day (an open hole: missing, quarantined or outage; or a failed "
        f"partition, with the attempts the ledger counts for it where it has a failed entry; at most {coverage.max_attempts} attempts, {coverage.retry_after_minutes:g} minutes apart, days "
        f"within {coverage.lookback_days} days) to {lookback} days after the last one (the longest declared "
        "look-back downstream of the raw tables), so the day is asked for again and every window that read it is "
        "rebuilt.",
    )
    def retry_holes_sensor(context: dg.SensorEvaluationContext):
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        published = published_ledger(warehouse_path)
        ledger, last_stored = published if isinstance(published, tuple) else (None, None)
        holes = due_holes(ledger, now, coverage) if ledger is not None else pl.DataFrame({"date": []}, schema={"date": pl.Date})
        oldest = now.date() - dt.timedelta(days=coverage.lookback_days)
        failed = failed_days(context.instance, assets, oldest, now.date())
        tried = FailedAttempts.parse(context.cursor).with_ledger(ledger_failed_attempts(ledger))
        failed_due = tried.due(failed, now, coverage)
        days = sorted(set(holes["date"].to_list()) | set(failed_due))
        # Without a published warehouse, the last day that can be stored: yesterday's partition.
        window = retry_range(days, last_stored or now.date() - dt.timedelta(days=1), lookback)
        if window is None:
            why = published if isinstance(published, str) else (
                f"{ledger.filter(pl.col('status').is_in(list(HOLE_STATUSES))).height} open hole(s)")
            return dg.SensorResult(skip_reason=f"nothing due: {why}; {len(failed)} failed day(s) "
                                   "(each waits retry_after_minutes, stops at max_attempts and must lie within "
                                   "lookback_days)", cursor=tried.launched([], failed, now).dump())
        start, end = window
        after = tried.launched(failed_due, failed, now)
        tags = {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()}
        if failed_due:
            tags[FAILED_DAYS_TAG] = ",".join(f"{d.isoformat()}#{after.attempts[d.isoformat()]}" for d in failed_due)
        last_hole = holes["last_attempt"].max() if holes.height else None
        return dg.SensorResult(
            run_requests=[dg.RunRequest(
                run_key=f"retry {start}..{end} after {last_hole:%Y-%m-%dT%H:%M:%S}" if last_hole and not failed_due
                else f"retry {start}..{end} at {now:%Y-%m-%dT%H:%M:%S}",
                tags=tags,
            )],
            cursor=after.dump(),
        )

    return retry_holes_sensor
