"""The charts on materialisations, `make report`, and the catch-up sensor."""

import base64
import datetime as dt
import re
import struct

import dagster as dg
import pytest

from pipelines.run import materialize_range
from pipelines.settings import load_settings
from pipelines.definitions import build_definitions
from pipelines.report import main as report_main
from pipelines.sensors import missing_days
from warehouse.serving import published_dir

CHARTED = {"core/basis_daily", "core/funding_daily", "core/perp_quarterly_spread", "core/correlation_daily",
           "marts/anomaly_episodes", "marts/basis_trades"}


def svg_size(text: str) -> tuple[float, float]:
    root = re.search(r"<svg[^>]*>", text).group(0)
    return tuple(float(re.search(rf"\b{side}=[\"']([\d.]+)[\"']", root).group(1)) for side in ("width", "height"))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def materialised(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAREHOUSE_DB", str(path))
        patch.delenv("MARKET_SETTINGS", raising=False)
        result = materialize_range(dt.date(2025, 1, 1), dt.date(2025, 4, 30), load_settings(), instance=dg.DagsterInstance.ephemeral())
    assert result.success
    return path, result


@pytest.mark.slow
def test_the_core_and_mart_materialisations_carry_their_chart(materialised):
    _, result = materialised
    charted, events = {}, []
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if "chart" in materialization.metadata:
            charted[materialization.asset_key.to_user_string()] = materialization.metadata["chart"].value
            events.append(materialization)
    assert set(charted) == CHARTED
    # Once per run, on the latest day's event, not copied into each of the 120 partitions' events.
    assert len(events) == len(CHARTED)
    assert all(m.partition in (None, "2025-04-30") for m in events)
    for key, markdown in charted.items():
        encoded = re.fullmatch(r"!\[[^\]]+\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", markdown).group(1)
        width, height = svg_size(base64.b64decode(encoded).decode())
        assert width >= 600 and height >= 300, key


@pytest.mark.slow
def test_make_report_writes_every_chart_non_empty(materialised, tmp_path, capsys):
    path, _ = materialised
    out = tmp_path / "report.html"
    assert report_main(["--database", str(published_dir(path) / "warehouse.duckdb"), "--out", str(out)]) == 0
    page = out.read_text()
    images = dict(re.findall(r"<img data-chart='(\w+)' alt='[^']*' src='data:image/png;base64,([A-Za-z0-9+/=]+)'>", page))
    assert set(images) == {"premium_vs_basis", "funding_apr", "term_structure", "correlations", "episodes"}
    for key, encoded in images.items():
        data = base64.b64decode(encoded)
        width, height = png_size(data)
        assert len(data) > 20_000 and width >= 600 and height >= 300, key
    assert "No rows to draw" not in page
    assert page.count("<tr") == 4  # Table 1: a header and three pairs
    assert "wrote" in capsys.readouterr().out


def test_the_report_says_so_when_nothing_is_published(tmp_path, capsys):
    assert report_main(["--database", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "r.html")]) == 2
    assert "run `make demo`" in capsys.readouterr().err


@pytest.mark.parametrize("last, today, expected", [
    (dt.date(2025, 5, 10), dt.date(2025, 5, 11), None),  # yesterday stored
    (dt.date(2025, 5, 9), dt.date(2025, 5, 11), None),  # only yesterday missing: the schedule's job
    (dt.date(2025, 5, 6), dt.date(2025, 5, 11), (dt.date(2025, 5, 7), dt.date(2025, 5, 10))),
    (None, dt.date(2025, 5, 11), None),  # nothing stored: a first backfill is a person's decision
])
def test_missing_days(last, today, expected):
    assert missing_days(last, today) == expected


def test_the_sensor_asks_for_every_missed_day_in_one_run_from_dagsters_partition_status(tmp_path, monkeypatch):
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("WAREHOUSE_DB", str(path))
    monkeypatch.delenv("MARKET_SETTINGS", raising=False)
    definitions = build_definitions(load_settings())
    missed_days_sensor = definitions.resolve_sensor_def("missed_days_sensor")
    assert missed_days_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert definitions.resolve_schedule_def("daily_market_schedule").default_status == dg.DefaultScheduleStatus.RUNNING
    instance = dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(instance=instance)
    assert "nothing materialised yet" in missed_days_sensor(context).skip_message
    today = dt.datetime.now(dt.timezone.utc).date()
    assert materialize_range(today - dt.timedelta(days=9), today - dt.timedelta(days=6), load_settings(),
                             instance=instance).success
    request = missed_days_sensor(context)
    first, last = today - dt.timedelta(days=5), today - dt.timedelta(days=1)
    assert request.run_key == f"catch-up {first}..{last}"
    assert request.tags == {"dagster/asset_partition_range_start": first.isoformat(),
                            "dagster/asset_partition_range_end": last.isoformat()}
    assert materialize_range(first, last, load_settings(), instance=instance).success
    assert "up to date" in missed_days_sensor(context).skip_message
