"""Optional e-mail (SMTP) and webhook notifications of findings (issue 5; A9-M3.5, P-16).

Messages go through an outbox table (NotificationOutbox): a change and the message that tells
about it are written in one transaction; the periodic findings task delivers pending messages
(``deliver_pending``) with exponential back-off, up to ``notify_max_attempts`` tries. A row is
claimed with a conditional UPDATE, so several collector processes never send it twice; a claim
older than 10 minutes (a process died while sending) is taken again.

- SMTP: ``smtplib`` with STARTTLS (certificate verified against the system CAs plus
  ``smtp_ca_file``), optional login; a plain-text mail in Chinese and English to ``smtp_to``.
- Webhook: a JSON POST to ``webhook_url`` with ``X-Watchpost-Event``, ``X-Watchpost-Timestamp``
  and, when ``webhook_secret`` is set, ``X-Watchpost-Signature: sha256=<hex>``: HMAC-SHA256 of
  ``<timestamp>.<body>`` with the secret. Redirects are not followed.

Secrets (SMTP password, webhook secret) are never logged nor stored in the outbox; errors keep
only the exception class and message, and webhook URLs are logged without path or query.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from collector.db.models_inbox import NotificationOutbox
from collector.policy.meta import SEVERITIES
from collector.settings import Settings

__all__ = [
    "NotifyConfig",
    "config_from",
    "config_of",
    "configure_sessions",
    "deliver_pending",
    "enqueue",
    "post_webhook",
    "send_mail",
    "severe_enough",
    "sign",
]

log = logging.getLogger(__name__)
_INFO_KEY = "watchpost.notify"
_STALE_CLAIM = timedelta(minutes=10)
_MAX_BACKOFF = timedelta(hours=6)


@dataclass(frozen=True)
class NotifyConfig:
    """What the findings service needs at the moment of a change: the severity that makes a new
    finding worth an inbox item, and the channels that are configured."""

    min_severity: str = "high"
    channels: tuple[str, ...] = ()


def config_from(settings: Settings) -> NotifyConfig:
    channels: list[str] = []
    if settings.smtp_host and settings.smtp_from and settings.smtp_to.strip():
        channels.append("smtp")
    if settings.webhook_url:
        channels.append("webhook")
    return NotifyConfig(settings.notify_min_severity, tuple(channels))


def configure_sessions(maker: sessionmaker[Session], settings: Settings) -> None:
    """Sessions made from now on carry the configuration in ``session.info`` (the engine calls
    the findings service with a session only)."""
    info = dict(maker.kw.get("info") or {})
    info[_INFO_KEY] = config_from(settings)
    maker.configure(info=info)


def config_of(session: Session) -> NotifyConfig:
    config = session.info.get(_INFO_KEY)
    return config if isinstance(config, NotifyConfig) else NotifyConfig()


def severe_enough(config: NotifyConfig, severity: str) -> bool:
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return rank.get(severity, 0) >= rank.get(config.min_severity, len(SEVERITIES))


def enqueue(
    session: Session, event: str, subject: str, body: str, payload: dict[str, Any], at: datetime
) -> int:
    """One outbox row per configured channel; returns how many."""
    channels = config_of(session).channels
    for channel in channels:
        session.add(
            NotificationOutbox(
                channel=channel,
                event=event[:32],
                subject=subject[:255],
                body=body,
                payload=payload,
                next_attempt_at=at,
                created_at=at,
            )
        )
    return len(channels)


# -- delivery ----------------------------------------------------------------------------------
def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The X-Watchpost-Signature value: HMAC-SHA256 of ``<timestamp>.<body>``."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _tls_context(ca_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def send_mail(settings: Settings, subject: str, body: str) -> None:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(a.strip() for a in settings.smtp_to.split(",") if a.strip())
    message["Date"] = format_datetime(datetime.now().astimezone())
    message["Message-ID"] = make_msgid(domain="watchpost")
    message.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
        smtp.ehlo()
        if settings.smtp_starttls:
            smtp.starttls(context=_tls_context(settings.smtp_ca_file))
            smtp.ehlo()
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_username, password)
        smtp.send_message(message)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # a redirect is answered as the error it is


def post_webhook(settings: Settings, event: str, payload: dict[str, Any], now: datetime) -> None:
    url = settings.webhook_url
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("webhook_url must be http:// or https://")
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "watchpost-collector",
        "X-Watchpost-Event": event,
        "X-Watchpost-Timestamp": timestamp,
    }
    if settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value().encode()
        headers["X-Watchpost-Signature"] = sign(secret, timestamp, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - scheme checked
    opener = urllib.request.build_opener(
        _NoRedirect, urllib.request.HTTPSHandler(context=_tls_context(settings.smtp_ca_file))
    )
    with opener.open(request, timeout=15) as answer:
        if not 200 <= answer.status < 300:
            raise OSError(f"webhook answered HTTP {answer.status}")


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


def _where(settings: Settings, channel: str) -> str:
    if channel == "smtp":
        return f"smtp {settings.smtp_host}:{settings.smtp_port}"
    parts = urlsplit(settings.webhook_url)
    return f"webhook {parts.scheme}://{parts.hostname or ''}"


def _send(row: NotificationOutbox, settings: Settings, now: datetime) -> None:
    configured = config_from(settings).channels
    if row.channel not in configured:
        raise LookupError(f"channel {row.channel} is no longer configured")
    if row.channel == "smtp":
        send_mail(settings, row.subject, row.body)
    else:
        post_webhook(settings, row.event, row.payload, now)


def deliver_pending(
    session: Session, settings: Settings, now: datetime, *, limit: int = 100
) -> dict[str, int]:
    """Send what is due (commits after each message); returns counts by outcome."""
    session.execute(
        update(NotificationOutbox)
        .where(NotificationOutbox.status == "sending", NotificationOutbox.claimed_at < now - _STALE_CLAIM)
        .values(status="pending")
    )
    session.commit()
    due = session.scalars(
        select(NotificationOutbox.id)
        .where(NotificationOutbox.status == "pending", NotificationOutbox.next_attempt_at <= now)
        .order_by(NotificationOutbox.id)
        .limit(limit)
    ).all()
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for row_id in due:
        claimed = session.execute(
            update(NotificationOutbox)
            .where(NotificationOutbox.id == row_id, NotificationOutbox.status == "pending")
            .values(status="sending", claimed_at=now)
        )
        session.commit()
        if not getattr(claimed, "rowcount", 0):
            continue  # another process took it
        row = session.get_one(NotificationOutbox, row_id)
        session.refresh(row)
        try:
            _send(row, settings, now)
        except (OSError, smtplib.SMTPException, ssl.SSLError, ValueError, LookupError) as exc:
            row.attempts += 1
            row.last_error = _describe(exc)
            final = isinstance(exc, LookupError) or row.attempts >= settings.notify_max_attempts
            row.status = "failed" if final else "pending"
            row.next_attempt_at = now + min(timedelta(seconds=30 * 2**row.attempts), _MAX_BACKOFF)
            counts["failed" if final else "retry"] += 1
            log.warning(
                "notification %s via %s failed (attempt %s): %s",
                row.id,
                _where(settings, row.channel),
                row.attempts,
                row.last_error,
            )
        else:
            row.attempts += 1
            row.status, row.sent_at, row.last_error = "sent", now, ""
            counts["sent"] += 1
        session.commit()
    return counts
