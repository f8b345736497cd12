"""Agent credentials in scope: node keys of hosts (list; revoking is enrollment.revoke_host_keys)
and enrollment secrets per unit (list without the secret, create shown once, revoke).

Rotating a host's key = revoke its keys, then enroll the agent again with a one-use secret
(max_uses=1): the agent protocol has no in-place rotation (docs/access.md)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from collector.db.base import utcnow
from collector.db.models import EnrollSecret, Host, NodeKey, Unit
from collector.services.audit import record
from collector.services.auth import Principal, ensure_writer, hash_token
from collector.services.enrollment import NewSecret
from collector.services.errors import Forbidden, NotFound

__all__ = [
    "KeyPage",
    "create_secret",
    "host_node_keys",
    "list_node_keys",
    "revoke_secret",
    "scoped_unit",
    "unit_secrets",
]


@dataclass(frozen=True)
class KeyPage:
    total: int
    items: list[NodeKey]


def scoped_unit(session: Session, principal: Principal, code: str) -> Unit:
    """The unit, if the caller can see it; otherwise the same 404 as a missing unit."""
    unit = session.scalar(select(Unit).where(Unit.code == code))
    if unit is None or not principal.can_see_unit(unit.id):
        raise NotFound(f"no unit with code {code!r}", "unknown_unit")
    return unit


def list_node_keys(
    session: Session,
    principal: Principal,
    *,
    include_revoked: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> KeyPage:
    """Node keys of the hosts in scope, newest first."""
    query = select(NodeKey).join(Host, NodeKey.host_id == Host.id)
    if principal.visible_units is not None:
        query = query.where(Host.unit_id.in_(principal.visible_units))
    if not include_revoked:
        query = query.where(NodeKey.revoked_at.is_(None))
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(
        query.options(joinedload(NodeKey.host).joinedload(Host.unit))
        .order_by(NodeKey.created_at.desc(), NodeKey.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return KeyPage(total, list(rows))


def host_node_keys(session: Session, principal: Principal, host_id: int) -> tuple[Host, Sequence[NodeKey]]:
    host = session.get(Host, host_id)
    if host is None or not principal.can_see_unit(host.unit_id):
        raise NotFound(f"no host {host_id}", "unknown_host")
    keys = session.scalars(
        select(NodeKey).where(NodeKey.host_id == host.id).order_by(NodeKey.id.desc())
    ).all()
    return host, keys


def unit_secrets(session: Session, principal: Principal, code: str) -> Sequence[EnrollSecret]:
    unit = scoped_unit(session, principal, code)
    return session.scalars(
        select(EnrollSecret).where(EnrollSecret.unit_id == unit.id).order_by(EnrollSecret.id.desc())
    ).all()


def create_secret(
    session: Session,
    principal: Principal,
    code: str,
    *,
    label: str,
    expires_days: float | None,
    max_uses: int | None,
    ip: str = "",
) -> NewSecret:
    unit = scoped_unit(session, principal, code)
    ensure_writer(principal)
    if not principal.can_manage_unit(unit.id):
        raise Forbidden(f"you do not administer unit {code}", "not_your_unit")
    secret = "wpe_" + secrets.token_urlsafe(24)
    row = EnrollSecret(
        unit_id=unit.id,
        secret_hash=hash_token(secret),
        label=label[:128],
        expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None,
        max_uses=max_uses,
    )
    session.add(row)
    session.flush()
    detail = {
        "secret_id": row.id,
        "label": row.label,
        "max_uses": max_uses,
        "expires_at": _iso(row.expires_at),
    }
    record(session, principal.username, "enroll_secret.create", f"unit:{code}", detail, ip, principal.user_id)
    session.commit()
    made = NewSecret(secret, row)
    return made


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def revoke_secret(session: Session, principal: Principal, secret_id: int, ip: str = "") -> EnrollSecret:
    row = session.get(EnrollSecret, secret_id)
    if row is None or not principal.can_see_unit(row.unit_id):
        raise NotFound(f"no enrollment secret {secret_id}", "unknown_secret")
    ensure_writer(principal)
    if not principal.can_manage_unit(row.unit_id):
        raise Forbidden(f"you do not administer unit {row.unit.code}", "not_your_unit")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record(
            session,
            principal.username,
            "enroll_secret.revoke",
            f"unit:{row.unit.code}",
            {"secret_id": row.id, "label": row.label},
            ip,
            principal.user_id,
        )
    session.commit()
    return row
