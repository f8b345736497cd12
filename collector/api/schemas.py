"""Admin API schemas (separate from the ORM models)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from wire import AgentConfig

__all__ = [
    "AddressOut",
    "HostList",
    "HostOut",
    "LoginRequest",
    "LoginResponse",
    "RevokedKeys",
    "UnitAgentConfig",
    "UnitOut",
    "UserInfo",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class RoleOut(BaseModel):
    role: str
    unit_code: str


class UserInfo(BaseModel):
    username: str
    roles: list[RoleOut]
    city_wide: bool = Field(description="True when the user sees every unit.")


class LoginResponse(BaseModel):
    token: str = Field(description="Bearer token for scripts; browsers use the session cookie.")
    csrf_token: str = Field(description="Echo in X-CSRF-Token on cookie-authenticated writes.")
    expires_at: datetime
    user: UserInfo


class UnitOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    kind: str
    parent_code: str | None


class AddressOut(BaseModel):
    interface: str
    kind: str
    mac: str | None
    address: str | None
    prefix_length: int | None
    scope: str


class HostOut(BaseModel):
    id: int
    agent_id: uuid.UUID
    hostname: str
    unit_code: str
    unit_name: str
    status: str = Field(description="online, silent, never (no report yet) or retired.")
    simulated: bool
    os_family: str
    os_name: str
    os_version: str
    architecture: str
    kernel: str
    memory_bytes: int | None
    cpu_model: str
    vendor: str
    model: str
    serial: str
    agent_version: str
    ip_addresses: list[str]
    mac_addresses: list[str]
    addresses: list[AddressOut]
    enrolled_at: datetime
    first_seen: datetime | None
    last_seen: datetime | None


class UnitAgentConfig(BaseModel):
    unit_code: str
    override: dict[str, Any] = Field(description="What this unit sets itself.")
    effective: AgentConfig = Field(description="What its agents run with (defaults and overrides merged).")
    etag: str


class RevokedKeys(BaseModel):
    revoked: int = Field(description="How many active keys were revoked.")


class HostList(BaseModel):
    total: int
    items: list[HostOut]
