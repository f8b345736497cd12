"""Administration API: users and roles, the caller's account (password, TOTP, API tokens), node
keys, enrollment secrets, the audit log (issue 4, A9-G, A9-M3.5).

Every object outside the caller's scope answers exactly like a missing one (404); auditors and
inspectors get 403 ``read_only`` on every change; every change is audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from collector.api.access_schemas import (
    AccountOut,
    AuditEntryOut,
    AuditList,
    AuditQuery,
    CodeRequest,
    GrantOut,
    GrantsIn,
    NewPasswordOut,
    NewSecretOut,
    NewTokenOut,
    NodeKeyList,
    NodeKeyOut,
    PasswordChange,
    SecretIn,
    SecretOut,
    TokenIn,
    TokenOut,
    TotpEnrolmentOut,
    UserCreate,
    UserCreated,
    UserList,
    UserOut,
    UserQuery,
)
from collector.db.base import utcnow
from collector.db.models import EnrollSecret, NodeKey, User
from collector.deps import SESSION_COOKIE, PrincipalDep, SessionDep, client_ip
from collector.services import keys, tokens, totp, users
from collector.services.audit import record
from collector.services.audit_view import AUDIT_COLUMNS, audit_page, audit_rows
from collector.services.auth import Principal
from collector.services.tabular import CSV_MEDIA_TYPE, csv_chunks
from collector.services.users import GrantSpec

__all__ = ["router", "user_out"]

router = APIRouter(prefix="/api/v1", tags=["access"])

Id = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
UnitCodePath = Annotated[str, PathParam(min_length=1, max_length=32, pattern=r"^[^\x00/]+$")]

_SCOPED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in."},
    403: {"description": "Read-only role (auditor, inspector), or outside what you administer."},
    404: {"description": "No such object in your scope (out of scope looks exactly like missing)."},
}


def _grants(user: User) -> list[GrantOut]:
    return [
        GrantOut(id=g.id, role=g.role, unit_code=g.unit.code, unit_name=g.unit.name_zh)
        for g in sorted(user.grants, key=lambda g: (g.unit.code, g.role))
    ]


def user_out(user: User) -> UserOut:
    now = utcnow()
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        is_active=user.is_active,
        locked=bool(user.locked_until and user.locked_until > now),
        locked_until=user.locked_until,
        totp_enabled=bool(user.totp_secret),
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        password_changed_at=user.password_changed_at,
        roles=_grants(user),
    )


def _specs(grants: Any) -> list[GrantSpec]:
    return [GrantSpec(g.role, g.unit_code) for g in grants]


# -- users and roles ---------------------------------------------------------------------


@router.get("/users", response_model=UserList)
def list_users(
    principal: PrincipalDep, session: SessionDep, wanted: Annotated[UserQuery, Query()]
) -> UserList:
    """Accounts in your scope: those whose roles all lie in the units you can see."""
    found = users.list_users(
        session, principal, text=wanted.q, role=wanted.role, page=wanted.page, per_page=wanted.per_page
    )
    return UserList(
        total=found.total,
        page=wanted.page,
        per_page=wanted.per_page,
        items=[user_out(u) for u in found.items],
    )


@router.post("/users", response_model=UserCreated, status_code=201, responses=_SCOPED)
def create_user(
    body: UserCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> UserCreated:
    """A new account with roles on one or more units (inside what you administer). Without a
    password one is generated and returned this once."""
    user, generated = users.create_account(
        session,
        principal,
        body.username,
        _specs(body.grants),
        display_name=body.display_name,
        password=body.password,
        ip=client_ip(request),
    )
    return UserCreated(user=user_out(user), password=generated)


@router.get("/users/{user_id}", response_model=UserOut, responses=_SCOPED)
def get_user(user_id: Id, principal: PrincipalDep, session: SessionDep) -> UserOut:
    return user_out(users.get_user(session, principal, user_id))


@router.post("/users/{user_id}/grants", response_model=UserOut, responses=_SCOPED)
def add_grants(
    user_id: Id, body: GrantsIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> UserOut:
    """Grant roles on several units at once (each unit inside what you administer)."""
    return user_out(users.add_grants(session, principal, user_id, _specs(body.grants), client_ip(request)))


@router.delete("/users/{user_id}/grants/{grant_id}", response_model=UserOut, responses=_SCOPED)
def revoke_grant(
    user_id: Id, grant_id: Id, request: Request, principal: PrincipalDep, session: SessionDep
) -> UserOut:
    """Take one role away (not the last one: disable the account instead)."""
    return user_out(users.revoke_grant(session, principal, user_id, grant_id, client_ip(request)))


@router.post("/users/{user_id}/disable", response_model=UserOut, responses=_SCOPED)
def disable_user(user_id: Id, request: Request, principal: PrincipalDep, session: SessionDep) -> UserOut:
    """Disable an account: its sessions end and its API tokens stop working."""
    return user_out(users.set_active(session, principal, user_id, False, client_ip(request)))


@router.post("/users/{user_id}/enable", response_model=UserOut, responses=_SCOPED)
def enable_user(user_id: Id, request: Request, principal: PrincipalDep, session: SessionDep) -> UserOut:
    return user_out(users.set_active(session, principal, user_id, True, client_ip(request)))


@router.post("/users/{user_id}/reset-password", response_model=NewPasswordOut, responses=_SCOPED)
def reset_password(
    user_id: Id, request: Request, principal: PrincipalDep, session: SessionDep
) -> NewPasswordOut:
    """A new generated password, returned this once; the user's sessions end, a lockout is lifted."""
    user, password = users.reset_password(session, principal, user_id, client_ip(request))
    return NewPasswordOut(user=user_out(user), password=password)


@router.post("/users/{user_id}/unlock", response_model=UserOut, responses=_SCOPED)
def unlock_user(user_id: Id, request: Request, principal: PrincipalDep, session: SessionDep) -> UserOut:
    """Lift a lockout after repeated failed logins."""
    return user_out(users.unlock(session, principal, user_id, client_ip(request)))


@router.post("/users/{user_id}/reset-totp", response_model=UserOut, responses=_SCOPED)
def reset_user_totp(user_id: Id, request: Request, principal: PrincipalDep, session: SessionDep) -> UserOut:
    """Remove a user's second factor (lost phone); they can enrol again after logging in."""
    return user_out(users.reset_totp(session, principal, user_id, client_ip(request)))


# -- the caller's own account ------------------------------------------------------------


def _account_out(user: User) -> AccountOut:
    return AccountOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        totp_enabled=bool(user.totp_secret),
        totp_pending=bool(user.totp_pending),
        password_changed_at=user.password_changed_at,
        last_login_at=user.last_login_at,
        roles=_grants(user),
    )


@router.get("/account", response_model=AccountOut)
def account(principal: PrincipalDep, session: SessionDep) -> AccountOut:
    user = session.get(User, principal.user_id)
    assert user is not None  # the principal was just loaded from it
    return _account_out(user)


def _current_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return header.partition(" ")[2].strip() or request.cookies.get(SESSION_COOKIE, "")


@router.post("/account/password", status_code=204, response_class=Response)
def change_password(
    body: PasswordChange, request: Request, principal: PrincipalDep, session: SessionDep
) -> Response:
    """Change your password (needs the current one); your other sessions end."""
    users.change_own_password(
        session,
        principal,
        body.current_password,
        body.new_password,
        keep_token=_current_token(request),
        ip=client_ip(request),
    )
    return Response(status_code=204)


@router.post("/account/totp", response_model=TotpEnrolmentOut)
def start_totp(request: Request, principal: PrincipalDep, session: SessionDep) -> TotpEnrolmentOut:
    """Start two-factor enrolment: the secret is shown this once; confirm it with a code."""
    enrolment = totp.begin_enrolment(session, users.own_account(session, principal), client_ip(request))
    return TotpEnrolmentOut(secret=enrolment.secret, uri=enrolment.uri)


@router.post("/account/totp/confirm", response_model=AccountOut)
def confirm_totp(
    body: CodeRequest, request: Request, principal: PrincipalDep, session: SessionDep
) -> AccountOut:
    """Turn two-factor sign-in on with a code from the app; from now on login needs a code."""
    user = users.own_account(session, principal)
    totp.confirm_enrolment(session, user, body.code, client_ip(request))
    return _account_out(user)


@router.post("/account/totp/disable", response_model=AccountOut)
def disable_totp(
    body: CodeRequest, request: Request, principal: PrincipalDep, session: SessionDep
) -> AccountOut:
    """Turn two-factor sign-in off (needs a current code)."""
    user = users.own_account(session, principal)
    totp.disable(session, user, body.code, client_ip(request))
    return _account_out(user)


def token_out(row: Any) -> TokenOut:
    return TokenOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@router.get("/account/tokens", response_model=list[TokenOut])
def list_tokens(principal: PrincipalDep, session: SessionDep) -> list[TokenOut]:
    """Your API tokens (never the token itself: only its first characters)."""
    return [token_out(t) for t in tokens.list_tokens(session, principal)]


@router.post("/account/tokens", response_model=NewTokenOut, status_code=201)
def create_token(
    body: TokenIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> NewTokenOut:
    """A token for scripts, acting with your roles; shown this once (only its hash is kept)."""
    made = tokens.create_token(session, principal, body.name, body.expires_days, client_ip(request))
    return NewTokenOut(token=made.token, info=token_out(made.row))


@router.delete("/account/tokens/{token_id}", response_model=TokenOut, responses=_SCOPED)
def revoke_token(token_id: Id, request: Request, principal: PrincipalDep, session: SessionDep) -> TokenOut:
    return token_out(tokens.revoke_token(session, principal, token_id, client_ip(request)))


# -- node keys and enrollment secrets --------------------------------------------------------


def node_key_out(row: NodeKey) -> NodeKeyOut:
    return NodeKeyOut(
        id=row.id,
        host_id=row.host_id,
        hostname=row.host.hostname,
        unit_code=row.host.unit.code,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@router.get("/node-keys", response_model=NodeKeyList)
def list_node_keys(
    principal: PrincipalDep,
    session: SessionDep,
    include_revoked: bool = False,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> NodeKeyList:
    """Node keys of the hosts in your scope, newest first."""
    found = keys.list_node_keys(
        session, principal, include_revoked=include_revoked, page=page, per_page=per_page
    )
    return NodeKeyList(
        total=found.total, page=page, per_page=per_page, items=[node_key_out(k) for k in found.items]
    )


@router.get("/hosts/{host_id}/node-keys", response_model=list[NodeKeyOut], responses=_SCOPED)
def host_node_keys(host_id: Id, principal: PrincipalDep, session: SessionDep) -> list[NodeKeyOut]:
    """One host's node keys, revoked ones included (revoke: POST /hosts/{host_id}/revoke-keys)."""
    _host, rows = keys.host_node_keys(session, principal, host_id)
    return [node_key_out(k) for k in rows]


def secret_out(row: EnrollSecret) -> SecretOut:
    return SecretOut(
        id=row.id,
        unit_code=row.unit.code,
        label=row.label,
        created_at=row.created_at,
        expires_at=row.expires_at,
        max_uses=row.max_uses,
        uses=row.uses,
        revoked_at=row.revoked_at,
    )


@router.get("/units/{code}/enroll-secrets", response_model=list[SecretOut], responses=_SCOPED)
def unit_secrets(code: UnitCodePath, principal: PrincipalDep, session: SessionDep) -> list[SecretOut]:
    """A unit's enrollment secrets: label, expiry, uses (never the secret)."""
    return [secret_out(s) for s in keys.unit_secrets(session, principal, code)]


@router.post("/units/{code}/enroll-secrets", response_model=NewSecretOut, status_code=201, responses=_SCOPED)
def create_secret(
    code: UnitCodePath, body: SecretIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> NewSecretOut:
    """A new enrollment secret for the unit, shown this once. ``max_uses: 1`` makes a one-use
    secret, e.g. to re-enroll one host after revoking its key (key rotation)."""
    made = keys.create_secret(
        session,
        principal,
        code,
        label=body.label,
        expires_days=body.expires_days,
        max_uses=body.max_uses,
        ip=client_ip(request),
    )
    return NewSecretOut(secret=made.secret, info=secret_out(made.record))


@router.post("/enroll-secrets/{secret_id}/revoke", response_model=SecretOut, responses=_SCOPED)
def revoke_secret(secret_id: Id, request: Request, principal: PrincipalDep, session: SessionDep) -> SecretOut:
    """Revoke an enrollment secret: no host can enroll with it any more (enrolled hosts keep
    their node keys)."""
    return secret_out(keys.revoke_secret(session, principal, secret_id, client_ip(request)))


# -- the audit log -----------------------------------------------------------------------


def entry_out(row: Any) -> AuditEntryOut:
    detail = row.detail if isinstance(row.detail, dict) else {"value": row.detail}
    return AuditEntryOut(
        id=row.id, at=row.at, actor=row.actor, action=row.action, target=row.target, ip=row.ip, detail=detail
    )


@router.get("/audit", response_model=AuditList)
def audit(principal: PrincipalDep, session: SessionDep, wanted: Annotated[AuditQuery, Query()]) -> AuditList:
    """The audit log in your scope, newest first (filters combine with AND)."""
    found = audit_page(session, principal, wanted.to_filter(), page=wanted.page, per_page=wanted.per_page)
    return AuditList(
        total=found.total,
        page=wanted.page,
        per_page=wanted.per_page,
        items=[entry_out(r) for r in found.items],
    )


def _audit_csv(
    sessions: sessionmaker[Session], principal: Principal, wanted: AuditQuery, ip: str
) -> Iterator[bytes]:
    with sessions() as session:
        record(
            session,
            principal.username,
            "audit.export",
            "",
            {"filter": wanted.model_dump(mode="json")},
            ip,
            principal.user_id,
        )
        session.commit()
        yield from csv_chunks(AUDIT_COLUMNS, audit_rows(session, principal, wanted.to_filter()))


@router.get(
    "/audit.csv",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The audit log as CSV (UTF-8 with BOM).", "content": {CSV_MEDIA_TYPE: {}}}
    },
)
def audit_csv(
    request: Request, principal: PrincipalDep, wanted: Annotated[AuditQuery, Query()]
) -> StreamingResponse:
    """The audit log in your scope as CSV, oldest first, streamed (paging is ignored). The
    export itself is audited."""
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    return StreamingResponse(
        _audit_csv(sessions, principal, wanted, client_ip(request)),
        media_type=CSV_MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="watchpost-audit.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
