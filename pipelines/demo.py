"""The demo's range: a warm-up long enough for every baseline, then the displayed year.

A rule that compares with a baseline (the 180-observation sigma of returns, the 180-observation
correlation, the 180-day gap) cannot fire before that baseline exists. The demo therefore starts the
warm-up earlier, so that the displayed year is judged with complete baselines from its first day, and says
where the warm-up ends.
"""

from __future__ import annotations

import datetime as dt

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
