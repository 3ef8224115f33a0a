"""Query the published warehouse, read-only: `python -m warehouse.sql "SELECT ..."` (or `make sql Q=...`).

Prints a table, or CSV / JSON with --format. Only queries that read are accepted (SELECT, DESCRIBE, SHOW,
EXPLAIN); anything that would change data is refused before it reaches the database, which is opened
read-only as well.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import polars as pl

READ_ONLY_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class ReadOnlyError(ValueError):
    """The query would write; the message says which statement."""


def check_read_only(sql: str) -> None:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ReadOnlyError(f"could not parse the query: {exc}") from None
    if not statements:
        raise ReadOnlyError("no query given")
    for statement in statements:
        if statement.type not in READ_ONLY_STATEMENTS:
            kind = statement.type.name
            raise ReadOnlyError(
                f"refused: this command only reads the published warehouse, and the query contains a {kind} "
                f"statement ({statement.query.strip()[:60]!r}). Use SELECT."
            )


def run_query(sql: str, database: str | Path) -> pl.DataFrame:
    check_read_only(sql)
    path = Path(database)
    if not path.exists():
        raise FileNotFoundError(f"no published warehouse at {path}; run `make demo` first")
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).pl()


def default_database() -> Path:
    from pipelines.settings import load_settings

    from .serving import published_dir

    return published_dir(load_settings().warehouse_path) / "warehouse.duckdb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="warehouse-sql", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("query", help="a SELECT query, e.g. \"SELECT * FROM bi.anomaly_status\"")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--database", default=None, help="default: the published warehouse")
    args = parser.parse_args(argv)
    try:
        result = run_query(args.query, args.database or default_database())
    except (ReadOnlyError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except duckdb.Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.format == "csv":
        sys.stdout.write(result.write_csv())
    elif args.format == "json":
        sys.stdout.write(result.write_json() + "\n")
    else:
        with pl.Config(tbl_rows=100, tbl_cols=30, tbl_width_chars=200, fmt_str_lengths=60, tbl_hide_dataframe_shape=True):
            print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
