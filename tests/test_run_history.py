"""Dagster's run history stays small: what a finished run no longer needs is removed, what the UI shows is kept."""

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from pipelines.definitions import build_definitions
from pipelines.home import prepare_dagster_home
from pipelines.run import materialize_range
from pipelines.run_history import COMPACTED_TAG, compact_run_history
from pipelines.settings import Settings
from tests.conftest import days

BASIS = dg.AssetKey(["core", "basis_daily"])
RAW = dg.AssetKey(["raw", "crypto_ohlcv"])
GATE = dg.AssetCheckKey(RAW, "quality_gate")


def count(instance, sql: str, **params) -> int:
    with instance.event_log_storage.index_connection() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def metadata_labels(record) -> set[str]:
    return set(record.asset_materialization.metadata)


@pytest.fixture
def instance(tmp_path):
    with dg.DagsterInstance.from_config(str(prepare_dagster_home(tmp_path / "dagster_home"))) as instance:
        yield instance


@pytest.fixture
def settings(warehouse_path):
    return Settings(warehouse_path=str(warehouse_path))


def test_a_succeeded_run_loses_its_planned_events_and_keeps_every_result(instance, settings):
    start, end = days("2024-03-01", 5)
    materialize_range(start, end, settings, instance=instance)  # compacts when it ends
    run = instance.get_runs()[0]
    assert run.tags[COMPACTED_TAG] == "planned-events-removed"
    # One range run plans every asset's every day and each check once per day; all of it is resolved now.
    assert count(instance, "SELECT count(*) FROM event_logs WHERE run_id = :r AND "
                 "dagster_event_type = 'ASSET_MATERIALIZATION_PLANNED'", r=run.run_id) == 0
    assert count(instance, "SELECT count(*) FROM asset_check_executions WHERE run_id = :r AND "
                 "execution_status = 'PLANNED'", r=run.run_id) == 0
    # What the UI shows is intact: every day materialised, the latest day's preview, the check's result.
    keys = [(start + dt.timedelta(days=k)).isoformat() for k in range((end - start).days + 1)]
    assert set(instance.get_materialized_partitions(BASIS)) == set(keys)
    assert "preview" in metadata_labels(instance.fetch_materializations(RAW, limit=1).records[0])
    history = instance.event_log_storage.get_asset_check_execution_history(GATE, limit=5)
    assert [h.status.value for h in history] == ["SUCCEEDED"]
    # The run's log is complete while it is recent.
    assert count(instance, "SELECT count(*) FROM event_logs WHERE run_id = :r AND dagster_event_type = 'STEP_START'",
                 r=run.run_id) > 0


def test_an_old_run_keeps_its_results_and_loses_its_step_by_step_log(instance, settings):
    first, _ = days("2024-03-01", 1)
    for day in (first, first + dt.timedelta(days=1)):
        materialize_range(day, day, settings, instance=instance)
    older, newer = sorted(instance.get_runs(), key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)
    before = count(instance, "SELECT sum(length(event)) FROM event_logs WHERE run_id = :r", r=older.run_id)

    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=15)
    done = compact_run_history(instance, keep_step_events_days=14, now=later)
    assert done.runs_compacted == 2 and done.rows_deleted > 0

    assert instance.get_run_by_id(older.run_id).tags[COMPACTED_TAG] == "compacted"
    assert count(instance, "SELECT count(*) FROM event_logs WHERE run_id = :r AND dagster_event_type IN "
                 "('STEP_START', 'STEP_SUCCESS', 'STEP_OUTPUT', 'ASSET_CHECK_EVALUATION')", r=older.run_id) == 0
    after = count(instance, "SELECT sum(length(event)) FROM event_logs WHERE run_id = :r", r=older.run_id)
    assert after < before / 4
    # Each partition still shows its rows and day; only the asset's latest materialisation keeps the preview.
    records = instance.fetch_materializations(RAW, limit=10).records
    by_day = {r.partition_key: r for r in records}
    assert metadata_labels(by_day[first.isoformat()]) == {"dagster/row_count", "date"}
    assert by_day[first.isoformat()].asset_materialization.metadata["dagster/row_count"].value > 0
    assert "preview" in metadata_labels(by_day[(first + dt.timedelta(days=1)).isoformat()])
    assert set(instance.get_materialized_partitions(BASIS)) == {first.isoformat(),
                                                                (first + dt.timedelta(days=1)).isoformat()}
    # The check's latest result keeps its metadata; an older passed one goes (its materialisation says it passed).
    history = instance.event_log_storage.get_asset_check_execution_history(GATE, limit=5)
    assert [(h.run_id, h.status.value) for h in history] == [(newer.run_id, "SUCCEEDED")]
    assert "expectations_evaluated" in history[0].event.dagster_event.event_specific_data.metadata
    # Idempotent: nothing is left to do.
    again = compact_run_history(instance, keep_step_events_days=14, now=later)
    assert (again.runs_trimmed, again.runs_compacted, again.rows_deleted) == (0, 0, 0)
    assert instance.get_run_by_id(newer.run_id).tags[COMPACTED_TAG] == "compacted-except-latest"

    # Once a newer run holds the latest results, the run that held them is compacted like the others.
    third = first + dt.timedelta(days=2)
    materialize_range(third, third, settings, instance=instance)
    compact_run_history(instance, keep_step_events_days=14, now=later + dt.timedelta(days=1))
    by_day = {r.partition_key: r for r in instance.fetch_materializations(RAW, limit=10).records}
    assert metadata_labels(by_day[(first + dt.timedelta(days=1)).isoformat()]) == {"dagster/row_count", "date"}
    assert "preview" in metadata_labels(by_day[third.isoformat()])
    assert instance.get_run_by_id(newer.run_id).tags[COMPACTED_TAG] == "compacted"


def test_a_failed_run_keeps_what_marks_its_partition_failed(instance, tmp_path):
    settings = Settings(warehouse_path=str(tmp_path / "empty.duckdb"))
    partitions = build_definitions(settings).resolve_asset_graph().get(BASIS).partitions_def
    job = build_definitions(settings).resolve_implicit_global_asset_job_def().get_subset(asset_selection={BASIS})
    # core.basis_daily without its raw input: the step fails, naming the missing table.
    result = job.execute_in_process(instance=instance, partition_key="2024-03-01", raise_on_error=False)
    assert not result.success

    compact_run_history(instance, keep_step_events_days=0, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
    assert count(instance, "SELECT count(*) FROM event_logs WHERE run_id = :r AND dagster_event_type = 'STEP_FAILURE'",
                 r=result.run_id) == 1
    status = instance.get_status_by_partition(BASIS, ["2024-03-01"], partitions)
    assert status["2024-03-01"] == dg.AssetPartitionStatus.FAILED


def test_the_sensor_compacts_the_instance_it_runs_for(instance, settings):
    start, end = days("2024-03-01", 2)
    job = build_definitions(settings).resolve_job_def("daily_market_job")
    job.execute_in_process(instance=instance, tags={"dagster/asset_partition_range_start": start.isoformat(),
                                                    "dagster/asset_partition_range_end": end.isoformat()})
    assert count(instance, "SELECT count(*) FROM asset_check_executions WHERE execution_status = 'PLANNED'") > 0
    sensor = next(s for s in build_definitions(settings).sensors if s.name == "run_history_sensor")
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert "1 finished run(s) trimmed" in result.skip_message
    assert count(instance, "SELECT count(*) FROM asset_check_executions WHERE execution_status = 'PLANNED'") == 0
