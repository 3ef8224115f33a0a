"""The core layer materialised through Dagster into a real DuckDB file."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.run import materialize_range
from pipelines.settings import load_settings
from warehouse.db import Warehouse
from warehouse.schemas import CORE_TABLES

START, END = dt.date(2024, 1, 1), dt.date(2024, 10, 31)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("core") / "warehouse.duckdb"
    mp = pytest.MonkeyPatch()
    mp.setenv("WAREHOUSE_DB", str(path))
    mp.delenv("MARKET_SETTINGS", raising=False)
    mp.delenv("MARKET_SOURCE", raising=False)
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_range(START, END, load_settings(), instance=instance)
    yield Warehouse(path), instance, result
    mp.undo()


@pytest.mark.slow
def test_every_core_table_lands_for_the_whole_range(built):
    wh, _, result = built
    assert result.success
    for spec in CORE_TABLES:
        frame = wh.read_window(spec)
        assert frame.height > 0, spec.qualified
        assert frame["date"].min() == START and frame["date"].max() == END, spec.qualified


@pytest.mark.slow
def test_daily_funding_matches_the_raw_settlements_in_sql(built):
    wh, _, _ = built
    check = wh.query(
        """
        SELECT count(*) AS n, max(abs(f.daily_rate - r.total)) AS worst
        FROM core.funding_daily f
        JOIN (SELECT date, venue, symbol, sum(rate) AS total FROM raw.funding GROUP BY ALL) r USING (date, venue, symbol)
        """
    ).row(0, named=True)
    assert check["n"] == wh.query("SELECT count(*) FROM core.funding_daily").item() and check["worst"] < 1e-15


@pytest.mark.slow
def test_monday_btc_return_spans_the_weekend(built):
    wh, _, _ = built
    monday = wh.query(
        "SELECT prev_date, log_return FROM core.returns_daily WHERE calendar = 'traditional' AND series = 'BTC' "
        "AND date = DATE '2024-07-08'"
    ).row(0, named=True)
    daily = wh.query(
        "SELECT sum(log_return) FROM core.returns_daily WHERE calendar = 'crypto' AND series = 'BTC' "
        "AND date BETWEEN DATE '2024-07-06' AND DATE '2024-07-08'"
    ).item()
    assert monday["prev_date"] == dt.date(2024, 7, 5)
    assert monday["log_return"] == pytest.approx(daily, abs=1e-12)


@pytest.mark.slow
def test_no_traditional_return_on_a_holiday(built):
    wh, _, _ = built
    assert wh.query(
        "SELECT count(*) FROM core.returns_daily WHERE calendar = 'traditional' AND date IN ('2024-07-04', '2024-07-06')"
    ).item() == 0


@pytest.mark.slow
def test_baseline_correlations_appear_once_the_window_is_eighty_percent_full(built):
    wh, _, _ = built
    first = wh.query(
        "SELECT pair, min(date) AS first_baseline, min(n_baseline) AS n FROM core.correlation_daily "
        "WHERE corr_baseline IS NOT NULL GROUP BY pair"
    )
    assert set(first["pair"]) == {"btc_perp~btc_quarterly", "btc~gold", "btc~nasdaq", "btc~sp500", "gold~copper", "eth~btc"}
    assert (first["n"] >= 144).all()


@pytest.mark.slow
def test_a_single_day_rerun_reproduces_the_range_run(built):
    """A daily run reads just enough history: its rows equal those the long run computed (up to the
    last bits of rolling sums, which polars accumulates incrementally)."""
    wh, instance, _ = built
    before = {spec.name: wh.read_window(spec, END, END + dt.timedelta(days=1)) for spec in CORE_TABLES}
    result = materialize_range(END, END, load_settings(), instance=instance)
    assert result.success
    for spec in CORE_TABLES:
        after = wh.read_window(spec, END, END + dt.timedelta(days=1))
        assert after.height > 0, spec.qualified
        assert_frame_equal(after, before[spec.name], rel_tol=1e-9, abs_tol=1e-12)
