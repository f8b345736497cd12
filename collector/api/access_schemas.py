"""API schemas of access control: users and roles, account, TOTP, API tokens, node keys,
enrollment secrets, the audit log (separate from the ORM models)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from collector.api.schemas import LoginRequest
from collector.services.audit_view import AuditFilter

__all__ = [
    "AccountOut",
    "AuditEntryOut",
    "AuditList",
    "AuditQuery",
    "CodeRequest",
    "GrantIn",
    "GrantsIn",
    "NewPasswordOut",
    "NewSecretOut",
    "NewTokenOut",
    "NodeKeyList",
    "NodeKeyOut",
    "PasswordChange",
    "SecretIn",
    "SecretOut",
    "TokenIn",
    "TokenOut",
    "TotpEnrolmentOut",
    "TotpLoginRequest",
    "UserCreate",
    "UserCreated",
    "UserList",
    "UserOut",
    "UserQuery",
]

Role = Literal["city_admin", "district_admin", "auditor", "inspector"]
_NoNul = StringConstraints(pattern=r"^[^\x00]*$")
UnitCode = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[^\x00]*$")]
Text64 = Annotated[str, StringConstraints(max_length=64), _NoNul]
Text128 = Annotated[str, StringConstraints(max_length=128), _NoNul]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024), _NoNul]
Code = Annotated[str, StringConstraints(min_length=1, max_length=16), _NoNul]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TotpLoginRequest(LoginRequest):
    totp_code: Annotated[str, StringConstraints(min_length=1, max_length=16), _NoNul] | None = Field(
        default=None, description="The authenticator app's code, for accounts with two-factor sign-in."
    )


class GrantIn(_Strict):
    role: Role
    unit_code: UnitCode


class GrantsIn(_Strict):
    grants: list[GrantIn] = Field(min_length=1, max_length=50)


class GrantOut(BaseModel):
    id: int
    role: str
    unit_code: str
    unit_name: str


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    is_active: bool
    locked: bool = Field(description="Locked after repeated failed logins (until locked_until).")
    locked_until: datetime | None
    totp_enabled: bool
    created_at: datetime
    last_login_at: datetime | None
    password_changed_at: datetime
    roles: list[GrantOut]


class UserList(BaseModel):
    total: int
    page: int
    per_page: int
    items: list[UserOut]


class UserQuery(_Strict):
    q: Text64 = Field(default="", description="Part of the user name or display name.")
    role: Role | None = None
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=50, ge=1, le=500)


class UserCreate(_Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
    display_name: Text128 = ""
    password: Password | None = Field(
        default=None, description="Leave out to have one generated (returned once in the answer)."
    )
    grants: list[GrantIn] = Field(min_length=1, max_length=50)


class UserCreated(BaseModel):
    user: UserOut
    password: str | None = Field(
        description="The generated password, shown this once; null if you chose one."
    )


class NewPasswordOut(BaseModel):
    user: UserOut
    password: str = Field(description="The new password, shown this once: hand it over in person.")


class AccountOut(BaseModel):
    id: int
    username: str
    display_name: str
    totp_enabled: bool
    totp_pending: bool
    password_changed_at: datetime
    last_login_at: datetime | None
    roles: list[GrantOut]


class PasswordChange(_Strict):
    current_password: Password
    new_password: Password


class CodeRequest(_Strict):
    code: Code = Field(description="The 6-digit code the authenticator app shows now.")


class TotpEnrolmentOut(BaseModel):
    secret: str = Field(description="Base32 secret for manual entry; shown once.")
    uri: str = Field(description="otpauth:// URI (the QR code's content); shown once.")


class TokenIn(_Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128), _NoNul]
    expires_days: int | None = Field(default=90, ge=1, le=3650, description="null: never expires.")


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewTokenOut(BaseModel):
    token: str = Field(description="Send as 'Authorization: Bearer <token>'; shown this once.")
    info: TokenOut


class NodeKeyOut(BaseModel):
    id: int
    host_id: int
    hostname: str
    unit_code: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NodeKeyList(BaseModel):
    total: int
    page: int
    per_page: int
    items: list[NodeKeyOut]


class SecretIn(_Strict):
    label: Text128 = ""
    expires_days: float | None = Field(default=7, gt=0, le=3650, description="null: never expires.")
    max_uses: int | None = Field(default=None, ge=1, le=100_000, description="null: unlimited.")


class SecretOut(BaseModel):
    id: int
    unit_code: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    max_uses: int | None
    uses: int
    revoked_at: datetime | None


class NewSecretOut(BaseModel):
    secret: str = Field(description="Give it to the agent installer; shown this once.")
    info: SecretOut


class AuditQuery(_Strict):
    actor: Text64 = ""
    action: Text64 = Field(default="", description="Prefix of the action, e.g. 'user.' or 'auth.login'.")
    target: Annotated[str, StringConstraints(max_length=255), _NoNul] = Field(
        default="", description="Exact target, e.g. 'host:12', 'unit:341021', 'user:zhang.san'."
    )
    since: datetime | None = None
    until: datetime | None = None
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=50, ge=1, le=500)

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A time without an offset is taken as UTC; every time is compared in UTC."""
        if value is None:
            return None
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("time out of range") from None

    def to_filter(self) -> AuditFilter:
        return AuditFilter(self.actor, self.action, self.target, self.since, self.until)


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    ip: str
    detail: dict[str, object]


class AuditList(BaseModel):
    total: int
    page: int
    per_page: int
    items: list[AuditEntryOut]
