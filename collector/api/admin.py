"""Admin JSON API: login, the caller, units, hosts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam

from collector.api.access_schemas import TotpLoginRequest
from collector.api.schemas import (
    AddressOut,
    HostList,
    HostOut,
    HostQuery,
    KeyRotationRequested,
    LoginResponse,
    RevokedKeys,
    RoleOut,
    UnitAgentConfig,
    UnitOut,
    UserInfo,
)
from collector.db.models import Host
from collector.deps import SESSION_COOKIE, PrincipalDep, SessionDep, SettingsDep, client_ip
from collector.services import auth
from collector.services.agent_config import effective_config, set_override, unit_override
from collector.services.auth import Principal
from collector.services.enrollment import request_key_rotation, revoke_host_keys
from collector.services.errors import NotFound
from collector.services.hosts import host_status, visible_units
from collector.services.org import unit_by_code
from collector.services.register import list_hosts
from collector.settings import Settings
from wire import AgentConfig, config_etag

router = APIRouter(prefix="/api/v1", tags=["admin"])


def _user_info(session: SessionDep, principal: Principal) -> UserInfo:
    from collector.db.models import Unit

    roles = []
    for role, unit_id in principal.roles:
        unit = session.get(Unit, unit_id)
        roles.append(RoleOut(role=role, unit_code=unit.code if unit else "?"))
    return UserInfo(username=principal.username, roles=roles, city_wide=principal.visible_units is None)


def cookies_secure(request: Request, settings: Settings) -> bool:
    """Secure cookies whenever the page came over HTTPS (directly or through a trusted proxy)."""
    return settings.secure_cookies or request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=cookies_secure(request, settings),
        path="/",
    )


@router.post(
    "/auth/login",
    response_model=LoginResponse,
    responses={
        401: {"description": "Wrong user name, password or code; or a code is needed (totp_required)."},
        423: {"description": "Account locked after repeated failures."},
        422: {"description": "Malformed request."},
    },
)
def login(
    body: TotpLoginRequest, request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> LoginResponse:
    """Log in with user name and password (and ``totp_code`` when the account has two-factor
    sign-in: without it the answer is 401 ``totp_required``); sets an HttpOnly session cookie
    and returns a token."""
    token, auth_session = auth.login(
        session,
        settings,
        body.username,
        body.password,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
        totp_code=body.totp_code,
    )
    session.commit()
    principal = auth.principal_for_token(session, token)
    set_session_cookie(response, request, settings, token)
    return LoginResponse(
        token=token,
        csrf_token=auth_session.csrf_token,
        expires_at=auth_session.expires_at,
        user=_user_info(session, principal),
    )


@router.post("/auth/logout", status_code=204, response_class=Response)
def logout(request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    """End the current session."""
    token = request.headers.get("authorization", "").partition(" ")[2].strip() or request.cookies.get(
        SESSION_COOKIE, ""
    )
    auth.logout(session, token)
    session.commit()
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/me", response_model=UserInfo)
def me(principal: PrincipalDep, session: SessionDep) -> UserInfo:
    return _user_info(session, principal)


@router.get("/units", response_model=list[UnitOut])
def units(principal: PrincipalDep, session: SessionDep) -> list[UnitOut]:
    """The organisation units the caller can see."""
    rows = visible_units(session, principal)
    return [
        UnitOut(
            code=u.code,
            name_zh=u.name_zh,
            name_en=u.name_en,
            kind=u.kind,
            parent_code=u.parent.code if u.parent else None,
        )
        for u in rows
    ]


def host_out(host: Host, settings: Settings) -> HostOut:
    addresses = [
        AddressOut(
            interface=a.interface,
            kind=a.kind,
            mac=a.mac,
            address=a.address,
            prefix_length=a.prefix_length,
            scope=a.scope,
        )
        for a in host.addresses
    ]
    return HostOut(
        id=host.id,
        agent_id=host.agent_id,
        hostname=host.hostname,
        unit_code=host.unit.code,
        unit_name=host.unit.name_zh,
        status=host_status(host, settings.silent_after_hours),
        simulated=host.simulated,
        os_family=host.os_family,
        os_name=host.os_name,
        os_version=host.os_version,
        architecture=host.architecture,
        kernel=host.kernel,
        memory_bytes=host.memory_bytes,
        cpu_model=host.cpu_model,
        vendor=host.vendor,
        model=host.model,
        serial=host.serial,
        agent_version=host.agent_version,
        ip_addresses=sorted({a.address for a in host.addresses if a.address}),
        mac_addresses=sorted({a.mac for a in host.addresses if a.mac}),
        addresses=addresses,
        enrolled_at=host.enrolled_at,
        first_seen=host.first_seen,
        last_seen=host.last_seen,
        source=host.source,
        device_type=host.device_type,
        owner=host.owner,
        location=host.location,
        asset_number=host.asset_number,
        purchase_date=host.purchase_date,
        tags=[t.tag for t in host.tags],
        primary_ip=host.primary_ip,
        primary_mac=host.primary_mac,
        disk_bytes=host.disk_bytes,
    )


@router.get("/hosts", response_model=HostList)
def hosts(
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    wanted: Annotated[HostQuery, Query()],
) -> HostList:
    """The asset register in the caller's scope (a district admin sees their district only),
    filtered, sorted and paged. Filters combine with AND."""
    found = list_hosts(
        session,
        principal,
        wanted.to_filter(),
        silent_after_hours=settings.silent_after_hours,
        sort=wanted.sort,
        direction=wanted.direction,
        page=wanted.page,
        per_page=wanted.per_page,
    )
    return HostList(
        total=found.total,
        page=found.page,
        per_page=found.per_page,
        pages=found.pages,
        items=[host_out(h, settings) for h in found.items],
    )


def _unit_config_out(session: SessionDep, code: str, config: AgentConfig) -> UnitAgentConfig:
    return UnitAgentConfig(
        unit_code=code, override=unit_override(session, code), effective=config, etag=config_etag(config)
    )


@router.get("/units/{code}/agent-config", response_model=UnitAgentConfig)
def get_unit_agent_config(code: str, principal: PrincipalDep, session: SessionDep) -> UnitAgentConfig:
    """A unit's own override and the configuration its agents get (merged from the city down)."""
    unit = unit_by_code(session, code)
    if not principal.can_see_unit(unit.id):  # out of scope looks exactly like missing
        raise NotFound(f"no unit with code {code!r}", "unknown_unit")
    config = effective_config(session, unit.id)
    return _unit_config_out(session, code, config)


@router.put(
    "/units/{code}/agent-config",
    response_model=UnitAgentConfig,
    responses={
        403: {"description": "Outside your scope, or your role may not change it."},
        422: {"description": "Unknown setting or an invalid resulting configuration."},
    },
)
def put_unit_agent_config(
    code: str, body: dict[str, Any], request: Request, principal: PrincipalDep, session: SessionDep
) -> UnitAgentConfig:
    """Replace a unit's override (e.g. ``{"section_intervals": {"network": 300}}``). Agents of the
    unit and its subtree pick it up at their next config poll, without a restart."""
    config = set_override(session, principal, code, body, client_ip(request))
    return _unit_config_out(session, code, config)


@router.post(
    "/hosts/{host_id}/revoke-keys",
    response_model=RevokedKeys,
    responses={
        403: {"description": "Your role may not revoke keys of this host."},
        404: {"description": "No such host in your scope."},
    },
)
def revoke_keys(
    host_id: Annotated[int, PathParam(ge=1, le=2_147_483_647)],
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> RevokedKeys:
    """Revoke the host's node keys: its agent stops sending and says so until it is enrolled again."""
    return RevokedKeys(revoked=revoke_host_keys(session, principal, host_id, client_ip(request)))


@router.post(
    "/hosts/{host_id}/rotate-key",
    response_model=KeyRotationRequested,
    status_code=202,
    responses={
        403: {"description": "Your role may not rotate keys of this host."},
        404: {"description": "No such host in your scope."},
        409: {"description": "The record has no agent."},
    },
)
def rotate_key(
    host_id: Annotated[int, PathParam(ge=1, le=2_147_483_647)],
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> KeyRotationRequested:
    """Ask the host's agent to take a new node key with its next report (within its heartbeat);
    its old key stops working as soon as the new one is used."""
    return KeyRotationRequested(
        requested_at=request_key_rotation(session, principal, host_id, client_ip(request))
    )
