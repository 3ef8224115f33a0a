"""Asking a source one venue (or one ticker) at a time, so that one that gives up does not stop the others.

A source's own methods stop at the first venue or ticker that fails. `fetch_by_unit` asks each unit through a
shallow copy of the source narrowed to that unit (sharing its exchange instances, loaded markets and time
budgets, so nothing is loaded twice), stacks what the units delivered and returns the failures beside them:
the raw layer records each failure as an outage hole of that venue or series, and stores the rest.

Only transient failures that outlasted the retries (`GaveUp`) and answers that stayed unusable (`BadAnswer`)
become holes. A `Refused` request (an unknown symbol or ticker) is a configuration error and still stops the
asset.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

import polars as pl

from .base import BadAnswer, GaveUp

# The attribute that lists a source's units, and how a copy is narrowed to one of them.
_UNITS: dict[str, Callable[[object, str], dict]] = {
    "venues": lambda source, unit: {"venues": (unit,)},
    "tickers": lambda source, unit: {"tickers": {unit: source.tickers[unit]}},
}


@dataclass
class Fetched:
    frame: pl.DataFrame
    failures: dict[str, str] = field(default_factory=dict)  # venue or series -> what failed


def units_of(source, attribute: str) -> list[str] | None:
    """The units (`attribute`: "venues" of a crypto source, "tickers" of a traditional one) of a source that
    can be asked one unit at a time, else None (the sample market, which never fails, is asked whole)."""
    # Only a source that holds its units itself is narrowed by a shallow copy (a wrapper that forwards
    # attributes to another source is asked whole).
    units = vars(source).get(attribute)
    return list(units) if isinstance(units, (tuple, list, dict)) and len(units) > 1 else None


def narrowed(source, attribute: str, unit: str):
    part = copy.copy(source)
    for name, value in _UNITS[attribute](source, unit).items():
        setattr(part, name, value)
    return part


def fetch_by_unit(source, method: str, start: dt.date, end: dt.date, schema: dict, attribute: str = "venues") -> Fetched:
    """`getattr(source, method)(start, end)` per venue (or per ticker, `attribute="tickers"`); the units that
    gave up in `failures`."""
    units = units_of(source, attribute)
    if units is None:
        return Fetched(getattr(source, method)(start, end))
    frames, failures = [], {}
    for unit in units:
        try:
            frames.append(getattr(narrowed(source, attribute, unit), method)(start, end))
        except (GaveUp, BadAnswer) as exc:
            failures[unit] = f"{type(exc).__name__}: {exc}"
    frames = [f for f in frames if f.height]
    frame = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame(schema=schema)
    return Fetched(frame, failures)
