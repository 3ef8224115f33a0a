"""`make report`: one self-contained HTML page with every chart and the live Table 1.

Reads a published warehouse (read-only, never the pipeline's own file) and writes an HTML file (by
`make report`: `data/report.html`): the charts are inline PNG images, so the file can be mailed or opened
anywhere without a server.

    python -m pipelines.report --database PATH --out PATH [--days N]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from assets import charts
from assets.marts import rules

from pipelines.settings import AnomalySettings, SettingsError, load_settings
from warehouse.serving import connect_published, published_database


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    png: bytes | None  # None: no rows to draw


def warm_up_end(con: duckdb.DuckDBPyConnection, anomaly) -> dt.date | None:
    """The first day with complete baselines (see rules.baselines_complete_from)."""
    returns = con.execute("SELECT * FROM core.returns_daily WHERE series = 'BTC' AND calendar = 'traditional'").pl()
    return rules.baselines_complete_from(returns, anomaly)


def figures(con: duckdb.DuckDBPyConnection, days: int = 365, anomaly=None) -> list[Figure]:
    """Every chart of the product, drawn from the last `days` days of the warehouse behind `con`."""
    last = con.execute("SELECT max(date) FROM core.returns_daily").fetchone()[0]
    since = (last or dt.date.today()) - dt.timedelta(days=days)
    anomaly = anomaly or AnomalySettings()

    def rows(sql: str) -> pl.DataFrame:
        return con.execute(sql, [since]).pl()

    spread = rows("SELECT * FROM core.perp_quarterly_spread WHERE date >= ? ORDER BY date")
    funding = rows("SELECT * FROM core.funding_daily WHERE date >= ? ORDER BY date")
    basis = rows("SELECT * FROM core.basis_daily WHERE date >= ? ORDER BY date")
    correlation = rows("SELECT * FROM core.correlation_daily WHERE date >= ? ORDER BY date")
    btc = rows("SELECT date, close FROM core.returns_daily WHERE calendar = 'crypto' AND series = 'BTC' AND date >= ? "
               "ORDER BY date")
    episodes = con.execute("SELECT * FROM marts.anomaly_episodes").pl()
    plan = [
        ("premium_vs_basis", "Perpetual premium vs quarterly basis, per venue, with the gap's z-score", spread,
         lambda: charts.premium_vs_basis(spread)),
        ("funding_apr", "Funding APR per venue", funding, lambda: charts.funding_apr(funding)),
        ("term_structure", "Basis term structure on the latest day", basis, lambda: charts.term_structure(basis)),
        ("correlations", "Short vs baseline correlation for each Table 1 pair", correlation,
         lambda: charts.correlations(correlation)),
        ("episodes", "Anomaly episodes shaded on the BTC price", btc,
         lambda: charts.episodes_on_price(btc, episodes, warm_up_end(con, anomaly))),
    ]
    return [Figure(key, title, charts.png(build()) if frame.height else None) for key, title, frame, build in plan]


def render(con: duckdb.DuckDBPyConnection, days: int = 365, anomaly=None) -> str:
    status = con.execute("SELECT asset_pair, typical_correlation, typical_label, current_correlation, current_label, "
                         "condition, active, active_since, implication FROM marts.anomaly_status ORDER BY row").pl()
    published = con.execute("SELECT max(published_at) FROM bi.publication").fetchone()[0] if _has_publication(con) else None
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Inverse correlation anomaly report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}"
        "img{max-width:100%}.active{background:#fdd}</style></head><body>",
        "<h1>Inverse correlation anomaly report</h1>",
        f"<p>Warehouse published {html.escape(str(published or 'unknown'))}; charts cover the last {days} days.</p>",
        f"<p class='warm-up'>{html.escape(_warm_up_sentence(warm_up_end(con, anomaly or AnomalySettings())))}</p>",
        "<h2>Table 1, live</h2>", _table(status),
    ]
    for figure in figures(con, days, anomaly):
        parts.append(f"<h2>{html.escape(figure.title)}</h2>")
        if figure.png is None:
            parts.append(f"<p class='empty' data-chart='{figure.key}'>No rows to draw yet.</p>")
        else:
            encoded = base64.b64encode(figure.png).decode()
            parts.append(f"<img data-chart='{figure.key}' alt='{html.escape(figure.title)}' "
                         f"src='data:image/png;base64,{encoded}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _warm_up_sentence(ready: dt.date | None) -> str:
    if ready is None:
        return ("Warm-up: the stored history is still too short for the 180-observation baselines; rules that "
                "compare with a baseline cannot fire yet.")
    return (f"Baselines complete from {ready}. The days before it are the warm-up (grey on the charts): rules "
            "that compare with a baseline could not fire there.")


def _has_publication(con) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'bi' AND table_name = 'publication'"
                       ).fetchone()[0] > 0


def _table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows(named=True):
        cells = "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row.values())
        body.append(f"<tr class='{'active' if row.get('active') else ''}'>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _fmt(value) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None, database: str | Path | None = None, out: str | Path | None = None,
         anomaly=None) -> int:
    """The command line; `database` and `out` are the defaults of --database and --out; `anomaly` the rules'
    settings (default: the defaults)."""
    parser = argparse.ArgumentParser(description="Write the HTML report of the published warehouse.")
    parser.add_argument("--database", default=database, required=database is None)
    parser.add_argument("--out", default=out, required=out is None)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    try:
        con = connect_published(args.database)
    except FileNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    with con:
        page = render(con, args.days, anomaly)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(page)
    print(f"wrote {args.out} ({len(page) // 1024} KiB)")
    return 0


def main_with_settings(argv: list[str] | None = None) -> int:
    """`make report`: the report of the published copy of the configured warehouse, written beside it."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return main(argv, database=published_database(settings.warehouse_path),
                out=Path(settings.warehouse_path).parent / "report.html", anomaly=settings.anomaly)


if __name__ == "__main__":
    sys.exit(main_with_settings())
