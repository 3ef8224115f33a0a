"""A long range runs as consecutive bounded runs and leaves exactly the tables one run leaves."""

import datetime as dt
import shutil

import dagster as dg
import polars as pl
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


@pytest.mark.slow
def test_a_range_run_in_parts_after_the_warm_up_equals_one_run_with_the_rules_firing(tmp_path):
    """Past the warm-up every baseline is complete and the rules fire: the parts' look-backs, z-scores and
    episodes must still come out exactly as one run's."""
    warm_up = (dt.date(2018, 1, 1), dt.date(2019, 2, 28))
    start, end = dt.date(2019, 3, 1), dt.date(2019, 4, 30)
    base = load_settings(warehouse_path=str(tmp_path / "base" / "warehouse.duckdb"), history_start=warm_up[0])
    assert materialize_range(*warm_up, base, instance=dg.DagsterInstance.ephemeral()).success
    paths = {}
    for name in ("one", "parts"):
        paths[name] = tmp_path / name / "warehouse.duckdb"
        paths[name].parent.mkdir()
        shutil.copyfile(base.warehouse_path, paths[name])
    one = base.model_copy(update={"warehouse_path": str(paths["one"])})
    parts = base.model_copy(update={"warehouse_path": str(paths["parts"])})
    assert materialize_range(start, end, one, instance=dg.DagsterInstance.ephemeral()).success
    instance = dg.DagsterInstance.ephemeral()
    assert materialize_range(start, end, parts, instance=instance, max_days_per_run=30).success
    assert len(instance.get_runs()) == 3  # 61 days in parts of at most 30
    whole, split = tables(one.warehouse_path), tables(parts.warehouse_path)
    fired = whole["marts.anomaly_daily"].filter(pl.col("date") >= start)
    assert fired.filter(pl.col("kind") == "anomaly").height > 0 and fired["code"].n_unique() > 1
    for name, rows in whole.items():
        assert_same_rows(split[name], rows, name)


def assert_same_rows(got: pl.DataFrame, expected: pl.DataFrame, name: str) -> None:
    """The same rows in the same order; floats equal up to rounding (a rolling sum that starts in an earlier
    run adds the same numbers in another order, about 1e-15 apart)."""
    assert got.schema == expected.schema and got.height == expected.height, name
    for column in expected.columns:
        a, b = got[column], expected[column]
        assert a.is_null().equals(b.is_null()), f"{name}.{column}: nulls differ"
        if b.dtype.is_float():
            off = ((a - b).abs() > 1e-9 * (b.abs() + 1e-9)).fill_null(False)
            assert not off.any(), f"{name}.{column}: {off.sum()} values differ, first at row {off.arg_max()}"
        else:
            assert a.equals(b), f"{name}.{column}"
