"""The anomaly engine against the sample market's ground truth, through the whole Dagster pipeline
(the same path as `make evaluate`, on a shorter range)."""

import datetime as dt

import polars as pl
import pytest

from pipelines.cli import evaluation_report

END = dt.date(2023, 10, 31)
YEARS = 0.75


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.delenv("MARKET_SETTINGS", raising=False)
    mp.delenv("MARKET_SOURCE", raising=False)
    path = tmp_path_factory.mktemp("evaluation") / "warehouse.duckdb"
    yield evaluation_report(END, YEARS, str(path))
    mp.undo()


def test_the_range_holds_scripted_episodes_of_many_codes(evaluation):
    injected = evaluation["anomalies"].filter(pl.col("injected") > 0)
    assert injected.height >= 6 and injected["injected"].sum() >= 8


def test_every_injected_episode_is_detected_with_its_code(evaluation):
    anomalies = evaluation["anomalies"]
    assert anomalies["missed"].sum() == 0, anomalies
    assert (anomalies["detected"] == anomalies["injected"]).all()


def test_at_most_two_false_episodes_a_year(evaluation):
    assert evaluation["false_per_year"] <= 2, evaluation["false_episodes"]


def test_no_context_period_is_reported_as_an_anomaly(evaluation):
    assert evaluation["context_as_anomaly"].height == 0, evaluation["context_as_anomaly"]
    context = evaluation["context"]
    # The context labels are found, and they are kept apart from the anomalies.
    assert context.filter(pl.col("code") == "EXPIRY_CONVERGENCE")["detected"].item() > 0
    assert set(evaluation["anomalies"]["code"]).isdisjoint({"EXPIRY_CONVERGENCE", "FUNDING_PRESSURE"})
