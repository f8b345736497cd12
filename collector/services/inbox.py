"""The in-app to-do inbox of each admin (issue 5; A9-M3.5, P-16): intranets often have no
e-mail, so what needs someone's attention is listed on their own page, with an unread count in
the page header.

Who gets an item (collector/services/findings.py decides when):
- a finding opens (or reopens) in a unit at or above the notification severity: every city or
  district admin managing that unit;
- a finding is assigned: the assignee; a claim of rectification awaits verification: the admins
  managing the unit and the inspectors over it, except the claimer; a finding becomes overdue:
  the assignee, or the unit's admins while unassigned; a later report fails a claimed finding,
  or a claim is rejected: the assignee (or the unit's admins); an exemption is requested: the
  unit's admins but the requester; an exemption ends: the unit's admins.

An item outside the reader's current scope (their roles changed since) is not shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from collector.db.models import RoleGrant, Unit, User
from collector.db.models_inbox import InboxItem
from collector.services.auth import Principal
from collector.services.errors import NotFound
from collector.services.org import path_to_root

__all__ = [
    "ADMIN_ROLES",
    "InboxPage",
    "add_items",
    "admins_of_unit",
    "ancestors",
    "list_items",
    "mark_all_read",
    "mark_read",
    "tx_cache",
    "unread_count",
    "verifiers_of_unit",
]

ADMIN_ROLES = ("city_admin", "district_admin")
_CACHE_KEY = "watchpost.findings.tx_cache"


def tx_cache(session: Session) -> dict[Any, Any]:
    """A dictionary that lives as long as the session's current transaction: what one
    evaluation run looks up again and again (units, admins, a host's live findings)."""
    session.connection()  # begins the transaction when none is open
    transaction = session.get_transaction()
    entry = session.info.get(_CACHE_KEY)
    if entry is None or entry[0] is not transaction:
        entry = (transaction, {})
        session.info[_CACHE_KEY] = entry
    cache: dict[Any, Any] = entry[1]
    return cache


def ancestors(session: Session, unit_id: int) -> list[int]:
    """The unit and every unit above it, nearest first."""
    cache = tx_cache(session)
    parents: dict[int, int | None] | None = cache.get("unit_parents")
    if parents is None:
        parents = dict(session.execute(select(Unit.id, Unit.parent_id)).all())
        cache["unit_parents"] = parents
    return path_to_root(parents, unit_id)


def _grants(session: Session) -> list[tuple[int, str, int]]:
    cache = tx_cache(session)
    grants: list[tuple[int, str, int]] | None = cache.get("grants")
    if grants is None:
        rows = session.execute(
            select(RoleGrant.user_id, RoleGrant.role, RoleGrant.unit_id)
            .join(User, User.id == RoleGrant.user_id)
            .where(User.is_active.is_(True))
        )
        grants = [(user, role, unit) for user, role, unit in rows]
        cache["grants"] = grants
    return grants


def _holders(session: Session, unit_id: int, roles: Iterable[str]) -> list[int]:
    above = set(ancestors(session, unit_id))
    wanted = set(roles)
    return sorted({user for user, role, unit in _grants(session) if role in wanted and unit in above})


def admins_of_unit(session: Session, unit_id: int) -> list[int]:
    """Active users who manage the unit (city admins, district admins of it or above it)."""
    return _holders(session, unit_id, ADMIN_ROLES)


def verifiers_of_unit(session: Session, unit_id: int) -> list[int]:
    """Active users who may verify a claim in the unit: its admins and inspectors over it."""
    return _holders(session, unit_id, (*ADMIN_ROLES, "inspector"))


def add_items(
    session: Session,
    user_ids: Iterable[int],
    *,
    kind: str,
    text_zh: str,
    text_en: str,
    at: datetime,
    finding_id: int | None = None,
    unit_id: int | None = None,
    severity: str = "",
    link: str = "",
) -> int:
    """One item per user (duplicates dropped); returns how many were added."""
    count = 0
    for user_id in dict.fromkeys(user_ids):
        session.add(
            InboxItem(
                user_id=user_id,
                kind=kind[:32],
                finding_id=finding_id,
                unit_id=unit_id,
                severity=severity[:16],
                text_zh=text_zh[:500],
                text_en=text_en[:500],
                link=link[:255],
                created_at=at,
            )
        )
        count += 1
    return count


def _in_scope(principal: Principal) -> Any:
    if principal.visible_units is None:
        return InboxItem.user_id == principal.user_id
    return (InboxItem.user_id == principal.user_id) & or_(
        InboxItem.unit_id.is_(None), InboxItem.unit_id.in_(principal.visible_units)
    )


def unread_count(session: Session, principal: Principal) -> int:
    query = (
        select(func.count()).select_from(InboxItem).where(_in_scope(principal), InboxItem.read_at.is_(None))
    )
    return int(session.scalar(query) or 0)


@dataclass(frozen=True)
class InboxPage:
    items: list[InboxItem]
    total: int
    unread: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_items(
    session: Session, principal: Principal, *, unread_only: bool = False, page: int = 1, per_page: int = 50
) -> InboxPage:
    """The caller's items, newest first."""
    query = select(InboxItem).where(_in_scope(principal))
    if unread_only:
        query = query.where(InboxItem.read_at.is_(None))
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    items = session.scalars(
        query.order_by(InboxItem.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return InboxPage(list(items), total, unread_count(session, principal), page, per_page)


def mark_read(session: Session, principal: Principal, item_id: int, at: datetime) -> InboxItem:
    """Mark one of the caller's items read (another user's item answers like a missing one)."""
    item = session.scalar(select(InboxItem).where(InboxItem.id == item_id, _in_scope(principal)))
    if item is None:
        raise NotFound(f"no inbox item {item_id}", "unknown_item")
    if item.read_at is None:
        item.read_at = at
    session.commit()
    return item


def mark_all_read(session: Session, principal: Principal, at: datetime) -> int:
    done = session.execute(
        update(InboxItem)
        .where(_in_scope(principal), InboxItem.read_at.is_(None))
        .values(read_at=at)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return int(getattr(done, "rowcount", 0) or 0)
