"""What a daily run costs through the pipeline, against a bare script doing the same work.

For each history length a warehouse holding that much sample history is built once (by the bare script,
as one window) and published. Then, interleaved, each in a fresh process on its own copy of that warehouse:

- pipeline: `materialize_range(day, day)`: the Dagster job, every great-expectations gate, charts, publishing;
- bare: the same reads (each asset's declared look-back, taken from the pipeline's own definitions), the same
  pure functions (assets/core, assets/marts/rules.py, backtest, alerts), the same DuckDB writes and the same
  publish, without Dagster or great-expectations.

Before any figure is printed, the two copies must hold the same rows in every table. Printed: medians of wall
and CPU time of the run (after imports) and of the whole process (interpreter, imports and run), their ratios,
the run at the longest history against the shortest, and where the pipeline's run spends its CPU time (cProfile,
one extra run).

    .venv/bin/python bench/daily_run.py               # 1 year and all the sample's history, 5 runs each
    .venv/bin/python bench/daily_run.py --tiny        # 40 days of history, one run each: a smoke test
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = dt.date(2026, 11, 1)  # the new day every run adds
HISTORY_START = dt.date(2018, 1, 1)  # the sample market's first day
TINY_DAYS = 40
PROJECT_PACKAGES = ("/assets/", "/quality/", "/warehouse/", "/pipelines/")


def settings_for(db: str):
    """The product's defaults on the sample market: the daily partitions start where the stored history starts."""
    from pipelines.settings import load_settings

    return load_settings(warehouse_path=db, history_start=None, source="sample")


# ---------------------------------------------------------------------------------------------------- bare script

def bare_run(db: str, start: dt.date, end: dt.date, lookbacks: dict[str, dict[str, int | None]]) -> None:
    """Everything the daily job does for [start, end), with no Dagster and no great-expectations."""
    import polars as pl

    from assets.core.basis import basis_daily
    from assets.core.correlation import Pair, pair_correlations
    from assets.core.funding import funding_daily
    from assets.core.returns import returns_daily
    from assets.core.spread import perp_quarterly_spread
    from assets.marts import alerts, backtest, notify, rules
    from assets.raw.sources.sample import SampleMarket
    from warehouse import schemas as t
    from warehouse.db import Warehouse
    from warehouse.serving import publish

    s = settings_for(db)
    wh = Warehouse(db)
    specs = {spec.qualified: spec for spec in vars(t).values() if isinstance(spec, t.TableSpec)}

    def read(asset: str) -> dict:
        """The asset's inputs for the window: declared look-back before it, or the whole table (None)."""
        frames = {}
        with wh.session(read_only=True):
            for table, days in lookbacks[asset].items():
                spec = specs[table]
                frames[spec] = (wh.read_window(spec) if days is None
                                else wh.read_window(spec, start - dt.timedelta(days=days), end))
        return frames

    def write(spec, frame: pl.DataFrame) -> None:
        column = pl.col(spec.partition_column)
        wh.replace_window(spec, frame.filter((column >= start) & (column < end)), start, end, source="bare")

    # One connection for every read and write, as a script would open the file once.
    with wh.session():
        market = SampleMarket(seed=s.sample.seed, venues=tuple(s.venues), underlyings=tuple(s.universe.underlyings),
                              traditional=s.traditional_series(), calendars=s.traditional_calendars())
        write(t.RAW_INSTRUMENTS, market.instruments(start, end))
        write(t.RAW_CRYPTO_OHLCV, market.crypto_bars(start, end))
        write(t.RAW_FUNDING, market.funding(start, end))
        write(t.RAW_TRADITIONAL_OHLCV, market.traditional_bars(start, end))

        i = read("core/basis_daily")
        write(t.CORE_BASIS_DAILY, basis_daily(i[t.RAW_CRYPTO_OHLCV], i[t.RAW_INSTRUMENTS],
                                              min_dte=s.basis.min_dte_for_annualised,
                                              tenor_days=s.basis.constant_maturity_days))
        f = s.funding
        i = read("core/funding_daily")
        write(t.CORE_FUNDING_DAILY, funding_daily(i[t.RAW_FUNDING], f.rolling_short_days, f.rolling_long_days,
                                                  f.zscore_days, s.correlation.min_fraction))
        i = read("core/perp_quarterly_spread")
        write(t.CORE_PERP_QUARTERLY_SPREAD, perp_quarterly_spread(
            i[t.CORE_BASIS_DAILY], i[t.CORE_FUNDING_DAILY], min_dte=s.anomaly.divergence_min_dte,
            window=s.anomaly.gap_window, min_fraction=s.correlation.min_fraction, gap_std_floor=s.anomaly.gap_std_floor))
        i = read("core/returns_daily")
        gap = lookbacks["core/returns_daily"][t.RAW_CRYPTO_OHLCV.qualified]
        write(t.CORE_RETURNS_DAILY, returns_daily(
            i[t.RAW_CRYPTO_OHLCV], i[t.CORE_BASIS_DAILY], i[t.RAW_TRADITIONAL_OHLCV],
            reference_venue=s.reference_venue, underlyings=s.universe.underlyings, nasdaq_series=s.nasdaq_series,
            calendars=s.traditional_calendars(), min_dte=s.anomaly.divergence_min_dte, first=start - dt.timedelta(days=gap), end=end))
        c = s.correlation
        i = read("core/correlation_daily")
        write(t.CORE_CORRELATION_DAILY, pair_correlations(i[t.CORE_RETURNS_DAILY], [Pair(*p) for p in s.pairs()],
                                                          c.short_window, c.baseline_window, c.min_fraction, c.high,
                                                          c.moderate))

        i = read("marts/anomaly_daily")
        write(t.MARTS_ANOMALY_DAILY, rules.anomaly_daily(
            returns=i[t.CORE_RETURNS_DAILY], spread=i[t.CORE_PERP_QUARTERLY_SPREAD], funding=i[t.CORE_FUNDING_DAILY],
            correlations=i[t.CORE_CORRELATION_DAILY], basis=i[t.CORE_BASIS_DAILY], a=s.anomaly, nasdaq=s.nasdaq_series,
        ).with_columns(quality_status=pl.lit("passed")))
        i = read("marts/anomaly_episodes")
        returns = i[t.CORE_RETURNS_DAILY]
        calendars = {k: returns.filter(pl.col("calendar") == k)["date"].unique().sort() for k in ("crypto", "traditional")}
        episodes = rules.episodes(i[t.MARTS_ANOMALY_DAILY], calendars,
                                  {k: (d.max() if d.len() else None) for k, d in calendars.items()})
        wh.replace_all(t.MARTS_ANOMALY_EPISODES, episodes if episodes.height else
                       pl.DataFrame(schema=t.MARTS_ANOMALY_EPISODES.polars_schema), source="bare")
        i = read("marts/anomaly_status")
        correlations = i[t.CORE_CORRELATION_DAILY]
        latest = correlations["date"].max()
        anomalies = i[t.MARTS_ANOMALY_DAILY].filter(pl.col("date") == latest)
        status = rules.status(correlations.filter(pl.col("date") >= latest - dt.timedelta(days=11)), anomalies,
                              i[t.MARTS_ANOMALY_EPISODES], latest, c.high, c.moderate)
        wh.replace_all(t.MARTS_ANOMALY_STATUS, status.with_columns(
            quality_status=pl.lit(anomalies["quality_status"].max() if anomalies.height else "passed")), source="bare")
        i = read("marts/basis_trades")
        trades = backtest.basis_trades(i[t.CORE_PERP_QUARTERLY_SPREAD], i[t.CORE_BASIS_DAILY], i[t.RAW_FUNDING],
                                       i[t.MARTS_ANOMALY_EPISODES], s.backtest,
                                       deliveries=backtest.delivery_prices(i[t.RAW_CRYPTO_OHLCV], i[t.CORE_BASIS_DAILY]))
        wh.replace_all(t.MARTS_BASIS_TRADES, trades, source="bare")
        wh.replace_all(t.MARTS_BASIS_TRADE_SUMMARY, backtest.trade_summary(trades), source="bare")
        i = read("marts/alert_log")
        log = wh.read_window(t.MARTS_ALERT_LOG)
        due = alerts.pending_alerts(i[t.MARTS_ANOMALY_EPISODES], i[t.MARTS_ANOMALY_STATUS], log,
                                    dt.datetime.now(dt.timezone.utc).date(), s)
        wh.replace_all(t.MARTS_ALERT_LOG, pl.concat([log, notify.send(due, s, os.environ)], how="vertical_relaxed"),
                       source="bare")
    publish(db)


def declared_lookbacks() -> dict[str, dict[str, int | None]]:
    """Per asset, the tables it reads and the days of look-back, from the pipeline's own dependencies: a
    partitioned asset reads its window plus the mapping's offset, an unpartitioned one the whole table."""
    import dagster as dg

    from pipelines.definitions import build_definitions

    lookbacks = {}
    for assets_def in build_definitions(settings_for(os.devnull)).assets:
        for spec in assets_def.specs:
            if not spec.deps or spec.key.path[-1] == "published_warehouse":
                continue
            reads = {}
            for dep in spec.deps:
                mapping = dep.partition_mapping
                if spec.partitions_def is None:
                    reads[".".join(dep.asset_key.path)] = None
                elif isinstance(mapping, dg.TimeWindowPartitionMapping):
                    reads[".".join(dep.asset_key.path)] = -mapping.start_offset
                else:
                    reads[".".join(dep.asset_key.path)] = 0
            lookbacks[spec.key.to_user_string()] = reads
    return lookbacks


# ------------------------------------------------------------------------------------------------------ children

def child(mode: str, db: str, lookbacks: str | None) -> dict:
    """One measured process: imports, then the run. Prints its figures as JSON."""
    began_wall, began_cpu = time.perf_counter(), time.process_time()
    profile = cProfile.Profile(time.process_time) if mode == "profile" else None
    if profile:
        profile.enable()
    if mode == "bare":
        import duckdb  # noqa: F401
        import polars  # noqa: F401

        imported = time.perf_counter(), time.process_time()
        bare_run(db, DAY, DAY + dt.timedelta(days=1), json.loads(lookbacks))
        for module in ("dagster", "great_expectations"):
            assert module not in sys.modules, f"the bare script imported {module}"
    else:
        import dagster as dg

        from pipelines.run import materialize_range

        imported = time.perf_counter(), time.process_time()
        result = materialize_range(DAY, DAY, settings_for(db), instance=dg.DagsterInstance.ephemeral())
        assert result.success
    done = time.perf_counter(), time.process_time()
    out = {"import_wall": imported[0] - began_wall, "import_cpu": imported[1] - began_cpu,
           "run_wall": done[0] - imported[0], "run_cpu": done[1] - imported[1]}
    if profile:
        profile.disable()
        out["top"] = top_places(profile)
    return out


def top_places(profile: cProfile.Profile, count: int = 10) -> list[tuple[str, float, float]]:
    """The project's functions and the libraries' entry points taking the most CPU time (cumulative), with
    nested ones left out when their caller already covers most of them."""
    stats = pstats.Stats(profile, stream=io.StringIO()).stats
    rows = []
    for (file, line, name), (_, _, own, cumulative, _) in stats.items():
        library = (file == "~" and any(n in name for n in ("vegalite_to_png", "duckdb.connect", "execute"))) or (
            "great_expectations" in file and name == "validate" and "interfaces" in file) or (
            "event_log" in file and name == "store_event" and "sql_event_log" in file)
        inside = file[len(str(ROOT)):] if file.startswith(str(ROOT)) else ""  # the path within this project
        project = any(inside.startswith(p) for p in PROJECT_PACKAGES)
        if (library or project) and name not in {"<module>", "materialize_range", "<genexpr>"}:
            where = f"{Path(file).parent.name}/{Path(file).name}:{name}" if file != "~" else name.strip("<>")
            rows.append((where, cumulative, own))
    rows.sort(key=lambda r: -r[1])
    chosen: list[tuple[str, float, float]] = []
    for row in rows:  # a wrapper and what it wraps show as one place: keep the outer one
        if not any(abs(row[1] - kept[1]) <= 0.03 * kept[1] for kept in chosen):
            chosen.append(row)
    return chosen[:count]


def run_child(mode: str, db: Path, lookbacks: dict) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", mode, "--db", str(db),
                           "--lookbacks", json.dumps(lookbacks)], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stdout}\n{done.stderr}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_wall"] = wall
    out["process_cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out


# ---------------------------------------------------------------------------------------------------- the bench

def build_history(folder: Path, days: int, lookbacks: dict) -> Path:
    """A warehouse with `days` of sample history before DAY, written as one window, and published."""
    db = folder / "history" / "warehouse.duckdb"
    db.parent.mkdir(parents=True)
    subprocess.run([sys.executable, __file__, "--child", "build", "--db", str(db), "--lookbacks", json.dumps(lookbacks),
                    "--start", str(DAY - dt.timedelta(days=days))], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return db


def copy_of(history: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(history.parent, target, symlinks=True)
    return target / history.name


def same_tables(a: Path, b: Path) -> list[str]:
    from polars.testing import assert_frame_equal

    from warehouse.db import Warehouse
    from warehouse.serving import ALL_TABLES

    differing = []
    for spec in ALL_TABLES:
        left, right = Warehouse(a).read_window(spec), Warehouse(b).read_window(spec)
        if spec.name == "alert_log":  # logged when sent: compare what was sent, not when
            left, right = (f.drop("logged_at") for f in (left, right))
        try:  # floats to 1e-12: a sum over many groups may add in another order from one process to the next
            assert_frame_equal(left, right, rel_tol=1e-12, abs_tol=1e-15)
        except AssertionError as difference:
            differing.append(f"{spec.qualified}: {str(difference).splitlines()[0]}")
    return differing


def measure(folder: Path, label: str, days: int, repeat: int, lookbacks: dict) -> dict:
    history = build_history(folder / label, days, lookbacks)
    runs = {"pipeline": [], "bare": []}
    for attempt in range(repeat):
        order = ("pipeline", "bare") if attempt % 2 == 0 else ("bare", "pipeline")
        for mode in order:
            db = copy_of(history, folder / label / mode)
            runs[mode].append(run_child(mode, db, lookbacks))
        if attempt == 0:
            differing = same_tables(folder / label / "pipeline" / history.name, folder / label / "bare" / history.name)
            if differing:
                raise SystemExit(f"{label}: the pipeline and the bare script disagree on {differing}")
    medians = {mode: {key: statistics.median(r[key] for r in rows) for key in rows[0]} for mode, rows in runs.items()}
    profiled = run_child("profile", copy_of(history, folder / label / "profile"), lookbacks)
    return {"label": label, "medians": medians, "top": profiled["top"], "profile_cpu": profiled["run_cpu"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_DAYS} days of history, one run each")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--days", type=int, nargs="+", help="days of history to measure at (default: 365 and all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--lookbacks", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=dt.date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "build":
        bare_run(args.db, args.start, DAY, json.loads(args.lookbacks))
        return
    if args.child:
        print(json.dumps(child(args.child, args.db, args.lookbacks)))
        return
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    full_days = (DAY - HISTORY_START).days
    sizes = [(f"{days / 365.25:.1f} y", days) for days in args.days or (365, full_days)]
    sizes = [("tiny", TINY_DAYS)] if args.tiny else sizes
    repeat = 1 if args.tiny else args.repeat
    lookbacks = declared_lookbacks()
    load = os.getloadavg()
    print(f"Daily run of {DAY} on the sample market: the pipeline (Dagster, every quality gate, charts, publish) "
          f"against a bare script of the same reads, math, rules and writes; {repeat} interleaved run(s) each, "
          f"medians; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start.")
    results = []
    with tempfile.TemporaryDirectory(prefix="daily-run-") as folder:
        for label, days in sizes:
            results.append(measure(Path(folder), label, days, repeat, lookbacks))
    print()
    print("| history | run: pipeline | run: bare | wall ratio | run CPU: pipeline | run CPU: bare | CPU ratio "
          "| process CPU: pipeline | process CPU: bare | process CPU ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        p, b = r["medians"]["pipeline"], r["medians"]["bare"]
        print(f"| {r['label']} | {p['run_wall']:.2f} s | {b['run_wall']:.2f} s | {p['run_wall'] / b['run_wall']:.2f}x "
              f"| {p['run_cpu']:.2f} s | {b['run_cpu']:.2f} s | {p['run_cpu'] / b['run_cpu']:.2f}x "
              f"| {p['process_cpu']:.2f} s | {b['process_cpu']:.2f} s | {p['process_cpu'] / b['process_cpu']:.2f}x |")
    imports = results[-1]["medians"]["pipeline"]
    print(f"\nImports before any work (pipeline process): {imports['import_wall']:.2f} s wall, "
          f"{imports['import_cpu']:.2f} s CPU (bare: {results[-1]['medians']['bare']['import_cpu']:.2f} s CPU).")
    if len(results) > 1:
        short, long = results[0]["medians"]["pipeline"], results[-1]["medians"]["pipeline"]
        print(f"Pipeline's daily run at {results[-1]['label']} vs {results[0]['label']} of history: "
              f"{long['run_wall'] / short['run_wall']:.2f}x wall, {long['run_cpu'] / short['run_cpu']:.2f}x CPU.")
    for r in results:
        print(f"\nWhere the pipeline's run spends CPU at {r['label']} (cProfile, cumulative; "
              f"{r['profile_cpu']:.1f} s under the profiler):")
        print("| place | cumulative CPU | own CPU |")
        print("|---|---|---|")
        for where, cumulative, own in r["top"]:
            print(f"| {where} | {cumulative:.2f} s | {own:.2f} s |")


if __name__ == "__main__":
    main()
