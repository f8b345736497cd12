"""Pages of the training ledger (A9-M2.3) and the year's overview (A9-M2.3, A9-M4.2), in the
caller's scope (A9-G).

Plain HTML forms (no script): every form carries the session's CSRF token; writes go through
the same services as the JSON API (scope, audit) and redirect on success. The attendance
import preview keeps the uploaded file in the page (base64, at most 5 MB) so that "apply"
writes exactly what was previewed, as the asset import does. Files download through the API
(the session cookie authenticates GET requests there).
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from collector.api.trainings import attendance_result
from collector.db.base import utcnow
from collector.deps import SessionDep, client_ip
from collector.services import annual, trainings
from collector.services import training_attendance as attendance
from collector.services.auth import Principal, same_token
from collector.services.errors import DomainError, Invalid
from collector.services.hosts import visible_units
from collector.web.common import login_redirect, page_principal, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=4000)]
Csrf = Annotated[str, Form(max_length=128)]
_FIELDS = ("held_on", "topic", "kind", "unit", "trainer", "location", "hours", "notes")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(f"bad date {text[:20]!r} (write 2026-03-15)", "bad_date") from None


def _hours(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text.strip())
    except ValueError:
        raise Invalid(f"hours {text[:20]!r} is not a number", "bad_hours") from None
    return trainings.check_hours(value)


def _year(request: Request) -> int:
    text = request.query_params.get("year", "")
    year = int(text) if text.isdigit() and len(text) == 4 else utcnow().year
    return min(max(year, annual.MIN_YEAR), annual.MAX_YEAR)


def _error(request: Request, principal: Principal, key: str, status: int) -> Response:
    return render(request, "trainings_error.html", {"user": principal, "error": key}, status=status)


def _checked(request: Request, session: SessionDep, csrf: str) -> Principal | Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    if not same_token(csrf, principal.csrf_token):
        return _error(request, principal, "trainings.csrf", 400)
    return principal


def _context(session: SessionDep, principal: Principal) -> dict[str, Any]:
    units = list(visible_units(session, principal))
    managed = [u for u in units if principal.can_manage_unit(u.id)]
    return {"user": principal, "units": units, "managed": managed, "can_write": bool(managed),
            "kinds": trainings.KINDS}  # fmt: skip


# -- the list -----------------------------------------------------------------------------------------
def _list_page(request: Request, session: SessionDep, principal: Principal, **extra: Any) -> Response:
    year = _year(request)
    kind = request.query_params.get("kind", "")
    kind = kind if kind in trainings.KINDS else ""
    found = trainings.list_trainings(session, principal, year=year, kind=kind, per_page=200)
    status = extra.pop("status", 200)
    context = {**_context(session, principal), "year": year, "kind": kind, "items": found.items,
               "total": found.total, "form": {}, "error": None,
               "counts": {t.id: sum(a.attended for a in trainings.shown_attendees(principal, t)) for t in found.items},
               "done": request.query_params.get("done", "")[:32], **extra}  # fmt: skip
    return render(request, "trainings_list.html", context, status=status)


@router.get("/trainings", response_class=HTMLResponse)
def trainings_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    return _list_page(request, session, principal)


@router.post("/trainings/new", response_class=HTMLResponse)
def new_training(
    request: Request, session: SessionDep, csrf: Csrf = "",
    held_on: Text = "", topic: Text = "", kind: Text = "technical", unit: Text = "", trainer: Text = "",
    location: Text = "", hours: Text = "", notes: Text = "",
) -> Response:  # fmt: skip
    principal = _checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    form = dict(zip(_FIELDS, (held_on, topic, kind, unit, trainer, location, hours, notes), strict=True))
    try:
        fields = trainings.TrainingFields(
            held_on=_date(held_on), topic=topic, unit=unit, kind=kind, trainer=trainer, location=location,
            hours=_hours(hours) or 0.0, notes=notes,
        )  # fmt: skip
        training = trainings.create_training(session, principal, fields, (), client_ip(request))
    except DomainError as exc:
        session.rollback()
        return _list_page(request, session, principal, form=form, error=exc.detail, status=exc.status)
    return RedirectResponse(f"/trainings/{training.id}?done=created", status_code=303)


# -- one training ----------------------------------------------------------------------------------------
def _detail(request: Request, session: SessionDep, principal: Principal, training_id: int,
            error: str | None = None, status: int = 200) -> Response:  # fmt: skip
    try:
        training = trainings.get_training(session, principal, training_id)
    except DomainError:
        return _error(request, principal, "trainings.not_found", 404)
    attendees = trainings.shown_attendees(principal, training)
    context = {
        **_context(session, principal),
        "training": training,
        "attendees": attendees,
        "attended": sum(a.attended for a in attendees),
        "shown_units": trainings.shown_units(principal, training),
        "unit_codes": [u.code for u in trainings.shown_units(principal, training)],
        "editable": not principal.read_only and principal.can_manage_unit(training.unit_id),
        "error": error,
        "done": request.query_params.get("done", "")[:32],
    }
    return render(request, "trainings_detail.html", context, status=status)


def _after(request: Request, session: SessionDep, principal: Principal, training_id: int,
           exc: DomainError) -> Response:  # fmt: skip
    session.rollback()
    if exc.status == 404 and exc.code == "unknown_training":
        return _error(request, principal, "trainings.not_found", 404)
    return _detail(request, session, principal, training_id, exc.detail, exc.status)


@router.get("/trainings/{training_id}", response_class=HTMLResponse)
def training_page(training_id: int, request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    return _detail(request, session, principal, training_id)


@router.post("/trainings/{training_id}", response_class=HTMLResponse)
def save_training(
    training_id: int, request: Request, session: SessionDep, csrf: Csrf = "",
    action: Annotated[str, Form(max_length=16)] = "save",
    held_on: Text = "", topic: Text = "", kind: Text = "technical", unit: Text = "", trainer: Text = "",
    location: Text = "", hours: Text = "", notes: Text = "", units: Annotated[list[str] | None, Form()] = None,
) -> Response:  # fmt: skip
    principal = _checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    ip = client_ip(request)
    try:
        if action == "delete":
            trainings.delete_training(session, principal, training_id, ip)
            return RedirectResponse("/trainings?done=deleted", status_code=303)
        values = {"held_on": _date(held_on), "topic": topic, "kind": kind, "unit": unit, "trainer": trainer,
                  "location": location, "hours": _hours(hours) or 0.0, "notes": notes}  # fmt: skip
        codes = [c[:128] for c in (units or [])[:200]]
        trainings.update_training(session, principal, training_id, values, codes, ip)
    except DomainError as exc:
        return _after(request, session, principal, training_id, exc)
    return RedirectResponse(f"/trainings/{training_id}?done=saved", status_code=303)


@router.post("/trainings/{training_id}/attendees", response_class=HTMLResponse)
def add_attendee(
    training_id: int, request: Request, session: SessionDep, csrf: Csrf = "",
    name: Text = "", unit: Text = "", username: Text = "", hours: Text = "",
    attended: Annotated[str, Form(max_length=8)] = "",
) -> Response:  # fmt: skip
    principal = _checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    try:
        new = trainings.NewAttendee(name=name, unit=unit, username=username[:64], hours=_hours(hours),
                                    attended=attended == "1")  # fmt: skip
        trainings.add_attendee(session, principal, training_id, new, client_ip(request))
    except DomainError as exc:
        return _after(request, session, principal, training_id, exc)
    return RedirectResponse(f"/trainings/{training_id}?done=attendee_added#attendees", status_code=303)


@router.post("/trainings/{training_id}/attendees/{attendee_id}/delete", response_class=HTMLResponse)
def remove_attendee(training_id: int, attendee_id: int, request: Request, session: SessionDep,
                    csrf: Csrf = "") -> Response:  # fmt: skip
    principal = _checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    try:
        trainings.remove_attendee(session, principal, training_id, attendee_id, client_ip(request))
    except DomainError as exc:
        return _after(request, session, principal, training_id, exc)
    return RedirectResponse(f"/trainings/{training_id}?done=attendee_removed#attendees", status_code=303)


async def _upload(field: Any, limit: int) -> tuple[bytes, str, str]:
    if not isinstance(field, UploadFile) or not field.filename:
        raise Invalid("choose a file", "no_file")
    data = await field.read(limit + 1)
    if len(data) > limit:
        raise Invalid(f"the file is larger than {limit // 1024 // 1024} MB", "file_too_large")
    return data, field.filename[:255], field.content_type or ""


@router.post("/trainings/{training_id}/materials", response_class=HTMLResponse)
async def upload_material(training_id: int, request: Request, session: SessionDep) -> Response:
    limit = trainings.MAX_MATERIAL_BYTES
    async with request.form(max_files=1, max_fields=5, max_part_size=limit + 1024) as form:
        principal = _checked(request, session, str(form.get("csrf", ""))[:128])
        if not isinstance(principal, Principal):
            return principal
        try:
            data, filename, declared = await _upload(form.get("file"), limit)
            await run_in_threadpool(
                lambda: trainings.add_material(
                    session, principal, training_id, filename, data, declared, client_ip(request)
                )
            )
        except DomainError as exc:
            return _after(request, session, principal, training_id, exc)
    return RedirectResponse(f"/trainings/{training_id}?done=material_added#materials", status_code=303)


@router.post("/trainings/{training_id}/materials/{material_id}/delete", response_class=HTMLResponse)
def remove_material(training_id: int, material_id: int, request: Request, session: SessionDep,
                    csrf: Csrf = "") -> Response:  # fmt: skip
    principal = _checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    try:
        trainings.remove_material(session, principal, training_id, material_id, client_ip(request))
    except DomainError as exc:
        return _after(request, session, principal, training_id, exc)
    return RedirectResponse(f"/trainings/{training_id}?done=material_removed#materials", status_code=303)


@router.post("/trainings/{training_id}/import", response_class=HTMLResponse)
async def import_page(training_id: int, request: Request, session: SessionDep) -> Response:
    """Preview (an uploaded file) or apply (the previewed file, sent back from the page)."""
    async with request.form(max_files=1, max_fields=10, max_part_size=8 * 1024 * 1024) as form:
        principal = _checked(request, session, str(form.get("csrf", ""))[:128])
        if not isinstance(principal, Principal):
            return principal
        apply = form.get("action") == "apply"
        skip = form.get("skip_invalid") == "1"
        try:
            if apply:
                payload, filename = str(form.get("payload", "")), str(form.get("filename", ""))[:200]
                try:
                    data = base64.b64decode(payload, validate=True)
                except (binascii.Error, ValueError):
                    raise Invalid("the previewed file was damaged; upload it again", "bad_payload") from None
            else:
                data, filename, _type = await _upload(form.get("file"), attendance.MAX_BYTES)
            rows = await run_in_threadpool(
                lambda: attendance.import_attendance(
                    session, principal, training_id, data, dry_run=not apply, skip_invalid=skip,
                    filename=filename, ip=client_ip(request),
                )
            )  # fmt: skip
        except attendance.AttendanceRejected as exc:
            session.rollback()
            rows, apply = exc.rows, False
        except DomainError as exc:
            return _after(request, session, principal, training_id, exc)
    training = trainings.get_training(session, principal, training_id)
    context = {"user": principal, "training": training, "result": attendance_result(rows, dry_run=not apply),
               "filename": filename, "payload": "" if apply else base64.b64encode(data).decode()}  # fmt: skip
    return render(request, "trainings_import.html", context)


# -- the year's overview -----------------------------------------------------------------------------------
@router.get("/annual", response_class=HTMLResponse)
def annual_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    year = _year(request)
    data = annual.overview(session, principal, year)
    this_year = utcnow().year
    context = {"user": principal, "data": data, "year": year,
               "years": list(range(this_year, max(annual.MIN_YEAR, this_year - 6) - 1, -1))}  # fmt: skip
    return render(request, "annual_overview.html", context)
