"""Admin API schemas (separate from the ORM models)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from collector.services.register import HostFilter
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
    source: str = Field(description="agent, manual (added by an admin), import (spreadsheet) or bundle.")
    device_type: str = Field(description="desktop, laptop, server, virtual machine, printer, switch...")
    owner: str = Field(description="The person or office using it.")
    location: str = Field(description="Room or place.")
    asset_number: str = Field(description="The bureau's asset number.")
    purchase_date: date | None
    tags: list[str]
    primary_ip: str = Field(description="The address the register shows.")
    primary_mac: str
    disk_bytes: int | None = Field(description="Total size of the fixed disks.")


class UnitAgentConfig(BaseModel):
    unit_code: str
    override: dict[str, Any] = Field(description="What this unit sets itself.")
    effective: AgentConfig = Field(description="What its agents run with (defaults and overrides merged).")
    etag: str


class KeyRotationRequested(BaseModel):
    requested_at: datetime = Field(
        description="When the rotation was asked for; the agent acts on its next report."
    )


class RevokedKeys(BaseModel):
    revoked: int = Field(description="How many active keys were revoked.")


class HostList(BaseModel):
    total: int = Field(description="Hosts matching the filter, over all pages.")
    page: int = 1
    per_page: int = 50
    pages: int = 1
    items: list[HostOut]


_Filter = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\x00]*$")]


class HostQuery(_Strict):
    """Query parameters of the host list and the register exports."""

    q: _Filter = Field(default="", description="Host name, owner, asset number, serial or location contains.")
    unit: _Filter = Field(default="", description="A unit code: that unit and its subtree.")
    os: _Filter = Field(default="", description="OS name or family contains.")
    software: _Filter = Field(default="", description="An installed title contains (case-insensitive).")
    version_below: _Filter = Field(default="", description="... installed in a version lower than this.")
    version_from: _Filter = Field(default="", description="... installed in this version or higher.")
    ip: _Filter = Field(default="", description="An address starts with.")
    mac: _Filter = Field(default="", description="A MAC address (any notation).")
    status: Literal["", "online", "silent", "never", "retired"] = ""
    tag: _Filter = ""
    device_type: _Filter = ""
    source: Literal["", "agent", "manual", "import", "bundle"] = ""
    vendor: _Filter = Field(default="", description="The make equals.")
    model: _Filter = Field(default="", description="The model equals.")
    software_exact: bool = Field(default=False, description="`software` is the exact title.")
    include_retired: bool = False
    sort: Literal[
        "hostname",
        "unit",
        "os",
        "ip",
        "model",
        "asset_number",
        "owner",
        "last_seen",
        "first_seen",
        "device_type",
    ] = "unit"
    direction: Literal["asc", "desc"] = "asc"
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=500)

    def to_filter(self) -> HostFilter:
        return HostFilter(
            q=self.q,
            unit=self.unit,
            os=self.os,
            software=self.software,
            version_below=self.version_below,
            version_from=self.version_from,
            ip=self.ip,
            mac=self.mac,
            status=self.status,
            tag=self.tag,
            device_type=self.device_type,
            source=self.source,
            vendor=self.vendor,
            model=self.model,
            software_exact=self.software_exact,
            include_retired=self.include_retired,
        )
