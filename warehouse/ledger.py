"""The coverage ledger: every hole in the raw tables, and writing a raw window together with its holes.

A raw window is written with `replace_window_with_ledger`: in one transaction the window's rows are replaced,
rows found bad after they were stored (a price spike revealed by the next day) are removed, and the ledger
entries of the window's days are brought up to date (`merge_ledger`). Either all of it lands or none.

Ledger rules (`merge_ledger`), per table, subject and day:
- a hole seen now that was not recorded: a new entry, attempts 1;
- a hole seen now that was recorded: its status and reason are the latest, `first_seen` stays, attempts + 1;
- a recorded open hole of the window's days that is no longer a hole: resolved, `late-arrived` when it was
  missing or an outage (the source delivered later), `filled` when it was quarantined or failed (asked again,
  it passed); attempts + 1;
- resolved entries are kept as they are until the day is a hole again.

A step of the pipeline that fails is a hole of its own (`record_failed_step`): status `failed`, the table and
subject name the step's asset, the reason is the first line of its error, one entry per day of the run's
window, by the same rules (a day failing again counts one more attempt; the step succeeding later for the
day resolves it as `filled`, `resolve_failed_step`).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from .db import Warehouse, conform, describe_row, transaction
from .schemas import LEDGER_OPEN_STATUSES, RAW_COVERAGE_LEDGER, TableSpec, ident

# What the raw layer reports for a window: one row per hole seen in this run.
OBSERVED_SCHEMA = {"table": pl.Utf8, "subject": pl.Utf8, "date": pl.Date, "status": pl.Utf8, "reason": pl.Utf8}


def observed(rows: list[dict] | None = None) -> pl.DataFrame:
    return pl.DataFrame(rows or [], schema=OBSERVED_SCHEMA)


def merge_ledger(existing: pl.DataFrame, seen: pl.DataFrame, table: str, days: list[dt.date],
                 now: dt.datetime) -> pl.DataFrame:
    """The ledger entries of `table` that this run decides: those on `days` (the window) plus any hole seen
    outside them (a stored day found bad). `existing`: the stored entries of `table` on the same days;
    `seen`: the holes this run saw (OBSERVED_SCHEMA). Returns rows of RAW_COVERAGE_LEDGER."""
    key = ["table", "subject", "date"]
    decided_days = set(days) | set(seen["date"].to_list())
    before = existing.filter((pl.col("table") == table) & pl.col("date").is_in(list(decided_days)))
    now_col = pl.lit(now, dtype=pl.Datetime("us"))
    joined = seen.join(before.rename({"status": "old_status", "reason": "old_reason"}), on=key, how="full",
                       coalesce=True)
    was_open = pl.col("old_status").is_in(list(LEDGER_OPEN_STATUSES))
    is_hole = pl.col("status").is_not_null()
    merged = joined.with_columns(
        status=pl.when(is_hole).then(pl.col("status"))
        .when(was_open & pl.col("old_status").is_in(["quarantined", "failed"])).then(pl.lit("filled"))
        .when(was_open).then(pl.lit("late-arrived"))
        .otherwise(pl.col("old_status")),
        reason=pl.when(is_hole).then(pl.col("reason"))
        .when(was_open).then(pl.lit("was ") + pl.col("old_status") + ": " + pl.col("old_reason").fill_null(""))
        .otherwise(pl.col("old_reason")),
        first_seen=pl.col("first_seen").fill_null(now_col),
        last_attempt=pl.when(is_hole | was_open).then(now_col).otherwise(pl.col("last_attempt")),
        attempts=pl.when(is_hole | was_open).then(pl.col("attempts").fill_null(0) + 1).otherwise(pl.col("attempts")),
    )
    return merged.select(RAW_COVERAGE_LEDGER.column_names).cast(RAW_COVERAGE_LEDGER.polars_schema).sort(key)


def read_ledger(warehouse: Warehouse, table: str | None = None, first: dt.date | None = None,
                end: dt.date | None = None) -> pl.DataFrame:
    """Stored ledger entries (of `table`, on [first, end)), empty when there is no ledger yet."""
    frame = warehouse.read_window(RAW_COVERAGE_LEDGER, first, end)
    return frame.filter(pl.col("table") == table) if table else frame


def replace_window_with_ledger(warehouse: Warehouse, spec: TableSpec, frame: pl.DataFrame, start: dt.date,
                               end: dt.date, source: str, seen: pl.DataFrame, removed: pl.DataFrame,
                               now: dt.datetime | None = None) -> tuple[int, pl.DataFrame]:
    """Replace [start, end) of `spec` with `frame`, delete the stored rows in `removed` (columns: the table's
    partition column and `subject`, matched with `subject_of(spec)`), and merge the ledger entries of the
    window's days, all in one transaction. Returns the rows written and the ledger entries decided."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = conform(frame, spec, source)
    column = spec.partition_column
    outside = rows.filter((pl.col(column) < start) | (pl.col(column) >= end))
    if outside.height:
        raise ValueError(f"{source} -> {spec.qualified}: {outside.height} row(s) outside the window {start} to {end}, "
                         f"first: {describe_row(outside.row(0, named=True))}")
    days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
    decided = merge_ledger(read_ledger(warehouse, spec.qualified), seen, spec.qualified, days, now)
    warehouse.ensure([spec, RAW_COVERAGE_LEDGER])
    columns = ", ".join(ident(c) for c in spec.column_names)
    ledger_columns = ", ".join(ident(c) for c in RAW_COVERAGE_LEDGER.column_names)
    decided_days = sorted(set(days) | set(decided["date"].to_list()))
    removed = removed.select(day=pl.col(column), subject="subject")
    with warehouse.connect() as con:
        with transaction(con, incoming=rows, decided=decided, removed=removed):
            con.execute(f"DELETE FROM {spec.qualified} WHERE {ident(column)} >= ? AND {ident(column)} < ?", [start, end])
            con.execute(f"INSERT INTO {spec.qualified} ({columns}) SELECT {columns} FROM incoming")
            con.execute(f"DELETE FROM {spec.qualified} t USING removed r "
                        f"WHERE t.{ident(column)} = r.day AND {subject_sql(spec, 't')} = r.subject")
            con.execute(f"DELETE FROM {RAW_COVERAGE_LEDGER.qualified} WHERE {ident('table')} = ? "
                        f"AND {ident('date')} IN (SELECT unnest(?::DATE[]))", [spec.qualified, decided_days])
            con.execute(f"INSERT INTO {RAW_COVERAGE_LEDGER.qualified} ({ledger_columns}) "
                        f"SELECT {ledger_columns} FROM decided")
    return rows.height, decided


def record_failed_step(warehouse: Warehouse, table: str, subject: str, days: list[dt.date], reason: str,
                       now: dt.datetime | None = None) -> pl.DataFrame:
    """Record that the step of asset `subject` (table `table`) failed for `days`: a `failed` entry per day, one
    more attempt where the day was recorded before. Returns the entries written."""
    seen = observed([{"table": table, "subject": subject, "date": day, "status": "failed", "reason": reason}
                     for day in days])
    return _write_step_entries(warehouse, table, subject, seen, days, now, open_only=False)


def resolve_failed_step(warehouse: Warehouse, table: str, subject: str, days: list[dt.date] | None,
                        now: dt.datetime | None = None) -> pl.DataFrame:
    """The step of asset `subject` succeeded for `days` (None: for every day, an asset rebuilt whole): its
    `failed` entries there are resolved as `filled`. Returns the entries written (none when nothing was open)."""
    return _write_step_entries(warehouse, table, subject, observed(), days, now, open_only=True)


def subjects_with_failed_steps(warehouse: Warehouse) -> set[str]:
    """The assets (subjects) with open `failed` entries; none when there is no ledger yet."""
    if not warehouse.exists(RAW_COVERAGE_LEDGER):
        return set()
    with warehouse.connect() as con:
        rows = con.execute(f"SELECT DISTINCT subject FROM {RAW_COVERAGE_LEDGER.qualified} WHERE status = 'failed'").fetchall()
    return {subject for (subject,) in rows}


def _write_step_entries(warehouse: Warehouse, table: str, subject: str, seen: pl.DataFrame,
                        days: list[dt.date] | None, now: dt.datetime | None, open_only: bool) -> pl.DataFrame:
    """Merge the entries of one step's asset on `days` (the merge rules above) and replace them in one
    transaction; the ledger's other subjects are left as they are."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    existing = read_ledger(warehouse, table).filter(pl.col("subject") == subject)
    if open_only:
        existing = existing.filter(pl.col("status") == "failed")
        if days is not None:
            existing = existing.filter(pl.col("date").is_in(days))
        if existing.height == 0:
            return existing
    decided = merge_ledger(existing, seen, table, days if days is not None else existing["date"].to_list(), now)
    warehouse.ensure([RAW_COVERAGE_LEDGER])
    ledger_columns = ", ".join(ident(c) for c in RAW_COVERAGE_LEDGER.column_names)
    with warehouse.connect() as con:
        with transaction(con, decided=decided):
            con.execute(f"DELETE FROM {RAW_COVERAGE_LEDGER.qualified} WHERE {ident('table')} = ? AND subject = ? "
                        f"AND {ident('date')} IN (SELECT unnest(?::DATE[]))",
                        [table, subject, decided["date"].to_list()])
            con.execute(f"INSERT INTO {RAW_COVERAGE_LEDGER.qualified} ({ledger_columns}) "
                        f"SELECT {ledger_columns} FROM decided")
    return decided


# The subject a raw row belongs to in the ledger: what is quarantined together.
_SUBJECT_COLUMNS = {
    "raw.traditional_ohlcv": ("series",),
    "raw.crypto_ohlcv": ("venue", "symbol"),
    "raw.funding": ("venue", "symbol"),
    "raw.instruments": ("venue", "symbol"),
}


def subject_columns(spec: TableSpec) -> tuple[str, ...]:
    return _SUBJECT_COLUMNS[spec.qualified]


def subject_of(spec: TableSpec) -> pl.Expr:
    """The ledger subject of a row of `spec` as a polars expression (series, or venue:symbol)."""
    parts = [pl.col(c) for c in subject_columns(spec)]
    return pl.concat_str(parts, separator=":") if len(parts) > 1 else parts[0]


def subject_sql(spec: TableSpec, alias: str) -> str:
    return " || ':' || ".join(f"{alias}.{ident(c)}" for c in subject_columns(spec))
