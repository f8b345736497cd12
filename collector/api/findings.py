"""JSON API of findings and rectification (整改) and of the inbox (issue 5; A9-M3.5, P-16, A9-G).

A finding outside the caller's scope answers 404 exactly like a missing one; read-only roles
get 403 on every change, except that inspectors verify claims. Transitions answer the finding
with its timeline; a transition the status does not allow is 409 with the reason.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from collector.api.errors import ApiProblem
from collector.api.findings_schemas import (
    AssignIn,
    BulkIn,
    BulkOut,
    ExemptIn,
    ExemptionOut,
    FindingDetailOut,
    FindingEventOut,
    FindingExportQuery,
    FindingListOut,
    FindingOut,
    FindingQuery,
    InboxItemOut,
    InboxOut,
    InboxQuery,
    NoteIn,
    OptionalNoteIn,
    VerifyIn,
)
from collector.db.base import utcnow
from collector.db.models import User
from collector.db.models_inbox import InboxItem
from collector.deps import PrincipalDep, SessionDep, SettingsDep, client_ip
from collector.services import findings_actions as actions
from collector.services import inbox
from collector.services.audit import record
from collector.services.auth import Principal
from collector.services.findings_query import (
    EXPORT_COLUMNS,
    FindingRow,
    export_rows,
    list_findings,
    one_finding,
    timeline,
)
from collector.services.tabular import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, csv_chunks, file_chunks, xlsx_file
from collector.web.i18n import translate
from wire import FieldProblem

__all__ = ["detail_out", "finding_out", "router"]

router = APIRouter(prefix="/api/v1", tags=["findings"])

FindingId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not do this (read-only, or not an admin of the unit)."},
    404: {"description": "No such finding in your scope."},
    409: {"description": "The finding's status does not allow this action (the answer says why)."},
}


def _exemption(session: Session, row: FindingRow, detail: bool) -> ExemptionOut | None:
    f = row.finding
    if not f.exemption_reason and f.status != "exempted":
        return None
    pending = actions.exemption_pending(f)
    requested_by = approver = None
    if detail:
        requester = actions.exemption_requester(session, f)
        requested_by = _username(session, requester)
        approver = _username(session, f.exemption_approver_id)
    return ExemptionOut(
        reason=f.exemption_reason,
        expires_at=f.exemption_expires_at,
        pending=pending,
        requested_by=requested_by,
        approver=approver,
    )


def _username(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id else None
    return user.username if user else None


def finding_out(session: Session, row: FindingRow, detail: bool = False) -> FindingOut:
    f = row.finding
    return FindingOut(
        id=f.id,
        host_id=f.host_id,
        hostname=row.hostname,
        unit_code=row.unit_code,
        unit_name=row.unit_name_zh,
        check_id=f.check_id,
        subject=f.subject,
        title_zh=f.title_zh,
        title_en=f.title_en,
        severity=f.severity,
        category=f.category,
        requirements=list(f.requirements or []),
        status=f.status,
        overdue=row.overdue,
        assignee_id=f.assignee_id,
        assignee=row.assignee,
        opened_at=f.opened_at,
        due_at=f.due_at,
        rectified_at=f.rectified_at,
        verified_at=f.verified_at,
        closed_at=f.closed_at,
        updated_at=f.updated_at,
        reopen_count=f.reopen_count,
        exemption=_exemption(session, row, detail),
    )


def detail_out(session: Session, principal: Principal, finding_id: int) -> FindingDetailOut:
    row = one_finding(session, principal, finding_id, utcnow())
    events = [
        FindingEventOut(
            id=e.event.id,
            at=e.event.at,
            actor=e.actor or None,
            action=e.event.action,
            from_status=e.event.from_status,
            to_status=e.event.to_status,
            note=e.event.note,
            data=dict(e.event.data or {}),
        )
        for e in timeline(session, finding_id)
    ]
    evidence = row.finding.evidence if isinstance(row.finding.evidence, list) else []
    return FindingDetailOut(
        **finding_out(session, row, detail=True).model_dump(), evidence=evidence, timeline=events
    )


@router.get("/findings", response_model=FindingListOut)
def list_route(
    principal: PrincipalDep, session: SessionDep, wanted: Annotated[FindingQuery, Query()]
) -> FindingListOut:
    """Findings in your scope, filtered, sorted and paged (newest first by default)."""
    found = list_findings(
        session,
        principal,
        wanted.to_filter(principal.user_id),
        now=utcnow(),
        sort=wanted.sort,
        direction=wanted.direction,
        page=wanted.page,
        per_page=wanted.per_page,
    )
    return FindingListOut(
        total=found.total,
        page=found.page,
        per_page=found.per_page,
        items=[finding_out(session, r) for r in found.items],
    )


def _label(lang: str, key: str) -> str:
    """A stored value in words (``status.open`` -> 待处理), or the value itself when unknown."""
    text = translate(lang, f"findings.{key}")
    return key.partition(".")[2] if text == f"findings.{key}" else text


def _export(
    request: Request,
    principal: Principal,
    session: Session,
    zone: str,
    wanted: FindingExportQuery,
    fmt: Literal["csv", "xlsx"],
) -> StreamingResponse:
    lang = wanted.lang
    now = utcnow()
    header = [translate(lang, f"findings.col.{c}") for c in EXPORT_COLUMNS]
    rows = export_rows(
        request.app.state.sessionmaker,
        principal,
        wanted.to_filter(principal.user_id),
        now=now,
        lang=lang,
        zone=ZoneInfo(zone),
        label=lambda key: _label(lang, key),
    )
    filters = {
        k: v for k, v in wanted.model_dump().items() if v not in ("", None) and k not in ("page", "per_page")
    }
    record(session, principal.username, "findings.export", "", {"format": fmt, "filters": filters},
           client_ip(request), principal.user_id)  # fmt: skip
    session.commit()
    title = translate(lang, "findings.export_title")
    if fmt == "csv":
        chunks, media = csv_chunks(header, rows), CSV_MEDIA_TYPE
    else:
        chunks, media = file_chunks(xlsx_file(title, header, rows)), XLSX_MEDIA_TYPE
    stamp = now.astimezone(ZoneInfo(zone)).date().isoformat()
    name = f"{title}-{stamp}.{fmt}"
    disposition = f"attachment; filename=\"findings-{stamp}.{fmt}\"; filename*=UTF-8''{quote(name, safe='')}"
    headers = {
        "Content-Disposition": disposition,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(chunks, media_type=media, headers=headers)


@router.get(
    "/findings.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {CSV_MEDIA_TYPE: {}}, "description": "The findings as CSV (UTF-8, BOM)."}},
)
def export_csv(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    wanted: Annotated[FindingExportQuery, Query()],
) -> StreamingResponse:
    """Every finding matching the list's filters (no paging), as CSV; audited."""
    return _export(request, principal, session, settings.display_timezone, wanted, "csv")


@router.get(
    "/findings.xlsx",
    response_class=StreamingResponse,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The findings as a workbook."}},
)
def export_xlsx(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    wanted: Annotated[FindingExportQuery, Query()],
) -> StreamingResponse:
    """Every finding matching the list's filters (no paging), as XLSX; audited."""
    return _export(request, principal, session, settings.display_timezone, wanted, "xlsx")


@router.post(
    "/findings/bulk",
    response_model=BulkOut,
    responses={**_WRITE, 422: {"description": "Some findings cannot take the action: nothing changed."}},
)
def bulk_route(body: BulkIn, request: Request, principal: PrincipalDep, session: SessionDep) -> BulkOut:
    """Assign, close, ask an exemption for, or approve the exemptions of many findings at once:
    all or nothing, with the reason for each finding that cannot take it."""
    given = actions.ActionInput(
        note=body.note, assignee_id=body.assignee_id, reason=body.reason, expires_at=body.expires_at
    )
    try:
        done = actions.bulk(
            session, principal, body.action, body.ids, given, ip=client_ip(request), at=utcnow()
        )
    except actions.BulkRejected as exc:
        problems = [
            FieldProblem(location=f"ids.{i}", message=f"{code}: {detail}"[:1000])
            for i, code, detail in exc.errors
        ]
        raise ApiProblem(422, exc.code, exc.detail, problems[:50]) from None
    return BulkOut(action=body.action, changed=[f.id for f in done])


@router.get("/findings/{finding_id}", response_model=FindingDetailOut, responses={404: _WRITE[404]})
def detail_route(finding_id: FindingId, principal: PrincipalDep, session: SessionDep) -> FindingDetailOut:
    """One finding with its evidence and its timeline (every transition, who and when)."""
    return detail_out(session, principal, finding_id)


def _act(
    request: Request,
    principal: Principal,
    session: Session,
    finding_id: int,
    action: str,
    given: actions.ActionInput,
) -> FindingDetailOut:
    actions.act(session, principal, finding_id, action, given, ip=client_ip(request), at=utcnow())
    return detail_out(session, principal, finding_id)


@router.post("/findings/{finding_id}/assign", response_model=FindingDetailOut, responses=_WRITE)
def assign(
    finding_id: FindingId, body: AssignIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> FindingDetailOut:
    """Assign an open or assigned finding to an admin managing its unit (they get an inbox item)."""
    given = actions.ActionInput(assignee_id=body.assignee_id, note=body.note)
    return _act(request, principal, session, finding_id, "assign", given)


@router.post("/findings/{finding_id}/claim", response_model=FindingDetailOut, responses=_WRITE)
def claim(
    finding_id: FindingId, body: NoteIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> FindingDetailOut:
    """Claim the rectification done (status rectified), saying what was done."""
    return _act(request, principal, session, finding_id, "claim", actions.ActionInput(note=body.note))


@router.post("/findings/{finding_id}/verify", response_model=FindingDetailOut, responses=_WRITE)
def verify(
    finding_id: FindingId, body: VerifyIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> FindingDetailOut:
    """Verify a claimed rectification (admins and inspectors; not the claimer), or reject the
    claim with ``accept: false`` and a note (back to assigned, or open)."""
    given = actions.ActionInput(accept=body.accept, note=body.note)
    return _act(request, principal, session, finding_id, "verify", given)


@router.post("/findings/{finding_id}/close", response_model=FindingDetailOut, responses=_WRITE)
def close(
    finding_id: FindingId,
    body: OptionalNoteIn,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> FindingDetailOut:
    """Close a finding (a note is needed unless it is verified). One that still fails reopens."""
    return _act(request, principal, session, finding_id, "close", actions.ActionInput(note=body.note))


@router.post("/findings/{finding_id}/reopen", response_model=FindingDetailOut, responses=_WRITE)
def reopen(
    finding_id: FindingId, body: NoteIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> FindingDetailOut:
    """Reopen a verified or closed finding, saying why."""
    return _act(request, principal, session, finding_id, "reopen", actions.ActionInput(note=body.note))


@router.post("/findings/{finding_id}/exempt", response_model=FindingDetailOut, responses=_WRITE)
def exempt(
    finding_id: FindingId, body: ExemptIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> FindingDetailOut:
    """Ask for an exemption (reason, expiry); another admin of the unit approves it."""
    given = actions.ActionInput(reason=body.reason, expires_at=body.expires_at)
    return _act(request, principal, session, finding_id, "exempt", given)


@router.post("/findings/{finding_id}/exemption/approve", response_model=FindingDetailOut, responses=_WRITE)
def approve_exemption(
    finding_id: FindingId,
    body: OptionalNoteIn,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> FindingDetailOut:
    """Approve the pending exemption request (not your own): the finding is exempted until it expires."""
    given = actions.ActionInput(note=body.note)
    return _act(request, principal, session, finding_id, "approve_exemption", given)


@router.post("/findings/{finding_id}/exemption/reject", response_model=FindingDetailOut, responses=_WRITE)
def reject_exemption(
    finding_id: FindingId, body: NoteIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> FindingDetailOut:
    """Reject the pending exemption request, saying why."""
    given = actions.ActionInput(note=body.note)
    return _act(request, principal, session, finding_id, "reject_exemption", given)


@router.post("/findings/{finding_id}/notes", response_model=FindingDetailOut, responses=_WRITE)
def add_note(
    finding_id: FindingId, body: NoteIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> FindingDetailOut:
    """Add a note to the timeline."""
    return _act(request, principal, session, finding_id, "note", actions.ActionInput(note=body.note))


# -- the inbox --------------------------------------------------------------------------------
def _item_out(item: InboxItem, lang: str) -> InboxItemOut:
    return InboxItemOut(
        id=item.id,
        kind=item.kind,
        finding_id=item.finding_id,
        severity=item.severity,
        text=item.text_zh if lang == "zh-CN" else item.text_en,
        link=item.link,
        created_at=item.created_at,
        read_at=item.read_at,
    )


Lang = Annotated[Literal["zh-CN", "en"], Query(description="Language of the item texts.")]


@router.get("/inbox", response_model=InboxOut)
def inbox_list(
    principal: PrincipalDep, session: SessionDep, wanted: Annotated[InboxQuery, Query()]
) -> InboxOut:
    """Your to-do items, newest first, with the unread count."""
    found = inbox.list_items(
        session, principal, unread_only=wanted.unread, page=wanted.page, per_page=wanted.per_page
    )
    return InboxOut(
        total=found.total,
        unread=found.unread,
        page=found.page,
        per_page=found.per_page,
        items=[_item_out(i, wanted.lang) for i in found.items],
    )


@router.post(
    "/inbox/{item_id}/read", response_model=InboxItemOut, responses={404: {"description": "Not your item."}}
)
def inbox_read(
    item_id: Annotated[int, PathParam(ge=1, le=2_147_483_647)],
    principal: PrincipalDep,
    session: SessionDep,
    lang: Lang = "zh-CN",
) -> InboxItemOut:
    """Mark one of your items read."""
    return _item_out(inbox.mark_read(session, principal, item_id, utcnow()), lang)


@router.post("/inbox/read-all", response_model=dict[str, int])
def inbox_read_all(principal: PrincipalDep, session: SessionDep) -> dict[str, int]:
    """Mark all your items read; answers how many were unread."""
    return {"marked": inbox.mark_all_read(session, principal, utcnow())}
