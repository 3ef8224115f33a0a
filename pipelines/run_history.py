"""Keeping Dagster's run history small over years of daily runs.

A run records far more than anyone reads later: Dagster logs every step's start, output and success, each resource
start, and one "planned" event per asset and partition (a one-year backfill plans about 12,000 of them, and each
unpartitioned check in a multi-day run leaves one planned check row per day that its single result never
resolves). What the UI needs to show a year of partitions (materialisations with their metadata, check results,
run starts, ends and failures, warnings and errors) is kept for ever. The rest goes:

- as soon as a run succeeded: its materialisation-planned events and its unresolved planned check rows (every
  planned partition was materialised and every check evaluated; a failed run keeps them, Dagster reads them to
  mark the failed partitions);
- once a run ended `keep_step_events_days` ago: its step-by-step events and debug/info log lines (the kinds
  Dagster's own database-tuning guide deletes), so a recent run's log stays complete; its materialisations keep
  their row count and day but lose the preview and chart (the latest materialisation of each asset keeps them
  whatever its age); its failed and warning check results stay in Dagster's check-execution table, which the
  UI's check history reads (a passed one goes: the materialisation it guarded says it passed; each check's latest
  result stays whatever its age), and leave the run's event log.

Rows are deleted through the instance's own event-log connection, and the file is vacuumed after an old run was
compacted or when a quarter of it is free, so `.dagster/` shrinks and does not only stop growing. Compaction runs after every CLI run and hourly
from a sensor (for the runs the UI and the schedule launch); it is idempotent: a compacted run is tagged.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

import dagster as dg
import sqlalchemy as sa
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage

COMPACTED_TAG = "market/history"
SUCCEEDED_TAG_VALUE = "planned-events-removed"
COMPACTED_TAG_VALUE = "compacted"
HOLDS_LATEST_TAG_VALUE = "compacted-except-latest"

# Dagster's step-by-step record of a run: shown while the run is recent, not needed to show its results later.
STEP_EVENT_TYPES = (
    "STEP_START", "STEP_OUTPUT", "STEP_INPUT", "STEP_SUCCESS", "STEP_SKIPPED", "STEP_WORKER_STARTING",
    "STEP_WORKER_STARTED", "HANDLED_OUTPUT", "LOADED_INPUT", "ENGINE_EVENT", "RESOURCE_INIT_STARTED",
    "RESOURCE_INIT_SUCCESS", "LOGS_CAPTURED", "ASSET_CHECK_EVALUATION_PLANNED", "STEP_EXPECTATION_RESULT",
    # Kept, whole, in the check-execution table the check history reads.
    "ASSET_CHECK_EVALUATION",
)
# User and system log lines below WARNING (Python's levels: DEBUG 10, INFO 20).
QUIET_LOG_LEVEL_BELOW = 30
# What an old materialisation keeps: enough to show each partition's rows and day.
KEPT_METADATA = ("dagster/row_count", "date")
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
VACUUM_FREE_FRACTION = 0.25


@dataclass(frozen=True)
class Compaction:
    runs_trimmed: int
    runs_compacted: int
    rows_deleted: int
    vacuumed: bool

    def __str__(self) -> str:
        if not (self.runs_trimmed or self.runs_compacted):
            return "run history: nothing to compact"
        return (f"run history: {self.runs_trimmed} finished run(s) trimmed of planned events, "
                f"{self.runs_compacted} older run(s) compacted to their results, {self.rows_deleted} rows deleted"
                + (", file vacuumed" if self.vacuumed else ""))


def compact_run_history(instance: dg.DagsterInstance, keep_step_events_days: int,
                        now: dt.datetime | None = None) -> Compaction:
    """Delete what the module docstring lists from the instance's finished runs; returns what it did."""
    now = now or dt.datetime.now(dt.timezone.utc)
    storage = instance.event_log_storage
    if not isinstance(storage, ConsolidatedSqliteEventLogStorage):
        # The statements below are written for the one SQLite file pipelines/home.py configures.
        return Compaction(0, 0, 0, False)
    trimmed = compacted = deleted = 0
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS])):
        if record.dagster_run.tags.get(COMPACTED_TAG):
            continue
        deleted += _delete_planned(storage, record.dagster_run.run_id)
        instance.add_run_tags(record.dagster_run.run_id, {COMPACTED_TAG: SUCCEEDED_TAG_VALUE})
        trimmed += 1
    cutoff = now - dt.timedelta(days=keep_step_events_days)
    for record in instance.get_run_records(dg.RunsFilter(statuses=FINISHED, updated_before=cutoff)):
        state = record.dagster_run.tags.get(COMPACTED_TAG)
        if state == COMPACTED_TAG_VALUE:
            continue
        # A run compacted while it held an asset's latest result is looked at again once a newer run holds it.
        removed, changed, holds_latest = _compact_old_run(storage, record.dagster_run.run_id)
        wanted = HOLDS_LATEST_TAG_VALUE if holds_latest else COMPACTED_TAG_VALUE
        if wanted != state:
            instance.add_run_tags(record.dagster_run.run_id, {COMPACTED_TAG: wanted})
        deleted += removed
        compacted += state != HOLDS_LATEST_TAG_VALUE or bool(removed or changed)
    vacuumed = _vacuum(storage, always=compacted > 0) if deleted else False
    return Compaction(trimmed, compacted, deleted, vacuumed)


def _delete_planned(storage, run_id: str) -> int:
    with storage.index_connection() as conn:
        planned_events = conn.execute(
            sa.text("DELETE FROM event_logs WHERE run_id = :run AND dagster_event_type = 'ASSET_MATERIALIZATION_PLANNED'"),
            {"run": run_id}).rowcount
        # Left PLANNED by a run that succeeded: the check ran once for the run's window, recorded without a partition.
        planned_checks = conn.execute(
            sa.text("DELETE FROM asset_check_executions WHERE run_id = :run AND execution_status = 'PLANNED'"),
            {"run": run_id}).rowcount
    return planned_events + planned_checks


def _compact_old_run(storage, run_id: str) -> tuple[int, int, bool]:
    """(rows deleted, rows rewritten, whether the run still holds an asset's latest materialisation or a check's
    latest result) for one old run."""
    types = ", ".join(f"'{t}'" for t in STEP_EVENT_TYPES)
    with storage.index_connection() as conn:
        latest_materializations = set(conn.execute(sa.text(
            "SELECT max(id) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' GROUP BY asset_key")
        ).scalars())
        latest_checks = set(conn.execute(sa.text(
            "SELECT max(id) FROM asset_check_executions GROUP BY asset_key, check_name")).scalars())
        deleted = conn.execute(
            sa.text(f"DELETE FROM event_logs WHERE run_id = :run AND dagster_event_type IN ({types})"),
            {"run": run_id}).rowcount
        # Log lines carry no event type; the stored entry's level is Python's.
        deleted += conn.execute(
            sa.text("DELETE FROM event_logs WHERE run_id = :run AND dagster_event_type IS NULL "
                    "AND CAST(json_extract(event, '$.level') AS INTEGER) < :level"),
            {"run": run_id, "level": QUIET_LOG_LEVEL_BELOW}).rowcount
        # A passed check of an old run: the materialisation it guarded records that it passed (a blocking check
        # that fails stops the write); failures and warnings stay for ever.
        passed = [i for i in conn.execute(sa.text(
            "SELECT id FROM asset_check_executions WHERE run_id = :run AND execution_status = 'SUCCEEDED'"),
            {"run": run_id}).scalars() if i not in latest_checks]
        if passed:
            deleted += conn.execute(sa.text("DELETE FROM asset_check_executions WHERE id = :id"),
                                    [{"id": i} for i in passed]).rowcount
        materializations = conn.execute(sa.text(
            "SELECT id, event FROM event_logs WHERE run_id = :run AND dagster_event_type = 'ASSET_MATERIALIZATION'"),
            {"run": run_id}).fetchall()
        checks = conn.execute(sa.text(
            "SELECT id, evaluation_event FROM asset_check_executions WHERE run_id = :run AND evaluation_event IS NOT NULL"),
            {"run": run_id}).fetchall()
    events = _slimmed(materializations, keep_metadata=latest_materializations)
    results = _slimmed(checks, keep_metadata=None)
    with storage.index_connection() as conn:
        if events:
            conn.execute(sa.text("UPDATE event_logs SET event = :event WHERE id = :id"), events)
        if results:
            conn.execute(sa.text("UPDATE asset_check_executions SET evaluation_event = :event WHERE id = :id"), results)
    holds_latest = any(i in latest_materializations for i, _ in materializations) or any(
        i in latest_checks for i, _ in checks)
    return deleted, len(events) + len(results), holds_latest


def _slimmed(rows, keep_metadata: set[int] | None) -> list[dict]:
    """The rows whose stored entry changes when written without the run-log presentation (log message, logging
    tags, step and node handles, process id) and, for a materialisation not in `keep_metadata`, with
    KEPT_METADATA only."""
    changed = []
    for storage_id, text in rows:
        entry = dg.deserialize_value(text, EventLogEntry)
        event = entry.dagster_event
        data = event.event_specific_data
        if keep_metadata is not None and storage_id not in keep_metadata:
            materialization = data.materialization
            kept = {label: value for label, value in materialization.metadata.items() if label in KEPT_METADATA}
            data = data._replace(materialization=materialization.with_metadata(kept))
        event = event._replace(event_specific_data=data, message=None, logging_tags={}, step_handle=None,
                               node_handle=None, pid=None)
        slim = dg.serialize_value(entry._replace(dagster_event=event, user_message=""))
        if slim != text:
            changed.append({"id": storage_id, "event": slim})
    return changed


def _vacuum(storage, always: bool) -> bool:
    """VACUUM the SQLite event log after an old run was compacted (its rewritten rows leave pages part empty,
    which SQLite would not fill again: event ids only grow), or when a quarter of its pages are free. About a
    second for a year of history, at most once per compaction of a day's old run. Skipped (not an error) when
    another process holds the file: the next compaction tries again."""
    with storage.index_connection() as conn:
        free = conn.execute(sa.text("PRAGMA freelist_count")).scalar() or 0
        pages = conn.execute(sa.text("PRAGMA page_count")).scalar() or 1
        path = conn.engine.url.database
    if not always and free / pages < VACUUM_FREE_FRACTION:
        return False
    # VACUUM cannot run inside the transaction every storage connection opens.
    connection = sqlite3.connect(path, timeout=5, isolation_level=None)
    try:
        connection.execute("VACUUM")
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()
    return True


def build_run_history_sensor(keep_step_events_days: int) -> dg.SensorDefinition:
    @dg.sensor(
        minimum_interval_seconds=3600,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Run history: once an hour, removes from finished runs what nobody reads later (planned events of "
        f"succeeded runs; step-by-step events and info logs of runs older than {keep_step_events_days} days), so "
        "Dagster's history grows by kilobytes a day; materialisations, check results and errors are kept.",
    )
    def run_history_sensor(context: dg.SensorEvaluationContext):
        return dg.SkipReason(str(compact_run_history(context.instance, keep_step_events_days)))

    return run_history_sensor
