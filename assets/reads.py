"""What an asset reads, declared once: the tables and how far back before its window.

One declaration gives Dagster its dependencies (with a partition mapping that covers the look-back, so
re-materialising raw day D marks every downstream day whose window read D as stale), gives the asset its
input frames, and names the lineage in each materialisation. A missing input table, or an empty window of a
required input, stops the asset with a message naming the table and the days.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import dagster as dg
import polars as pl

from warehouse.db import Warehouse
from warehouse.schemas import TableSpec


class MissingInput(dg.Failure):
    """An input table, or the rows of the run's window in it, is not there."""


def asset_key(spec: TableSpec) -> dg.AssetKey:
    return dg.AssetKey([spec.schema, spec.name])


def history_days(observations: int, calendar: str) -> int:
    """UTC days to read before a window so that a rolling window of `observations` is complete at its first day:
    one a day on the crypto calendar; on the traditional calendar about 250 sessions a year, plus holidays."""
    if calendar == "crypto":
        return observations + 1
    return math.ceil((observations + 1) * 365 / 250) + 7


@dataclass(frozen=True)
class Read:
    """One input table. `lookback_days`: UTC days before the window start the asset needs (None: the whole
    table). `required`: the run's window must hold rows (a weekend has no traditional bars, so not those)."""

    spec: TableSpec
    lookback_days: int | None = 0
    required: bool = True


class Reads:
    def __init__(self, *reads: Read):
        self.reads = reads

    @property
    def label(self) -> str:
        return ", ".join(r.spec.qualified for r in self.reads)

    def deps(self, partitioned: bool) -> list[dg.AssetDep]:
        """Dagster dependencies; a partitioned reader of a look-back depends on every day of it."""
        deps = []
        for read in self.reads:
            mapping = None
            if partitioned and read.spec.partitioned and read.lookback_days:
                mapping = dg.TimeWindowPartitionMapping(
                    start_offset=-read.lookback_days, allow_nonexistent_upstream_partitions=True
                )
            deps.append(dg.AssetDep(asset_key(read.spec), partition_mapping=mapping))
        return deps

    def load(self, warehouse: Warehouse, start: dt.date | None = None, end: dt.date | None = None
             ) -> dict[TableSpec, pl.DataFrame]:
        """Each input for [start - lookback, end); whole tables when unbounded."""
        with warehouse.session(read_only=True):
            return self._load(warehouse, start, end)

    def _load(self, warehouse: Warehouse, start: dt.date | None, end: dt.date | None) -> dict[TableSpec, pl.DataFrame]:
        frames = {}
        for read in self.reads:
            spec = read.spec
            if not warehouse.exists(spec):
                raise MissingInput(
                    description=f"input {spec.qualified} does not exist in {warehouse.path}: materialise "
                    f"{asset_key(spec).to_user_string()} first (for the same days, and the look-back before them)"
                )
            first = None if start is None or read.lookback_days is None else start - dt.timedelta(days=read.lookback_days)
            frame = warehouse.read_window(spec, first, end if read.lookback_days is not None else None)
            if read.required and start is not None and end is not None:
                column = pl.col(spec.partition_column)
                if frame.filter((column >= start) & (column < end)).height == 0:
                    raise MissingInput(
                        description=f"input {spec.qualified} has no rows for {start} to {end - dt.timedelta(days=1)}: "
                        f"materialise {asset_key(spec).to_user_string()} for those days first"
                    )
            elif read.required and frame.height == 0:
                raise MissingInput(description=f"input {spec.qualified} is empty: materialise "
                                   f"{asset_key(spec).to_user_string()} first")
            frames[spec] = frame
        return frames
