"""Backfills in any order give the same tables as in order.

A derived day reads a declared look-back of days before it (assets/reads.py, as Dagster partition mappings).
After a run over [start, end], the stored core and mart days after `end` whose look-back reaches into
[start, end] were computed without those days (or with the rows just replaced): they are stale. This finds
them from the asset graph's declared look-backs and the warehouse, so the CLI rebuilds them from the stored
raw rows (raw is never touched).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import dagster as dg

from warehouse.db import Warehouse
from warehouse.schemas import CORE_TABLES, MARTS_TABLES, TableSpec

DERIVED = {(spec.schema, spec.name): spec for spec in (*CORE_TABLES, *MARTS_TABLES) if spec.partitioned}


def lookback_reach(asset_graph) -> dict[dg.AssetKey, int]:
    """Per partitioned derived asset: how many days after a changed raw day its own days still read it, the
    sum of the declared look-backs along its longest path from raw."""

    @cache
    def reach(key: dg.AssetKey) -> int:
        node = asset_graph.get(key)
        longest = 0
        for parent in node.parent_keys:
            if not asset_graph.get(parent).is_partitioned:
                continue
            mapping = asset_graph.get_partition_mapping(key, parent)
            offset = -mapping.start_offset if isinstance(mapping, dg.TimeWindowPartitionMapping) else 0
            longest = max(longest, offset + reach(parent))
        return longest

    return {key: reach(key) for key in asset_graph.get_all_asset_keys()
            if tuple(key.path) in DERIVED and asset_graph.get(key).is_partitioned}


@dataclass(frozen=True)
class StaleDays:
    """Stored days after a run's range whose look-back reached into it, per table."""

    tables: dict[str, tuple[dt.date, dt.date]]  # qualified table -> (first, last) stale stored day

    @property
    def first(self) -> dt.date:
        return min(first for first, _ in self.tables.values())

    @property
    def last(self) -> dt.date:
        return max(last for _, last in self.tables.values())

    def describe(self) -> str:
        return "; ".join(f"{table} {first} to {last}" for table, (first, last) in sorted(self.tables.items()))


def stale_after(asset_graph, warehouse: Warehouse, end: dt.date) -> StaleDays | None:
    """The stored derived days in (end, end + the asset's reach]; None when there are none."""
    found = {}
    for key, reach in lookback_reach(asset_graph).items():
        spec: TableSpec = DERIVED[tuple(key.path)]
        if reach == 0 or not warehouse.exists(spec):
            continue
        column = spec.partition_column
        first, last = warehouse.query(
            f"SELECT min({column}), max({column}) FROM {spec.qualified} WHERE {column} > ? AND {column} <= ?",
            [end, end + dt.timedelta(days=reach)],
        ).row(0)
        if first is not None:
            found[spec.qualified] = (first, last)
    return StaleDays(found) if found else None


def derived_selection(asset_graph) -> list[dg.AssetKey]:
    """Every core and mart asset (the published copy included): what a rebuild from stored raw runs."""
    return sorted((key for key in asset_graph.get_all_asset_keys() if key.path[0] in ("core", "marts")),
                  key=lambda k: k.to_user_string())
