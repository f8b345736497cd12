"""The page of VPN appliances' syslog (issue 6: A9-T2.3, A9-T1, A9-M3.4): ``/vpn/syslog``.

It lists the line templates in the caller's scope (matched counts, enable/disable, delete),
the appliances with what their syslog brought lately, the receiver's counters (from the JSON
file ``watchpost-collector syslog`` writes, ``$WATCHPOST_SYSLOG_STATS``, default
``var/syslog-stats.json``), and a form that makes a template from a sample line: paste the
line and the user name seen in it, get a suggested template, edit it, test it, save it.

Plain HTML forms (no script), each with the session's CSRF token; writes go through
collector/services/syslog_templates.py (scope, audit) like the JSON API.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from collector.api.vpn_syslog import test_out
from collector.db.base import utcnow
from collector.db.models import Host, HostAddress
from collector.db.models_vpn import VpnLogin
from collector.deps import SessionDep, client_ip
from collector.services import syslog_templates as templates
from collector.services.auth import Principal, same_token
from collector.services.errors import DomainError, Invalid
from collector.services.syslog_receiver import read_stats
from collector.web.common import login_redirect, page_principal, render

__all__ = ["router", "stats_path"]

router = APIRouter(include_in_schema=False)
Line = Annotated[str, Form(max_length=2000)]
Short = Annotated[str, Form(max_length=128)]
Csrf = Annotated[str, Form(max_length=128)]
_DONE = ("saved", "deleted", "enabled", "disabled")


def stats_path() -> Path:
    return Path(os.environ.get("WATCHPOST_SYSLOG_STATS", "var/syslog-stats.json"))


def _appliances(session: SessionDep, principal: Principal) -> list[dict[str, Any]]:
    """The appliances in scope, with their logins of the last 24 hours by result."""
    query = select(Host).where(Host.device_type == templates.APPLIANCE, Host.status == "active")
    if principal.visible_units is not None:
        query = query.where(Host.unit_id.in_(principal.visible_units))
    hosts = list(session.scalars(query.order_by(Host.hostname)))
    since = utcnow() - timedelta(days=1)
    counts: dict[tuple[int, str], int] = {}
    last: dict[int, Any] = {}
    if hosts:
        ids = [h.id for h in hosts]
        rows = session.execute(
            select(VpnLogin.host_id, VpnLogin.result, func.count())
            .where(VpnLogin.host_id.in_(ids), VpnLogin.received_at >= since)
            .group_by(VpnLogin.host_id, VpnLogin.result)
        )
        counts = {(h, r): n for h, r, n in rows}
        last = dict(
            session.execute(
                select(VpnLogin.host_id, func.max(VpnLogin.received_at))
                .where(VpnLogin.host_id.in_(ids))
                .group_by(VpnLogin.host_id)
            ).all()
        )
    return [
        {"host": h, "last": last.get(h.id), "editable": principal.can_manage_unit(h.unit_id) and not principal.read_only,
         **{r: counts.get((h.id, r), 0) for r in templates.RESULTS}}
        for h in hosts
    ]  # fmt: skip


def _addresses(session: SessionDep, host_ids: list[int]) -> set[str]:
    """The addresses (primary IP and address rows) of these hosts."""
    if not host_ids:
        return set()
    primary = session.scalars(select(Host.primary_ip).where(Host.id.in_(host_ids)))
    listed = session.scalars(select(HostAddress.address).where(HostAddress.host_id.in_(host_ids)))
    return {a for a in (*primary, *listed) if a}


def _page(request: Request, session: SessionDep, principal: Principal, **extra: Any) -> Response:
    appliances = _appliances(session, principal)
    hosts = {a["host"].id: a["host"] for a in appliances}
    stats = read_stats(stats_path())
    if stats is not None and principal.visible_units is not None:
        stats.pop("unknown_senders", None)  # other units' addresses: for city-wide eyes only
        ambiguous = stats.get("ambiguous_senders")
        if isinstance(ambiguous, dict):  # only the addresses of the caller's own appliances
            mine = _addresses(session, list(hosts))
            stats["ambiguous_senders"] = {a: n for a, n in ambiguous.items() if a in mine}
    status = extra.pop("status", 200)
    form = {
        "sample": "",
        "user": "",
        "template": "",
        "name": "",
        "result": "success",
        "target": "",
        **extra.pop("form", {}),
    }
    items = templates.list_templates(session, principal)
    writable = {a["host"].id for a in appliances if a["editable"]}
    city_admin = principal.managed_units is None
    editable = {r.id for r in items if (r.host_id in writable) or (r.host_id is None and city_admin)}
    context = {
        "user": principal, "items": items, "hosts": hosts, "editable": editable,
        "appliances": appliances, "writable": [a["host"] for a in appliances if a["editable"]],
        "city_admin": city_admin, "can_write": not principal.read_only,
        "stats": stats, "form": form, "test": None, "error": None, "results": templates.RESULTS,
        "done": d if (d := request.query_params.get("done", "")) in _DONE else "", **extra,
    }  # fmt: skip
    return render(request, "vpn_syslog.html", context, status=status)


def _checked(request: Request, session: SessionDep, csrf: str) -> Principal | Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    if not same_token(csrf, principal.csrf_token):
        return render(
            request, "vpn_syslog_error.html", {"user": principal, "error": "vpn_syslog.csrf"}, status=400
        )
    return principal


@router.get("/vpn/syslog", response_class=HTMLResponse)
def syslog_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    return _page(request, session, principal)


def _target(target: str) -> tuple[int | None, str]:
    """The form's "for" choice: ``host:<id>`` or ``vendor:<name>``."""
    kind, _, value = target.partition(":")
    if kind == "host" and value.isdigit() and len(value) < 11:
        return int(value), ""
    if kind == "vendor" and value.strip():
        return None, value.strip()
    raise Invalid("choose the appliance (or the vendor) the template is for", "no_target")


@router.post("/vpn/syslog/compose", response_class=HTMLResponse)
def compose(
    request: Request, session: SessionDep, csrf: Csrf = "",
    action: Annotated[str, Form(max_length=16)] = "suggest",
    sample: Line = "", user: Short = "", template: Line = "", name: Short = "",
    result: Annotated[str, Form(max_length=16)] = "success", target: Short = "", vendor: Short = "",
) -> Response:  # fmt: skip
    """suggest (sample + user -> template), test (template on sample), save."""
    principal = _checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    if target == "vendor:" and vendor.strip():
        target = f"vendor:{vendor.strip()}"
    form = {"sample": sample, "user": user, "template": template, "name": name, "result": result,
            "target": target}  # fmt: skip
    try:
        if action == "suggest":
            form["template"] = templates.suggest(sample, user.strip()) if sample.strip() else ""
            if not form["template"]:
                raise Invalid("paste a sample line first", "empty_sample")
        elif action == "save":
            host_id, vendor_name = _target(target)
            new = templates.TemplateIn(name=name, result=result, template=template, sample=sample,
                                       host_id=host_id, vendor=vendor_name)  # fmt: skip
            templates.create_template(session, principal, new, client_ip(request))
            return RedirectResponse("/vpn/syslog?done=saved#templates", status_code=303)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, principal, form=form, error=exc.detail, status=exc.status)
    test = test_out(form["template"], sample, result) if form["template"] and sample.strip() else None
    return _page(request, session, principal, form=form, test=test)


@router.post("/vpn/syslog/templates/{template_id}", response_class=HTMLResponse)
def change_template(
    template_id: int, request: Request, session: SessionDep, csrf: Csrf = "",
    action: Annotated[str, Form(max_length=16)] = "",
) -> Response:  # fmt: skip
    """enable, disable or delete a template."""
    principal = _checked(request, session, csrf)
    if not isinstance(principal, Principal):
        return principal
    ip = client_ip(request)
    try:
        if action == "delete":
            templates.delete_template(session, principal, template_id, ip)
            return RedirectResponse("/vpn/syslog?done=deleted#templates", status_code=303)
        if action not in ("enable", "disable"):
            raise Invalid("unknown action", "bad_action")
        templates.update_template(session, principal, template_id, {"enabled": action == "enable"}, ip)
    except DomainError as exc:
        session.rollback()
        return _page(request, session, principal, error=exc.detail, status=exc.status)
    return RedirectResponse(f"/vpn/syslog?done={action}d#templates", status_code=303)
