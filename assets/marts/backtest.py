"""The convergence trade of the article (section 4.1), replayed on the stored history, and a plain carry
baseline beside it. Pure polars, no I/O.

One trade per signal: each episode of a traded code (PERP_QUARTERLY_DIVERGENCE, LIQUIDATION_DISLOCATION)
on one venue and perpetual, i.e. one margin family.
- Direction: long the cheap leg, short the rich one, judged on the signal day by the gap against its usual
  level (gap_vs_usual; the raw gap when that is unknown). gap > usual: the perpetual is rich, so short the
  perpetual and buy the quarterly; gap < usual: the reverse. In contango the perpetual sits below the
  quarterly every day, so the raw gap alone would always call the perpetual cheap.
- Legs: the perpetual and the nearest quarterly of the signal day (the one the gap was measured on), held
  until the exit (never rolled), each of `notional_usd` at entry.
- Entry at the first daily close after the signal day with both prices: the signal is only known at the
  signal day's close, so trading at that close would be look-ahead.
- Exit at the first later close where, in this order: the gap has converged (abs(gap_z) <= exit_gap_z or
  abs(gap_vs_usual) <= exit_gap_vs_usual, read while the held quarterly is still the spread table's
  nearest one), the stop is hit (spread P&L + funding so far <= -stop_loss x one leg's notional), the held
  quarterly has at most exit_days_before_expiry days left, or max_holding_days have passed since entry.
  With exit_days_before_expiry = 0 the quarterly is delivered at its settlement price at expiry_ts, and
  the perpetual is closed at that price times (1 + its premium at the last close before delivery): the
  premium known then, applied to the index the contract settles on.
- Prices are the daily closes of core.basis_daily (the perpetual on its mark where the venue publishes
  one). The worst day is the worst close: intraday wicks are not seen, so risk is understated.

P&L, in the margin family's settlement currency (`pnl_currency`):
- linear (USDT-margined), per leg of side s (+1 long, -1 short): s * N * (P_exit / P_entry - 1), USDT.
- inverse (coin-margined, contract value N USD): s * N * (1 / P_entry - 1 / P_exit), in the coin.
- funding on the perpetual leg at every settlement with entry_ts < funding_ts <= exit_ts (a position
  opened at a settlement instant does not take it, one closed then does), valued at the perpetual's last
  close at or before the settlement: longs pay rate * value, shorts receive it. Value: linear
  N * P_t / P_entry (USDT); inverse N / P_t (coin).
- fees and slippage: (fee_bp or spot_fee_bp, and slippage_bp) / 10^4 of every leg's traded value at entry
  and exit (linear: N at entry, N * P_exit / P_entry at exit; inverse: N / P in coin). A delivery pays the
  fee but no slippage.
- net_pnl = spread_pnl + funding_pnl - fees - slippage.

Risk:
- max_adverse_excursion: the worst mark-to-market (spread P&L + funding so far) over the closes after
  entry up to the exit, as a positive loss (0 when never under water).
- margin_used: each derivative leg's notional / leverage (a spot leg is paid in full), in pnl_currency.
- liquidation_leverage: the lowest leverage at which the two legs in one cross-margined account would
  have been liquidated on the worst day: equity margin - MAE reaches maintenance * gross notional, so
  L = 1 / (maintenance_margin + MAE / gross notional). liquidation_leverage_isolated: the same for the worst
  single leg margined on its own (section 5.1: both sides are leveraged, and a hedged pair can still lose
  one leg to a liquidation when the whole market moves).

Carry baseline (code CARRY_BASELINE): long spot, short the nearest quarterly with dte >= carry_min_dte
when its simple annualised basis is at or above carry_min_basis_ann, one position at a time per venue and
margin family, held to expiry (exit_days_before_expiry, or delivery). For an inverse family the spot leg's
P&L is taken in the coin with the same inverse formula: s * N * (1 / S_entry - 1 / S_exit) is exactly the
USD gain of holding the coins, converted at the exit price.

Trades with no exit yet are marked to the latest close (exit_reason 'open', closing costs included); a
signal on the latest day has no entry yet ('pending').
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from assets.core.returns import is_linear
from assets.core.spread import nearest_quarterly, settle_of
from warehouse.schemas import MARTS_BASIS_TRADE_SUMMARY, MARTS_BASIS_TRADES

TRADED_CODES = ("PERP_QUARTERLY_DIVERGENCE", "LIQUIDATION_DISLOCATION")
CARRY_CODE = "CARRY_BASELINE"
BP = 1e-4
DAY = dt.timedelta(days=1)

TRADE_SCHEMA = MARTS_BASIS_TRADES.polars_schema
SUMMARY_SCHEMA = MARTS_BASIS_TRADE_SUMMARY.polars_schema


def close_ts(day: dt.date) -> dt.datetime:
    """The daily close of a UTC day: 00:00 UTC the next day."""
    return dt.datetime.combine(day + DAY, dt.time())


@dataclass(frozen=True)
class _Trade:
    """What is fixed when the signal is seen."""

    code: str
    venue: str
    underlying: str
    settle: str
    inverse: bool
    hedge_kind: str  # perp or spot
    hedge_symbol: str
    hedge_side: int  # +1 long, -1 short
    quarterly_symbol: str
    quarterly_expiry: dt.datetime
    signal_date: dt.date
    signal_gap: float | None = None
    signal_gap_vs_usual: float | None = None
    signal_gap_z: float | None = None
    signal_basis_ann: float | None = None

    @property
    def quarterly_side(self) -> int:
        return -self.hedge_side

    @property
    def direction(self) -> str:
        hedge = f"{'long' if self.hedge_side > 0 else 'short'}_{self.hedge_kind}"
        quarterly = f"{'long' if self.quarterly_side > 0 else 'short'}_quarterly"
        return f"{hedge}_{quarterly}"


def leg_pnl(side: int, entry: float, exit: float, notional_usd: float, inverse: bool) -> float:
    """One leg's price P&L: linear in USDT, inverse (contract value in USD) in the coin."""
    if inverse:
        return side * notional_usd * (1 / entry - 1 / exit)
    return side * notional_usd * (exit / entry - 1)


def traded_value(notional_usd: float, entry: float, price: float, inverse: bool) -> float:
    """Value of one leg traded at `price`, in pnl currency: linear coins * price, inverse N USD in coin."""
    return notional_usd / price if inverse else notional_usd * price / entry


def _leg_loss_fraction(side: int, entry: float, price: float, inverse: bool) -> float:
    """A leg's loss as a fraction of its own notional (in its margin currency)."""
    return -side * (1 - entry / price) if inverse else -side * (price / entry - 1)


def _by(frame: pl.DataFrame, keys: list[str]) -> dict[tuple, pl.DataFrame]:
    if frame.height == 0:
        return {}
    return frame.partition_by(keys, as_dict=True, maintain_order=True)


# ---------------------------------------------------------------------------------------------- inputs
def delivery_prices(crypto_ohlcv: pl.DataFrame, basis: pl.DataFrame) -> pl.DataFrame:
    """venue, symbol, settlement_price: each dated future's close on its expiry day (raw.crypto_ohlcv stores
    the settlement price there), for the contracts of core.basis_daily."""
    expiries = basis.filter(pl.col("kind") == "future").select("venue", "symbol", "expiry_ts").unique()
    bars = crypto_ohlcv.filter((pl.col("kind") == "future") & (pl.col("price_type") == "last"))
    return (
        bars.join(expiries, on=["venue", "symbol"], how="inner")
        .filter(pl.col("date") == pl.col("expiry_ts").dt.date())
        .select("venue", "symbol", settlement_price="close")
    )


def signals(episodes: pl.DataFrame, spread: pl.DataFrame, codes=TRADED_CODES) -> pl.DataFrame:
    """One row per episode of a traded code: venue, perpetual, the signal day and its spread row."""
    if episodes.height == 0:
        return pl.DataFrame()
    chosen = episodes.filter(pl.col("code").is_in(list(codes)) & (pl.col("kind") == "anomaly")).with_columns(
        venue=pl.col("subject").str.splitn(":", 2).struct.field("field_0"),
        perp_symbol=pl.col("subject").str.splitn(":", 2).struct.field("field_1"),
    )
    joined = chosen.join(spread, left_on=["start", "venue", "perp_symbol"], right_on=["date", "venue", "perp_symbol"],
                         how="left")
    missing = joined.filter(pl.col("quarterly_symbol").is_null())
    if missing.height:
        row = missing.row(0, named=True)
        raise ValueError(
            f"core.perp_quarterly_spread has no row for {row['venue']} {row['perp_symbol']} on {row['start']}, the "
            f"signal day of a {row['code']} episode: read the spread over every episode's start")
    return joined.select("code", "venue", "underlying", "perp_symbol", "quarterly_symbol",
                         settle=settle_of(pl.col("perp_symbol")), signal_date="start",
                         signal_gap="gap", signal_gap_vs_usual="gap_vs_usual", signal_gap_z="gap_z",
                         signal_basis_ann="quarterly_basis_ann").sort("signal_date", "code", "venue", "perp_symbol")


# ---------------------------------------------------------------------------------------------- engine
def _funding_events(trade: _Trade, settlements: pl.DataFrame | None, perp_prices: pl.DataFrame, entry_price: float,
                    notional_usd: float) -> list[tuple[dt.datetime, float]]:
    """(funding_ts, P&L of the perpetual leg) for every settlement after entry, valued at the perpetual's last
    close at or before it (the close of day D is at D+1 00:00, so a settlement at ts uses day (ts - 1 day))."""
    if settlements is None or settlements.height == 0:
        return []
    priced = (
        settlements.select("funding_ts", "rate").sort("funding_ts")
        .with_columns(price_date=(pl.col("funding_ts") - pl.duration(days=1)).dt.date())
        .join_asof(perp_prices.select(price_date="date", price="a_price").sort("price_date"), on="price_date",
                   strategy="backward")
    )
    events = []
    for ts, rate, price in priced.select("funding_ts", "rate", "price").iter_rows():
        if price is None:
            continue  # before the perpetual's first stored close: the trade cannot be open then
        value = notional_usd / price if trade.inverse else notional_usd * price / entry_price
        # Longs pay rate * value, shorts receive it.
        events.append((ts, -trade.hedge_side * rate * value))
    return events


def _simulate(trade: _Trade, path: list[dict], funding: list[tuple[dt.datetime, float]], settlement_price: float | None,
              data_end: dt.date | None, settings, signal_exits: bool) -> dict:
    """Entry at path[0], exit at the first close meeting an exit rule, else delivery or mark-to-market."""
    out = dict(
        code=trade.code, venue=trade.venue, underlying=trade.underlying,
        contract_type="inverse" if trade.inverse else "linear", pnl_currency=trade.settle,
        signal_date=trade.signal_date, signal_gap=trade.signal_gap, signal_gap_vs_usual=trade.signal_gap_vs_usual,
        signal_gap_z=trade.signal_gap_z, signal_basis_ann=trade.signal_basis_ann, direction=trade.direction,
        hedge_kind=trade.hedge_kind, hedge_symbol=trade.hedge_symbol, hedge_side=trade.hedge_side,
        quarterly_symbol=trade.quarterly_symbol, quarterly_side=trade.quarterly_side,
        quarterly_expiry=trade.quarterly_expiry, notional_usd=settings.notional_usd,
    )
    if not path:
        return dict(out, exit_reason="pending")
    n, inverse = settings.notional_usd, trade.inverse
    sa, sq = trade.hedge_side, trade.quarterly_side
    entry = path[0]
    a0, q0 = entry["a_price"], entry["q_price"]
    entry_ts = close_ts(entry["date"])
    funding = [(ts, pnl) for ts, pnl in funding if ts > entry_ts]
    notional_ccy = n / a0 if inverse else n
    gross = (n / a0 + n / q0) if inverse else 2 * n
    costs = settings.costs(trade.venue)
    hedge_fee = (costs.fee_bp if trade.hedge_kind == "perp" else costs.spot_fee_bp) * BP

    def funding_until(ts: dt.datetime) -> tuple[float, int]:
        paid = [pnl for t, pnl in funding if t <= ts]
        return sum(paid), len(paid)

    def mark(a: float, q: float, ts: dt.datetime) -> tuple[float, float]:
        spread = leg_pnl(sa, a0, a, n, inverse) + leg_pnl(sq, q0, q, n, inverse)
        return spread, spread + funding_until(ts)[0]

    worst, worst_date, worst_leg = 0.0, None, 0.0

    def track(day: dt.date, a: float, q: float, ts: dt.datetime) -> float:
        nonlocal worst, worst_date, worst_leg
        _, mtm = mark(a, q, ts)
        if mtm < worst:
            worst, worst_date = mtm, day
        worst_leg = max(worst_leg, _leg_loss_fraction(sa, a0, a, inverse), _leg_loss_fraction(sq, q0, q, inverse))
        return mtm

    exit_row, exit_ts, reason, delivered = None, None, None, False
    for row in path[1:]:
        ts = close_ts(row["date"])
        mtm = track(row["date"], row["a_price"], row["q_price"], ts)
        if signal_exits:
            z, vs_usual = row.get("gap_z"), row.get("gap_vs_usual")
            if (z is not None and abs(z) <= settings.exit_gap_z) or (
                    vs_usual is not None and abs(vs_usual) <= settings.exit_gap_vs_usual):
                reason = "convergence"
            elif mtm <= -settings.stop_loss * notional_ccy:
                reason = "stop"
        if reason is None and settings.exit_days_before_expiry > 0 and row["q_dte"] <= settings.exit_days_before_expiry:
            reason = "expiry"
        if reason is None and signal_exits and (row["date"] - entry["date"]).days >= settings.max_holding_days:
            reason = "max_holding"
        if reason:
            exit_row, exit_ts = row, ts
            break
    if reason is None and data_end is not None and data_end >= trade.quarterly_expiry.date():
        # The quarterly expired while the position was open: it is delivered at its settlement price.
        if settlement_price is None:
            raise ValueError(
                f"no settlement price for {trade.venue} {trade.quarterly_symbol} (expiry {trade.quarterly_expiry}): "
                f"a {trade.code} trade from {trade.signal_date} is held to delivery; pass delivery_prices(...) "
                "read from raw.crypto_ohlcv over the expiry day")
        last = path[-1]
        premium = last["a_price"] / last["spot"] - 1 if trade.hedge_kind == "perp" else 0.0
        exit_row = dict(date=trade.quarterly_expiry.date(), a_price=settlement_price * (1 + premium),
                        q_price=settlement_price, q_dte=0.0)
        exit_ts, reason, delivered = trade.quarterly_expiry, "settlement", True
        track(exit_row["date"], exit_row["a_price"], exit_row["q_price"], exit_ts)
    if reason is None:
        exit_row, exit_ts, reason = path[-1], close_ts(path[-1]["date"]), "open"
    a1, q1 = exit_row["a_price"], exit_row["q_price"]
    spread_pnl, _ = mark(a1, q1, exit_ts)
    funding_pnl, settled = funding_until(exit_ts)
    values_a = traded_value(n, a0, a0, inverse) + traded_value(n, a0, a1, inverse)
    values_q = traded_value(n, q0, q0, inverse) + traded_value(n, q0, q1, inverse)
    fees = hedge_fee * values_a + costs.fee_bp * BP * values_q
    # A delivery trades at the settlement price: no slippage on the quarterly's exit.
    slipped_q = traded_value(n, q0, q0, inverse) if delivered else values_q
    slippage = costs.slippage_bp * BP * (values_a + slipped_q)
    net = spread_pnl + funding_pnl - fees - slippage
    hedge_margin = (n / a0 if inverse else n) / (settings.leverage if trade.hedge_kind == "perp" else 1.0)
    margin = hedge_margin + (n / q0 if inverse else n) / settings.leverage
    m = settings.maintenance_margin
    liquidation = 1 / (m + (-worst) / gross) if (m > 0 or worst < 0) else None
    liquidation_isolated = 1 / (m + worst_leg) if (m > 0 or worst_leg > 0) else None
    return dict(
        out,
        entry_date=entry["date"], entry_hedge_price=a0, entry_quarterly_price=q0, entry_dte=entry["q_dte"],
        exit_date=exit_row["date"], exit_hedge_price=a1, exit_quarterly_price=q1, exit_reason=reason,
        days_held=(exit_ts - entry_ts).total_seconds() / 86400, funding_settlements=settled,
        spread_pnl=spread_pnl, funding_pnl=funding_pnl, fees=fees, slippage=slippage, net_pnl=net,
        margin_used=margin, return_on_margin=net / margin, max_adverse_excursion=max(0.0, -worst), mae_date=worst_date,
        liquidation_leverage=liquidation, liquidation_leverage_isolated=liquidation_isolated,
        liquidated_at_leverage=liquidation is not None and settings.leverage >= liquidation,
    )


def _trades_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=TRADE_SCHEMA) if rows else pl.DataFrame(schema=TRADE_SCHEMA)


def _futures(basis: pl.DataFrame) -> dict[tuple, pl.DataFrame]:
    """Each dated future's closes before its delivery, per venue and symbol."""
    return _by(basis.filter((pl.col("kind") == "future") & (pl.col("dte") >= 0)).select(
        "venue", "symbol", "date", "expiry_ts", q_price="price", q_dte="dte").sort("date"), ["venue", "symbol"])


def _deliveries(deliveries: pl.DataFrame | None) -> dict[tuple[str, str], float]:
    if deliveries is None:
        return {}
    return {(v, s): p for v, s, p in deliveries.select("venue", "symbol", "settlement_price").iter_rows()}


def signal_trades(spread: pl.DataFrame, basis: pl.DataFrame, funding_settlements: pl.DataFrame, episodes: pl.DataFrame,
                  settings, deliveries: pl.DataFrame | None = None) -> pl.DataFrame:
    """The convergence trade of every signal (see the module docstring). `settings` is the backtest section."""
    chosen = signals(episodes, spread, settings.codes)
    if chosen.height == 0:
        return _trades_frame([])
    perps = _by(basis.filter(pl.col("kind") == "perp").select("venue", "symbol", "date", "spot", a_price="price")
                .sort("date"), ["venue", "symbol"])
    futures = _futures(basis)
    gaps = _by(spread.select("venue", "perp_symbol", "date", "quarterly_symbol", "gap_z", "gap_vs_usual"),
               ["venue", "perp_symbol"])
    funding = _by(funding_settlements.select("venue", "symbol", "funding_ts", "rate"), ["venue", "symbol"])
    settled = _deliveries(deliveries)
    rows = []
    for s in chosen.iter_rows(named=True):
        key, quarterly_key = (s["venue"], s["perp_symbol"]), (s["venue"], s["quarterly_symbol"])
        perp, future = perps.get(key), futures.get(quarterly_key)
        if perp is None or future is None:
            raise ValueError(f"core.basis_daily has no prices for {s['venue']} {s['perp_symbol']} or "
                             f"{s['quarterly_symbol']}, the legs of a {s['code']} signal on {s['signal_date']}")
        rich = s["signal_gap_vs_usual"] if s["signal_gap_vs_usual"] is not None else s["signal_gap"]
        trade = _Trade(
            code=s["code"], venue=s["venue"], underlying=s["underlying"], settle=s["settle"],
            inverse=not is_linear(s["perp_symbol"]), hedge_kind="perp",
            hedge_symbol=s["perp_symbol"], hedge_side=-1 if rich >= 0 else 1, quarterly_symbol=s["quarterly_symbol"],
            quarterly_expiry=future["expiry_ts"][0], signal_date=s["signal_date"], signal_gap=s["signal_gap"],
            signal_gap_vs_usual=s["signal_gap_vs_usual"], signal_gap_z=s["signal_gap_z"],
            signal_basis_ann=s["signal_basis_ann"],
        )
        held_gap = gaps[key].filter(pl.col("quarterly_symbol") == s["quarterly_symbol"]).select(
            "date", "gap_z", "gap_vs_usual")
        path = (
            future.filter(pl.col("date") > s["signal_date"]).select("date", "q_price", "q_dte")
            .join(perp.select("date", "a_price", "spot"), on="date", how="inner")
            .join(held_gap, on="date", how="left").sort("date")
        )
        events = _funding_events(trade, funding.get(key), perp, path["a_price"][0] if path.height else 0.0,
                                 settings.notional_usd) if path.height else []
        rows.append(_simulate(trade, path.to_dicts(), events, settled.get(quarterly_key), perp["date"].max(), settings,
                              signal_exits=True))
    return _trades_frame(rows)


def carry_trades(basis: pl.DataFrame, settings, deliveries: pl.DataFrame | None = None) -> pl.DataFrame:
    """The carry baseline: long spot, short the nearest quarterly while its annualised basis is at or above
    carry_min_basis_ann, held to expiry; one position at a time per venue and margin family."""
    nearest = nearest_quarterly(basis, settings.carry_min_dte)
    # A contract already inside the exit window would be closed at its first close after entry.
    candidates = nearest.filter((pl.col("quarterly_basis_ann") >= settings.carry_min_basis_ann)
                                & (pl.col("quarterly_dte") > settings.exit_days_before_expiry)).sort("date")
    if candidates.height == 0:
        return _trades_frame([])
    spots = _by(basis.filter(pl.col("spot").is_not_null()).group_by("venue", "underlying", "date")
                .agg(a_price=pl.col("spot").first(), spot=pl.col("spot").first()).sort("date"), ["venue", "underlying"])
    futures = _futures(basis)
    settled = _deliveries(deliveries)
    rows = []
    for family, group in _by(candidates, ["venue", "underlying", "settle"]).items():
        venue, underlying, settle = family
        spot = spots[(venue, underlying)]
        busy_until: dt.date | None = None
        for c in group.iter_rows(named=True):
            if busy_until is not None and c["date"] <= busy_until:
                continue
            future = futures[(venue, c["quarterly_symbol"])]
            quote = c["quarterly_symbol"].split("/")[1].split(":")[0]
            trade = _Trade(
                code=CARRY_CODE, venue=venue, underlying=underlying, settle=settle,
                inverse=not is_linear(c["quarterly_symbol"]),
                hedge_kind="spot", hedge_symbol=f"{underlying}/{quote}", hedge_side=1,
                quarterly_symbol=c["quarterly_symbol"], quarterly_expiry=future["expiry_ts"][0],
                signal_date=c["date"], signal_basis_ann=c["quarterly_basis_ann"],
            )
            path = (
                future.filter(pl.col("date") > c["date"]).select("date", "q_price", "q_dte")
                .join(spot.select("date", "a_price", "spot"), on="date", how="inner").sort("date")
            )
            row = _simulate(trade, path.to_dicts(), [], settled.get((venue, c["quarterly_symbol"])), spot["date"].max(),
                            settings, signal_exits=False)
            rows.append(row)
            if row["exit_reason"] in ("open", "pending"):
                break
            busy_until = row["exit_date"]
    return _trades_frame(rows)


def basis_trades(spread: pl.DataFrame, basis: pl.DataFrame, funding_settlements: pl.DataFrame, episodes: pl.DataFrame,
                 settings, deliveries: pl.DataFrame | None = None) -> pl.DataFrame:
    """marts.basis_trades: the convergence trade of every signal and the carry baseline, one schema.

    spread: core.perp_quarterly_spread; basis: core.basis_daily; funding_settlements: raw.funding;
    episodes: marts.anomaly_episodes; settings: the backtest section (BacktestSettings); deliveries:
    delivery_prices(raw.crypto_ohlcv, basis), needed only for trades held to a quarterly's delivery."""
    frames = [signal_trades(spread, basis, funding_settlements, episodes, settings, deliveries),
              carry_trades(basis, settings, deliveries)]
    return pl.concat(frames).sort("signal_date", "code", "venue", "hedge_symbol", "quarterly_symbol")


def trade_summary(trades: pl.DataFrame) -> pl.DataFrame:
    """marts.basis_trade_summary: per venue, code, signal year and P&L currency, over closed trades (trades still
    open are only counted). return_on_margin_ann = total net P&L / sum(margin_used * days_held / 365): the
    return per unit of margin per year it was tied up."""
    if trades.height == 0:
        return pl.DataFrame(schema=SUMMARY_SCHEMA)
    keyed = trades.with_columns(year=pl.col("signal_date").dt.year().cast(pl.Int64),
                                closed=~pl.col("exit_reason").is_in(["open", "pending"]))
    keys = ["venue", "code", "year", "pnl_currency"]
    opened = keyed.group_by(keys).agg(open_trades=(~pl.col("closed")).sum().cast(pl.Int64))
    closed = keyed.filter(pl.col("closed")).group_by(keys).agg(
        trades=pl.len().cast(pl.Int64),
        hit_rate=(pl.col("net_pnl") > 0).mean(),
        mean_pnl=pl.col("net_pnl").mean(),
        median_pnl=pl.col("net_pnl").median(),
        total_pnl=pl.col("net_pnl").sum(),
        worst_pnl=pl.col("net_pnl").min(),
        worst_signal_date=pl.col("signal_date").sort_by("net_pnl").first(),
        mean_days_held=pl.col("days_held").mean(),
        margin_years=(pl.col("margin_used") * pl.col("days_held") / 365).sum(),
    )
    return (
        opened.join(closed, on=keys, how="left")
        .with_columns(pl.col("trades").fill_null(0),
                      return_on_margin_ann=pl.when(pl.col("margin_years") > 0)
                      .then(pl.col("total_pnl") / pl.col("margin_years")))
        .select(list(SUMMARY_SCHEMA))
        .cast(SUMMARY_SCHEMA)
        .sort("venue", "code", "year", "pnl_currency")
    )
