"""Readers of the published warehouse: the SQL command is sandboxed by DuckDB itself, BI tools can reflect the
`bi` views through SQLAlchemy, and `make sql` starts without Dagster."""

import datetime as dt
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy

from warehouse.db import Warehouse
from warehouse.serving import connect_published, publish
from warehouse.sql import ReadOnlyError, main as sql_main, run_query

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("publish_bench", ROOT / "bench" / "publish.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("published")
    wh = Warehouse(folder / "warehouse.duckdb")
    start = dt.date(2025, 1, 1)
    bench.fill(wh, start, start, dt.date(2025, 2, 1), seed=1)
    (folder / "secret.csv").write_text("a,b\n1,2\n")
    return publish(wh.path).database


# Each reaches outside the published file; DuckDB refuses every one (the keyword check lets them through).
ESCAPES = [
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}'",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM read_parquet('{parquet}')",
    "SELECT * FROM glob('/')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
]
# Refused before they reach the database, with a message naming the statement.
REFUSED_STATEMENTS = [
    "ATTACH '{out}' AS other", "ATTACH ':memory:' AS scratch", "INSTALL httpfs", "LOAD httpfs",
    "SET enable_external_access = true", "RESET lock_configuration", "CREATE TEMP TABLE t AS SELECT 1",
    "DELETE FROM bi.basis", "INSERT INTO raw.funding SELECT * FROM raw.funding", "COPY raw.funding TO '{out}'",
    "EXPORT DATABASE '{folder}'", "SELECT 1; UPDATE raw.funding SET rate = 0", "CHECKPOINT", "PRAGMA enable_profiling",
]


def fill_in(query: str, published: Path, tmp_path: Path) -> str:
    return query.format(out=tmp_path / "written.csv", secret=published.parent.parent / "secret.csv",
                        parquet=published.parent / "parquet" / "current" / "basis.parquet", folder=tmp_path / "export")


@pytest.mark.parametrize("query", ESCAPES)
def test_duckdb_itself_refuses_every_file_access(published, tmp_path, query):
    query = fill_in(query, published, tmp_path)
    with pytest.raises(ReadOnlyError, match="files, other databases and extensions are out of reach"):
        run_query(query, published)
    assert not (tmp_path / "written.csv").exists()


@pytest.mark.parametrize("query", REFUSED_STATEMENTS)
def test_statements_that_are_not_reads_are_refused(published, tmp_path, query):
    with pytest.raises(ReadOnlyError, match="refused"):
        run_query(fill_in(query, published, tmp_path), published)
    assert not (tmp_path / "written.csv").exists() and not (tmp_path / "export").exists()


@pytest.mark.parametrize("statement", ["ATTACH '{out}' AS other", "INSTALL httpfs", "LOAD httpfs",
                                       "SET enable_external_access = true", "SET memory_limit = '1GB'",
                                       "CREATE TABLE bi.t AS SELECT 1", "COPY raw.funding TO '{out}'",
                                       "SELECT * FROM read_text('/etc/passwd')"])
def test_the_connection_itself_refuses_without_the_keyword_check(published, tmp_path, statement):
    """The sandbox does not depend on the keyword check: the raw connection refuses too."""
    with connect_published(published) as con, pytest.raises(duckdb.Error):
        con.execute(fill_in(statement, published, tmp_path))
    assert not (tmp_path / "written.csv").exists()


def test_a_column_named_like_a_keyword_can_be_queried(published, capsys):
    assert sql_main(['SELECT "end", "start" FROM bi.anomaly_episodes ORDER BY "start" LIMIT 1', "--format", "csv"],
                    database=published) == 0
    assert capsys.readouterr().out.startswith("end,start\n")


def test_make_sql_passes_the_query_as_typed_and_imports_no_dagster(published, tmp_path):
    """Through the Makefile (quotes in Q), with the settings pointing at the warehouse the copy was published from."""
    env = {**os.environ, "WAREHOUSE_DB": str(published.parent.parent / "warehouse.duckdb"),
           "PYTHONPATH": str(ROOT), "PYTHONPROFILEIMPORTTIME": "1"}
    env.pop("MARKET_SETTINGS", None)
    done = subprocess.run(
        ["make", "-s", "-o", "install", "sql", f"BIN={Path(sys.executable).parent}", "FORMAT=csv",
         """Q=SELECT "end", 'it''s' AS quoted FROM bi.anomaly_episodes ORDER BY "end" LIMIT 1"""],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("end,quoted\n") and done.stdout.splitlines()[1].endswith(",it's")
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert {"pipelines.settings", "warehouse.sql"} <= {name.strip() for name in imported}
    assert not [name for name in imported if name.split(".")[0] == "dagster"]


def test_sqlalchemy_reflects_the_bi_views(published):
    engine = sqlalchemy.create_engine(f"duckdb:///{published}", connect_args={"read_only": True})
    try:
        inspector = sqlalchemy.inspect(engine)
        assert "anomaly_status" in inspector.get_view_names(schema="bi")
        assert "publication" in inspector.get_table_names(schema="bi")
        assert "crypto_ohlcv" in inspector.get_table_names(schema="raw")
        columns = {c["name"]: c for c in inspector.get_columns("anomaly_status", schema="bi")}
        assert list(columns)[:4] == ["row", "asset_pair", "pair", "as_of"]
        assert isinstance(columns["active"]["type"], sqlalchemy.Boolean)
        assert isinstance(columns["as_of"]["type"], sqlalchemy.Date)
        episodes = sqlalchemy.Table("anomaly_episodes", sqlalchemy.MetaData(), schema="bi", autoload_with=engine)
        with engine.connect() as con:
            frame = pd.read_sql(sqlalchemy.select(episodes.c.end).order_by(episodes.c.end.desc()).limit(1), con)
            status = pd.read_sql("SELECT asset_pair, active FROM bi.anomaly_status ORDER BY row", con)
    finally:
        engine.dispose()
    assert list(frame.columns) == ["end"] and len(frame) == 1
    assert len(status) == 3 and list(status.columns) == ["asset_pair", "active"]


def test_the_duckdb_client_reads_it_read_only(published):
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM bi.anomaly_status").fetchone()[0] == 3
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("DELETE FROM raw.funding")
