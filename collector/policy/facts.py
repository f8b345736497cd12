"""Host facts: what a rule reads of the host itself (section ``host`` and ``@host.`` paths).

They come from the register (collector/db/models.py Host), not from a report, so checks
such as "no report for N days" (silent host) and "internal-network PCs have no wireless"
can read the unit, the tags and the time of the last report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_HOST", "HostFacts", "host_facts"]


class HostFacts(BaseModel):
    """The host as the register knows it."""

    model_config = ConfigDict(extra="forbid")

    hostname: str = Field(description="Host name.")
    unit_code: str = Field(description="Code of the unit the host belongs to, e.g. 341021.")
    unit_kind: Literal["city", "station", "district", "county", "office"] = Field(
        description="Kind of that unit."
    )
    os_family: str = Field(default="", description="windows, linux, ... ('' when unknown).")
    os_name: str = Field(
        default="", description="OS name as reported, e.g. 'Microsoft Windows 10 专业版', 'Debian GNU/Linux'."
    )
    os_version: str = Field(default="", description="OS version as reported, e.g. '22H2', '12'.")
    device_type: str = Field(
        default="", description="desktop, laptop, server, printer ... ('' when unknown)."
    )
    source: Literal["agent", "manual", "import", "bundle"] = Field(description="Where the record comes from.")
    status: Literal["active", "retired", "merged"] = Field(description="Register status.")
    tags: list[str] = Field(default_factory=list, description="Tags, e.g. internal-network.")
    enrolled_at: datetime | None = Field(default=None, description="When the agent enrolled.")
    last_seen: datetime | None = Field(default=None, description="Last report or event received.")
    days_silent: int | None = Field(
        default=None, description="Whole days since the last report; null for hosts without an agent."
    )
    agent_version: str = Field(default="", description="Agent version of the last report.")
    vendor: str = Field(default="", description="Manufacturer (register).")
    model: str = Field(default="", description="Model (register).")


#: The host of examples unless an example says otherwise: an agent PC of a county bureau.
DEFAULT_HOST: dict[str, Any] = {
    "hostname": "she-tj-pc01",
    "unit_code": "341021",
    "unit_kind": "county",
    "os_family": "windows",
    "os_name": "Microsoft Windows 10 专业版",
    "os_version": "22H2",
    "device_type": "desktop",
    "source": "agent",
    "status": "active",
    "tags": [],
    "enrolled_at": "2026-01-05T02:00:00+00:00",
    "last_seen": "2026-11-26T23:00:00+00:00",
    "days_silent": 0,
    "agent_version": "0.1.0",
    "vendor": "Lenovo",
    "model": "ThinkCentre M720t",
}


def host_facts(host: Any, unit_code: str, unit_kind: str, tags: list[str], now: datetime) -> dict[str, Any]:
    """The facts of a Host row, as JSON (what rules evaluate)."""
    last_seen = host.last_seen
    days: int | None = None
    if host.source == "agent":
        since = last_seen or host.enrolled_at
        if since is not None:
            days = max(0, int((now - since.astimezone(UTC)).total_seconds() // 86400))
    return {
        "hostname": host.hostname,
        "unit_code": unit_code,
        "unit_kind": unit_kind,
        "os_family": host.os_family or "",
        "os_name": host.os_name or "",
        "os_version": host.os_version or "",
        "device_type": host.device_type or "",
        "source": host.source,
        "status": host.status,
        "tags": sorted(tags),
        "enrolled_at": host.enrolled_at.isoformat() if host.enrolled_at else None,
        "last_seen": last_seen.isoformat() if last_seen else None,
        "days_silent": days,
        "agent_version": host.agent_version or "",
        "vendor": host.vendor or "",
        "model": host.model or "",
    }
