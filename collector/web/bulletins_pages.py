"""Pages of the bulletins area (通报; issue 5, A9-M3.5, P-16): the history of bulletins with a
form to preview one, the preview (tables, then save as draft or issue at once), and a
bulletin's page (a draft to edit and issue or delete; an issued one to download).

Plain HTML forms: every form carries the session's CSRF token; writes go through the same
services as the JSON API (scope, read-only roles, audit) and redirect on success. Downloads
are the API's (/api/v1/bulletins/{id}/docx and /xlsx), which the session cookie opens.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from collector.deps import SessionDep, client_ip
from collector.services import bulletin_issue, bulletins
from collector.services.auth import Principal, same_token
from collector.services.bulletin_config import load_config
from collector.services.bulletin_periods import KINDS, local_today, parse_period, recent_periods
from collector.services.bulletins import DraftFields
from collector.services.errors import DomainError, Invalid, NotFound
from collector.services.hosts import visible_units
from collector.web.common import login_redirect, page_lang, page_principal, render
from collector.web.i18n import MESSAGES

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str, Form(max_length=128)]
Line = Annotated[str, Form(max_length=500)]
Remarks = Annotated[str, Form(max_length=4000)]
BulletinId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
_RECENT = {"month": 13, "week": 13, "quarter": 9}
_DONE = ("drafted", "issued", "saved", "deleted")


def _periods() -> dict[str, list[Any]]:
    today = local_today()
    return {kind: recent_periods(today, kind, _RECENT[kind]) for kind in KINDS}


def _error_text(request: Request, exc: DomainError) -> str:
    return MESSAGES[page_lang(request)].get(f"bulletins.err.{exc.code}") or exc.detail


def _context(session: SessionDep, principal: Principal) -> dict[str, Any]:
    units = list(visible_units(session, principal))
    managed = [u for u in units if principal.can_manage_unit(u.id)]
    return {"user": principal, "units": units, "managed_units": managed, "can_write": bool(managed)}


def _history(request: Request, session: SessionDep, principal: Principal, **extra: Any) -> Response:
    status = extra.pop("status", 200)
    found = bulletins.list_bulletins(session, principal, per_page=200)
    context = {**_context(session, principal), "items": found.items, "total": found.total,
               "periods": _periods(), "error": None, "done": "", **extra}  # fmt: skip
    return render(request, "bulletins_list.html", context, status=status)


@router.get("/bulletins", response_class=HTMLResponse)
def history_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    done = request.query_params.get("done", "")
    return _history(request, session, principal, done=done if done in _DONE else "")


@router.get("/bulletins/preview", response_class=HTMLResponse)
def preview_page(
    request: Request,
    session: SessionDep,
    period: Annotated[str, Query(max_length=16)] = "",
    unit: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    try:
        data = bulletins.preview(session, principal, period, unit or None)
        shown = bulletins.unit_for_read(session, principal, unit or None)
    except DomainError as exc:
        session.rollback()
        return _history(request, session, principal, error=_error_text(request, exc), status=exc.status)
    config = load_config()
    issuer = bulletins.issuer_unit(session, principal, shown)
    form = {
        "title": bulletins.default_title(config, shown, parse_period(period)),
        "addressees": bulletins.default_addressees(config, shown, issuer),
        "remarks": "",
    }
    context = {
        **_context(session, principal),
        "data": data,
        "form": form,
        "error": None,
        "can_write": principal.can_manage_unit(shown.id),
        "period_over": data.period.end < local_today(),
    }
    return render(request, "bulletins_preview.html", context)


@router.post("/bulletins/new", response_class=HTMLResponse)
def create_page(
    request: Request,
    session: SessionDep,
    csrf: Csrf = "",
    period: Annotated[str, Form(max_length=16)] = "",
    unit: Annotated[str, Form(max_length=32)] = "",
    title: Line = "",
    addressees: Line = "",
    remarks: Remarks = "",
    action: Annotated[str, Form(max_length=16)] = "draft",
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Save the previewed bulletin as a draft, or (action=issue) save and issue it at once."""
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    if not same_token(csrf, principal.csrf_token):
        return _history(request, session, principal, error=_error_text(request, _csrf_error()), status=400)
    fields = DraftFields(title=title, addressees=addressees, remarks=remarks)
    try:
        _confirmed(action, confirm)
        draft = bulletins.create_draft(session, principal, period, unit or None, fields, client_ip(request))
    except DomainError as exc:
        session.rollback()
        return _history(request, session, principal, error=_error_text(request, exc), status=exc.status)
    if action == "issue":
        try:
            bulletin_issue.issue(session, principal, draft.id, client_ip(request))
        except DomainError as exc:  # the draft is kept: show it with the reason
            session.rollback()
            error = _error_text(request, exc)
            return _detail(request, session, principal, draft.id, error=error, status=exc.status)
    done = "issued" if action == "issue" else "drafted"
    return RedirectResponse(f"/bulletins/{draft.id}?done={done}", status_code=303)


def _confirmed(action: str, confirm: str) -> None:
    """Issuing cannot be undone: the form asks for a ticked confirmation (no script needed)."""
    if action == "issue" and confirm != "1":
        raise Invalid("tick the box to confirm that the bulletin is issued as it is", "confirm")


def _csrf_error() -> DomainError:
    return DomainError("the form expired; reload the page and submit it again", "csrf")


def _detail(
    request: Request, session: SessionDep, principal: Principal, bulletin_id: int, **extra: Any
) -> Response:
    status = extra.pop("status", 200)
    try:
        shown = bulletins.view(session, principal, bulletin_id)
    except NotFound:
        return render(request, "bulletins_missing.html", {"user": principal}, status=404)
    b = shown.bulletin
    context = {**_context(session, principal), "b": b, "data": shown.data, "doc": shown.document,
               "can_write": b.status == "draft" and principal.can_manage_unit(b.unit_id),
               "period_over": shown.data.period.end < local_today(), "error": None, "done": "", **extra}  # fmt: skip
    return render(request, "bulletins_detail.html", context, status=status)


@router.get("/bulletins/{bulletin_id}", response_class=HTMLResponse)
def detail_page(request: Request, session: SessionDep, bulletin_id: BulletinId) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    done = request.query_params.get("done", "")
    return _detail(request, session, principal, bulletin_id, done=done if done in _DONE else "")


@router.post("/bulletins/{bulletin_id}", response_class=HTMLResponse)
def change_page(
    request: Request,
    session: SessionDep,
    bulletin_id: BulletinId,
    csrf: Csrf = "",
    action: Annotated[str, Form(max_length=16)] = "save",
    title: Line = "",
    addressees: Line = "",
    remarks: Remarks = "",
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Save the wording of a draft, issue it, or delete it."""
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    if not same_token(csrf, principal.csrf_token):
        error = _error_text(request, _csrf_error())
        return _detail(request, session, principal, bulletin_id, error=error, status=400)
    ip = client_ip(request)
    try:
        if action == "delete":
            bulletins.delete_draft(session, principal, bulletin_id, ip)
            return RedirectResponse("/bulletins?done=deleted", status_code=303)
        _confirmed(action, confirm)
        bulletins.update_draft(session, principal, bulletin_id, DraftFields(title, addressees, remarks), ip)
        if action == "issue":
            bulletin_issue.issue(session, principal, bulletin_id, ip)
    except NotFound:
        session.rollback()
        return render(request, "bulletins_missing.html", {"user": principal}, status=404)
    except DomainError as exc:
        session.rollback()
        return _detail(
            request, session, principal, bulletin_id, error=_error_text(request, exc), status=exc.status
        )
    done = "issued" if action == "issue" else "saved"
    return RedirectResponse(f"/bulletins/{bulletin_id}?done={done}", status_code=303)
