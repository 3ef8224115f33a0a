"""The public `bi` views are a contract: their names, columns and types change only on purpose.

A change here means every SQL user and BI tool sees a different interface: update this list only together
with a note to them (and `make dictionary`).
"""

import dataclasses

import duckdb
import pytest

from warehouse import serving
from warehouse.schemas import MARTS_ANOMALY_EPISODES
from warehouse.serving import VIEWS, build_interface

EXPECTED = {
    "anomaly_status": [
        ("row", "BIGINT"), ("asset_pair", "VARCHAR"), ("pair", "VARCHAR"), ("as_of", "DATE"),
        ("typical_correlation", "DOUBLE"), ("typical_label", "VARCHAR"), ("current_correlation", "DOUBLE"),
        ("current_label", "VARCHAR"), ("condition", "VARCHAR"), ("watched_codes", "VARCHAR"), ("active", "BOOLEAN"),
        ("active_codes", "VARCHAR"), ("active_since", "DATE"), ("severity", "DOUBLE"), ("implication", "VARCHAR"),
        ("quality_status", "VARCHAR"),
    ],
    "anomaly_episodes": [
        ("code", "VARCHAR"), ("kind", "VARCHAR"), ("subject", "VARCHAR"), ("calendar", "VARCHAR"), ("start", "DATE"),
        ("peak_date", "DATE"), ("end", "DATE"), ("days", "BIGINT"), ("peak_severity", "DOUBLE"), ("open", "BOOLEAN"),
        ("implication", "VARCHAR"),
    ],
    "anomaly_daily": [
        ("date", "DATE"), ("code", "VARCHAR"), ("kind", "VARCHAR"), ("subject", "VARCHAR"), ("calendar", "VARCHAR"),
        ("severity", "DOUBLE"), ("implication", "VARCHAR"), ("z_btc", "DOUBLE"), ("z_nasdaq", "DOUBLE"),
        ("z_gold", "DOUBLE"), ("btc_return", "DOUBLE"), ("nasdaq_return", "DOUBLE"), ("gold_return", "DOUBLE"),
        ("perp_premium", "DOUBLE"), ("quarterly_basis", "DOUBLE"), ("gap", "DOUBLE"), ("gap_vs_usual", "DOUBLE"),
        ("gap_z", "DOUBLE"), ("dte", "DOUBLE"), ("funding_daily", "DOUBLE"), ("funding_apr", "DOUBLE"),
        ("funding_z", "DOUBLE"), ("corr_short", "DOUBLE"), ("corr_baseline", "DOUBLE"), ("evidence", "VARCHAR"),
        ("quality_status", "VARCHAR"),
    ],
    "correlations": [
        ("date", "DATE"), ("pair", "VARCHAR"), ("calendar", "VARCHAR"), ("series_a", "VARCHAR"),
        ("series_b", "VARCHAR"), ("n_short", "BIGINT"), ("corr_short", "DOUBLE"), ("label_short", "VARCHAR"),
        ("n_baseline", "BIGINT"), ("corr_baseline", "DOUBLE"), ("label_baseline", "VARCHAR"),
        ("corr_change", "DOUBLE"),
    ],
    "perp_quarterly_spread": [
        ("date", "DATE"), ("venue", "VARCHAR"), ("underlying", "VARCHAR"), ("perp_symbol", "VARCHAR"),
        ("perp_price_type", "VARCHAR"), ("perp_premium", "DOUBLE"), ("quarterly_symbol", "VARCHAR"),
        ("quarterly_dte", "DOUBLE"), ("quarterly_basis", "DOUBLE"), ("quarterly_basis_ann", "DOUBLE"),
        ("gap", "DOUBLE"), ("gap_vs_usual", "DOUBLE"), ("gap_z", "DOUBLE"), ("funding_apr_7d", "DOUBLE"),
        ("carry_spread", "DOUBLE"), ("carry_spread_z", "DOUBLE"),
    ],
    "basis": [
        ("date", "DATE"), ("venue", "VARCHAR"), ("underlying", "VARCHAR"), ("symbol", "VARCHAR"),
        ("kind", "VARCHAR"), ("price_type", "VARCHAR"), ("expiry_ts", "TIMESTAMP"), ("dte", "DOUBLE"),
        ("price", "DOUBLE"), ("spot", "DOUBLE"), ("basis_abs", "DOUBLE"), ("basis", "DOUBLE"),
        ("basis_ann_simple", "DOUBLE"), ("basis_ann_log", "DOUBLE"), ("short_dte", "BOOLEAN"),
        ("structure", "VARCHAR"),
    ],
    "funding": [
        ("date", "DATE"), ("venue", "VARCHAR"), ("symbol", "VARCHAR"), ("settlements", "BIGINT"),
        ("interval_hours", "DOUBLE"), ("hours_covered", "DOUBLE"), ("daily_rate", "DOUBLE"), ("apr", "DOUBLE"),
        ("apr_7d", "DOUBLE"), ("apr_30d", "DOUBLE"), ("daily_rate_z", "DOUBLE"),
    ],
    "returns": [
        ("calendar", "VARCHAR"), ("series", "VARCHAR"), ("date", "DATE"), ("prev_date", "DATE"),
        ("symbol", "VARCHAR"), ("close", "DOUBLE"), ("log_return", "DOUBLE"),
    ],
    "basis_trades": [
        ("code", "VARCHAR"), ("venue", "VARCHAR"), ("underlying", "VARCHAR"), ("contract_type", "VARCHAR"),
        ("pnl_currency", "VARCHAR"), ("signal_date", "DATE"), ("signal_gap", "DOUBLE"),
        ("signal_gap_vs_usual", "DOUBLE"), ("signal_gap_z", "DOUBLE"), ("signal_basis_ann", "DOUBLE"),
        ("direction", "VARCHAR"), ("hedge_kind", "VARCHAR"), ("hedge_symbol", "VARCHAR"), ("hedge_side", "BIGINT"),
        ("quarterly_symbol", "VARCHAR"), ("quarterly_side", "BIGINT"), ("quarterly_expiry", "TIMESTAMP"),
        ("entry_date", "DATE"), ("entry_hedge_price", "DOUBLE"), ("entry_quarterly_price", "DOUBLE"),
        ("entry_dte", "DOUBLE"), ("exit_date", "DATE"), ("exit_hedge_price", "DOUBLE"),
        ("exit_quarterly_price", "DOUBLE"), ("exit_reason", "VARCHAR"), ("days_held", "DOUBLE"),
        ("funding_settlements", "BIGINT"), ("notional_usd", "DOUBLE"), ("spread_pnl", "DOUBLE"),
        ("funding_pnl", "DOUBLE"), ("fees", "DOUBLE"), ("slippage", "DOUBLE"), ("net_pnl", "DOUBLE"),
        ("margin_used", "DOUBLE"), ("return_on_margin", "DOUBLE"), ("max_adverse_excursion", "DOUBLE"),
        ("mae_date", "DATE"), ("liquidation_leverage", "DOUBLE"), ("liquidation_leverage_isolated", "DOUBLE"),
        ("liquidated_at_leverage", "BOOLEAN"),
    ],
    "basis_trade_summary": [
        ("venue", "VARCHAR"), ("code", "VARCHAR"), ("year", "BIGINT"), ("pnl_currency", "VARCHAR"),
        ("trades", "BIGINT"), ("open_trades", "BIGINT"), ("hit_rate", "DOUBLE"), ("mean_pnl", "DOUBLE"),
        ("median_pnl", "DOUBLE"), ("total_pnl", "DOUBLE"), ("worst_pnl", "DOUBLE"), ("worst_signal_date", "DATE"),
        ("mean_days_held", "DOUBLE"), ("return_on_margin_ann", "DOUBLE"),
    ],
    "coverage_ledger": [
        ("table", "VARCHAR"), ("subject", "VARCHAR"), ("date", "DATE"), ("status", "VARCHAR"), ("reason", "VARCHAR"),
        ("first_seen", "TIMESTAMP"), ("last_attempt", "TIMESTAMP"), ("attempts", "BIGINT"),
    ],
}


def public_columns(con) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute("SELECT table_name, column_name, data_type FROM duckdb_columns() "
                       "WHERE schema_name = 'bi' AND table_name IN (SELECT view_name FROM duckdb_views()) "
                       "ORDER BY table_name, column_index").fetchall()
    views: dict[str, list[tuple[str, str]]] = {}
    for view, column, dtype in rows:
        views.setdefault(view, []).append((column, dtype))
    return views


def test_the_public_views_have_exactly_the_frozen_columns_and_types():
    con = duckdb.connect()
    build_interface(con)
    assert public_columns(con) == EXPECTED


def test_renaming_an_internal_column_needs_only_the_view_mapping(monkeypatch):
    """The internal `end` becomes `last_day`: the view maps it back and the public interface is unchanged."""
    renamed = tuple(dataclasses.replace(c, name="last_day") if c.name == "end" else c
                    for c in MARTS_ANOMALY_EPISODES.columns)
    table = dataclasses.replace(MARTS_ANOMALY_EPISODES, columns=renamed)
    episodes = next(v for v in VIEWS if v.name == "anomaly_episodes")
    unmapped = dataclasses.replace(episodes, table=table)
    with pytest.raises(ValueError, match=r"reads column\(s\) \['end'\] that marts.anomaly_episodes no longer has"):
        unmapped.select_sql()
    mapped = dataclasses.replace(unmapped, columns=tuple(
        dataclasses.replace(c, source="last_day") if c.name == "end" else c for c in episodes.columns))
    monkeypatch.setattr(serving, "VIEWS", tuple(mapped if v is episodes else v for v in VIEWS))
    monkeypatch.setattr(serving, "ALL_TABLES", tuple(table if s is MARTS_ANOMALY_EPISODES else s
                                                     for s in serving.ALL_TABLES))
    con = duckdb.connect()
    serving.build_interface(con)
    assert public_columns(con) == EXPECTED
