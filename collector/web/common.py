"""What every page module shares: templates, rendering with the user's language, and the
logged-in principal of a page request (cookie session)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from collector.deps import SESSION_COOKIE, SessionDep
from collector.services import auth
from collector.services.auth import Principal
from collector.services.errors import Unauthorized
from collector.settings import Settings
from collector.web.i18n import pick_lang, translate

__all__ = ["LANG_COOKIE", "PRELOGIN_COOKIE", "login_redirect", "make_templates", "page_principal", "render"]

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


def page_lang(request: Request) -> str:
    return pick_lang(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    """A page in the user's language (zh-CN first); ``t(key, **values)`` in templates."""
    lang = page_lang(request)
    templates: Jinja2Templates = request.app.state.templates
    context = {"lang": lang, "t": lambda key, **kw: translate(lang, key, **kw), "user": None, **context}
    response = templates.TemplateResponse(request, name, context, status_code=status)
    if request.query_params.get("lang"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    response.headers["Cache-Control"] = "no-store"
    return response


def page_principal(request: Request, session: SessionDep) -> Principal | None:
    """The user of a page request, or None (not logged in, or the session ended)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        principal = auth.principal_for_token(session, token)
    except Unauthorized:
        return None
    session.commit()
    return principal


def login_redirect() -> Response:
    return RedirectResponse("/login", status_code=303)
