"""A failed step is a hole in the coverage ledger: a run of the daily job that fails leaves a `failed` entry per
failed asset and day with the error's first line, a day failing again counts one more attempt, the retry sensor
names the attempt the ledger counts, and the run that succeeds for the day resolves the entries as filled.
Real Dagster instance, real DuckDB file, the project's own job and sensor."""

import datetime as dt

import dagster as dg
import duckdb
import polars as pl

from pipelines.definitions import build_definitions
from pipelines.ledger_hooks import error_line, run_days
from pipelines.retry_sensor import FAILED_DAYS_TAG
from pipelines.run import materialize_range
from pipelines.settings import CoverageSettings, Settings
from warehouse.db import Warehouse
from warehouse.ledger import read_ledger
from warehouse.serving import publish

DAY = dt.date(2024, 3, 1)
BASIS = "core/basis_daily"


def ledger_rows(path) -> dict[str, dict]:
    """The ledger's entries on DAY, by subject."""
    return {row["subject"]: row for row in read_ledger(Warehouse(path)).filter(pl.col("date") == DAY).iter_rows(named=True)}


def test_a_failed_run_is_recorded_counted_and_resolved_by_the_run_that_succeeds(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    # Every day since DAY is within the sensor's reach, asked for again at once.
    settings = Settings(warehouse_path=str(path),
                        coverage=CoverageSettings(max_attempts=5, retry_after_minutes=0,
                                                  lookback_days=(dt.date.today() - DAY).days + 30))
    instance = dg.DagsterInstance.ephemeral()

    # The derived assets alone on an empty warehouse: their raw input tables are missing, every core step fails.
    failed = materialize_range(DAY, DAY, settings, instance=instance, raise_on_error=False, derived_only=True)
    assert not failed.success
    first = ledger_rows(path)
    basis = first[BASIS]
    assert (basis["table"], basis["status"], basis["attempts"]) == ("core.basis_daily", "failed", 1)
    assert basis["reason"].startswith("input raw.crypto_ohlcv does not exist in ")
    assert "\n" not in basis["reason"]
    failed_steps = {e.step_key.replace("__", "/", 1) for e in failed.all_events if e.event_type_value == "STEP_FAILURE"}
    assert {s for s, row in first.items() if row["status"] == "failed"} == failed_steps

    # The same day fails again: one more attempt, first seen unchanged.
    assert not materialize_range(DAY, DAY, settings, instance=instance, raise_on_error=False, derived_only=True).success
    again = ledger_rows(path)[BASIS]
    assert again["attempts"] == 2 and again["first_seen"] == basis["first_seen"]
    assert again["last_attempt"] > basis["last_attempt"]

    # The retry sensor reads the published ledger: the run it asks for is the day's third attempt.
    publish(str(path))
    sensor = build_definitions(settings).resolve_sensor_def("retry_holes_sensor")
    result = sensor(dg.build_sensor_context(instance=instance))
    [request] = result.run_requests
    assert f"{DAY.isoformat()}#3" in request.tags[FAILED_DAYS_TAG].split(",")

    # The whole job for the day: raw lands, every step succeeds, the failed entries turn filled.
    assert materialize_range(DAY, DAY, settings, instance=instance).success
    resolved = ledger_rows(path)
    assert {s: row["status"] for s, row in resolved.items() if s in failed_steps} == dict.fromkeys(failed_steps, "filled")
    assert resolved[BASIS]["reason"] == "was failed: " + basis["reason"]
    assert resolved[BASIS]["attempts"] == 3
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.coverage_ledger WHERE status = 'failed'").fetchone()[0] == 0

    # Dagster no longer records the day as failed, and the published ledger has nothing open for it.
    publish(str(path))
    after = sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
    assert not after.run_requests and "0 failed day(s)" in after.skip_reason.skip_message


def test_the_days_of_a_run_come_from_its_partition_or_range_tags():
    assert run_days({"dagster/partition": "2024-03-01"}) == [DAY]
    assert run_days({"dagster/asset_partition_range_start": "2024-02-28",
                     "dagster/asset_partition_range_end": "2024-03-01"}) == [dt.date(2024, 2, 28),
                                                                             dt.date(2024, 2, 29), DAY]
    assert run_days({}) == []


def test_the_reason_is_the_first_line_of_the_error():
    assert error_line(dg.Failure(description="quality gate refused raw.funding\nmore")) == \
        "quality gate refused raw.funding"
    assert error_line(ValueError("bad close for gold on 2024-03-01\ntraceback")) == \
        "ValueError: bad close for gold on 2024-03-01"
