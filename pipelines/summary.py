"""What the CLI prints about the warehouse: row counts and dates per table, the live Table 1 and the most recent
anomaly episodes. It reads the published read-only copy, never the pipeline's own file, so it can run while
the pipeline writes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

TABLES_SQL = (
    "SELECT table_schema, table_name FROM information_schema.tables "
    "WHERE table_schema IN ('raw', 'core', 'marts') AND table_type = 'BASE TABLE' ORDER BY 1, 2"
)


def table_counts(database: Path) -> str:
    """Row counts and date ranges of every warehouse table."""
    if not database.exists():
        return f"nothing published yet at {database}; run `make demo`"
    lines = [f"Warehouse {database}", f"{'table':<32}{'rows':>10}  dates"]
    with duckdb.connect(str(database), read_only=True) as con:
        for schema, name in con.execute(TABLES_SQL).fetchall():
            columns = {row[0] for row in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                [schema, name]).fetchall()}
            date_col = next((c for c in ("date", "snapshot_date") if c in columns), None)
            span = f"min({date_col}), max({date_col})" if date_col else "NULL, NULL"
            count, first, last = con.execute(f"SELECT count(*), {span} FROM {schema}.{name}").fetchone()
            dates = f"{first} to {last}" if first else ""
            lines.append(f"{schema + '.' + name:<32}{count:>10}  {dates}")
    return "\n".join(lines)


def anomaly_report(database: Path, recent: int = 8) -> str:
    """The live Table 1 and the most recent anomaly episodes."""
    if not database.exists():
        return ""
    with duckdb.connect(str(database), read_only=True) as con:
        status = con.execute(
            "SELECT asset_pair, round(typical_correlation, 2) AS typical, typical_label, "
            "round(current_correlation, 2) AS current, current_label, active, active_codes, active_since, "
            "round(severity, 1) AS severity FROM marts.anomaly_status ORDER BY row"
        ).pl()
        as_of = con.execute("SELECT max(as_of) FROM marts.anomaly_status").fetchone()[0]
        episodes = con.execute(
            """SELECT code, subject, start, "end", days, round(peak_severity, 1) AS peak, open
               FROM marts.anomaly_episodes WHERE kind = 'anomaly' ORDER BY "end" DESC, start DESC LIMIT ?""",
            [recent],
        ).pl()
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_width_chars=160, fmt_str_lengths=40, tbl_rows=recent):
        return "\n".join([
            f"\nAnomaly status (Table 1) as of {as_of}:",
            str(status),
            "\nMost recent anomaly episodes:",
            str(episodes),
        ])
