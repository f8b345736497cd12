"""Findings as a query: filtered, sorted, paged, exported, in the caller's scope (issue 5;
A9-M3.5, P-16, A9-G). The list page, the JSON API and the exports all go through here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, func, not_, or_, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from collector.db.models import Host, Unit, User
from collector.db.models_policy import Finding, FindingEvent
from collector.policy.meta import SEVERITIES
from collector.services.auth import Principal
from collector.services.errors import BadRequest
from collector.services.findings import LIVE, STATUSES, WORKING, is_overdue
from collector.services.findings_actions import finding_for_read
from collector.services.org import subtree_ids

__all__ = [
    "EXPORT_COLUMNS",
    "SORTS",
    "STATUS_FILTERS",
    "FindingFilter",
    "FindingPage",
    "FindingRow",
    "TimelineEntry",
    "export_rows",
    "list_findings",
    "one_finding",
    "timeline",
]

STATUS_FILTERS = (*STATUSES, "live")
MAX_PER_PAGE = 500
_RANK = case({s: i for i, s in enumerate(SEVERITIES)}, value=Finding.severity, else_=-1)
SORTS: dict[str, tuple[Any, ...]] = {
    "opened_at": (Finding.opened_at,),
    "due_at": (Finding.due_at,),
    "updated_at": (Finding.updated_at,),
    "severity": (_RANK,),
    "status": (Finding.status,),
    "unit": (Unit.sort_order, Unit.code),
}
_Assignee = aliased(User)


@dataclass(frozen=True)
class FindingFilter:
    unit: str = ""  # a unit code: that unit and its subtree
    status: str = ""  # one of STATUSES, or "live" (every status but closed)
    severity: str = ""
    category: str = ""
    check: str = ""  # a check id
    host_id: int | None = None
    overdue: bool | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    q: str = ""  # text in the title, check id, subject or host name


@dataclass(frozen=True)
class FindingRow:
    finding: Finding
    hostname: str
    unit_code: str
    unit_name_zh: str
    unit_name_en: str
    assignee: str
    overdue: bool


@dataclass(frozen=True)
class FindingPage:
    items: list[FindingRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _base() -> Select[*tuple[Any, ...]]:
    return (
        select(Finding, Host.hostname, Unit.code, Unit.name_zh, Unit.name_en, _Assignee.username)
        .join(Unit, Unit.id == Finding.unit_id)
        .outerjoin(Host, Host.id == Finding.host_id)
        .outerjoin(_Assignee, _Assignee.id == Finding.assignee_id)
    )


def _filtered(
    session: Session, principal: Principal, wanted: FindingFilter, now: datetime
) -> Select[*tuple[Any, ...]]:
    query = _base()
    if principal.visible_units is not None:
        query = query.where(Finding.unit_id.in_(principal.visible_units))
    if wanted.unit:
        unit_id = session.scalar(select(Unit.id).where(Unit.code == wanted.unit))
        query = query.where(Finding.unit_id.in_(subtree_ids(session, {unit_id}) if unit_id else set()))
    if wanted.status == "live":
        query = query.where(Finding.status.in_(LIVE))
    elif wanted.status:
        if wanted.status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUS_FILTERS)}", "bad_filter")
        query = query.where(Finding.status == wanted.status)
    if wanted.severity:
        if wanted.severity not in SEVERITIES:
            raise BadRequest(f"severity must be one of {', '.join(SEVERITIES)}", "bad_filter")
        query = query.where(Finding.severity == wanted.severity)
    if wanted.category:
        query = query.where(Finding.category == wanted.category)
    if wanted.check:
        query = query.where(Finding.check_id == wanted.check)
    if wanted.host_id is not None:
        query = query.where(Finding.host_id == wanted.host_id)
    late = and_(Finding.status.in_(WORKING), Finding.due_at < now)
    if wanted.overdue is not None:
        query = query.where(late if wanted.overdue else not_(late))
    if wanted.unassigned:
        query = query.where(Finding.assignee_id.is_(None))
    elif wanted.assignee_id is not None:
        query = query.where(Finding.assignee_id == wanted.assignee_id)
    if wanted.q.strip():
        pattern = _like(wanted.q.strip())
        columns = (Finding.title_zh, Finding.title_en, Finding.check_id, Finding.subject, Host.hostname)
        query = query.where(or_(*(c.ilike(pattern, escape="\\") for c in columns)))
    return query


def _row(values: Sequence[Any], now: datetime) -> FindingRow:
    finding, hostname, code, name_zh, name_en, assignee = values
    return FindingRow(
        finding, hostname or "", code, name_zh, name_en, assignee or "", is_overdue(finding, now)
    )


def list_findings(
    session: Session,
    principal: Principal,
    wanted: FindingFilter,
    *,
    now: datetime,
    sort: str = "opened_at",
    direction: Literal["asc", "desc"] = "desc",
    page: int = 1,
    per_page: int = 50,
) -> FindingPage:
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}", "bad_sort")
    if not 1 <= per_page <= MAX_PER_PAGE or page < 1:
        raise BadRequest(f"page starts at 1; per_page is 1 to {MAX_PER_PAGE}", "bad_page")
    query = _filtered(session, principal, wanted, now)
    total = int(session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
    columns = [c.desc() if direction == "desc" else c.asc() for c in SORTS[sort]]
    rows = session.execute(
        query.order_by(*columns, Finding.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return FindingPage([_row(r, now) for r in rows], total, page, per_page)


def one_finding(session: Session, principal: Principal, finding_id: int, now: datetime) -> FindingRow:
    finding_for_read(session, principal, finding_id)  # 404 outside the caller's view
    row = session.execute(_base().where(Finding.id == finding_id)).one()
    return _row(row, now)


@dataclass(frozen=True)
class TimelineEntry:
    event: FindingEvent
    actor: str  # "" for the system


def timeline(session: Session, finding_id: int) -> list[TimelineEntry]:
    rows = session.execute(
        select(FindingEvent, User.username)
        .outerjoin(User, User.id == FindingEvent.actor_id)
        .where(FindingEvent.finding_id == finding_id)
        .order_by(FindingEvent.at, FindingEvent.id)
    ).all()
    return [TimelineEntry(event, name or "") for event, name in rows]


EXPORT_COLUMNS = (
    "id", "unit_code", "unit", "host", "check", "title", "severity", "category", "status", "overdue",
    "assignee", "opened_at", "due_at", "rectified_at", "verified_at", "closed_at", "reopen_count", "requirements",
)  # fmt: skip


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    return value.astimezone(zone).replace(tzinfo=None) if value else None


def export_rows(
    sessions: sessionmaker[Session],
    principal: Principal,
    wanted: FindingFilter,
    *,
    now: datetime,
    lang: str,
    zone: ZoneInfo,
    label: Callable[[str], str],
) -> Iterator[list[Any]]:
    """Every matching finding (no paging), newest first, as table rows, read with a session of
    its own (the rows are streamed after the request's session is gone); times in ``zone``;
    ``label`` turns ``status.<x>``, ``severity.<x>`` and ``yes``/``no`` into words."""
    with sessions() as session:
        query = _filtered(session, principal, wanted, now)
        query = query.order_by(Finding.opened_at.desc(), Finding.id.desc()).execution_options(yield_per=500)
        for values in session.execute(query):
            row = _row(values, now)
            f = row.finding
            yield [
                f.id,
                row.unit_code,
                row.unit_name_zh if lang == "zh-CN" else row.unit_name_en,
                row.hostname or f.subject,
                f.check_id,
                f.title_zh if lang == "zh-CN" else f.title_en,
                label(f"severity.{f.severity}"),
                label(f"category.{f.category}") if f.category else "",
                label(f"status.{f.status}"),
                label("yes" if row.overdue else "no"),
                row.assignee,
                _local(f.opened_at, zone),
                _local(f.due_at, zone),
                _local(f.rectified_at, zone),
                _local(f.verified_at, zone),
                _local(f.closed_at, zone),
                f.reopen_count,
                ", ".join(f.requirements or []),
            ]
