"""The polars first pass of the quality gate (quality/screen.py) never passes what great-expectations fails, proves
the common passing cases, and leaves the gate's reports unchanged."""

import datetime as dt
import math

import great_expectations as gx
import great_expectations.expectations as gxe
import polars as pl
import pytest

from assets.raw.sources.sample import SampleMarket
from pipelines.settings import QualitySettings, Settings
from quality import gate
from quality.gate import validate_window
from quality.screen import proven_to_pass
from warehouse.schemas import RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_INSTRUMENTS, RAW_TRADITIONAL_OHLCV

D = dt.date(2025, 3, 3)
NAN, INF = float("nan"), float("inf")


def gx_passes(expectation: gxe.Expectation, frame: pl.DataFrame) -> bool:
    batch = gate._batch_definition().get_batch(batch_parameters={"dataframe": frame.to_pandas()})
    suite = gx.ExpectationSuite(name="one", expectations=[expectation.copy()])
    return batch.validate(suite, result_format={"result_format": "BOOLEAN_ONLY"}).results[0].success


# (expectation, frame, whether the screen must prove it): every case is also run through great-expectations.
CASES = [
    # between: bounds, strictness, missing values left out, NaN as missing, infinities
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0, strict_min=True), {"x": [1.0, 2.0]}, True),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0, strict_min=True), {"x": [0.0, 2.0]}, False),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0), {"x": [0.0, 2.0]}, True),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0), {"x": [-1e-12, 2.0]}, False),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0), {"x": [None, 2.0]}, True),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0), {"x": [NAN, 2.0]}, True),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0), {"x": pl.Series([None, None], dtype=pl.Float64)}, True),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0), {"x": [None, None]}, False),  # no type: declined
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0), {"x": [INF, 1.0]}, True),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=-1, max_value=1), {"x": [-1.0, 1.0]}, True),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=-1, max_value=1, strict_max=True), {"x": [0.0, 1.0]}, False),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=24, max_value=24), {"x": [24, 23]}, False),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0, max_value=5), {"x": [1, 6]}, False),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0, max_value=5), {"x": [1, None]}, True),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0), {"x": pl.Series([], dtype=pl.Float64)}, True),
    (gxe.ExpectColumnValuesToBeBetween(column="missing", min_value=0), {"x": [1.0]}, False),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0), {"x": ["a"]}, False),
    (gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0, mostly=0.5), {"x": [-1.0, 1.0]}, False),
    # in set: booleans, strings, missing values left out
    (gxe.ExpectColumnValuesToBeInSet(column="x", value_set=[True]), {"x": [True, True]}, True),
    (gxe.ExpectColumnValuesToBeInSet(column="x", value_set=[True]), {"x": [True, False]}, False),
    (gxe.ExpectColumnValuesToBeInSet(column="x", value_set=[False]), {"x": [False, None]}, True),
    (gxe.ExpectColumnValuesToBeInSet(column="x", value_set=["spot", "perp"]), {"x": ["spot", "perp"]}, True),
    (gxe.ExpectColumnValuesToBeInSet(column="x", value_set=["spot", "perp"]), {"x": ["spot", "Perp"]}, False),
    (gxe.ExpectColumnValuesToBeInSet(column="x", value_set=["spot", "perp"]), {"x": ["spot", None]}, True),
    (gxe.ExpectColumnValuesToBeInSet(column="x", value_set=["1"]), {"x": [1]}, False),
    # not null: null and NaN are missing
    (gxe.ExpectColumnValuesToNotBeNull(column="x"), {"x": [1.0, 2.0]}, True),
    (gxe.ExpectColumnValuesToNotBeNull(column="x"), {"x": [1.0, None]}, False),
    (gxe.ExpectColumnValuesToNotBeNull(column="x"), {"x": [1.0, NAN]}, False),
    (gxe.ExpectColumnValuesToNotBeNull(column="x"), {"x": ["a", None]}, False),
    # unique: one column, several columns
    (gxe.ExpectColumnValuesToBeUnique(column="x"), {"x": ["a", "b"]}, True),
    (gxe.ExpectColumnValuesToBeUnique(column="x"), {"x": ["a", "a"]}, False),
    (gxe.ExpectColumnValuesToBeUnique(column="x"), {"x": ["a", None, None]}, True),
    (gxe.ExpectCompoundColumnsToBeUnique(column_list=["d", "s"]), {"d": [D, D], "s": ["a", "b"]}, True),
    (gxe.ExpectCompoundColumnsToBeUnique(column_list=["d", "s"]), {"d": [D, D], "s": ["a", "a"]}, False),
    (gxe.ExpectCompoundColumnsToBeUnique(column_list=["d", "s"]), {"d": [D, D], "s": ["a", None]}, False),
    # A > B (or >=) over dates and numbers, with the rows left out by ignore_row_if
    (gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="a", column_B="b", or_equal=True),
     {"a": [2.0, 1.0], "b": [1.0, 1.0]}, True),
    (gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="a", column_B="b"), {"a": [2.0, 1.0], "b": [1.0, 1.0]}, False),
    (gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="a", column_B="b", or_equal=True),
     {"a": [D, D + dt.timedelta(days=2)], "b": [D, D + dt.timedelta(days=1)]}, True),
    (gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="a", column_B="b", or_equal=True),
     {"a": [D, D], "b": [D, D + dt.timedelta(days=1)]}, False),
    (gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="a", column_B="b", ignore_row_if="either_value_is_missing"),
     {"a": [D + dt.timedelta(days=1), None], "b": [D, D]}, True),
    (gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="a", column_B="b", or_equal=True),
     {"a": [2.0, None], "b": [1.0, None]}, True),
    (gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="a", column_B="b", or_equal=True),
     {"a": [2.0, None], "b": [1.0, 1.0]}, False),
    # the whole table
    (gxe.ExpectTableColumnsToMatchSet(column_set=["a", "b"], exact_match=False), {"a": [1], "b": [1], "c": [1]}, True),
    (gxe.ExpectTableColumnsToMatchSet(column_set=["a", "b"], exact_match=False), {"a": [1], "c": [1]}, False),
    (gxe.ExpectTableColumnsToMatchSet(column_set=["a", "b"]), {"a": [1], "b": [1], "c": [1]}, False),
    (gxe.ExpectTableRowCountToEqual(value=3), {"a": [1, 2, 3]}, True),
    (gxe.ExpectTableRowCountToEqual(value=3), {"a": [1, 2]}, False),
]


@pytest.mark.parametrize("expectation, columns, proven", CASES,
                         ids=[f"{type(e).__name__}-{i}" for i, (e, _, _) in enumerate(CASES)])
def test_the_screen_proves_a_pass_only_where_great_expectations_passes(expectation, columns, proven):
    frame = pl.DataFrame(columns, strict=False)
    screened, decided = proven_to_pass(expectation, frame), gx_passes(expectation, frame)
    assert screened == proven
    if screened:
        assert decided, "the screen passed what great-expectations fails"


def test_each_case_list_has_failures_great_expectations_confirms():
    """The cases the screen does not prove include real failures (not only cases it declines): each rule is
    exercised on both sides."""
    failing = {type(e).__name__ for e, columns, _ in CASES if not gx_passes(e, pl.DataFrame(columns, strict=False))}
    assert failing == {type(e).__name__ for e, _, _ in CASES}


@pytest.fixture(scope="module")
def sample():
    start, end = D, D + dt.timedelta(days=14)
    m = SampleMarket()
    return start, end, {RAW_INSTRUMENTS: m.instruments(start, end), RAW_CRYPTO_OHLCV: m.crypto_bars(start, end),
                        RAW_FUNDING: m.funding(start, end), RAW_TRADITIONAL_OHLCV: m.traditional_bars(start, end)}


def reports(spec, rows, start, end):
    """The gate's report with the screen on and with it off."""
    return [validate_window(spec, rows, history=None, start=start, end=end,
                            settings=Settings(quality=QualitySettings(screen=screen))) for screen in (True, False)]


def test_a_passing_window_needs_no_great_expectations_run_and_reports_the_same(sample, monkeypatch):
    start, end, frames = sample
    expected = {spec: reports(spec, rows, start, end)[1] for spec, rows in frames.items()}

    def no_gx():
        raise AssertionError("great-expectations ran on a window the screen proves")

    monkeypatch.setattr(gate, "_batch_definition", no_gx)
    for spec, rows in frames.items():
        screened = validate_window(spec, rows, history=None, settings=Settings(), start=start, end=end)
        assert screened.failures == [] == expected[spec].failures
        assert screened.evaluated == expected[spec].evaluated and screened.screened == screened.evaluated


def test_a_failing_window_is_judged_and_described_by_great_expectations(sample):
    start, end, frames = sample
    bad = frames[RAW_CRYPTO_OHLCV].with_columns(
        low=pl.when(pl.col("date") == start + dt.timedelta(days=2)).then(-5.0).otherwise(pl.col("low")),
        close=pl.when(pl.col("date") == start + dt.timedelta(days=3)).then(None).otherwise(pl.col("close")))
    screened, unscreened = reports(RAW_CRYPTO_OHLCV, bad, start, end)
    assert screened.failures and not screened.passed("error")
    assert [(f.name, f.unexpected, f.evaluated) for f in screened.failures] == \
        [(f.name, f.unexpected, f.evaluated) for f in unscreened.failures]
    assert screened.evaluated == unscreened.evaluated and unscreened.screened == {"error": 0, "warn": 0}
    assert any(not math.isnan(e["low"]) and e["low"] == -5.0 for f in screened.failures for e in f.examples)
