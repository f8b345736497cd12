"""FastAPI dependencies: database session, the calling agent, the logged-in admin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from collector.api.errors import ApiProblem
from collector.services.auth import Principal, principal_for_token, same_token
from collector.services.tokens import is_api_token, principal_for_api_token
from collector.settings import Settings

__all__ = [
    "SESSION_COOKIE",
    "AgentHostDep",
    "PrincipalDep",
    "SessionDep",
    "SettingsDep",
    "client_ip",
    "get_session",
]

SESSION_COOKIE = "wp_session"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        session.close()


def client_ip(request: Request) -> str:
    """The client's address. Behind a proxy, `serve` runs uvicorn with proxy headers honoured
    from trusted proxies only (WATCHPOST_TRUST_PROXY_HEADERS), which rewrites this address."""
    return request.client.host[:64] if request.client else ""


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def node_key(request: Request) -> str:
    key = _bearer(request)
    if key is None:
        raise ApiProblem(
            401,
            "missing_node_key",
            "send the node key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


def agent_host_id(request: Request, session: Annotated[Session, Depends(get_session)]) -> int:
    """The host behind the node key (checked before the body is read)."""
    from collector.services.enrollment import host_for_node_key

    host = host_for_node_key(session, node_key(request))
    session.commit()
    return host.id


def current_principal(request: Request, session: Annotated[Session, Depends(get_session)]) -> Principal:
    """The admin behind a Bearer token (a login session's or an API token's, told apart by the
    ``wpt_`` prefix) or the session cookie.

    Cookie-authenticated writes must echo the session's CSRF token in X-CSRF-Token.
    """
    token = _bearer(request)
    from_cookie = token is None
    token = token or request.cookies.get(SESSION_COOKIE)
    if not token:
        raise ApiProblem(
            401,
            "not_authenticated",
            "log in first (POST /api/v1/auth/login)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not from_cookie and is_api_token(token):
        principal = principal_for_api_token(session, token)
    else:
        principal = principal_for_token(session, token)
    session.commit()
    sent = request.headers.get("x-csrf-token", "")
    if from_cookie and request.method in _UNSAFE and not same_token(sent, principal.csrf_token):
        raise ApiProblem(403, "csrf_failed", "missing or wrong X-CSRF-Token header")
    return principal


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AgentHostDep = Annotated[int, Depends(agent_host_id)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
