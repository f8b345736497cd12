"""Admin accounts: argon2id hashes, lockout, database-backed sessions, unit scope (A9-G)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import AuthSession, RoleGrant, User
from collector.services.audit import record
from collector.services.errors import Invalid, Unauthorized
from collector.services.org import subtree_ids, unit_by_code
from collector.settings import Settings

__all__ = [
    "ROLES",
    "Principal",
    "check_password_strength",
    "create_user",
    "generate_password",
    "hash_token",
    "login",
    "logout",
    "principal_for_token",
    "same_token",
]

ROLES = ("city_admin", "district_admin", "auditor", "inspector")
_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
_DUMMY_HASH = _hasher.hash("watchpost-timing-equaliser")


_USERNAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy_verify(password: str) -> None:
    _verify(_DUMMY_HASH, password)


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison that accepts any text (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


def hash_token(token: str) -> str:
    """Tokens are 256-bit random values, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_password(length: int = 20) -> str:
    """A random password with letters, digits and a symbol, easy to copy."""
    alphabet = string.ascii_letters + string.digits
    while True:
        body = "".join(secrets.choice(alphabet) for _ in range(length - 1))
        candidate = body[: length // 2] + secrets.choice("-_.") + body[length // 2 :]
        if check_password_strength(candidate, "") is None:
            return candidate


def check_password_strength(password: str, username: str) -> str | None:
    """Why a password is too weak for an admin account, or None when it is acceptable."""
    if len(password) < 12:
        return "at least 12 characters"
    classes = sum(
        any(c in group for c in password)
        for group in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    ) + any(not c.isalnum() for c in password)
    if classes < 3:
        return "at least three of: lower case, upper case, digits, symbols"
    if username and username.lower() in password.lower():
        return "must not contain the user name"
    if len(set(password)) < 6:
        return "too few distinct characters"
    return None


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    role: str,
    unit_code: str,
    display_name: str = "",
    actor: str = "system",
) -> User:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", "unknown_role")
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "").replace("_", "").replace("-", "").isalnum()
    ):
        raise Invalid("user name: 1-64 letters, digits, '.', '_' or '-'", "invalid_username")
    weakness = check_password_strength(password, username)
    if weakness:
        raise Invalid(f"password too weak: {weakness}", "weak_password")
    if session.scalar(select(User).where(User.username == username)):
        raise Invalid(f"user {username!r} exists already", "user_exists")
    unit = unit_by_code(session, unit_code)
    user = User(username=username, display_name=display_name, password_hash=_hasher.hash(password))
    user.grants.append(RoleGrant(unit_id=unit.id, role=role))
    session.add(user)
    session.flush()
    record(session, actor, "user.create", f"user:{username}", {"role": role, "unit": unit_code})
    return user


@dataclass(frozen=True)
class Principal:
    """Who is asking, and which units they may see (None: every unit)."""

    user_id: int
    username: str
    roles: tuple[tuple[str, int], ...]
    visible_units: frozenset[int] | None
    csrf_token: str = ""
    managed_units: frozenset[int] | None = frozenset()

    def can_see_unit(self, unit_id: int) -> bool:
        return self.visible_units is None or unit_id in self.visible_units

    def can_manage_unit(self, unit_id: int) -> bool:
        """City and district admins change things in their subtree; auditors and inspectors do not."""
        return self.managed_units is None or unit_id in self.managed_units


def _principal(session: Session, user: User, csrf: str) -> Principal:
    grants = tuple((g.role, g.unit_id) for g in user.grants)
    roots = {unit_id for _role, unit_id in grants}
    city_wide = any(g.role == "city_admin" and g.unit.parent_id is None for g in user.grants)
    visible = None if city_wide else frozenset(subtree_ids(session, roots))
    admin_roots = {unit_id for role, unit_id in grants if role in ("city_admin", "district_admin")}
    managed = None if city_wide else frozenset(subtree_ids(session, admin_roots))
    return Principal(user.id, user.username, grants, visible, csrf, managed)


def login(
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    *,
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> tuple[str, AuthSession]:
    """Check the password and open a session. Returns the (secret) token and the session."""
    now = now or utcnow()
    refused = Unauthorized(
        f"wrong user name or password (after {settings.lockout_threshold} failures an account is "
        f"locked for {settings.lockout_minutes} minutes)",
        "invalid_credentials",
    )
    valid_name = _USERNAME.fullmatch(username) is not None
    user = session.scalar(select(User).where(User.username == username)) if valid_name else None
    if user is None or not user.is_active:
        _dummy_verify(password)  # the same work as for a real account: timing reveals no user names
        shown = username if valid_name else "(not a user name)"
        record(session, shown[:64], "auth.login_failed", "", {"reason": "unknown user"}, ip)
        session.commit()
        raise refused
    if user.locked_until and user.locked_until > now:
        _dummy_verify(password)  # a locked account answers exactly like a wrong password
        record(session, user.username, "auth.login_locked", "", {}, ip, user.id)
        session.commit()
        raise refused
    # Count the attempt before the slow check, in its own committed transaction (the row
    # lock serialises it), so parallel guesses cannot all slip under the threshold.
    session.execute(update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1))
    attempt = int(session.scalar(select(User.failed_logins).where(User.id == user.id)) or 0)
    session.commit()
    ok = attempt <= settings.lockout_threshold and _verify(user.password_hash, password)
    if not ok:
        detail: dict[str, object] = {"failures": attempt}
        if attempt >= settings.lockout_threshold:
            locked_until = now + timedelta(minutes=settings.lockout_minutes)
            session.execute(
                update(User).where(User.id == user.id).values(locked_until=locked_until, failed_logins=0)
            )
            detail["locked_until"] = locked_until.isoformat()
        record(session, user.username, "auth.login_failed", "", detail, ip, user.id)
        session.commit()  # the failure count must survive the error answer
        raise refused
    session.refresh(user)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    token = secrets.token_urlsafe(32)
    auth = AuthSession(
        token_hash=hash_token(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + timedelta(hours=settings.session_hours),
        last_seen_at=now,
        ip=ip[:64],
        user_agent=user_agent[:255],
    )
    session.add(auth)
    record(session, user.username, "auth.login", "", {}, ip, user.id)
    session.flush()
    return token, auth


def logout(session: Session, token: str) -> None:
    auth = session.scalar(select(AuthSession).where(AuthSession.token_hash == hash_token(token)))
    if auth is not None and auth.revoked_at is None:
        auth.revoked_at = utcnow()
        record(session, auth.user.username, "auth.logout", "", {}, auth.ip, auth.user_id)


def principal_for_token(session: Session, token: str, now: datetime | None = None) -> Principal:
    now = now or utcnow()
    auth = session.scalar(select(AuthSession).where(AuthSession.token_hash == hash_token(token)))
    if auth is None or auth.revoked_at is not None or auth.expires_at <= now:
        raise Unauthorized("not logged in or session expired", "not_authenticated")
    if not auth.user.is_active:
        raise Unauthorized("account disabled", "not_authenticated")
    if (now - auth.last_seen_at).total_seconds() > 60:
        auth.last_seen_at = now
    return _principal(session, auth.user, auth.csrf_token)
