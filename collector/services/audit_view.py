"""Reading the audit log (A9-M3.5) within scope: filtered, paged, or streamed for export.

Scope: a city-wide user sees every entry. Anyone else sees the entries *about* their scope:
whose target is a unit of their subtree (``unit:<code>``), a host in it (``host:<id>``) or a
user they can see (``user:<name>``), and the entries of actions done by (or logins of) users
they can see. Entries about the rest of the city (another district's hosts, a city admin's
own logins) stay hidden. The log is append-only: database triggers refuse UPDATE and DELETE.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from collector.db.models import AuditLog, Host, Unit, User
from collector.services.auth import Principal
from collector.services.users import visible_user

__all__ = ["AuditFilter", "AuditPage", "audit_page", "audit_rows"]


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""  # a prefix: "user." matches user.create, user.disable...
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    total: int
    items: list[AuditLog]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _query(session: Session, principal: Principal, wanted: AuditFilter) -> Select[AuditLog]:
    query = select(AuditLog)
    if wanted.actor:
        query = query.where(AuditLog.actor == wanted.actor)
    if wanted.action:
        query = query.where(AuditLog.action.like(_escape_like(wanted.action) + "%", escape="\\"))
    if wanted.target:
        query = query.where(AuditLog.target == wanted.target)
    if wanted.since:
        query = query.where(AuditLog.at >= wanted.since)
    if wanted.until:
        query = query.where(AuditLog.at < wanted.until)
    if principal.visible_units is not None:
        units = principal.visible_units
        users = [u for u in session.scalars(select(User)) if visible_user(principal, u)]
        user_ids = [u.id for u in users]
        user_targets = [f"user:{u.username}" for u in users]
        unit_targets = select(literal("unit:") + Unit.code).where(Unit.id.in_(units))
        host_targets = select(literal("host:") + cast(Host.id, String)).where(Host.unit_id.in_(units))
        query = query.where(
            or_(
                AuditLog.target.in_(unit_targets),
                AuditLog.target.in_(host_targets),
                AuditLog.target.in_(user_targets),
                AuditLog.user_id.in_(user_ids),
            )
        )
    return query


def audit_page(
    session: Session, principal: Principal, wanted: AuditFilter, *, page: int = 1, per_page: int = 50
) -> AuditPage:
    """Newest first."""
    query = _query(session, principal, wanted)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(
        query.order_by(AuditLog.at.desc(), AuditLog.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return AuditPage(total, list(rows))


AUDIT_COLUMNS = ("id", "at", "actor", "action", "target", "ip", "detail")


def audit_rows(session: Session, principal: Principal, wanted: AuditFilter) -> Iterator[list[Any]]:
    """Every matching entry, oldest first, in batches (for a streamed export)."""
    import json

    query = _query(session, principal, wanted).order_by(AuditLog.id)
    for row in session.scalars(query.execution_options(yield_per=500)):
        detail = json.dumps(row.detail, ensure_ascii=False, sort_keys=True)
        yield [row.id, row.at, row.actor, row.action, row.target, row.ip, detail]
