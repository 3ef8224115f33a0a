"""The math is pure polars: importing it brings in no Dagster, no warehouse I/O, no great-expectations."""

import subprocess
import sys


def test_math_modules_import_no_orchestration_or_io():
    modules = ["assets.core.basis", "assets.core.funding", "assets.core.returns", "assets.core.spread",
               "assets.core.correlation", "assets.core.stats", "assets.marts.rules", "assets.marts.evaluation"]
    code = (f"import sys; import {', '.join(modules)}; "
            "print(sorted(m for m in ('dagster', 'duckdb', 'great_expectations') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
