"""Reading the inventory within a principal's scope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from collector.db.base import utcnow
from collector.db.models import Host, Unit
from collector.services.auth import Principal

__all__ = ["host_status", "visible_hosts", "visible_units"]


def visible_hosts(session: Session, principal: Principal, *, include_retired: bool = False) -> Sequence[Host]:
    query = (
        select(Host)
        .options(selectinload(Host.addresses), selectinload(Host.unit))
        .order_by(Host.unit_id, Host.hostname, Host.id)
    )
    if principal.visible_units is not None:
        query = query.where(Host.unit_id.in_(principal.visible_units))
    if not include_retired:
        query = query.where(Host.status != "retired")
    return session.scalars(query).all()


def visible_units(session: Session, principal: Principal) -> Sequence[Unit]:
    query = select(Unit).order_by(Unit.sort_order, Unit.code)
    if principal.visible_units is not None:
        query = query.where(Unit.id.in_(principal.visible_units))
    return session.scalars(query).all()


def host_status(host: Host, silent_after_hours: float, now: datetime | None = None) -> str:
    """online / silent / never (enrolled, no report yet) / retired."""
    if host.status == "retired":
        return "retired"
    if host.last_seen is None:
        return "never"
    now = now or utcnow()
    return "online" if now - host.last_seen <= timedelta(hours=silent_after_hours) else "silent"
