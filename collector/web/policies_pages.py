"""Policy pages (issue 5; A9-T3.4, A9-M3.5, P-16, A9-G): the packs with their versions and
checks, uploading a new version (validated, its difference shown, applied only when confirmed)
and a unit's overrides (checks on or off, parameters); plus the compliance pages
(policies_compliance.py, included here so that main.py registers one router per area).

Plain HTML forms with the session's CSRF token. Packs apply to the whole city: only a city
admin uploads and applies (anyone else gets a 403 page); a district admin changes the
overrides of the units they manage; out-of-scope units answer like missing ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from collector.db.models import Unit, User
from collector.db.models_policy import PolicyOverride, PolicyPack
from collector.deps import SessionDep, client_ip
from collector.policy.loader import PackError, load_pack_text
from collector.services import compliance
from collector.services.auth import Principal, same_token
from collector.services.errors import DomainError, NotFound
from collector.services.hosts import visible_units
from collector.web import policies_compliance
from collector.web.common import login_redirect, page_principal, render
from collector.web.policies_compliance import error_page, visible_unit
from collector.web.policies_overrides import apply_form, unit_form
from collector.web.policies_view import diff_lines

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
router.include_router(policies_compliance.router)

MAX_PACK_BYTES = 2 * 1024 * 1024
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def is_city_admin(principal: Principal) -> bool:
    """Who may upload and apply packs (mirrors services/compliance.py ``_ensure_city_admin``)."""
    return principal.city_wide and principal.managed_units is None


@dataclass
class PackGroup:
    """Every stored version of one pack, newest first within each status."""

    name: str
    active: PolicyPack | None = None
    pending: list[PolicyPack] = field(default_factory=list)
    superseded: list[PolicyPack] = field(default_factory=list)

    @property
    def shown(self) -> PolicyPack:
        return self.active or (self.pending + self.superseded)[0]


def _groups(session: SessionDep) -> list[PackGroup]:
    groups: dict[str, PackGroup] = {}
    for row in session.scalars(select(PolicyPack).order_by(PolicyPack.name, PolicyPack.version.desc())):
        group = groups.setdefault(row.name, PackGroup(row.name))
        if row.status == "active":
            group.active = row
        elif row.status == "pending":
            group.pending.append(row)
        else:
            group.superseded.append(row)
    return list(groups.values())


def _usernames(session: SessionDep, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {row[0]: row[1] for row in rows}


def _list_page(
    request: Request, session: SessionDep, principal: Principal, *, status: int = 200, **extra: Any
) -> Response:
    groups = _groups(session)
    units = list(visible_units(session, principal))
    counted = session.execute(select(PolicyOverride.unit_id, func.count()).group_by(PolicyOverride.unit_id))
    own: dict[int, int] = {row[0]: row[1] for row in counted}
    context = {
        "user": principal,
        "groups": groups,
        "names": _usernames(session, {r.uploaded_by_id for g in groups for r in [g.shown, *g.pending]}),
        "units": units,
        "own_overrides": own,
        "can_upload": is_city_admin(principal),
        "errors": [],
        "text": "",
        **extra,
    }
    return render(request, "policies_list.html", context, status=status)


@router.get("/policies", response_class=HTMLResponse)
def packs_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    return _list_page(request, session, principal)


async def _pack_text(form: FormData) -> tuple[str, str]:
    """(text, problem): the uploaded file, else the pasted text, as UTF-8 with LF line ends."""
    upload = form.get("file")
    data = b""
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_PACK_BYTES + 1)
    if not data:
        pasted = form.get("text")
        data = pasted.encode("utf-8") if isinstance(pasted, str) else b""
    if not data.strip():
        return "", "policies.upload.empty"
    if len(data) > MAX_PACK_BYTES:
        return "", "policies.upload.too_large"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "", "policies.upload.not_utf8"
    if "\x00" in text:
        return "", "policies.upload.not_utf8"
    return text.replace("\r\n", "\n"), ""


def _validate(text: str) -> list[str]:
    """Every problem of a pack (schema, rules against the wire models, examples)."""
    try:
        load_pack_text(text)
    except PackError as exc:
        return list(exc.problems)
    return []


@router.post("/policies/upload", response_class=HTMLResponse)
async def upload(request: Request, session: SessionDep) -> Response:
    async with request.form(max_files=1, max_fields=5, max_part_size=MAX_PACK_BYTES + 1024) as form:
        principal = page_principal(request, session)
        if principal is None:
            return login_redirect()
        if not same_token(str(form.get("csrf", ""))[:128], principal.csrf_token):
            return error_page(request, principal, "policies.csrf", 400)
        if not is_city_admin(principal):
            return error_page(request, principal, "policies.forbidden.city_admin", 403)
        text, problem = await _pack_text(form)
    if problem:
        return _list_page(request, session, principal, status=422, problem=problem, text=text)
    errors = await run_in_threadpool(_validate, text)
    if not errors:
        try:
            row, _diff = await run_in_threadpool(
                compliance.stage_pack, session, principal, text, client_ip(request)
            )
        except DomainError as exc:
            session.rollback()
            errors = [exc.detail]
    if errors:
        return _list_page(request, session, principal, status=422, errors=errors, text=text)
    name, version = row.name, row.version
    session.commit()
    return RedirectResponse(f"/policies/packs/{name}/{version}", status_code=303)


def _pack_row(session: SessionDep, name: str, version: str) -> PolicyPack | None:
    if not _NAME.fullmatch(name) or not (version.isascii() and version.isdigit() and len(version) <= 9):
        return None
    return session.scalar(
        select(PolicyPack).where(PolicyPack.name == name, PolicyPack.version == int(version))
    )


def _version_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    row: PolicyPack,
    error: str = "",
    status: int = 200,
) -> Response:
    diff: dict[str, Any] | None = None
    problems: list[str] = []
    if row.status == "pending":
        try:
            diff = compliance.pending_diff(session, row)
        except PackError as exc:
            problems = list(exc.problems)
    versions = session.execute(
        select(PolicyPack.version, PolicyPack.status)
        .where(PolicyPack.name == row.name)
        .order_by(PolicyPack.version.desc())
    ).all()
    context = {
        "user": principal,
        "row": row,
        "content": row.content or {},
        "diff": diff,
        "problems": problems,
        "versions": versions,
        "uploader": _usernames(session, {row.uploaded_by_id}).get(row.uploaded_by_id or 0, ""),
        "can_apply": is_city_admin(principal) and row.status == "pending" and not problems,
        "error": error,
        "diff_lines": diff_lines,
    }
    return render(request, "policies_version.html", context, status=status)


@router.get("/policies/packs/{name}/{version}", response_class=HTMLResponse)
def version_page(name: str, version: str, request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    row = _pack_row(session, name, version)
    if row is None:
        return error_page(request, principal, "policies.not_found.pack", 404)
    return _version_page(request, session, principal, row)


@router.post("/policies/packs/{name}/{version}/apply", response_class=HTMLResponse)
def apply(
    name: str,
    version: str,
    request: Request,
    session: SessionDep,
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    if not same_token(csrf, principal.csrf_token):
        return error_page(request, principal, "policies.csrf", 400)
    if not is_city_admin(principal):
        return error_page(request, principal, "policies.forbidden.city_admin", 403)
    row = _pack_row(session, name, version)
    if row is None:
        return error_page(request, principal, "policies.not_found.pack", 404)
    try:
        stats = compliance.apply_pack(session, principal, row.name, row.version, client_ip(request))
    except DomainError as exc:
        session.rollback()
        return _version_page(request, session, principal, row, exc.detail, exc.status)
    session.commit()
    context = {"user": principal, "row": row, "stats": stats}
    return render(request, "policies_applied.html", context)


# -- a unit's overrides --------------------------------------------------------------------------


def _unit_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    unit: Unit,
    *,
    submitted: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "user": principal,
        "unit": unit,
        "packs": unit_form(session, unit, submitted or {}, errors or {}),
        "editable": principal.can_manage_unit(unit.id),
        "errors": errors or {},
        "done": request.query_params.get("done", "")[:16],
        "evaluated": request.query_params.get("evaluated", "")[:9],
    }
    return render(request, "policies_unit.html", context, status=status)


@router.get("/policies/units/{code}", response_class=HTMLResponse)
def unit_page(code: str, request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    unit = visible_unit(session, principal, code)
    if unit is None:
        return error_page(request, principal, "policies.not_found.unit", 404)
    return _unit_page(request, session, principal, unit)


@router.post("/policies/units/{code}", response_class=HTMLResponse)
async def unit_save(code: str, request: Request, session: SessionDep) -> Response:
    async with request.form(max_files=0, max_fields=5000, max_part_size=64 * 1024) as form:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    if not same_token(fields.get("csrf", "")[:128], principal.csrf_token):
        return error_page(request, principal, "policies.csrf", 400)
    unit = visible_unit(session, principal, code)
    if unit is None:
        return error_page(request, principal, "policies.not_found.unit", 404)
    if not principal.can_manage_unit(unit.id):
        return error_page(request, principal, "policies.forbidden.read_only", 403)
    checks, params, errors = apply_form(session, unit, fields)
    if errors:
        return _unit_page(request, session, principal, unit, submitted=fields, errors=errors, status=422)
    if not checks and not params:
        return RedirectResponse(f"/policies/units/{unit.code}?done=unchanged", status_code=303)
    try:
        stats = await run_in_threadpool(
            lambda: compliance.set_overrides(
                session, principal, unit, checks=checks, params=params, ip=client_ip(request)
            )
        )
    except NotFound:
        session.rollback()
        return error_page(request, principal, "policies.not_found.unit", 404)
    except DomainError as exc:
        session.rollback()
        return _unit_page(
            request, session, principal, unit, submitted=fields, errors={"": exc.detail}, status=exc.status
        )
    session.commit()
    return RedirectResponse(
        f"/policies/units/{unit.code}?done=saved&evaluated={stats.evaluations}", status_code=303
    )
