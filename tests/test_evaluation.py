"""The anomaly engine against the sample market's ground truth, through the whole Dagster pipeline
(the same path as `make evaluate`, on a shorter range)."""

import datetime as dt

import polars as pl
import pytest

from assets.marts.evaluation import context_reported_as_anomaly
from pipelines.evaluation import evaluation_report
from pipelines.settings import load_settings

END = dt.date(2023, 10, 31)
YEARS = 0.75


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.delenv("MARKET_SETTINGS", raising=False)
    mp.delenv("MARKET_SOURCE", raising=False)
    path = tmp_path_factory.mktemp("evaluation") / "warehouse.duckdb"
    yield evaluation_report(END, YEARS, load_settings(source="sample", warehouse_path=str(path)))
    mp.undo()


@pytest.mark.slow
def test_the_range_holds_scripted_episodes_of_many_codes(evaluation):
    injected = evaluation["anomalies"].filter(pl.col("injected") > 0)
    assert injected.height >= 6 and injected["injected"].sum() >= 8


@pytest.mark.slow
def test_every_injected_episode_is_detected_with_its_code(evaluation):
    anomalies = evaluation["anomalies"]
    assert anomalies["missed"].sum() == 0, anomalies
    assert (anomalies["detected"] == anomalies["injected"]).all()


@pytest.mark.slow
def test_at_most_two_false_episodes_a_year(evaluation):
    assert evaluation["false_per_year"] <= 2, evaluation["false_episodes"]


@pytest.mark.slow
def test_no_context_period_is_reported_as_an_anomaly(evaluation):
    assert evaluation["context_as_anomaly"].height == 0, evaluation["context_as_anomaly"]
    context = evaluation["context"]
    # The context labels are found, and they are kept apart from the anomalies.
    assert context.filter(pl.col("code") == "EXPIRY_CONVERGENCE")["detected"].item() > 0
    assert set(evaluation["anomalies"]["code"]).isdisjoint({"EXPIRY_CONVERGENCE", "FUNDING_PRESSURE"})


def test_an_anomaly_on_the_perpetual_during_a_context_period_of_its_contract_is_counted():
    """Context subjects name a contract, anomalies a perpetual: they meet on venue and coin."""
    day = dt.date(2025, 3, 24)
    truth = pl.DataFrame({
        "code": ["EXPIRY_CONVERGENCE", "CRASH"], "subject": ["v:BTC/USDT:USDT-250328", "BTC"],
        "start": [day, day], "end": [day + dt.timedelta(days=4), day], "kind": ["context", "anomaly"]})
    detected = pl.DataFrame({
        "code": ["PERP_QUARTERLY_DIVERGENCE", "PERP_QUARTERLY_DIVERGENCE", "CRASH"],
        "subject": ["v:BTC/USDT:USDT", "w:BTC/USDT:USDT", "BTC"],
        "start": [day + dt.timedelta(days=1)] * 2 + [day], "end": [day + dt.timedelta(days=2)] * 2 + [day],
        "kind": ["anomaly"] * 3})
    found = context_reported_as_anomaly(truth, detected, day - dt.timedelta(days=5), day + dt.timedelta(days=10))
    assert found.select("subject", "context_code").rows() == [("v:BTC", "EXPIRY_CONVERGENCE")]
