"""Pages of the asset register (issue 4, A9-M3.3, A9-G, A9-T3.1): the host list with filters,
one host with every section and its timeline, the software catalogue and the hardware models.

Server-rendered, no JavaScript needed. Every page reads through the same services as the
JSON API (services/register.py, services/catalogue.py), so a page shows exactly what the
API would answer to the same user. Bad filters show a message, never an error page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError

from collector.api.admin import host_out
from collector.api.register_schemas import HardwareQuery, SoftwareQuery, VersionsQuery
from collector.api.schemas import HostQuery
from collector.db.models import Unit
from collector.deps import SessionDep, SettingsDep
from collector.services import catalogue
from collector.services.auth import Principal
from collector.services.errors import DomainError, NotFound
from collector.services.hosts import visible_units
from collector.services.inventory import DEVICE_TYPES
from collector.services.register import STATUSES, HostPage, list_hosts
from collector.web.common import login_redirect, page_lang, page_principal, render
from collector.web.i18n import translate
from collector.web.register_view import SECTION_ORDER, key_facts, pretty_json

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_PAGING = ("page", "per_page")
Q = TypeVar("Q", bound=BaseModel)


def _parse(model: type[Q], request: Request, skip: tuple[str, ...] = ()) -> tuple[Q, str]:
    """The query of a page from its URL: known, non-empty parameters only; bad input falls back
    to the defaults with a message instead of an error page."""
    raw = {
        k: v
        for k, v in request.query_params.items()
        if k in model.model_fields and k not in skip and v.strip() != ""
    }
    try:
        return model.model_validate(raw), ""
    except ValidationError as exc:
        problem = exc.errors()[0]
        return model.model_validate({}), f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}"


def _params(query: BaseModel, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """The query's parameters that differ from the defaults, as URL parameters."""
    defaults = type(query).model_validate({})
    out: dict[str, str] = {}
    for name in type(query).model_fields:
        value = getattr(query, name)
        if name in drop or value == getattr(defaults, name):
            continue
        out[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _linker(path: str, base: Mapping[str, str]) -> Callable[..., str]:
    """``url(**changes)``: this page with the current parameters, some changed (None drops one)."""

    def url(**changes: Any) -> str:
        merged = {**base, **{k: str(v) for k, v in changes.items() if v is not None}}
        for key, value in changes.items():
            if value is None or value == "":
                merged.pop(key, None)
        return path + ("?" + urlencode(merged) if merged else "")

    return url


def _unit_tree(session: SessionDep, principal: Principal) -> list[tuple[Unit, int]]:
    """The units the user can see, each with its depth below the visible roots, in tree order."""
    units = list(visible_units(session, principal))
    ids = {u.id for u in units}
    children: dict[int | None, list[Unit]] = {}
    for unit in units:
        parent = unit.parent_id if unit.parent_id in ids else None
        children.setdefault(parent, []).append(unit)
    ordered: list[tuple[Unit, int]] = []

    def walk(parent: int | None, depth: int) -> None:
        for unit in children.get(parent, []):
            ordered.append((unit, depth))
            walk(unit.id, depth + 1)

    walk(None, 0)
    return ordered


def _subtree_counts(units: list[tuple[Unit, int]], own: Mapping[int, int]) -> dict[int, int]:
    """Each unit's count with the counts of the units below it (``units`` in tree order)."""
    totals = {unit.id: own.get(unit.id, 0) for unit, _depth in units}
    for unit, _depth in reversed(units):  # children come after their parent
        if unit.parent_id in totals:
            totals[unit.parent_id] += totals[unit.id]
    return totals


def _label(lang: str) -> Callable[[str, str], str]:
    def label(prefix: str, value: str) -> str:
        key = f"reg.{prefix}.{value}"
        text = translate(lang, key)
        return value if text == key else text

    return label


def _common(request: Request, session: SessionDep, principal: Principal) -> dict[str, Any]:
    units = _unit_tree(session, principal)
    return {
        "user": principal,
        "label": _label(page_lang(request)),
        "units": units,
        "unit_by_code": {u.code: u for u, _depth in units},
        "device_types": DEVICE_TYPES,
        "kinds": catalogue.KINDS,
    }


@router.get("/", response_class=HTMLResponse)
def hosts_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    query, problem = _parse(HostQuery, request)
    found = HostPage([], 0, query.page, query.per_page)
    per_unit: dict[int, int] = {}
    if not problem:
        try:
            per_unit = catalogue.hosts_by_unit(
                session, principal, query.to_filter(), settings.silent_after_hours
            )
            found = list_hosts(
                session,
                principal,
                query.to_filter(),
                silent_after_hours=settings.silent_after_hours,
                sort=query.sort,
                direction=query.direction,
                page=query.page,
                per_page=query.per_page,
            )
        except DomainError as exc:
            problem = exc.detail
    params = _params(query)
    exports = urlencode({**_params(query, drop=_PAGING), "lang": page_lang(request)})
    common = _common(request, session, principal)
    context = {
        **common,
        "query": query,
        "problem": problem,
        "found": found,
        "hosts": [host_out(h, settings) for h in found.items],
        "per_unit": _subtree_counts(common["units"], per_unit),
        "url": _linker("/", params),
        "statuses": STATUSES,
        "sources": ("agent", "manual", "import", "bundle"),
        "export_query": exports,
    }
    return render(request, "hosts.html", context)


@router.get("/hosts/{host_id}", response_class=HTMLResponse)
def host_page(host_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    try:
        if not (host_id.isascii() and host_id.isdigit() and 1 <= int(host_id[:12]) <= 2_147_483_647):
            raise NotFound("no such host")
        host = catalogue.host_in_scope(session, principal, int(host_id))
    except NotFound:
        return render(request, "register_not_found.html", {"user": principal}, status=404)
    args = request.query_params
    search, kind = args.get("sw", "")[:255].replace("\x00", ""), args.get("sw_kind", "")
    kind = kind if kind in catalogue.KINDS else ""
    section = args.get("changes_section", "")
    section = section if section in SECTION_ORDER else ""
    page = int(args["changes_page"][:7]) if args.get("changes_page", "").isdigit() else 1
    sections = {s.name: s for s in catalogue.host_sections(session, host)}
    ordered = [sections[n] for n in SECTION_ORDER if n in sections]
    ordered += [s for n, s in sorted(sections.items()) if n not in SECTION_ORDER]
    context = {
        **_common(request, session, principal),
        "host": host_out(host, settings),
        "record": host,
        "sections": ordered,
        "facts": {s.name: key_facts(s.data) for s in ordered},
        "raw": {s.name: pretty_json(s.data) for s in ordered},
        "software": catalogue.host_software(session, host, search, kind),
        "software_total": len(catalogue.host_software(session, host)) if search or kind else None,
        "sw": search,
        "sw_kind": kind,
        "changes": catalogue.host_changes(session, host, section=section, page=max(page, 1)),
        "changes_section": section,
        "section_names": SECTION_ORDER,
        "url": _linker(f"/hosts/{host.id}", dict(args)),
    }
    return render(request, "register_host.html", context)


@router.get("/software", response_class=HTMLResponse)
def software_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    query, problem = _parse(SoftwareQuery, request)
    found = catalogue.software_catalogue(
        session,
        principal,
        q=query.q,
        kind=query.kind,
        unit=query.unit,
        sort=query.sort,
        direction=query.direction,
        page=query.page,
        per_page=query.per_page,
    )
    context = {
        **_common(request, session, principal),
        "query": query,
        "problem": problem,
        "found": found,
        "url": _linker("/software", _params(query)),
    }
    return render(request, "register_software.html", context)


@router.get("/software/title", response_class=HTMLResponse)
def title_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    query, problem = _parse(VersionsQuery, request)
    title = None
    if not problem:
        title = catalogue.software_versions(session, principal, query.name, unit=query.unit)
    context = {
        **_common(request, session, principal),
        "query": query if not problem else None,
        "title": title,
    }
    return render(request, "register_title.html", context, status=200 if title else 404)


@router.get("/hardware", response_class=HTMLResponse)
def hardware_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    query, problem = _parse(HardwareQuery, request)
    found = catalogue.hardware_models(
        session,
        principal,
        q=query.q,
        device_type=query.device_type,
        unit=query.unit,
        sort=query.sort,
        direction=query.direction,
        page=query.page,
        per_page=query.per_page,
    )
    context = {
        **_common(request, session, principal),
        "query": query,
        "problem": problem,
        "found": found,
        "url": _linker("/hardware", _params(query)),
    }
    return render(request, "register_hardware.html", context)
