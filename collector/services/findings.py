"""Findings and their rectification (整改), the system side (issue 5; A9-M3.5, P-16, A9-T3.4).

The policy engine calls ``on_result`` for every evaluated host x check inside its own
transaction (never committing); unit-level checks call ``raise_unit_finding`` and
``resolve_unit_finding``. Human transitions are in findings_actions.py, lists in
findings_query.py, and the periodic work (``sweep``) is started by the pages router's lifespan.

Life cycle (docs/findings.md has the table):

    open -> assigned -> rectified (claimed) -> verified -> closed
      ^__________ a failing result reopens (reopen_count + 1) ________|
    open/assigned -> exempted (reason, approver, expiry) -> open again when it expires

Live statuses, with ``open_key`` set (one live finding per host x check x subject):
open, assigned, rectified, verified, exempted. ``closed`` is the only one that is not live
(``open_key`` null). A failing result finds the live finding by ``open_key``; without one, the
last closed finding of the same key is reopened rather than a new one made.

Automatic transitions (actor null in FindingEvent): a pass verifies an open, assigned, claimed or
exempted finding; a fail reopens a verified one and sends a claimed one back to assigned (open
when unassigned) as "verification_failed"; a fail while exempted keeps it exempted (evidence
refreshed) until the exemption expires; error and not_applicable change nothing. Overdue = due
date passed while open or assigned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from collector.db.models import Host, Unit
from collector.db.models_policy import CheckResult, Finding, FindingEvent
from collector.policy.meta import CheckMeta
from collector.services import inbox, notify
from collector.settings import Settings

__all__ = [
    "LIVE",
    "STATUSES",
    "UNRESOLVED",
    "WORKING",
    "close_host_findings",
    "expire_exemptions",
    "host_key",
    "is_overdue",
    "key_of",
    "labels",
    "mark_overdue",
    "on_result",
    "raise_unit_finding",
    "record_event",
    "reopen",
    "resolve_unit_finding",
    "set_status",
    "sweep",
    "tell",
    "unit_key",
    "withdraw_check",
]

STATUSES = ("open", "assigned", "rectified", "verified", "closed", "exempted")
#: Statuses with ``open_key`` set: every status but closed.
LIVE = ("open", "assigned", "rectified", "verified", "exempted")
#: A passing result verifies these.
UNRESOLVED = ("open", "assigned", "rectified", "exempted")
#: Work not yet done: these can be overdue.
WORKING = ("open", "assigned")
SEVERITY_ZH = {"info": "提示", "low": "低", "medium": "中", "high": "高", "critical": "严重"}
_BATCH = 500

# Inbox and notification texts: (zh-CN, en); {label} is the host (or unit) and the check title.
TEXTS: dict[str, tuple[str, str]] = {
    "finding_opened": ("新发现问题（{sev_zh}）：{label_zh}", "New finding ({sev}): {label_en}"),
    "finding_reopened": ("问题再次出现（{sev_zh}）：{label_zh}", "Finding failed again ({sev}): {label_en}"),
    "finding_assigned": ("指派给您整改：{label_zh}", "Assigned to you: {label_en}"),
    "finding_overdue": ("整改已逾期：{label_zh}", "Rectification overdue: {label_en}"),
    "claim_pending": ("整改待核验：{label_zh}", "Rectification to verify: {label_en}"),
    "verification_failed": ("整改后检测仍未通过：{label_zh}", "Still failing after the claim: {label_en}"),
    "claim_rejected": ("整改被退回：{label_zh}", "Rectification claim rejected: {label_en}"),
    "finding_verified": ("整改已核验：{label_zh}", "Rectification verified: {label_en}"),
    "exemption_requested": ("豁免申请待审批：{label_zh}", "Exemption to approve: {label_en}"),
    "exemption_rejected": ("豁免申请未获批准：{label_zh}", "Exemption request rejected: {label_en}"),
    "exemption_expired": ("豁免到期，问题重新打开：{label_zh}", "Exemption ended, open again: {label_en}"),
}


def host_key(host_id: int, check_id: str, subject: str = "") -> str:
    return f"host:{host_id}:{check_id}:{subject[:255]}"


def unit_key(unit_id: int, check_id: str, subject: str) -> str:
    return f"unit:{unit_id}:{check_id}:{subject[:255]}"


def key_of(finding: Finding) -> str:
    if finding.host_id is not None:
        return host_key(finding.host_id, finding.check_id, finding.subject)
    return unit_key(finding.unit_id, finding.check_id, finding.subject)


def is_overdue(finding: Finding, now: datetime) -> bool:
    return finding.status in WORKING and finding.due_at < now


def _json_safe(evidence: Any) -> Any:
    """Evidence as plain JSON (datetimes and other values as text), so that comparing it with
    the stored document tells whether it changed."""
    return json.loads(json.dumps(list(evidence or []), default=str, ensure_ascii=False))


# -- events, status, notifications --------------------------------------------------------------
def record_event(
    session: Session,
    finding: Finding,
    action: str,
    at: datetime,
    *,
    actor_id: int | None = None,
    from_status: str = "",
    note: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        FindingEvent(
            finding=finding,
            at=at,
            actor_id=actor_id,
            action=action[:32],
            from_status=from_status,
            to_status=finding.status,
            note=note,
            data=data or {},
        )
    )


def set_status(
    session: Session,
    finding: Finding,
    to: str,
    action: str,
    at: datetime,
    *,
    actor_id: int | None = None,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """Change the status and record the event. Leaving exempted, or leaving open/assigned for
    anything but exempted, ends the exemption (or withdraws a pending request); closing clears
    ``open_key``."""
    before = finding.status
    if to != "exempted" and (before == "exempted" or to not in WORKING):
        finding.exemption_reason = ""
        finding.exemption_approver_id = None
        finding.exemption_expires_at = None
    if to == "closed":
        finding.open_key = None
        finding.closed_at = at
        if finding.host_id is not None:  # keep this transaction's view of the host current
            cache = inbox.tx_cache(session)
            cache.get(("host", finding.host_id), {}).pop(key_of(finding), None)
            closed = cache.get(("closed", finding.host_id))
            if closed is not None:
                closed[(finding.check_id, finding.subject)] = finding
    elif to == "verified":
        finding.verified_at = at
    elif to == "rectified":
        finding.rectified_at = at
    elif to in WORKING:
        finding.rectified_at = None
    finding.status = to
    finding.updated_at = at
    record_event(session, finding, action, at, actor_id=actor_id, from_status=before, note=note, data=data)


def labels(session: Session, finding: Finding) -> tuple[str, str]:
    """What an inbox item or a mail calls the finding: host (or unit) and check title."""
    if finding.host_id is not None:
        host = session.get(Host, finding.host_id)
        where_zh = where_en = host.hostname if host else f"#{finding.host_id}"
    else:
        unit = session.get(Unit, finding.unit_id)
        where_zh = unit.name_zh if unit else str(finding.unit_id)
        where_en = unit.name_en if unit else str(finding.unit_id)
    extra_zh = f"（{finding.subject}）" if finding.subject else ""
    extra_en = f" ({finding.subject})" if finding.subject else ""
    return (
        f"{where_zh} · {finding.title_zh or finding.check_id}{extra_zh}",
        f"{where_en} · {finding.title_en or finding.check_id}{extra_en}",
    )


def tell(session: Session, finding: Finding, kind: str, users: list[int], at: datetime) -> None:
    """Inbox items of one kind about a finding, and the e-mail/webhook notification of the
    kinds that concern the whole unit (opened, reopened, overdue, claimed, verified)."""
    if not users and not notify.config_of(session).channels:
        return  # nobody to tell: no inbox item, no message
    if finding.id is None:  # a new finding: its id is in the link and the items
        session.flush()
    label_zh, label_en = labels(session, finding)
    values = {
        "label_zh": label_zh,
        "label_en": label_en,
        "sev": finding.severity,
        "sev_zh": SEVERITY_ZH.get(finding.severity, finding.severity),
    }
    zh, en = (text.format(**values) for text in TEXTS[kind])
    link = f"/findings/{finding.id}"
    inbox.add_items(
        session,
        users,
        kind=kind,
        text_zh=zh,
        text_en=en,
        at=at,
        finding_id=finding.id,
        unit_id=finding.unit_id,
        severity=finding.severity,
        link=link,
    )
    if kind in ("finding_opened", "finding_reopened", "finding_overdue", "claim_pending", "finding_verified"):
        unit = session.get(Unit, finding.unit_id)
        payload = {
            "event": kind,
            "at": at.isoformat(),
            "finding": {
                "id": finding.id,
                "check_id": finding.check_id,
                "title_zh": finding.title_zh,
                "title_en": finding.title_en,
                "severity": finding.severity,
                "category": finding.category,
                "status": finding.status,
                "unit": unit.code if unit else "",
                "host_id": finding.host_id,
                "subject": finding.subject,
                "due_at": finding.due_at.isoformat(),
                "link": link,
            },
        }
        body = f"{zh}\n{en}\n\n{link}\n"
        notify.enqueue(session, kind, f"[Watchpost] {zh}", body, payload, at)


def _tell_owner(session: Session, finding: Finding, kind: str, at: datetime) -> None:
    """The assignee, or the unit's admins while nobody is assigned."""
    users = [finding.assignee_id] if finding.assignee_id else inbox.admins_of_unit(session, finding.unit_id)
    tell(session, finding, kind, users, at)


def _announce(session: Session, finding: Finding, kind: str, at: datetime) -> None:
    if notify.severe_enough(notify.config_of(session), finding.severity):
        tell(session, finding, kind, inbox.admins_of_unit(session, finding.unit_id), at)


# -- the engine's side ------------------------------------------------------------------------
def _apply_meta(finding: Finding, check: CheckMeta) -> None:
    values = {
        "title_zh": check.title_zh[:255],
        "title_en": check.title_en[:255],
        "severity": check.severity,
        "category": check.category,
        "requirements": list(check.requirements),
    }
    for name, value in values.items():
        if getattr(finding, name) != value:
            setattr(finding, name, value)


def _live_for_host(session: Session, host_id: int) -> dict[str, Finding]:
    """The host's live findings by key, loaded once per transaction."""
    cache = inbox.tx_cache(session)
    live: dict[str, Finding] | None = cache.get(("host", host_id))
    if live is None:
        rows = session.scalars(
            select(Finding).where(Finding.host_id == host_id, Finding.open_key.is_not(None))
        )
        live = {f.open_key: f for f in rows if f.open_key}
        cache[("host", host_id)] = live
    return live


def _closed_for_host(session: Session, host_id: int) -> dict[tuple[str, str], Finding]:
    """The host's latest closed finding per check × subject, loaded once per transaction."""
    cache = inbox.tx_cache(session)
    closed: dict[tuple[str, str], Finding] | None = cache.get(("closed", host_id))
    if closed is None:
        closed = {}
        rows = session.scalars(
            select(Finding).where(Finding.host_id == host_id, Finding.open_key.is_(None)).order_by(Finding.id)
        )
        for row in rows:
            closed[(row.check_id, row.subject)] = row
        cache[("closed", host_id)] = closed
    return closed


def _last_closed(
    session: Session, host_id: int | None, unit_id: int, check_id: str, subject: str
) -> Finding | None:
    if host_id is not None:
        found = _closed_for_host(session, host_id).get((check_id, subject[:255]))
        return found if found is not None and found.open_key is None else None
    query = select(Finding).where(
        Finding.check_id == check_id, Finding.subject == subject[:255], Finding.open_key.is_(None)
    )
    query = (
        query.where(Finding.host_id == host_id)
        if host_id is not None
        else query.where(Finding.host_id.is_(None), Finding.unit_id == unit_id)
    )
    return session.scalar(query.order_by(Finding.id.desc()).limit(1))


def _open(
    session: Session,
    key: str,
    host_id: int | None,
    unit_id: int,
    check: CheckMeta,
    subject: str,
    evidence: Any,
    at: datetime,
) -> Finding:
    finding = Finding(
        host_id=host_id,
        unit_id=unit_id,
        check_id=check.id,
        subject=subject[:255],
        open_key=key,
        status="open",
        evidence=evidence,
        opened_at=at,
        due_at=at + timedelta(days=check.deadline_days),
        updated_at=at,
        reopen_count=0,
        exemption_reason="",
    )
    _apply_meta(finding, check)
    session.add(finding)
    if host_id is not None:
        _live_for_host(session, host_id)[key] = finding
    record_event(session, finding, "opened", at, data={"pack_version": check.pack_version})
    _announce(session, finding, "finding_opened", at)
    return finding


def reopen(
    session: Session,
    finding: Finding,
    at: datetime,
    *,
    actor_id: int | None = None,
    note: str = "",
    check: CheckMeta | None = None,
    evidence: Any = None,
) -> None:
    """Open a verified or closed finding again: a new deadline (the check's, or the one it had),
    nobody assigned, reopen_count + 1."""
    deadline = (
        timedelta(days=check.deadline_days)
        if check
        else max(finding.due_at - finding.opened_at, timedelta(days=1))
    )
    finding.open_key = key_of(finding)
    finding.reopen_count += 1
    finding.assignee_id = None
    finding.opened_at = at
    finding.due_at = at + deadline
    finding.verified_at = finding.closed_at = None
    if check is not None:
        _apply_meta(finding, check)
    if evidence is not None:
        finding.evidence = evidence
    set_status(
        session,
        finding,
        "open",
        "reopened",
        at,
        actor_id=actor_id,
        note=note,
        data={"reopen_count": finding.reopen_count},
    )
    _announce(session, finding, "finding_reopened", at)


def _verify_by_system(session: Session, finding: Finding, at: datetime, note: str = "") -> None:
    set_status(session, finding, "verified", "verified", at, note=note, data={"by": "result"})
    tell(session, finding, "finding_verified", [finding.assignee_id] if finding.assignee_id else [], at)


def _end_exemption(session: Session, finding: Finding, at: datetime) -> None:
    deadline = max(finding.due_at - finding.opened_at, timedelta(days=1))
    result = session.get(CheckResult, (finding.host_id, finding.check_id)) if finding.host_id else None
    if result is not None and result.status == "pass":
        _verify_by_system(session, finding, at, note="exemption ended; the check passes")
        return
    set_status(session, finding, "assigned" if finding.assignee_id else "open", "exemption_expired", at)
    finding.due_at = at + deadline
    tell(session, finding, "exemption_expired", inbox.admins_of_unit(session, finding.unit_id), at)


def _fail(
    session: Session,
    finding: Finding | None,
    *,
    key: str,
    host_id: int | None,
    unit_id: int,
    check: CheckMeta,
    subject: str,
    evidence: list[Any],
    at: datetime,
) -> Finding:
    document = _json_safe(evidence)
    if finding is None:
        previous = _last_closed(session, host_id, unit_id, check.id, subject)
        if previous is None:
            return _open(session, key, host_id, unit_id, check, subject, document, at)
        previous.unit_id = unit_id
        reopen(session, previous, at, check=check, evidence=document)
        return previous
    if finding.evidence != document:
        finding.evidence = document
    _apply_meta(finding, check)
    if finding.unit_id != unit_id:  # the host moved: the new unit rectifies
        record_event(
            session,
            finding,
            "unit_changed",
            at,
            from_status=finding.status,
            data={"from": finding.unit_id, "to": unit_id},
        )
        finding.unit_id = unit_id
    if finding.status == "rectified":
        to = "assigned" if finding.assignee_id else "open"
        set_status(session, finding, to, "verification_failed", at, note="a later result still fails")
        _tell_owner(session, finding, "verification_failed", at)
    elif finding.status == "verified":
        reopen(session, finding, at, check=check, evidence=document)
    elif finding.status == "exempted" and (
        finding.exemption_expires_at is None or finding.exemption_expires_at <= at
    ):
        _end_exemption(session, finding, at)
    return finding


def on_result(
    session: Session, *, host: Host, check: CheckMeta, status: str, evidence: list[Any], at: datetime
) -> Finding | None:
    """Apply one evaluated result to the host x check's finding; returns the live finding (or
    None). Idempotent; one query per host per transaction when nothing changes."""
    key = host_key(host.id, check.id)
    live = _live_for_host(session, host.id)
    finding = live.get(key)
    if status == "pass":
        if finding is not None and finding.status in UNRESOLVED:
            _verify_by_system(session, finding, at)
        return finding
    if status != "fail" or (finding is None and host.status != "active"):
        return finding
    finding = _fail(
        session,
        finding,
        key=key,
        host_id=host.id,
        unit_id=host.unit_id,
        check=check,
        subject="",
        evidence=evidence,
        at=at,
    )
    live[key] = finding
    return finding


def raise_unit_finding(
    session: Session, *, unit_id: int, check: CheckMeta, subject: str, evidence: list[Any], at: datetime
) -> Finding:
    """A unit-level problem (licence seats over-used, no drill this year...), host_id null."""
    key = unit_key(unit_id, check.id, subject)
    finding = session.scalar(select(Finding).where(Finding.open_key == key))
    return _fail(
        session,
        finding,
        key=key,
        host_id=None,
        unit_id=unit_id,
        check=check,
        subject=subject,
        evidence=evidence,
        at=at,
    )


def resolve_unit_finding(
    session: Session, *, unit_id: int, check_id: str, subject: str, at: datetime
) -> None:
    finding = session.scalar(select(Finding).where(Finding.open_key == unit_key(unit_id, check_id, subject)))
    if finding is not None and finding.status in UNRESOLVED:
        _verify_by_system(session, finding, at)


def close_host_findings(session: Session, host_id: int, reason: str, at: datetime) -> int:
    """Close a retired or merged host's live findings (system event); returns how many."""
    rows = session.scalars(
        select(Finding).where(Finding.host_id == host_id, Finding.open_key.is_not(None))
    ).all()
    for finding in rows:
        set_status(session, finding, "closed", "closed", at, note=reason, data={"reason": reason})
    inbox.tx_cache(session).pop(("host", host_id), None)
    return len(rows)


def withdraw_check(session: Session, check_ids: Iterable[str], at: datetime) -> int:
    """Close the live findings of checks that left their pack (a system event); returns how many."""
    wanted = sorted(set(check_ids))
    if not wanted:
        return 0
    rows = session.scalars(
        select(Finding).where(Finding.check_id.in_(wanted), Finding.open_key.is_not(None))
    ).all()
    for finding in rows:
        set_status(
            session,
            finding,
            "closed",
            "closed",
            at,
            note="check withdrawn",
            data={"reason": "check_withdrawn"},
        )
        if finding.host_id is not None:
            inbox.tx_cache(session).pop(("host", finding.host_id), None)
    return len(rows)


# -- periodic work ------------------------------------------------------------------------------
def _take(session: Session, finding: Finding, now: datetime) -> bool:
    """Optimistic lock: only one collector process acts on a finding in a sweep."""
    done = session.execute(
        update(Finding)
        .where(Finding.id == finding.id, Finding.updated_at == finding.updated_at)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(done, "rowcount", 0):
        session.expire(finding)
        return False
    finding.updated_at = now
    return True


def expire_exemptions(session: Session, now: datetime) -> int:
    """Exemptions past their expiry: the finding opens again (assigned when it has an assignee),
    with a fresh deadline of its original length; verified instead when its check now passes."""
    rows = session.scalars(
        select(Finding)
        .where(Finding.status == "exempted", Finding.exemption_expires_at <= now)
        .order_by(Finding.id)
        .limit(_BATCH)
    ).all()
    count = 0
    for finding in rows:
        if _take(session, finding, now):
            _end_exemption(session, finding, now)
            count += 1
    return count


def mark_overdue(session: Session, now: datetime) -> int:
    """Findings whose deadline passed while open or assigned get one "overdue" event (and an
    inbox item for the assignee or the unit's admins) per deadline."""
    marked = exists().where(
        FindingEvent.finding_id == Finding.id,
        FindingEvent.action == "overdue",
        FindingEvent.at >= Finding.due_at,
    )
    rows = session.scalars(
        select(Finding)
        .where(Finding.status.in_(WORKING), Finding.due_at < now, ~marked)
        .order_by(Finding.id)
        .limit(_BATCH)
    ).all()
    count = 0
    for finding in rows:
        if _take(session, finding, now):
            record_event(
                session,
                finding,
                "overdue",
                now,
                from_status=finding.status,
                data={"due_at": finding.due_at.isoformat()},
            )
            _tell_owner(session, finding, "finding_overdue", now)
            count += 1
    return count


def close_findings_of_inactive_hosts(session: Session, now: datetime) -> int:
    """Live findings of hosts that were retired or merged close (a system event)."""
    rows = session.execute(
        select(Host.id, Host.status)
        .where(
            Host.status.in_(("retired", "merged")),
            exists().where(Finding.host_id == Host.id, Finding.open_key.is_not(None)),
        )
        .limit(_BATCH)
    ).all()
    return sum(close_host_findings(session, host_id, f"host {status}", now) for host_id, status in rows)


def sweep(sessions: sessionmaker[Session], settings: Settings, now: datetime) -> dict[str, int]:
    """The periodic work: exemptions that ended, findings that became overdue, findings of
    retired or merged hosts, and the notification outbox. Each step commits on its own."""
    counts: dict[str, int] = {}
    with sessions() as session:
        counts["exemptions_expired"] = expire_exemptions(session, now)
        session.commit()
        counts["overdue"] = mark_overdue(session, now)
        session.commit()
        counts["closed_inactive"] = close_findings_of_inactive_hosts(session, now)
        session.commit()
        counts.update(notify.deliver_pending(session, settings, now))
    return counts
