"""Generate the data dictionary (docs/data_dictionary.md) from the comments of the `bi` views.

`python -m warehouse.dictionary` rewrites the file; a test fails when it is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from .serving import BI_SCHEMA, PUBLICATION, VIEWS, build_interface

DICTIONARY = Path(__file__).resolve().parents[1] / "docs" / "data_dictionary.md"


def render() -> str:
    con = duckdb.connect()
    build_interface(con)
    lines = [
        "# Data dictionary",
        "",
        "The stable interface for SQL users and BI tools: the views of schema `bi` in the published warehouse",
        "(`data/published/warehouse.duckdb`, read-only) and their Parquet copies",
        "(`data/published/parquet/current/<view>.parquet`). Generated from the column comments by",
        "`python -m warehouse.dictionary`; do not edit by hand.",
        "",
    ]
    for view in VIEWS:
        comment = con.execute(
            "SELECT comment FROM duckdb_views() WHERE schema_name = ? AND view_name = ?", [BI_SCHEMA, view.name]
        ).fetchone()[0]
        public = {c.source_column: c.name for c in view.columns}
        lines += _section(con, view.name, comment, f"Source table: `{view.table.qualified}`. Key: "
                          + ", ".join(f"`{public[k]}`" for k in view.table.key) + ".")
    comment = con.execute(
        "SELECT comment FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [BI_SCHEMA, PUBLICATION.name]
    ).fetchone()[0]
    lines += _section(con, PUBLICATION.name, comment, "A table written by each publish, not a view.")
    con.close()
    return "\n".join(lines)


def _section(con: duckdb.DuckDBPyConnection, name: str, comment: str, note: str) -> list[str]:
    columns = con.execute(
        "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
        "ORDER BY column_index",
        [BI_SCHEMA, name],
    ).fetchall()
    return [f"## `{BI_SCHEMA}.{name}`", "", comment, "", note, "", "| column | type | description |", "|---|---|---|",
            *(f"| `{column}` | {dtype} | {(text or '').replace('|', '/')} |" for column, dtype, text in columns), ""]


def main() -> int:
    DICTIONARY.parent.mkdir(exist_ok=True)
    DICTIONARY.write_text(render())
    print(f"wrote {DICTIONARY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
