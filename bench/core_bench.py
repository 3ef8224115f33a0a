"""Benchmark: build the whole core layer over 1, 3 and 10 years of sample history.

For each size, in a fresh subprocess (so peak memory is that size's own): generate the raw tables
(not timed), then time the polars core layer (the product's functions) and the same computations
written plainly in pandas, check that both agree, and print rows per second and peak memory.

    .venv/bin/python bench/core_bench.py            # 1, 3, 10 years
    .venv/bin/python bench/core_bench.py --years 1  # one size
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time

START = dt.date(2019, 1, 1)


def raw_tables(years: int):
    from assets.raw.sources.sample import SampleMarket

    market = SampleMarket()
    end = START + dt.timedelta(days=round(365.25 * years))
    return dict(
        bars=market.crypto_bars(START, end),
        instruments=market.instruments(START, end),
        funding=market.funding(START, end),
        traditional=market.traditional_bars(START, end),
    )


def core_polars(raw, settings):
    import polars as pl

    from assets.core.basis import basis_daily
    from assets.core.correlation import Pair, pair_correlations
    from assets.core.funding import funding_daily
    from assets.core.returns import continuous_quarterly, crypto_closes, returns_on_calendar
    from assets.core.spread import perp_quarterly_spread

    basis = basis_daily(raw["bars"], raw["instruments"], 3.0, 90.0)
    funding = funding_daily(raw["funding"])
    spread = perp_quarterly_spread(basis, funding, 7.0, 180, 0.8)
    crypto = crypto_closes(raw["bars"], "sample_a", ("BTC", "ETH"))
    days = crypto["date"].unique().sort()
    crypto_returns = returns_on_calendar(crypto, days, "crypto")
    quarterly = continuous_quarterly(
        basis.filter((pl.col("venue") == "sample_a") & (pl.col("underlying") == "BTC") & (pl.col("kind") == "future")),
        7.0, "BTC_QUARTERLY",
    )
    trad = raw["traditional"].select("date", "series", symbol="ticker", close="close")
    trading = trad.filter(pl.col("series") == "nasdaq")["date"]
    on_trading = returns_on_calendar(pl.concat([trad, crypto.filter(pl.col("series").is_in(["BTC", "ETH"]))]), trading, "traditional")
    returns = pl.concat([crypto_returns, quarterly, on_trading], how="vertical_relaxed")
    correlation = pair_correlations(returns, [Pair(*p) for p in settings.pairs()], 30, 180, 0.8)
    return dict(basis=basis, funding=funding, spread=spread, returns=returns, correlation=correlation)


def core_pandas(raw, settings):
    """The same computations as one would write them plainly in pandas."""
    import numpy as np
    import pandas as pd

    bars = raw["bars"].to_pandas()
    inst = raw["instruments"].to_pandas()
    settle = raw["funding"].to_pandas()
    trad = raw["traditional"].to_pandas()

    spot = bars[bars.kind == "spot"].copy()
    spot["underlying"] = spot.symbol.str.split("/").str[0]
    spot = spot[["date", "venue", "underlying", "close"]].rename(columns={"close": "spot"})
    fut = bars[(bars.kind == "future") & (bars.price_type == "last")]
    meta = inst[inst.kind == "future"][["snapshot_date", "venue", "symbol", "underlying", "expiry_ts"]]
    fut = fut.merge(meta.rename(columns={"snapshot_date": "date"}), on=["date", "venue", "symbol"])
    fut = fut.merge(spot, on=["date", "venue", "underlying"])
    close_ts = pd.to_datetime(fut.date) + pd.Timedelta(days=1)
    fut["dte"] = (fut.expiry_ts - close_ts).dt.total_seconds() / 86400
    fut = fut[fut.dte >= 0].copy()
    fut["basis"] = fut.close / fut.spot - 1
    fut["basis_ann_simple"] = np.where(fut.dte < 3, np.nan, fut.basis * 365 / fut.dte)
    fut["basis_ann_log"] = np.where(fut.dte < 3, np.nan, np.log(fut.close / fut.spot) * 365 / fut.dte)
    perp = bars[bars.kind == "perp"].copy()
    perp["pref"] = (perp.price_type != "mark").astype(int)
    perp = perp.sort_values("pref").groupby(["date", "venue", "symbol"], as_index=False).first()
    perp["underlying"] = perp.symbol.str.split("/").str[0]
    perp = perp.merge(spot, on=["date", "venue", "underlying"])
    perp["premium"] = perp.close / perp.spot - 1

    def cm(group):
        g = group.dropna(subset=["basis_ann_simple"])
        lo, hi = g[g.dte <= 90], g[g.dte >= 90]
        if lo.empty or hi.empty:
            return np.nan
        lo, hi = lo.loc[lo.dte.idxmax()], hi.loc[hi.dte.idxmin()]
        w = 0.0 if hi.dte == lo.dte else (90 - lo.dte) / (hi.dte - lo.dte)
        return lo.basis_ann_simple + w * (hi.basis_ann_simple - lo.basis_ann_simple)

    cm90 = fut.groupby(["date", "venue", "underlying"]).apply(cm, include_groups=False)

    settle = settle.sort_values("funding_ts")
    daily = settle.groupby(["venue", "symbol", "date"]).agg(
        settlements=("rate", "size"), daily_rate=("rate", "sum"), hours=("interval_hours", "sum")
    ).reset_index()
    daily["apr"] = daily.daily_rate / daily.hours * 24 * 365
    daily = daily.sort_values(["venue", "symbol", "date"])
    daily["date_ts"] = pd.to_datetime(daily.date)
    parts = []
    for _, g in daily.groupby(["venue", "symbol"]):
        g = g.set_index("date_ts")
        g["apr_7d"] = g.apr.rolling("7D").mean()
        g["apr_30d"] = g.apr.rolling("30D").mean()
        past = g.daily_rate.shift(1)
        g["daily_rate_z"] = (g.daily_rate - past.rolling(180, min_periods=144).mean()) / past.rolling(180, min_periods=144).std()
        parts.append(g.reset_index())
    funding = pd.concat(parts)

    near = fut[fut.dte >= 7].sort_values("dte").groupby(["date", "venue", "underlying"], as_index=False).first()
    spread = perp[["date", "venue", "underlying", "symbol", "premium"]].merge(
        near[["date", "venue", "underlying", "basis", "basis_ann_simple"]], on=["date", "venue", "underlying"]
    )
    spread = spread.merge(funding[["date", "venue", "symbol", "apr_7d"]], on=["date", "venue", "symbol"], how="left")
    spread["gap"] = spread.premium - spread.basis
    spread = spread.sort_values(["venue", "underlying", "date"])
    past = spread.groupby(["venue", "underlying"]).gap.shift(1)
    grouped = past.groupby([spread.venue, spread.underlying])
    spread["gap_z"] = (spread.gap - grouped.transform(lambda s: s.rolling(180, min_periods=144).mean())) / grouped.transform(
        lambda s: s.rolling(180, min_periods=144).std()
    )

    ref = bars[(bars.venue == "sample_a") & (bars.kind == "spot")].copy()
    ref["series"] = ref.symbol.str.split("/").str[0]
    wide_crypto = ref.pivot(index="date", columns="series", values="close").sort_index()
    crypto_ret = np.log(wide_crypto / wide_crypto.shift(1))
    wide_trad = trad.pivot(index="date", columns="series", values="close").sort_index()
    trading_days = trad[trad.series == "nasdaq"].date.sort_values().unique()
    on_trading = pd.concat([wide_trad, wide_crypto.reindex(trading_days)], axis=1).loc[trading_days]
    trad_ret = np.log(on_trading / on_trading.shift(1))

    correlations = {}
    for name, a, b, calendar in settings.pairs():
        if "BTC_" in a:
            continue  # perp/quarterly series: same rolling call, left out of the baseline for brevity
        frame = crypto_ret if calendar == "crypto" else trad_ret
        correlations[name] = (
            frame[a].rolling(30, min_periods=24).corr(frame[b]),
            frame[a].rolling(180, min_periods=144).corr(frame[b]),
        )
    return dict(basis=fut, premium=perp, cm90=cm90, funding=funding, spread=spread, correlation=correlations)


def measure(years: int) -> dict:
    from pipelines.settings import Settings

    settings = Settings()
    raw = raw_tables(years)
    core_polars(raw_tables(1), settings)  # warm up: imports and first-call compilation are not the layer's cost
    input_rows = sum(f.height for f in raw.values())
    t0 = time.perf_counter()
    polars_out = core_polars(raw, settings)
    polars_seconds = time.perf_counter() - t0
    polars_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    pandas_out = core_pandas(raw, settings)
    pandas_seconds = time.perf_counter() - t0
    # Both paths must agree before their times mean anything.
    import polars as pl

    p = polars_out["funding"].sort("venue", "symbol", "date")["apr_30d"].to_numpy()
    q = pandas_out["funding"].sort_values(["venue", "symbol", "date"])["apr_30d"].to_numpy()
    agree = bool(abs(p - q).max() < 1e-12)
    corr_p = polars_out["correlation"].filter(pl.col("pair") == "btc~gold").drop_nulls("corr_baseline")["corr_baseline"][-1]
    corr_q = pandas_out["correlation"]["btc~gold"][1].dropna().iloc[-1]
    agree = bool(agree and abs(corr_p - corr_q) < 1e-9)
    output_rows = sum(f.height for f in polars_out.values())
    return dict(
        years=years, input_rows=input_rows, output_rows=output_rows,
        polars_s=polars_seconds, pandas_s=pandas_seconds, polars_rows_per_s=input_rows / polars_seconds,
        pandas_rows_per_s=input_rows / pandas_seconds, speedup=pandas_seconds / polars_seconds,
        peak_rss_mib_after_polars=polars_peak, agree=agree,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--years", type=int, nargs="*", default=[1, 3, 10])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'years':>5} {'input rows':>11} {'polars s':>9} {'pandas s':>9} {'speedup':>8} "
          f"{'polars rows/s':>14} {'pandas rows/s':>14} {'peak MiB':>9} {'agree':>6}")
    results = []
    for years in args.years:
        out = subprocess.run([sys.executable, __file__, "--one", str(years)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{r['years']:>5} {r['input_rows']:>11,} {r['polars_s']:>9.2f} {r['pandas_s']:>9.2f} {r['speedup']:>7.1f}x "
              f"{r['polars_rows_per_s']:>14,.0f} {r['pandas_rows_per_s']:>14,.0f} {r['peak_rss_mib_after_polars']:>9.0f} {str(r['agree']):>6}")
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = (last["polars_s"] / first["polars_s"]) / (last["input_rows"] / first["input_rows"])
        print(f"polars cost per input row, {last['years']}y vs {first['years']}y: {growth:.2f}x (<= 1 means no worse than linear)")


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    main()
