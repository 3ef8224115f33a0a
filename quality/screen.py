"""A first pass of a frame's great-expectations expectations in polars, which can only ever say "passes".

Most windows pass every expectation, and great-expectations spends most of a daily run's quality time on its own
bookkeeping for each expectation (configurations, metric graphs), not on the data. So the gate first asks
`proven_to_pass` of each expectation: a vectorised polars evaluation of the same rule, with great-expectations'
semantics on the pandas frame it would validate (a null or NaN is missing; column-map expectations leave missing
values out; a pair expectation leaves out the rows its `ignore_row_if` names). It answers True only when the rule
holds for every row it applies to; anything it does not cover exactly (another expectation type, `mostly` below 1,
a row condition, a missing value where great-expectations would have to decide, an unexpected column type, an
error) is False, and the frame goes to great-expectations, which then decides and describes every failure.

So a failure is never decided here: a frame is written unvalidated by great-expectations only when each of its
expectations is proven here to pass (tests/test_quality_screen.py compares both on passing and failing frames).
"""

from __future__ import annotations

from collections.abc import Callable

import great_expectations.expectations as gxe
import polars as pl


def proven_to_pass(expectation: gxe.Expectation, frame: pl.DataFrame) -> bool:
    """True when `expectation` is shown to pass on `frame`; False when it fails or is not covered here."""
    rule = _RULES.get(type(expectation))
    if rule is None or getattr(expectation, "row_condition", None) or getattr(expectation, "mostly", 1) != 1:
        return False
    try:
        return bool(rule(expectation, frame))
    except Exception:  # noqa: BLE001 - a missing column or a type polars will not compare: great-expectations decides
        return False


def _missing(frame: pl.DataFrame, column: str) -> pl.Series:
    """Great-expectations' missing values on the pandas copy: null, and NaN in a float column."""
    values = frame[column]
    return values.is_null() | values.is_nan() if values.dtype.is_float() else values.is_null()


def _present(frame: pl.DataFrame, column: str) -> pl.Series:
    return frame[column].filter(~_missing(frame, column))


def _bound(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _between(e: gxe.ExpectColumnValuesToBeBetween, frame: pl.DataFrame) -> bool:
    if e.min_value is None and e.max_value is None:
        return False  # great-expectations refuses an expectation with no bound
    if not (frame[e.column].dtype.is_numeric() and _bound(e.min_value) and _bound(e.max_value)):
        return False
    values = _present(frame, e.column)
    above = e.min_value is None or bool((values > e.min_value).all() if e.strict_min else (values >= e.min_value).all())
    below = e.max_value is None or bool((values < e.max_value).all() if e.strict_max else (values <= e.max_value).all())
    return above and below


def _in_set(e: gxe.ExpectColumnValuesToBeInSet, frame: pl.DataFrame) -> bool:
    values = _present(frame, e.column)
    wanted = list(e.value_set)
    if values.dtype == pl.Boolean:
        if not all(isinstance(v, bool) for v in wanted):
            return False
    elif values.dtype in (pl.String, pl.Categorical, pl.Enum):
        if not all(isinstance(v, str) for v in wanted):
            return False
        values = values.cast(pl.String)
    else:
        return False
    return bool(values.is_in(wanted).all())


def _not_null(e: gxe.ExpectColumnValuesToNotBeNull, frame: pl.DataFrame) -> bool:
    return not bool(_missing(frame, e.column).any())


def _unique(e: gxe.ExpectColumnValuesToBeUnique, frame: pl.DataFrame) -> bool:
    values = _present(frame, e.column)
    return not values.dtype.is_float() and values.n_unique() == values.len()


def _compound_unique(e: gxe.ExpectCompoundColumnsToBeUnique, frame: pl.DataFrame) -> bool:
    keys = frame.select(e.column_list)
    if any(keys[c].dtype.is_float() or bool(_missing(frame, c).any()) for c in e.column_list):
        return False  # which rows great-expectations leaves out, and how it compares them, is its to decide
    return not bool(keys.is_duplicated().any())


def _a_greater_than_b(e: gxe.ExpectColumnPairValuesAToBeGreaterThanB, frame: pl.DataFrame) -> bool:
    a, b = frame[e.column_A], frame[e.column_B]
    if not (a.dtype == b.dtype or (a.dtype.is_numeric() and b.dtype.is_numeric())):
        return False
    missing_a, missing_b = _missing(frame, e.column_A), _missing(frame, e.column_B)
    ignored = {"both_values_are_missing": missing_a & missing_b, "either_value_is_missing": missing_a | missing_b,
               "neither": pl.repeat(False, frame.height, eager=True)}.get(e.ignore_row_if)
    if ignored is None:
        return False
    kept = ~ignored
    if bool((kept & (missing_a | missing_b)).any()):
        return False  # one side missing on a row that counts: great-expectations' comparison decides
    a, b = a.filter(kept), b.filter(kept)
    return bool((a >= b).all() if e.or_equal else (a > b).all())


def _columns_match(e: gxe.ExpectTableColumnsToMatchSet, frame: pl.DataFrame) -> bool:
    wanted, present = set(e.column_set), set(frame.columns)
    return wanted == present if e.exact_match else wanted <= present


def _row_count(e: gxe.ExpectTableRowCountToEqual, frame: pl.DataFrame) -> bool:
    return isinstance(e.value, int) and frame.height == e.value


_RULES: dict[type, Callable[..., bool]] = {
    gxe.ExpectColumnValuesToBeBetween: _between,
    gxe.ExpectColumnValuesToBeInSet: _in_set,
    gxe.ExpectColumnValuesToNotBeNull: _not_null,
    gxe.ExpectColumnValuesToBeUnique: _unique,
    gxe.ExpectCompoundColumnsToBeUnique: _compound_unique,
    gxe.ExpectColumnPairValuesAToBeGreaterThanB: _a_greater_than_b,
    gxe.ExpectTableColumnsToMatchSet: _columns_match,
    gxe.ExpectTableRowCountToEqual: _row_count,
}
