"""Benchmark: the whole core layer over 1, 3 and 10 years of sample history, in polars, pandas and DuckDB SQL.

Five pieces, each in three implementations over the same inputs:
- polars: the product's own functions (assets/core), as the assets call them;
- pandas: the same results written as a competent pandas user would (vectorised merges, groupby/rolling,
  groupby.shift; no Python loop over rows or groups);
- DuckDB SQL: the same results as SQL over tables in an in-memory database (window functions, QUALIFY).

For each size, a first subprocess runs all three once and compares every output column of every piece
(keys exactly, numbers to 1e-9 relative): a disagreement stops the benchmark before any time is measured.
Then each implementation is timed in its own fresh subprocess (so its peak memory is its own): the inputs
are generated and loaded (not timed; sample generation and loading are in the peak), one untimed run warms
up, then the median of `--repeat` runs per piece is printed. polars and DuckDB use every core; pandas one.

    .venv/bin/python bench/core_bench.py              # 1, 3, 10 years
    .venv/bin/python bench/core_bench.py --years 1    # one size
    .venv/bin/python bench/core_bench.py --tiny       # a few months, one repeat: a smoke test
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

START = dt.date(2019, 1, 1)
PIECES = ("basis", "funding", "spread", "returns", "correlation")
ENGINES = ("polars", "pandas", "duckdb")
TINY_YEARS = 0.6  # long enough for the 180-observation baseline windows to produce values

# What each piece's outputs are compared on: (keys, values). Keys must match exactly, values to 1e-9.
COMPARED = {
    "basis": (["date", "venue", "kind", "symbol"],
              ["underlying", "dte", "price", "spot", "basis", "basis_ann_simple", "basis_ann_log"]),
    "funding": (["venue", "symbol", "date"],
                ["settlements", "interval_hours", "hours_covered", "daily_rate", "apr", "apr_7d", "apr_30d",
                 "daily_rate_z"]),
    "spread": (["venue", "perp_symbol", "date"],
               ["perp_price_type", "perp_premium", "quarterly_symbol", "quarterly_dte", "quarterly_basis",
                "quarterly_basis_ann", "gap", "gap_vs_usual", "gap_z", "funding_apr_7d", "carry_spread",
                "carry_spread_z"]),
    "returns": (["calendar", "series", "date"], ["prev_date", "symbol", "close", "log_return"]),
    "correlation": (["pair", "date"], ["n_short", "corr_short", "n_baseline", "corr_baseline"]),
}


@dataclass(frozen=True)
class Params:
    """Every threshold the core layer uses, from the settings in force."""

    min_dte: float
    tenor_days: float
    short_days: int
    long_days: int
    z_days: int
    min_fraction: float
    gap_window: int
    quarterly_min_dte: float
    reference_venue: str
    underlyings: tuple[str, ...]
    nasdaq_series: str
    calendars: dict[str, str]
    pairs: tuple[tuple[str, str, str, str], ...]
    corr_short: int
    corr_baseline: int
    first: dt.date
    end: dt.date

    def min_obs(self, window: int) -> int:
        return math.ceil(window * self.min_fraction)


def params(years: float) -> Params:
    from pipelines.settings import Settings

    s = Settings()
    return Params(
        min_dte=s.basis.min_dte_for_annualised, tenor_days=s.basis.constant_maturity_days,
        short_days=s.funding.rolling_short_days, long_days=s.funding.rolling_long_days, z_days=s.funding.zscore_days,
        min_fraction=s.correlation.min_fraction, gap_window=s.anomaly.gap_window,
        quarterly_min_dte=s.anomaly.divergence_min_dte, reference_venue=s.reference_venue,
        underlyings=tuple(s.universe.underlyings), nasdaq_series=s.nasdaq_series,
        calendars=s.traditional_calendars(), pairs=tuple(s.pairs()),
        corr_short=s.correlation.short_window, corr_baseline=s.correlation.baseline_window,
        first=START, end=end_of(years),
    )


def end_of(years: float) -> dt.date:
    return START + dt.timedelta(days=round(365.25 * years))


def raw_tables(years: float) -> dict[str, pl.DataFrame]:
    from assets.raw.sources.sample import SampleMarket

    market = SampleMarket()
    end = end_of(years)
    return dict(
        bars=market.crypto_bars(START, end),
        instruments=market.instruments(START, end),
        funding=market.funding(START, end),
        traditional=market.traditional_bars(START, end),
    )


# ---------------------------------------------------------------------------------------------- polars


def polars_pieces(p: Params):
    from assets.core.basis import basis_daily
    from assets.core.correlation import Pair, pair_correlations
    from assets.core.funding import funding_daily
    from assets.core.returns import returns_daily
    from assets.core.spread import perp_quarterly_spread

    return {
        "basis": lambda s: basis_daily(s["bars"], s["instruments"], p.min_dte, p.tenor_days),
        "funding": lambda s: funding_daily(s["funding"], p.short_days, p.long_days, p.z_days, p.min_fraction),
        "spread": lambda s: perp_quarterly_spread(s["basis"], s["funding"], p.quarterly_min_dte, p.gap_window,
                                                  p.min_fraction),
        "returns": lambda s: returns_daily(
            s["bars"], s["basis"], s["traditional"], reference_venue=p.reference_venue, underlyings=p.underlyings,
            nasdaq_series=p.nasdaq_series, calendars=p.calendars, min_dte=p.quarterly_min_dte, first=p.first,
            end=p.end),
        "correlation": lambda s: pair_correlations(s["returns"], [Pair(*pair) for pair in p.pairs], p.corr_short,
                                                   p.corr_baseline, p.min_fraction),
    }


# ---------------------------------------------------------------------------------------------- pandas


def pandas_pieces(p: Params):
    import pandas as pd

    day = pd.Timedelta(days=1)

    def underlying(symbol: pd.Series) -> pd.Series:
        return symbol.str.split("/").str[0]

    def settle(symbol: pd.Series) -> pd.Series:
        return symbol.str.extract(r":([^-]+)", expand=False)

    def mark_first(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        return frame.sort_values("price_type", key=lambda s: s.ne("mark"), kind="stable").drop_duplicates(keys)

    def rolling_by(frame: pd.DataFrame, groups: list[pd.Series], window, min_periods: int):
        """Rolling window within each group, realigned on the frame's index."""
        return frame.groupby(groups, sort=False).rolling(window, min_periods=min_periods)

    def trailing_zscore(values: pd.Series, groups: list[pd.Series], window: int) -> pd.Series:
        past = values.groupby(groups).shift(1)
        rolled = past.groupby(groups).rolling(window, min_periods=p.min_obs(window))
        mean = rolled.mean().droplevel(list(range(len(groups))))
        std = rolled.std().droplevel(list(range(len(groups))))
        return ((values - mean) / std).where(std > 0)

    def basis(s):
        bars, instruments = s["bars"], s["instruments"]
        spot = bars.loc[bars.kind == "spot"]
        spot = pd.DataFrame({"date": spot.date, "venue": spot.venue, "underlying": underlying(spot.symbol),
                             "spot": spot.close})
        futures = (
            bars.loc[(bars.kind == "future") & (bars.price_type == "last"), ["date", "venue", "symbol", "close"]]
            .merge(instruments.loc[instruments.kind == "future", ["snapshot_date", "venue", "symbol", "underlying",
                                                                  "expiry_ts"]].rename(columns={"snapshot_date": "date"}),
                   on=["date", "venue", "symbol"])
            .merge(spot, on=["date", "venue", "underlying"])
            .rename(columns={"close": "price"})
        )
        futures["dte"] = (futures.expiry_ts - (futures.date + day)) / day
        futures = futures[futures.dte >= 0]
        ratio = futures.price / futures.spot
        short = futures.dte < p.min_dte
        futures = futures.assign(kind="future", price_type="last", basis=ratio - 1,
                                 basis_ann_simple=((ratio - 1) * 365 / futures.dte).mask(short),
                                 basis_ann_log=(np.log(ratio) * 365 / futures.dte).mask(short))
        perps = mark_first(bars.loc[bars.kind == "perp"], ["date", "venue", "symbol"])
        perps = (perps.assign(underlying=underlying(perps.symbol)).merge(spot, on=["date", "venue", "underlying"])
                 .rename(columns={"close": "price"}))
        perps = perps.assign(kind="perp", basis=perps.price / perps.spot - 1)
        keys = ["date", "venue", "underlying"]
        eligible = futures[futures.basis_ann_simple.notna()].sort_values("dte")
        below = eligible[eligible.dte <= p.tenor_days].drop_duplicates(keys, keep="last")
        above = eligible[eligible.dte >= p.tenor_days].drop_duplicates(keys, keep="first")
        cm = below[[*keys, "dte", "basis_ann_simple"]].merge(above[[*keys, "dte", "basis_ann_simple"]], on=keys,
                                                             suffixes=("_lo", "_hi"))
        span = cm.dte_hi - cm.dte_lo
        weight = ((p.tenor_days - cm.dte_lo) / span).where(span > 0, 0.0)
        cm = cm[keys].assign(symbol=cm.underlying + f"-CM{p.tenor_days:g}D", kind="constant_maturity",
                             dte=float(p.tenor_days),
                             basis_ann_simple=cm.basis_ann_simple_lo + weight * (cm.basis_ann_simple_hi - cm.basis_ann_simple_lo))
        columns = ["date", "venue", "underlying", "symbol", "kind", "price_type", "expiry_ts", "dte", "price", "spot",
                   "basis", "basis_ann_simple", "basis_ann_log"]
        return pd.concat([futures, perps, cm], ignore_index=True).reindex(columns=columns)

    def funding(s):
        keys = ["venue", "symbol"]
        daily = (
            s["funding"].sort_values("funding_ts")
            .groupby([*keys, "date"])
            .agg(settlements=("rate", "size"), interval_hours=("interval_hours", "last"),
                 hours_covered=("interval_hours", "sum"), daily_rate=("rate", "sum"))
            .reset_index()
        )
        daily["apr"] = daily.daily_rate / daily.hours_covered * 24 * 365
        by_date = daily.set_index("date").groupby(keys).apr
        daily["apr_7d"] = by_date.rolling(f"{p.short_days}D").mean().to_numpy()  # groups in the frame's order
        daily["apr_30d"] = by_date.rolling(f"{p.long_days}D").mean().to_numpy()
        daily["daily_rate_z"] = trailing_zscore(daily.daily_rate, [daily.venue, daily.symbol], p.z_days)
        return daily

    def spread(s):
        b = s["basis"]
        b = b.assign(settle=settle(b.symbol))
        family = ["venue", "underlying", "settle"]
        perps = b.loc[b.kind == "perp", ["date", *family, "symbol", "price_type", "basis"]].rename(
            columns={"symbol": "perp_symbol", "price_type": "perp_price_type", "basis": "perp_premium"})
        futures = b[b.kind == "future"].sort_values(["dte", "symbol"])
        nearest = futures[futures.dte >= p.quarterly_min_dte].drop_duplicates(["date", *family])[
            ["date", *family, "symbol", "dte", "basis", "basis_ann_simple"]].rename(columns={
                "symbol": "quarterly_symbol", "dte": "quarterly_dte", "basis": "quarterly_basis",
                "basis_ann_simple": "quarterly_basis_ann"})
        live = futures[futures.dte >= 0]
        rank = live.groupby(["date", *family]).cumcount()
        curve = live.loc[rank == 0, ["date", *family, "dte", "basis"]].merge(
            live.loc[rank == 1, ["date", *family, "dte", "basis"]], on=["date", *family], how="left", suffixes=("1", "2"))
        curve["curve_slope"] = (curve.basis2 - curve.basis1) / (curve.dte2 - curve.dte1)
        curve["curve_intercept"] = curve.basis1 - curve.curve_slope * curve.dte1
        funding_7d = s["funding"][["date", "venue", "symbol", "apr_7d"]].rename(
            columns={"symbol": "perp_symbol", "apr_7d": "funding_apr_7d"})
        out = (
            perps.merge(nearest, on=["date", *family])
            .merge(funding_7d, on=["date", "venue", "perp_symbol"], how="left")
            .merge(curve[["date", *family, "curve_slope", "curve_intercept"]], on=["date", *family], how="left")
            .sort_values(["venue", "perp_symbol", "date"], ignore_index=True)
        )
        out["gap"] = out.perp_premium - out.quarterly_basis
        out["carry_spread"] = out.quarterly_basis_ann - out.funding_apr_7d
        # The usual gap at today's dte: rolling moments of x = premium - intercept and y = slope.
        groups = [out.venue, out.perp_symbol]
        x = (out.perp_premium - out.curve_intercept).groupby(groups).shift(1)
        y = out.curve_slope.groupby(groups).shift(1)
        both = x.notna() & y.notna()
        x, y = x.where(both), y.where(both)
        moments = pd.DataFrame({"x": x, "y": y, "xx": x * x, "yy": y * y, "xy": x * y})
        means = rolling_by(moments, groups, p.gap_window, p.min_obs(p.gap_window)).mean().droplevel([0, 1])
        n = rolling_by(both.astype(float), groups, p.gap_window, 1).sum().droplevel([0, 1])
        correction = n / (n - 1)
        var_x = (means.xx - means.x ** 2) * correction
        var_y = (means.yy - means.y ** 2) * correction
        cov = (means.xy - means.x * means.y) * correction
        dte = out.quarterly_dte
        variance = var_x + dte * dte * var_y - 2 * dte * cov
        out["usual_gap"] = means.x - dte * means.y
        out["gap_vs_usual"] = out.gap - out.usual_gap
        out["gap_z"] = out.gap_vs_usual / np.sqrt(variance.where(variance > 0))
        out["carry_spread_z"] = trailing_zscore(out.carry_spread, groups, p.gap_window)
        return out

    def on_calendar(closes: pd.DataFrame, calendar, name: str) -> pd.DataFrame:
        dates = pd.Series(np.sort(pd.unique(calendar))).astype("datetime64[ms]")
        frame = closes.merge(pd.DataFrame({"date": dates, "prev_date": dates.shift(1)}), on="date")
        previous = frame[["series", "date", "close"]].rename(columns={"date": "prev_date", "close": "prev_close"})
        frame = frame.merge(previous, on=["series", "prev_date"], how="left")
        return frame.assign(calendar=name, log_return=np.log(frame.close / frame.prev_close))

    def returns(s):
        bars, b, traditional = s["bars"], s["basis"], s["traditional"]
        ref = bars[bars.venue == p.reference_venue]
        perps = pd.Series(ref.loc[(ref.kind == "perp") & ref.symbol.str.startswith("BTC/"), "symbol"].unique(),
                          dtype=object)
        quote = perps.str.split("/").str[1].str.split(":").str[0]
        linear = perps.str.contains(":", regex=False) & (settle(perps) == quote)
        ranked = pd.DataFrame({"symbol": perps, "coin_margined": ~linear}).sort_values(["coin_margined", "symbol"])
        perp = ranked.symbol.iloc[0] if len(ranked) else None
        spot = ref[ref.kind == "spot"].assign(series=underlying(ref.symbol))
        spot = spot[spot.series.isin(p.underlyings)]
        perp_closes = mark_first(ref[(ref.kind == "perp") & (ref.symbol == perp)], ["date"]).assign(series="BTC_PERP")
        crypto = pd.concat([spot, perp_closes])[["date", "series", "symbol", "close"]]
        crypto_returns = on_calendar(crypto, pd.date_range(p.first, p.end - dt.timedelta(days=1)), "crypto")
        futures = b[(b.venue == p.reference_venue) & (b.underlying == "BTC") & (b.kind == "future")]
        futures = futures[settle(futures.symbol) == (perp.split(":")[1].split("-")[0] if perp else None)]
        futures = futures.sort_values(["symbol", "date"])
        by_contract = futures.groupby("symbol")
        futures = futures.assign(prev_price=by_contract.price.shift(1), prev_date=by_contract.date.shift(1))
        nearest = futures[futures.dte >= p.quarterly_min_dte].sort_values("dte", kind="stable").drop_duplicates("date")
        quarterly = nearest.assign(
            calendar="crypto", series="BTC_QUARTERLY", close=nearest.price,
            log_return=np.log(nearest.price / nearest.prev_price).where(nearest.prev_date == nearest.date - day))
        closes = traditional[["date", "series", "ticker", "close"]].rename(columns={"ticker": "symbol"})
        trading = closes.loc[closes.series == p.nasdaq_series, "date"]
        on_trading = on_calendar(pd.concat([closes, crypto[crypto.series.isin(p.underlyings)]]), trading,
                                 "traditional")
        columns = ["calendar", "series", "date", "prev_date", "symbol", "close", "log_return"]
        return pd.concat([crypto_returns[columns], quarterly[columns], on_trading[columns]], ignore_index=True)

    def correlation(s):
        r = s["returns"]
        frames = []
        for name, a, b, calendar in p.pairs:  # one vectorised pass per configured pair
            on = r[(r.calendar == calendar) & r.series.isin([a, b])]
            wide = on.pivot(index="date", columns="series", values="log_return").sort_index()
            x, y = wide.get(a, pd.Series(np.nan, index=wide.index)), wide.get(b, pd.Series(np.nan, index=wide.index))
            both = (x.notna() & y.notna()).astype("int64")
            frame = pd.DataFrame({"pair": name, "date": wide.index})
            for label, window in (("short", p.corr_short), ("baseline", p.corr_baseline)):
                frame[f"n_{label}"] = both.rolling(window, min_periods=1).sum().to_numpy()
                frame[f"corr_{label}"] = x.rolling(window, min_periods=p.min_obs(window)).corr(y).clip(-1, 1).to_numpy()
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    return dict(basis=basis, funding=funding, spread=spread, returns=returns, correlation=correlation)


# ---------------------------------------------------------------------------------------------- DuckDB SQL


def sql_pieces(p: Params) -> dict[str, str]:
    v, btc_settle = f"'{p.reference_venue}'", "regexp_extract(symbol, ':([^-]+)', 1)"
    underlyings = ", ".join(f"'{u}'" for u in p.underlyings)
    pairs = ", ".join(f"('{n}', '{a}', '{b}', '{c}')" for n, a, b, c in p.pairs)
    z, gw = p.z_days, p.gap_window
    return {
        "basis": f"""
CREATE OR REPLACE TABLE basis AS
WITH spot AS (
    SELECT date, venue, split_part(symbol, '/', 1) AS underlying, close AS spot FROM bars WHERE kind = 'spot'),
futures AS (
    SELECT b.date, b.venue, i.underlying, b.symbol, i.expiry_ts, b.close AS price, s.spot,
           (epoch_us(i.expiry_ts) - epoch_us(b.date::TIMESTAMP + INTERVAL 1 DAY)) / 86400e6 AS dte
    FROM bars b
    JOIN instruments i ON i.snapshot_date = b.date AND i.venue = b.venue AND i.symbol = b.symbol AND i.kind = 'future'
    JOIN spot s ON s.date = b.date AND s.venue = b.venue AND s.underlying = i.underlying
    WHERE b.kind = 'future' AND b.price_type = 'last'),
dated AS (
    SELECT *, 'future' AS kind, 'last' AS price_type, price / spot - 1 AS basis,
           CASE WHEN dte >= {p.min_dte} THEN (price / spot - 1) * 365 / dte END AS basis_ann_simple,
           CASE WHEN dte >= {p.min_dte} THEN ln(price / spot) * 365 / dte END AS basis_ann_log
    FROM futures WHERE dte >= 0),
perps AS (
    SELECT b.date, b.venue, s.underlying, b.symbol, 'perp' AS kind, b.price_type, b.close AS price, s.spot,
           b.close / s.spot - 1 AS basis
    FROM (FROM bars WHERE kind = 'perp'
          QUALIFY row_number() OVER (PARTITION BY date, venue, symbol ORDER BY price_type <> 'mark') = 1) b
    JOIN spot s ON s.date = b.date AND s.venue = b.venue AND s.underlying = split_part(b.symbol, '/', 1)),
below AS (
    SELECT date, venue, underlying, max(dte) AS dte_lo, arg_max(basis_ann_simple, dte) AS b_lo
    FROM dated WHERE basis_ann_simple IS NOT NULL AND dte <= {p.tenor_days} GROUP BY ALL),
above AS (
    SELECT date, venue, underlying, min(dte) AS dte_hi, arg_min(basis_ann_simple, dte) AS b_hi
    FROM dated WHERE basis_ann_simple IS NOT NULL AND dte >= {p.tenor_days} GROUP BY ALL),
cm AS (
    SELECT date, venue, underlying, underlying || '-CM{p.tenor_days:g}D' AS symbol, 'constant_maturity' AS kind,
           {float(p.tenor_days)}::DOUBLE AS dte,
           b_lo + CASE WHEN dte_hi > dte_lo THEN ({p.tenor_days} - dte_lo) / (dte_hi - dte_lo) ELSE 0 END
                  * (b_hi - b_lo) AS basis_ann_simple
    FROM below JOIN above USING (date, venue, underlying))
FROM dated UNION ALL BY NAME FROM perps UNION ALL BY NAME FROM cm""",
        "funding": f"""
CREATE OR REPLACE TABLE funding_daily AS
WITH daily AS (
    SELECT venue, symbol, date, count(*) AS settlements, arg_max(interval_hours, funding_ts) AS interval_hours,
           sum(interval_hours) AS hours_covered, sum(rate) AS daily_rate,
           sum(rate) / sum(interval_hours) * 24 * 365 AS apr
    FROM funding GROUP BY venue, symbol, date),
rolled AS (
    SELECT *, avg(apr) OVER short_w AS apr_7d, avg(apr) OVER long_w AS apr_30d,
           avg(daily_rate) OVER z_w AS z_mean, stddev_samp(daily_rate) OVER z_w AS z_std,
           count(daily_rate) OVER z_w AS z_n
    FROM daily
    WINDOW short_w AS (PARTITION BY venue, symbol ORDER BY date
                       RANGE BETWEEN INTERVAL {p.short_days - 1} DAYS PRECEDING AND CURRENT ROW),
           long_w AS (PARTITION BY venue, symbol ORDER BY date
                      RANGE BETWEEN INTERVAL {p.long_days - 1} DAYS PRECEDING AND CURRENT ROW),
           z_w AS (PARTITION BY venue, symbol ORDER BY date ROWS BETWEEN {z} PRECEDING AND 1 PRECEDING))
SELECT * EXCLUDE (z_mean, z_std, z_n),
       CASE WHEN z_n >= {p.min_obs(z)} AND z_std > 0 THEN (daily_rate - z_mean) / z_std END AS daily_rate_z
FROM rolled""",
        "spread": f"""
CREATE OR REPLACE TABLE spread AS
WITH b AS (SELECT *, {btc_settle} AS settle FROM basis),
perps AS (
    SELECT date, venue, underlying, settle, symbol AS perp_symbol, price_type AS perp_price_type,
           basis AS perp_premium
    FROM b WHERE kind = 'perp'),
nearest AS (
    SELECT date, venue, underlying, settle, symbol AS quarterly_symbol, dte AS quarterly_dte,
           basis AS quarterly_basis, basis_ann_simple AS quarterly_basis_ann
    FROM b WHERE kind = 'future' AND dte >= {p.quarterly_min_dte}
    QUALIFY row_number() OVER (PARTITION BY date, venue, underlying, settle ORDER BY dte, symbol) = 1),
live AS (
    SELECT *, row_number() OVER (PARTITION BY date, venue, underlying, settle ORDER BY dte, symbol) AS rank
    FROM b WHERE kind = 'future' AND dte >= 0),
curve AS (
    SELECT date, venue, underlying, settle,
           (max(basis) FILTER (rank = 2) - max(basis) FILTER (rank = 1))
           / (max(dte) FILTER (rank = 2) - max(dte) FILTER (rank = 1)) AS curve_slope,
           max(basis) FILTER (rank = 1) - curve_slope * max(dte) FILTER (rank = 1) AS curve_intercept
    FROM live WHERE rank <= 2 GROUP BY ALL),
joined AS (
    SELECT p.*, n.quarterly_symbol, n.quarterly_dte, n.quarterly_basis, n.quarterly_basis_ann,
           f.apr_7d AS funding_apr_7d, c.curve_slope, c.curve_intercept,
           p.perp_premium - n.quarterly_basis AS gap, n.quarterly_basis_ann - f.apr_7d AS carry_spread,
           CASE WHEN c.curve_slope IS NOT NULL THEN p.perp_premium - c.curve_intercept END AS x,
           CASE WHEN p.perp_premium - c.curve_intercept IS NOT NULL THEN c.curve_slope END AS y
    FROM perps p
    JOIN nearest n ON n.date = p.date AND n.venue = p.venue AND n.underlying = p.underlying AND n.settle = p.settle
    LEFT JOIN funding_daily f ON f.date = p.date AND f.venue = p.venue AND f.symbol = p.perp_symbol
    LEFT JOIN curve c ON c.date = p.date AND c.venue = p.venue AND c.underlying = p.underlying AND c.settle = p.settle),
rolled AS (
    SELECT *, count(x) OVER w AS n, avg(x) OVER w AS m_x, avg(y) OVER w AS m_y, avg(x * x) OVER w AS m_xx,
           avg(y * y) OVER w AS m_yy, avg(x * y) OVER w AS m_xy,
           avg(carry_spread) OVER w AS c_mean, stddev_samp(carry_spread) OVER w AS c_std,
           count(carry_spread) OVER w AS c_n
    FROM joined
    WINDOW w AS (PARTITION BY venue, perp_symbol ORDER BY date ROWS BETWEEN {gw} PRECEDING AND 1 PRECEDING)),
usual AS (
    SELECT *,
           CASE WHEN n >= {p.min_obs(gw)} THEN m_x - quarterly_dte * m_y END AS usual_gap,
           CASE WHEN n >= {p.min_obs(gw)} THEN n::DOUBLE / (n - 1) * ((m_xx - m_x * m_x)
                + quarterly_dte * quarterly_dte * (m_yy - m_y * m_y)
                - 2 * quarterly_dte * (m_xy - m_x * m_y)) END AS variance
    FROM rolled)
SELECT date, venue, underlying, perp_symbol, perp_price_type, perp_premium, quarterly_symbol, quarterly_dte,
       quarterly_basis, quarterly_basis_ann, gap, gap - usual_gap AS gap_vs_usual,
       CASE WHEN variance > 0 THEN (gap - usual_gap) / sqrt(variance) END AS gap_z, funding_apr_7d, carry_spread,
       CASE WHEN c_n >= {p.min_obs(gw)} AND c_std > 0 THEN (carry_spread - c_mean) / c_std END AS carry_spread_z
FROM usual""",
        "returns": f"""
CREATE OR REPLACE TABLE returns AS
WITH reference_perp AS (
    SELECT symbol FROM (SELECT DISTINCT symbol FROM bars
                        WHERE venue = {v} AND kind = 'perp' AND starts_with(symbol, 'BTC/'))
    ORDER BY NOT (contains(symbol, ':')
                  AND split_part(split_part(symbol, ':', 2), '-', 1) = split_part(split_part(symbol, '/', 2), ':', 1)),
             symbol
    LIMIT 1),
crypto AS (
    SELECT date, split_part(symbol, '/', 1) AS series, symbol, close FROM bars
    WHERE venue = {v} AND kind = 'spot' AND split_part(symbol, '/', 1) IN ({underlyings})
    UNION ALL
    SELECT date, 'BTC_PERP', symbol, close FROM bars
    WHERE venue = {v} AND kind = 'perp' AND symbol = (FROM reference_perp)
    QUALIFY row_number() OVER (PARTITION BY date ORDER BY price_type <> 'mark') = 1),
crypto_calendar AS (
    SELECT range::DATE AS date, lag(range::DATE) OVER (ORDER BY range) AS prev_date
    FROM range(DATE '{p.first}', DATE '{p.end}', INTERVAL 1 DAY)),
traditional_closes AS (SELECT date, series, ticker AS symbol, close FROM traditional),
trading_calendar AS (
    SELECT date, lag(date) OVER (ORDER BY date) AS prev_date
    FROM (SELECT DISTINCT date FROM traditional_closes WHERE series = '{p.nasdaq_series}')),
on_calendars AS (
    SELECT 'crypto' AS calendar, c.series, k.date, k.prev_date, c.symbol, c.close
    FROM crypto c JOIN crypto_calendar k USING (date)
    UNION ALL
    SELECT 'traditional', c.series, k.date, k.prev_date, c.symbol, c.close
    FROM (FROM traditional_closes UNION ALL FROM crypto WHERE series IN ({underlyings})) c
    JOIN trading_calendar k USING (date)),
futures AS (
    SELECT date, symbol, dte, price, lag(price) OVER by_contract AS prev_price, lag(date) OVER by_contract AS prev_date
    FROM basis
    WHERE venue = {v} AND underlying = 'BTC' AND kind = 'future'
      AND {btc_settle} = regexp_extract((FROM reference_perp), ':([^-]+)', 1)
    WINDOW by_contract AS (PARTITION BY symbol ORDER BY date))
SELECT r.*, ln(r.close / p.close) AS log_return
FROM on_calendars r
LEFT JOIN on_calendars p ON p.calendar = r.calendar AND p.series = r.series AND p.date = r.prev_date
UNION ALL
SELECT 'crypto', 'BTC_QUARTERLY', date, prev_date, symbol, price,
       CASE WHEN prev_date = date - 1 THEN ln(price / prev_price) END
FROM futures WHERE dte >= {p.quarterly_min_dte}
QUALIFY row_number() OVER (PARTITION BY date ORDER BY dte) = 1""",
        "correlation": f"""
CREATE OR REPLACE TABLE correlation AS
WITH pairs(pair, series_a, series_b, calendar) AS (VALUES {pairs}),
dates AS (
    SELECT DISTINCT p.pair, r.date FROM pairs p
    JOIN returns r ON r.calendar = p.calendar AND r.series IN (p.series_a, p.series_b)),
aligned AS (
    SELECT d.pair, d.date, a.log_return AS a, b.log_return AS b
    FROM dates d JOIN pairs p USING (pair)
    LEFT JOIN returns a ON a.calendar = p.calendar AND a.series = p.series_a AND a.date = d.date
    LEFT JOIN returns b ON b.calendar = p.calendar AND b.series = p.series_b AND b.date = d.date)
SELECT pair, date,
       count(a + b) OVER short_w AS n_short,
       CASE WHEN count(a + b) OVER short_w >= {p.min_obs(p.corr_short)} THEN corr(a, b) OVER short_w END AS corr_short,
       count(a + b) OVER baseline_w AS n_baseline,
       CASE WHEN count(a + b) OVER baseline_w >= {p.min_obs(p.corr_baseline)}
            THEN corr(a, b) OVER baseline_w END AS corr_baseline
FROM aligned
WINDOW short_w AS (PARTITION BY pair ORDER BY date ROWS BETWEEN {p.corr_short - 1} PRECEDING AND CURRENT ROW),
       baseline_w AS (PARTITION BY pair ORDER BY date ROWS BETWEEN {p.corr_baseline - 1} PRECEDING AND CURRENT ROW)""",
    }


SQL_TABLES = dict(basis="basis", funding="funding_daily", spread="spread", returns="returns",
                  correlation="correlation")


# ---------------------------------------------------------------------------------------------- running


class Engine:
    """One implementation: load the inputs (not timed), then run the pieces in order."""

    def __init__(self, name: str, raw: dict[str, pl.DataFrame], p: Params):
        self.name = name
        if name == "polars":
            self.inputs, pieces = dict(raw), polars_pieces(p)
            self.run_piece = lambda piece, state: state.__setitem__(piece, pieces[piece](state))
        elif name == "pandas":
            self.inputs, pieces = {k: f.to_pandas() for k, f in raw.items()}, pandas_pieces(p)
            self.run_piece = lambda piece, state: state.__setitem__(piece, pieces[piece](state))
        else:
            import duckdb

            self.con = duckdb.connect()
            for table, frame in raw.items():
                self.con.register(f"{table}_input", frame.to_arrow())
                self.con.execute(f"CREATE TABLE {table} AS FROM {table}_input")
                self.con.unregister(f"{table}_input")
            self.inputs, statements = {}, sql_pieces(p)
            self.run_piece = lambda piece, state: self.con.execute(statements[piece])

    def run(self) -> tuple[dict[str, float], dict]:
        state, seconds = dict(self.inputs), {}
        for piece in PIECES:
            began = time.perf_counter()
            self.run_piece(piece, state)
            seconds[piece] = time.perf_counter() - began
        return seconds, state

    def outputs(self, state: dict) -> dict[str, pl.DataFrame]:
        """Each piece's output as a polars frame of its compared columns, for the agreement check."""
        out = {}
        for piece in PIECES:
            if self.name == "polars":
                frame = state[piece]
            elif self.name == "pandas":
                frame = pl.from_pandas(state[piece].reset_index(drop=True))
            else:
                frame = self.con.execute(f"FROM {SQL_TABLES[piece]}").pl()
            out[piece] = normalised(piece, frame)
        return out


def normalised(piece: str, frame: pl.DataFrame) -> pl.DataFrame:
    keys, values = COMPARED[piece]
    columns = []
    for name in keys + values:
        column = pl.col(name)
        dtype = frame.schema[name]
        if name in ("date", "prev_date"):
            column = column.cast(pl.Date)
        elif dtype.is_numeric():
            column = column.cast(pl.Float64).fill_nan(None)
        columns.append(column)
    return frame.select(columns).sort(keys)


def differences(piece: str, a: pl.DataFrame, b: pl.DataFrame) -> list[str]:
    """What differs between two normalised outputs of one piece (empty when they agree)."""
    keys, values = COMPARED[piece]
    if a.height != b.height:
        return [f"{a.height} rows vs {b.height}"]
    problems = []
    for name in keys + values:
        x, y = a[name], b[name]
        if not x.is_null().equals(y.is_null()):
            problems.append(f"{name}: nulls differ in {(x.is_null() != y.is_null()).sum()} rows")
        elif x.dtype == pl.Float64:
            both = x.is_not_null()
            gap = ((x - y).abs() / y.abs().clip(lower_bound=1.0)).filter(both)
            if gap.len() and gap.max() > 1e-9:
                problems.append(f"{name}: largest relative difference {gap.max():.2e}")
        elif not x.equals(y):
            problems.append(f"{name}: {(x != y).sum()} values differ")
    return problems


def check(years: float) -> dict:
    """Run all three once on the same inputs and compare every piece."""
    p, raw = params(years), raw_tables(years)
    outputs = {}
    for name in ENGINES:
        engine = Engine(name, raw, p)
        _, state = engine.run()
        outputs[name] = engine.outputs(state)
    problems = {
        f"{piece} ({other} vs polars)": found
        for piece in PIECES for other in ("pandas", "duckdb")
        if (found := differences(piece, outputs["polars"][piece], outputs[other][piece]))
    }
    rows = {piece: outputs["polars"][piece].height for piece in PIECES}
    return dict(agree=not problems, problems=problems, output_rows=rows)


def measure(years: float, name: str, repeat: int) -> dict:
    p, raw = params(years), raw_tables(years)
    engine = Engine(name, raw, p)
    inputs_mib = peak_mib()
    engine.run()  # warm-up: imports and first-call compilation are not the layer's cost
    runs = [engine.run()[0] for _ in range(repeat)]
    return dict(
        years=years, engine=name, input_rows=sum(f.height for f in raw.values()),
        seconds={piece: statistics.median(run[piece] for run in runs) for piece in PIECES},
        total=statistics.median(sum(run.values()) for run in runs),
        inputs_mib=inputs_mib, peak_mib=peak_mib(),
    )


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"core_bench {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=float, nargs="+", default=[1, 3, 10])
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_YEARS} years, one repeat: a smoke test")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per implementation (median)")
    parser.add_argument("--check-one", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--measure-one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check_one is not None:
        print(json.dumps(check(args.check_one)))
        return
    if args.measure_one:
        print(json.dumps(measure(float(args.measure_one[0]), args.measure_one[1], args.repeat)))
        return
    years_list, repeat = ([TINY_YEARS], 1) if args.tiny else (args.years, args.repeat)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"median of {repeat} run(s) after a warm-up; polars and DuckDB on every core, pandas on one")
    results = []
    for years in years_list:
        agreement = child("--check-one", str(years))
        if not agreement["agree"]:
            print(f"{years:g} years: the implementations disagree, nothing timed:")
            for where, problems in agreement["problems"].items():
                print(f"  {where}: {'; '.join(problems)}")
            sys.exit(1)
        by_engine = {name: child("--measure-one", str(years), name, "--repeat", str(repeat)) for name in ENGINES}
        results.append((years, agreement["output_rows"], by_engine))
    print()
    print("| years | piece | output rows | polars s | pandas s | DuckDB s | pandas / polars | DuckDB / polars |")
    print("|---|---|---|---|---|---|---|---|")
    for years, output_rows, r in results:
        for piece in PIECES:
            t = {name: r[name]["seconds"][piece] for name in ENGINES}
            print(f"| {years:g} | {piece} | {output_rows[piece]:,} | {t['polars']:.3f} | {t['pandas']:.3f} | "
                  f"{t['duckdb']:.3f} | {t['pandas'] / t['polars']:.1f}x | {t['duckdb'] / t['polars']:.1f}x |")
    print()
    print("| years | input rows | polars s | pandas s | DuckDB s | pandas / polars | DuckDB / polars "
          "| polars rows/s | pandas rows/s | DuckDB rows/s | peak MiB polars / pandas / DuckDB (inputs alone) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for years, _, r in results:
        rows = r["polars"]["input_rows"]
        t = {name: r[name]["total"] for name in ENGINES}
        peaks = " / ".join(f"{r[name]['peak_mib']:.0f}" for name in ENGINES)
        floors = " / ".join(f"{r[name]['inputs_mib']:.0f}" for name in ENGINES)
        print(f"| {years:g} | {rows:,} | {t['polars']:.3f} | {t['pandas']:.3f} | {t['duckdb']:.3f} | "
              f"{t['pandas'] / t['polars']:.1f}x | {t['duckdb'] / t['polars']:.1f}x | {rows / t['polars']:,.0f} | "
              f"{rows / t['pandas']:,.0f} | {rows / t['duckdb']:,.0f} | {peaks} ({floors}) |")
    if len(results) > 1:
        (y0, _, first), (y1, _, last) = results[0], results[-1]
        growth = {name: (last[name]["total"] / first[name]["total"])
                  / (last[name]["input_rows"] / first[name]["input_rows"]) for name in ENGINES}
        print(f"\ncost per input row, {y1:g} years vs {y0:g}: "
              + ", ".join(f"{name} {g:.2f}x" for name, g in growth.items()) + " (<= 1: no worse than linear)")


if __name__ == "__main__":
    main()
