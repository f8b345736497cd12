"""Pages of the city's VPN account register (issue 6: A9-T2.1 manage VPN users, A9-T2.3 zombie
users), in the caller's scope (A9-G).

- /vpn: filters, the per-unit summary, the appliances, and the accounts with zombie reasons in
  words, links to the host and its VPN findings; exports through the API (the session cookie
  authenticates GET requests there); a link to the appliances' syslog page (/vpn/syslog).
- /vpn/staff: the roster with its import (preview, then apply).
- /vpn/appliances/{host_id}: one appliance, its accounts and the import of its user list.

Plain HTML forms (no script), each with the session's CSRF token. Between preview and apply
the page keeps a cleaned copy of the file (only the columns the import reads, base64): a
password column of an appliance's export never travels back to the browser.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from collector.api.vpn import appliance_result, staff_result, vpn_filter
from collector.api.vpn_schemas import AccountQuery
from collector.db.base import utcnow
from collector.db.models import Host
from collector.deps import SessionDep, client_ip
from collector.services import vpn_imports, vpn_query
from collector.services.assets import host_for_read
from collector.services.auth import Principal, same_token
from collector.services.errors import DomainError, Invalid
from collector.services.hosts import visible_units
from collector.web.common import login_redirect, page_principal, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
HostId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
_FILTERS = ("unit", "source", "weak", "zombie", "reason", "owner_status", "present", "q", "host", "server")


def _error(request: Request, principal: Principal, key: str, status: int) -> Response:
    context = {"user": principal, "error": key}
    return render(request, "vpn_error.html", context, status=status)


def _context(session: SessionDep, principal: Principal) -> dict[str, Any]:
    units = list(visible_units(session, principal))
    return {"user": principal, "units": units, "can_write": any(principal.can_manage_unit(u.id) for u in units),
            "done": ""}  # fmt: skip


def _appliances(session: SessionDep, principal: Principal) -> list[Host]:
    query = select(Host).where(Host.device_type == vpn_imports.APPLIANCE_TYPE, Host.status == "active")
    if principal.visible_units is not None:
        query = query.where(Host.unit_id.in_(principal.visible_units))
    return list(session.scalars(query.order_by(Host.unit_id, Host.hostname)))


# -- the register ---------------------------------------------------------------------------------
@router.get("/vpn", response_class=HTMLResponse)
def register_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    params = {k: v for k, v in request.query_params.items() if k not in ("lang",) and v != ""}
    problem, status = None, 200
    try:
        query = AccountQuery.model_validate(params)
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        query, status = AccountQuery(), 422
    now = utcnow()
    found, summary = None, []
    try:
        found = vpn_query.list_accounts(session, principal, vpn_filter(query), now=now, sort=query.sort,
                                        direction=query.direction, page=query.page, per_page=query.per_page)  # fmt: skip
        summary = vpn_query.summary(session, principal, now, query.unit)
    except DomainError as exc:
        problem, status = exc.detail, exc.status

    def url(**changes: Any) -> str:
        merged = {**params, **changes}
        return "/vpn?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})

    export = urlencode({k: v for k, v in params.items() if k not in ("page", "per_page")})
    context = {**_context(session, principal), "query": query, "found": found, "summary": summary,
               "problem": problem, "url": url, "export": export, "appliances": _appliances(session, principal),
               "reasons": ("no_login", "never_used", "owner_left", "locked"), "sorts": vpn_query.SORTS}  # fmt: skip
    return render(request, "vpn.html", context, status=status)


# -- the roster -----------------------------------------------------------------------------------
@router.get("/vpn/staff", response_class=HTMLResponse)
def staff_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    unit = request.query_params.get("unit", "")[:128].replace("\x00", "")
    status = request.query_params.get("status", "")
    status = status if status in ("active", "left") else ""
    q = request.query_params.get("q", "")[:128].replace("\x00", "").strip()
    problem, total = None, 0
    rows: list[tuple[Any, Any, int]] = []
    try:
        rows, total = vpn_query.list_staff(session, principal, unit=unit, status=status, q=q, per_page=500)
    except DomainError as exc:
        problem = exc.detail
    context = {**_context(session, principal), "rows": rows, "total": total, "unit": unit, "status": status,
               "q": q, "problem": problem, "done": request.query_params.get("done", "")[:16]}  # fmt: skip
    return render(request, "vpn_staff.html", context, status=404 if problem else 200)


async def _file(form: Any) -> tuple[bytes, str]:
    """The uploaded file (preview) or the cleaned copy the preview page sent back (apply)."""
    if form.get("action") == "apply":
        try:
            data = base64.b64decode(str(form.get("payload", "")), validate=True)
        except (binascii.Error, ValueError):
            raise Invalid("the previewed file was damaged; upload it again", "bad_payload") from None
        return data, str(form.get("filename", ""))[:200]
    field = form.get("file")
    if not isinstance(field, UploadFile) or not field.filename:
        raise Invalid("choose a file", "no_file")
    data = await field.read(vpn_imports.MAX_BYTES + 1)
    if len(data) > vpn_imports.MAX_BYTES:
        raise Invalid(f"the file is larger than {vpn_imports.MAX_BYTES // 1024 // 1024} MB", "file_too_large")
    return data, field.filename[:200]


def _import_page(request: Request, principal: Principal, **context: Any) -> Response:
    return render(
        request, "vpn_import.html", {"user": principal, **context}, status=context.pop("status", 200)
    )


@router.post("/vpn/staff/import", response_class=HTMLResponse)
async def staff_import(request: Request, session: SessionDep) -> Response:
    async with request.form(max_files=1, max_fields=10, max_part_size=8 * 1024 * 1024) as form:
        principal = page_principal(request, session)
        if principal is None:
            return login_redirect()
        if not same_token(str(form.get("csrf", ""))[:128], principal.csrf_token):
            return _error(request, principal, "vpn.csrf", 400)
        apply, skip = form.get("action") == "apply", form.get("skip_invalid") == "1"
        filename = ""
        try:
            data, filename = await _file(form)
            clean, ignored = await run_in_threadpool(vpn_imports.clean_copy, data, "staff")
            result = await run_in_threadpool(
                lambda: vpn_imports.import_staff(
                    session,
                    principal,
                    clean,
                    dry_run=not apply,
                    skip_invalid=skip,
                    filename=filename,
                    ip=client_ip(request),
                )
            )
            out, payload = staff_result(result, not apply), "" if apply else base64.b64encode(clean).decode()
            out.ignored = ignored
        except vpn_imports.ImportRejected as exc:
            session.rollback()
            out = staff_result(vpn_imports.StaffResult(exc.rows, [], []), True)
            payload = base64.b64encode(clean).decode()
        except DomainError as exc:
            session.rollback()
            return _import_page(request, principal, kind="staff", error=exc.detail, status=exc.status,
                                action="/vpn/staff/import", back="/vpn/staff", filename=filename)  # fmt: skip
    return _import_page(request, principal, kind="staff", result=out, payload=payload, filename=filename,
                        action="/vpn/staff/import", back="/vpn/staff")  # fmt: skip


# -- one appliance --------------------------------------------------------------------------------
def _appliance_page(request: Request, session: SessionDep, principal: Principal, host_id: int) -> Response:
    try:
        host = host_for_read(session, principal, host_id)
    except DomainError:
        return _error(request, principal, "vpn.not_found", 404)
    found = vpn_query.list_accounts(session, principal, vpn_query.VpnFilter(host_id=host.id, present="all"),
                                    now=utcnow(), sort="account", per_page=500)  # fmt: skip
    context = {**_context(session, principal), "host": host, "found": found,
               "is_appliance": host.device_type == vpn_imports.APPLIANCE_TYPE,
               "editable": principal.can_manage_unit(host.unit_id) and host.status != "merged"}  # fmt: skip
    return render(request, "vpn_appliance.html", context)


@router.get("/vpn/appliances/{host_id}", response_class=HTMLResponse)
def appliance_page(host_id: HostId, request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    return _appliance_page(request, session, principal, host_id)


@router.post("/vpn/appliances/{host_id}/import", response_class=HTMLResponse)
async def appliance_import(host_id: HostId, request: Request, session: SessionDep) -> Response:
    async with request.form(max_files=1, max_fields=10, max_part_size=8 * 1024 * 1024) as form:
        principal = page_principal(request, session)
        if principal is None:
            return login_redirect()
        if not same_token(str(form.get("csrf", ""))[:128], principal.csrf_token):
            return _error(request, principal, "vpn.csrf", 400)
        apply, skip = form.get("action") == "apply", form.get("skip_invalid") == "1"
        back, filename = f"/vpn/appliances/{host_id}", ""
        try:
            vpn_imports.appliance_for_write(session, principal, host_id)
            data, filename = await _file(form)
            clean, ignored = await run_in_threadpool(vpn_imports.clean_copy, data, "appliance")
            result = await run_in_threadpool(
                lambda: vpn_imports.import_appliance_users(
                    session, principal, host_id, clean, dry_run=not apply, skip_invalid=skip, filename=filename,
                    ip=client_ip(request))
            )  # fmt: skip
            out = appliance_result(result, not apply)
            out.ignored = ignored
            payload = "" if apply else base64.b64encode(clean).decode()
        except vpn_imports.ImportRejected as exc:
            session.rollback()
            out = appliance_result(vpn_imports.ApplianceResult(exc.rows, [], []), True)
            payload = base64.b64encode(clean).decode()
        except DomainError as exc:
            session.rollback()
            if exc.status == 404:
                return _error(request, principal, "vpn.not_found", 404)
            return _import_page(request, principal, kind="appliance", error=exc.detail, status=exc.status,
                                action=f"{back}/import", back=back, filename=filename)  # fmt: skip
    return _import_page(request, principal, kind="appliance", result=out, payload=payload, filename=filename,
                        action=f"{back}/import", back=back)  # fmt: skip
