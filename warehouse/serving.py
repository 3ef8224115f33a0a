"""What readers use: a published, read-only copy of the warehouse with stable `bi` views, and Parquet.

A DuckDB file open read-write in one process cannot be opened by any other, and a reader holding it open
blocks every writer. So BI tools and the SQL command never touch the pipeline's own file. After each
successful run the pipeline publishes:

- `<published>/warehouse.duckdb`: every table (with its comments) and the `bi` views. Each publish
  writes a new file beside it and renames it over the previous copy in one atomic step: a reader that has
  the old copy open keeps reading the old copy, a new connection gets the new one, nobody sees a mix.
- `<published>/parquet/current/<view>.parquet`: each `bi` view as Parquet. Each publish writes a new
  version folder and then swaps the `current` link atomically; the last few versions are kept.

Publishing costs what changed, not the whole history: the new file starts as a byte copy of the previous
one (when its tables and views are defined the same way), and only the partitions (days) whose row count
or content hash differ from the pipeline's file are deleted and copied again. A view's Parquet file is
rewritten only when its table changed; otherwise the previous version's file is linked.

One publish at a time per folder (a lock file); a publish killed half-way leaves a temporary file, which
the next publish removes while it holds the lock, so it never removes one that is being written.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import duckdb
import polars as pl

from .db import PIPELINE_CONNECTION_CONFIG
from .schemas import (
    CORE_BASIS_DAILY,
    CORE_CORRELATION_DAILY,
    CORE_FUNDING_DAILY,
    CORE_PERP_QUARTERLY_SPREAD,
    CORE_RETURNS_DAILY,
    CORE_TABLES,
    MARTS_ANOMALY_DAILY,
    MARTS_ANOMALY_EPISODES,
    MARTS_ANOMALY_STATUS,
    MARTS_BASIS_TRADE_SUMMARY,
    MARTS_BASIS_TRADES,
    MARTS_TABLES,
    RAW_COVERAGE_LEDGER,
    RAW_TABLES,
    Column,
    TableSpec,
    ident,
)

BI_SCHEMA = "bi"
KEEP_PARQUET_VERSIONS = 3
DATABASE_NAME = "warehouse.duckdb"
TEMPORARY_PREFIX = ".warehouse-"
LOCK_NAME = ".publish.lock"


@dataclass(frozen=True)
class PublicColumn:
    """A column of a `bi` view: its public name and comment, read from `source` (default: the same name)."""

    name: str
    description: str
    source: str | None = None

    @property
    def source_column(self) -> str:
        return self.source or self.name


P = PublicColumn


@dataclass(frozen=True)
class View:
    name: str
    table: TableSpec
    description: str
    day: str | None  # public column dating each row: bi.publication's first and last day (None: undated)
    columns: tuple[PublicColumn, ...]

    @property
    def qualified(self) -> str:
        return f"{BI_SCHEMA}.{self.name}"

    def select_sql(self) -> str:
        known = set(self.table.column_names)
        missing = [c.source_column for c in self.columns if c.source_column not in known]
        if missing:
            raise ValueError(
                f"view {self.qualified} reads column(s) {missing} that {self.table.qualified} no longer has; "
                "map each public column to its new internal name (PublicColumn source=...)"
            )
        columns = ", ".join(f"{ident(c.source_column)} AS {ident(c.name)}" for c in self.columns)
        return f"SELECT {columns} FROM {self.table.qualified}"


# The stable interface. Each view lists its public columns one by one, each read from a named internal
# column: renaming or retyping an internal column does not change a public one (a missing source column is an
# error when the view is built, and tests/test_bi_contract.py freezes every public name and type).
VIEWS = (
    View(
        "anomaly_status",
        MARTS_ANOMALY_STATUS,
        "Live Table 1: one row per asset pair for the latest complete day.",
        day="as_of",
        columns=(
            P("row", "Row of Table 1"),
            P("asset_pair", "Asset pair, as the article names it"),
            P("pair", "Pair in core.correlation_daily"),
            P("as_of", "Latest complete day evaluated"),
            P("typical_correlation", "Baseline correlation (180 observations)"),
            P("typical_label", "Its label"),
            P("current_correlation", "Short-window correlation (30 observations)"),
            P("current_label", "Its label"),
            P("condition", "The anomaly condition being watched"),
            P("watched_codes", "Rule codes that make the condition active"),
            P("active", "True when a watched code fired on as_of"),
            P("active_codes", "Codes firing on as_of"),
            P("active_since", "Start of the open episode"),
            P("severity", "Highest severity on as_of"),
            P("implication", "Trading implication"),
            P("quality_status", "Data-quality gate of the inputs"),
        ),
    ),
    View(
        "anomaly_episodes",
        MARTS_ANOMALY_EPISODES,
        "Anomaly and context episodes: start, peak, end, severity, open or closed.",
        day="start",
        columns=(
            P("code", "Rule code or context label"),
            P("kind", "anomaly or context"),
            P("subject", "What fired"),
            P("calendar", "Calendar whose consecutive observations were merged"),
            P("start", "First day of the episode"),
            P("peak_date", "Day of the highest severity"),
            P("end", "Last day of the episode"),
            P("days", "Observations in the episode"),
            P("peak_severity", "Highest severity in the episode"),
            P("open", "True when the episode is still going on the latest evaluated day"),
            P("implication", "Trading implication"),
        ),
    ),
    View(
        "anomaly_daily",
        MARTS_ANOMALY_DAILY,
        "Every rule firing per day and subject, with its evidence.",
        day="date",
        columns=(
            P("date", "Observation date (trading date for cross-asset rules, UTC day otherwise)"),
            P("code", "Rule code, e.g. PERP_QUARTERLY_DIVERGENCE, or a context label"),
            P("kind", "anomaly, or context (EXPIRY_CONVERGENCE, FUNDING_PRESSURE: never counted as anomalies)"),
            P("subject", "What fired: BTC, venue:perpetual, venue:contract or a pair such as btc~gold"),
            P("calendar", "crypto (UTC days) or traditional (trading dates)"),
            P("severity", "Largest absolute z-score involved (Fisher z for correlation breaks)"),
            P("implication", "Trading implication of the rule"),
            P("z_btc", "BTC z-score: 5-observation on the traditional calendar, 1-day for crypto-only rules"),
            P("z_nasdaq", "Nasdaq 5-observation z-score"),
            P("z_gold", "Gold 5-observation z-score"),
            P("btc_return", "BTC 5-observation log return"),
            P("nasdaq_return", "Nasdaq 5-observation log return"),
            P("gold_return", "Gold 5-observation log return"),
            P("perp_premium", "Perpetual premium over spot, fraction"),
            P("quarterly_basis", "Quarterly basis F / S - 1, fraction"),
            P("gap", "perp_premium - quarterly_basis, fraction"),
            P("gap_vs_usual", "gap minus its usual level at today's dte, fraction"),
            P("gap_z", "z-score of the gap against its trailing 180 days, allowing for dte"),
            P("dte", "Days to expiry of the quarterly involved"),
            P("funding_daily", "Funding settled that UTC day, fraction"),
            P("funding_apr", "Funding APR that day, fraction per year"),
            P("funding_z", "z-score of daily funding against its trailing 180 days"),
            P("corr_short", "Short-window correlation (30 observations)"),
            P("corr_baseline", "Baseline correlation (180 observations)"),
            P("evidence", "Everything that made the rule fire, as a JSON object"),
            P("quality_status", "Data-quality gate of the inputs: passed, with any warnings named"),
        ),
    ),
    View(
        "correlations",
        CORE_CORRELATION_DAILY,
        "Short and baseline rolling correlations per pair, with labels.",
        day="date",
        columns=(
            P("date", "Last observation of the windows"),
            P("pair", "Pair name, e.g. btc~gold"),
            P("calendar", "crypto or traditional"),
            P("series_a", "First series"),
            P("series_b", "Second series"),
            P("n_short", "Observations with both returns in the short window"),
            P("corr_short", "Correlation over the short window, -1..1"),
            P("label_short", "high positive (>= 0.6), positive, weak, negative, high negative (<= -0.6)"),
            P("n_baseline", "Observations with both returns in the baseline window"),
            P("corr_baseline", "Correlation over the baseline window, -1..1"),
            P("label_baseline", "Label of the baseline correlation"),
            P("corr_change", "corr_short - corr_baseline"),
        ),
    ),
    View(
        "perp_quarterly_spread",
        CORE_PERP_QUARTERLY_SPREAD,
        "Perpetual premium against the nearest quarterly: gap, carry, z-scores.",
        day="date",
        columns=(
            P("date", "UTC day"),
            P("venue", "Exchange id"),
            P("underlying", "Base coin"),
            P("perp_symbol", "Perpetual symbol"),
            P("perp_price_type", "mark or last: the perpetual price the premium uses"),
            P("perp_premium", "perp / spot - 1, fraction"),
            P("quarterly_symbol", "Nearest quarterly with dte >= 7"),
            P("quarterly_dte", "Its days to expiry, fractional days"),
            P("quarterly_basis", "Its basis F / S - 1, fraction"),
            P("quarterly_basis_ann", "Its simple annualised basis, fraction per year"),
            P("gap", "perp_premium - quarterly_basis, fraction"),
            P("gap_vs_usual", "gap minus its usual level at today's dte (trailing 180-day fit on dte), fraction"),
            P("gap_z", "z-score of gap against the trailing 180 days, allowing for dte (a contract roll is not a"
              " divergence)"),
            P("funding_apr_7d", "Perpetual's 7-day mean funding APR, fraction per year"),
            P("carry_spread", "quarterly_basis_ann - funding_apr_7d, fraction per year"),
            P("carry_spread_z", "z-score of carry_spread against the trailing 180 days"),
        ),
    ),
    View(
        "basis",
        CORE_BASIS_DAILY,
        "Basis of every dated future, the perpetual premium and the 90-day constant maturity.",
        day="date",
        columns=(
            P("date", "UTC day"),
            P("venue", "Exchange id"),
            P("underlying", "Base coin"),
            P("symbol", "Contract symbol; <coin>-CM90D for the constant-maturity point"),
            P("kind", "future | perp | constant_maturity"),
            P("price_type", "Price used for the derivative: last or mark (perpetuals use mark when published)"),
            P("expiry_ts", "Expiry, UTC (futures)"),
            P("dte", "Days to expiry from the close of the UTC day, fractional days"),
            P("price", "Derivative close, quote currency per coin"),
            P("spot", "Spot (or index) close on the same venue, quote currency per coin"),
            P("basis_abs", "F - S, quote currency per coin"),
            P("basis", "F / S - 1, fraction (the perpetual premium for kind perp)"),
            P("basis_ann_simple", "basis * 365 / dte, fraction per year; null when dte < 3"),
            P("basis_ann_log", "ln(F / S) * 365 / dte, fraction per year (continuous); null when dte < 3"),
            P("short_dte", "True when dte < 3: annualised values left null because they explode"),
            P("structure", "contango (basis > 0), backwardation (< 0) or flat"),
        ),
    ),
    View(
        "funding",
        CORE_FUNDING_DAILY,
        "Daily funding per venue and perpetual: sum, APR, rolling means, z-score.",
        day="date",
        columns=(
            P("date", "UTC day of the settlements"),
            P("venue", "Exchange id"),
            P("symbol", "Perpetual symbol"),
            P("settlements", "Settlements in the day"),
            P("interval_hours", "Interval of the day's last settlement, hours"),
            P("hours_covered", "Sum of the settlements' intervals, hours (24 on a complete day)"),
            P("daily_rate", "Sum of the rates settled in the day, fraction"),
            P("apr", "Funding APR: mean(rate) * (24 / interval_hours) * 365, fraction per year"),
            P("apr_7d", "Mean APR over the last 7 UTC days, fraction per year"),
            P("apr_30d", "Mean APR over the last 30 UTC days, fraction per year"),
            P("daily_rate_z", "z-score of daily_rate against the trailing 180 days (current excluded)"),
        ),
    ),
    View(
        "returns",
        CORE_RETURNS_DAILY,
        "Daily log returns on the crypto and traditional calendars.",
        day="date",
        columns=(
            P("calendar", "crypto (UTC days) or traditional (trading dates)"),
            P("series", "BTC, ETH (reference venue spot), BTC_PERP, BTC_QUARTERLY, gold, nasdaq, ..."),
            P("date", "End of the return interval (UTC day or trading date)"),
            P("prev_date", "Start of the return interval (previous date of the calendar)"),
            P("symbol", "Instrument behind the series that day (the quarterly contract rolls)"),
            P("close", "Close at date, instrument units"),
            P("log_return", "ln(close / close at prev_date); null when either close is missing"),
        ),
    ),
    View(
        "basis_trades",
        MARTS_BASIS_TRADES,
        "The convergence trade replayed on every perp/quarterly divergence and liquidation dislocation, and the "
        "carry baseline: entry, exit, P&L split into spread, funding, fees and slippage, risk.",
        day="signal_date",
        columns=(
            P("code", "Signal code (PERP_QUARTERLY_DIVERGENCE, LIQUIDATION_DISLOCATION) or CARRY_BASELINE"),
            P("venue", "Exchange id"),
            P("underlying", "Base coin"),
            P("contract_type", "linear (USDT-margined, P&L in USDT) or inverse (coin-margined, contract value in USD, "
              "P&L in the coin)"),
            P("pnl_currency", "Currency of every P&L, fee and margin column: USDT or the coin"),
            P("signal_date", "UTC day the signal was seen at its close (episode start; carry: basis above the "
              "threshold)"),
            P("signal_gap", "Signal day's gap, perp premium - quarterly basis, fraction of spot"),
            P("signal_gap_vs_usual", "Signal day's gap minus its usual level, fraction of spot; its sign says which leg is "
              "rich"),
            P("signal_gap_z", "Signal day's gap z-score"),
            P("signal_basis_ann", "Signal day's simple annualised basis of the traded quarterly, fraction per year"),
            P("direction", "short_perp_long_quarterly, long_perp_short_quarterly or long_spot_short_quarterly"),
            P("hedge_kind", "perp, or spot for the carry baseline"),
            P("hedge_symbol", "Symbol of the perpetual (or spot) leg"),
            P("hedge_side", "+1 long, -1 short: the perpetual (or spot) leg"),
            P("quarterly_symbol", "Dated future traded (the nearest with dte >= 7 on the signal day)"),
            P("quarterly_side", "+1 long, -1 short: the quarterly leg"),
            P("quarterly_expiry", "Expiry (delivery) of the quarterly, UTC"),
            P("entry_date", "UTC day whose close is the entry: the first after signal_date (null: pending)"),
            P("entry_hedge_price", "Perpetual (mark where published) or spot close at entry, USD per coin"),
            P("entry_quarterly_price", "Quarterly close at entry, USD per coin"),
            P("entry_dte", "Quarterly's days to expiry at entry"),
            P("exit_date", "UTC day of the exit close (expiry day for a delivery; latest day while open)"),
            P("exit_hedge_price", "Perpetual (or spot) price at exit, USD per coin; at a delivery the settlement price "
              "times (1 + the perpetual premium at the last close)"),
            P("exit_quarterly_price", "Quarterly close at exit (settlement price at a delivery), USD per coin"),
            P("exit_reason", "convergence, stop, expiry (N days before), settlement (delivery), max_holding; open "
              "(marked to the latest close) or pending (no entry yet)"),
            P("days_held", "From the entry close to the exit, fractional days"),
            P("funding_settlements", "Funding settlements of the perpetual between entry and exit"),
            P("notional_usd", "Notional of each leg at entry, USD"),
            P("spread_pnl", "Both legs' price P&L, in pnl_currency (USDT for linear contracts, the coin for inverse "
              "ones)"),
            P("funding_pnl", "Funding received (+) or paid (-) on the perpetual leg at its settlements, in "
              "pnl_currency (USDT for linear contracts, the coin for inverse ones)"),
            P("fees", "Fees on both legs at entry and exit (per venue, from the settings), in pnl_currency "
              "(USDT for linear contracts, the coin for inverse ones)"),
            P("slippage", "Slippage against the close on both legs at entry and exit, in pnl_currency (USDT for "
              "linear contracts, the coin for inverse ones)"),
            P("net_pnl", "spread_pnl + funding_pnl - fees - slippage, in pnl_currency (USDT for linear contracts, "
              "the coin for inverse ones)"),
            P("margin_used", "Derivative legs' notional / leverage (a spot leg paid in full), in pnl_currency (USDT "
              "for linear contracts, the coin for inverse ones)"),
            P("return_on_margin", "net_pnl / margin_used, fraction (not annualised)"),
            P("max_adverse_excursion", "Worst mark-to-market loss (spread P&L + funding so far) at a daily close while open, "
              "positive, in pnl_currency (USDT for linear contracts, the coin for inverse ones)"),
            P("mae_date", "UTC day of that worst close"),
            P("liquidation_leverage", "Lowest leverage at which both legs in one cross-margined account would have been "
              "liquidated on the worst day: 1 / (maintenance margin + MAE / gross notional)"),
            P("liquidation_leverage_isolated", "The same for the worst single leg margined on its own: 1 / (maintenance margin + its "
              "worst loss / its notional)"),
            P("liquidated_at_leverage", "True when the settings' leverage is at or above liquidation_leverage"),
        ),
    ),
    View(
        "basis_trade_summary",
        MARTS_BASIS_TRADE_SUMMARY,
        "The trades per venue, code, signal year and P&L currency: hit rate, mean and median P&L, worst trade, "
        "return on margin; compare each signal code with CARRY_BASELINE.",
        day=None,
        columns=(
            P("venue", "Exchange id"),
            P("code", "Signal code or CARRY_BASELINE"),
            P("year", "Year of the signal day"),
            P("pnl_currency", "Currency of the P&L columns: USDT or the coin"),
            P("trades", "Closed trades"),
            P("open_trades", "Trades still open or pending (not in the statistics)"),
            P("hit_rate", "Share of closed trades with net_pnl > 0, fraction"),
            P("mean_pnl", "Mean net_pnl, in pnl_currency (USDT for linear contracts, the coin for inverse ones)"),
            P("median_pnl", "Median net_pnl, in pnl_currency (USDT for linear contracts, the coin for inverse ones)"),
            P("total_pnl", "Sum of net_pnl, in pnl_currency (USDT for linear contracts, the coin for inverse ones)"),
            P("worst_pnl", "Worst trade's net_pnl, in pnl_currency (USDT for linear contracts, the coin for inverse "
              "ones)"),
            P("worst_signal_date", "Signal day of the worst trade"),
            P("mean_days_held", "Mean days held"),
            P("return_on_margin_ann", "total_pnl / sum(margin_used * days_held / 365): return per unit of margin per year it "
              "was tied up, fraction per year"),
        ),
    ),
    View(
        "coverage_ledger",
        RAW_COVERAGE_LEDGER,
        "Every hole in the raw data: missing, quarantined or outage (open), late-arrived or filled (resolved).",
        day="date",
        columns=(
            P("table", "Raw table the hole is in"),
            P("subject", "Series, venue:symbol or venue:coin:kind"),
            P("date", "Day of the hole (trading date or UTC day)"),
            P("status", "missing, quarantined, outage (open); late-arrived, filled (resolved)"),
            P("reason", "The failed expectation(s), the source's error, or the session without a bar"),
            P("first_seen", "When the hole was first recorded, UTC"),
            P("last_attempt", "Last run that asked for the day, UTC"),
            P("attempts", "Runs that asked for the day since it was first seen"),
        ),
    ),
)
ALL_TABLES = (*RAW_TABLES, RAW_COVERAGE_LEDGER, *CORE_TABLES, *MARTS_TABLES)

# Written into each snapshot: what was published when, so a reader can tell which run it is looking at.
PUBLICATION = TableSpec(
    BI_SCHEMA,
    "publication",
    "One row per published view of this snapshot: when it was published, its rows and its Parquet file.",
    (
        Column("view", pl.Utf8, "Qualified view name (bi.<name>)", False),
        Column("rows", pl.Int64, "Rows in the view at publish time", False),
        Column("first_date", pl.Date, "Earliest day in the view (date, as_of or episode start)"),
        Column("last_date", pl.Date, "Latest day in the view"),
        Column("parquet_file", pl.Utf8, "Parquet copy, relative to the published folder", False),
        Column("published_at", pl.Datetime, "Publish time, UTC", False),
    ),
    key=("view",),
    partition_column="published_at",
)


# Written into each snapshot beside the tables: the interface fingerprint the snapshot was built with (the next
# publish starts from a copy of it only when its own is the same), and each table's per-day row count and
# content hash (so the next publish hashes only the pipeline's side to find the days that changed).
STATE_SCHEMA = "publish_state"
PUBLISH_STATE = f"{STATE_SCHEMA}.interface"
DAY_FINGERPRINTS = f"{STATE_SCHEMA}.days"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(view: View) -> list[str]:
    statements = [
        f"CREATE SCHEMA IF NOT EXISTS {BI_SCHEMA}",
        f"CREATE OR REPLACE VIEW {view.qualified} AS {view.select_sql()}",
        f"COMMENT ON VIEW {view.qualified} IS {_quote(view.description)}",
    ]
    statements += [
        f"COMMENT ON COLUMN {view.qualified}.{ident(c.name)} IS {_quote(c.description)}" for c in view.columns
    ]
    return statements


def interface_sql() -> list[str]:
    """Every statement that defines the snapshot's tables and views, with their comments."""
    statements = [s for spec in ALL_TABLES for s in spec.create_sql()]
    statements += [s for view in VIEWS for s in view_sql(view)]
    return statements + PUBLICATION.create_sql()


INTERFACE_FINGERPRINT = hashlib.sha256("\n".join(interface_sql()).encode()).hexdigest()


def build_interface(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table (empty if absent) and every view, with comments, on `con`."""
    for statement in interface_sql():
        con.execute(statement)


@dataclass(frozen=True)
class Published:
    database: Path
    parquet: Path
    rows: dict[str, int]  # qualified table -> rows in the snapshot
    published_at: dt.datetime
    incremental: bool  # started from a copy of the previous snapshot
    changed: dict[str, int] = field(default_factory=dict)  # qualified table -> partitions copied again


def published_dir(warehouse_path: str | Path) -> Path:
    return Path(warehouse_path).parent / "published"


def published_database(warehouse_path: str | Path) -> Path:
    """Where the read-only copy of the warehouse at `warehouse_path` is published."""
    return published_dir(warehouse_path) / DATABASE_NAME


def connect_published(database: str | Path) -> duckdb.DuckDBPyConnection:
    """A connection to a published snapshot that can read it and nothing else.

    DuckDB enforces it: the file is opened read-only, every other file (reads, writes, ATTACH, COPY,
    extensions) is refused with external access disabled, and the configuration is locked so no SET can
    give that back."""
    path = Path(database)
    if not path.is_file():
        raise FileNotFoundError(f"no published warehouse at {path}; run `make demo` (or a pipeline run) first")
    con = duckdb.connect(str(path), read_only=True, config={
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "lock_configuration": True,
    })
    return con


@contextmanager
def _publish_lock(target: Path) -> Iterator[None]:
    """One publish at a time in `target`: the lock is the operating system's, released when its holder exits
    or dies, so a file left by a killed publish is known to be abandoned once the lock is ours."""
    with open(target / LOCK_NAME, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_leftovers(target: Path) -> list[Path]:
    """Delete what killed publishes left in `target`: temporary snapshots (and their WAL), half-made links.
    Call only while holding the publish lock."""
    removed = []
    for path in [*target.glob(f"{TEMPORARY_PREFIX}*"), *(target / "parquet").glob(".current-*")]:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def publish(warehouse_path: str | Path, target: str | Path | None = None, *, full: bool = False) -> Published:
    """Bring a new read-only snapshot and its Parquet files up to date with the warehouse, then swap them in
    atomically. `full=True` rebuilds the snapshot from nothing instead of from a copy of the previous one."""
    source = Path(warehouse_path)
    target = Path(target) if target else published_dir(source)
    target.mkdir(parents=True, exist_ok=True)
    with _publish_lock(target):
        remove_leftovers(target)
        return _publish(source, target, full)


def _publish(source: Path, target: Path, full: bool) -> Published:
    stamp = dt.datetime.now(dt.timezone.utc)
    version = f"{stamp:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
    database = target / DATABASE_NAME
    temporary = target / f"{TEMPORARY_PREFIX}{version}.duckdb"
    incremental = not full and _fingerprint_of(database) == INTERFACE_FINGERPRINT
    if incremental:
        shutil.copyfile(database, temporary)
    parquet_root = target / "parquet"
    previous_parquet = (parquet_root / "current").resolve() if (parquet_root / "current").is_dir() else None
    parquet_version = parquet_root / version
    snapshot = duckdb.connect(str(temporary), config=dict(PIPELINE_CONNECTION_CONFIG))
    try:
        snapshot.execute("SET TimeZone = 'UTC'")
        snapshot.execute("BEGIN TRANSACTION")  # one commit, not one per statement
        if not incremental:
            build_interface(snapshot)
            snapshot.execute(f"CREATE SCHEMA {STATE_SCHEMA}")
            snapshot.execute(f"CREATE TABLE {PUBLISH_STATE} (interface VARCHAR NOT NULL)")
            snapshot.execute(f"INSERT INTO {PUBLISH_STATE} VALUES (?)", [INTERFACE_FINGERPRINT])
            snapshot.execute(f"CREATE TABLE {DAY_FINGERPRINTS} "
                             "(table_name VARCHAR NOT NULL, day DATE NOT NULL, n BIGINT NOT NULL, h HUGEINT)")
        snapshot.execute(f"ATTACH {_quote(str(source))} AS live (READ_ONLY)")
        changed = {spec.qualified: _synchronise(snapshot, spec) for spec in ALL_TABLES}
        rows = {spec.qualified: snapshot.execute(f"SELECT count(*) FROM {spec.qualified}").fetchone()[0]
                for spec in ALL_TABLES}
        parquet_version.mkdir(parents=True)
        snapshot.execute(f"DELETE FROM {PUBLICATION.qualified}")
        for view in VIEWS:
            file = parquet_version / f"{view.name}.parquet"
            earlier = previous_parquet / file.name if previous_parquet else None
            if incremental and not changed[view.table.qualified] and earlier and earlier.is_file():
                os.link(earlier, file)  # the same bytes: nothing in its table changed
            else:
                snapshot.execute(f"COPY (SELECT * FROM {view.qualified}) TO {_quote(str(file))} (FORMAT parquet)")
            day = ident(view.day) if view.day else "NULL"
            snapshot.execute(
                f"INSERT INTO {PUBLICATION.qualified} SELECT ?, count(*), CAST(min({day}) AS DATE), "
                f"CAST(max({day}) AS DATE), ?, ? FROM {view.qualified}",
                [view.qualified, f"parquet/current/{file.name}", stamp.replace(tzinfo=None)],
            )
        snapshot.execute("COMMIT")
        snapshot.execute("DETACH live")
        snapshot.execute("CHECKPOINT")
    except BaseException:
        snapshot.close()
        temporary.unlink(missing_ok=True)
        Path(f"{temporary}.wal").unlink(missing_ok=True)
        shutil.rmtree(parquet_version, ignore_errors=True)
        raise
    snapshot.close()
    os.replace(temporary, database)  # atomic: a reader sees the old file or the new one
    current = parquet_root / "current"
    link = parquet_root / f".current-{version}"
    link.symlink_to(version, target_is_directory=True)
    os.replace(link, current)
    _prune(parquet_root)
    return Published(database=database, parquet=current, rows=rows, published_at=stamp, incremental=incremental,
                     changed={name: n for name, n in changed.items() if n})


def _fingerprint_of(database: Path) -> str | None:
    """The interface fingerprint a published snapshot was built with; None when there is none to reuse."""
    if not database.is_file():
        return None
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            return con.execute(f"SELECT max(interface) FROM {PUBLISH_STATE}").fetchone()[0]
    except duckdb.Error:  # older layout, or not a snapshot: rebuild from nothing
        return None


def _synchronise(snapshot: duckdb.DuckDBPyConnection, spec: TableSpec) -> int:
    """Make the snapshot's copy of `spec` equal the live table, copying again only the days (partitions) whose
    row count or content hash differ from the ones recorded at the last publish. Returns how many days were
    copied again or emptied."""
    live_exists = snapshot.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'live' AND schema_name = ? AND table_name = ?",
        [spec.schema, spec.name],
    ).fetchone()[0]
    # A table rebuilt whole on every run (episodes, Table 1, trades, the alert log) is one unit: its
    # partition column may not even be a date (the trade summary's year).
    day = ident(spec.partition_column) if spec.partitioned else "DATE '1970-01-01'"
    columns = ", ".join(ident(c) for c in spec.column_names)
    live = (f"SELECT {day} AS day, count(*) AS n, sum(hash({columns})) AS h FROM live.{spec.qualified} GROUP BY {day}"
            if live_exists else "SELECT NULL::DATE AS day, 0::BIGINT AS n, NULL::HUGEINT AS h WHERE false")
    recorded = f"SELECT day, n, h FROM {DAY_FINGERPRINTS} WHERE table_name = {_quote(spec.qualified)}"
    snapshot.execute(
        f"CREATE OR REPLACE TEMP TABLE changed_days AS SELECT coalesce(l.day, r.day) AS day, l.n, l.h "
        f"FROM ({live}) l FULL JOIN ({recorded}) r ON l.day = r.day "
        "WHERE l.n IS DISTINCT FROM r.n OR l.h IS DISTINCT FROM r.h"
    )
    count = snapshot.execute("SELECT count(*) FROM changed_days").fetchone()[0]
    if count:
        in_changed = f"{day} IN (SELECT day FROM changed_days)" if spec.partitioned else "true"
        snapshot.execute(f"DELETE FROM {spec.qualified} WHERE {in_changed}")
        if live_exists:
            snapshot.execute(f"INSERT INTO {spec.qualified} ({columns}) SELECT {columns} "
                             f"FROM live.{spec.qualified} WHERE {in_changed}")
        snapshot.execute(f"DELETE FROM {DAY_FINGERPRINTS} WHERE table_name = ? "
                         "AND day IN (SELECT day FROM changed_days)", [spec.qualified])
        snapshot.execute(f"INSERT INTO {DAY_FINGERPRINTS} SELECT ?, day, n, h FROM changed_days WHERE n IS NOT NULL",
                         [spec.qualified])
    snapshot.execute("DROP TABLE changed_days")
    return count


def _prune(parquet_root: Path) -> None:
    versions = sorted(p for p in parquet_root.iterdir() if p.is_dir() and not p.is_symlink())
    current = (parquet_root / "current").resolve()
    for old in versions[:-KEEP_PARQUET_VERSIONS]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
