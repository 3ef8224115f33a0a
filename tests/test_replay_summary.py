"""A replay's closing summary covers the whole range, also when the range runs as several runs (each run has
its own routed source), and every source goes by the one name the settings' routes use."""

import datetime as dt
import typing

import dagster as dg
import pytest

from assets.raw.sources.binance_archive import BinanceArchiveSource
from assets.raw.sources.routed import Route, RoutedCryptoSource, RoutedTally
from assets.resources import LiveMarketResource
from pipelines.replay import replay
from pipelines.settings import HistoryRoute, Settings, load_settings
from test_history_sources import ROLL, TODAY, archive, book  # noqa: F401 - fixtures
from test_replay_pipeline import END, START, served  # noqa: F401 - fixtures

SWITCH = dt.date(2023, 7, 1)


def routed_over(root, start: dt.date, end: dt.date) -> RoutedCryptoSource:
    """A fresh routed source (as each run builds one) with the archive before SWITCH and after it."""
    before = BinanceArchiveSource(str(root), today=TODAY)
    after = BinanceArchiveSource(str(root), today=TODAY, margins=("um",))
    routed = RoutedCryptoSource([Route(before, end=SWITCH), Route(after, start=SWITCH)])
    for method in ("instruments", "crypto_bars", "funding"):
        getattr(routed, method)(start, end)
    return routed


def counts(line: str) -> str:
    """A summary line without its counters of files read (a month split between two runs is read by both)."""
    return line.split("; ")[0]


def test_tally_of_runs_over_parts_of_a_range_equals_one_source_over_the_whole_range(archive):
    root, _ = archive
    middle = dt.date(2023, 6, 26)  # the first route's days fall in two runs, the second route's in one
    whole = routed_over(root, *ROLL)
    tally = RoutedTally()
    runs = [routed_over(root, ROLL[0], middle), routed_over(root, middle, ROLL[1])]
    for run in runs:
        tally.add(run)

    assert [counts(line) for line in tally.summary()] == [counts(line) for line in whole.summary()]
    assert tally.summary()[0].startswith(f"binance_archive: {(SWITCH - ROLL[0]).days} days (2023-06-20 to 2023-06-30)")
    assert tally.summary()[1].startswith(f"binance_archive: {(ROLL[1] - SWITCH).days} days (2023-07-01 to 2023-07-11)")
    # The counters are the runs' own, added up: each run read its files itself.
    read = sum(run.routes[0].source.stats.files_read for run in runs)
    assert f"{read} files read" in tally.summary()[0]
    assert read > whole.routes[0].source.stats.files_read
    assert sorted(tally.missing_files()) == sorted(set(whole.missing_files()))


def test_a_tally_without_runs_says_nothing():
    assert RoutedTally().summary() == [] and RoutedTally().missing_files() == []


def test_every_source_goes_by_the_name_its_settings_route_uses(archive, tmp_path):
    root, _ = archive
    names = typing.get_args(typing.get_args(HistoryRoute.model_fields["sources"].annotation)[0])
    assert {"binance_archive", "binance_rest", "deribit_rest", "live", "sample"} <= set(names)
    settings = Settings(source="live", warehouse_path=str(tmp_path / "warehouse.duckdb"), history={
        "binance_archive": str(root), "archive_cache_dir": str(tmp_path / "cache"),
        "routes": [{"sources": ["binance_archive", "deribit_rest"], "end": "2023-07-01"},
                   {"sources": ["binance_rest"], "start": "2023-07-01", "end": "2023-08-01"},
                   {"sources": ["live"], "start": "2023-08-01", "end": "2023-09-01"},
                   {"sources": ["sample"], "start": "2023-09-01"}]})
    resource = LiveMarketResource.from_settings(settings)
    for name in names:
        assert resource._named_source(name).name == name
    # What progress lines and the closing summary call each route: the settings' names joined by "+".
    routed = resource.crypto()
    shown = [summary.source for summary in routed.summaries]
    assert shown == ["+".join(route.sources) for route in settings.history.routes]


@pytest.mark.slow
def test_the_closing_summary_of_a_range_run_in_several_runs_covers_the_whole_range(served, warehouse_path, tmp_path):
    _, _, servers = served
    settings = load_settings(source="live", warehouse_path=str(warehouse_path), runs={"max_days_per_run": 8},
                             universe={"venues": ["binance", "deribit"]},
                             live={"endpoints": {"binance": servers["binance"].url, "deribit": servers["deribit"].url,
                                                 "yahoo": servers["yahoo"].url}, "max_retries": 1, "backoff_seconds": 0.0},
                             history={"binance_archive": servers["archive"].url,
                                      "archive_cache_dir": str(tmp_path / "archive-cache"),
                                      "routes": [{"sources": ["binance_archive", "deribit_rest"], "end": SWITCH},
                                                 {"sources": ["binance_rest", "deribit_rest"], "start": SWITCH}]})
    lines: list[str] = []
    instance = dg.DagsterInstance.ephemeral()
    assert replay(START, END, settings, instance=instance, out=lambda text: lines.extend(text.splitlines())).success
    # 22 days in runs of at most 8: 20-27 June, 28 June-5 July, 6-11 July; each route's days fall in two runs.
    assert len(instance.get_runs()) == 3
    assert lines[0].startswith(f"Replaying {START} to {END} (22 days, 3 runs of at most 8 days) on routes:")
    summary = lines[lines.index("What came from where:") + 1:]
    assert summary[0].startswith("  binance_archive+deribit_rest: 11 days (2023-06-20 to 2023-06-30)")
    assert summary[1].startswith("  binance_rest+deribit_rest: 11 days (2023-07-01 to 2023-07-11)")
    assert any(line.startswith("Still missing in the stored raw tables: ") for line in summary)
    assert any(line.startswith("Anomaly episodes by code: ") for line in summary)
