"""API schemas of the register's own facts, assets without an agent, duplicates, imports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from collector.api.schemas import HostOut
from collector.services.assets import DEVICE_TYPE_LABELS
from collector.services.inventory import DEVICE_TYPES

__all__ = [
    "AssetIn",
    "AssetOut",
    "BundleResultOut",
    "DuplicateGroupOut",
    "DuplicateHostOut",
    "ImportResultOut",
    "ImportRowOut",
    "MergeRequest",
    "MoveRequest",
    "RegisterPatch",
]

_NO_NUL = r"^[^\x00]*$"
_Short = Annotated[str, StringConstraints(max_length=128, pattern=_NO_NUL)]
_Name = Annotated[str, StringConstraints(max_length=255, pattern=_NO_NUL)]
_Number = Annotated[str, StringConstraints(max_length=64, pattern=_NO_NUL)]
_Notes = Annotated[str, StringConstraints(max_length=4000, pattern=_NO_NUL)]
_Tag = Annotated[str, StringConstraints(max_length=64, pattern=_NO_NUL)]
_Address = Annotated[str, StringConstraints(max_length=64, pattern=_NO_NUL)]
_UnitCode = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=_NO_NUL)]
_Purchase = Annotated[date, Field(ge=date(1970, 1, 1), le=date(2100, 12, 31))]
_HostId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _device_type(value: str) -> str:
    text = " ".join(value.strip().lower().split())
    if text and text not in DEVICE_TYPES and value.strip() not in DEVICE_TYPE_LABELS.values():
        raise ValueError(f"device type must be one of: {', '.join(DEVICE_TYPES)} (or empty)")
    return value


class RegisterPatch(_Strict):
    """Register fields to change; fields left out stay as they are."""

    owner: _Short | None = Field(default=None, description="The person or office using it.")
    location: _Short | None = Field(default=None, description="Room or place.")
    asset_number: _Number | None = Field(
        default=None, description="The bureau's asset number (unique per unit)."
    )
    purchase_date: _Purchase | None = None
    device_type: _Short | None = Field(
        default=None, description=f"One of: {', '.join(DEVICE_TYPES)}; '' clears."
    )
    notes: _Notes | None = None
    tags: list[_Tag] | None = Field(default=None, max_length=20, description="Replaces the tags (trimmed).")

    @field_validator("device_type")
    @classmethod
    def _check_type(cls, value: str | None) -> str | None:
        return value if value is None else _device_type(value)


class MoveRequest(_Strict):
    unit: _UnitCode = Field(description="Code of the unit the host moves to.")


class MergeRequest(_Strict):
    into: _HostId = Field(description="The host that is kept.")


class AssetIn(_Strict):
    """An asset that carries no agent (printer, switch, router, Windows 7 PC, VPN appliance)."""

    hostname: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_NO_NUL)] = Field(
        description="Its name in the register (host name or a label)."
    )
    unit: _UnitCode
    device_type: _Short = ""
    vendor: _Name = ""
    model: _Name = ""
    serial: _Name = ""
    os_name: _Name = Field(default="", description="Operating system or firmware, as text.")
    ip_addresses: list[_Address] = Field(default_factory=list, max_length=16)
    mac_addresses: list[_Address] = Field(default_factory=list, max_length=16)
    owner: _Short = ""
    location: _Short = ""
    asset_number: _Number = ""
    purchase_date: _Purchase | None = None
    notes: _Notes = ""
    tags: list[_Tag] = Field(default_factory=list, max_length=20)

    @field_validator("device_type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        return _device_type(value)


class AssetOut(HostOut):
    notes: str
    record_status: str = Field(description="active, retired or merged.")
    retired_at: datetime | None
    merged_into_id: int | None


class DuplicateHostOut(BaseModel):
    id: int
    hostname: str
    unit_code: str
    source: str
    record_status: str
    asset_number: str
    serial: str
    system_uuid: str
    first_seen: datetime | None
    last_seen: datetime | None


class DuplicateGroupOut(BaseModel):
    reason: str = Field(
        description="register_and_agent, cloned_vm, reenrolled, same_hardware or shared_mac "
        "(services/duplicates.py reason_of)."
    )
    matched_on: list[str] = Field(description="system_uuid, serial and/or mac.")
    values: list[str]
    hosts: list[DuplicateHostOut] = Field(description="Most recently seen first: the usual one to keep.")


class ImportRowOut(BaseModel):
    row: int = Field(description="Row number in the spreadsheet.")
    action: str = Field(description="create, update, error or skipped.")
    unit: str
    asset_number: str
    hostname: str
    host_id: int | None
    fields: list[str] = Field(description="The columns the row fills.")
    errors: list[str]


class ImportResultOut(BaseModel):
    dry_run: bool
    applied: bool
    created: int
    updated: int
    errors: int = Field(description="Rows with errors (skipped when applied with skip_invalid).")
    rows: list[ImportRowOut]


class BundleResultOut(BaseModel):
    created: bool = Field(description="A new record; false when the machine was known by UUID or serial.")
    status: str = Field(description="stored, or duplicate when this very report was imported before.")
    host: AssetOut
