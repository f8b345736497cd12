"""API tokens for automation: ``wpt_`` + 256 random bits, shown once; only the SHA-256 and a
short prefix (to tell tokens apart in lists) are stored. A token acts with its owner's roles
at the moment of use, and stops working when it expires, is revoked or the owner is disabled."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import ApiToken, User
from collector.services.audit import record
from collector.services.auth import Principal, hash_token, principal_for_user
from collector.services.errors import Forbidden, Invalid, NotFound, Unauthorized

__all__ = [
    "TOKEN_PREFIX",
    "NewToken",
    "create_token",
    "is_api_token",
    "list_tokens",
    "principal_for_api_token",
    "revoke_token",
]

TOKEN_PREFIX = "wpt_"  # noqa: S105 - a prefix, not a secret
_SHOWN = 12  # "wpt_" and 8 characters of the random part
_MAX_ACTIVE = 50


@dataclass(frozen=True)
class NewToken:
    token: str
    row: ApiToken


def is_api_token(bearer: str) -> bool:
    return bearer.startswith(TOKEN_PREFIX)


def _session_only(principal: Principal) -> None:
    if principal.via != "session":
        raise Forbidden("API tokens cannot manage API tokens: log in with your password", "session_required")


def create_token(
    session: Session, principal: Principal, name: str, expires_days: int | None, ip: str = ""
) -> NewToken:
    _session_only(principal)
    name = name.strip()
    if not name:
        raise Invalid("give the token a name (what uses it)", "invalid_token_name")
    active = session.scalars(
        select(ApiToken.id).where(ApiToken.user_id == principal.user_id, ApiToken.revoked_at.is_(None))
    ).all()
    if len(active) >= _MAX_ACTIVE:
        raise Invalid(f"at most {_MAX_ACTIVE} active tokens per account: revoke old ones", "too_many_tokens")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        user_id=principal.user_id,
        name=name[:128],
        token_hash=hash_token(token),
        prefix=token[:_SHOWN],
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(row)
    session.flush()
    record(
        session,
        principal.username,
        "api_token.create",
        f"user:{principal.username}",
        {"token_id": row.id, "name": row.name, "prefix": row.prefix, "expires_at": _iso(row.expires_at)},
        ip,
        principal.user_id,
    )
    session.commit()
    return NewToken(token, row)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def list_tokens(session: Session, principal: Principal) -> Sequence[ApiToken]:
    """The caller's own tokens, newest first (revoked ones included, for the record)."""
    return session.scalars(
        select(ApiToken).where(ApiToken.user_id == principal.user_id).order_by(ApiToken.id.desc())
    ).all()


def revoke_token(session: Session, principal: Principal, token_id: int, ip: str = "") -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != principal.user_id:
        raise NotFound(f"no API token {token_id}", "unknown_token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record(
            session,
            principal.username,
            "api_token.revoke",
            f"user:{principal.username}",
            {"token_id": row.id, "prefix": row.prefix},
            ip,
            principal.user_id,
        )
    session.commit()
    return row


def principal_for_api_token(session: Session, token: str, now: datetime | None = None) -> Principal:
    now = now or utcnow()
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise Unauthorized("unknown, expired or revoked API token", "not_authenticated")
    user: User = row.user
    if not user.is_active:
        raise Unauthorized("account disabled", "not_authenticated")
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
    return principal_for_user(session, user, via="token")
