import warnings

import dagster as dg

from pipelines.definitions import build_definitions
from pipelines.settings import Settings


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
    # Everything but the whole-history marts (episodes, status) is daily-partitioned.
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} - {k.to_user_string() for k in partitioned} == {
        "marts/anomaly_episodes", "marts/anomaly_status",
        "marts/published_warehouse"}
    for key in partitioned:
        policy = graph.get(key).backfill_policy
        assert policy is not None and policy.max_partitions_per_run is None, key
