"""Alerts: what is announced, once, to a webhook on 127.0.0.1 and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import socket
import ssl
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer

import polars as pl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from assets.marts.alerts import FAILED, SENT, SUPPRESSED, payload, pending_alerts
from assets.marts.notify import send
from pipelines.settings import Settings, SettingsError, load_settings
from tests.local_http import LocalServer
from tests.local_http import send as respond
from warehouse.db import Warehouse
from warehouse.schemas import MARTS_ALERT_LOG, MARTS_ANOMALY_EPISODES, MARTS_ANOMALY_STATUS

TODAY = dt.date(2026, 3, 10)
YESTERDAY = TODAY - dt.timedelta(days=1)


# ------------------------------------------------------------------------------------------- receivers
class Receiver(LocalServer):
    """A webhook endpoint that keeps every request and answers with `status`."""

    def __init__(self, status: int = 200):
        self.status = status
        self.requests: list[dict] = []

    def _handle(self, request):
        body = request.rfile.read(int(request.headers.get("Content-Length", 0)))
        self.requests.append({"path": request.path, "body": json.loads(body),
                              "content_type": request.headers.get("Content-Type")})
        respond(request, self.status, '{"ok": true}' if self.status < 300 else '{"error": "unavailable"}')

    def restart(self) -> None:
        """Serve again on the address it had before `stop()`, as a receiver back from an outage does."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self._server.server_port), self._server.RequestHandlerClass)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()


def free_port() -> int:
    # aiosmtpd's controller needs its port up front (port 0 breaks its start-up probe).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope)
        return "250 OK"

    def __init__(self):
        self.messages = []
        self.logins: list[tuple[bytes, bytes]] = []

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == SMTP_PASSWORD.encode())


SMTP_USER = "alerts@example.org"
SMTP_PASSWORD = "pw-9f2c1e"
HOOK_TOKEN = "T000/B000/tok3n5ecret"


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


def self_signed_certificate(folder) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_mailbox(tmp_path):
    """An SMTP server that requires STARTTLS and a login, with a certificate the test signs itself."""
    cert_file, key_file = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True,
                            authenticator=box.authenticate, auth_require_tls=True)
    controller.start()
    box.port, box.ca_file = controller.port, cert_file
    yield box
    controller.stop()


# ---------------------------------------------------------------------------------------------- frames
def episode(code="CRYPTO_SPECIFIC_SHOCK", subject="BTC", start=TODAY - dt.timedelta(days=3), end=YESTERDAY,
            open_=True, peak_severity=3.4) -> dict:
    return dict(code=code, kind="anomaly", subject=subject, calendar="traditional", start=start,
                peak_date=start + dt.timedelta(days=1), end=end, days=(end - start).days + 1,
                peak_severity=peak_severity, open=open_,
                implication="Crypto-specific systemic risk: BTC falls while stocks hold and gold does not fall.")


def episodes(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=MARTS_ANOMALY_EPISODES.polars_schema)


def status(day: dt.date, active: dict[int, tuple[str, dt.date, float]] | None = None) -> pl.DataFrame:
    """Table 1 on `day`; `active` maps a row to (codes, active since, severity)."""
    active = active or {}
    specs = [(1, "BTC perpetual vs BTC quarterly", "btc_perp~btc_quarterly",
              "PERP_QUARTERLY_DIVERGENCE, LIQUIDATION_DISLOCATION"),
             (2, "BTC vs gold", "btc~gold",
              "CRYPTO_SPECIFIC_SHOCK, FLIGHT_TO_SAFETY, RISK_ASSET_CO_CRASH, BROAD_LIQUIDATION"),
             (3, "BTC vs Nasdaq", "btc~nasdaq", "CAPITAL_ROTATION")]
    rows = []
    for row, asset_pair, pair, watched in specs:
        codes, since, severity = active.get(row, (None, None, None))
        rows.append(dict(row=row, asset_pair=asset_pair, pair=pair, as_of=day, typical_correlation=0.12,
                         typical_label="weak", current_correlation=-0.41, current_label="negative",
                         condition="Sudden liquidity event: BTC crashes while gold rises", watched_codes=watched,
                         active=row in active, active_codes=codes, active_since=since, severity=severity,
                         implication="Crypto-specific systemic risk.", quality_status="passed"))
    return pl.DataFrame(rows, schema=MARTS_ANOMALY_STATUS.polars_schema)


QUIET = status(YESTERDAY)
NO_EPISODES = episodes()


def settings_for(webhooks=(), emails=(), **alerts) -> Settings:
    return Settings(alerts={"webhooks": list(webhooks), "emails": list(emails), **alerts})


def webhook(receiver, style="json", **extra) -> dict:
    return {"name": f"hook-{style}", "url": receiver.url + "/alerts", "style": style, **extra}


def email(mailbox, **extra) -> dict:
    return {"name": "desk-mail", "host": "127.0.0.1", "port": mailbox.port, "sender": "warehouse@example.org",
            "to": ["desk@example.org"], "starttls": False, **extra}


class AlertRun:
    """What the marts asset does each run: read the log, decide, send, append to the log in the warehouse."""

    def __init__(self, tmp_path, settings, environ=None):
        self.warehouse = Warehouse(tmp_path / "warehouse.duckdb")
        self.settings, self.environ = settings, environ or {}

    def __call__(self, episodes_frame, status_frame, today=TODAY) -> pl.DataFrame:
        log = self.warehouse.read_window(MARTS_ALERT_LOG)
        due = pending_alerts(episodes_frame, status_frame, log, today, self.settings)
        written = send(due, self.settings, self.environ)
        self.warehouse.replace_all(MARTS_ALERT_LOG, pl.concat([log, written]), "alerts")
        return written

    @property
    def log(self) -> pl.DataFrame:
        return self.warehouse.read_window(MARTS_ALERT_LOG)


# ----------------------------------------------------------------------------------------------- tests
def test_an_opened_episode_is_sent_once_to_the_webhook_and_by_email(tmp_path, receiver, mailbox):
    run = AlertRun(tmp_path, settings_for([webhook(receiver)], [email(mailbox)]))
    opened = episodes(episode())

    written = run(opened, QUIET)

    assert written.select("channel", "event", "status", "attempt").sort("channel").rows() == [
        ("desk-mail", "episode_opened", SENT, 1), ("hook-json", "episode_opened", SENT, 1)]
    [request] = receiver.requests
    assert request["path"] == "/alerts" and request["content_type"] == "application/json"
    body = request["body"]
    assert body["event"] == "episode_opened"
    assert body["title"] == f"Anomaly CRYPTO_SPECIFIC_SHOCK on BTC since {TODAY - dt.timedelta(days=3)}"
    evidence = body["evidence"]
    assert (evidence["code"], evidence["subject"], evidence["start"], evidence["peak_severity"]) == (
        "CRYPTO_SPECIFIC_SHOCK", "BTC", str(TODAY - dt.timedelta(days=3)), 3.4)
    assert evidence["implication"].startswith("Crypto-specific systemic risk")
    # The Table 1 row that watches the code, with its correlations.
    assert evidence["table_1"]["asset_pair"] == "BTC vs gold"
    assert (evidence["table_1"]["typical_correlation"], evidence["table_1"]["current_correlation"]) == (0.12, -0.41)

    [mail] = mailbox.messages
    assert mail.mail_from == "warehouse@example.org" and mail.rcpt_tos == ["desk@example.org"]
    text = mail.content.decode()
    assert f"Subject: Anomaly CRYPTO_SPECIFIC_SHOCK on BTC since {TODAY - dt.timedelta(days=3)}" in text
    assert "Peak severity: 3.40" in text and "typical 0.12 (weak), current -0.41 (negative)" in text

    # A rerun the same day, and the next day with the episode one day longer: nothing again.
    assert run(opened, QUIET).height == 0
    longer = episodes(episode(end=TODAY))
    assert run(longer, status(TODAY), today=TODAY + dt.timedelta(days=1)).height == 0
    assert len(receiver.requests) == 1 and len(mailbox.messages) == 1
    assert run.log.height == 2


def test_table_1_turning_active_then_quiet_sends_two_slack_messages(tmp_path, receiver):
    run = AlertRun(tmp_path, settings_for([webhook(receiver, style="slack")]))
    day1, day2, day3 = (TODAY + dt.timedelta(days=i) for i in range(3))
    active = {2: ("CRYPTO_SPECIFIC_SHOCK", day1, 2.7)}

    assert run(NO_EPISODES, QUIET, today=day1).height == 0  # quiet from the start: nothing to tell
    assert run(NO_EPISODES, status(day1, active), today=day1 + dt.timedelta(days=1))["event"].to_list() == [
        "status_active"]
    assert run(NO_EPISODES, status(day1, active), today=day1 + dt.timedelta(days=1)).height == 0  # rerun
    assert run(NO_EPISODES, status(day2, active), today=day2 + dt.timedelta(days=1)).height == 0  # still active
    assert run(NO_EPISODES, status(day3), today=day3 + dt.timedelta(days=1))["event"].to_list() == ["status_quiet"]
    assert run(NO_EPISODES, status(day3), today=day3 + dt.timedelta(days=1)).height == 0

    assert [list(r["body"]) for r in receiver.requests] == [["text"], ["text"]]
    active_text, quiet_text = (r["body"]["text"] for r in receiver.requests)
    assert active_text.startswith(f"Table 1 row 2 active: BTC vs gold (CRYPTO_SPECIFIC_SHOCK) since {day1}")
    assert "Severity: 2.70" in active_text and "typical 0.12 (weak), current -0.41 (negative)" in active_text
    assert quiet_text.startswith(f"Table 1 row 2 quiet: BTC vs gold as of {day3}")
    assert f"Was active with CRYPTO_SPECIFIC_SHOCK since {day1}" in quiet_text


def test_a_backfill_of_old_days_is_recorded_as_suppressed_and_sends_nothing(tmp_path, receiver, mailbox):
    run = AlertRun(tmp_path, settings_for([webhook(receiver)], [email(mailbox)], recent_days=2))
    old = episodes(episode(start=dt.date(2021, 5, 17), end=dt.date(2021, 5, 21), open_=False),
                   episode(code="CAPITAL_ROTATION", start=dt.date(2022, 6, 10), end=dt.date(2022, 6, 10), open_=False))
    old_table_1 = status(dt.date(2022, 6, 10), {3: ("CAPITAL_ROTATION", dt.date(2022, 6, 10), 2.2)})

    written = run(old, old_table_1)

    assert written.height == 3 * 2  # two episodes and one Table 1 change, each for both channels
    assert set(written["status"]) == {SUPPRESSED}
    assert receiver.requests == [] and mailbox.messages == []
    assert run(old, old_table_1).height == 0
    # A recent episode beside the old ones is sent; only it.
    recent = episodes(*old.to_dicts(), episode(start=TODAY - dt.timedelta(days=2), end=TODAY - dt.timedelta(days=2)))
    assert run(recent, QUIET)["status"].to_list() == [SENT, SENT]
    assert len(receiver.requests) == 1 and len(mailbox.messages) == 1


def test_an_episode_a_backfill_extends_or_merges_is_not_announced_again(tmp_path, receiver):
    run = AlertRun(tmp_path, settings_for([webhook(receiver)]))
    start = TODAY - dt.timedelta(days=3)
    run(episodes(episode(start=start)), QUIET)
    # Backfilled earlier days now show the episode began two days sooner and absorbed an older one.
    extended = episodes(episode(start=start - dt.timedelta(days=2)))
    assert run(extended, QUIET).height == 0
    # A different subject, or a later episode of the same code, is new.
    later = episodes(*extended.to_dicts(), episode(subject="btc~gold", code="CORRELATION_BREAK"),
                     episode(start=TODAY, end=TODAY))
    assert run(later, QUIET)["alert_key"].to_list() == [
        f"episode_opened|CORRELATION_BREAK|btc~gold|{start}", f"episode_opened|CRYPTO_SPECIFIC_SHOCK|BTC|{TODAY}"]
    assert len(receiver.requests) == 3


def test_context_episodes_are_not_announced(tmp_path, receiver):
    run = AlertRun(tmp_path, settings_for([webhook(receiver)]))
    context = episodes({**episode(code="FUNDING_PRESSURE", subject="sample_a:BTC/USDT:USDT"), "kind": "context"})
    assert run(context, QUIET).height == 0 and receiver.requests == []


def test_a_receiver_that_is_down_is_recorded_and_retried_on_the_next_run(tmp_path, receiver, mailbox):
    run = AlertRun(tmp_path, settings_for([webhook(receiver)], [email(mailbox)]))
    opened = episodes(episode())
    receiver.stop()

    first = run(opened, QUIET)  # send() returned: a receiver that is down never fails the run

    hook = first.filter(pl.col("channel") == "hook-json")
    assert hook.select("status", "attempt").row(0) == (FAILED, 1)
    assert hook["error"].item().startswith("ConnectionError: ")
    assert first.filter(pl.col("channel") == "desk-mail")["status"].item() == SENT

    receiver.restart()
    second = run(opened, QUIET)

    # Only the failed channel is tried again, and once it got through, nothing is left to send.
    assert second.select("channel", "status", "attempt").rows() == [("hook-json", SENT, 2)]
    assert len(receiver.requests) == 1 and len(mailbox.messages) == 1
    assert run(opened, QUIET).height == 0


def test_failed_sends_are_retried_a_bounded_number_of_times(tmp_path):
    refusing = Receiver(status=503).start()
    try:
        run = AlertRun(tmp_path, settings_for([webhook(refusing)], max_attempts=3))
        opened = episodes(episode())
        attempts = [run(opened, QUIET) for _ in range(4)]
    finally:
        refusing.stop()
    assert [a.select("status", "attempt").rows() for a in attempts] == [
        [(FAILED, 1)], [(FAILED, 2)], [(FAILED, 3)], []]
    assert attempts[0]["error"].item().startswith("DeliveryError: receiver answered HTTP 503")
    assert len(refusing.requests) == 3


def test_secrets_stay_out_of_logs_and_log_rows(tmp_path, receiver, tls_mailbox, caplog):
    caplog.set_level(logging.DEBUG, logger="assets.marts.notify")
    caplog.set_level(logging.INFO)
    secret_url = f"{receiver.url}/hooks/{HOOK_TOKEN}"
    environ = {"DESK_HOOK_URL": secret_url, "SMTP_USER": SMTP_USER, "SMTP_PASSWORD": SMTP_PASSWORD}
    settings = settings_for(
        [{"name": "desk-slack", "url_env": "DESK_HOOK_URL", "style": "slack"}],
        [email(tls_mailbox, starttls=True, ca_file=tls_mailbox.ca_file, user_env="SMTP_USER",
               password_env="SMTP_PASSWORD")],
    )
    run = AlertRun(tmp_path, settings, environ)

    sent = run(episodes(episode()), QUIET)
    # Down: the secret address now refuses connections, and its error must not quote it.
    receiver.stop()
    failed = run(episodes(episode(start=TODAY, end=TODAY)), QUIET)

    # The secrets were used: the message went over STARTTLS with the login, to the secret path.
    assert sent["status"].to_list() == [SENT, SENT]
    assert tls_mailbox.logins == [(SMTP_USER.encode(), SMTP_PASSWORD.encode())] * 2
    assert [r["path"] for r in receiver.requests] == [f"/hooks/{HOOK_TOKEN}"]
    assert failed.filter(pl.col("channel") == "desk-slack")["status"].item() == FAILED
    stored = run.log.with_columns(pl.all().cast(pl.Utf8)).rows()
    for secret in (HOOK_TOKEN, secret_url, SMTP_USER, SMTP_PASSWORD):
        assert secret not in caplog.text
        assert not any(secret in (value or "") for row in stored for value in row), secret
    assert "<redacted>" in failed.filter(pl.col("channel") == "desk-slack")["error"].item()


def test_a_missing_environment_variable_is_a_recorded_failure_naming_it(tmp_path):
    run = AlertRun(tmp_path, settings_for([{"name": "desk-slack", "url_env": "DESK_HOOK_URL", "style": "slack"}]))
    [row] = run(episodes(episode()), QUIET).rows(named=True)
    assert (row["status"], row["error"]) == (
        FAILED, "DeliveryError: environment variable DESK_HOOK_URL (channel desk-slack) is not set")


def test_without_channels_nothing_is_pending_or_logged():
    log = pl.DataFrame(schema=MARTS_ALERT_LOG.polars_schema)
    table_1 = status(YESTERDAY, {2: ("CRYPTO_SPECIFIC_SHOCK", YESTERDAY, 2.7)})
    assert pending_alerts(episodes(episode()), table_1, log, TODAY, Settings()).height == 0


def test_payload_styles():
    log = pl.DataFrame(schema=MARTS_ALERT_LOG.polars_schema)
    settings = settings_for([{"name": "h", "url": "http://127.0.0.1:9/x"}])
    [alert] = pending_alerts(episodes(episode()), QUIET, log, TODAY, settings).to_dicts()
    assert set(payload(alert, "json")) == {"event", "alert_key", "title", "evidence"}
    assert list(payload(alert, "slack")) == ["text"]
    with pytest.raises(ValueError, match="unknown webhook style 'teams'"):
        payload(alert, "teams")


def test_alert_settings_from_yaml(tmp_path):
    file = tmp_path / "settings.yaml"
    file.write_text(
        "alerts:\n"
        "  recent_days: 2\n"
        "  webhooks:\n"
        "    - {name: desk-slack, url_env: DESK_SLACK_WEBHOOK, style: slack}\n"
        "  emails:\n"
        "    - {name: desk-mail, host: smtp.example.org, port: 587, sender: warehouse@example.org,\n"
        "       to: [desk@example.org], user_env: SMTP_USER, password_env: SMTP_PASSWORD}\n"
    )
    alerts = load_settings(file).alerts
    assert [c.name for c in alerts.channels] == ["desk-slack", "desk-mail"]
    assert alerts.emails[0].starttls and alerts.recent_days == 2 and alerts.max_attempts == 3
    file.write_text("alerts:\n  webhooks:\n    - {name: a, url: 'http://x', url_env: A}\n")
    with pytest.raises(SettingsError, match="give exactly one of url and url_env"):
        load_settings(file)
    file.write_text("alerts:\n  emails:\n    - {name: m, host: h, sender: a@b, to: [c@d], user_env: U}\n")
    with pytest.raises(SettingsError, match="give both user_env and password_env"):
        load_settings(file)


def test_alert_modules_import_no_orchestration_or_warehouse_io():
    code = ("import sys; import assets.marts.alerts, assets.marts.notify; "
            "print(sorted(m for m in ('dagster', 'duckdb', 'great_expectations') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
