import datetime as dt

import pytest

from pipelines.settings import Settings, SettingsError, check_date_range, check_writable, load_settings


def test_defaults_follow_the_domain_reference():
    s = Settings()
    assert s.source == "sample" and s.venues == ("sample_a", "sample_b")
    assert (s.correlation.short_window, s.correlation.baseline_window, s.correlation.min_fraction) == (30, 180, 0.8)
    assert (s.anomaly.crash_z, s.anomaly.nasdaq_fall_z, s.anomaly.return_horizon) == (-2.0, -1.5, 5)
    assert s.basis.min_dte_for_annualised == 3.0 and s.backtest.default_costs.fee_bp == 5.0
    assert s.traditional_series()["gold"] == "GC=F"


def test_yaml_file_and_environment_override_defaults(tmp_path, monkeypatch):
    file = tmp_path / "settings.yaml"
    file.write_text("anomaly:\n  crash_z: -2.5\ncorrelation:\n  short_window: 20\n")
    monkeypatch.setenv("MARKET_SETTINGS", str(file))
    monkeypatch.setenv("WAREHOUSE_DB", str(tmp_path / "x.duckdb"))
    s = load_settings()
    assert s.anomaly.crash_z == -2.5 and s.correlation.short_window == 20
    assert s.warehouse_path == str(tmp_path / "x.duckdb")


def test_unknown_venue_says_what_to_choose(monkeypatch):
    monkeypatch.delenv("MARKET_SETTINGS", raising=False)
    with pytest.raises(SettingsError, match=r"unknown venue\(s\) \['kraken'\] for source 'live'; choose from \['binance'"):
        load_settings(source="live", universe={"venues": ["kraken"]})


def test_unknown_setting_is_named(tmp_path, monkeypatch):
    file = tmp_path / "s.yaml"
    file.write_text("anomaly:\n  crash_zz: -2\n")
    with pytest.raises(SettingsError, match=r"anomaly\.crash_zz"):
        load_settings(file)


def test_start_after_end():
    with pytest.raises(SettingsError, match="start 2025-02-01 is after end 2025-01-01; swap them"):
        check_date_range(dt.date(2025, 2, 1), dt.date(2025, 1, 1), dt.date(2019, 1, 1))


def test_unwritable_database_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SettingsError, match="cannot create folder .*set WAREHOUSE_DB"):
        check_writable(str(blocker / "sub" / "w.duckdb"))  # a file stands where a folder must be
    with pytest.raises(SettingsError, match="is a folder"):
        check_writable(str(tmp_path))
