"""Scoring the anomaly engine: the whole pipeline on the sample market, its episodes against the ground truth."""

from __future__ import annotations

import datetime as dt
import time

import dagster as dg
import polars as pl

from assets.marts.evaluation import report
from assets.raw.sources.sample import SampleMarket
from pipelines.run import materialize_range
from pipelines.settings import Settings, SettingsError
from warehouse.db import Warehouse
from warehouse.schemas import MARTS_ANOMALY_EPISODES

# Days of history before the scored range, so that every 180-observation baseline is complete there.
EVALUATION_WARM_UP_DAYS = 300


def evaluation_report(end: dt.date, years: float, settings: Settings, instance=None) -> dict:
    """Run the whole pipeline on the sample market (settings.source must be 'sample') and score it."""
    if settings.source != "sample":
        raise SettingsError("the evaluation scores the sample market's scripted episodes: use source 'sample'")
    start = end - dt.timedelta(days=round(365.25 * years) - 1)
    result = materialize_range(start - dt.timedelta(days=EVALUATION_WARM_UP_DAYS), end, settings,
                               instance=instance or dg.DagsterInstance.ephemeral())
    if not result.success:
        raise SettingsError("the evaluation run failed; see the messages above")
    market = SampleMarket(seed=settings.sample.seed, venues=settings.venues)
    episodes = Warehouse(settings.warehouse_path).read_window(MARTS_ANOMALY_EPISODES)
    return dict(report(market.ground_truth(), episodes, start, end), start=start, end=end)


def print_evaluation(end: dt.date, years: float, settings: Settings) -> int:
    began = time.perf_counter()
    out = evaluation_report(end, years, settings)
    pl.Config.set_tbl_rows(50)
    pl.Config.set_tbl_hide_dataframe_shape(True)
    print(f"Anomaly engine on the sample market, {out['start']} to {out['end']} "
          f"({out['years']:.1f} years, {time.perf_counter() - began:.0f} s)")
    print(out["anomalies"])
    print(f"False anomaly episodes per year: {out['false_per_year']:.2f} (target: at most 2)")
    missed = int(out["anomalies"]["missed"].sum())
    print(f"Injected episodes missed: {missed} (target: 0)")
    print(f"Context periods reported as anomalies: {out['context_as_anomaly'].height} (target: 0)")
    print("Context labels (never counted as anomalies):")
    print(out["context"])
    if out["false_episodes"].height:
        print("False anomaly episodes:")
        print(out["false_episodes"].select("code", "subject", "start", "end", "days", "peak_severity"))
    met = missed == 0 and out["false_per_year"] <= 2 and out["context_as_anomaly"].height == 0
    print("All targets met." if met else "TARGETS NOT MET.")
    return 0 if met else 1
