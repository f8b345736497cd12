"""Accounts and roles, managed within scope (A9-G).

- A user is *visible* to a principal when every unit the user holds a role on lies in the
  principal's visible units, and *manageable* when every such unit lies in the units the
  principal administers. City admins see and manage everyone; a district admin manages the
  users whose roles are all inside their subtree; auditors and inspectors manage nobody.
- A user outside the caller's view answers exactly like a missing one (404).
- Nobody manages their own account here (that is /account), so an admin cannot lock
  themselves out by accident; a user keeps at least one role (disable the account instead).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from collector.db.base import utcnow
from collector.db.models import AuthSession, RoleGrant, Unit, User
from collector.services.audit import record
from collector.services.auth import (
    ROLES,
    Principal,
    check_password_strength,
    ensure_writer,
    generate_password,
    hash_password,
    hash_token,
    verify_password,
)
from collector.services.errors import Conflict, Forbidden, Invalid, NotFound

__all__ = [
    "GrantSpec",
    "UserPage",
    "add_grants",
    "change_own_password",
    "create_account",
    "get_user",
    "list_users",
    "own_account",
    "reset_password",
    "reset_totp",
    "revoke_grant",
    "set_active",
    "unlock",
    "visible_user",
]

_USERNAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class GrantSpec:
    role: str
    unit_code: str


@dataclass(frozen=True)
class UserPage:
    total: int
    items: list[User]


def _units_of(user: User) -> set[int]:
    return {g.unit_id for g in user.grants}


def visible_user(principal: Principal, user: User) -> bool:
    if user.id == principal.user_id or principal.visible_units is None:
        return True
    units = _units_of(user)
    return bool(units) and units <= principal.visible_units


def _manageable(principal: Principal, user: User) -> bool:
    if principal.managed_units is None:
        return True
    units = _units_of(user)
    return bool(units) and units <= principal.managed_units


def get_user(session: Session, principal: Principal, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not visible_user(principal, user):
        raise NotFound(f"no user {user_id}", "unknown_user")
    return user


def _managed_user(session: Session, principal: Principal, user_id: int) -> User:
    """The user, if the caller may change this account; 404 when it is outside their view."""
    user = get_user(session, principal, user_id)
    ensure_writer(principal)
    if user.id == principal.user_id:
        raise Forbidden("change your own account on your account page (/account)", "own_account")
    if not _manageable(principal, user):
        raise Forbidden("this account has roles outside the units you administer", "not_your_user")
    return user


def list_users(
    session: Session,
    principal: Principal,
    *,
    text: str = "",
    role: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> UserPage:
    """Accounts the caller can see, by user name. There are tens of accounts, not thousands:
    the scope test runs on the loaded grants."""
    query = (
        select(User).options(selectinload(User.grants).selectinload(RoleGrant.unit)).order_by(User.username)
    )
    found = [u for u in session.scalars(query) if visible_user(principal, u)]
    if text:
        needle = text.lower()
        found = [u for u in found if needle in u.username.lower() or needle in u.display_name.lower()]
    if role:
        found = [u for u in found if any(g.role == role for g in u.grants)]
    start = (page - 1) * per_page
    return UserPage(len(found), found[start : start + per_page])


def _grant_unit(session: Session, principal: Principal, spec: GrantSpec) -> Unit:
    if spec.role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", "unknown_role")
    unit = session.scalar(select(Unit).where(Unit.code == spec.unit_code))
    if unit is None or not principal.can_see_unit(unit.id):
        raise NotFound(f"no unit with code {spec.unit_code!r}", "unknown_unit")
    if not principal.can_manage_unit(unit.id):
        raise Forbidden(f"you do not administer unit {spec.unit_code}", "not_your_unit")
    if spec.role == "city_admin":
        if not principal.city_wide:
            raise Forbidden("only a city admin grants the city admin role", "not_city_admin")
        if unit.parent_id is not None:
            raise Invalid(
                "city_admin is granted on the city bureau only; use district_admin", "invalid_grant"
            )
    return unit


def _check_password(password: str, username: str) -> None:
    weakness = check_password_strength(password, username)
    if weakness:
        raise Invalid(f"password too weak: {weakness}", "weak_password")


def create_account(
    session: Session,
    principal: Principal,
    username: str,
    grants: Sequence[GrantSpec],
    *,
    display_name: str = "",
    password: str | None = None,
    ip: str = "",
) -> tuple[User, str | None]:
    """A new account with one or more roles. Returns the user and the generated password
    (None when the caller chose one): it is shown once and never stored in clear."""
    ensure_writer(principal)
    if not _USERNAME.fullmatch(username):
        raise Invalid("user name: 1-64 letters, digits, '.', '_' or '-'", "invalid_username")
    if not grants:
        raise Invalid("give the account at least one role", "no_roles")
    units = [_grant_unit(session, principal, spec) for spec in grants]
    generated = None
    if password is None:
        password = generated = generate_password()
    _check_password(password, username)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} exists already", "user_exists")
    user = User(username=username, display_name=display_name, password_hash=hash_password(password))
    for spec, unit in {(s.role, u.id): (s, u) for s, u in zip(grants, units, strict=True)}.values():
        user.grants.append(RoleGrant(unit_id=unit.id, role=spec.role))
    session.add(user)
    session.flush()
    roles = [{"role": s.role, "unit": s.unit_code} for s in grants]
    record(
        session,
        principal.username,
        "user.create",
        f"user:{username}",
        {"roles": roles},
        ip,
        principal.user_id,
    )
    session.commit()
    return user, generated


def add_grants(
    session: Session, principal: Principal, user_id: int, grants: Iterable[GrantSpec], ip: str = ""
) -> User:
    user = _managed_user(session, principal, user_id)
    held = {(g.role, g.unit_id) for g in user.grants}
    added = []
    for spec in grants:
        unit = _grant_unit(session, principal, spec)
        if (spec.role, unit.id) not in held:
            user.grants.append(RoleGrant(unit_id=unit.id, role=spec.role))
            held.add((spec.role, unit.id))
            added.append({"role": spec.role, "unit": unit.code})
    if added:
        record(
            session,
            principal.username,
            "user.grant",
            f"user:{user.username}",
            {"added": added},
            ip,
            principal.user_id,
        )
    session.commit()
    return user


def revoke_grant(session: Session, principal: Principal, user_id: int, grant_id: int, ip: str = "") -> User:
    user = _managed_user(session, principal, user_id)
    grant = next((g for g in user.grants if g.id == grant_id), None)
    if grant is None:
        raise NotFound(f"no role {grant_id} on user {user_id}", "unknown_grant")
    if len(user.grants) == 1:
        raise Conflict("this is the account's last role: disable the account instead", "last_role")
    detail = {"role": grant.role, "unit": grant.unit.code}
    user.grants.remove(grant)
    record(
        session,
        principal.username,
        "user.revoke_role",
        f"user:{user.username}",
        detail,
        ip,
        principal.user_id,
    )
    session.commit()
    return user


def _end_sessions(session: Session, user_id: int, keep_token: str | None = None) -> None:
    query = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if keep_token:
        query = query.where(AuthSession.token_hash != hash_token(keep_token))
    session.execute(query.values(revoked_at=utcnow()))


def set_active(session: Session, principal: Principal, user_id: int, active: bool, ip: str = "") -> User:
    """Disable (sessions end, API tokens stop working) or enable an account."""
    user = _managed_user(session, principal, user_id)
    if user.is_active != active:
        user.is_active = active
        if not active:
            _end_sessions(session, user.id)
        action = "user.enable" if active else "user.disable"
        record(session, principal.username, action, f"user:{user.username}", {}, ip, principal.user_id)
    session.commit()
    return user


def reset_password(session: Session, principal: Principal, user_id: int, ip: str = "") -> tuple[User, str]:
    """A new generated password, shown once; the user's sessions end and a lockout is lifted."""
    user = _managed_user(session, principal, user_id)
    password = generate_password()
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.failed_logins = 0
    user.locked_until = None
    _end_sessions(session, user.id)
    record(
        session, principal.username, "user.reset_password", f"user:{user.username}", {}, ip, principal.user_id
    )
    session.commit()
    return user, password


def unlock(session: Session, principal: Principal, user_id: int, ip: str = "") -> User:
    user = _managed_user(session, principal, user_id)
    was = user.locked_until.isoformat() if user.locked_until else None
    user.failed_logins = 0
    user.locked_until = None
    record(
        session,
        principal.username,
        "user.unlock",
        f"user:{user.username}",
        {"locked_until": was},
        ip,
        principal.user_id,
    )
    session.commit()
    return user


def reset_totp(session: Session, principal: Principal, user_id: int, ip: str = "") -> User:
    """Remove another user's second factor (lost phone): they log in with the password and can
    enrol again."""
    user = _managed_user(session, principal, user_id)
    had = bool(user.totp_secret)
    user.totp_secret = None
    user.totp_pending = None
    record(
        session,
        principal.username,
        "user.reset_totp",
        f"user:{user.username}",
        {"had_totp": had},
        ip,
        principal.user_id,
    )
    session.commit()
    return user


def own_account(session: Session, principal: Principal) -> User:
    """The caller's own account, for changes that need a password login (not an API token)."""
    if principal.via != "session":
        raise Forbidden("API tokens cannot change the account: log in with your password", "session_required")
    user = session.get(User, principal.user_id)
    if user is None:
        raise NotFound("no such account", "unknown_user")
    return user


def change_own_password(
    session: Session,
    principal: Principal,
    current: str,
    new: str,
    *,
    keep_token: str | None = None,
    ip: str = "",
) -> None:
    """Change one's own password (the current one proves it is you); other sessions end."""
    user = own_account(session, principal)
    if not verify_password(user, current):
        record(
            session, user.username, "account.password_change_failed", f"user:{user.username}", {}, ip, user.id
        )
        session.commit()
        raise Invalid("the current password is wrong", "wrong_password")
    _check_password(new, user.username)
    if new == current:
        raise Invalid("the new password must differ from the current one", "same_password")
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    _end_sessions(session, user.id, keep_token)
    record(session, user.username, "account.password_change", f"user:{user.username}", {}, ip, user.id)
    session.commit()
