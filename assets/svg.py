"""A small SVG plotter for the product's charts: panels of lines, shaded ranges and rules over dates or numbers,
stacked in one figure with one legend. Pure: data in, SVG text out, in milliseconds and without a browser engine
(a run draws its charts every day; a JavaScript renderer cost more to start than the whole chart). The HTML report
rasterises the same SVG to PNG (assets/charts.py)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d",
           "#bab0ac")
DASHES = (None, "6,3", "2,2", "8,3,2,3")
FONT = "font-family='Helvetica, Arial, sans-serif'"
CHAR_WIDTH = 6.2  # px per lower-case character at 11 px
LEFT, RIGHT_GAP, TITLE_H, AXIS_H, GAP = 62, 16, 22, 22, 18

X = dt.date | float | int


@dataclass
class Line:
    label: str
    xs: list[X]
    ys: list[float | None]  # None breaks the line
    color: str
    dash: str | None = None
    width: float = 1.2
    step: bool = False  # hold each value until the next x
    points: bool = False


@dataclass
class Band:
    """A shaded x-range over the panel's full height."""

    start: X
    end: X
    color: str
    opacity: float
    record: dict = field(default_factory=dict)  # the row behind it, kept in the figure's data


@dataclass
class Rule:
    y: float
    color: str = "#c00"
    dash: str | None = "4,3"


@dataclass
class Panel:
    title: str
    height: int
    y_title: str
    lines: list[Line] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    percent: bool = False  # y labels as percentages of 1
    y_domain: tuple[float, float] | None = None
    zero: bool = True  # the y range includes 0
    x_title: str | None = None


@dataclass
class Legend:
    title: str
    entries: list[tuple[str, str, str | None, str]]  # label, colour, dash, kind ("line" or "area")


@dataclass
class Figure:
    panels: list[Panel]
    legends: list[Legend]
    width: int
    title: str = ""

    def data(self) -> dict:
        """What the figure shows, as plain rows: every line's points and every band's record."""
        series = [{"label": ln.label, "x": _iso(x), "y": y} for p in self.panels for ln in p.lines
                  for x, y in zip(ln.xs, ln.ys)]
        bands = [{k: _iso(v) for k, v in b.record.items()} for p in self.panels for b in p.bands if b.record]
        return {"title": self.title, "datasets": {"lines": series, "bands": bands}}


def _iso(value):
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def _num(x: X) -> float:
    return float(x.toordinal()) if isinstance(x, dt.date) else float(x)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def date_ticks(first: dt.date, last: dt.date) -> list[dt.date]:
    """Month starts (every 1, 2, 3, 6 or 12 months), or weeks for spans under two months."""
    days = (last - first).days
    if days < 60:
        step = max(1, days // 6 // 7) * 7
        return [first + dt.timedelta(days=d) for d in range(0, days + 1, step)]
    months = next(m for m in (1, 2, 3, 6, 12, 24) if days / 30.4 / m <= 8)
    ticks, year, month = [], first.year, first.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        if (month - 1) % months:
            continue
        tick = dt.date(year, month, 1)
        if tick > last:
            return ticks
        ticks.append(tick)


def _label(value: float, percent: bool, step: float) -> str:
    if percent:
        digits = max(0, -math.floor(math.log10(step * 100) + 1e-9)) if step > 0 else 0
        return f"{value * 100:.{digits}f}%"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    digits = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    return f"{value:.{digits}f}"


def _path(points: list[tuple[float, float] | None], step: bool) -> str:
    """An SVG path through `points`, broken at None."""
    parts, pen_down, previous = [], False, None
    for point in points:
        if point is None:
            pen_down = False
            continue
        x, y = point
        if not pen_down:
            parts.append(f"M{x:.1f},{y:.1f}")
        elif step:
            parts.append(f"H{x:.1f}V{y:.1f}")
        else:
            parts.append(f"L{x:.1f},{y:.1f}")
        pen_down, previous = True, point
    return "".join(parts)


def text_width(text: str) -> float:
    """About how wide `text` is at 11 px (capitals are wider), for laying out legends."""
    return sum(7.8 if c.isupper() or c in "mwMW%" else CHAR_WIDTH for c in text)


def _legend_width(legends: list[Legend]) -> int:
    texts = [e[0] for lg in legends for e in lg.entries] + [lg.title for lg in legends]
    return int(34 + max(text_width(t) for t in texts)) if texts else 0


def render(figure: Figure) -> str:
    """The figure as a standalone SVG document."""
    legend_w = _legend_width(figure.legends)
    plot_w = figure.width
    xs = [_num(x) for p in figure.panels for ln in p.lines for x in ln.xs]
    xs += [_num(v) for p in figure.panels for b in p.bands for v in (b.start, b.end)]
    dated = any(isinstance(x, dt.date) for p in figure.panels for ln in p.lines for x in ln.xs[:1])
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x_high <= x_low:
        x_low, x_high = x_low - 1, x_high + 1
    if not dated:
        ticks = nice_ticks(x_low, x_high, 8)
        x_low, x_high = min([x_low, *ticks]), max([x_high, *ticks])

    def sx(x: X) -> float:
        return LEFT + (_num(x) - x_low) / (x_high - x_low) * plot_w

    out, top = [], 8 + (TITLE_H if figure.title else 0)
    if figure.title:
        out.append(f"<text x='{LEFT}' y='18' {FONT} font-size='14' font-weight='bold'>{escape(figure.title)}</text>")
    for panel in figure.panels:
        out.append(_panel(panel, top, plot_w, sx, x_low, x_high, dated))
        top += TITLE_H + panel.height + AXIS_H + (14 if panel.x_title else 0) + GAP
    legend_top = 8 + (TITLE_H if figure.title else 0) + TITLE_H
    for legend in figure.legends:
        out.append(_legend(legend, LEFT + plot_w + RIGHT_GAP, legend_top))
        legend_top += 18 + 16 * len(legend.entries) + 10
    width = LEFT + plot_w + RIGHT_GAP + legend_w
    height = max(top, legend_top) + 4
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}'>"
            f"<rect width='100%' height='100%' fill='white'/>{''.join(out)}</svg>")


def _panel(panel: Panel, top: float, plot_w: int, sx, x_low: float, x_high: float, dated: bool) -> str:
    ys = [y for ln in panel.lines for y in ln.ys if y is not None and math.isfinite(y)] + [r.y for r in panel.rules]
    if panel.y_domain:
        y_low, y_high = panel.y_domain
    else:
        y_low, y_high = (min(ys), max(ys)) if ys else (0.0, 1.0)
        if panel.zero:
            y_low, y_high = min(y_low, 0.0), max(y_high, 0.0)
    ticks = nice_ticks(y_low, y_high)
    if not panel.y_domain and ticks:
        y_low, y_high = min(y_low, ticks[0]), max(y_high, ticks[-1])
    if y_high <= y_low:
        y_low, y_high = y_low - 1, y_high + 1
    plot_top, h = top + TITLE_H, panel.height

    def sy(y: float) -> float:
        return plot_top + (y_high - y) / (y_high - y_low) * h

    out = [f"<text x='{LEFT}' y='{top + 15:.0f}' {FONT} font-size='12' font-weight='bold'>{escape(panel.title)}</text>"]
    for band in panel.bands:
        x0, x1 = max(sx(band.start), LEFT), min(sx(band.end), LEFT + plot_w)
        if x1 > x0:
            out.append(f"<rect x='{x0:.1f}' y='{plot_top:.1f}' width='{x1 - x0:.1f}' height='{h}' fill='{band.color}' "
                       f"fill-opacity='{band.opacity}'/>")
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    for tick in ticks:
        if y_low - 1e-12 <= tick <= y_high + 1e-12:
            y = sy(tick)
            out.append(f"<line x1='{LEFT}' x2='{LEFT + plot_w}' y1='{y:.1f}' y2='{y:.1f}' stroke='#ddd'/>")
            out.append(f"<text x='{LEFT - 5}' y='{y + 4:.1f}' {FONT} font-size='10' text-anchor='end' fill='#444'>"
                       f"{_label(tick, panel.percent, step)}</text>")
    out.append(f"<text transform='translate(12,{plot_top + h / 2:.0f}) rotate(-90)' {FONT} font-size='11' "
               f"text-anchor='middle' fill='#222'>{escape(panel.y_title)}</text>")
    x_ticks = (date_ticks(dt.date.fromordinal(int(x_low)), dt.date.fromordinal(int(x_high))) if dated
               else nice_ticks(x_low, x_high, 8))
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 and not dated else 1.0
    for tick in x_ticks:
        x = sx(tick)
        text = (tick.strftime("%b %Y") if tick.month == 1 or tick == x_ticks[0] else tick.strftime("%b")) if dated \
            else _label(tick, False, x_step)
        if dated and (x_high - x_low) < 60:
            text = tick.strftime("%d %b")
        out.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{plot_top + h}' y2='{plot_top + h + 4}' stroke='#888'/>")
        out.append(f"<text x='{x:.1f}' y='{plot_top + h + 15}' {FONT} font-size='10' text-anchor='middle' "
                   f"fill='#444'>{text}</text>")
    if panel.x_title:
        out.append(f"<text x='{LEFT + plot_w / 2:.0f}' y='{plot_top + h + 30}' {FONT} font-size='11' "
                   f"text-anchor='middle'>{escape(panel.x_title)}</text>")
    for rule in panel.rules:
        y = sy(rule.y)
        dash = f" stroke-dasharray='{rule.dash}'" if rule.dash else ""
        out.append(f"<line x1='{LEFT}' x2='{LEFT + plot_w}' y1='{y:.1f}' y2='{y:.1f}' stroke='{rule.color}'{dash}/>")
    out.append(f"<clipPath id='c{int(top)}'><rect x='{LEFT}' y='{plot_top}' width='{plot_w}' height='{h}'/></clipPath>")
    out.append(f"<g clip-path='url(#c{int(top)})'>")
    for line in panel.lines:
        points = [None if y is None or not math.isfinite(y) else (sx(x), sy(y)) for x, y in zip(line.xs, line.ys)]
        dash = f" stroke-dasharray='{line.dash}'" if line.dash else ""
        out.append(f"<path d='{_path(points, line.step)}' fill='none' stroke='{line.color}' "
                   f"stroke-width='{line.width}'{dash}><title>{escape(line.label)}</title></path>")
        if line.points:
            out += [f"<circle cx='{p[0]:.1f}' cy='{p[1]:.1f}' r='2.5' fill='{line.color}'/>" for p in points if p]
    out.append("</g>")
    out.append(f"<rect x='{LEFT}' y='{plot_top}' width='{plot_w}' height='{h}' fill='none' stroke='#888'/>")
    return "".join(out)


def _legend(legend: Legend, left: float, top: float) -> str:
    out = [f"<text x='{left}' y='{top}' {FONT} font-size='11' font-weight='bold'>{escape(legend.title)}</text>"]
    for i, (label, color, dash, kind) in enumerate(legend.entries):
        y = top + 16 * (i + 1)
        if kind == "area":
            out.append(f"<rect x='{left}' y='{y - 8}' width='16' height='10' fill='{color}' fill-opacity='0.5'/>")
        else:
            dashed = f" stroke-dasharray='{dash}'" if dash else ""
            out.append(f"<line x1='{left}' x2='{left + 18}' y1='{y - 3}' y2='{y - 3}' stroke='{color}' "
                       f"stroke-width='2'{dashed}/>")
        out.append(f"<text x='{left + 24}' y='{y}' {FONT} font-size='11'>{escape(label)}</text>")
    return "".join(out)
