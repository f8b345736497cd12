"""Pages: login and logout."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from collector.api.admin import cookies_secure, set_session_cookie
from collector.deps import SESSION_COOKIE, SessionDep, SettingsDep, client_ip
from collector.services import auth
from collector.services.errors import Unauthorized
from collector.web.common import PRELOGIN_COOKIE, page_principal, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    csrf = request.cookies.get(PRELOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", {"csrf": csrf, "error": None, "username": ""})
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
    page = render(
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
    principal = page_principal(request, session)
    token = request.cookies.get(SESSION_COOKIE, "")
    if principal is not None and auth.same_token(csrf, principal.csrf_token):
        auth.logout(session, token)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
