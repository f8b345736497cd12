"""Pages: login, logout, the host list grouped by unit."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from collector.api.admin import cookies_secure, host_out, set_session_cookie
from collector.api.schemas import HostOut
from collector.db.models import Unit
from collector.deps import SESSION_COOKIE, SessionDep, SettingsDep, client_ip
from collector.services import auth
from collector.services.auth import Principal
from collector.services.errors import Unauthorized
from collector.services.hosts import visible_hosts, visible_units
from collector.settings import Settings
from collector.web.i18n import pick_lang, translate

__all__ = ["make_templates", "router"]

router = APIRouter(include_in_schema=False)
LANG_COOKIE = "wp_lang"
PRELOGIN_COOKIE = "wp_csrf"


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
    zone = ZoneInfo(settings.display_timezone)

    def localtime(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "—"

    def gib(value: int | None) -> str:
        return f"{value / 2**30:.1f} GiB" if value else "—"

    templates.env.filters["localtime"] = localtime
    templates.env.filters["gib"] = gib
    return templates


def _lang(request: Request) -> str:
    return pick_lang(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    lang = _lang(request)
    templates: Jinja2Templates = request.app.state.templates
    context = {"lang": lang, "t": lambda key, **kw: translate(lang, key, **kw), "user": None, **context}
    response = templates.TemplateResponse(request, name, context, status_code=status)
    if request.query_params.get("lang"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    response.headers["Cache-Control"] = "no-store"
    return response


def _page_principal(request: Request, session: SessionDep) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        principal = auth.principal_for_token(session, token)
    except Unauthorized:
        return None
    session.commit()
    return principal


@dataclass
class UnitGroup:
    unit: Unit
    hosts: list[HostOut]


@router.get("/", response_class=HTMLResponse)
def hosts_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    principal = _page_principal(request, session)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    units = visible_units(session, principal)
    by_unit: dict[int, list[HostOut]] = {u.id: [] for u in units}
    hosts = visible_hosts(session, principal)
    for host in hosts:
        by_unit.setdefault(host.unit_id, []).append(host_out(host, settings))
    groups = [UnitGroup(u, by_unit[u.id]) for u in units]
    return _render(request, "hosts.html", {"groups": groups, "total": len(hosts), "user": principal})


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    csrf = request.cookies.get(PRELOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = _render(request, "login.html", {"csrf": csrf, "error": None, "username": ""})
    response.set_cookie(
        PRELOGIN_COOKIE,
        csrf,
        httponly=True,
        samesite="strict",
        path="/login",
        secure=cookies_secure(request, request.app.state.settings),
    )
    return response


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    expected = request.cookies.get(PRELOGIN_COOKIE, "")
    fresh = secrets.token_urlsafe(24)
    error = None
    if not expected or not auth.same_token(csrf, expected):
        error = "login.csrf"
    else:
        try:
            token, _auth = auth.login(
                session,
                settings,
                username,
                password,
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent", ""),
            )
            session.commit()
        except Unauthorized:
            error = "login.failed"
        else:
            response = RedirectResponse("/", status_code=303)
            set_session_cookie(response, request, settings, token)
            response.delete_cookie(PRELOGIN_COOKIE, path="/login")
            return response
    page = _render(
        request,
        "login.html",
        {"csrf": fresh, "error": error, "username": username[:64]},
        status=401 if error != "login.csrf" else 400,
    )
    page.set_cookie(
        PRELOGIN_COOKIE,
        fresh,
        httponly=True,
        samesite="strict",
        path="/login",
        secure=cookies_secure(request, settings),
    )
    return page


@router.post("/logout")
def logout(
    request: Request, session: SessionDep, csrf: Annotated[str, Form(max_length=128)] = ""
) -> Response:
    principal = _page_principal(request, session)
    token = request.cookies.get(SESSION_COOKIE, "")
    if principal is not None and auth.same_token(csrf, principal.csrf_token):
        auth.logout(session, token)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
