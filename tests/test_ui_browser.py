"""The Dagster UI as a person uses it, in a real browser (Debian's chromium driven by Playwright).

`dagster dev` (webserver and daemon) serves the project's workspace on 127.0.0.1 from a fresh
DAGSTER_HOME. The test opens the asset graph, finds the three groups, launches "Materialize all" for a
short range on the sample market, waits for the backfill to finish, and reads the anomaly status asset's
page. Screenshots are kept in `artifacts/` (asset-graph.png, anomaly-status.png).
"""

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import polars as pl
import pytest
from playwright import sync_api as playwright

from pipelines.definitions import build_definitions
from pipelines.home import prepare_dagster_home
from pipelines.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()), None)
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]

def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def wait_for(what: str, check, timeout: float, every: float = 1.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@contextlib.contextmanager
def serving(module: list[str], env: dict, log_path: Path):
    """`python -m <module> -w workspace.yaml` on a free port of 127.0.0.1, in its own process group (so a
    daemon it starts stops with it); yields the URL once the code location has loaded."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(log_path, "w")
    process = subprocess.Popen([sys.executable, "-m", *module, "-w", "workspace.yaml", "-h", "127.0.0.1",
                                "-p", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the code location to load", lambda: any(
            e["loadStatus"] == "LOADED" for e in graphql(url, "{ workspaceOrError { ... on Workspace { "
                                                              "locationEntries { loadStatus } } } }")
            ["workspaceOrError"]["locationEntries"]), timeout=120)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.fixture
def dagster_ui(tmp_path):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make test installs it when run as root; "
                    "otherwise: sudo apt-get install chromium)")
    # The project's own instance settings (one run at a time, as under `make ui`); the first-visit pop-up,
    # which would block clicks, marked as seen.
    home = prepare_dagster_home(tmp_path / "dagster_home")
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "TMPDIR": str(tmp_path / "tmp"),
           "WAREHOUSE_DB": str(tmp_path / "warehouse.duckdb"), "GX_ANALYTICS_ENABLED": "false"}
    env.pop("MARKET_SETTINGS", None)
    env.pop("MARKET_SOURCE", None)
    # `dagster dev`: the webserver and the daemon that runs backfills.
    with serving(["dagster", "dev"], env, tmp_path / "dagster-dev.log") as url:
        yield url


@pytest.mark.slow
def test_a_person_materialises_the_whole_graph_from_the_ui(dagster_ui, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    today = dt.datetime.now(dt.timezone.utc).date()
    first, last = today - dt.timedelta(days=12), today - dt.timedelta(days=3)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        page.goto(f"{dagster_ui}/asset-groups", wait_until="networkidle")
        wait_for("the raw, core and marts groups", lambda: all(
            page.get_by_text(group, exact=True).first.is_visible() for group in ("raw", "core", "marts")), timeout=30)
        time.sleep(1)  # let the graph settle before the screenshot
        page.screenshot(path=str(ARTIFACTS / "asset-graph.png"))

        page.get_by_role("button", name=re.compile(r"Materialize all…$")).click()
        dialog = page.get_by_role("dialog")
        assets = len(list(build_definitions(Settings()).resolve_all_asset_keys()))
        assert f"materialize {assets} assets" in dialog.inner_text()
        partitions = dialog.get_by_placeholder("No matching partitions")
        partitions.fill(f"[{first}...{last}]")
        partitions.press("Enter")
        wait_for("10 partitions selected", lambda: "10 partitions" in dialog.inner_text(), timeout=10)
        with page.expect_response(lambda r: "LaunchPartitionBackfill" in r.url) as response:
            dialog.get_by_role("button", name=re.compile(r"Launch backfill$")).click()
        backfill = response.value.json()["data"]["launchPartitionBackfill"]["backfillId"]

        query = "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status " \
                "runs(limit: 10) { status tags { key value } } } } }"
        done = wait_for("the backfill to finish", lambda: (lambda b: b if b["status"] not in ("REQUESTED",) else None)(
            graphql(dagster_ui, query, {"id": backfill})["partitionBackfillOrError"]), timeout=600, every=3)
        assert done["status"] == "COMPLETED_SUCCESS", done
        # Ranges, not days: each partitioned run covers the whole range of its layer (a layer whose days read
        # earlier days runs after the one it reads; the later days whose windows read the range are rebuilt too).
        tags = [{t["key"]: t["value"] for t in r["tags"]} for r in done["runs"]]
        ranged = [t for t in tags if "dagster/asset_partition_range_start" in t]
        assert ranged and len(done["runs"]) <= 6, tags
        assert all(t["dagster/asset_partition_range_start"] == str(first) for t in ranged), tags
        latest = max(dt.date.fromisoformat(t["dagster/asset_partition_range_end"]) for t in ranged)
        assert last <= latest < today

        page.goto(f"{dagster_ui}/assets/marts/anomaly_status", wait_until="networkidle")
        body = page.locator("body")
        wait_for("the anomaly status metadata", lambda: "active_pairs" in body.inner_text(), timeout=30)
        text = body.inner_text()
        # The page shows the Table 1 day the run stored (published for BI tools).
        with duckdb.connect(str(tmp_path / "published" / "warehouse.duckdb"), read_only=True) as con:
            as_of = con.execute("SELECT max(as_of) FROM marts.anomaly_status").fetchone()[0]
        assert last <= as_of <= latest
        covered = text[text.find("as_of_covered"):][:80]
        assert f"{as_of} to {as_of}" in covered, covered  # Table 1 is for the latest complete day
        # Its automation: the daily job, and the sensors that launch it (catch-up, hole retries).
        defs = build_definitions(Settings())
        sensors = [sensor for sensor in defs.sensors if sensor.has_jobs and sensor.job_name == "daily_market_job"]
        assert "daily_market_job" in text and f"{len(sensors)} sensors" in text
        page.screenshot(path=str(ARTIFACTS / "anomaly-status.png"), full_page=True)
        browser.close()


CRASH_CODES = ("CRYPTO_SPECIFIC_SHOCK", "FLIGHT_TO_SAFETY", "RISK_ASSET_CO_CRASH", "BROAD_LIQUIDATION")


@pytest.fixture
def demo_ui(tmp_path):
    """`make demo` into a fresh Dagster home, then the webserver on it (no daemon: nothing is launched)."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make test installs it when run as root; "
                    "otherwise: sudo apt-get install chromium)")
    home = tmp_path / "dagster_home"
    env = {**os.environ, "DAGSTER_HOME": str(home), "TMPDIR": str(tmp_path), "GX_ANALYTICS_ENABLED": "false",
           "WAREHOUSE_DB": str(tmp_path / "data" / "warehouse.duckdb")}
    env.pop("MARKET_SETTINGS", None)
    env.pop("MARKET_SOURCE", None)
    demo = subprocess.run([sys.executable, "-m", "pipelines.cli", "demo"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    with serving(["dagster_webserver"], env, tmp_path / "webserver.log") as url:
        yield url, demo.stdout


@pytest.mark.slow
def test_the_demo_shows_its_episodes_chart_without_a_click_and_shades_every_scripted_crash(demo_ui):

    from assets.raw.sources.sample import SampleMarket

    url, printed = demo_ui
    displayed = dt.date.fromisoformat(re.search(r"displayed (\d{4}-\d\d-\d\d) to", printed).group(1))
    end = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1400})
        page.goto(f"{url}/assets/marts/anomaly_episodes", wait_until="networkidle")
        chart = page.locator("img[alt='anomaly episodes on BTC']").first
        # No click: the chart is on the asset's overview as it opens.
        wait_for("the episodes chart to show", lambda: chart.is_visible() and chart.evaluate(
            "img => img.complete && img.naturalWidth") >= 600, timeout=60)
        assert "missing" not in page.locator("body").inner_text().lower().split("partitions")[0][-40:]
        page.screenshot(path=str(ARTIFACTS / "anomaly-episodes.png"), full_page=True)
        source = chart.get_attribute("src")
        shown = page.request.get(url + source[: -len("/svg")] + "/json").json()  # the chart's rows
        browser.close()
    bands = pl.DataFrame([row for row in shown["datasets"]["bands"] if "code" in row])
    bands = bands.with_columns(pl.col("start", "end").str.slice(0, 10).str.to_date())
    truth = SampleMarket().ground_truth().filter(
        (pl.col("kind") == "anomaly") & pl.col("code").is_in(CRASH_CODES) & (pl.col("start") >= displayed)
        & (pl.col("end") <= end))
    assert truth.height >= 2, "the demo year holds scripted crashes"
    for crash in truth.iter_rows(named=True):
        shaded = bands.filter((pl.col("code") == crash["code"]) & (pl.col("start") <= crash["end"])
                              & (pl.col("end") >= crash["start"]))
        assert shaded.height, f"{crash['code']} of {crash['start']} is not shaded on the episodes chart"
