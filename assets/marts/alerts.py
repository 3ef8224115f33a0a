"""Which notifications are due, and what they say. Pure polars, no I/O.

Three changes are announced, each with its evidence:
- episode_opened: an anomaly episode (kind 'anomaly'; context labels are never announced) in
  marts.anomaly_episodes that no earlier alert covers. An alert covers an episode when it names the same
  code and subject and its start lies within the episode, so a backfill that extends or merges an
  episode does not announce it again.
- status_active: a Table 1 row is active and the last change announced for that row was not 'active'.
- status_quiet: a Table 1 row is no longer active and the last change announced for it was 'active'
  (an activity recorded as suppressed was never announced, so neither is its end).

marts.alert_log is the memory: an alert already logged (sent, failed or suppressed) is never new again, so
reruns send nothing twice. A change whose evidence is older than `alerts.recent_days` before the run day is
logged as suppressed (historical) rather than sent. A failed send is retried on later runs until
`alerts.max_attempts` sends were tried.
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

SENT = "sent"
FAILED = "failed"
SUPPRESSED = "suppressed (historical)"

EPISODE_OPENED = "episode_opened"
STATUS_ACTIVE = "status_active"
STATUS_QUIET = "status_quiet"

SEND = "send"
SUPPRESS = "suppress"

# One row per alert and channel: what `send` delivers (action 'send') or only records (action 'suppress').
PENDING_SCHEMA = {
    "alert_key": pl.Utf8,
    "event": pl.Utf8,
    "code": pl.Utf8,
    "subject": pl.Utf8,
    "table_row": pl.Int64,
    "start": pl.Date,
    "as_of": pl.Date,
    "details": pl.Utf8,
    "channel": pl.Utf8,
    "attempt": pl.Int64,
    "action": pl.Utf8,
}
_ALERT_COLUMNS = [c for c in PENDING_SCHEMA if c not in ("channel", "attempt", "action")]

# Table 1 columns carried as evidence of an alert.
_CORRELATION_FIELDS = ("typical_correlation", "typical_label", "current_correlation", "current_label")
_STATUS_FIELDS = ("row", "asset_pair", "pair", "as_of", "condition", "watched_codes", "active", "active_codes",
                  "active_since", "severity", "implication", *_CORRELATION_FIELDS, "quality_status")
_EPISODE_FIELDS = ("code", "subject", "calendar", "start", "peak_date", "end", "days", "peak_severity", "open",
                   "implication")


def pending_alerts(episodes: pl.DataFrame, status: pl.DataFrame, alert_log: pl.DataFrame, today: dt.date,
                   settings) -> pl.DataFrame:
    """The alerts to send (or record as suppressed) on the run day `today`, one row per alert and channel
    (PENDING_SCHEMA): new changes found in `episodes` and `status` against `alert_log`, then the failed sends
    still worth retrying. `settings` is the Settings model (its `alerts` section is used)."""
    config = settings.alerts
    channels = [c.name for c in config.channels]
    if not channels:
        return pl.DataFrame(schema=PENDING_SCHEMA)
    fresh = pl.concat([_new_episode_alerts(episodes, status, alert_log), _new_status_alerts(status, alert_log)])
    horizon = today - dt.timedelta(days=config.recent_days)
    first_sends = fresh.join(pl.DataFrame({"channel": channels}), how="cross").with_columns(
        attempt=pl.lit(1, dtype=pl.Int64),
        action=pl.when(pl.col("as_of") < horizon).then(pl.lit(SUPPRESS)).otherwise(pl.lit(SEND)),
    )
    return pl.concat([first_sends.select(list(PENDING_SCHEMA)), _retries(alert_log, channels, config.max_attempts)])


def _details(row: dict, fields: tuple[str, ...], **extra) -> str:
    picked = {f: row.get(f) for f in fields} | extra
    return json.dumps(picked, default=str)


def _status_rows(status: pl.DataFrame) -> list[dict]:
    return status.sort("row").to_dicts() if status.height else []


def _table_1_context(status_rows: list[dict], code: str, subject: str) -> dict | None:
    """The Table 1 row an episode belongs to (its codes are watched there, or its subject is the row's pair),
    with the correlations a reader weighs it against."""
    for row in status_rows:
        if code in (row.get("watched_codes") or "").split(", ") or row.get("pair") == subject:
            return {"row": row["row"], "asset_pair": row["asset_pair"], "as_of": row["as_of"],
                    **{f: row.get(f) for f in _CORRELATION_FIELDS}}
    return None


def _new_episode_alerts(episodes: pl.DataFrame, status: pl.DataFrame, alert_log: pl.DataFrame) -> pl.DataFrame:
    if episodes.height == 0:
        return pl.DataFrame(schema={c: PENDING_SCHEMA[c] for c in _ALERT_COLUMNS})
    anomalies = episodes.filter(pl.col("kind") == "anomaly")
    announced = alert_log.filter(pl.col("event") == EPISODE_OPENED).select(
        "code", "subject", announced_start="start")
    covered = anomalies.join(announced, on=["code", "subject"], how="inner").filter(
        pl.col("announced_start").is_between(pl.col("start"), pl.col("end"))
    ).select("code", "subject", "start").unique()
    new = anomalies.join(covered, on=["code", "subject", "start"], how="anti").sort("start", "code", "subject")
    status_rows = _status_rows(status)
    rows = [
        dict(
            alert_key=f"{EPISODE_OPENED}|{e['code']}|{e['subject']}|{e['start']}", event=EPISODE_OPENED,
            code=e["code"], subject=e["subject"], table_row=None, start=e["start"], as_of=e["end"],
            details=_details(e, _EPISODE_FIELDS, table_1=_table_1_context(status_rows, e["code"], e["subject"])),
        )
        for e in new.to_dicts()
    ]
    return pl.DataFrame(rows, schema={c: PENDING_SCHEMA[c] for c in _ALERT_COLUMNS})


def _last_status_change(alert_log: pl.DataFrame) -> dict[int, dict]:
    """Per Table 1 row, the latest change recipients were told of (or are being told of, through retries)."""
    changes = alert_log.filter(pl.col("event").is_in([STATUS_ACTIVE, STATUS_QUIET]))
    latest = changes.sort("as_of", "logged_at").group_by("table_row").agg(pl.all().last())
    return {r["table_row"]: r for r in latest.to_dicts()}


def _new_status_alerts(status: pl.DataFrame, alert_log: pl.DataFrame) -> pl.DataFrame:
    last = _last_status_change(alert_log)
    rows = []
    for row in _status_rows(status):
        previous = last.get(row["row"])
        if previous is not None and previous["as_of"] >= row["as_of"]:
            continue  # a rerun of a Table 1 already announced, or an older one: nothing new to tell
        # An activity only recorded as suppressed was never announced, so neither is its end.
        was_active = previous is not None and previous["event"] == STATUS_ACTIVE and previous["status"] != SUPPRESSED
        if row["active"] and not was_active:
            event, code, start = STATUS_ACTIVE, row["active_codes"], row["active_since"]
        elif not row["active"] and was_active:
            event, code, start = STATUS_QUIET, previous["code"], previous["start"]
        else:
            continue
        ended = {"was_active_since": start, "was_active_codes": code} if event == STATUS_QUIET else {}
        rows.append(dict(
            alert_key=f"{event}|{row['row']}|{row['as_of']}", event=event, code=code, subject=row["asset_pair"],
            table_row=row["row"], start=start, as_of=row["as_of"], details=_details(row, _STATUS_FIELDS, **ended),
        ))
    return pl.DataFrame(rows, schema={c: PENDING_SCHEMA[c] for c in _ALERT_COLUMNS})


def _retries(alert_log: pl.DataFrame, channels: list[str], max_attempts: int) -> pl.DataFrame:
    """Failed sends to a channel still configured, whose attempts are not used up: the next attempt."""
    last_attempts = alert_log.sort("attempt").group_by("alert_key", "channel").agg(pl.all().last())
    due = last_attempts.filter(
        (pl.col("status") == FAILED) & (pl.col("attempt") < max_attempts) & pl.col("channel").is_in(channels)
    )
    return due.with_columns(attempt=pl.col("attempt") + 1, action=pl.lit(SEND)).select(
        [pl.col(c).cast(t) for c, t in PENDING_SCHEMA.items()]
    ).sort("alert_key", "channel")


# ------------------------------------------------------------------------------------------------ messages
def _number(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def title(alert: dict) -> str:
    """One line naming the change: the subject line of an email, the first line of a chat message."""
    d = _evidence(alert)
    if alert["event"] == EPISODE_OPENED:
        return f"Anomaly {d['code']} on {d['subject']} since {d['start']}"
    if alert["event"] == STATUS_ACTIVE:
        return f"Table 1 row {d['row']} active: {d['asset_pair']} ({d['active_codes']}) since {d['active_since']}"
    return f"Table 1 row {d['row']} quiet: {d['asset_pair']} as of {d['as_of']}"


def message_text(alert: dict) -> str:
    """The change and its evidence as plain text lines, for chat messages and email bodies."""
    d = _evidence(alert)
    if alert["event"] == EPISODE_OPENED:
        lines = [
            f"Code: {d['code']} ({d['calendar']} calendar)",
            f"Subject: {d['subject']}",
            f"Start: {d['start']}, latest day {d['end']} ({d['days']} observation(s), "
            f"{'still open' if d['open'] else 'ended'})",
            f"Peak severity: {_number(d['peak_severity'])} on {d['peak_date']}",
            f"Implication: {d['implication']}",
        ]
        context = d.get("table_1")
        if context:
            lines.append(_correlation_line(f"Table 1 row {context['row']} ({context['asset_pair']})", context))
    else:
        lines = [
            f"Asset pair: {d['asset_pair']} (Table 1 row {d['row']}), as of {d['as_of']}",
            f"Condition: {d['condition']}",
        ]
        if alert["event"] == STATUS_ACTIVE:
            lines += [f"Active codes: {d['active_codes']} since {d['active_since']}",
                      f"Severity: {_number(d['severity'])}"]
        else:
            lines.append(f"Was active with {d['was_active_codes']} since {d['was_active_since']}; "
                         "no watched code fired on the latest day")
        lines += [f"Implication: {d['implication']}", _correlation_line("Correlation", d),
                  f"Data quality: {d['quality_status']}"]
    return "\n".join([title(alert), *lines])


def _correlation_line(label: str, d: dict) -> str:
    return (f"{label}: typical {_number(d['typical_correlation'])} ({d['typical_label']}), "
            f"current {_number(d['current_correlation'])} ({d['current_label']})")


def _evidence(alert: dict) -> dict:
    details = alert["details"]
    return json.loads(details) if isinstance(details, str) else details


def payload(alert: dict, style: str) -> dict:
    """The body POSTed to a webhook: 'json' gives the alert and its evidence as one object; 'slack' gives
    the `{"text": ...}` an incoming webhook of Slack (and of Mattermost, Rocket.Chat...) accepts."""
    if style == "slack":
        return {"text": message_text(alert)}
    if style == "json":
        return {"event": alert["event"], "alert_key": alert["alert_key"], "title": title(alert),
                "evidence": _evidence(alert)}
    raise ValueError(f"unknown webhook style '{style}'; choose json or slack")
