"""Compliance pages (issue 5; A9-M3.5, A9-T3.4, P-16, A9-G): the overview by unit and by check,
one check as written with the hosts failing it, a host's compliance tab and the history of one
host × check result.

Everything reads through collector/services/compliance_view.py, which counts the active hosts
the user may see; a host, unit or check outside that view answers like a missing one (404).
Server-rendered, no script; zh-CN first, English with ?lang=en.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from collector.db.models import Unit
from collector.deps import SessionDep, SettingsDep
from collector.policy.meta import STATUSES
from collector.services import compliance_view
from collector.services.auth import Principal
from collector.services.compliance import active_catalog
from collector.services.errors import NotFound
from collector.web.common import login_redirect, page_principal, render
from collector.web.policies_view import evidence_lines

__all__ = ["PER_PAGE", "error_page", "router", "visible_unit"]

router = APIRouter(include_in_schema=False)
PER_PAGE = 50
_CHECK_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9][a-z0-9_.-]*$")  # as collector/policy/schema.py


def error_page(request: Request, principal: Principal | None, key: str, status: int) -> Response:
    """The page of a refusal: 404 (missing or out of scope, the same text), 403, 400."""
    return render(
        request, "policies_error.html", {"user": principal, "error": key, "code": status}, status=status
    )


def visible_unit(session: SessionDep, principal: Principal, code: str) -> Unit | None:
    """The unit with this code when the user sees it (else None: missing and hidden look alike)."""
    unit = session.scalar(select(Unit).where(Unit.code == code[:32])) if code else None
    return unit if unit is not None and principal.can_see_unit(unit.id) else None


def _host_id(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and 1 <= int(text[:12]) <= 2_147_483_647 else None


def _int_arg(request: Request, name: str, default: int = 1) -> int:
    value = request.query_params.get(name, "")
    return max(int(value[:7]), 1) if value.isascii() and value.isdigit() else default


def _zone(settings: SettingsDep) -> ZoneInfo:
    return ZoneInfo(settings.display_timezone)


def _evidence(settings: SettingsDep) -> Callable[[Any], list[Any]]:
    zone = _zone(settings)
    return lambda evidence: evidence_lines(evidence, zone)


@router.get("/compliance", response_class=HTMLResponse)
def overview(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    code = request.query_params.get("unit", "").strip()
    unit = visible_unit(session, principal, code)
    if code and unit is None:
        return error_page(request, principal, "policies.not_found.unit", 404)
    units = compliance_view.by_unit(session, principal)
    checks = compliance_view.by_check(session, principal, {unit.id} if unit else None)
    totals: dict[str, float | None] = {
        "hosts": sum(r.hosts for r in units),
        "hosts_failing": sum(r.hosts_failing for r in units),
        "live_findings": sum(r.live_findings for r in units),
        "overdue": sum(r.overdue for r in units),
        **{s: sum(r.counts[s] for r in units) for s in STATUSES},
    }
    passed = sum(r.counts["pass"] for r in units)
    judged = passed + sum(r.counts["fail"] for r in units)
    totals["rate"] = round(100.0 * passed / judged, 1) if judged else None
    context = {"user": principal, "units": units, "checks": checks, "unit": unit, "totals": totals}
    return render(request, "compliance_overview.html", context)


def _dump(value: Any) -> str:
    return str(yaml.safe_dump(value, allow_unicode=True, sort_keys=False, width=100)).strip()


@router.get("/compliance/checks/{check_id}", response_class=HTMLResponse)
def check_page(check_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    try:
        if len(check_id) > 96 or not _CHECK_ID.fullmatch(check_id):
            raise NotFound("no such check")
        detail = compliance_view.check_detail(session, check_id)
    except NotFound:
        return error_page(request, principal, "policies.not_found.check", 404)
    pack = active_catalog(session).packs[detail["pack"]].pack
    bounds = {name: (p.min, p.max) for name, p in pack.parameters.items()}
    status = request.query_params.get("status", "fail")
    status = status if status in STATUSES else "fail"
    page = _int_arg(request, "page")
    total, rows = compliance_view.failing_hosts(
        session, principal, check_id, status=status, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    counts = next((r.counts for r in compliance_view.by_check(session, principal) if r.id == check_id), {})
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    context = {
        "user": principal,
        "c": detail,
        "bounds": bounds,
        "examples": [
            {
                "name": e.get("name", ""),
                "expect": e.get("expect", ""),
                "data": _dump({k: v for k, v in e.items() if k not in ("name", "expect")})
                if len(e) > 2
                else "",
            }
            for e in detail["examples"]
        ],
        "status": status,
        "counts": counts,
        "rows": rows,
        "total": total,
        "page": min(page, pages),
        "pages": pages,
        "url": lambda **kw: f"/compliance/checks/{check_id}?" + urlencode({"status": status, **kw}),
        "evidence": _evidence(settings),
    }
    return render(request, "compliance_check.html", context)


@router.get("/hosts/{host_id}/compliance", response_class=HTMLResponse)
def host_page(host_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    number = _host_id(host_id)
    try:
        if number is None:
            raise NotFound("no such host")
        host, results = compliance_view.host_results(session, principal, number)
    except NotFound:
        return error_page(request, principal, "policies.not_found.host", 404)
    counts = dict.fromkeys(STATUSES, 0)
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    context = {
        "user": principal,
        "host": host,
        "results": results,
        "counts": counts,
        "evidence": _evidence(settings),
    }
    return render(request, "compliance_host.html", context)


@router.get("/hosts/{host_id}/compliance/{check_id}", response_class=HTMLResponse)
def history_page(
    host_id: str, check_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    number = _host_id(host_id)
    try:
        if number is None or len(check_id) > 96 or not _CHECK_ID.fullmatch(check_id):
            raise NotFound("no such host or check")
        host, results = compliance_view.host_results(session, principal, number)
        history = compliance_view.result_history(session, principal, number, check_id)
    except NotFound:
        return error_page(request, principal, "policies.not_found.host", 404)
    current = next((r for r in results if r.check.id == check_id), None)
    if current is None and not history:
        return error_page(request, principal, "policies.not_found.check", 404)
    context = {
        "user": principal,
        "host": host,
        "check_id": check_id,
        "current": current,
        "history": history,
        "evidence": _evidence(settings),
    }
    return render(request, "compliance_history.html", context)
