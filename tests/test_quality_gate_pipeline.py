"""End to end: one bad settlement is quarantined and the rest of the run goes on; a corrupted window (duplicate
keys) stops the run before anything downstream is rebuilt."""

import datetime as dt

import dagster as dg
import polars as pl

from assets.raw.sources.sample import SampleMarket
from pipelines.definitions import build_definitions
from assets.resources import SampleMarketResource
from pipelines.settings import load_settings
from warehouse.db import Warehouse
from warehouse.ledger import read_ledger
from warehouse.schemas import CORE_TABLES, MARTS_TABLES, RAW_FUNDING

START, END = dt.date(2025, 5, 1), dt.date(2025, 5, 20)
BAD_DAY = dt.date(2025, 5, 12)


class FundingSpike:
    """The sample market, except one settlement of 5% on BAD_DAY (a unit or parsing error upstream)."""

    name = "sample-with-a-bad-funding-row"

    def __init__(self, inner: SampleMarket):
        self.inner = inner

    def __getattr__(self, attribute):
        return getattr(self.inner, attribute)

    def funding(self, start, end):
        rows = self.inner.funding(start, end)
        bad = (pl.col("funding_ts") == dt.datetime(2025, 5, 12, 8)) & (pl.col("symbol") == "BTC/USDT:USDT")
        return rows.with_columns(rate=pl.when(bad).then(0.05).otherwise(pl.col("rate")))


class FundingDuplicate(FundingSpike):
    """The sample market with one settlement delivered twice: duplicate keys corrupt the whole window."""

    def funding(self, start, end):
        rows = self.inner.funding(start, end)
        return pl.concat([rows, rows.head(1)])


class CorruptMarket(SampleMarketResource):
    def crypto(self):
        return FundingSpike(super().crypto())


class DuplicatingMarket(SampleMarketResource):
    def crypto(self):
        return FundingDuplicate(super().crypto())


def run(instance, market=None):
    defs = build_definitions(load_settings())
    job = defs.resolve_job_def("daily_market_job")
    resources = {"market": market} if market else None
    return job.execute_in_process(
        instance=instance, raise_on_error=False, resources=resources,
        tags={"dagster/asset_partition_range_start": START.isoformat(), "dagster/asset_partition_range_end": END.isoformat()},
    )


def test_a_bad_settlement_is_quarantined_and_the_rest_of_the_run_goes_on(warehouse_path):
    instance = dg.DagsterInstance.ephemeral()
    result = run(instance, CorruptMarket.from_settings(load_settings()))
    assert result.success
    evaluations = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [(e.asset_key.to_user_string(), e.check_name, e.severity) for e in evaluations] == [
        ("raw/funding", "coverage_ledger", dg.AssetCheckSeverity.ERROR)]
    assert "quarantined sample_a:BTC/USDT:USDT on 2025-05-12" in evaluations[0].description
    assert "expect_column_values_to_be_between(rate)" in evaluations[0].description
    wh = Warehouse(warehouse_path)
    funding = wh.read_window(RAW_FUNDING)
    bad = (pl.col("date") == BAD_DAY) & (pl.col("venue") == "sample_a") & (pl.col("symbol") == "BTC/USDT:USDT")
    assert funding.filter(bad).height == 0 and funding.filter(pl.col("date") == BAD_DAY).height > 0
    ledger = read_ledger(wh)
    assert ledger.select("table", "subject", "date", "status").rows() == [
        ("raw.funding", "sample_a:BTC/USDT:USDT", BAD_DAY, "quarantined")]
    # Downstream ran on what is there; the anomaly tables are up to date.
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"core/funding_daily", "marts/anomaly_daily", "marts/anomaly_status"} <= materialized


def test_duplicate_keys_refuse_the_window_block_downstream_and_keep_stored_tables(warehouse_path):
    instance = dg.DagsterInstance.ephemeral()
    assert run(instance).success
    wh = Warehouse(warehouse_path)
    guarded = (RAW_FUNDING, *CORE_TABLES, *MARTS_TABLES)
    before = {spec.qualified: wh.read_window(spec) for spec in guarded}
    assert before["marts.anomaly_status"].height == 3

    result = run(instance, DuplicatingMarket.from_settings(load_settings()))
    assert not result.success
    evaluations = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [(e.asset_key.to_user_string(), e.check_name) for e in evaluations] == [("raw/funding", "quality_gate")]
    assert "expect_compound_columns_to_be_unique" in evaluations[0].metadata["failed_expectations"].value
    step_failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "quality gate refused" in step_failures[0].event_specific_data.error.message
    # Nothing downstream of raw.funding ran, and nothing stored changed.
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert not {"raw/funding", "core/funding_daily", "core/perp_quarterly_spread"} & materialized
    assert not {"marts/anomaly_daily", "marts/anomaly_episodes", "marts/anomaly_status"} & materialized
    for spec in guarded:
        assert wh.read_window(spec).equals(before[spec.qualified]), spec.qualified
