"""Pages of findings and rectification (整改) and the inbox (issue 5; A9-M3.5, P-16, A9-G).

- /findings: filters (GET form), the list with check boxes and a bulk form (assign, close,
  ask an exemption, approve exemptions), exports.
- /findings/{id}: the finding, its evidence and timeline, and the forms of the transitions the
  reader may do. Opening it marks the reader's inbox items about it read.
- /inbox: the reader's to-do items; the unread count is in every page header.

Plain HTML forms (no script); every form carries the session's CSRF token; writes go through
the same services as the JSON API (scope, audit).

The router's lifespan also starts the periodic findings task (services/findings.py ``sweep``:
exemptions that ended, overdue findings, findings of retired hosts, the notification outbox)
every ``findings_sweep_seconds``, and gives the templates ``inbox_unread`` for the header badge.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from collector.api.findings_schemas import FindingQuery
from collector.db.base import utcnow
from collector.db.models import RoleGrant, User
from collector.db.models_inbox import InboxItem
from collector.deps import SessionDep, SettingsDep, client_ip
from collector.policy.meta import SEVERITIES
from collector.services import findings_actions as actions
from collector.services import inbox, notify, periodic
from collector.services.auth import Principal, same_token
from collector.services.errors import DomainError, Invalid
from collector.services.findings_query import STATUS_FILTERS, list_findings, one_finding, timeline
from collector.services.hosts import visible_units
from collector.services.users import visible_user
from collector.settings import Settings
from collector.web.common import login_redirect, page_principal, render

__all__ = ["router"]

log = logging.getLogger(__name__)
CATEGORIES = (
    "licensing",
    "antivirus",
    "patches",
    "hardware",
    "security_config",
    "logs",
    "availability",
    "vpn",
)
Text = Annotated[str, Form(max_length=4000)]
FindingId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]


# -- lifespan: the periodic task and the header badge -----------------------------------------------
def _unread(sessions: sessionmaker[Session]) -> Callable[[Principal], int]:
    def count(principal: Principal) -> int:
        if not isinstance(principal, Principal):
            return 0
        with sessions() as session:
            return inbox.unread_count(session, principal)

    return count


async def _periodic(sessions: sessionmaker[Session], settings: Settings, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.findings_sweep_seconds)
            return
        except TimeoutError:
            pass
        try:
            counts = await asyncio.to_thread(periodic.run_round, sessions, settings, utcnow())
            if any(counts.values()):
                log.info("findings task: %s", counts)
        except Exception:  # the task must outlive one failed round (logged)
            log.exception("findings task failed; trying again next round")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    sessions: sessionmaker[Session] = app.state.sessionmaker
    notify.configure_sessions(sessions, settings)
    app.state.templates.env.globals["inbox_unread"] = _unread(sessions)
    stop = asyncio.Event()
    task = (
        asyncio.create_task(_periodic(sessions, settings, stop)) if settings.findings_sweep_seconds else None
    )
    try:
        yield
    finally:
        stop.set()
        if task is not None:
            await task


router = APIRouter(include_in_schema=False, lifespan=lifespan)


# -- helpers ------------------------------------------------------------------------------------
def _checked(request: Request, session: Session, csrf: str) -> Principal | Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    if not same_token(csrf, principal.csrf_token):
        return _error(request, principal, "findings.csrf", 400)
    return principal


def _error(request: Request, principal: Principal, key: str, status: int) -> Response:
    return render(request, "findings_error.html", {"user": principal, "error": key}, status=status)


def _number(text: str) -> int | None:
    """A database id from a form field, or None."""
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 10 and 0 < int(text) <= 2_147_483_647 else None


def _expiry(text: str, zone: str) -> datetime | None:
    """The end of that day in the display zone, in UTC."""
    if not text.strip():
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(f"bad date {text[:20]!r} (write 2027-03-31)", "bad_date") from None
    return datetime.combine(day, time(23, 59, 59), ZoneInfo(zone)).astimezone(UTC)


def _admins(session: Session, principal: Principal) -> list[User]:
    """Admins the reader can see: the choices of the bulk assign form."""
    query = (
        select(User)
        .join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.role.in_(inbox.ADMIN_ROLES), User.is_active.is_(True))
        .distinct()
        .order_by(User.username)
    )
    return [u for u in session.scalars(query) if visible_user(principal, u)]


# -- the list -------------------------------------------------------------------------------------
def _list_page(request: Request, session: Session, principal: Principal, **extra: Any) -> Response:
    params = {k: v for k, v in request.query_params.items() if k not in ("lang", "done") and v != ""}
    status = int(extra.pop("status", 200))
    problem = None
    try:
        query = FindingQuery.model_validate(params)
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        query = FindingQuery()
    found = None
    try:
        found = list_findings(
            session,
            principal,
            query.to_filter(principal.user_id),
            now=utcnow(),
            sort=query.sort,
            direction=query.direction,
            page=query.page,
            per_page=query.per_page,
        )
    except DomainError as exc:
        problem = exc.detail

    def url(**changes: Any) -> str:
        merged = {**params, **changes}
        return "/findings?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})

    export = urlencode({k: v for k, v in params.items() if k not in ("page", "per_page")})
    units = visible_units(session, principal)
    context = {
        "user": principal,
        "query": query,
        "found": found,
        "problem": problem,
        "units": units,
        "statuses": STATUS_FILTERS,
        "severities": SEVERITIES,
        "categories": CATEGORIES,
        "admins": _admins(session, principal),
        "can_write": not principal.read_only,
        "url": url,
        "back": urlencode(params),
        "export_query": export,
        "done": request.query_params.get("done", "")[:40],
        "bulk_errors": [],
        "today": utcnow().date().isoformat(),
        **extra,
    }
    return render(request, "findings_list.html", context, status=status)


@router.get("/findings", response_class=HTMLResponse)
def findings_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    return _list_page(request, session, principal)


@router.post("/findings/bulk", response_class=HTMLResponse)
async def bulk_form(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    async with request.form(max_files=0, max_fields=600) as form:
        principal = _checked(request, session, str(form.get("csrf", ""))[:128])
        if not isinstance(principal, Principal):
            return principal
        action = str(form.get("action", ""))[:32]
        back = str(form.get("back", ""))[:2000].replace("\r", "").replace("\n", "")
        raw_ids = [str(v) for v in form.getlist("ids")][:500]
        assignee = str(form.get("assignee_id", ""))[:12]
        note, reason = str(form.get("note", ""))[:4000], str(form.get("reason", ""))[:4000]
        expires_on = str(form.get("expires_on", ""))[:20]
    try:
        ids = [n for n in (_number(v) for v in raw_ids) if n is not None]
        if not ids:
            raise Invalid("tick at least one finding", "no_selection")
        given = actions.ActionInput(
            note=note.replace("\x00", ""),
            assignee_id=_number(assignee),
            reason=reason.replace("\x00", ""),
            expires_at=_expiry(expires_on, settings.display_timezone),
        )
        actions.bulk(session, principal, action, ids, given, ip=client_ip(request), at=utcnow())
    except actions.BulkRejected as exc:
        return _list_page(request, session, principal, bulk_errors=exc.errors, error=exc.detail, status=422)
    except DomainError as exc:
        session.rollback()
        return _list_page(request, session, principal, error=exc.detail, status=exc.status)
    separator = "&" if back else ""
    return RedirectResponse(f"/findings?{back}{separator}done=bulk_{action}", status_code=303)


# -- one finding ---------------------------------------------------------------------------------
def _evidence(document: Any) -> list[dict[str, str]]:
    """Evidence items for the page: {path, op, expected, actual} when the item has them, else
    the item as JSON (in ``other``)."""
    rows = []
    for item in document if isinstance(document, list) else []:
        if isinstance(item, dict) and "path" in item:
            rows.append({k: _shown(item.get(k)) for k in ("path", "op", "expected", "actual")})
            extra = {k: v for k, v in item.items() if k not in ("path", "op", "expected", "actual")}
            if extra:
                rows[-1]["other"] = _shown(extra)
        else:
            rows.append({"other": _shown(item)})
    return rows


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)[:4000]


def _detail_page(
    request: Request, session: Session, principal: Principal, finding_id: int, error: str | None = None,
    status: int = 200,
) -> Response:  # fmt: skip
    now = utcnow()
    try:
        row = one_finding(session, principal, finding_id, now)
    except DomainError:
        return _error(request, principal, "findings.not_found", 404)
    f = row.finding
    session.execute(
        update(InboxItem)
        .where(
            InboxItem.user_id == principal.user_id, InboxItem.finding_id == f.id, InboxItem.read_at.is_(None)
        )
        .values(read_at=now)
    )
    session.commit()
    manager = principal.can_manage_unit(f.unit_id) and not principal.read_only
    context = {
        "user": principal,
        "row": row,
        "f": f,
        "events": timeline(session, f.id),
        "evidence": _evidence(f.evidence),
        "manager": manager,
        "verifier": actions.can_verify(session, principal, f.unit_id),
        "assignees": actions.assignable_users(session, principal, f.unit_id) if manager else [],
        "pending": actions.exemption_pending(f),
        "requester": actions.exemption_requester(session, f),
        "error": error,
        "done": request.query_params.get("done", "")[:32],
        "today": now.date().isoformat(),
    }
    return render(request, "findings_detail.html", context, status=status)


@router.get("/findings/{finding_id}", response_class=HTMLResponse)
def finding_page(finding_id: FindingId, request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    return _detail_page(request, session, principal, finding_id)


@router.post("/findings/{finding_id}", response_class=HTMLResponse)
def finding_action(
    finding_id: FindingId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf: Annotated[str, Form(max_length=128)] = "",
    action: Annotated[str, Form(max_length=32)] = "",
    note: Text = "",
    reason: Text = "",
    assignee_id: Annotated[str, Form(max_length=12)] = "",
    accept: Annotated[str, Form(max_length=8)] = "yes",
    expires_on: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    principal = _checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    try:
        given = actions.ActionInput(
            note=note.replace("\x00", ""),
            assignee_id=_number(assignee_id),
            accept=accept != "no",
            reason=reason.replace("\x00", ""),
            expires_at=_expiry(expires_on, settings.display_timezone),
        )
        actions.act(session, principal, finding_id, action, given, ip=client_ip(request), at=utcnow())
    except DomainError as exc:
        session.rollback()
        if exc.status == 404:
            return _error(request, principal, "findings.not_found", 404)
        return _detail_page(request, session, principal, finding_id, exc.detail, exc.status)
    return RedirectResponse(f"/findings/{finding_id}?done={action}", status_code=303)


# -- the inbox ------------------------------------------------------------------------------------
@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    unread_only = request.query_params.get("unread") == "1"
    page = request.query_params.get("page", "1")
    number = int(page) if page.isdigit() and 0 < len(page) < 7 else 1
    found = inbox.list_items(session, principal, unread_only=unread_only, page=max(number, 1), per_page=50)
    context = {"user": principal, "found": found, "unread_only": unread_only}
    return render(request, "inbox.html", context)


@router.post("/inbox", response_class=HTMLResponse)
def inbox_mark(
    request: Request,
    session: SessionDep,
    csrf: Annotated[str, Form(max_length=128)] = "",
    item: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    principal = _checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    if item:
        try:
            inbox.mark_read(session, principal, _number(item) or 0, utcnow())
        except DomainError:
            return _error(request, principal, "findings.inbox.not_found", 404)
    else:
        inbox.mark_all_read(session, principal, utcnow())
    return RedirectResponse("/inbox", status_code=303)
