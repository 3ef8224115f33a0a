import datetime as dt
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# Each test process (one per worker under `make test`) records its runs in its own Dagster home, never in the
# project's .dagster/ and never in another worker's: two processes writing one SQLite event log would wait on each
# other. Tests that need a particular home set their own.
os.environ["DAGSTER_HOME"] = tempfile.mkdtemp(prefix="tests-dagster-home-")

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


@pytest.fixture
def warehouse_path(tmp_path, monkeypatch) -> Path:
    """A fresh DuckDB file for the test, used by every settings load inside it."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("WAREHOUSE_DB", str(path))
    monkeypatch.delenv("MARKET_SETTINGS", raising=False)
    monkeypatch.delenv("MARKET_SOURCE", raising=False)
    return path


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The shared real-data fixtures; a user's clone has none, and then these tests say so and skip."""
    if not REALDATA.is_dir():
        pytest.skip(f"real-data fixtures not found at {REALDATA} (they live beside the repository in CI)")
    return REALDATA


def days(start: str, count: int) -> tuple[dt.date, dt.date]:
    first = dt.date.fromisoformat(start)
    return first, first + dt.timedelta(days=count)


FIGURES_DIR = "TESTS_FIGURES_DIR"


def print_figures(request, line: str) -> None:
    """Write a suite's figures (for the README) into pytest's terminal output, outside the captured output; from a
    worker of `make test`, which has no terminal, in the summary the main process prints at the end."""
    if hasattr(request.config, "workerinput") and os.environ.get(FIGURES_DIR):
        Path(os.environ[FIGURES_DIR], f"{request.node.name}.txt").write_text(line)
        return
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(line)


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the main process: workers started after this inherit the folder
        os.environ[FIGURES_DIR] = tempfile.mkdtemp(prefix="tests-figures-")


def pytest_terminal_summary(terminalreporter):
    folder = os.environ.get(FIGURES_DIR)
    for file in sorted(Path(folder).glob("*.txt")) if folder else []:
        terminalreporter.write_line(file.read_text())


# The files that take longest (the browser and the bench scripts: several minutes each), run first: under
# `make test`'s two workers they then overlap with the rest instead of running alone at the end.
LONGEST_FIRST = ("test_ui_browser.py", "test_bench.py")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: LONGEST_FIRST.index(item.path.name) if item.path.name in LONGEST_FIRST
               else len(LONGEST_FIRST))
