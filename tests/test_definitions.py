import datetime as dt
import warnings

import dagster as dg

from pipelines.definitions import build_definitions
from pipelines.run import materialize_range
from pipelines.settings import AnomalySettings, CorrelationSettings, QualitySettings, Settings
from warehouse.db import Warehouse


def test_definitions_load_without_deprecation_warnings_and_list_assets():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        defs = build_definitions(Settings())
        keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
        defs.resolve_job_def("daily_market_job")
    deprecated = [w for w in caught if issubclass(w.category, DeprecationWarning) and "dagster" in str(w.filename)]
    assert not deprecated, [str(w.message) for w in deprecated]
    assert {"raw/instruments", "raw/crypto_ohlcv", "raw/funding", "raw/traditional_ohlcv"} <= keys


def test_every_asset_has_description_group_kinds_and_schema():
    defs = build_definitions(Settings())
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and len(node.description) > 40, key
        assert node.group_name in {"raw", "core", "marts"}, key
        assert node.kinds, key
        schema = node.metadata["dagster/column_schema"]
        assert all(c.description for c in schema.columns), key


def test_daily_schedule_runs_after_the_midnight_funding_settlement_and_backfills_are_one_run():
    defs = build_definitions(Settings())
    schedule = defs.resolve_schedule_def("daily_market_schedule")
    assert schedule.cron_schedule == "30 0 * * *"
    assert schedule.execution_timezone in (None, "UTC")
    sensor = defs.resolve_sensor_def("missed_days_sensor")
    assert sensor.job_name == "daily_market_job" and "missing day" in sensor.description
    graph = defs.resolve_asset_graph()
    partitioned = [k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is not None]
    # Everything but the whole-history marts (episodes, status) and the coverage ledger is daily-partitioned.
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} - {k.to_user_string() for k in partitioned} == {
        "raw/coverage_ledger", "marts/anomaly_episodes", "marts/anomaly_status", "marts/basis_trades", "marts/basis_trade_summary",
        "marts/alert_log", "marts/published_warehouse"}
    for key in partitioned:
        policy = graph.get(key).backfill_policy
        assert policy is not None and policy.max_partitions_per_run is None, key


def test_build_definitions_honours_every_setting_it_is_given(tmp_path):
    """Unusual thresholds and a second warehouse path reach the resources, the partitions, the check descriptions
    in the UI and the tables a run writes."""
    other = tmp_path / "second" / "warehouse.duckdb"
    settings = Settings(
        warehouse_path=str(other), history_start=dt.date(2024, 1, 1),
        anomaly=AnomalySettings(crash_z=-9.0),
        quality=QualitySettings(max_abs_funding_rate=0.0123),
        correlation=CorrelationSettings(short_window=10),
    )
    defs = build_definitions(settings)
    assert defs.resources["warehouse"].path == str(other)
    assert defs.resources["analytics"].settings == settings
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["raw", "funding"])).partitions_def.start.date() == dt.date(2024, 1, 1)
    funding_checks = next(a for a in defs.assets if dg.AssetKey(["raw", "funding"]) in a.keys).check_specs
    assert any("0.0123" in spec.description for spec in funding_checks)
    assert "z <= -9" in graph.get(dg.AssetKey(["marts", "anomaly_daily"])).description

    result = materialize_range(dt.date(2024, 1, 1), dt.date(2024, 1, 20), settings, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    short = Warehouse(other).query("SELECT max(n_short) AS n FROM core.correlation_daily").item()
    assert short == 10


def test_lookbacks_are_declared_to_dagster_so_a_raw_day_marks_later_days_stale():
    defs = build_definitions(Settings())
    graph = defs.resolve_asset_graph()
    funding = graph.get(dg.AssetKey(["core", "funding_daily"]))
    mapping = funding.partition_mappings[dg.AssetKey(["raw", "funding"])]
    assert isinstance(mapping, dg.TimeWindowPartitionMapping) and mapping.start_offset == -181
    spread = graph.get(dg.AssetKey(["core", "perp_quarterly_spread"]))
    assert spread.partition_mappings[dg.AssetKey(["core", "basis_daily"])].start_offset == -181
    assert dg.AssetKey(["core", "returns_daily"]) in graph.get(dg.AssetKey(["marts", "anomaly_episodes"])).parent_keys


def test_a_missing_input_table_stops_the_asset_by_name(tmp_path):
    settings = Settings(warehouse_path=str(tmp_path / "empty.duckdb"))
    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey(["core", "basis_daily"])})
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key="2024-03-01",
                                    raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "raw.crypto_ohlcv does not exist" in failure.event_specific_data.error.message
