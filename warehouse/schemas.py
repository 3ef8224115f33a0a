"""Table specifications: the single description of every warehouse table.

Each spec gives the DuckDB DDL (with column comments), the polars schema used to validate what is
written, and the column docs shown in the Dagster UI and the data dictionary.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

_SQL_TYPES = {
    pl.Date: "DATE",
    pl.Datetime: "TIMESTAMP",
    pl.Utf8: "VARCHAR",
    pl.Float64: "DOUBLE",
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Boolean: "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: type[pl.DataType] | pl.DataType
    description: str
    nullable: bool = True
    # The only values the column may hold (a closed vocabulary such as rule codes); None: any value.
    # The quality suites expect exactly these, and code that writes the column takes them from here.
    allowed_values: tuple[str, ...] | None = None

    @property
    def sql_type(self) -> str:
        base = self.dtype if isinstance(self.dtype, type) else type(self.dtype)
        return _SQL_TYPES[base]

    @property
    def polars_dtype(self) -> pl.DataType:
        if self.dtype is pl.Datetime:
            return pl.Datetime("us")
        return self.dtype() if isinstance(self.dtype, type) else self.dtype


@dataclass(frozen=True)
class TableSpec:
    schema: str
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # The column a daily partition is defined on: a run for [start, end) replaces exactly these rows.
    partition_column: str = "date"
    # False for tables rebuilt whole from history on every run (episodes, the live Table 1).
    partitioned: bool = True

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.polars_dtype for c in self.columns}

    def create_sql(self) -> list[str]:
        cols = ",\n  ".join(
            f"{ident(c.name)} {c.sql_type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns
        )
        statements = [
            f"CREATE SCHEMA IF NOT EXISTS {self.schema}",
            f"CREATE TABLE IF NOT EXISTS {self.qualified} (\n  {cols}\n)",
            f"COMMENT ON TABLE {self.qualified} IS {_quote(self.description)}",
        ]
        # A warehouse written by an earlier version gains the columns added since (nullable ones only).
        statements += [
            f"ALTER TABLE {self.qualified} ADD COLUMN IF NOT EXISTS {ident(c.name)} {c.sql_type}"
            for c in self.columns if c.nullable
        ]
        statements += [
            f"COMMENT ON COLUMN {self.qualified}.{ident(c.name)} IS {_quote(c.description)}" for c in self.columns
        ]
        return statements


def ident(name: str) -> str:
    """A column name quoted for SQL (some are keywords: start, end, row)."""
    return '"' + name.replace('"', '""') + '"'


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def C(name, dtype, description, nullable=True) -> Column:  # noqa: N802 - short constructor for the tables below
    return Column(name, dtype, description, nullable)


# ---------------------------------------------------------------------------------------------- raw
RAW_INSTRUMENTS = TableSpec(
    "raw",
    "instruments",
    "Daily snapshot of every listed instrument per venue. Kept every day because expired contracts "
    "vanish from the venues' lists, and with them their expiry.",
    (
        C("snapshot_date", pl.Date, "UTC day of the snapshot", False),
        C("venue", pl.Utf8, "Exchange id (ccxt id, or sample_a/sample_b offline)", False),
        C("symbol", pl.Utf8, "ccxt unified symbol, e.g. BTC/USDT:USDT-260327", False),
        C("underlying", pl.Utf8, "Base coin, e.g. BTC", False),
        C("kind", pl.Utf8, "spot | perp | future", False),
        C("quote", pl.Utf8, "Quote currency of the price", False),
        C("settle", pl.Utf8, "Settlement currency (USDT for linear, the coin for inverse); null for spot"),
        C("linear", pl.Boolean, "True when margined and settled in the quote currency"),
        C("inverse", pl.Boolean, "True when coin-margined (settled in the base coin)"),
        C("contract_size", pl.Float64, "Coins per contract (linear) or USD per contract (inverse)"),
        C("expiry_ts", pl.Datetime, "Expiry/delivery time, UTC; null for spot and perpetuals"),
        C("reconstructed", pl.Boolean, "True when the row was rebuilt for a past day from the expiry schedule "
          "and the symbols of a history source (archive, continuous klines), not listed by the venue that day; "
          "null or false when the venue listed it"),
    ),
    key=("snapshot_date", "venue", "symbol"),
    partition_column="snapshot_date",
)

RAW_CRYPTO_OHLCV = TableSpec(
    "raw",
    "crypto_ohlcv",
    "Daily candles (00:00-24:00 UTC) of spot, perpetual (last and mark) and every dated future.",
    (
        C("date", pl.Date, "UTC day of the candle", False),
        C("venue", pl.Utf8, "Exchange id", False),
        C("symbol", pl.Utf8, "ccxt unified symbol", False),
        C("kind", pl.Utf8, "spot | perp | future", False),
        C("price_type", pl.Utf8, "last (traded), mark (venue mark price) or index (venue index)", False),
        C("open", pl.Float64, "Open, quote currency per coin (USD per coin for inverse contracts)", False),
        C("high", pl.Float64, "High, quote currency per coin", False),
        C("low", pl.Float64, "Low, quote currency per coin", False),
        C("close", pl.Float64, "Close (for an expiring future: settlement price), quote currency per coin", False),
        C("volume", pl.Float64, "Traded volume in base-asset units (coins); null for mark and index"),
    ),
    key=("date", "venue", "symbol", "price_type"),
)

RAW_FUNDING = TableSpec(
    "raw",
    "funding",
    "One row per perpetual funding settlement, with the interval it covered.",
    (
        C("date", pl.Date, "UTC day of funding_ts", False),
        C("venue", pl.Utf8, "Exchange id", False),
        C("symbol", pl.Utf8, "Perpetual's ccxt unified symbol", False),
        C("funding_ts", pl.Datetime, "Settlement time, UTC", False),
        C("rate", pl.Float64, "Funding rate paid by longs to shorts for the interval, fraction (0.0001 = 1 bp)", False),
        C("interval_hours", pl.Float64, "Hours covered by this settlement (8, 4, 1...)", False),
    ),
    key=("venue", "symbol", "funding_ts"),
)

RAW_TRADITIONAL_OHLCV = TableSpec(
    "raw",
    "traditional_ohlcv",
    "Daily bars of traditional markets, one row per exchange trading session, under its trading date. "
    "Weekends and holidays have no row; prices are never forward-filled.",
    (
        C("date", pl.Date, "Exchange trading date", False),
        C("series", pl.Utf8, "Series name used by pairs and rules, e.g. gold, nasdaq", False),
        C("ticker", pl.Utf8, "Yahoo ticker, e.g. GC=F", False),
        C("open", pl.Float64, "Open, instrument units (USD/oz, index points...)", False),
        C("high", pl.Float64, "High, instrument units", False),
        C("low", pl.Float64, "Low, instrument units", False),
        C("close", pl.Float64, "Close, instrument units", False),
        C("volume", pl.Float64, "Volume, contracts or shares; null for indices without volume"),
    ),
    key=("date", "ticker"),
)

RAW_TABLES = (RAW_INSTRUMENTS, RAW_CRYPTO_OHLCV, RAW_FUNDING, RAW_TRADITIONAL_OHLCV)

# Open statuses are holes a later run may fill; resolved ones keep the history of what happened. `failed`: a step
# of the pipeline failed for the day (the whole asset, not one series), written by the run's failure hook.
LEDGER_OPEN_STATUSES = ("missing", "quarantined", "outage", "failed")
LEDGER_RESOLVED_STATUSES = ("late-arrived", "filled")

RAW_COVERAGE_LEDGER = TableSpec(
    "raw",
    "coverage_ledger",
    "Every hole in the raw tables, one row per table, subject and day: a series or instrument absent on a day its "
    "calendar says it traded (missing), rows kept out because they failed an expectation (quarantined), a venue or "
    "ticker that still failed after its retries (outage), a step of the pipeline that failed for the day (failed), "
    "and what later filled it (late-arrived, filled). Written in the same transaction as the raw window it "
    "describes; a failed step's entry when the step fails. Holes are never forward-filled.",
    (
        C("table", pl.Utf8, "Raw table the hole is in, e.g. raw.traditional_ohlcv; for a failed step, its asset's "
          "table (core.basis_daily)", False),
        C("subject", pl.Utf8, "Series (gold), venue:symbol (binance:BTC/USDT) or venue:coin:kind (a coverage "
          "subject such as binance:BTC:spot); for a failed step, its asset (core/basis_daily)", False),
        C("date", pl.Date, "Day of the hole (trading date or UTC day)", False),
        Column("status", pl.Utf8, "missing, quarantined, outage or failed (open); late-arrived or filled (resolved)", False,
               allowed_values=LEDGER_OPEN_STATUSES + LEDGER_RESOLVED_STATUSES),
        C("reason", pl.Utf8, "Why: the expectation(s) that failed, the source's error, or the calendar session "
          "without a bar, the first line of a failed step's error; for a resolved hole, what it was"),
        C("first_seen", pl.Datetime, "When the hole was first recorded, UTC", False),
        C("last_attempt", pl.Datetime, "Last run that asked for the day, UTC", False),
        C("attempts", pl.Int64, "Runs that asked for the day since the hole was first seen (for a failed step: the "
          "runs in which it failed, then the one that filled it)", False),
    ),
    key=("table", "subject", "date"),
    partitioned=False,
)

# --------------------------------------------------------------------------------------------- core
CORE_BASIS_DAILY = TableSpec(
    "core",
    "basis_daily",
    "Every derivative's basis against its venue's spot per UTC day: dated futures (kind future), the "
    "perpetual's premium (kind perp) and the constant-maturity annualised basis (kind constant_maturity).",
    (
        C("date", pl.Date, "UTC day", False),
        C("venue", pl.Utf8, "Exchange id", False),
        C("underlying", pl.Utf8, "Base coin", False),
        C("symbol", pl.Utf8, "Contract symbol; <coin>-CM90D for the constant-maturity point", False),
        C("kind", pl.Utf8, "future | perp | constant_maturity", False),
        C("price_type", pl.Utf8, "Price used for the derivative: last or mark (perpetuals use mark when published)"),
        C("expiry_ts", pl.Datetime, "Expiry, UTC (futures)"),
        C("dte", pl.Float64, "Days to expiry from the close of the UTC day, fractional days"),
        C("price", pl.Float64, "Derivative close, quote currency per coin"),
        C("spot", pl.Float64, "Spot (or index) close on the same venue, quote currency per coin"),
        C("basis_abs", pl.Float64, "F - S, quote currency per coin"),
        C("basis", pl.Float64, "F / S - 1, fraction (the perpetual premium for kind perp)"),
        C("basis_ann_simple", pl.Float64, "basis * 365 / dte, fraction per year; null when dte < 3"),
        C("basis_ann_log", pl.Float64, "ln(F / S) * 365 / dte, fraction per year (continuous); null when dte < 3"),
        C("short_dte", pl.Boolean, "True when dte < 3: annualised values left null because they explode"),
        C("structure", pl.Utf8, "contango (basis > 0), backwardation (< 0) or flat"),
    ),
    key=("date", "venue", "symbol"),
)

CORE_FUNDING_DAILY = TableSpec(
    "core",
    "funding_daily",
    "Funding per venue, perpetual and UTC day: the day's settlements summed, annualised, smoothed and scored.",
    (
        C("date", pl.Date, "UTC day of the settlements", False),
        C("venue", pl.Utf8, "Exchange id", False),
        C("symbol", pl.Utf8, "Perpetual symbol", False),
        C("settlements", pl.Int64, "Settlements in the day", False),
        C("interval_hours", pl.Float64, "Interval of the day's last settlement, hours"),
        C("hours_covered", pl.Float64, "Sum of the settlements' intervals, hours (24 on a complete day)"),
        C("daily_rate", pl.Float64, "Sum of the rates settled in the day, fraction"),
        C("apr", pl.Float64, "Funding APR: mean(rate) * (24 / interval_hours) * 365, fraction per year"),
        C("apr_7d", pl.Float64, "Mean APR over the last 7 UTC days, fraction per year"),
        C("apr_30d", pl.Float64, "Mean APR over the last 30 UTC days, fraction per year"),
        C("daily_rate_z", pl.Float64, "z-score of daily_rate against the trailing 180 days (current excluded)"),
    ),
    key=("date", "venue", "symbol"),
)

CORE_PERP_QUARTERLY_SPREAD = TableSpec(
    "core",
    "perp_quarterly_spread",
    "Perpetual against the nearest quarterly with dte >= 7 of the same margin family (settlement currency), "
    "per venue, perpetual and UTC day: the gap that drives the perp/quarterly divergence rule and the carry spread.",
    (
        C("date", pl.Date, "UTC day", False),
        C("venue", pl.Utf8, "Exchange id", False),
        C("underlying", pl.Utf8, "Base coin", False),
        C("perp_symbol", pl.Utf8, "Perpetual symbol", False),
        C("perp_price_type", pl.Utf8, "mark or last: the perpetual price the premium uses"),
        C("perp_premium", pl.Float64, "perp / spot - 1, fraction"),
        C("quarterly_symbol", pl.Utf8, "Nearest quarterly with dte >= 7"),
        C("quarterly_dte", pl.Float64, "Its days to expiry, fractional days"),
        C("quarterly_basis", pl.Float64, "Its basis F / S - 1, fraction"),
        C("quarterly_basis_ann", pl.Float64, "Its simple annualised basis, fraction per year"),
        C("gap", pl.Float64, "perp_premium - quarterly_basis, fraction"),
        C("gap_vs_usual", pl.Float64, "gap minus its usual level at today's dte (trailing 180-day fit on dte), fraction"),
        C("gap_z", pl.Float64, "z-score of gap against the trailing 180 days, allowing for dte "
          "(a contract roll is not a divergence)"),
        C("funding_apr_7d", pl.Float64, "Perpetual's 7-day mean funding APR, fraction per year"),
        C("carry_spread", pl.Float64, "quarterly_basis_ann - funding_apr_7d, fraction per year"),
        C("carry_spread_z", pl.Float64, "z-score of carry_spread against the trailing 180 days"),
    ),
    key=("date", "venue", "perp_symbol"),
)

CORE_RETURNS_DAILY = TableSpec(
    "core",
    "returns_daily",
    "Daily log returns on two calendars: crypto (every UTC day) and traditional (exchange trading dates; "
    "crypto returns there span weekends and holidays, e.g. Friday to Monday). Never forward-filled.",
    (
        C("calendar", pl.Utf8, "crypto (UTC days) or traditional (trading dates)", False),
        C("series", pl.Utf8, "BTC, ETH (reference venue spot), BTC_PERP, BTC_QUARTERLY, gold, nasdaq, ...", False),
        C("date", pl.Date, "End of the return interval (UTC day or trading date)", False),
        C("prev_date", pl.Date, "Start of the return interval (previous date of the calendar)"),
        C("symbol", pl.Utf8, "Instrument behind the series that day (the quarterly contract rolls)"),
        C("close", pl.Float64, "Close at date, instrument units"),
        C("log_return", pl.Float64, "ln(close / close at prev_date); null when either close is missing"),
    ),
    key=("calendar", "series", "date"),
)

CORE_CORRELATION_DAILY = TableSpec(
    "core",
    "correlation_daily",
    "Rolling Pearson correlations of daily log returns per pair: short (30 observations) and baseline "
    "(180, the 'typical' relation), on the pair's calendar; null when under 80% of a window is present.",
    (
        C("date", pl.Date, "Last observation of the windows", False),
        C("pair", pl.Utf8, "Pair name, e.g. btc~gold", False),
        C("calendar", pl.Utf8, "crypto or traditional"),
        C("series_a", pl.Utf8, "First series"),
        C("series_b", pl.Utf8, "Second series"),
        C("n_short", pl.Int64, "Observations with both returns in the short window"),
        C("corr_short", pl.Float64, "Correlation over the short window, -1..1"),
        C("label_short", pl.Utf8, "high positive (>= 0.6), positive, weak, negative, high negative (<= -0.6)"),
        C("n_baseline", pl.Int64, "Observations with both returns in the baseline window"),
        C("corr_baseline", pl.Float64, "Correlation over the baseline window, -1..1"),
        C("label_baseline", pl.Utf8, "Label of the baseline correlation"),
        C("corr_change", pl.Float64, "corr_short - corr_baseline"),
    ),
    key=("date", "pair"),
)

CORE_TABLES = (CORE_BASIS_DAILY, CORE_FUNDING_DAILY, CORE_PERP_QUARTERLY_SPREAD, CORE_RETURNS_DAILY, CORE_CORRELATION_DAILY)

# -------------------------------------------------------------------------------------------- marts
_EVIDENCE = (
    C("z_btc", pl.Float64, "BTC z-score: 5-observation on the traditional calendar, 1-day for crypto-only rules"),
    C("z_nasdaq", pl.Float64, "Nasdaq 5-observation z-score"),
    C("z_gold", pl.Float64, "Gold 5-observation z-score"),
    C("btc_return", pl.Float64, "BTC 5-observation log return"),
    C("nasdaq_return", pl.Float64, "Nasdaq 5-observation log return"),
    C("gold_return", pl.Float64, "Gold 5-observation log return"),
    C("perp_premium", pl.Float64, "Perpetual premium over spot, fraction"),
    C("quarterly_basis", pl.Float64, "Quarterly basis F / S - 1, fraction"),
    C("gap", pl.Float64, "perp_premium - quarterly_basis, fraction"),
    C("gap_vs_usual", pl.Float64, "gap minus its usual level at today's dte, fraction"),
    C("gap_z", pl.Float64, "z-score of the gap against its trailing 180 days, allowing for dte"),
    C("dte", pl.Float64, "Days to expiry of the quarterly involved"),
    C("funding_daily", pl.Float64, "Funding settled that UTC day, fraction"),
    C("funding_apr", pl.Float64, "Funding APR that day, fraction per year"),
    C("funding_z", pl.Float64, "z-score of daily funding against its trailing 180 days"),
    C("corr_short", pl.Float64, "Short-window correlation (30 observations)"),
    C("corr_baseline", pl.Float64, "Baseline correlation (180 observations)"),
    C("evidence", pl.Utf8, "Everything that made the rule fire, as a JSON object"),
)

MARTS_ANOMALY_DAILY = TableSpec(
    "marts",
    "anomaly_daily",
    "One row per rule firing per day and subject: the anomaly code (or context label), its evidence, "
    "severity, trading implication and the data-quality status of its inputs.",
    (
        C("date", pl.Date, "Observation date (trading date for cross-asset rules, UTC day otherwise)", False),
        Column("code", pl.Utf8, "Rule code, e.g. PERP_QUARTERLY_DIVERGENCE, or a context label", False,
               allowed_values=("PERP_QUARTERLY_DIVERGENCE", "LIQUIDATION_DISLOCATION", "CRYPTO_SPECIFIC_SHOCK",
                               "FLIGHT_TO_SAFETY", "RISK_ASSET_CO_CRASH", "BROAD_LIQUIDATION", "CAPITAL_ROTATION",
                               "CORRELATION_BREAK", "EXPIRY_CONVERGENCE", "FUNDING_PRESSURE")),
        Column("kind", pl.Utf8, "anomaly, or context (EXPIRY_CONVERGENCE, FUNDING_PRESSURE: never counted as anomalies)",
               False, allowed_values=("anomaly", "context")),
        C("subject", pl.Utf8, "What fired: BTC, venue:perpetual, venue:contract or a pair such as btc~gold", False),
        C("calendar", pl.Utf8, "crypto (UTC days) or traditional (trading dates)", False),
        C("severity", pl.Float64, "Severity on one scale for every code, 0 to 10: -log10 of the two-sided normal tail "
          "probability of the largest absolute z involved (Fisher z for correlation breaks), which the evidence keeps as z"),
        C("implication", pl.Utf8, "Trading implication of the rule"),
        *_EVIDENCE,
        C("quality_status", pl.Utf8, "Data-quality gate of the inputs: passed, with any warnings named"),
    ),
    key=("date", "code", "subject"),
)

MARTS_ANOMALY_EPISODES = TableSpec(
    "marts",
    "anomaly_episodes",
    "Consecutive observations of the same code on the same subject merged into one episode.",
    (
        C("code", pl.Utf8, "Rule code or context label", False),
        C("kind", pl.Utf8, "anomaly or context", False),
        C("subject", pl.Utf8, "What fired", False),
        C("calendar", pl.Utf8, "Calendar whose consecutive observations were merged"),
        C("start", pl.Date, "First day of the episode", False),
        C("peak_date", pl.Date, "Day of the highest severity"),
        C("end", pl.Date, "Last day of the episode", False),
        C("days", pl.Int64, "Observations in the episode"),
        C("peak_severity", pl.Float64, "Highest severity in the episode"),
        C("open", pl.Boolean, "True when the episode is still going on the latest evaluated day"),
        C("implication", pl.Utf8, "Trading implication"),
    ),
    key=("code", "subject", "start"),
    partition_column="start",
    partitioned=False,
)

MARTS_ANOMALY_STATUS = TableSpec(
    "marts",
    "anomaly_status",
    "The live Table 1: one row per asset pair of the article for the latest complete day. The table a "
    "trader opens first.",
    (
        C("row", pl.Int64, "Row of Table 1", False),
        C("asset_pair", pl.Utf8, "Asset pair, as the article names it", False),
        C("pair", pl.Utf8, "Pair in core.correlation_daily"),
        C("as_of", pl.Date, "Latest complete day evaluated", False),
        C("typical_correlation", pl.Float64, "Baseline correlation (180 observations)"),
        C("typical_label", pl.Utf8, "Its label"),
        C("current_correlation", pl.Float64, "Short-window correlation (30 observations)"),
        C("current_label", pl.Utf8, "Its label"),
        C("condition", pl.Utf8, "The anomaly condition being watched"),
        C("watched_codes", pl.Utf8, "Rule codes that make the condition active"),
        C("active", pl.Boolean, "True when a watched code fired on as_of"),
        C("active_codes", pl.Utf8, "Codes firing on as_of"),
        C("active_since", pl.Date, "Start of the open episode"),
        C("severity", pl.Float64, "Highest severity on as_of"),
        C("implication", pl.Utf8, "Trading implication"),
        C("quality_status", pl.Utf8, "Data-quality gate of the inputs"),
    ),
    key=("row",),
    partition_column="as_of",
    partitioned=False,
)

_PNL = "in pnl_currency (USDT for linear contracts, the coin for inverse ones)"

MARTS_BASIS_TRADES = TableSpec(
    "marts",
    "basis_trades",
    "The convergence trade of the article (section 4.1) replayed on every signal: one row per "
    "PERP_QUARTERLY_DIVERGENCE or LIQUIDATION_DISLOCATION episode per venue and perpetual, long the cheap leg "
    "and short the rich one, entered at the next daily close after the signal day, out at convergence, stop, "
    "maximum holding time or expiry; plus the carry baseline (code CARRY_BASELINE: long spot, short the nearest "
    "quarterly while its annualised basis is above a threshold, held to expiry). Prices are daily closes: "
    "intraday wicks are not seen.",
    (
        C("code", pl.Utf8, "Signal code (PERP_QUARTERLY_DIVERGENCE, LIQUIDATION_DISLOCATION) or CARRY_BASELINE", False),
        C("venue", pl.Utf8, "Exchange id", False),
        C("underlying", pl.Utf8, "Base coin", False),
        C("contract_type", pl.Utf8, "linear (USDT-margined, P&L in USDT) or inverse (coin-margined, contract value "
          "in USD, P&L in the coin)", False),
        C("pnl_currency", pl.Utf8, "Currency of every P&L, fee and margin column: USDT or the coin", False),
        C("signal_date", pl.Date, "UTC day the signal was seen at its close (episode start; carry: basis above "
          "the threshold)", False),
        C("signal_gap", pl.Float64, "Signal day's gap, perp premium - quarterly basis, fraction of spot"),
        C("signal_gap_vs_usual", pl.Float64, "Signal day's gap minus its usual level, fraction of spot; its sign "
          "says which leg is rich"),
        C("signal_gap_z", pl.Float64, "Signal day's gap z-score"),
        C("signal_basis_ann", pl.Float64, "Signal day's simple annualised basis of the traded quarterly, fraction "
          "per year"),
        C("direction", pl.Utf8, "short_perp_long_quarterly, long_perp_short_quarterly or long_spot_short_quarterly",
          False),
        C("hedge_kind", pl.Utf8, "perp, or spot for the carry baseline", False),
        C("hedge_symbol", pl.Utf8, "Symbol of the perpetual (or spot) leg", False),
        C("hedge_side", pl.Int64, "+1 long, -1 short: the perpetual (or spot) leg", False),
        C("quarterly_symbol", pl.Utf8, "Dated future traded (the nearest with dte >= 7 on the signal day)", False),
        C("quarterly_side", pl.Int64, "+1 long, -1 short: the quarterly leg", False),
        C("quarterly_expiry", pl.Datetime, "Expiry (delivery) of the quarterly, UTC"),
        C("entry_date", pl.Date, "UTC day whose close is the entry: the first after signal_date (null: pending)"),
        C("entry_hedge_price", pl.Float64, "Perpetual (mark where published) or spot close at entry, USD per coin"),
        C("entry_quarterly_price", pl.Float64, "Quarterly close at entry, USD per coin"),
        C("entry_dte", pl.Float64, "Quarterly's days to expiry at entry"),
        C("exit_date", pl.Date, "UTC day of the exit close (expiry day for a delivery; latest day while open)"),
        C("exit_hedge_price", pl.Float64, "Perpetual (or spot) price at exit, USD per coin; at a delivery the "
          "settlement price times (1 + the perpetual premium at the last close)"),
        C("exit_quarterly_price", pl.Float64, "Quarterly close at exit (settlement price at a delivery), USD per coin"),
        C("exit_reason", pl.Utf8, "convergence, stop, expiry (N days before), settlement (delivery), max_holding; "
          "open (marked to the latest close) or pending (no entry yet)", False),
        C("days_held", pl.Float64, "From the entry close to the exit, fractional days"),
        C("funding_settlements", pl.Int64, "Funding settlements of the perpetual between entry and exit"),
        C("notional_usd", pl.Float64, "Notional of each leg at entry, USD", False),
        C("spread_pnl", pl.Float64, f"Both legs' price P&L, {_PNL}"),
        C("funding_pnl", pl.Float64, f"Funding received (+) or paid (-) on the perpetual leg at its settlements, {_PNL}"),
        C("fees", pl.Float64, f"Fees on both legs at entry and exit (per venue, from the settings), {_PNL}"),
        C("slippage", pl.Float64, f"Slippage against the close on both legs at entry and exit, {_PNL}"),
        C("net_pnl", pl.Float64, f"spread_pnl + funding_pnl - fees - slippage, {_PNL}"),
        C("margin_used", pl.Float64, f"Derivative legs' notional / leverage (a spot leg paid in full), {_PNL}"),
        C("return_on_margin", pl.Float64, "net_pnl / margin_used, fraction (not annualised)"),
        C("max_adverse_excursion", pl.Float64, f"Worst mark-to-market loss (spread P&L + funding so far) at a daily "
          f"close while open, positive, {_PNL}"),
        C("mae_date", pl.Date, "UTC day of that worst close"),
        C("liquidation_leverage", pl.Float64, "Lowest leverage at which both legs in one cross-margined account would "
          "have been liquidated on the worst day: 1 / (maintenance margin + MAE / gross notional)"),
        C("liquidation_leverage_isolated", pl.Float64, "The same for the worst single leg margined on its own: "
          "1 / (maintenance margin + its worst loss / its notional)"),
        C("liquidated_at_leverage", pl.Boolean, "True when the settings' leverage is at or above liquidation_leverage"),
    ),
    key=("code", "venue", "hedge_symbol", "quarterly_symbol", "signal_date"),
    partition_column="signal_date",
    partitioned=False,
)

MARTS_BASIS_TRADE_SUMMARY = TableSpec(
    "marts",
    "basis_trade_summary",
    "marts.basis_trades per venue, code, signal year and P&L currency, over the closed trades: does acting on "
    "the divergences pay, and more than plain carry (CARRY_BASELINE)?",
    (
        C("venue", pl.Utf8, "Exchange id", False),
        C("code", pl.Utf8, "Signal code or CARRY_BASELINE", False),
        C("year", pl.Int64, "Year of the signal day", False),
        C("pnl_currency", pl.Utf8, "Currency of the P&L columns: USDT or the coin", False),
        C("trades", pl.Int64, "Closed trades", False),
        C("open_trades", pl.Int64, "Trades still open or pending (not in the statistics)", False),
        C("hit_rate", pl.Float64, "Share of closed trades with net_pnl > 0, fraction"),
        C("mean_pnl", pl.Float64, f"Mean net_pnl, {_PNL}"),
        C("median_pnl", pl.Float64, f"Median net_pnl, {_PNL}"),
        C("total_pnl", pl.Float64, f"Sum of net_pnl, {_PNL}"),
        C("worst_pnl", pl.Float64, f"Worst trade's net_pnl, {_PNL}"),
        C("worst_signal_date", pl.Date, "Signal day of the worst trade"),
        C("mean_days_held", pl.Float64, "Mean days held"),
        C("return_on_margin_ann", pl.Float64, "total_pnl / sum(margin_used * days_held / 365): return per unit of "
          "margin per year it was tied up, fraction per year"),
    ),
    key=("venue", "code", "year", "pnl_currency"),
    partition_column="year",
    partitioned=False,
)

# Appended to, never rebuilt: the memory that keeps an alert from being sent twice.
MARTS_ALERT_LOG = TableSpec(
    "marts",
    "alert_log",
    "One row per alert and channel each time it was sent, failed or suppressed: what recipients were told and "
    "when. A failed send is retried on later runs up to alerts.max_attempts.",
    (
        C("logged_at", pl.Datetime, "When the send was attempted or the alert suppressed, UTC", False),
        C("alert_key", pl.Utf8, "Identity of the alert, e.g. episode_opened|CODE|subject|start", False),
        C("event", pl.Utf8, "episode_opened, status_active or status_quiet", False),
        C("code", pl.Utf8, "Rule code of the episode, or the Table 1 row's active codes"),
        C("subject", pl.Utf8, "Subject of the episode, or the Table 1 asset pair"),
        C("table_row", pl.Int64, "Row of Table 1 (status events)"),
        C("start", pl.Date, "Start of the episode, or since when the Table 1 row is active"),
        C("as_of", pl.Date, "Latest day of the evidence: the episode's last day so far, or Table 1's as_of", False),
        C("channel", pl.Utf8, "Channel name from the alerts settings", False),
        C("attempt", pl.Int64, "1 for the first send to this channel, then one more per retry", False),
        C("status", pl.Utf8, "sent, failed or suppressed (historical)", False),
        C("error", pl.Utf8, "Why the send failed (secrets removed)"),
        C("details", pl.Utf8, "The alert's evidence as a JSON object: what the message said", False),
    ),
    key=("alert_key", "channel", "attempt"),
    partition_column="logged_at",
    partitioned=False,
)

MARTS_TABLES = (MARTS_ANOMALY_DAILY, MARTS_ANOMALY_EPISODES, MARTS_ANOMALY_STATUS, MARTS_BASIS_TRADES,
                MARTS_BASIS_TRADE_SUMMARY, MARTS_ALERT_LOG)
