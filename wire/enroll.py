"""Enrollment: an agent trades a unit's enrollment secret for its own node key."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from wire._base import Identifier, Name, ShortText, Version, WireModel
from wire.config import AgentConfig

__all__ = [
    "EnrollRequest",
    "EnrollResponse",
    "NodeKeyRotation",
]

Secret = Annotated[str, StringConstraints(min_length=16, max_length=256, pattern=r"^[A-Za-z0-9_.~-]+$")]


class EnrollRequest(WireModel):
    """POST /api/v1/enroll. The secret is bound to one unit of the organisation tree."""

    enroll_secret: Secret = Field(description="The unit's enrollment secret.")
    agent_id: UUID = Field(description="Made by the agent at first start; stays for its life.")
    agent_version: Version = Field(description="Agent software version.")
    hostname: Name
    os_family: Literal["linux", "windows", "macos", "other"]
    system_uuid: Identifier = Field(default="", description="SMBIOS UUID, for duplicate detection.")
    serial: ShortText = Field(default="", description="System serial, for duplicate detection.")
    previous_node_key: Secret | None = Field(
        default=None,
        description="The key this agent holds, when enrolling again: proves it is the same agent. "
        "Without it an agent id that still has an active key is refused.",
    )


class EnrollResponse(WireModel):
    """The node key is shown once; the collector keeps only its hash."""

    agent_id: UUID
    node_key: Secret = Field(description="Per-host key for every later request (Bearer).")
    unit_code: ShortText
    unit_name: ShortText
    config: AgentConfig


class NodeKeyRotation(WireModel):
    """A new node key for an agent whose admin asked for a rotation (shown once)."""

    node_key: Secret = Field(description="The new per-host key; the old one stops working once this is used.")
