"""The SVG plotter (assets/svg.py) and the product's charts drawn with it: ticks, paths, bands and legends where
the data puts them, a well-formed document, the same figure as PNG for the report."""

import datetime as dt
import json
import re
import struct
import xml.etree.ElementTree as ET

import polars as pl

from assets import charts
from assets.svg import LEFT, Band, Figure, Legend, Line, Panel, _path, date_ticks, nice_ticks, render

SVG = "{http://www.w3.org/2000/svg}"


def test_nice_ticks_are_round_steps_covering_the_range():
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    # range 0.034 / 5 = 0.0068 -> step 0.01, from ceil(-1.3) * 0.01
    assert nice_ticks(-0.013, 0.021) == [-0.01, 0.0, 0.01, 0.02]
    assert nice_ticks(27_000, 64_000) == [30_000, 40_000, 50_000, 60_000]
    assert nice_ticks(5, 5) == [5, 6, 7, 8, 9, 10]  # an empty range still gets an axis


def test_date_ticks_are_month_starts_or_weeks():
    assert date_ticks(dt.date(2026, 1, 15), dt.date(2026, 7, 10)) == [dt.date(2026, m, 1) for m in range(2, 8)]
    # 669 days / 30.4 = 22 months: more than 8 ticks every 1 or 2 months, 7.3 every 3 (Jan, Apr, Jul, Oct)
    quarterly = date_ticks(dt.date(2024, 11, 1), dt.date(2026, 9, 1))
    assert quarterly == [dt.date(y, m, 1) for y in (2025, 2026) for m in (1, 4, 7, 10)][:7]
    # 730 days: 24.01 / 3 > 8, so every 6 months
    assert date_ticks(dt.date(2024, 11, 1), dt.date(2026, 11, 1)) == [dt.date(y, m, 1) for y in (2025, 2026) for m in (1, 7)]
    assert date_ticks(dt.date(2026, 3, 1), dt.date(2026, 3, 29)) == [dt.date(2026, 3, d) for d in (1, 8, 15, 22, 29)]


def test_a_path_breaks_at_missing_values_and_steps_when_asked():
    assert _path([(0, 0), (1, 1), None, (2, 2), (3, 1)], step=False) == "M0.0,0.0L1.0,1.0M2.0,2.0L3.0,1.0"
    assert _path([(0, 0), (1, 1)], step=True) == "M0.0,0.0H1.0V1.0"


def test_lines_and_bands_land_where_their_values_are():
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(11)]
    panel = Panel("p", 100, "y", [Line("a", days, [float(i) for i in range(11)], "#000")],
                  [Band(days[2], days[4], "#f00", 0.3, {"code": "X", "start": days[2], "end": days[3]})])
    svg = render(Figure([panel], [Legend("legend", [("X", "#f00", None, "area")])], width=500))
    root = ET.fromstring(svg)
    path = next(p for p in root.iter(f"{SVG}path"))
    points = [tuple(map(float, xy.split(","))) for xy in re.findall(r"[ML]([\d.]+,[\d.]+)", path.get("d"))]
    assert points[0][0] == LEFT and points[-1][0] == LEFT + 500  # first and last day at the plot's edges
    assert points[0][1] > points[-1][1]  # a rising series goes up the page
    band = next(r for r in root.iter(f"{SVG}rect") if r.get("fill") == "#f00")
    assert float(band.get("x")) == LEFT + 100 and float(band.get("width")) == 100  # days 2 to 4 of 10, 50 px a day
    assert "X" in [t.text for t in root.iter(f"{SVG}text")]


def sample_episodes():
    btc = pl.DataFrame({"date": [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(120)],
                        "close": [40_000.0 + 100 * i for i in range(120)]})
    episodes = pl.DataFrame({
        "kind": ["anomaly", "context", "anomaly"], "code": ["BROAD_LIQUIDATION", "CONTEXT", "FLIGHT_TO_SAFETY"],
        "subject": ["BTC", "BTC", "BTC"], "start": [dt.date(2026, 2, 1), dt.date(2026, 3, 1), dt.date(2026, 4, 1)],
        "end": [dt.date(2026, 2, 3), dt.date(2026, 3, 2), dt.date(2026, 4, 5)], "peak_severity": [4.0, 1.0, 3.0]})
    return btc, episodes


def test_the_episodes_chart_shades_each_anomaly_and_keeps_its_rows():
    btc, episodes = sample_episodes()
    figure = charts.episodes_on_price(btc, episodes, ready=dt.date(2026, 1, 20))
    root = ET.fromstring(charts.svg(figure))
    shaded = [r for r in root.iter(f"{SVG}rect") if r.get("fill-opacity") == "0.3"]
    assert len(shaded) == 2  # the two anomalies; the context period is left out
    grey = [r for r in root.iter(f"{SVG}rect") if r.get("fill-opacity") == "0.15"]
    assert len(grey) == 1  # the warm-up
    legend = [t.text for t in root.iter(f"{SVG}text")]
    assert "BROAD_LIQUIDATION" in legend and "FLIGHT_TO_SAFETY" in legend and "CONTEXT" not in legend
    data = json.loads(charts.data_json(figure))["datasets"]
    codes = {row["code"]: (row["start"], row["end"]) for row in data["bands"] if "code" in row}
    assert codes == {"BROAD_LIQUIDATION": ("2026-02-01", "2026-02-03"), "FLIGHT_TO_SAFETY": ("2026-04-01", "2026-04-05")}
    assert len(data["lines"]) == 120


def test_the_report_gets_the_same_figure_as_png():
    btc, episodes = sample_episodes()
    image = charts.png(charts.episodes_on_price(btc, episodes))
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", image[16:24])
    assert width >= 960 and height >= 450  # 1.5 times the SVG's size


def test_every_chart_draws_from_stored_rows():
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(40)]
    n = len(days)
    correlation = pl.DataFrame({"date": days * 3, "pair": [p for p in charts.TABLE_1_PAIRS for _ in days],
                                "corr_short": [0.5] * 3 * n, "corr_baseline": [None] * 10 + [0.4] * (3 * n - 10)})
    root = ET.fromstring(charts.svg(charts.correlations(correlation)))
    titles = [t.text for t in root.iter(f"{SVG}text")]
    assert all(pair in titles for pair in charts.TABLE_1_PAIRS)
    assert len([p for p in root.iter(f"{SVG}path")]) == 6  # two windows per pair
    funding = pl.DataFrame({"date": days, "venue": ["v"] * n, "symbol": ["BTC/USDT:USDT"] * n,
                            "apr_7d": [0.1] * n, "daily_rate_z": [None] * 20 + [0.0] * (n - 20)})
    root = ET.fromstring(charts.svg(charts.funding_apr(funding)))
    assert "10%" in [t.text for t in root.iter(f"{SVG}text")]  # percent axis
    assert [r for r in root.iter(f"{SVG}rect") if r.get("fill-opacity") == "0.15"]  # warm-up until the z-score
