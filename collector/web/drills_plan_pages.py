"""Pages of emergency plans (应急预案, A9-M4.1, A9-M4.3): the list, a unit's plan with its
history, a version with its difference from the one before, the draft editor (plain forms,
no script), and the DOCX link. Writes go through collector/services/plans.py (scope, audit)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from collector.db.models import Unit
from collector.db.models_drills import Drill, PlanVersion
from collector.deps import SessionDep, client_ip
from collector.services import plans
from collector.services.auth import Principal, same_token
from collector.services.drill_templates import PHASES
from collector.services.errors import DomainError, NotFound
from collector.services.plan_diff import diff_contents
from collector.web.common import login_redirect, page_principal, render
from collector.web.drills_forms import parse_plan, plan_form

__all__ = ["checked", "not_found", "router"]

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=20000)]


def checked(request: Request, session: SessionDep, csrf: str) -> Principal | Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    if not same_token(csrf, principal.csrf_token):
        return render(request, "drills_error.html", {"user": principal, "error": "drills.csrf"}, status=400)
    return principal


def not_found(request: Request, principal: Principal, exc: DomainError) -> Response:
    key = "drills.not_found" if isinstance(exc, NotFound) else ""
    context = {"user": principal, "error": key, "detail": exc.detail}
    return render(request, "drills_error.html", context, status=exc.status)


def _unit_name(unit: Unit, lang: str) -> str:
    return unit.name_zh if lang == "zh-CN" else unit.name_en


@router.get("/plans", response_class=HTMLResponse)
def plans_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    rows = plans.list_plans(session, principal)
    return render(request, "plans_list.html", {"user": principal, "rows": rows})


def _plan_context(session: SessionDep, principal: Principal, unit: Unit) -> dict[str, Any]:
    plan = plans.plan_of(session, unit.id)
    versions = list(reversed(plan.versions)) if plan else []
    current = next((v for v in versions if v.status == "approved"), None)
    draft = next((v for v in versions if v.status == "draft"), None)
    return {
        "user": principal,
        "unit": unit,
        "versions": versions,
        "current": current,
        "draft": draft,
        "content": plans.content_of(current) if current else None,
        "can_write": principal.can_manage_unit(unit.id) and not principal.read_only,
        "phases": PHASES,
    }


@router.get("/plans/{code}", response_class=HTMLResponse)
def plan_page(code: str, request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    try:
        unit = plans.unit_for_read(session, principal, code[:32])
    except DomainError as exc:
        return not_found(request, principal, exc)
    context = _plan_context(session, principal, unit)
    context["done"] = request.query_params.get("done", "")[:32]
    return render(request, "plans_view.html", context)


@router.post("/plans/{code}/draft", response_class=HTMLResponse)
def start_draft(
    code: str, request: Request, session: SessionDep, csrf: Annotated[str, Form(max_length=128)] = ""
) -> Response:
    principal = checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    try:
        plans.create_draft(session, principal, code[:32], ip=client_ip(request))
    except DomainError as exc:
        session.rollback()
        if exc.code != "draft_exists":
            return not_found(request, principal, exc)
    return RedirectResponse(f"/plans/{code[:32]}/edit", status_code=303)


def _editor(request: Request, session: SessionDep, principal: Principal, code: str,
            form: dict[str, str] | None = None, error: str | None = None, status: int = 200) -> Response:  # fmt: skip
    unit = plans.unit_for_read(session, principal, code)
    draft = plans.draft_version(session, unit.id)
    if draft is None:
        return RedirectResponse(f"/plans/{unit.code}", status_code=303)
    sources = [session.get_one(Drill, s.drill_id) for s in draft.sources]
    values = form or {**plan_form(plans.content_of(draft)), "note": draft.note}
    context = {"user": principal, "unit": unit, "draft": draft, "form": values, "error": error,
               "phases": PHASES, "sources": sources}  # fmt: skip
    return render(request, "plans_edit.html", context, status=status)


@router.get("/plans/{code}/edit", response_class=HTMLResponse)
def edit_page(code: str, request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    try:
        return _editor(request, session, principal, code[:32])
    except DomainError as exc:
        return not_found(request, principal, exc)


@router.post("/plans/{code}/edit", response_class=HTMLResponse)
def save_draft(
    code: str,
    request: Request,
    session: SessionDep,
    csrf: Annotated[str, Form(max_length=128)] = "",
    action: Annotated[str, Form(max_length=16)] = "save",
    title: Text = "", scope: Text = "", contacts: Text = "", levels: Text = "", scenarios: Text = "",
    resources: Text = "", note: Text = "", steps_detect: Text = "", steps_report: Text = "",
    steps_contain: Text = "", steps_eradicate: Text = "", steps_recover: Text = "", steps_review: Text = "",
) -> Response:  # fmt: skip
    principal = checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    form = {"title": title, "scope": scope, "contacts": contacts, "levels": levels, "scenarios": scenarios,
            "resources": resources, "note": note, "steps_detect": steps_detect, "steps_report": steps_report,
            "steps_contain": steps_contain, "steps_eradicate": steps_eradicate, "steps_recover": steps_recover,
            "steps_review": steps_review}  # fmt: skip
    code = code[:32]
    try:
        unit = plans.unit_for_read(session, principal, code)
        draft = plans.draft_version(session, unit.id)
        if draft is None:
            raise NotFound("this plan has no draft", "no_draft")
        if action == "discard":
            plans.discard_draft(session, principal, draft.id, client_ip(request))
            return RedirectResponse(f"/plans/{unit.code}?done=discarded", status_code=303)
        plans.update_draft(session, principal, draft.id, parse_plan(form), note, None, client_ip(request))
        if action == "approve":
            plans.approve(session, principal, draft.id, client_ip(request))
            return RedirectResponse(f"/plans/{unit.code}?done=approved", status_code=303)
    except DomainError as exc:
        session.rollback()
        if exc.status == 404:
            return not_found(request, principal, exc)
        return _editor(request, session, principal, code, form, exc.detail, exc.status)
    return RedirectResponse(f"/plans/{unit.code}/edit?done=saved", status_code=303)


@router.get("/plans/{code}/versions/{version_id}", response_class=HTMLResponse)
def version_page(code: str, version_id: int, request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    try:
        version = plans.version_for_read(session, principal, version_id)
    except DomainError as exc:
        return not_found(request, principal, exc)
    unit = session.get_one(Unit, version.plan.unit_id)
    older: list[PlanVersion] = [v for v in version.plan.versions if v.number < version.number]
    previous = older[-1] if older else None
    context = {
        "user": principal,
        "unit": unit,
        "version": version,
        "previous": previous,
        "content": plans.content_of(version),
        "parts": diff_contents(previous.content if previous else None, version.content),
        "sources": [session.get_one(Drill, s.drill_id) for s in version.sources],
        "phases": PHASES,
    }
    return render(request, "plans_version.html", context)
