"""Pages: login (password, then the TOTP code for accounts that have one) and logout."""

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
        except auth.SecondFactorRequired as needed:
            return _second_step(request, session, settings, needed.user_id)
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


TICKET_COOKIE = "wp_2fa"


def _second_step(request: Request, session: SessionDep, settings: SettingsDep, user_id: int) -> Response:
    """The password was right: ask for the code. The half-finished login is a short-lived
    ticket in the database (an HttpOnly cookie for /login only) with its own CSRF token."""
    ticket, csrf = auth.start_second_step(session, user_id, client_ip(request))
    session.commit()
    page = render(request, "access_login_totp.html", {"csrf": csrf, "error": None})
    page.set_cookie(
        TICKET_COOKIE,
        ticket,
        max_age=300,
        httponly=True,
        samesite="strict",
        path="/login",
        secure=cookies_secure(request, settings),
    )
    page.delete_cookie(PRELOGIN_COOKIE, path="/login")
    return page


@router.post("/login/totp", response_class=HTMLResponse)
def login_code(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    code: Annotated[str, Form(max_length=16)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    ticket = request.cookies.get(TICKET_COOKIE, "")
    expected = auth.ticket_csrf(session, ticket) if ticket else None
    if expected is None:
        return RedirectResponse("/login", status_code=303)  # expired: start again with the password
    if not auth.same_token(csrf, expected):
        return render(
            request, "access_login_totp.html", {"csrf": expected, "error": "login.csrf"}, status=400
        )
    try:
        token, _auth = auth.finish_second_step(
            session,
            settings,
            ticket,
            code,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
        session.commit()
    except Unauthorized:
        # a wrong code ends the ticket (and counts towards the lockout): start again
        fresh = secrets.token_urlsafe(24)
        page = render(
            request,
            "login.html",
            {"csrf": fresh, "error": "acc.login.code_failed", "username": ""},
            status=401,
        )
        page.delete_cookie(TICKET_COOKIE, path="/login")
        page.set_cookie(
            PRELOGIN_COOKIE,
            fresh,
            httponly=True,
            samesite="strict",
            path="/login",
            secure=cookies_secure(request, settings),
        )
        return page
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, request, settings, token)
    response.delete_cookie(TICKET_COOKIE, path="/login")
    return response


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
