"""Findings: what people do (issue 5; A9-M3.5, P-16, A9-G). Every transition is a FindingEvent
with the actor and an audit entry (target ``host:<id>``, or ``unit:<code>`` for a unit-level
finding, so the audit log's scope rules apply).

| action | from | to | who |
|---|---|---|---|
| assign (assignee) | open, assigned | assigned | admins managing the unit |
| claim (note) | open, assigned | rectified | admins |
| verify accept | rectified | verified | admins and inspectors over the unit, not the claimer |
| verify reject (note) | rectified | assigned / open | admins and inspectors |
| close (note, unless verified) | any live | closed | admins |
| reopen (note) | verified, closed | open | admins |
| exempt (reason, expiry) | open, assigned | unchanged, request pending | admins |
| approve_exemption | pending request | exempted | admins, not the requester |
| reject_exemption (note) | pending request | unchanged | admins |
| note (note) | any | unchanged | admins |

A finding outside the caller's view answers 404 like a missing one; auditors (and inspectors,
except for verify) get 403. Bulk actions apply one action to many findings all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.models import Unit, User
from collector.db.models_policy import Finding, FindingEvent
from collector.services import inbox
from collector.services.audit import record
from collector.services.auth import Principal
from collector.services.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from collector.services.findings import LIVE, WORKING, key_of, record_event, reopen, set_status, tell
from collector.services.org import subtree_ids
from collector.services.users import visible_user

__all__ = [
    "ACTIONS",
    "BULK_ACTIONS",
    "MAX_EXEMPTION_DAYS",
    "ActionInput",
    "BulkRejected",
    "act",
    "assignable_users",
    "bulk",
    "can_verify",
    "exemption_pending",
    "exemption_requester",
    "finding_for_read",
]

ACTIONS = (
    "assign",
    "claim",
    "verify",
    "close",
    "reopen",
    "exempt",
    "approve_exemption",
    "reject_exemption",
    "note",
)
BULK_ACTIONS = ("assign", "close", "exempt", "approve_exemption")
MAX_EXEMPTION_DAYS = 366
MAX_BULK = 500


@dataclass(frozen=True)
class ActionInput:
    note: str = ""
    assignee_id: int | None = None
    accept: bool = True
    reason: str = ""
    expires_at: datetime | None = None


class BulkRejected(DomainError):
    """Some findings of a bulk action could not take it: nothing was changed."""

    status = 422
    code = "bulk_rejected"

    def __init__(self, errors: list[tuple[int, str, str]]) -> None:
        super().__init__(f"{len(errors)} finding(s) cannot take this action; nothing was changed")
        self.errors = errors


# -- scope --------------------------------------------------------------------------------------
def finding_for_read(session: Session, principal: Principal, finding_id: int) -> Finding:
    finding = session.get(Finding, finding_id)
    if finding is None or not principal.can_see_unit(finding.unit_id):
        raise NotFound(f"no finding {finding_id}", "unknown_finding")
    return finding


def _ensure_manager(principal: Principal, finding: Finding) -> None:
    if principal.read_only:
        raise Forbidden(
            "your role is read-only (auditor or inspector): you can look, not change anything", "read_only"
        )
    if not principal.can_manage_unit(finding.unit_id):
        raise Forbidden("your role may not change findings of this unit", "not_manager")


def can_verify(session: Session, principal: Principal, unit_id: int) -> bool:
    """Admins managing the unit, and inspectors whose grant covers it."""
    if principal.can_manage_unit(unit_id) and not principal.read_only:
        return True
    roots = {unit for role, unit in principal.roles if role == "inspector"}
    return bool(roots) and unit_id in subtree_ids(session, roots)


def _last_actor(session: Session, finding: Finding, action: str) -> int | None:
    return session.scalar(
        select(FindingEvent.actor_id)
        .where(FindingEvent.finding_id == finding.id, FindingEvent.action == action)
        .order_by(FindingEvent.id.desc())
        .limit(1)
    )


def exemption_pending(finding: Finding) -> bool:
    return finding.status in WORKING and bool(finding.exemption_reason)


def exemption_requester(session: Session, finding: Finding) -> int | None:
    return _last_actor(session, finding, "exemption_requested") if exemption_pending(finding) else None


def assignable_users(session: Session, principal: Principal, unit_id: int) -> list[User]:
    """Active admins managing the unit whom the caller can see."""
    ids = inbox.admins_of_unit(session, unit_id)
    users = session.scalars(select(User).where(User.id.in_(ids)).order_by(User.username)).all()
    return [u for u in users if visible_user(principal, u)]


# -- the transitions ----------------------------------------------------------------------------
def _wrong(finding: Finding, action: str, allowed: Iterable[str]) -> Conflict:
    return Conflict(
        f"finding {finding.id} is {finding.status}: {action} needs a finding that is {' or '.join(allowed)}",
        "bad_transition",
    )


def _need(finding: Finding, action: str, allowed: tuple[str, ...]) -> None:
    if finding.status not in allowed:
        raise _wrong(finding, action, allowed)


def _note(given: ActionInput, what: str) -> str:
    text = given.note.strip()
    if not text:
        raise Invalid(f"{what} needs a note", "note_required")
    return text


def _assign(
    session: Session, principal: Principal, f: Finding, given: ActionInput, at: datetime
) -> dict[str, Any]:
    _need(f, "assign", WORKING)
    user = session.get(User, given.assignee_id) if given.assignee_id else None
    if user is None or user.id not in {u.id for u in assignable_users(session, principal, f.unit_id)}:
        raise Invalid(f"no assignable admin with id {given.assignee_id} for this unit", "bad_assignee")
    f.assignee_id = user.id
    set_status(session, f, "assigned", "assigned", at, actor_id=principal.user_id, note=given.note.strip(),
               data={"assignee": user.username})  # fmt: skip
    if user.id != principal.user_id:
        tell(session, f, "finding_assigned", [user.id], at)
    return {"assignee": user.username}


def _claim(
    session: Session, principal: Principal, f: Finding, given: ActionInput, at: datetime
) -> dict[str, Any]:
    _need(f, "claim", WORKING)
    set_status(
        session, f, "rectified", "claimed", at, actor_id=principal.user_id, note=_note(given, "a claim")
    )
    users = [u for u in inbox.verifiers_of_unit(session, f.unit_id) if u != principal.user_id]
    tell(session, f, "claim_pending", users, at)
    return {}


def _verify(
    session: Session, principal: Principal, f: Finding, given: ActionInput, at: datetime
) -> dict[str, Any]:
    _need(f, "verify", ("rectified",))
    if given.accept:
        if _last_actor(session, f, "claimed") == principal.user_id:
            raise Conflict("the one who claimed the rectification cannot verify it", "own_claim")
        set_status(
            session, f, "verified", "verified", at, actor_id=principal.user_id, note=given.note.strip()
        )
        if f.assignee_id and f.assignee_id != principal.user_id:
            tell(session, f, "finding_verified", [f.assignee_id], at)
        else:
            tell(session, f, "finding_verified", [], at)
        return {"accepted": True}
    to = "assigned" if f.assignee_id else "open"
    claimer = _last_actor(session, f, "claimed")
    set_status(
        session, f, to, "claim_rejected", at, actor_id=principal.user_id, note=_note(given, "a rejection")
    )
    users = [u for u in (f.assignee_id, claimer) if u and u != principal.user_id]
    tell(session, f, "claim_rejected", users, at)
    return {"accepted": False}


def _close(
    session: Session, principal: Principal, f: Finding, given: ActionInput, at: datetime
) -> dict[str, Any]:
    _need(f, "close", LIVE)
    note = (
        given.note.strip()
        if f.status == "verified"
        else _note(given, "closing a finding that is not verified")
    )
    set_status(session, f, "closed", "closed", at, actor_id=principal.user_id, note=note)
    return {}


def _reopen(
    session: Session, principal: Principal, f: Finding, given: ActionInput, at: datetime
) -> dict[str, Any]:
    _need(f, "reopen", ("verified", "closed"))
    if f.status == "closed" and session.scalar(select(Finding.id).where(Finding.open_key == key_of(f))):
        raise Conflict("a newer finding of the same check is open; work on that one", "already_live")
    reopen(session, f, at, actor_id=principal.user_id, note=_note(given, "reopening"))
    return {}


def _exempt(
    session: Session, principal: Principal, f: Finding, given: ActionInput, at: datetime
) -> dict[str, Any]:
    _need(f, "an exemption request", WORKING)
    if exemption_pending(f):
        raise Conflict(f"finding {f.id} already has an exemption request waiting", "exemption_pending")
    reason = given.reason.strip()
    if not reason:
        raise Invalid("an exemption needs a reason", "reason_required")
    expires = given.expires_at
    if expires is None or expires <= at or expires > at + timedelta(days=MAX_EXEMPTION_DAYS):
        raise Invalid(f"an exemption needs an expiry within {MAX_EXEMPTION_DAYS} days from now", "bad_expiry")
    f.exemption_reason, f.exemption_expires_at, f.exemption_approver_id = reason, expires, None
    f.updated_at = at
    data = {"expires_at": expires.isoformat()}
    record_event(session, f, "exemption_requested", at, actor_id=principal.user_id, from_status=f.status,
                 note=reason, data=data)  # fmt: skip
    users = [u for u in inbox.admins_of_unit(session, f.unit_id) if u != principal.user_id]
    tell(session, f, "exemption_requested", users, at)
    return data


def _pending(f: Finding) -> None:
    if not exemption_pending(f):
        raise Conflict(f"finding {f.id} has no exemption request waiting", "no_exemption_request")


def _approve(
    session: Session, principal: Principal, f: Finding, given: ActionInput, at: datetime
) -> dict[str, Any]:
    _pending(f)
    if exemption_requester(session, f) == principal.user_id:
        raise Conflict("an exemption is approved by another admin than the one who asked", "own_request")
    if f.exemption_expires_at is None or f.exemption_expires_at <= at:
        raise Conflict("the requested expiry has passed; ask again", "request_expired")
    f.exemption_approver_id = principal.user_id
    set_status(session, f, "exempted", "exempted", at, actor_id=principal.user_id, note=given.note.strip(),
               data={"expires_at": f.exemption_expires_at.isoformat()})  # fmt: skip
    return {"expires_at": f.exemption_expires_at.isoformat()}


def _reject_exemption(
    session: Session, principal: Principal, f: Finding, given: ActionInput, at: datetime
) -> dict[str, Any]:
    _pending(f)
    requester = exemption_requester(session, f)
    f.exemption_reason, f.exemption_expires_at = "", None
    f.updated_at = at
    record_event(session, f, "exemption_rejected", at, actor_id=principal.user_id, from_status=f.status,
                 note=_note(given, "a rejection"))  # fmt: skip
    if requester and requester != principal.user_id:
        tell(session, f, "exemption_rejected", [requester], at)
    return {}


def _add_note(
    session: Session, principal: Principal, f: Finding, given: ActionInput, at: datetime
) -> dict[str, Any]:
    record_event(
        session, f, "note", at, actor_id=principal.user_id, from_status=f.status, note=_note(given, "a note")
    )
    f.updated_at = at
    return {}


_DO = {
    "assign": _assign,
    "claim": _claim,
    "verify": _verify,
    "close": _close,
    "reopen": _reopen,
    "exempt": _exempt,
    "approve_exemption": _approve,
    "reject_exemption": _reject_exemption,
    "note": _add_note,
}


def _target(session: Session, finding: Finding) -> str:
    if finding.host_id is not None:
        return f"host:{finding.host_id}"
    unit = session.get(Unit, finding.unit_id)
    return f"unit:{unit.code if unit else finding.unit_id}"


def _apply(
    session: Session,
    principal: Principal,
    finding_id: int,
    action: str,
    given: ActionInput,
    ip: str,
    at: datetime,
) -> Finding:
    if action not in _DO:
        raise Invalid(f"action must be one of {', '.join(ACTIONS)}", "bad_action")
    finding = finding_for_read(session, principal, finding_id)
    if action == "verify":
        if not can_verify(session, principal, finding.unit_id):
            raise Forbidden("only admins and inspectors of this unit verify rectification", "cannot_verify")
    else:
        _ensure_manager(principal, finding)
    before = finding.status
    detail = _DO[action](session, principal, finding, given, at)
    detail = {
        "finding": finding.id,
        "check": finding.check_id,
        "from": before,
        "to": finding.status,
        **detail,
    }
    record(
        session,
        principal.username,
        f"finding.{action}",
        _target(session, finding),
        detail,
        ip,
        principal.user_id,
    )
    return finding


def act(
    session: Session,
    principal: Principal,
    finding_id: int,
    action: str,
    given: ActionInput,
    *,
    ip: str = "",
    at: datetime,
) -> Finding:
    """One action on one finding, committed."""
    finding = _apply(session, principal, finding_id, action, given, ip, at)
    session.commit()
    return finding


def bulk(
    session: Session,
    principal: Principal,
    action: str,
    ids: Iterable[int],
    given: ActionInput,
    *,
    ip: str = "",
    at: datetime,
) -> list[Finding]:
    """One action on many findings, all or nothing: when any finding cannot take it, nothing
    changes and BulkRejected lists (id, error code, message) for each of those."""
    if action not in BULK_ACTIONS:
        raise Invalid(f"bulk action must be one of {', '.join(BULK_ACTIONS)}", "bad_action")
    if principal.read_only:
        raise Forbidden(
            "your role is read-only (auditor or inspector): you can look, not change anything", "read_only"
        )
    wanted = list(dict.fromkeys(ids))
    if not 1 <= len(wanted) <= MAX_BULK:
        raise Invalid(f"give 1 to {MAX_BULK} finding ids", "bad_ids")
    done: list[Finding] = []
    errors: list[tuple[int, str, str]] = []
    for finding_id in wanted:
        try:
            done.append(_apply(session, principal, finding_id, action, given, ip, at))
        except DomainError as exc:
            errors.append((finding_id, exc.code, exc.detail))
    if errors:
        session.rollback()
        raise BulkRejected(errors)
    session.commit()
    return done
