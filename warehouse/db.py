"""DuckDB access: create tables from their specs, replace a window of partitions atomically, read back.

A write for [start, end) deletes exactly those rows and inserts the new ones in one transaction: a
partition is replaced whole or not at all, and re-running a day gives identical tables.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import duckdb
import polars as pl

from .schemas import TableSpec, ident


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, **frames: pl.DataFrame) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction on `con`, with `frames` registered under their names for its statements: committed when the
    block ends, rolled back (and the error raised) when it raises, so a window is written whole or not at all; the
    frames are unregistered either way."""
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in frames:
            con.unregister(name)


class WarehouseError(RuntimeError):
    """Rows that cannot be stored; the message names the table, the instrument and the date."""


def conform(frame: pl.DataFrame, spec: TableSpec, source: str) -> pl.DataFrame:
    """Columns in spec order and types, required values present, keys unique; else a clear error."""
    missing = [c for c in spec.column_names if c not in frame.columns]
    if missing:
        raise WarehouseError(f"{source} -> {spec.qualified}: missing column(s) {missing}")
    try:
        out = frame.select(
            pl.col(name).cast(dtype, strict=True) for name, dtype in spec.polars_schema.items()
        )
    except pl.exceptions.PolarsError as exc:
        raise WarehouseError(f"{source} -> {spec.qualified}: a column has the wrong type: {exc}") from None
    for column in spec.columns:
        if column.nullable:
            continue
        bad = out.filter(pl.col(column.name).is_null() | _is_nan(out, column.name))
        if bad.height:
            raise WarehouseError(
                f"{source} -> {spec.qualified}: {bad.height} row(s) without {column.name}, first: {describe_row(bad.row(0, named=True))}"
            )
    duplicated = out.filter(out.select(spec.key).is_duplicated())
    if duplicated.height:
        raise WarehouseError(
            f"{source} -> {spec.qualified}: {duplicated.height} rows share a key {list(spec.key)}, first: "
            f"{describe_row(duplicated.row(0, named=True))}"
        )
    return out


def _is_nan(frame: pl.DataFrame, name: str) -> pl.Expr:
    return pl.col(name).is_nan() if frame.schema[name].is_float() else pl.lit(False)


def describe_row(row: dict) -> str:
    """The identifying part of a row: source, instrument and date first."""
    keys = ("venue", "symbol", "series", "ticker", "date", "snapshot_date", "funding_ts")
    parts = [f"{k}={row[k]}" for k in keys if k in row and row[k] is not None]
    return ", ".join(parts) or str(row)


# The pipeline's own connections (the writer's and the publisher's). DuckDB keeps memory it allocated for reuse up to
# its memory limit (by default 80% of the machine's RAM) and gives each connection a thread per core, so a run over
# years of days would hold far more than its tables need: they are small beside this limit (beyond it DuckDB spills
# to disk), and on tables this size one thread is as fast as several.
PIPELINE_CONNECTION_CONFIG = {"memory_limit": "256MB", "threads": 1}


# Tables whose DDL (CREATE, COMMENT, ALTER ... ADD COLUMN) already ran in this process, per warehouse file (its
# path and inode, so a file deleted and written again is set up again). The DDL is idempotent but costs a
# catalog write on every call; once per process and file is enough.
_ensured: set[tuple[str, int, str]] = set()


class Warehouse:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._session: duckdb.DuckDBPyConnection | None = None
        self._session_read_only = False

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the file; inside `session()` the session's own (a read-write one serves reads too)."""
        if self._session is not None:
            if self._session_read_only and not read_only:
                raise WarehouseError(f"{self.path}: a write inside a read-only session")
            yield self._session
            return
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path), read_only=read_only, config=dict(PIPELINE_CONNECTION_CONFIG))
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator["Warehouse"]:
        """Keep one connection open for several reads and writes (opening the file costs more than reading a
        day); closed at the end, so other processes can open the file again."""
        if self._session is not None or (read_only and not self.path.exists()):
            yield self
            return
        with self.connect(read_only=read_only) as con:
            self._session, self._session_read_only = con, read_only
            try:
                yield self
            finally:
                self._session, self._session_read_only = None, False

    def ensure(self, specs: Sequence[TableSpec]) -> None:
        pending = [spec for spec in specs if self._ensure_key(spec) not in _ensured]
        if not pending:
            return
        with self.connect() as con:
            for spec in pending:
                for statement in spec.create_sql():
                    con.execute(statement)
        _ensured.update(self._ensure_key(spec) for spec in pending)

    def _ensure_key(self, spec: TableSpec) -> tuple[str, int, str]:
        inode = self.path.stat().st_ino if self.path.exists() else -1
        return str(self.path.resolve()), inode, spec.qualified

    def replace_window(
        self, spec: TableSpec, frame: pl.DataFrame, start: dt.date, end: dt.date, source: str
    ) -> int:
        """Replace the rows of [start, end) (on the spec's partition column) with `frame`, atomically."""
        rows = conform(frame, spec, source)
        column = spec.partition_column
        outside = rows.filter((pl.col(column) < start) | (pl.col(column) >= end))
        if outside.height:
            raise WarehouseError(
                f"{source} -> {spec.qualified}: {outside.height} row(s) outside the window {start} to {end}, "
                f"first: {describe_row(outside.row(0, named=True))}"
            )
        return self._replace(spec, rows, f"{ident(column)} >= ? AND {ident(column)} < ?", [start, end])

    def replace_all(self, spec: TableSpec, frame: pl.DataFrame, source: str) -> int:
        """Replace the whole table with `frame`, atomically (for tables rebuilt from history each run)."""
        return self._replace(spec, conform(frame, spec, source), "true", [])

    def _replace(self, spec: TableSpec, rows: pl.DataFrame, where: str, params: list) -> int:
        """DELETE the rows matching `where` and INSERT `rows`, in one transaction."""
        columns = ", ".join(ident(c) for c in spec.column_names)
        with self.session(), self.connect() as con:
            self.ensure([spec])
            with transaction(con, incoming=rows):
                con.execute(f"DELETE FROM {spec.qualified} WHERE {where}", params)
                con.execute(f"INSERT INTO {spec.qualified} ({columns}) SELECT {columns} FROM incoming")
        return rows.height

    def read_window(
        self, spec: TableSpec, start: dt.date | None = None, end: dt.date | None = None
    ) -> pl.DataFrame:
        """Rows of [start, end) on the partition column (all rows when unbounded), in key order."""
        where, params = [], []
        if start is not None:
            where.append(f"{ident(spec.partition_column)} >= ?")
            params.append(start)
        if end is not None:
            where.append(f"{ident(spec.partition_column)} < ?")
            params.append(end)
        sql = f"SELECT * FROM {spec.qualified}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY " + ", ".join(ident(k) for k in spec.key)
        if not self.path.exists():
            return pl.DataFrame(schema=spec.polars_schema)
        with self.connect(read_only=True) as con:
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [spec.schema, spec.name],
            ).fetchone()[0]
            if not exists:
                return pl.DataFrame(schema=spec.polars_schema)
            return con.execute(sql, params).pl().cast(spec.polars_schema)

    def exists(self, spec: TableSpec) -> bool:
        """Whether the table has been created (by a first write) in this warehouse file."""
        if not self.path.exists():
            return False
        with self.connect(read_only=True) as con:
            return con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [spec.schema, spec.name],
            ).fetchone()[0] > 0

    def query(self, sql: str, params: Sequence | None = None) -> pl.DataFrame:
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).pl()
