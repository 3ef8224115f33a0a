"""Materialise the raw layer through Dagster into a real DuckDB file."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from assets.raw.sources.sample import SampleMarket
from pipelines.cli import main
from pipelines.definitions import build_definitions
from pipelines.run import materialize_range
from pipelines.settings import load_settings
from warehouse.db import Warehouse
from warehouse.schemas import (
    CORE_TABLES,
    MARTS_TABLES,
    RAW_CRYPTO_OHLCV,
    RAW_FUNDING,
    RAW_INSTRUMENTS,
    RAW_TABLES,
    RAW_TRADITIONAL_OHLCV,
)

START, END = dt.date(2025, 3, 20), dt.date(2025, 4, 2)  # crosses the March expiry and Good Friday


def raw_selection():
    return dg.AssetSelection.groups("raw")


def run_raw(instance):
    defs = build_definitions(load_settings())
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={
        dg.AssetKey(["raw", t.name]) for t in RAW_TABLES
    })
    return job.execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": START.isoformat(), "dagster/asset_partition_range_end": END.isoformat()},
    )


def test_raw_layer_for_a_range_lands_in_one_run_and_matches_the_source(warehouse_path):
    instance = dg.DagsterInstance.ephemeral()
    result = run_raw(instance)
    assert result.success
    assert len(instance.get_runs()) == 1
    wh = Warehouse(warehouse_path)
    market = SampleMarket()
    end = END + dt.timedelta(days=1)
    expected = {
        RAW_INSTRUMENTS: market.instruments(START, end),
        RAW_CRYPTO_OHLCV: market.crypto_bars(START, end),
        RAW_FUNDING: market.funding(START, end),
        RAW_TRADITIONAL_OHLCV: market.traditional_bars(START, end),
    }
    for spec, frame in expected.items():
        stored = wh.read_window(spec)
        assert stored.height == frame.height > 0, spec.qualified
        assert stored.equals(frame.select(spec.column_names).sort(spec.key)), spec.qualified
    # Every partition of the range is recorded as materialised.
    materialized = instance.get_materialized_partitions(dg.AssetKey(["raw", "funding"]))
    assert len(materialized) == (END - START).days + 1
    # The metadata a person sees in the UI: each partition's own row count and day; the run's preview (the
    # latest day, as a native table) only on the latest day's event.
    events = {m.partition: m.metadata for m in result.asset_materializations_for_node("raw__funding")}
    per_day = expected[RAW_FUNDING].group_by(pl.col("funding_ts").dt.date().alias("day")).len()
    assert {d.isoformat(): n for d, n in per_day.iter_rows()} == {
        p: m["dagster/row_count"].value for p, m in events.items()}
    assert all(events[p]["date"].value == p for p in events)
    latest = events[END.isoformat()]
    assert [r.data["funding_ts"][:10] for r in latest["preview"].value.records] == [END.isoformat()] * 5
    assert not any("preview" in m for p, m in events.items() if p != END.isoformat())


@pytest.mark.slow
def test_re_running_the_whole_job_leaves_identical_tables(warehouse_path):
    instance = dg.DagsterInstance.ephemeral()
    every_table = (*RAW_TABLES, *CORE_TABLES, *MARTS_TABLES)
    assert materialize_range(START, END, load_settings(), instance=instance).success
    wh = Warehouse(warehouse_path)
    first = {spec.qualified: wh.read_window(spec) for spec in every_table}
    assert materialize_range(START, END, load_settings(), instance=instance).success
    for spec in every_table:
        assert wh.read_window(spec).equals(first[spec.qualified]), spec.qualified


def test_the_job_over_a_range_through_the_cli_entry_point(warehouse_path):
    result = materialize_range(START, START + dt.timedelta(days=2), load_settings(), instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert Warehouse(warehouse_path).read_window(RAW_FUNDING)["date"].n_unique() == 3


@pytest.mark.parametrize(
    "argv, env, message",
    [
        (["materialize", "--start", "2025-02-01", "--end", "2025-01-01"], {}, "start 2025-02-01 is after end"),
        (["materialize", "--start", "2025-01-01", "--end", "2025-01-02"], {"MARKET_SOURCE": "nowhere"}, "source"),
    ],
)
def test_bad_settings_stop_before_anything_is_written(warehouse_path, monkeypatch, capsys, argv, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not warehouse_path.exists()


def test_unknown_venue_in_a_settings_file_stops_the_cli(warehouse_path, tmp_path, monkeypatch, capsys):
    file = tmp_path / "s.yaml"
    file.write_text("universe:\n  venues: [sample_a, binance]\n")
    monkeypatch.setenv("MARKET_SETTINGS", str(file))
    assert main(["materialize", "--start", "2025-01-01", "--end", "2025-01-02"]) == 2
    assert "unknown venue(s) ['binance'] for source 'sample'" in capsys.readouterr().err
    assert not warehouse_path.exists()


def test_unwritable_warehouse_stops_the_cli(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("WAREHOUSE_DB", str(blocker / "w.duckdb"))
    assert main(["materialize", "--start", "2025-01-01", "--end", "2025-01-02"]) == 2
    assert "set WAREHOUSE_DB" in capsys.readouterr().err
