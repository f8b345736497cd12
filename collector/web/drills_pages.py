"""Pages of emergency drills (A9-M4.2, A9-M4.3) and, through drills_plan_pages, of plans (A9-M4.1).

- /drills: the yearly calendar per unit; bureaus with no drill completed are flagged.
- /drills/new: planning (type, coverage, scenario template or the plan's steps, date,
  participants with roles, target minutes per phase).
- /drills/{id}: the drill, its metrics and record, the evaluation (after-action report,
  actions with owners and due dates, the plan revision), closing, the DOCX report.
- /drills/{id}/run: the checklist runner (static/drills_runner.js): a live clock, steps
  started / done / failed / skipped, injects, a log; actions are queued in the browser with
  ids it makes and retried until the server has them, so it survives reloads, a second
  device and a flaky connection.

Forms carry the session's CSRF token (the runner sends it as X-CSRF-Token to the JSON API);
writes go through the same services as the API (scope, audit).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from collector.api.drills import drill_out
from collector.api.drills_schemas import DrillStateOut
from collector.db.models import Unit
from collector.db.models_drills import PlanVersion
from collector.deps import SessionDep, SettingsDep, client_ip
from collector.services import drill_review, drill_runner, drills, plans
from collector.services.auth import Principal
from collector.services.drill_templates import LEVEL_KEYS, PHASES, load_templates
from collector.services.errors import DomainError, Invalid
from collector.services.hosts import visible_units
from collector.web.common import login_redirect, page_lang, page_principal, render
from collector.web.drills_forms import parse_participants
from collector.web.drills_plan_pages import checked, not_found
from collector.web.drills_plan_pages import router as plan_router
from collector.web.i18n import MESSAGES

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
router.include_router(plan_router)
Text = Annotated[str, Form(max_length=8000)]
Csrf = Annotated[str, Form(max_length=128)]


def _date(text: str, field: str = "date") -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(f"{field}: write a date like 2026-05-20", "bad_date") from None


@router.get("/drills", response_class=HTMLResponse)
def calendar_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    try:
        year = int(request.query_params.get("year", "") or datetime.now(UTC).year)
        rows = drills.calendar(session, principal, year)
    except (ValueError, DomainError):
        year = datetime.now(UTC).year
        rows = drills.calendar(session, principal, year)
    context = {"user": principal, "year": year, "rows": rows,
               "can_plan": any(principal.can_manage_unit(r.unit.id) for r in rows) and not principal.read_only}  # fmt: skip
    return render(request, "drills_calendar.html", context)


def _planning(request: Request, session: SessionDep, principal: Principal, form: dict[str, str],
              error: str | None = None, status: int = 200) -> Response:  # fmt: skip
    units = [u for u in visible_units(session, principal) if principal.can_manage_unit(u.id)]
    with_plan = {u.id for u in units if plans.current_version(session, u.id)}
    context = {"user": principal, "units": units, "with_plan": with_plan, "templates": load_templates(),
               "form": form, "error": error, "phases": PHASES, "levels": LEVEL_KEYS}  # fmt: skip
    return render(request, "drills_new.html", context, status=status)


@router.get("/drills/new", response_class=HTMLResponse)
def new_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    form = {"unit": request.query_params.get("unit", "")[:32], "kind": "tabletop", "coverage": "specialised"}
    return _planning(request, session, principal, form)


@router.post("/drills/new", response_class=HTMLResponse)
async def plan_drill(request: Request, session: SessionDep) -> Response:
    async with request.form(max_files=0, max_fields=40, max_part_size=20000) as data:
        form = {k: str(v)[:8000] for k, v in data.items()}
    principal = checked(request, session, form.get("csrf", ""))
    if not isinstance(principal, Principal):
        return principal
    try:
        targets = {p: int(form[f"target_{p}"]) for p in PHASES if form.get(f"target_{p}", "").strip()}
    except ValueError:
        return _planning(request, session, principal, form, "target minutes: whole numbers", 422)
    try:
        spec = drills.DrillPlan(
            title=form.get("title", ""),
            kind=form.get("kind", ""),
            coverage=form.get("coverage", ""),
            scenario_key=form.get("scenario_key", ""),
            planned_date=_date(form.get("planned_date", "")),
            incident_level=form.get("incident_level") or None,
            participants=[
                drills.Participant(n, r) for n, r in parse_participants(form.get("participants", ""))
            ],
            targets=targets,
            include_plan_steps=form.get("include_plan_steps") == "1",
        )
        drill = drills.create_drill(session, principal, form.get("unit", ""), spec, client_ip(request))
    except DomainError as exc:
        session.rollback()
        return _planning(request, session, principal, form, exc.detail, exc.status)
    return RedirectResponse(f"/drills/{drill.id}?done=planned", status_code=303)


def _detail(
    request: Request, session: SessionDep, principal: Principal, drill_id: int, **extra: Any
) -> Response:
    drill = drills.drill_for_read(session, principal, drill_id)
    state = drill_runner.drill_state(session, principal, drill_id)
    status = extra.pop("status", 200)
    out = drill_out(session, drill)
    context = {
        "user": principal,
        "drill": drill,
        "out": out,
        "revisions": [session.get_one(PlanVersion, v) for v in out.revised_in],
        "state": state,
        "unit": session.get_one(Unit, drill.unit_id),
        "can_write": principal.can_manage_unit(drill.unit_id) and not principal.read_only,
        "phases": PHASES,
        "done": request.query_params.get("done", "")[:32],
        "error": None,
        **extra,
    }
    return render(request, "drills_detail.html", context, status=status)


@router.get("/drills/{drill_id}", response_class=HTMLResponse)
def drill_page(drill_id: int, request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    try:
        return _detail(request, session, principal, drill_id)
    except DomainError as exc:
        return not_found(request, principal, exc)


@router.post("/drills/{drill_id}/do", response_class=HTMLResponse)
def drill_action(
    drill_id: int,
    request: Request,
    session: SessionDep,
    csrf: Csrf = "",
    action: Annotated[str, Form(max_length=32)] = "",
    went_well: Text = "", summary: Text = "", problem: Text = "", fix: Text = "", owner: Text = "",
    due_date: Text = "", concerns_plan: Text = "", action_id: Annotated[int, Form(ge=0, le=2_147_483_647)] = 0,
    outcome: Text = "", note: Text = "", reason: Text = "",
) -> Response:  # fmt: skip
    """Every form of the drill page: cancel, review, add_action, resolve, revise_plan, close."""
    principal = checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    ip = client_ip(request)
    try:
        if action == "cancel":
            drills.cancel_drill(session, principal, drill_id, reason, ip)
        elif action == "review":
            drill_review.save_review(session, principal, drill_id, went_well, summary, ip)
        elif action == "add_action":
            spec = drill_review.ActionSpec(
                problem, owner, _date(due_date, "due date"), fix, concerns_plan == "1"
            )
            drill_review.add_action(session, principal, drill_id, spec, ip)
        elif action == "resolve":
            drills.drill_for_read(session, principal, drill_id)
            drill_review.resolve_action(session, principal, action_id, outcome, note, ip)
        elif action == "revise_plan":
            version = drill_review.revise_plan(session, principal, drill_id, ip)
            code = session.get_one(Unit, version.plan.unit_id).code
            return RedirectResponse(f"/plans/{code}/edit", status_code=303)
        elif action == "close":
            drill_review.close_drill(session, principal, drill_id, ip)
        else:
            raise Invalid("unknown action", "bad_action")
    except DomainError as exc:
        session.rollback()
        if exc.status == 404:
            return not_found(request, principal, exc)
        form = {"went_well": went_well, "summary": summary, "problem": problem, "fix": fix, "owner": owner,
                "due_date": due_date}  # fmt: skip
        return _detail(request, session, principal, drill_id, error=exc.detail, status=exc.status, form=form)
    return RedirectResponse(f"/drills/{drill_id}?done={action}", status_code=303)


def _script_json(text: str) -> str:
    """JSON safe inside a <script> element ("</script>" in a note cannot end it)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _runner_text(lang: str) -> dict[str, str]:
    prefix = "drills.run."
    return {k[len(prefix) :]: v for k, v in MESSAGES[lang].items() if k.startswith(prefix)} | {
        f"phase.{p}": MESSAGES[lang][f"drills.phase.{p}"] for p in PHASES
    }


@router.get("/drills/{drill_id}/run", response_class=HTMLResponse)
def runner_page(drill_id: int, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    try:
        drill = drills.drill_for_read(session, principal, drill_id)
        state = drill_runner.drill_state(session, principal, drill_id)
    except DomainError as exc:
        return not_found(request, principal, exc)
    lang = page_lang(request)
    context = {
        "user": principal,
        "drill": drill,
        "state_json": _script_json(DrillStateOut.model_validate(state).model_dump_json()),
        "text_json": _script_json(json.dumps(_runner_text(lang), ensure_ascii=False)),
        "can_write": principal.can_manage_unit(drill.unit_id) and not principal.read_only,
        "zone": settings.display_timezone,
    }
    return render(request, "drills_run.html", context)
