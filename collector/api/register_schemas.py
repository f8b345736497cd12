"""Schemas of the register API beyond the host list: host detail, timeline, software
catalogue, hardware models (separate from the ORM models)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from collector.api.schemas import HostOut

__all__ = [
    "ChangeList",
    "ChangeOut",
    "ChangeQuery",
    "HardwareList",
    "HardwareModelOut",
    "HardwareQuery",
    "HostDetail",
    "SectionOut",
    "SoftwareList",
    "SoftwareQuery",
    "SoftwareTitleOut",
    "UnitCountOut",
    "VersionCountOut",
    "VersionsQuery",
]

_Filter = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\x00]*$")]
_Section = Annotated[str, StringConstraints(max_length=32, pattern=r"^[a-z_]*$")]
Kind = Literal["", "application", "system_component", "update", "package", "framework"]


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=500)


class SectionOut(BaseModel):
    name: str = Field(description="os, hardware, network, software, licensing, antivirus, patches...")
    status: str = Field(description="ok, error or skipped (the last read of the section).")
    collected_at: datetime = Field(description="When the agent read it.")
    updated_at: datetime = Field(description="When the collector stored it.")
    errors: Any = Field(description="What went wrong while reading (list of error entries).")
    reason: str = Field(description="Why the section was skipped, when it was.")
    data: Any = Field(description="The section's content as the agent reported it (see docs/wire.md).")


class HostDetail(HostOut):
    unit_name_en: str
    record_status: str = Field(description="active, retired or merged (the register record).")
    notes: str
    retired_at: datetime | None
    merged_into_id: int | None = Field(description="The host this record was merged into.")
    system_uuid: str
    sections: list[SectionOut]


class ChangeOut(BaseModel):
    id: int
    at: datetime = Field(description="When the agent collected the report that showed the change.")
    section: str
    change: str = Field(description="added, removed, upgraded, downgraded or changed.")
    subject: str = Field(description="Software title, 'disk sda', 'memory', 'interface eth0'...")
    old: str
    new: str
    report_id: uuid.UUID | None


class ChangeList(BaseModel):
    total: int
    page: int
    per_page: int
    pages: int
    items: list[ChangeOut]


class ChangeQuery(_Query):
    section: _Section = Field(default="", description="Only changes of this section (software, hardware...).")


class UnitCountOut(BaseModel):
    unit_code: str
    unit_name: str
    unit_name_en: str
    hosts: int


class VersionCountOut(BaseModel):
    version: str
    hosts: int


class SoftwareTitleOut(BaseModel):
    name_key: str = Field(description="The title as matched: lower case, spaces collapsed.")
    name: str = Field(description="The display name most hosts report.")
    publishers: list[str]
    kinds: list[str]
    hosts: int = Field(description="Hosts in your scope that have it (any version).")
    versions: list[VersionCountOut] = Field(description="Newest first.")
    units: list[UnitCountOut] = Field(description="Host counts by unit.")


class SoftwareList(BaseModel):
    total: int = Field(description="Titles matching, over all pages.")
    page: int
    per_page: int
    pages: int
    items: list[SoftwareTitleOut]


class SoftwareQuery(_Query):
    q: _Filter = Field(default="", description="Title or publisher contains.")
    kind: Kind = ""
    unit: _Filter = Field(default="", description="A unit code: that unit and its subtree.")
    sort: Literal["name", "hosts"] = "name"
    direction: Literal["asc", "desc"] = "asc"


class VersionsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")
    ] = Field(description="The title (case and spacing do not matter).")
    kind: Kind = ""
    unit: _Filter = Field(default="", description="A unit code: that unit and its subtree.")


class HardwareModelOut(BaseModel):
    vendor: str
    model: str
    device_type: str
    hosts: int
    units: list[UnitCountOut]


class HardwareList(BaseModel):
    total: int = Field(description="Models matching, over all pages.")
    page: int
    per_page: int
    pages: int
    items: list[HardwareModelOut]


class HardwareQuery(_Query):
    q: _Filter = Field(default="", description="Vendor or model contains.")
    device_type: _Filter = ""
    unit: _Filter = Field(default="", description="A unit code: that unit and its subtree.")
    sort: Literal["model", "hosts"] = "hosts"
    direction: Literal["asc", "desc"] = "desc"
