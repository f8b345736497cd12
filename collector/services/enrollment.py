"""Enrollment secrets per unit, and the exchange of a secret for a per-host node key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import EnrollSecret, Host, NodeKey
from collector.services import vpn_register
from collector.services.agent_config import effective_config
from collector.services.audit import record
from collector.services.auth import Principal, hash_token
from collector.services.errors import Conflict, Forbidden, NotFound, Unauthorized
from collector.services.org import unit_by_code
from wire import EnrollRequest, EnrollResponse, NodeKeyRotation

__all__ = ["create_enroll_secret", "enroll", "host_for_node_key", "revoke_host_keys"]


@dataclass(frozen=True)
class NewSecret:
    secret: str
    record: EnrollSecret


def create_enroll_secret(
    session: Session,
    unit_code: str,
    *,
    expires_days: float | None = 30,
    max_uses: int | None = None,
    label: str = "",
    actor: str = "system",
) -> NewSecret:
    """Make a secret for a unit. The secret itself is returned once and stored as a hash."""
    unit = unit_by_code(session, unit_code)
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
    record(
        session,
        actor,
        "enroll_secret.create",
        f"unit:{unit.code}",
        {
            "secret_id": row.id,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "max_uses": max_uses,
        },
    )
    return NewSecret(secret, row)


def enroll(
    session: Session, request: EnrollRequest, ip: str = "", now: datetime | None = None
) -> EnrollResponse:
    now = now or utcnow()
    row = session.scalar(
        select(EnrollSecret).where(EnrollSecret.secret_hash == hash_token(request.enroll_secret))
    )
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked enrollment secret", "invalid_enroll_secret")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("this enrollment secret has expired; ask for a new one", "expired_enroll_secret")
    # Count the use atomically: parallel enrollments cannot exceed max_uses.
    counted = session.execute(
        update(EnrollSecret)
        .where(EnrollSecret.id == row.id)
        .where((EnrollSecret.max_uses.is_(None)) | (EnrollSecret.uses < EnrollSecret.max_uses))
        .values(uses=EnrollSecret.uses + 1)
    )
    if not getattr(counted, "rowcount", 0):
        raise Unauthorized("this enrollment secret has been used up", "exhausted_enroll_secret")
    host = session.scalar(select(Host).where(Host.agent_id == request.agent_id))
    detail: dict[str, object] = {}
    if host is not None:
        if host.status == "retired":
            raise Forbidden("this host was retired; an admin must restore it first", "host_retired")
        if host.status == "merged":
            raise Forbidden(
                "this record was merged into another; reset the agent to enroll it as new", "host_merged"
            )
        active = set(
            session.scalars(
                select(NodeKey.key_hash).where(NodeKey.host_id == host.id, NodeKey.revoked_at.is_(None))
            )
        )
        proof = hash_token(request.previous_node_key) if request.previous_node_key else None
        if active and proof not in active:
            # Knowing an agent id is not enough to take a host over: present its current key,
            # or have an admin revoke that key first.
            raise Conflict(
                "this agent is enrolled and its key is active: enroll again from the agent "
                "itself (it sends its current key), or have an admin revoke the key first",
                "already_enrolled",
            )
        if host.unit_id != row.unit_id:
            detail["moved_from_unit_id"] = host.unit_id
    action = "host.reenroll"
    if host is None:
        action = "host.enroll"
        host = Host(
            agent_id=request.agent_id, unit_id=row.unit_id, hostname=request.hostname, enrolled_at=now
        )
        session.add(host)
    else:
        # Re-enrollment: the old keys stop working; the host moves to the secret's unit.
        session.execute(
            update(NodeKey)
            .where(NodeKey.host_id == host.id, NodeKey.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        host.unit_id = row.unit_id
        host.state_hash = None  # the agent starts over with a full report
        vpn_register.follow_host_unit(session, host)
    host.hostname = request.hostname
    host.os_family = request.os_family
    host.agent_version = request.agent_version
    host.system_uuid = host.system_uuid or request.system_uuid
    host.serial = host.serial or request.serial
    session.flush()
    key = new_node_key()
    session.add(NodeKey(host_id=host.id, key_hash=hash_token(key), created_at=now))
    record(
        session,
        f"agent:{request.hostname}",
        action,
        f"host:{host.id}",
        {"agent_id": str(request.agent_id), "unit": row.unit.code, "secret_id": row.id, **detail},
        ip,
    )
    session.flush()
    return EnrollResponse(
        agent_id=request.agent_id,
        node_key=key,
        unit_code=row.unit.code,
        unit_name=row.unit.name_zh,
        config=effective_config(session, row.unit_id),
    )


def new_node_key() -> str:
    return "wpn_" + secrets.token_urlsafe(32)


def host_for_node_key(session: Session, key: str, now: datetime | None = None) -> Host:
    row = session.scalar(select(NodeKey).where(NodeKey.key_hash == hash_token(key)))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked node key; re-enroll this agent", "invalid_node_key")
    if row.host.status == "retired":
        raise Forbidden("this host was retired", "host_retired")
    now = now or utcnow()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 300:
        row.last_used_at = now
    host = row.host
    requested = host.key_rotation_requested_at
    if requested is not None and row.created_at >= requested:
        # The agent uses the key it got from the rotation: every other key stops working.
        session.execute(
            update(NodeKey)
            .where(NodeKey.host_id == host.id, NodeKey.id != row.id, NodeKey.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        host.key_rotation_requested_at = None
        row.last_used_at = now
    return host


def request_key_rotation(session: Session, principal: Principal, host_id: int, ip: str = "") -> datetime:
    """Ask the host's agent to fetch a new node key with its next report (issue 4: rotate)."""
    host = session.get(Host, host_id)
    if host is None or not principal.can_see_unit(host.unit_id) or host.status == "merged":
        raise NotFound(f"no host {host_id}", "unknown_host")
    if not principal.can_manage_unit(host.unit_id):
        raise Forbidden("your role may not rotate keys of this host")
    if host.source != "agent":
        raise Conflict("this record has no agent and no node key", "no_agent")
    host.key_rotation_requested_at = host.key_rotation_requested_at or utcnow()
    record(
        session,
        principal.username,
        "node_key.rotate_requested",
        f"host:{host.id}",
        {"hostname": host.hostname},
        ip,
        principal.user_id,
    )
    session.commit()
    return host.key_rotation_requested_at


def rotate_node_key(session: Session, host_id: int, ip: str = "") -> NodeKeyRotation:
    """A new key for an agent whose admin asked for one. The key the agent holds stays valid until
    the new one is first used, so an answer lost on the way is simply asked for again (the keys
    handed out before and never used are revoked then)."""
    host = session.get_one(Host, host_id)
    requested = host.key_rotation_requested_at
    if requested is None:
        raise Conflict("no key rotation was requested for this host", "no_rotation_requested")
    session.execute(
        update(NodeKey)
        .where(
            NodeKey.host_id == host.id,
            NodeKey.revoked_at.is_(None),
            NodeKey.created_at >= requested,
            NodeKey.last_used_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    key = new_node_key()
    session.add(NodeKey(host_id=host.id, key_hash=hash_token(key)))
    record(session, f"agent:{host.agent_id}", "node_key.rotated", f"host:{host.id}", {}, ip)
    session.commit()
    return NodeKeyRotation(node_key=key)


def revoke_host_keys(session: Session, principal: Principal, host_id: int, ip: str = "") -> int:
    """Revoke every active node key of a host: its agent stops sending until enrolled again."""
    host = session.get(Host, host_id)
    if host is None or not principal.can_see_unit(host.unit_id):
        raise NotFound(f"no host {host_id}", "unknown_host")
    if not principal.can_manage_unit(host.unit_id):
        raise Forbidden("your role may not revoke keys of this host")
    result = session.execute(
        update(NodeKey)
        .where(NodeKey.host_id == host.id, NodeKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    record(
        session,
        principal.username,
        "node_key.revoke",
        f"host:{host.id}",
        {"hostname": host.hostname, "keys": count},
        ip,
        principal.user_id,
    )
    session.commit()
    return count
