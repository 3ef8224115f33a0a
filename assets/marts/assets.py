"""Marts: the anomaly engine's tables. Built only when every quality gate upstream passed in the run."""

import datetime as dt
import os

import dagster as dg
import polars as pl

from assets import charts
from assets.metadata import chart_metadata, table_asset, table_definition_metadata, window
from assets.reads import Read, Reads, history_days
from assets.resources import AnalyticsResource, WarehouseResource
from assets.store import one_connection, store, store_all
from warehouse.schemas import (
    CORE_BASIS_DAILY,
    CORE_CORRELATION_DAILY,
    CORE_FUNDING_DAILY,
    CORE_PERP_QUARTERLY_SPREAD,
    CORE_RETURNS_DAILY,
    MARTS_ALERT_LOG,
    MARTS_ANOMALY_DAILY,
    MARTS_ANOMALY_EPISODES,
    MARTS_ANOMALY_STATUS,
    MARTS_BASIS_TRADES,
    MARTS_BASIS_TRADE_SUMMARY,
    RAW_COVERAGE_LEDGER,
    RAW_CRYPTO_OHLCV,
    RAW_FUNDING,
)
from warehouse.serving import PUBLICATION, publish

from . import alerts, backtest, notify, rules
from .coverage import status_quality, with_quality_status

# Days of basis history the expiry-convergence label compares against.
EXPIRY_LOOKBACK_DAYS = 7
# Every stored row passed the blocking gates of its table before it was written, and the marts run only on
# stored rows: the status is a property of the data, the same whichever run built the mart.
GATES_PASSED = "passed"


def build_mart_assets(settings, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    a = settings.anomaly

    def mart_asset(spec, description, reads):
        asset = dg.asset(**table_asset("marts", spec, description, settings, partitions_def, reads=reads))
        return lambda compute: asset(one_connection(compute))

    daily_reads = Reads(
        Read(CORE_RETURNS_DAILY, history_days(a.sigma_window + a.return_horizon, "traditional")),
        Read(CORE_PERP_QUARTERLY_SPREAD, required=False),
        Read(CORE_FUNDING_DAILY, required=False),
        Read(CORE_CORRELATION_DAILY, required=False),
        Read(CORE_BASIS_DAILY, history_days(EXPIRY_LOOKBACK_DAYS, "crypto"), required=False),
        Read(RAW_COVERAGE_LEDGER, None, required=False),
    )

    @mart_asset(MARTS_ANOMALY_DAILY,
                "Every anomaly rule of the domain reference evaluated per day and subject, one row per firing: the "
                "code, the subject (BTC, venue:perpetual, venue:contract or a pair), the evidence that made it fire "
                "(returns, z-scores, premium, basis, funding, correlations, dte), severity (0 to 10, one scale for every code; "
                "the raw z stays in the evidence), "
                "the trading implication and the quality status of its inputs. Context labels (expiry convergence, "
                f"funding pressure) have kind 'context'. A BTC crash is z <= {a.crash_z:g}.", daily_reads)
    def marts_anomaly_daily(context: dg.AssetExecutionContext, analytics: AnalyticsResource,
                            warehouse: WarehouseResource):
        start, end = window(context)
        s = analytics.settings
        inputs = daily_reads.load(warehouse.warehouse, start, end)
        frame = rules.anomaly_daily(
            returns=inputs[CORE_RETURNS_DAILY], spread=inputs[CORE_PERP_QUARTERLY_SPREAD],
            funding=inputs[CORE_FUNDING_DAILY], correlations=inputs[CORE_CORRELATION_DAILY],
            basis=inputs[CORE_BASIS_DAILY], a=s.anomaly, nasdaq=s.nasdaq_series,
        )
        frame = with_quality_status(frame, inputs[RAW_COVERAGE_LEDGER], s.reference_venue)
        counts = frame.filter(pl.col("date") >= start).group_by("code").len().sort("code")
        yield from store(context, warehouse, s, MARTS_ANOMALY_DAILY, frame, daily_reads.label, trim=True,
                         firings_by_code=dg.MetadataValue.md(
                             "\n".join(f"- {code}: {n}" for code, n in counts.iter_rows()) or "none"))

    episode_reads = Reads(Read(MARTS_ANOMALY_DAILY, None, required=False), Read(CORE_RETURNS_DAILY, None))

    @mart_asset(MARTS_ANOMALY_EPISODES,
                "Anomaly episodes: consecutive observations (of the rule's calendar) of the same code on the same "
                "subject merged, with start, peak day, end, peak severity and whether the episode is still open. "
                "Rebuilt from marts.anomaly_daily after every run.", episode_reads)
    def marts_anomaly_episodes(context: dg.AssetExecutionContext, analytics: AnalyticsResource,
                               warehouse: WarehouseResource):
        inputs = episode_reads.load(warehouse.warehouse)
        returns = inputs[CORE_RETURNS_DAILY]
        calendars = {c: returns.filter(pl.col("calendar") == c)["date"].unique().sort() for c in ("crypto", "traditional")}
        latest = {c: (d.max() if d.len() else None) for c, d in calendars.items()}
        frame = rules.episodes(inputs[MARTS_ANOMALY_DAILY], calendars, latest)
        if frame.height == 0:
            frame = pl.DataFrame(schema=MARTS_ANOMALY_EPISODES.polars_schema)
        open_now = frame.filter(pl.col("open") & (pl.col("kind") == "anomaly")).height
        btc = returns.filter((pl.col("calendar") == "crypto") & (pl.col("series") == "BTC")).select("date", "close").sort("date")
        yield from store_all(context, warehouse, analytics.settings, MARTS_ANOMALY_EPISODES, frame,
                             episode_reads.label, open_anomaly_episodes=open_now,
                             **chart_metadata(context, charts.episodes_on_price, btc, frame,
                                              rules.baselines_complete_from(returns, analytics.settings.anomaly),
                                              title="anomaly episodes on BTC"))

    status_reads = Reads(Read(CORE_CORRELATION_DAILY, None), Read(MARTS_ANOMALY_DAILY, None, required=False),
                         Read(MARTS_ANOMALY_EPISODES, None, required=False),
                         Read(RAW_COVERAGE_LEDGER, None, required=False))

    @mart_asset(MARTS_ANOMALY_STATUS,
                "The live Table 1 of the article for the latest complete day: per asset pair, the typical (baseline) "
                "and current (short-window) correlation with labels, the anomaly condition watched, whether it is "
                "active and since when, severity and the trading implication. The table a trader opens first.",
                status_reads)
    def marts_anomaly_status(context: dg.AssetExecutionContext, analytics: AnalyticsResource,
                             warehouse: WarehouseResource):
        s = analytics.settings
        inputs = status_reads.load(warehouse.warehouse)
        correlations = inputs[CORE_CORRELATION_DAILY]
        latest_day = correlations["date"].max()
        recent = correlations.filter(pl.col("date") >= latest_day - dt.timedelta(days=11))
        latest = rules.latest_observations(
            {c: recent.filter(pl.col("calendar") == c)["date"].unique() for c in ("crypto", "traditional")}, latest_day)
        anomalies = inputs[MARTS_ANOMALY_DAILY].filter(pl.col("date") >= latest_day - dt.timedelta(days=11))
        frame = rules.status(recent, anomalies, inputs[MARTS_ANOMALY_EPISODES], latest_day, s.correlation.high,
                             s.correlation.moderate, latest)
        on_latest_day = anomalies.filter(pl.col("date") == latest_day)
        quality = on_latest_day["quality_status"].max() if on_latest_day.height else GATES_PASSED
        pairs = {p[0]: (p[1], p[2]) for p in s.pairs()}
        frame = status_quality(frame, pairs, inputs[RAW_COVERAGE_LEDGER], latest_day, list(s.traditional_series()),
                               s.reference_venue, quality)
        yield from store_all(context, warehouse, s, MARTS_ANOMALY_STATUS, frame, status_reads.label,
                             active_pairs=int(frame["active"].sum()))

    trade_reads = Reads(Read(CORE_PERP_QUARTERLY_SPREAD, None, required=False), Read(CORE_BASIS_DAILY, None),
                        Read(RAW_FUNDING, None, required=False), Read(MARTS_ANOMALY_EPISODES, None, required=False),
                        Read(RAW_CRYPTO_OHLCV, None))
    b = settings.backtest

    @mart_asset(MARTS_BASIS_TRADES,
                "The convergence trade of the article (section 4.1) replayed on every PERP_QUARTERLY_DIVERGENCE and "
                "LIQUIDATION_DISLOCATION episode: long the cheap leg, short the rich one, entered at the next close "
                f"after the signal, out at convergence (gap z within {b.exit_gap_z:g}), a stop of {b.stop_loss:.0%}, "
                f"{b.max_holding_days} days at most, or expiry; spread P&L, funding at the actual settlements, fees "
                "and slippage, linear and inverse; beside it the plain carry baseline (CARRY_BASELINE). Daily closes "
                "only: what the sample market says about profitability is no evidence for real markets.", trade_reads)
    def marts_basis_trades(context: dg.AssetExecutionContext, analytics: AnalyticsResource,
                           warehouse: WarehouseResource):
        s = analytics.settings
        inputs = trade_reads.load(warehouse.warehouse)
        basis = inputs[CORE_BASIS_DAILY]
        frame = backtest.basis_trades(
            inputs[CORE_PERP_QUARTERLY_SPREAD], basis, inputs[RAW_FUNDING], inputs[MARTS_ANOMALY_EPISODES],
            s.backtest, deliveries=backtest.delivery_prices(inputs[RAW_CRYPTO_OHLCV], basis),
        )
        yield from store_all(context, warehouse, s, MARTS_BASIS_TRADES, frame, trade_reads.label,
                             **chart_metadata(context, charts.cumulative_pnl, frame, title="cumulative net P&L"))

    summary_reads = Reads(Read(MARTS_BASIS_TRADES, None, required=False))

    @mart_asset(MARTS_BASIS_TRADE_SUMMARY,
                "marts.basis_trades per venue, code, signal year and P&L currency: trades, hit rate, mean and median "
                "P&L, worst trade, return on margin annualised. Compare each signal code with CARRY_BASELINE.",
                summary_reads)
    def marts_basis_trade_summary(context: dg.AssetExecutionContext, analytics: AnalyticsResource,
                                  warehouse: WarehouseResource):
        trades = summary_reads.load(warehouse.warehouse)[MARTS_BASIS_TRADES]
        frame = backtest.trade_summary(trades)
        yield from store_all(context, warehouse, analytics.settings, MARTS_BASIS_TRADE_SUMMARY, frame,
                             summary_reads.label)

    alert_reads = Reads(Read(MARTS_ANOMALY_EPISODES, None, required=False),
                        Read(MARTS_ANOMALY_STATUS, None, required=False))

    @dg.asset(
        name=MARTS_ALERT_LOG.name, key_prefix=["marts"], group_name="marts", kinds={"python"},
        deps=alert_reads.deps(False), metadata=table_definition_metadata(MARTS_ALERT_LOG),
        description="Notifications: when an anomaly episode opens or a Table 1 row turns active or quiet, the "
        "configured webhooks and emails (settings `alerts`) are told once, with the evidence; reruns and backfills "
        "repeat nothing (old changes are recorded as suppressed), and a failed send is retried on later runs. "
        "The table is the log of every send.",
    )
    def marts_alert_log(context: dg.AssetExecutionContext, analytics: AnalyticsResource,
                        warehouse: WarehouseResource) -> dg.MaterializeResult:
        s = analytics.settings
        wh = warehouse.warehouse
        inputs = alert_reads.load(wh)
        log = wh.read_window(MARTS_ALERT_LOG)
        # The run's own UTC day, not the data's latest day: that is what keeps a backfill of old days quiet.
        today = dt.datetime.now(dt.timezone.utc).date()
        due = alerts.pending_alerts(inputs[MARTS_ANOMALY_EPISODES], inputs[MARTS_ANOMALY_STATUS], log, today, s)
        written = notify.send(due, s, os.environ)
        # Appended to, never rebuilt (the log is what keeps an alert from being sent twice); also created when
        # nothing was due, so readers always find the table.
        wh.replace_all(MARTS_ALERT_LOG, pl.concat([log, written], how="vertical_relaxed"), source="alerts")
        for row in written.filter(pl.col("status") == "failed").iter_rows(named=True):
            context.log.warning(f"alert {row['alert_key']} to {row['channel']} failed: {row['error']}")
        counts = written.group_by("status").len().sort("status")
        return dg.MaterializeResult(metadata={
            "channels": len(s.alerts.channels),
            "this_run": dg.MetadataValue.md("\n".join(f"- {st}: {n}" for st, n in counts.iter_rows()) or "nothing due"),
        })

    @dg.asset(
        name="published_warehouse",
        key_prefix=["marts"],
        group_name="marts",
        description="What SQL users and BI tools read: a read-only copy of the whole warehouse with the stable `bi` views "
        "(docs/data_dictionary.md), plus each view as Parquet. Published only after every table of the run was built; "
        "swapped in atomically, so a reader holding the previous copy open keeps a consistent view and never blocks "
        "the pipeline.",
        deps=[dg.AssetKey(["marts", name]) for name in ("anomaly_status", "anomaly_episodes", "basis_trade_summary",
                                                         "alert_log")],
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

    return [marts_anomaly_daily, marts_anomaly_episodes, marts_anomaly_status, marts_basis_trades,
            marts_basis_trade_summary, marts_alert_log, marts_published_warehouse]
