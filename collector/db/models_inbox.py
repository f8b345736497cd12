"""ORM models of the inbox area (issue 5; A9-M3.5, P-16): the in-app to-do list of each admin
and the outbox of optional e-mail and webhook notifications.

- InboxItem: one thing for one user to look at (a finding opened in their scope, assigned to
  them, overdue, a claim awaiting verification...). The text is stored in both languages when
  the item is made, so the list needs no join; ``link`` is the page to open.
- NotificationOutbox: a message to send by SMTP or webhook, written in the same transaction as
  the change it tells about and delivered later by the periodic task with retries
  (collector/services/notify.py). A row is claimed with a conditional UPDATE, so several
  collector processes never send it twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from collector.db.base import Base, JsonDoc, UtcDateTime, utcnow

__all__ = ["InboxItem", "NotificationOutbox"]


class InboxItem(Base):
    """One to-do item of one user."""

    __tablename__ = "inbox_items"
    __table_args__ = (Index("ix_inbox_items_user_read", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # finding_opened | finding_assigned | finding_overdue | claim_pending | verification_failed
    # | claim_rejected | exemption_requested | exemption_expired
    kind: Mapped[str] = mapped_column(String(32))
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    severity: Mapped[str] = mapped_column(String(16), server_default="", default="")
    text_zh: Mapped[str] = mapped_column(String(500))
    text_en: Mapped[str] = mapped_column(String(500))
    link: Mapped[str] = mapped_column(String(255), server_default="", default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class NotificationOutbox(Base):
    """A notification to deliver (channel smtp or webhook), with its delivery state."""

    __tablename__ = "notification_outbox"
    __table_args__ = (Index("ix_notification_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # smtp | webhook
    event: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255), server_default="", default="")
    body: Mapped[str] = mapped_column(Text, server_default="", default="")
    payload: Mapped[Any] = mapped_column(JsonDoc, default=dict)
    status: Mapped[str] = mapped_column(String(16), server_default="pending", default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str] = mapped_column(String(500), server_default="", default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
