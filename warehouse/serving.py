"""What readers use: a published, read-only copy of the warehouse with stable `bi` views, and Parquet.

A DuckDB file open read-write in one process cannot be opened by any other, and a reader holding it open
blocks every writer. So BI tools and the SQL command never touch the pipeline's own file. After each
successful run the pipeline publishes:

- `<published>/warehouse.duckdb`: every table (with its comments) and the `bi` views. It is written to a
  temporary file, checkpointed, and renamed over the previous copy in one atomic step: a reader that has
  the old copy open keeps reading the old copy, a new connection gets the new one, nobody sees a mix.
- `<published>/parquet/current/<view>.parquet`: each `bi` view as Parquet. Each publish writes a new
  version folder and then swaps the `current` link atomically; the last few versions are kept.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

import polars as pl

from .schemas import (
    CORE_BASIS_DAILY,
    CORE_CORRELATION_DAILY,
    CORE_FUNDING_DAILY,
    CORE_PERP_QUARTERLY_SPREAD,
    CORE_RETURNS_DAILY,
    CORE_TABLES,
    MARTS_ANOMALY_DAILY,
    MARTS_ANOMALY_EPISODES,
    MARTS_ANOMALY_STATUS,
    MARTS_TABLES,
    RAW_TABLES,
    Column,
    TableSpec,
    ident,
)

BI_SCHEMA = "bi"
KEEP_PARQUET_VERSIONS = 3


@dataclass(frozen=True)
class View:
    name: str
    source: TableSpec
    description: str

    @property
    def qualified(self) -> str:
        return f"{BI_SCHEMA}.{self.name}"


# The stable interface: these names and columns do not change when internal tables are reorganised.
VIEWS = (
    View("anomaly_status", MARTS_ANOMALY_STATUS, "Live Table 1: one row per asset pair for the latest complete day."),
    View("anomaly_episodes", MARTS_ANOMALY_EPISODES, "Anomaly and context episodes: start, peak, end, severity, open or closed."),
    View("anomaly_daily", MARTS_ANOMALY_DAILY, "Every rule firing per day and subject, with its evidence."),
    View("correlations", CORE_CORRELATION_DAILY, "Short and baseline rolling correlations per pair, with labels."),
    View("perp_quarterly_spread", CORE_PERP_QUARTERLY_SPREAD, "Perpetual premium against the nearest quarterly: gap, carry, z-scores."),
    View("basis", CORE_BASIS_DAILY, "Basis of every dated future, the perpetual premium and the 90-day constant maturity."),
    View("funding", CORE_FUNDING_DAILY, "Daily funding per venue and perpetual: sum, APR, rolling means, z-score."),
    View("returns", CORE_RETURNS_DAILY, "Daily log returns on the crypto and traditional calendars."),
)
ALL_TABLES = (*RAW_TABLES, *CORE_TABLES, *MARTS_TABLES)

# Written into each snapshot: what was published when, so a reader can tell which run it is looking at.
PUBLICATION = TableSpec(
    BI_SCHEMA,
    "publication",
    "One row per published view of this snapshot: when it was published, its rows and its Parquet file.",
    (
        Column("view", pl.Utf8, "Qualified view name (bi.<name>)", False),
        Column("rows", pl.Int64, "Rows in the view at publish time", False),
        Column("first_date", pl.Date, "Earliest day in the view (date, as_of or episode start)"),
        Column("last_date", pl.Date, "Latest day in the view"),
        Column("parquet_file", pl.Utf8, "Parquet copy, relative to the published folder", False),
        Column("published_at", pl.Datetime, "Publish time, UTC", False),
    ),
    key=("view",),
    partition_column="published_at",
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(view: View) -> list[str]:
    columns = ", ".join(ident(c.name) for c in view.source.columns)
    statements = [
        f"CREATE SCHEMA IF NOT EXISTS {BI_SCHEMA}",
        f"CREATE OR REPLACE VIEW {view.qualified} AS SELECT {columns} FROM {view.source.qualified}",
        f"COMMENT ON VIEW {view.qualified} IS {_quote(view.description)}",
    ]
    statements += [
        f"COMMENT ON COLUMN {view.qualified}.{ident(c.name)} IS {_quote(c.description)}" for c in view.source.columns
    ]
    return statements


def build_interface(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table (empty if absent) and every view, with comments, on `con`."""
    for spec in ALL_TABLES:
        for statement in spec.create_sql():
            con.execute(statement)
    for view in VIEWS:
        for statement in view_sql(view):
            con.execute(statement)
    for statement in PUBLICATION.create_sql():
        con.execute(statement)


@dataclass(frozen=True)
class Published:
    database: Path
    parquet: Path
    rows: dict[str, int]
    published_at: dt.datetime


def published_dir(warehouse_path: str | Path) -> Path:
    return Path(warehouse_path).parent / "published"


def publish(warehouse_path: str | Path, target: str | Path | None = None) -> Published:
    """Copy the warehouse into a new read-only snapshot and Parquet files, then swap them in atomically."""
    source = Path(warehouse_path)
    target = Path(target) if target else published_dir(source)
    target.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc)
    version = f"{stamp:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    temporary = target / f".warehouse-{version}.duckdb"
    rows: dict[str, int] = {}
    snapshot = duckdb.connect(str(temporary))
    try:
        build_interface(snapshot)
        snapshot.execute(f"ATTACH {_quote(str(source))} AS live (READ_ONLY)")
        for spec in ALL_TABLES:
            exists = snapshot.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'live' AND schema_name = ? AND table_name = ?",
                [spec.schema, spec.name],
            ).fetchone()[0]
            if exists:
                columns = ", ".join(ident(c) for c in spec.column_names)
                snapshot.execute(f"INSERT INTO {spec.qualified} ({columns}) SELECT {columns} FROM live.{spec.qualified}")
            rows[spec.qualified] = snapshot.execute(f"SELECT count(*) FROM {spec.qualified}").fetchone()[0]
        snapshot.execute("DETACH live")
        parquet_version = target / "parquet" / version
        parquet_version.mkdir(parents=True)
        for view in VIEWS:
            snapshot.execute(
                f"COPY (SELECT * FROM {view.qualified}) TO {_quote(str(parquet_version / (view.name + '.parquet')))} "
                "(FORMAT parquet)"
            )
            day = ident(view.source.partition_column)
            snapshot.execute(
                f"INSERT INTO {PUBLICATION.qualified} SELECT ?, count(*), CAST(min({day}) AS DATE), "
                f"CAST(max({day}) AS DATE), ?, ? FROM {view.qualified}",
                [view.qualified, f"parquet/current/{view.name}.parquet", stamp.replace(tzinfo=None)],
            )
        snapshot.execute("CHECKPOINT")
    except BaseException:
        snapshot.close()
        temporary.unlink(missing_ok=True)
        raise
    snapshot.close()
    database = target / "warehouse.duckdb"
    os.replace(temporary, database)  # atomic: a reader sees the old file or the new one
    current = target / "parquet" / "current"
    link = target / "parquet" / f".current-{version}"
    link.symlink_to(version, target_is_directory=True)
    os.replace(link, current)
    _prune(target / "parquet")
    return Published(database=database, parquet=current, rows=rows, published_at=stamp)


def _prune(parquet_root: Path) -> None:
    versions = sorted(p for p in parquet_root.iterdir() if p.is_dir() and not p.is_symlink())
    for old in versions[:-KEEP_PARQUET_VERSIONS]:
        shutil.rmtree(old, ignore_errors=True)
