"""Pages of administration (issue 4, A9-G, A9-M3.5): users and roles, node keys, enrollment
secrets, the audit log ("/admin"), and the user's own account ("/account": password,
two-factor sign-in, API tokens).

Plain HTML forms: every form carries the session's CSRF token; every change goes through the
same services as the JSON API (scope, read-only roles, audit). A secret that is shown once
(generated password, API token, enrollment secret, TOTP secret) is rendered on the answer
page itself (no-store), never put in a URL or a redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from collector.db.models import User
from collector.deps import SESSION_COOKIE, SessionDep, client_ip
from collector.services import keys, tokens, totp, users
from collector.services.audit_view import AuditFilter, audit_page
from collector.services.auth import ROLES, Principal, same_token
from collector.services.enrollment import revoke_host_keys
from collector.services.errors import DomainError, Invalid
from collector.services.hosts import visible_units
from collector.services.users import GrantSpec
from collector.web.common import login_redirect, page_lang, page_principal, render
from collector.web.i18n import MESSAGES

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Short = Annotated[str, Form(max_length=255)]
Secret = Annotated[str, Form(max_length=1024)]
Csrf = Annotated[str, Form(max_length=128)]
_PER_PAGE = 50


def _error_text(lang: str, exc: DomainError) -> str:
    key = f"acc.err.{exc.code}"
    return MESSAGES[lang].get(key) or exc.detail


def _admin_context(session: SessionDep, principal: Principal) -> dict[str, Any]:
    units = list(visible_units(session, principal))
    return {
        "user": principal,
        "units": units,
        "managed_units": [u for u in units if principal.can_manage_unit(u.id)],
        "roles": ROLES,
        "can_write": not principal.read_only,
    }


def _admin(request: Request, session: SessionDep, principal: Principal, **extra: Any) -> Response:
    context = _admin_context(session, principal)
    context["users"] = users.list_users(session, principal, per_page=500).items
    context["node_keys"] = keys.list_node_keys(session, principal, per_page=200)
    context["secrets"] = {u.code: keys.unit_secrets(session, principal, u.code) for u in context["units"]}
    status = extra.pop("status", 200)
    context.update(extra)
    return render(request, "access_admin.html", context, status=status)


def _csrf_ok(principal: Principal, csrf: str) -> None:
    if not same_token(csrf, principal.csrf_token):
        raise Invalid("the form expired; reload the page and submit it again", "csrf")


def _act(
    request: Request,
    session: SessionDep,
    csrf: str,
    action: Callable[[Principal], Response],
    on_error: Callable[[Principal, str, int], Response],
) -> Response:
    """A form post: the logged-in user, the CSRF check, the change, or the page with the error."""
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    try:
        _csrf_ok(principal, csrf)
        return action(principal)
    except DomainError as exc:
        session.rollback()
        return on_error(principal, _error_text(page_lang(request), exc), exc.status)


def _back(url: str, done: str) -> Response:
    return RedirectResponse(f"{url}?done={done}", status_code=303)


# -- /admin ------------------------------------------------------------------------------


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    return _admin(request, session, principal, done=request.query_params.get("done", "")[:32])


def _admin_error(request: Request, session: SessionDep) -> Callable[[Principal, str, int], Response]:
    return lambda p, error, status: _admin(request, session, p, error=error, status=status)


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    session: SessionDep,
    csrf: Csrf = "",
    username: Short = "",
    display_name: Short = "",
    role: Short = "",
    unit_codes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    def action(principal: Principal) -> Response:
        grants = [GrantSpec(role, code[:32]) for code in (unit_codes or [])[:50]]
        user, password = users.create_account(
            session, principal, username, grants, display_name=display_name, ip=client_ip(request)
        )
        return _once(request, principal, "acc.once.password", password or "", username=user.username)

    return _act(request, session, csrf, action, _admin_error(request, session))


def _once(request: Request, principal: Principal, what: str, secret: str, **extra: Any) -> Response:
    """The page that shows a secret this once."""
    return render(request, "access_once.html", {"user": principal, "what": what, "secret": secret, **extra})


@router.post("/admin/units/{code}/enroll-secrets", response_class=HTMLResponse)
def create_secret(
    code: str,
    request: Request,
    session: SessionDep,
    csrf: Csrf = "",
    label: Short = "",
    expires_days: Annotated[float | None, Form(gt=0, le=3650)] = 7,
    max_uses: Annotated[int | None, Form(ge=1, le=100_000)] = None,
) -> Response:
    def action(principal: Principal) -> Response:
        made = keys.create_secret(
            session,
            principal,
            code[:32],
            label=label,
            expires_days=expires_days,
            max_uses=max_uses,
            ip=client_ip(request),
        )
        return _once(request, principal, "acc.once.secret", made.secret, unit=code[:32])

    return _act(request, session, csrf, action, _admin_error(request, session))


@router.post("/admin/enroll-secrets/{secret_id}/revoke", response_class=HTMLResponse)
def revoke_secret(secret_id: int, request: Request, session: SessionDep, csrf: Csrf = "") -> Response:
    def action(principal: Principal) -> Response:
        keys.revoke_secret(session, principal, secret_id, client_ip(request))
        return _back("/admin", "secret_revoked")

    return _act(request, session, csrf, action, _admin_error(request, session))


@router.post("/admin/hosts/{host_id}/revoke-keys", response_class=HTMLResponse)
def revoke_keys(host_id: int, request: Request, session: SessionDep, csrf: Csrf = "") -> Response:
    def action(principal: Principal) -> Response:
        revoke_host_keys(session, principal, host_id, client_ip(request))
        return _back("/admin", "keys_revoked")

    return _act(request, session, csrf, action, _admin_error(request, session))


# -- /admin/users/{id} -------------------------------------------------------------------


def _user_page(
    request: Request, session: SessionDep, principal: Principal, target: User, **extra: Any
) -> Response:
    status = extra.pop("status", 200)
    context = _admin_context(session, principal)
    context.update({"target": target, "now": datetime.now(UTC), **extra})
    return render(request, "access_user.html", context, status=status)


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def user_page(user_id: int, request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    try:
        target = users.get_user(session, principal, user_id)
    except DomainError:
        return render(request, "access_missing.html", {"user": principal}, status=404)
    return _user_page(request, session, principal, target, done=request.query_params.get("done", "")[:32])


def _user_error(
    request: Request, session: SessionDep, user_id: int
) -> Callable[[Principal, str, int], Response]:
    def show(principal: Principal, error: str, status: int) -> Response:
        try:
            target = users.get_user(session, principal, user_id)
        except DomainError:
            return render(request, "access_missing.html", {"user": principal}, status=404)
        return _user_page(request, session, principal, target, error=error, status=status)

    return show


_USER_ACTIONS: dict[str, Callable[..., Any]] = {
    "disable": lambda s, p, uid, ip: users.set_active(s, p, uid, False, ip),
    "enable": lambda s, p, uid, ip: users.set_active(s, p, uid, True, ip),
    "unlock": users.unlock,
    "reset-totp": users.reset_totp,
}


@router.post("/admin/users/{user_id}/{verb}", response_class=HTMLResponse)
def user_action(user_id: int, verb: str, request: Request, session: SessionDep, csrf: Csrf = "") -> Response:
    def action(principal: Principal) -> Response:
        if verb == "reset-password":
            target, password = users.reset_password(session, principal, user_id, client_ip(request))
            return _once(request, principal, "acc.once.password", password, username=target.username)
        run = _USER_ACTIONS.get(verb)
        if run is None:
            raise Invalid("unknown action", "unknown_action")
        run(session, principal, user_id, client_ip(request))
        return _back(f"/admin/users/{user_id}", verb)

    return _act(request, session, csrf, action, _user_error(request, session, user_id))


@router.post("/admin/users/{user_id}/grants/add", response_class=HTMLResponse)
def add_grants(
    user_id: int,
    request: Request,
    session: SessionDep,
    csrf: Csrf = "",
    role: Short = "",
    unit_codes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    def action(principal: Principal) -> Response:
        grants = [GrantSpec(role, code[:32]) for code in (unit_codes or [])[:50]]
        if not grants:
            raise Invalid("choose at least one unit", "no_units")
        users.add_grants(session, principal, user_id, grants, client_ip(request))
        return _back(f"/admin/users/{user_id}", "granted")

    return _act(request, session, csrf, action, _user_error(request, session, user_id))


@router.post("/admin/users/{user_id}/grants/{grant_id}/revoke", response_class=HTMLResponse)
def revoke_grant(
    user_id: int, grant_id: int, request: Request, session: SessionDep, csrf: Csrf = ""
) -> Response:
    def action(principal: Principal) -> Response:
        users.revoke_grant(session, principal, user_id, grant_id, client_ip(request))
        return _back(f"/admin/users/{user_id}", "revoked")

    return _act(request, session, csrf, action, _user_error(request, session, user_id))


# -- /admin/audit ------------------------------------------------------------------------


def _local_time(text: str, zone: str) -> datetime | None:
    """A time typed on the page (local, as the page shows times) in UTC."""
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"bad time {text[:25]!r} (write 2026-03-15 or 2026-03-15 08:30)", "bad_time") from None
    try:
        return (value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))).astimezone(UTC)
    except (OverflowError, ValueError):
        raise Invalid("time out of range", "bad_time") from None


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page_view(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    q = {
        k: request.query_params.get(k, "")[:255].replace("\x00", "")
        for k in ("actor", "action", "target", "since", "until")
    }
    try:
        page = max(1, min(100_000, int(request.query_params.get("page", "1"))))
    except ValueError:
        page = 1
    zone = request.app.state.settings.display_timezone
    error = None
    try:
        wanted = AuditFilter(
            q["actor"][:64],
            q["action"][:64],
            q["target"],
            _local_time(q["since"], zone),
            _local_time(q["until"], zone),
        )
        found = audit_page(session, principal, wanted, page=page, per_page=_PER_PAGE)
    except DomainError as exc:
        error = exc.detail
        wanted = AuditFilter()
        found = audit_page(session, principal, wanted, page=1, per_page=_PER_PAGE)
        page = 1
    pages = max(1, -(-found.total // _PER_PAGE))
    export = urlencode(
        {
            "actor": wanted.actor,
            "action": wanted.action,
            "target": wanted.target,
            "since": wanted.since.isoformat() if wanted.since else "",
            "until": wanted.until.isoformat() if wanted.until else "",
        }
    )
    context = {
        "user": principal,
        "found": found,
        "q": q,
        "page": page,
        "pages": pages,
        "error": error,
        "export": export,
    }
    return render(request, "access_audit.html", context, status=422 if error else 200)


# -- /account ----------------------------------------------------------------------------


def _account(request: Request, session: SessionDep, principal: Principal, **extra: Any) -> Response:
    status = extra.pop("status", 200)
    me = session.get(User, principal.user_id)
    context = {"user": principal, "me": me, "tokens": tokens.list_tokens(session, principal), **extra}
    return render(request, "access_account.html", context, status=status)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, session: SessionDep) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return login_redirect()
    return _account(request, session, principal, done=request.query_params.get("done", "")[:32])


def _account_error(request: Request, session: SessionDep) -> Callable[[Principal, str, int], Response]:
    return lambda p, error, status: _account(request, session, p, error=error, status=status)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    session: SessionDep,
    csrf: Csrf = "",
    current: Secret = "",
    new: Secret = "",
    repeat: Secret = "",
) -> Response:
    def action(principal: Principal) -> Response:
        if new != repeat:
            raise Invalid("the two new passwords differ", "password_mismatch")
        users.change_own_password(
            session,
            principal,
            current,
            new,
            keep_token=request.cookies.get(SESSION_COOKIE),
            ip=client_ip(request),
        )
        return _back("/account", "password")

    return _act(request, session, csrf, action, _account_error(request, session))


@router.post("/account/totp/start", response_class=HTMLResponse)
def totp_start(request: Request, session: SessionDep, csrf: Csrf = "") -> Response:
    def action(principal: Principal) -> Response:
        enrolment = totp.begin_enrolment(session, users.own_account(session, principal), client_ip(request))
        return _account(request, session, principal, enrolment=enrolment)

    return _act(request, session, csrf, action, _account_error(request, session))


@router.post("/account/totp/confirm", response_class=HTMLResponse)
def totp_confirm(request: Request, session: SessionDep, csrf: Csrf = "", code: Short = "") -> Response:
    def action(principal: Principal) -> Response:
        totp.confirm_enrolment(session, users.own_account(session, principal), code[:16], client_ip(request))
        return _back("/account", "totp_on")

    return _act(request, session, csrf, action, _account_error(request, session))


@router.post("/account/totp/disable", response_class=HTMLResponse)
def totp_disable(request: Request, session: SessionDep, csrf: Csrf = "", code: Short = "") -> Response:
    def action(principal: Principal) -> Response:
        totp.disable(session, users.own_account(session, principal), code[:16], client_ip(request))
        return _back("/account", "totp_off")

    return _act(request, session, csrf, action, _account_error(request, session))


@router.post("/account/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    session: SessionDep,
    csrf: Csrf = "",
    name: Short = "",
    expires_days: Annotated[int | None, Form(ge=1, le=3650)] = 90,
) -> Response:
    def action(principal: Principal) -> Response:
        made = tokens.create_token(session, principal, name[:128], expires_days, client_ip(request))
        return _once(request, principal, "acc.once.token", made.token, name=made.row.name)

    return _act(request, session, csrf, action, _account_error(request, session))


@router.post("/account/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke_token(token_id: int, request: Request, session: SessionDep, csrf: Csrf = "") -> Response:
    def action(principal: Principal) -> Response:
        tokens.revoke_token(session, principal, token_id, client_ip(request))
        return _back("/account", "token_revoked")

    return _act(request, session, csrf, action, _account_error(request, session))
