"""The demo's range: a warm-up long enough for every baseline, then the displayed year.

A rule that compares with a baseline (the 180-observation sigma of returns, the 180-observation
correlation, the 180-day gap) cannot fire before that baseline exists. The demo therefore starts the
warm-up earlier, so that the displayed year is judged with complete baselines from its first day, and says
where the warm-up ends.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from assets.marts.evaluation import report
from assets.raw.sources.sample import SampleMarket
from assets.reads import history_days

DISPLAYED_DAYS = 365


def warm_up_days(settings) -> int:
    """UTC days of history before a day at which every baseline of the rules is complete."""
    a, c = settings.anomaly, settings.correlation
    return max(history_days(a.sigma_window + a.return_horizon, "traditional"),
               history_days(c.baseline_window, "traditional"), history_days(a.gap_window, "crypto"))


def demo_range(end: dt.date, warm_up: int, displayed_days: int = DISPLAYED_DAYS) -> tuple[dt.date, dt.date, dt.date]:
    """(first day materialised, first displayed day, last day) of a demo ending at `end`."""
    displayed = end - dt.timedelta(days=displayed_days - 1)
    return displayed - dt.timedelta(days=warm_up), displayed, end


def demo_findings(published, settings, first: dt.date, displayed: dt.date, end: dt.date) -> str:
    """What the demo found: the warm-up, then on the sample market each code's scripted episodes in the
    displayed days against the detected ones."""
    lines = [f"\nWarm-up {first} to {displayed - dt.timedelta(days=1)} (baselines being built, marked on the "
             f"charts); displayed {displayed} to {end}."]
    if settings.source != "sample":
        return "\n".join(lines)
    with duckdb.connect(str(published), read_only=True) as con:
        episodes = con.execute("SELECT * FROM marts.anomaly_episodes").pl()
    market = SampleMarket(seed=settings.sample.seed, venues=settings.venues)
    scored = report(market.ground_truth(), episodes, displayed, end)["anomalies"]
    found, injected = int(scored["detected"].sum()), int(scored["injected"].sum())
    lines.append(f"Scripted anomaly episodes of the sample market in the displayed days: {found} of {injected} "
                 f"detected with their code, {int(scored['false'].sum())} unexplained episodes.")
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_rows=20):
        lines.append(str(scored))
    return "\n".join(lines)
