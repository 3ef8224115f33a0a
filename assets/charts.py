"""The product's charts: warehouse frames in, altair charts out, rendered offline to PNG by vl-convert.

Each function takes rows as stored in a warehouse table and returns one chart; nothing here reads or
writes anything. The same charts appear on the materialisations in the Dagster UI and in `make report`.
"""

from __future__ import annotations

import base64
import datetime as dt

import altair as alt
import polars as pl
import vl_convert

from assets.core.spread import settle_of

WIDTH = 640
TABLE_1_PAIRS = ("btc_perp~btc_quarterly", "btc~gold", "btc~nasdaq")

alt.data_transformers.disable_max_rows()


def warm_up_band(first: dt.date | None, ready: dt.date | None) -> alt.Chart | None:
    """A grey band over the warm-up, the days before `ready` when the baselines the rules compare with are
    still incomplete (nothing that needs one can fire there); None when there is no warm-up in view."""
    if first is None or (ready is not None and ready <= first):
        return None
    end = ready or first
    band = pl.DataFrame({"start": [first], "end": [end], "label": ["warm-up: no baseline yet"]})
    return alt.Chart(band).mark_rect(color="#999", opacity=0.15).encode(
        x="start:T", x2="end:T", tooltip=["label:N", "start:T", "end:T"])


def first_with(frame: pl.DataFrame, column: str) -> dt.date | None:
    """The first date on which `column` has a value: where its baseline is complete."""
    present = frame.filter(pl.col(column).is_not_null())
    return present["date"].min() if present.height else None


def _with_warm_up(chart, frame: pl.DataFrame, ready: dt.date | None):
    band = warm_up_band(frame["date"].min() if frame.height else None, ready)
    return chart if band is None else alt.layer(band, chart)


def _subject(symbol: str) -> pl.Expr:
    return pl.col("venue") + " " + pl.col(symbol)


def premium_vs_basis(spread: pl.DataFrame) -> alt.VConcatChart:
    """Perpetual premium against the nearest quarterly's basis per venue and perpetual, and the gap's z-score."""
    rows = spread.with_columns(perpetual=_subject("perp_symbol"))
    legs = rows.unpivot(index=["date", "perpetual"], on=["perp_premium", "quarterly_basis"], variable_name="leg",
                        value_name="fraction")
    lines = alt.Chart(legs).mark_line(strokeWidth=1.2).encode(
        x=alt.X("date:T", title=None),
        y=alt.Y("fraction:Q", title="fraction of spot", axis=alt.Axis(format="%")),
        color=alt.Color("perpetual:N", title="venue, perpetual"),
        strokeDash=alt.StrokeDash("leg:N", title="leg"),
    ).properties(width=WIDTH, height=220, title="Perpetual premium vs quarterly basis")
    z = alt.Chart(rows).mark_line(strokeWidth=1).encode(
        x=alt.X("date:T", title=None), y=alt.Y("gap_z:Q", title="gap z-score"), color="perpetual:N",
    ).properties(width=WIDTH, height=120, title="Gap z-score (divergence at |z| >= 3)")
    threshold = alt.Chart(pl.DataFrame({"z": [-3.0, 3.0]})).mark_rule(color="#c00", strokeDash=[4, 3]).encode(y="z:Q")
    ready = first_with(rows, "gap_z")
    return alt.vconcat(_with_warm_up(lines, rows, ready), _with_warm_up(z + threshold, rows, ready))


def funding_apr(funding: pl.DataFrame) -> alt.Chart:
    """Daily funding as an annual rate per venue and perpetual, with its 7-day mean."""
    rows = funding.with_columns(perpetual=_subject("symbol"))
    chart = alt.Chart(rows).mark_line(strokeWidth=1.2).encode(
        x=alt.X("date:T", title=None),
        y=alt.Y("apr_7d:Q", title="funding APR, 7-day mean", axis=alt.Axis(format="%")),
        color=alt.Color("perpetual:N", title="venue, perpetual"),
        tooltip=["date:T", "perpetual:N", alt.Tooltip("apr:Q", format=".1%"), alt.Tooltip("apr_7d:Q", format=".1%")],
    ).properties(width=WIDTH, height=260, title="Funding APR per venue")
    return _with_warm_up(chart, rows, first_with(rows, "daily_rate_z"))


def term_structure(basis: pl.DataFrame) -> alt.Chart:
    """The basis term structure on the latest day: annualised basis against days to expiry per venue."""
    latest = basis["date"].max()
    rows = basis.filter((pl.col("date") == latest) & (pl.col("kind") == "future") & pl.col("basis_ann_simple").is_not_null())
    rows = rows.with_columns(curve=pl.col("venue") + " " + pl.col("underlying") + " " + settle_of(pl.col("symbol")))
    return alt.Chart(rows).mark_line(point=True).encode(
        x=alt.X("dte:Q", title="days to expiry"),
        y=alt.Y("basis_ann_simple:Q", title="annualised basis", axis=alt.Axis(format="%")),
        color=alt.Color("curve:N", title="venue, coin, margin"),
        tooltip=["symbol:N", alt.Tooltip("dte:Q", format=".1f"), alt.Tooltip("basis_ann_simple:Q", format=".2%")],
    ).properties(width=WIDTH, height=260, title=f"Basis term structure on {latest}")


def correlations(correlation: pl.DataFrame, pairs: tuple[str, ...] = TABLE_1_PAIRS) -> alt.Chart:
    """Short-window against baseline correlation for each pair of the article's Table 1."""
    rows = correlation.filter(pl.col("pair").is_in(list(pairs))).unpivot(
        index=["date", "pair"], on=["corr_short", "corr_baseline"], variable_name="window", value_name="correlation")
    return alt.Chart(rows).mark_line(strokeWidth=1.2).encode(
        x=alt.X("date:T", title=None),
        y=alt.Y("correlation:Q", scale=alt.Scale(domain=[-1, 1])),
        color=alt.Color("window:N", title="window"),
    ).properties(width=WIDTH, height=130).facet(
        row=alt.Row("pair:N", title=None), title="Short (30) vs baseline (180) correlation, Table 1 pairs")


def episodes_on_price(btc: pl.DataFrame, episodes: pl.DataFrame, ready: dt.date | None = None) -> alt.LayerChart:
    """BTC's close with the anomaly episodes shaded (context periods left out), and the warm-up before
    `ready` (the first day the return baselines are complete) in grey."""
    first, last = btc["date"].min(), btc["date"].max()
    shaded = episodes.filter((pl.col("kind") == "anomaly") & (pl.col("end") >= first) & (pl.col("start") <= last))
    shaded = shaded.with_columns(end_shown=pl.col("end") + dt.timedelta(days=1))
    price = alt.Chart(btc).mark_line(color="#222", strokeWidth=1).encode(
        x=alt.X("date:T", title=None), y=alt.Y("close:Q", title="BTC close, USD", scale=alt.Scale(zero=False)))
    bands = alt.Chart(shaded).mark_rect(opacity=0.3).encode(
        x="start:T", x2="end_shown:T", color=alt.Color("code:N", title="anomaly", legend=alt.Legend(labelLimit=320)),
        tooltip=["code:N", "subject:N", "start:T", "end:T", alt.Tooltip("peak_severity:Q", format=".1f")])
    band = warm_up_band(first, ready) if ready is not None else None
    layers = [band, bands, price] if band is not None else [bands, price]
    return alt.layer(*layers).properties(width=WIDTH, height=280, title="Anomaly episodes on the BTC price")


def cumulative_pnl(trades: pl.DataFrame) -> alt.Chart:
    """Cumulative net P&L of the closed trades per venue, code and P&L currency, by exit day."""
    rows = (trades.filter(~pl.col("exit_reason").is_in(["open", "pending"])).sort("exit_date")
            .with_columns(strategy=pl.col("venue") + " " + pl.col("code") + " (" + pl.col("pnl_currency") + ")")
            .with_columns(cumulative=pl.col("net_pnl").cum_sum().over("strategy")))
    return alt.Chart(rows.select("exit_date", "strategy", "cumulative").to_pandas()).mark_line(interpolate="step-after").encode(
        x=alt.X("exit_date:T", title=None),
        y=alt.Y("cumulative:Q", title="cumulative net P&L (per currency)"),
        color=alt.Color("strategy:N", legend=alt.Legend(orient="bottom", columns=2, labelLimit=400)),
    ).properties(width=WIDTH, height=260, title="Convergence trades and carry baseline: cumulative net P&L")


def spec(chart: alt.TopLevelMixin, validate: bool = False) -> str:
    """The chart's Vega-Lite JSON with legend labels and titles whole (Vega cuts them at 160 px by default:
    "binance BTC/USDT:USDT-2…"). Checking it against the Vega-Lite schema costs more than drawing it, and the
    charts are fixed code: `png`, which the report and its tests use, checks; a daily run's chart does not."""
    return chart.configure_legend(labelLimit=0, titleLimit=0).to_json(validate=validate, indent=None)


def png(chart: alt.TopLevelMixin) -> bytes:
    """A PNG (for the HTML report, which must show in a mail reader), from a schema-checked spec."""
    return vl_convert.vegalite_to_png(spec(chart, validate=True), scale=1.5)


def svg(chart_spec: str) -> str:
    """An SVG of a `spec` (for the Dagster UI): drawn in about half the time of the PNG, an eighth of its size,
    sharp at any zoom."""
    return vl_convert.vegalite_to_svg(chart_spec)


def markdown_svg(image: str, alt_text: str) -> str:
    """An SVG as a Markdown image with the picture inline (a data URI)."""
    return f"![{alt_text}](data:image/svg+xml;base64,{base64.b64encode(image.encode()).decode()})"
