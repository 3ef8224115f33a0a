"""Every script in bench/ runs at a tiny size and prints its figures, so none can break unnoticed."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"

# script -> (arguments for a tiny run, a pattern its output must contain: a table row or line with figures).
TINY_RUNS = {
    "core_bench.py": (["--tiny"], r"\| 0\.6 \| [\d,]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+x \| [\d.]+x \|"),
    "quality_overhead.py": (["--tiny"], r"daily run 1: [\d.]+ s in all, [\d.]+ s validating \(\d+ checks"),
    "live_requests.py": (["--tiny"], r"\| daily run \| \d+ \| \d+ \| \d+ \| \d+ \| \d+ \| [\d.]+ \|"),
    "dagster_history.py": (["--tiny"], r"\| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|"),
    "history_replay.py": (["--tiny"], r"replay from the folder: [\d.]+ s wall, peak RSS [\d.]+ MiB; \d+ days"),
    "replay_pipeline.py": (["--tiny"], r"through the whole pipeline: success; [\d.]+ s wall, peak RSS [\d.]+ MiB .*"
                                       r"rows: instruments \d+, crypto_ohlcv \d+, funding \d+"),
    "publish.py": (["--years", "0.1", "--repeat", "1"], r"0\.1 y \| +[\d.]+ s \| +[\d.]+ s \| +[\d.]+ s \|"),
    "daily_run.py": (["--tiny"], r"\| tiny \| [\d.]+ s \| [\d.]+ s \| [\d.]+x \| [\d.]+ s \| [\d.]+ s \| [\d.]+x \|"),
    "replay_memory.py": (["--tiny"], r"\| 0\.11 y \(40 days\) \| 3 \(bounded runs\) \| \d+ MiB \|"),
}
TIMEOUT_SECONDS = 300


def test_every_bench_script_has_a_tiny_run():
    scripts = {path.name for path in BENCH.glob("*.py") if path.name != "__init__.py"}
    assert scripts - TINY_RUNS.keys() == set(), "add each new bench/ script to TINY_RUNS with its tiny arguments"
    assert TINY_RUNS.keys() - scripts == set(), "TINY_RUNS names a script that no longer exists"


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(TINY_RUNS))
def test_bench_script_runs_at_a_tiny_size(script, tmp_path):
    arguments, expected = TINY_RUNS[script]
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "WAREHOUSE_DB": str(tmp_path / "warehouse.duckdb")}
    env.pop("MARKET_SETTINGS", None)
    env.pop("MARKET_SOURCE", None)
    done = subprocess.run([sys.executable, str(BENCH / script), *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert re.search(expected, done.stdout), f"{script} printed no figures matching {expected!r}:\n{done.stdout}"
