"""Pages of assets without an agent, imports, duplicates and merges (issue 4, A9-M3.3, A9-G).

Plain HTML forms (no script): every form carries the session's CSRF token; writes go
through the same services as the JSON API (scope, audit) and redirect on success. The
import preview keeps the uploaded sheet in the page (base64, at most 5 MB) so that
"apply" writes exactly what was previewed, with no state kept on the server.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from collector.api.admin import host_out
from collector.api.assets import import_result
from collector.deps import SessionDep, SettingsDep, client_ip
from collector.services import assets, bundles, duplicates, imports
from collector.services.auth import Principal, same_token
from collector.services.errors import DomainError, Invalid
from collector.services.hosts import visible_units
from collector.services.inventory import DEVICE_TYPES
from collector.web.common import login_redirect, page_principal, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=4000)]
_FIELDS = ("hostname", "unit", "device_type", "vendor", "model", "serial", "os_name", "ip", "mac",
           "owner", "location", "asset_number", "purchase_date", "notes", "tags")  # fmt: skip


def _split(text: str) -> list[str]:
    return [
        part
        for part in text.replace("，", ",").replace("、", ",").replace(";", ",").split(",")
        if part.strip()
    ]


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        raise Invalid(f"bad date {text[:20]!r} (write 2024-03-15)", "bad_date") from None


def _context(session: SessionDep, principal: Principal) -> dict[str, Any]:
    units = [u for u in visible_units(session, principal) if principal.can_manage_unit(u.id)]
    return {"user": principal, "units": units, "device_types": DEVICE_TYPES, "can_write": bool(units)}


def _overview(request: Request, session: SessionDep, principal: Principal, **extra: Any) -> Response:
    groups = duplicates.find_duplicates(session, principal)
    status = extra.pop("status", 200)
    context = {**_context(session, principal), "groups": groups, "form": {}, "error": None, **extra}
    context["done"] = request.query_params.get("done", "")[:32]
    return render(request, "assets.html", context, status=status)


def _checked(request: Request, session: SessionDep, csrf: str) -> Principal | Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    if not same_token(csrf, principal.csrf_token):
        return render(request, "assets_error.html", {"user": principal, "error": "assets.csrf"}, status=400)
    return principal


@router.get("/assets", response_class=HTMLResponse)
def assets_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    return _overview(request, session, principal)


@router.post("/assets/new", response_class=HTMLResponse)
def add_asset(
    request: Request,
    session: SessionDep,
    csrf: Annotated[str, Form(max_length=128)] = "",
    hostname: Text = "", unit: Text = "", device_type: Text = "", vendor: Text = "", model: Text = "",
    serial: Text = "", os_name: Text = "", ip: Text = "", mac: Text = "", owner: Text = "",
    location: Text = "", asset_number: Text = "", purchase_date: Text = "", notes: Text = "", tags: Text = "",
) -> Response:  # fmt: skip
    principal = _checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    form = dict(zip(_FIELDS, (hostname, unit, device_type, vendor, model, serial, os_name, ip, mac, owner,
                              location, asset_number, purchase_date, notes, tags), strict=True))  # fmt: skip
    try:
        new = assets.NewAsset(
            hostname=hostname, unit=unit, device_type=device_type, vendor=vendor, model=model, serial=serial,
            os_name=os_name, ip_addresses=_split(ip), mac_addresses=_split(mac), owner=owner, location=location,
            asset_number=asset_number, purchase_date=_date(purchase_date), notes=notes, tags=_split(tags),
        )  # fmt: skip
        host = assets.create_asset(session, principal, new, client_ip(request))
    except DomainError as exc:
        session.rollback()
        return _overview(request, session, principal, form=form, error=exc.detail, status=exc.status)
    return RedirectResponse(f"/assets/hosts/{host.id}?done=created", status_code=303)


@router.post("/assets/merge", response_class=HTMLResponse)
def merge(
    request: Request,
    session: SessionDep,
    csrf: Annotated[str, Form(max_length=128)] = "",
    source: Annotated[int, Form(ge=1, le=2_147_483_647)] = 1,
    into: Annotated[int, Form(ge=1, le=2_147_483_647)] = 1,
) -> Response:
    principal = _checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    try:
        duplicates.merge_hosts(session, principal, source, into, client_ip(request))
    except DomainError as exc:
        session.rollback()
        return _overview(request, session, principal, error=exc.detail, status=exc.status)
    return RedirectResponse("/assets?done=merged#duplicates", status_code=303)


async def _upload(field: Any, limit: int) -> tuple[bytes, str]:
    if not isinstance(field, UploadFile):
        raise Invalid("choose a file", "no_file")
    data = await field.read(limit + 1)
    if len(data) > limit:
        raise Invalid(f"the file is larger than {limit // 1024 // 1024} MB", "file_too_large")
    return data, (field.filename or "")[:200]


@router.post("/assets/import", response_class=HTMLResponse)
async def import_page(request: Request, session: SessionDep) -> Response:
    """Preview (an uploaded sheet) or apply (the previewed sheet, sent back from the page)."""
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
                    raise Invalid("the previewed sheet was damaged; upload it again", "bad_payload") from None
            else:
                data, filename = await _upload(form.get("file"), imports.MAX_BYTES)
            run: Callable[[], list[imports.RowPlan]] = lambda: imports.import_sheet(  # noqa: E731
                session,
                principal,
                data,
                dry_run=not apply,
                skip_invalid=skip,
                filename=filename,
                ip=client_ip(request),
            )
            rows = await run_in_threadpool(run)
        except imports.ImportRejected as exc:
            session.rollback()
            rows, apply = exc.rows, False
        except DomainError as exc:
            session.rollback()
            return _overview(request, session, principal, error=exc.detail, status=exc.status)
    result = import_result(rows, dry_run=not apply)
    context = {
        "user": principal,
        "result": result,
        "filename": filename,
        "payload": "" if apply else base64.b64encode(data).decode(),
    }
    return render(request, "assets_import.html", context)


@router.post("/assets/bundle", response_class=HTMLResponse)
async def bundle_page(request: Request, session: SessionDep) -> Response:
    async with request.form(max_files=1, max_fields=5, max_part_size=1024) as form:
        principal = _checked(request, session, str(form.get("csrf", ""))[:128])
        if not isinstance(principal, Principal):
            return principal
        try:
            data, filename = await _upload(form.get("file"), bundles.MAX_BUNDLE_BYTES)
            unit = str(form.get("unit", ""))[:32]
            result = await run_in_threadpool(
                lambda: bundles.import_bundle(
                    session, principal, data, unit, filename=filename, ip=client_ip(request)
                )
            )
        except DomainError as exc:
            session.rollback()
            return _overview(request, session, principal, error=exc.detail, status=exc.status)
    return RedirectResponse(f"/assets/hosts/{result.host.id}?done=bundle", status_code=303)


# -- one host's register record ---------------------------------------------------------------------
def _host_page(request: Request, session: SessionDep, settings: SettingsDep, principal: Principal, host_id: int,
               error: str | None = None, status: int = 200) -> Response:  # fmt: skip
    try:
        host = assets.host_for_read(session, principal, host_id)
    except DomainError:
        return render(
            request, "assets_error.html", {"user": principal, "error": "assets.not_found"}, status=404
        )
    context = {
        **_context(session, principal),
        "host": host,
        "out": host_out(host, settings),
        "editable": principal.can_manage_unit(host.unit_id) and host.status != "merged",
        "error": error,
        "done": request.query_params.get("done", "")[:32],
    }
    return render(request, "assets_host.html", context, status=status)


@router.get("/assets/hosts/{host_id}", response_class=HTMLResponse)
def host_page(host_id: int, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    return _host_page(request, session, settings, principal, host_id)


@router.post("/assets/hosts/{host_id}", response_class=HTMLResponse)
def host_update(
    host_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf: Annotated[str, Form(max_length=128)] = "",
    action: Annotated[str, Form(max_length=16)] = "save",
    owner: Text = "", location: Text = "", asset_number: Text = "", purchase_date: Text = "",
    device_type: Text = "", notes: Text = "", tags: Text = "", unit: Text = "",
) -> Response:  # fmt: skip
    principal = _checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    ip = client_ip(request)
    try:
        if action == "move":
            assets.move_host(session, principal, host_id, unit, ip)
        elif action in ("retire", "reactivate"):
            assets.retire_host(session, principal, host_id, action == "retire", ip)
        else:
            values = {"owner": owner, "location": location, "asset_number": asset_number,
                      "purchase_date": _date(purchase_date), "device_type": device_type, "notes": notes}  # fmt: skip
            assets.update_register(session, principal, host_id, values, _split(tags), ip)
    except DomainError as exc:
        session.rollback()
        if exc.status == 404:
            return render(
                request, "assets_error.html", {"user": principal, "error": "assets.not_found"}, status=404
            )
        return _host_page(request, session, settings, principal, host_id, exc.detail, exc.status)
    return RedirectResponse(f"/assets/hosts/{host_id}?done={action[:16]}", status_code=303)
