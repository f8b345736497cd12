"""Enrollment: an agent trades a unit's enrollment secret for its own node key."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from wire._base import Name, ShortText, WireModel
from wire.config import AgentConfig

__all__ = ["EnrollRequest", "EnrollResponse"]

Secret = Annotated[str, StringConstraints(min_length=16, max_length=256)]


class EnrollRequest(WireModel):
    """POST /api/v1/enroll. The secret is bound to one unit of the organisation tree."""

    enroll_secret: Secret = Field(description="The unit's enrollment secret.")
    agent_id: UUID = Field(description="Made by the agent at first start; stays for its life.")
    agent_version: ShortText
    hostname: Name
    os_family: Literal["linux", "windows", "macos", "other"]
    system_uuid: ShortText = Field(default="", description="SMBIOS UUID, for duplicate detection.")
    serial: ShortText = Field(default="", description="System serial, for duplicate detection.")


class EnrollResponse(WireModel):
    """The node key is shown once; the collector keeps only its hash."""

    agent_id: UUID
    node_key: Secret = Field(description="Per-host key for every later request (Bearer).")
    unit_code: ShortText
    unit_name: ShortText
    config: AgentConfig
