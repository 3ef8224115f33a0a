"""Marts: the anomaly engine's tables. Built only when every quality gate upstream passed in the run."""

import datetime as dt

import dagster as dg
import polars as pl

from assets import charts
from assets.metadata import chart_metadata, table_asset, table_definition_metadata, window
from assets.reads import Read, Reads, history_days
from assets.resources import AnalyticsResource, WarehouseResource
from assets.store import store, store_all
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
# Every stored row passed the blocking gates of its table before it was written, and the marts run only on
# stored rows: the status is a property of the data, the same whichever run built the mart.
GATES_PASSED = "passed"


def build_mart_assets(settings, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    a = settings.anomaly

    def mart_asset(spec, description, reads):
        return dg.asset(**table_asset("marts", spec, description, settings, partitions_def, reads=reads))

    daily_reads = Reads(
        Read(CORE_RETURNS_DAILY, history_days(a.sigma_window + a.return_horizon, "traditional")),
        Read(CORE_PERP_QUARTERLY_SPREAD, required=False),
        Read(CORE_FUNDING_DAILY, required=False),
        Read(CORE_CORRELATION_DAILY, required=False),
        Read(CORE_BASIS_DAILY, history_days(EXPIRY_LOOKBACK_DAYS, "crypto"), required=False),
    )

    @mart_asset(MARTS_ANOMALY_DAILY,
                "Every anomaly rule of the domain reference evaluated per day and subject, one row per firing: the "
                "code, the subject (BTC, venue:perpetual, venue:contract or a pair), the evidence that made it fire "
                "(returns, z-scores, premium, basis, funding, correlations, dte), severity (the largest z involved), "
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
        ).with_columns(quality_status=pl.lit(GATES_PASSED))
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
                                              title="anomaly episodes on BTC"))

    status_reads = Reads(Read(CORE_CORRELATION_DAILY, None), Read(MARTS_ANOMALY_DAILY, None, required=False),
                         Read(MARTS_ANOMALY_EPISODES, None, required=False))

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
        anomalies = inputs[MARTS_ANOMALY_DAILY].filter(pl.col("date") == latest_day)
        frame = rules.status(correlations.filter(pl.col("date") >= latest_day - dt.timedelta(days=11)), anomalies,
                             inputs[MARTS_ANOMALY_EPISODES], latest_day, s.correlation.high, s.correlation.moderate)
        quality = anomalies["quality_status"].max() if anomalies.height else GATES_PASSED
        frame = frame.with_columns(quality_status=pl.lit(quality))
        yield from store_all(context, warehouse, s, MARTS_ANOMALY_STATUS, frame, status_reads.label,
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

    return [marts_anomaly_daily, marts_anomaly_episodes, marts_anomaly_status, marts_published_warehouse]
