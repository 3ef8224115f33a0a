"""The retry sensor asks again for the partitions Dagster records as failed: read from a real instance, one run
for every due day, bounded attempts counted in the sensor's cursor, and nothing asked once the day succeeds."""

import datetime as dt
import json

import dagster as dg
import pytest

from pipelines.jobs import RANGE_END_TAG, RANGE_START_TAG
from pipelines.retry_sensor import FAILED_DAYS_TAG, build_retry_sensor
from pipelines.settings import CoverageSettings

TODAY = dt.datetime.now(dt.timezone.utc).date()
FIRST = TODAY - dt.timedelta(days=6)
BROKEN: set[str] = set()


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date=FIRST.isoformat(), timezone="UTC", fmt="%Y-%m-%d"),
          key=["raw", "toy"])
def toy(context: dg.AssetExecutionContext) -> None:
    if context.partition_key in BROKEN:
        raise RuntimeError(f"toy source refused {context.partition_key}")


@dg.asset(deps=[dg.AssetDep(toy, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-2))],
          partitions_def=toy.partitions_def, key=["core", "toy"])
def toy_window(context: dg.AssetExecutionContext) -> None:
    pass


def day(offset: int) -> str:
    return (FIRST + dt.timedelta(days=offset)).isoformat()


def materialize(instance, key: str) -> bool:
    return dg.materialize([toy, toy_window], partition_key=key, instance=instance, raise_on_error=False).success


@pytest.fixture
def sensor(tmp_path):
    job = dg.define_asset_job("toy_job", selection=[toy, toy_window])
    coverage = CoverageSettings(max_attempts=2, retry_after_minutes=0, lookback_days=30)
    # No published warehouse at this path: the failed partitions alone drive the sensor.
    return build_retry_sensor(job, str(tmp_path / "warehouse.duckdb"), coverage, [toy, toy_window])


def evaluate(sensor, instance, cursor=None) -> dg.SensorResult:
    return sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_failed_partitions_are_asked_for_in_one_run_with_bounded_attempts(sensor):
    instance = dg.DagsterInstance.ephemeral()
    BROKEN.clear()
    BROKEN.update({day(1), day(3)})
    for offset in range(5):
        assert materialize(instance, day(offset)) == (day(offset) not in BROKEN)

    first = evaluate(sensor, instance)
    [request] = first.run_requests
    # One run from the first failed day to the last plus the declared look-back (2 days) downstream.
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (day(1), day(5))
    assert request.tags[FAILED_DAYS_TAG] == f"{day(1)}#1,{day(3)}#1"
    assert json.loads(first.cursor)["attempts"] == {day(1): 1, day(3): 1}

    # Still failing: a second attempt, then no more (max_attempts = 2).
    second = evaluate(sensor, instance, first.cursor)
    assert second.run_requests[0].tags[FAILED_DAYS_TAG] == f"{day(1)}#2,{day(3)}#2"
    third = evaluate(sensor, instance, second.cursor)
    assert not third.run_requests and "2 failed day(s)" in third.skip_reason.skip_message

    # The source serves day 3 again: it succeeds, is no longer failed, and its attempts are forgotten.
    BROKEN.discard(day(3))
    assert materialize(instance, day(3))
    fourth = evaluate(sensor, instance, third.cursor)
    assert not fourth.run_requests and "1 failed day(s)" in fourth.skip_reason.skip_message
    assert json.loads(fourth.cursor)["attempts"] == {day(1): 2}


def test_nothing_failed_nothing_asked(sensor):
    instance = dg.DagsterInstance.ephemeral()
    BROKEN.clear()
    assert materialize(instance, day(0))
    result = evaluate(sensor, instance)
    assert not result.run_requests and "0 failed day(s)" in result.skip_reason.skip_message
