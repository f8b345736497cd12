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
from collector.services.errors import Forbidden, Invalid, Unauthorized
from collector.services.org import subtree_ids, unit_by_code
from collector.settings import Settings

__all__ = [
    "ROLES",
    "Principal",
    "SecondFactorRequired",
    "check_password_strength",
    "create_user",
    "ensure_writer",
    "finish_second_step",
    "generate_password",
    "hash_password",
    "hash_token",
    "login",
    "logout",
    "principal_for_token",
    "principal_for_user",
    "same_token",
    "start_second_step",
    "ticket_csrf",
    "verify_password",
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


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    return _verify(user.password_hash, password)


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
    via: str = "session"  # "session" (login) or "token" (an API token for automation)

    @property
    def city_wide(self) -> bool:
        return self.visible_units is None

    @property
    def read_only(self) -> bool:
        """Auditors and inspectors (and admins of nothing) change nothing."""
        return self.managed_units is not None and not self.managed_units

    def can_see_unit(self, unit_id: int) -> bool:
        return self.visible_units is None or unit_id in self.visible_units

    def can_manage_unit(self, unit_id: int) -> bool:
        """City and district admins change things in their subtree; auditors and inspectors do not."""
        return self.managed_units is None or unit_id in self.managed_units


def principal_for_user(session: Session, user: User, csrf: str = "", via: str = "session") -> Principal:
    """The principal of an account: its grants and the units they reach."""
    return _principal(session, user, csrf, via)


def ensure_writer(principal: Principal) -> None:
    """Refuse every change to auditors and inspectors (read-only roles), with a clear message."""
    if principal.read_only:
        raise Forbidden(
            "your role is read-only (auditor or inspector): you can look, not change anything", "read_only"
        )


def _principal(session: Session, user: User, csrf: str, via: str = "session") -> Principal:
    grants = tuple((g.role, g.unit_id) for g in user.grants)
    roots = {unit_id for _role, unit_id in grants}
    city_wide = any(g.role == "city_admin" and g.unit.parent_id is None for g in user.grants)
    visible = None if city_wide else frozenset(subtree_ids(session, roots))
    admin_roots = {unit_id for role, unit_id in grants if role in ("city_admin", "district_admin")}
    managed = None if city_wide else frozenset(subtree_ids(session, admin_roots))
    return Principal(user.id, user.username, grants, visible, csrf, managed, via)


class SecondFactorRequired(Unauthorized):
    """The password was right and the account has TOTP on: a code is needed to finish."""

    code = "totp_required"

    def __init__(self, user_id: int) -> None:
        super().__init__("this account needs a code from its authenticator app (totp_code)")
        self.user_id = user_id


def _refused(settings: Settings) -> Unauthorized:
    return Unauthorized(
        f"wrong user name or password (after {settings.lockout_threshold} failures an account is "
        f"locked for {settings.lockout_minutes} minutes)",
        "invalid_credentials",
    )


def _count_attempt(session: Session, user: User) -> int:
    """Count the attempt before the slow check, in its own committed transaction (the row
    lock serialises it), so parallel guesses cannot all slip under the threshold."""
    session.execute(update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1))
    attempt = int(session.scalar(select(User.failed_logins).where(User.id == user.id)) or 0)
    session.commit()
    return attempt


def _fail(
    session: Session, settings: Settings, user: User, attempt: int, now: datetime, ip: str, why: str
) -> None:
    detail: dict[str, object] = {"failures": attempt, "reason": why}
    if attempt >= settings.lockout_threshold:
        locked_until = now + timedelta(minutes=settings.lockout_minutes)
        session.execute(
            update(User).where(User.id == user.id).values(locked_until=locked_until, failed_logins=0)
        )
        detail["locked_until"] = locked_until.isoformat()
    record(session, user.username, "auth.login_failed", "", detail, ip, user.id)
    session.commit()  # the failure count must survive the error answer


def _usable_user(
    session: Session, settings: Settings, username: str, secret: str, now: datetime, ip: str
) -> User:
    """The active, unlocked account of that name, or the one refusal for every other case."""
    valid_name = _USERNAME.fullmatch(username) is not None
    user = session.scalar(select(User).where(User.username == username)) if valid_name else None
    if user is None or not user.is_active:
        _dummy_verify(secret)  # the same work as for a real account: timing reveals no user names
        shown = username if valid_name else "(not a user name)"
        record(session, shown[:64], "auth.login_failed", "", {"reason": "unknown user"}, ip)
        session.commit()
        raise _refused(settings)
    if user.locked_until and user.locked_until > now:
        _dummy_verify(secret)  # a locked account answers exactly like a wrong password
        record(session, user.username, "auth.login_locked", "", {}, ip, user.id)
        session.commit()
        raise _refused(settings)
    return user


def _open_session(
    session: Session, settings: Settings, user: User, now: datetime, ip: str, user_agent: str
) -> tuple[str, AuthSession]:
    session.refresh(user)
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
    record(session, user.username, "auth.login", "", {"second_factor": bool(user.totp_secret)}, ip, user.id)
    session.flush()
    return token, auth


def login(
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    *,
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
    totp_code: str | None = None,
) -> tuple[str, AuthSession]:
    """Check the password (and the TOTP code when the account has one) and open a session.
    Returns the (secret) token and the session. Wrong codes count towards the lockout.
    Raises SecondFactorRequired when the password is right but no code was sent."""
    from collector.services.totp import accept_code

    now = now or utcnow()
    user = _usable_user(session, settings, username, password, now, ip)
    attempt = _count_attempt(session, user)
    ok = attempt <= settings.lockout_threshold and _verify(user.password_hash, password)
    if not ok:
        _fail(session, settings, user, attempt, now, ip, "password")
        raise _refused(settings)
    session.refresh(user)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    if user.totp_secret:
        if not totp_code:
            session.commit()  # the attempt stays counted until the code is given
            raise SecondFactorRequired(user.id)
        if not accept_code(session, user, totp_code, now=now):
            _fail(session, settings, user, attempt, now, ip, "totp")
            raise _refused(settings)
    return _open_session(session, settings, user, now, ip, user_agent)


_TICKET_MARK = "totp:"  # an AuthSession whose csrf starts with this is a half-finished login
_TICKET_MINUTES = 5


def start_second_step(
    session: Session, user_id: int, ip: str = "", now: datetime | None = None
) -> tuple[str, str]:
    """After the right password on the login page: a short-lived ticket (kept in the database,
    so any collector process can finish the login) and the CSRF token of the code form.
    A ticket is never accepted as a session."""
    now = now or utcnow()
    ticket = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    session.add(
        AuthSession(
            token_hash=hash_token(ticket),
            user_id=user_id,
            csrf_token=_TICKET_MARK + csrf,
            created_at=now,
            expires_at=now + timedelta(minutes=_TICKET_MINUTES),
            last_seen_at=now,
            ip=ip[:64],
        )
    )
    session.flush()
    return ticket, csrf


def ticket_csrf(session: Session, ticket: str, now: datetime | None = None) -> str | None:
    """The CSRF token of a live login ticket, or None."""
    row = _ticket(session, ticket, now or utcnow())
    return row.csrf_token[len(_TICKET_MARK) :] if row else None


def _ticket(session: Session, ticket: str, now: datetime) -> AuthSession | None:
    row = session.scalar(select(AuthSession).where(AuthSession.token_hash == hash_token(ticket)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return row if row.csrf_token.startswith(_TICKET_MARK) else None


def finish_second_step(
    session: Session,
    settings: Settings,
    ticket: str,
    code: str,
    *,
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> tuple[str, AuthSession]:
    """The code for a login ticket: a real session, or the refusal (wrong codes count)."""
    from collector.services.totp import accept_code

    now = now or utcnow()
    row = _ticket(session, ticket, now)
    if row is None:
        raise Unauthorized("the login expired; enter your password again", "login_expired")
    user = row.user
    if not user.is_active or (user.locked_until and user.locked_until > now) or not user.totp_secret:
        row.revoked_at = now
        session.commit()
        raise _refused(settings)
    attempt = _count_attempt(session, user)
    if attempt > settings.lockout_threshold or not accept_code(session, user, code, now=now):
        row.revoked_at = now
        _fail(session, settings, user, attempt, now, ip, "totp")
        raise _refused(settings)
    row.revoked_at = now
    return _open_session(session, settings, user, now, ip, user_agent)


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
    if auth.csrf_token.startswith(_TICKET_MARK):  # a half-finished login is no session
        raise Unauthorized("not logged in or session expired", "not_authenticated")
    if not auth.user.is_active:
        raise Unauthorized("account disabled", "not_authenticated")
    if (now - auth.last_seen_at).total_seconds() > 60:
        auth.last_seen_at = now
    return _principal(session, auth.user, auth.csrf_token)
