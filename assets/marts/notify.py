"""Delivery of the alerts `alerts.pending_alerts` chose: webhooks over HTTP, email over SMTP.

`send` never raises for a delivery problem: each attempt becomes one row of marts.alert_log (sent, failed
with its error, or suppressed), so a receiver that is down never fails the data run and the next run
retries. Webhook addresses and SMTP logins come from the environment (variables named in the settings);
they are kept out of log messages and of the error text stored in the log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from urllib.parse import urlsplit

import polars as pl
import requests

from assets.marts.alerts import FAILED, SEND, SENT, SUPPRESSED, message_text, payload, title
from warehouse.schemas import MARTS_ALERT_LOG

log = logging.getLogger(__name__)

REDACTED = "<redacted>"
MAX_ERROR_CHARS = 500


class DeliveryError(Exception):
    """A channel refused or could not be reached; the message is safe to store and log."""


def send(pending: pl.DataFrame, settings, environ: Mapping[str, str], now: dt.datetime | None = None) -> pl.DataFrame:
    """Deliver every pending row with action 'send' to its channel and record the suppressed ones; returns
    the rows to append to marts.alert_log. `settings` is the Settings model; `environ` is where the
    variables named by `url_env`, `user_env` and `password_env` are looked up (os.environ in production)."""
    logged_at = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).replace(tzinfo=None)
    webhooks = {c.name: c for c in settings.alerts.webhooks}
    emails = {c.name: c for c in settings.alerts.emails}
    rows = []
    for alert in pending.to_dicts():
        if alert["action"] != SEND:
            outcome, error = SUPPRESSED, None
        else:
            outcome, error = _deliver(alert, webhooks.get(alert["channel"]), emails.get(alert["channel"]), environ)
        if error:
            log.warning("alert %s to channel %s, attempt %d: %s", alert["alert_key"], alert["channel"],
                        alert["attempt"], error)
        else:
            log.info("alert %s to channel %s: %s", alert["alert_key"], alert["channel"], outcome)
        rows.append({**{c: alert.get(c) for c in MARTS_ALERT_LOG.column_names}, "logged_at": logged_at,
                     "status": outcome, "error": error})
    return pl.DataFrame(rows, schema=MARTS_ALERT_LOG.polars_schema)


def _deliver(alert: dict, webhook, email, environ: Mapping[str, str]) -> tuple[str, str | None]:
    """One attempt to the alert's channel (a webhook or an email channel of the settings)."""
    secrets: list[str] = []
    try:
        if webhook is not None:
            url = webhook.url or _from_environment(environ, webhook.url_env, webhook.name)
            secrets += _url_secrets(url) if webhook.url_env else []
            _post(url, payload(alert, webhook.style), webhook.timeout_seconds)
        elif email is not None:
            login = None
            if email.user_env:
                login = (_from_environment(environ, email.user_env, email.name),
                         _from_environment(environ, email.password_env, email.name))
                secrets += list(login)
            _mail(alert, email, login)
        else:
            raise DeliveryError(f"channel {alert['channel']} is not in the alerts settings")
        return SENT, None
    except Exception as exc:  # noqa: BLE001 - any failure of one delivery is recorded, never raised
        return FAILED, _redact(f"{type(exc).__name__}: {exc}", secrets)[:MAX_ERROR_CHARS]


def _from_environment(environ: Mapping[str, str], name: str, channel: str) -> str:
    value = environ.get(name)
    if not value:
        raise DeliveryError(f"environment variable {name} (channel {channel}) is not set")
    return value


def _url_secrets(url: str) -> list[str]:
    """An address read from the environment is secret whole, and so are its path and query, which a
    network error message quotes on their own (an incoming-webhook token lives in the path)."""
    parts = urlsplit(url)
    return [url] + [p for p in (parts.path, parts.query) if len(p) > 1]


def _redact(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _post(url: str, body: dict, timeout: float) -> None:
    response = requests.post(url, data=json.dumps(body, default=str), timeout=timeout,
                             headers={"Content-Type": "application/json"})
    if response.status_code >= 300:
        raise DeliveryError(f"receiver answered HTTP {response.status_code}: {response.text[:200]}")


def _mail(alert: dict, channel, login: tuple[str, str] | None) -> None:
    message = EmailMessage()
    message["Subject"] = title(alert)
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    evidence = json.dumps(payload(alert, "json")["evidence"], indent=2, default=str)
    message.set_content(f"{message_text(alert)}\n\nEvidence:\n{evidence}\n")
    with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_seconds) as smtp:
        if channel.starttls:
            smtp.starttls(context=ssl.create_default_context(cafile=channel.ca_file))
        if login:
            smtp.login(*login)
        smtp.send_message(message)
