"""Marts: the anomaly engine's tables. Built only when every quality gate upstream passed in the run."""

import dagster as dg
import polars as pl

from assets import charts
from assets.metadata import chart_metadata, table_asset, table_definition_metadata, window
from assets.store import history_start, store, store_all
from pipelines.resources import MarketDataResource, WarehouseResource
from warehouse.schemas import (
    CORE_BASIS_DAILY,
    CORE_CORRELATION_DAILY,
    CORE_FUNDING_DAILY,
    CORE_PERP_QUARTERLY_SPREAD,
    CORE_RETURNS_DAILY,
    MARTS_ANOMALY_DAILY,
    MARTS_ANOMALY_EPISODES,
    MARTS_ANOMALY_STATUS,
)

from warehouse.serving import PUBLICATION, publish

from . import rules

# Days of basis history the expiry-convergence label compares against.
EXPIRY_LOOKBACK_DAYS = 7


def upstream_quality(context: dg.AssetExecutionContext) -> str:
    """What the quality checks said in this run: the gates passed (or this asset would not run) and
    which warn-level checks did not."""
    records = context.instance.get_records_for_run(
        run_id=context.run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    if not evaluations:
        return "inputs validated in earlier runs"
    warnings = sorted({e.asset_key.to_user_string() for e in evaluations if not e.passed})
    return "passed" + (f", warnings on {', '.join(warnings)}" if warnings else "")


@dg.asset(
    **table_asset(
        "marts",
        MARTS_ANOMALY_DAILY,
        "Every anomaly rule of the domain reference evaluated per day and subject, one row per firing: the code, "
        "the subject (BTC, venue:perpetual, venue:contract or a pair), the evidence that made it fire (returns, z-scores, premium, "
        "basis, funding, correlations, dte), severity (the largest z involved), the trading implication and the "
        "quality status of its inputs. Context labels (expiry convergence, funding pressure) have kind 'context'.",
        ["core/returns_daily", "core/perp_quarterly_spread", "core/funding_daily", "core/correlation_daily",
         "core/basis_daily"],
        partitioned=True,
    )
)
def marts_anomaly_daily(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    start, end = window(context)
    s = market.settings
    wh = warehouse.warehouse
    a = s.anomaly
    first_returns = history_start(start, a.sigma_window + a.return_horizon, "traditional")
    first_basis = history_start(start, EXPIRY_LOOKBACK_DAYS, "crypto")
    frame = rules.anomaly_daily(
        returns=wh.read_window(CORE_RETURNS_DAILY, first_returns, end),
        spread=wh.read_window(CORE_PERP_QUARTERLY_SPREAD, start, end),
        funding=wh.read_window(CORE_FUNDING_DAILY, start, end),
        correlations=wh.read_window(CORE_CORRELATION_DAILY, start, end),
        basis=wh.read_window(CORE_BASIS_DAILY, first_basis, end),
        a=a, nasdaq=s.nasdaq_series, min_fraction=s.correlation.min_fraction,
    ).with_columns(quality_status=pl.lit(upstream_quality(context)))
    counts = frame.filter(pl.col("date") >= start).group_by("code").len().sort("code")
    yield from store(context, warehouse, s, MARTS_ANOMALY_DAILY, frame, "core tables", trim=True,
                     firings_by_code=dg.MetadataValue.md(
                         "\n".join(f"- {code}: {n}" for code, n in counts.iter_rows()) or "none"))


def _calendars(wh) -> tuple[dict[str, pl.Series], dict[str, object]]:
    dates = wh.query("SELECT DISTINCT calendar, date FROM core.returns_daily ORDER BY 1, 2")
    by_calendar = {c: dates.filter(pl.col("calendar") == c)["date"] for c in ("crypto", "traditional")}
    latest = {c: (d.max() if d.len() else None) for c, d in by_calendar.items()}
    return by_calendar, latest


@dg.asset(
    **table_asset(
        "marts",
        MARTS_ANOMALY_EPISODES,
        "Anomaly episodes: consecutive observations (of the rule's calendar) of the same code on the same subject "
        "merged, with start, peak day, end, peak severity and whether the episode is still open. Rebuilt from "
        "marts.anomaly_daily after every run.",
        ["marts/anomaly_daily"],
        partitioned=False,
    )
)
def marts_anomaly_episodes(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    wh = warehouse.warehouse
    calendars, latest = _calendars(wh)
    frame = rules.episodes(wh.read_window(MARTS_ANOMALY_DAILY), calendars, latest)
    if frame.height == 0:
        frame = pl.DataFrame(schema=MARTS_ANOMALY_EPISODES.polars_schema)
    open_now = frame.filter(pl.col("open") & (pl.col("kind") == "anomaly")).height
    btc = wh.query("SELECT date, close FROM core.returns_daily WHERE calendar = 'crypto' AND series = 'BTC' ORDER BY date")
    yield from store_all(context, warehouse, market.settings, MARTS_ANOMALY_EPISODES, frame, "marts.anomaly_daily",
                         open_anomaly_episodes=open_now,
                         **chart_metadata(context, charts.episodes_on_price, btc, frame, title="anomaly episodes on BTC"))


@dg.asset(
    **table_asset(
        "marts",
        MARTS_ANOMALY_STATUS,
        "The live Table 1 of the article for the latest complete day: per asset pair, the typical (baseline) and "
        "current (short-window) correlation with labels, the anomaly condition watched, whether it is active and "
        "since when, severity and the trading implication. The table a trader opens first.",
        ["marts/anomaly_episodes", "core/correlation_daily"],
        partitioned=False,
    )
)
def marts_anomaly_status(context: dg.AssetExecutionContext, market: MarketDataResource, warehouse: WarehouseResource):
    wh = warehouse.warehouse
    s = market.settings
    latest_day = wh.query("SELECT max(date) FROM core.correlation_daily").item()
    correlations = wh.read_window(CORE_CORRELATION_DAILY, history_start(latest_day, 10, "crypto"), None)
    anomalies = wh.read_window(MARTS_ANOMALY_DAILY, latest_day, None)
    frame = rules.status(correlations, anomalies, wh.read_window(MARTS_ANOMALY_EPISODES), latest_day,
                         s.correlation.high, s.correlation.moderate)
    quality = anomalies["quality_status"].max() if anomalies.height else "passed"
    frame = frame.with_columns(quality_status=pl.lit(quality))
    yield from store_all(context, warehouse, s, MARTS_ANOMALY_STATUS, frame, "marts.anomaly_daily",
                         active_pairs=int(frame["active"].sum()))


@dg.asset(
    name="published_warehouse",
    key_prefix=["marts"],
    group_name="marts",
    description="What SQL users and BI tools read: a read-only copy of the whole warehouse with the stable `bi` views "
    "(docs/data_dictionary.md), plus each view as Parquet. Published only after every table of the run was built; "
    "swapped in atomically, so a reader holding the previous copy open keeps a consistent view and never blocks "
    "the pipeline.",
    deps=[dg.AssetKey(["marts", "anomaly_status"]), dg.AssetKey(["marts", "anomaly_episodes"])],
    kinds={"duckdb", "parquet"},
    metadata=table_definition_metadata(PUBLICATION),
)
def marts_published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    published = publish(warehouse.path)
    context.log.info(f"published {published.database} and {published.parquet}")
    return dg.MaterializeResult(metadata={
        "database": str(published.database.resolve()),
        "parquet": str(published.parquet.resolve()),
        "published_at": published.published_at.isoformat(timespec="seconds"),
        "rows": dg.MetadataValue.md("\n".join(f"- {name}: {n}" for name, n in published.rows.items())),
        "connect": dg.MetadataValue.md(
            f"`duckdb -readonly {published.database}`, or SQLAlchemy URL `duckdb:///{published.database}` with "
            '`connect_args={"read_only": True}`'
        ),
    })


MART_ASSETS = [marts_anomaly_daily, marts_anomaly_episodes, marts_anomaly_status, marts_published_warehouse]
