"""Query a published warehouse, read-only: `warehouse-sql "SELECT ..."` (or `make sql Q=...`).

Prints a table, or CSV / JSON with --format. DuckDB itself keeps the query inside the published file: it is
opened read-only, with access to every other file disabled and the configuration locked, so no statement
can write, read another file, attach a database, load an extension or change a setting. A query that is not
a SELECT (or EXPLAIN) is refused first, with a message that says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import polars as pl

from .serving import connect_published

READ_ONLY_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class ReadOnlyError(ValueError):
    """The query would write, or reach outside the published warehouse; the message says which."""


def check_read_only(sql: str) -> None:
    """Refuse anything but SELECT and EXPLAIN, naming the statement (a clearer message than DuckDB's own)."""
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
    with connect_published(database) as con:
        try:
            return con.execute(sql).pl()
        except duckdb.PermissionException as exc:
            raise ReadOnlyError(
                f"refused: this command reads only the tables and views of the published warehouse; "
                f"files, other databases and extensions are out of reach ({str(exc).splitlines()[0]})"
            ) from None
        except duckdb.InvalidInputException as exc:
            if "read-only" in str(exc) or "configuration has been locked" in str(exc):
                raise ReadOnlyError(f"refused: {str(exc).splitlines()[0]}") from None
            raise


def main(argv: list[str] | None = None, database: str | Path | None = None) -> int:
    """The command line; `database` is the published file to query unless --database names another."""
    parser = argparse.ArgumentParser(prog="warehouse-sql", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("query", help="a SELECT query, e.g. \"SELECT * FROM bi.anomaly_status\"")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--database", default=database, required=database is None,
                        help="the published warehouse file" + (f" (default: {database})" if database else ""))
    args = parser.parse_args(argv)
    try:
        result = run_query(args.query, args.database)
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
