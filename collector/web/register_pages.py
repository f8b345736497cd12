"""Pages of the asset register: the host list (issue 4, A9-M3.3, A9-G)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from collector.api.admin import host_out
from collector.api.schemas import HostOut
from collector.db.models import Unit
from collector.deps import SessionDep, SettingsDep
from collector.services.hosts import visible_hosts, visible_units
from collector.web.common import login_redirect, page_principal, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@dataclass
class UnitGroup:
    unit: Unit
    hosts: list[HostOut]


@router.get("/", response_class=HTMLResponse)
def hosts_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    units = visible_units(session, principal)
    by_unit: dict[int, list[HostOut]] = {u.id: [] for u in units}
    hosts = visible_hosts(session, principal)
    for host in hosts:
        by_unit.setdefault(host.unit_id, []).append(host_out(host, settings))
    groups = [UnitGroup(u, by_unit[u.id]) for u in units]
    return render(request, "hosts.html", {"groups": groups, "total": len(hosts), "user": principal})
