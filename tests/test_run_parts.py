"""A long range runs as consecutive bounded runs and leaves exactly the tables one run leaves."""

import datetime as dt

import dagster as dg
import pytest

from pipelines.run import materialize_range, run_parts
from pipelines.settings import load_settings
from warehouse.db import Warehouse
from warehouse.serving import ALL_TABLES


def test_a_range_is_cut_into_consecutive_parts_of_at_most_the_size():
    parts = run_parts(dt.date(2024, 1, 1), dt.date(2024, 1, 10), 4)
    assert parts == [(dt.date(2024, 1, 1), dt.date(2024, 1, 4)), (dt.date(2024, 1, 5), dt.date(2024, 1, 8)),
                     (dt.date(2024, 1, 9), dt.date(2024, 1, 10))]
    assert run_parts(dt.date(2024, 1, 1), dt.date(2024, 1, 1), 366) == [(dt.date(2024, 1, 1), dt.date(2024, 1, 1))]


def tables(path) -> dict:
    wh = Warehouse(path)
    # alert_log records when it was written; what it holds must agree, not the clock
    return {spec.qualified: wh.read_window(spec).drop("logged_at", strict=False) for spec in ALL_TABLES}


@pytest.mark.slow
def test_a_range_run_in_parts_equals_one_run(tmp_path):
    start, end = dt.date(2024, 2, 20), dt.date(2024, 3, 10)
    one = load_settings(warehouse_path=str(tmp_path / "one" / "warehouse.duckdb"))
    parts = load_settings(warehouse_path=str(tmp_path / "parts" / "warehouse.duckdb"))
    assert materialize_range(start, end, one, instance=dg.DagsterInstance.ephemeral()).success
    instance = dg.DagsterInstance.ephemeral()
    last = materialize_range(start, end, parts, instance=instance, max_days_per_run=7)
    assert last.success
    runs = instance.get_runs()
    assert len(runs) == 3  # 20 days in parts of at most 7
    whole, split = tables(one.warehouse_path), tables(parts.warehouse_path)
    assert whole["marts.anomaly_status"].height > 0 and whole["core.correlation_daily"].height > 0
    for name, rows in whole.items():
        assert split[name].equals(rows), name
