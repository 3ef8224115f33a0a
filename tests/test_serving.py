"""Readers of the published warehouse never block the pipeline and never see a half-finished run."""

import datetime as dt
import json
import subprocess
import sys
import time

import dagster as dg
import duckdb
import polars as pl
import pytest
import sqlalchemy

from pipelines.run import materialize_range
from pipelines.settings import load_settings
from warehouse import dictionary
from warehouse.serving import published_dir
from warehouse.sql import ReadOnlyError, check_read_only, main as sql_main

FIRST = (dt.date(2025, 6, 1), dt.date(2025, 6, 20))
SECOND_END = dt.date(2025, 7, 10)

STATE_SQL = [
    "SELECT CAST(max(date) AS VARCHAR), count(*) FROM raw.crypto_ohlcv",
    "SELECT CAST(max(as_of) AS VARCHAR) FROM marts.anomaly_status",
    "SELECT count(*) FROM bi.returns",
]

READER = f"""
import duckdb, json, pathlib, sys, time
db, mode, ready, stop, out = sys.argv[1:]
queries = {STATE_SQL!r}
def state(con):
    con.execute("BEGIN TRANSACTION")
    values = []
    for q in queries:
        values += list(con.execute(q).fetchone())
        time.sleep(0.01)
    con.execute("COMMIT")
    return values
seen = []
held = duckdb.connect(db, read_only=True) if mode == "hold" else None
while not pathlib.Path(stop).exists():
    if held is not None:
        seen.append(state(held))
    else:
        con = duckdb.connect(db, read_only=True)
        seen.append(state(con))
        con.close()
    pathlib.Path(ready).touch()
    time.sleep(0.02)
json.dump(seen, open(out, "w"))
"""


def state_of(db) -> list:
    with duckdb.connect(str(db), read_only=True) as con:
        return [v for q in STATE_SQL for v in con.execute(q).fetchone()]


@pytest.fixture
def published(warehouse_path):
    instance = dg.DagsterInstance.ephemeral()
    assert materialize_range(*FIRST, load_settings(), instance=instance).success
    return published_dir(warehouse_path) / "warehouse.duckdb", instance


@pytest.mark.slow
def test_a_reader_holding_the_published_warehouse_open_does_not_block_a_run(published, tmp_path):
    """One process keeps a connection open all along (a BI tool left open), another reconnects again and
    again; both read while a full run writes and publishes."""
    db, instance = published
    before = state_of(db)
    readers = {}
    for mode in ("hold", "poll"):
        files = [tmp_path / f"{mode}.{name}" for name in ("ready", "stop", "json")]
        process = subprocess.Popen([sys.executable, "-c", READER, str(db), mode, *map(str, files)])
        readers[mode] = (process, *files)
    try:
        deadline = time.time() + 30
        while not all(r[1].exists() for r in readers.values()) and time.time() < deadline:
            time.sleep(0.05)
        assert all(r[1].exists() for r in readers.values()), "a reader never started"
        assert materialize_range(FIRST[0], SECOND_END, load_settings(), instance=instance).success
        time.sleep(0.5)  # let the polling reader open the new copy a few times
    finally:
        for process, _, stop, _ in readers.values():
            stop.touch()
        for process, *_ in readers.values():
            process.wait(timeout=60)
    after = state_of(db)
    assert before != after and after[0] == str(SECOND_END)
    polled = json.loads(readers["poll"][3].read_text())
    # Every observation is one whole published state: first the old, then the new, never a mix.
    assert all(s in (before, after) for s in polled), [s for s in polled if s not in (before, after)][:3]
    assert polled[0] == before and polled[-1] == after
    assert all(s == after for s in polled[polled.index(after):])
    # The connection held open all along kept its consistent copy of the old state.
    held = json.loads(readers["hold"][3].read_text())
    assert held and all(s == before for s in held)


def test_sqlalchemy_reads_anomaly_status_through_duckdb_engine(published):
    db, _ = published
    engine = sqlalchemy.create_engine(f"duckdb:///{db}", connect_args={"read_only": True})
    with engine.connect() as con:
        rows = con.execute(sqlalchemy.text("SELECT asset_pair, active FROM marts.anomaly_status ORDER BY row")).fetchall()
    engine.dispose()
    assert [r[0] for r in rows] == ["BTC perpetual vs BTC quarterly", "BTC vs gold", "BTC vs Nasdaq"]


def test_the_parquet_copy_matches_the_views(published):
    db, _ = published
    parquet = db.parent / "parquet" / "current"
    status = pl.read_parquet(parquet / "anomaly_status.parquet")
    with duckdb.connect(str(db), read_only=True) as con:
        assert status.equals(con.execute("SELECT * FROM bi.anomaly_status").pl())
    assert {p.stem for p in parquet.iterdir()} >= {"anomaly_status", "anomaly_episodes", "anomaly_daily", "correlations"}


@pytest.mark.parametrize("query", ["DELETE FROM bi.basis", "DROP TABLE raw.funding",
                                   "INSERT INTO raw.funding SELECT * FROM raw.funding",
                                   "SELECT 1; UPDATE raw.funding SET rate = 0", "COPY raw.funding TO 'x.csv'",
                                   "ATTACH 'other.duckdb'"])
def test_the_sql_command_refuses_writes(query):
    with pytest.raises(ReadOnlyError, match="refused: this command only reads"):
        check_read_only(query)


def test_the_sql_command_prints_table_csv_and_json(published, capsys):
    db, _ = published
    query = "SELECT pair, active FROM bi.anomaly_status ORDER BY row"
    assert sql_main([query, "--database", str(db), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == ["pair,active", "btc_perp~btc_quarterly,false"]
    assert sql_main([query, "--database", str(db), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[2] == {"pair": "btc~nasdaq", "active": False}
    assert sql_main([query, "--database", str(db)]) == 0
    assert "btc~gold" in capsys.readouterr().out
    assert sql_main(["DELETE FROM bi.basis", "--database", str(db)]) == 2
    assert "DELETE" in capsys.readouterr().err


def test_the_data_dictionary_is_current():
    assert dictionary.DICTIONARY.read_text() == dictionary.render(), "run: python -m warehouse.dictionary"


def test_the_snapshot_records_what_was_published(published):
    db, _ = published
    with duckdb.connect(str(db), read_only=True) as con:
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT view, rows, first_date, last_date, parquet_file FROM bi.publication").fetchall()}
        returns = con.execute("SELECT count(*), min(date), max(date) FROM bi.returns").fetchone()
    assert set(rows) >= {"bi.anomaly_status", "bi.returns", "bi.basis"}
    assert rows["bi.returns"][:3] == returns and returns[2] == FIRST[1]
    assert rows["bi.anomaly_status"][2] == FIRST[1]
    assert (db.parent / rows["bi.returns"][3]).exists()
