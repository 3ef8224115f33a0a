"""The product's charts: warehouse frames in, figures out, drawn as SVG by assets/svg.py.

Each function takes rows as stored in a warehouse table and returns one `Figure`; nothing here reads or writes
anything. The same charts appear on the materialisations in the Dagster UI (SVG) and in `make report` (PNG).
"""

from __future__ import annotations

import base64
import datetime as dt
import json

import polars as pl
import vl_convert

from assets.core.spread import settle_of
from assets.svg import DASHES, PALETTE, Band, Figure, Legend, Line, Panel, Rule, render

WIDTH = 640
TABLE_1_PAIRS = ("btc_perp~btc_quarterly", "btc~gold", "btc~nasdaq")
WARM_UP = "warm-up: no baseline yet"


def warm_up_band(first: dt.date | None, ready: dt.date | None) -> Band | None:
    """A grey band over the warm-up, the days before `ready` when the baselines the rules compare with are
    still incomplete (nothing that needs one can fire there); None when there is no warm-up in view."""
    if first is None or (ready is not None and ready <= first):
        return None
    end = ready or first
    return Band(first, end, "#999", 0.15, {"label": WARM_UP, "start": first, "end": end})


def first_with(frame: pl.DataFrame, column: str) -> dt.date | None:
    """The first date on which `column` has a value: where its baseline is complete."""
    present = frame.filter(pl.col(column).is_not_null())
    return present["date"].min() if present.height else None


def _bands(frame: pl.DataFrame, ready: dt.date | None) -> list[Band]:
    band = warm_up_band(frame["date"].min() if frame.height else None, ready)
    return [band] if band else []


def _colors(labels) -> dict[str, str]:
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(labels)))}


def _lines(frame: pl.DataFrame, by: str, x: str, y: str, colors: dict[str, str], **style) -> list[Line]:
    """One line per value of `by`, in x order."""
    out = []
    for (key,), rows in sorted(frame.sort(x).group_by([by], maintain_order=True), key=lambda g: str(g[0][0])):
        out.append(Line(str(key), rows[x].to_list(), rows[y].to_list(), colors[str(key)], **style))
    return out


def _legend(title: str, colors: dict[str, str]) -> Legend:
    return Legend(title, [(label, color, None, "line") for label, color in colors.items()])


def _subject(symbol: str) -> pl.Expr:
    return pl.col("venue") + " " + pl.col(symbol)


def premium_vs_basis(spread: pl.DataFrame) -> Figure:
    """Perpetual premium against the nearest quarterly's basis per venue and perpetual, and the gap's z-score."""
    rows = spread.with_columns(perpetual=_subject("perp_symbol"))
    colors = _colors(rows["perpetual"])
    legs = {"perp_premium": DASHES[0], "quarterly_basis": DASHES[1]}
    lines = [line for leg, dash in legs.items()
             for line in _lines(rows, "perpetual", "date", leg, colors, dash=dash)]
    for line, leg in zip(lines, [leg for leg in legs for _ in colors]):
        line.label = f"{line.label} {leg}"
    ready = first_with(rows, "gap_z")
    top = Panel("Perpetual premium vs quarterly basis", 220, "fraction of spot", lines, _bands(rows, ready),
                percent=True)
    z = Panel("Gap z-score (divergence at |z| >= 3)", 120, "gap z-score", _lines(rows, "perpetual", "date", "gap_z",
              colors, width=1.0), _bands(rows, ready), [Rule(-3.0), Rule(3.0)])
    return Figure([top, z], [_legend("venue, perpetual", colors),
                             Legend("leg", [(leg, "#444", dash, "line") for leg, dash in legs.items()])], WIDTH)


def funding_apr(funding: pl.DataFrame) -> Figure:
    """Daily funding as an annual rate per venue and perpetual, with its 7-day mean."""
    rows = funding.with_columns(perpetual=_subject("symbol"))
    colors = _colors(rows["perpetual"])
    panel = Panel("Funding APR per venue", 260, "funding APR, 7-day mean",
                  _lines(rows, "perpetual", "date", "apr_7d", colors), _bands(rows, first_with(rows, "daily_rate_z")),
                  percent=True)
    return Figure([panel], [_legend("venue, perpetual", colors)], WIDTH)


def term_structure(basis: pl.DataFrame) -> Figure:
    """The basis term structure on the latest day: annualised basis against days to expiry per venue."""
    latest = basis["date"].max()
    rows = basis.filter((pl.col("date") == latest) & (pl.col("kind") == "future") & pl.col("basis_ann_simple").is_not_null())
    rows = rows.with_columns(curve=pl.col("venue") + " " + pl.col("underlying") + " " + settle_of(pl.col("symbol")))
    colors = _colors(rows["curve"])
    panel = Panel(f"Basis term structure on {latest}", 260, "annualised basis",
                  _lines(rows, "curve", "dte", "basis_ann_simple", colors, points=True), percent=True, zero=False,
                  x_title="days to expiry")
    return Figure([panel], [_legend("venue, coin, margin", colors)], WIDTH)


def correlations(correlation: pl.DataFrame, pairs: tuple[str, ...] = TABLE_1_PAIRS) -> Figure:
    """Short-window against baseline correlation for each pair of the article's Table 1."""
    rows = correlation.filter(pl.col("pair").is_in(list(pairs)))
    windows = {"corr_short": PALETTE[0], "corr_baseline": PALETTE[1]}
    panels = []
    for pair in [p for p in pairs if p in set(rows["pair"].to_list())]:
        of_pair = rows.filter(pl.col("pair") == pair).sort("date")
        lines = [Line(f"{pair} {w}", of_pair["date"].to_list(), of_pair[w].to_list(), color)
                 for w, color in windows.items()]
        panels.append(Panel(pair, 130, "correlation", lines, y_domain=(-1.0, 1.0)))
    return Figure(panels, [_legend("window", windows)], WIDTH,
                  title="Short (30) vs baseline (180) correlation, Table 1 pairs")


def episodes_on_price(btc: pl.DataFrame, episodes: pl.DataFrame, ready: dt.date | None = None) -> Figure:
    """BTC's close with the anomaly episodes shaded (context periods left out), and the warm-up before
    `ready` (the first day the return baselines are complete) in grey."""
    first, last = btc["date"].min(), btc["date"].max()
    shaded = episodes.filter((pl.col("kind") == "anomaly") & (pl.col("end") >= first) & (pl.col("start") <= last))
    colors = _colors(shaded["code"])
    bands = [warm_up_band(first, ready)] if ready is not None and warm_up_band(first, ready) else []
    for row in shaded.sort("start").iter_rows(named=True):
        record = {k: row[k] for k in ("code", "subject", "start", "end", "peak_severity")}
        bands.append(Band(row["start"], row["end"] + dt.timedelta(days=1), colors[row["code"]], 0.3, record))
    btc = btc.sort("date")
    price = Line("BTC close", btc["date"].to_list(), btc["close"].to_list(), "#222", width=1.0)
    panel = Panel("Anomaly episodes on the BTC price", 280, "BTC close, USD", [price], bands, zero=False)
    legend = Legend("anomaly", [(code, color, None, "area") for code, color in colors.items()])
    return Figure([panel], [legend] if colors else [], WIDTH)


def cumulative_pnl(trades: pl.DataFrame) -> Figure:
    """Cumulative net P&L of the closed trades per venue, code and P&L currency, by exit day."""
    rows = (trades.filter(~pl.col("exit_reason").is_in(["open", "pending"])).sort("exit_date")
            .with_columns(strategy=pl.col("venue") + " " + pl.col("code") + " (" + pl.col("pnl_currency") + ")")
            .with_columns(cumulative=pl.col("net_pnl").cum_sum().over("strategy")))
    colors = _colors(rows["strategy"])
    panel = Panel("Convergence trades and carry baseline: cumulative net P&L", 260,
                  "cumulative net P&L (per currency)", _lines(rows, "strategy", "exit_date", "cumulative", colors,
                                                              step=True))
    return Figure([panel], [_legend("strategy", colors)], WIDTH)


def svg(figure: Figure) -> str:
    """The figure as SVG (the Dagster UI): sharp at any zoom."""
    return render(figure)


def data_json(figure: Figure) -> str:
    """The rows the figure shows, as JSON (served beside the UI's SVG)."""
    return json.dumps(figure.data(), default=str)


def png(figure: Figure) -> bytes:
    """A PNG of the same SVG (for the HTML report, which must show in a mail reader)."""
    return vl_convert.svg_to_png(render(figure), scale=1.5)


def markdown_svg(image: str, alt_text: str) -> str:
    """An SVG as a Markdown image with the picture inline (a data URI)."""
    return f"![{alt_text}](data:image/svg+xml;base64,{base64.b64encode(image.encode()).decode()})"
