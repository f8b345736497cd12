"""Agent configuration served by the collector (GET /api/v1/config)."""

from __future__ import annotations

from pydantic import Field

from wire._base import Name, WireModel

__all__ = ["DEFAULT_SECTIONS", "AgentConfig"]

DEFAULT_SECTIONS: tuple[str, ...] = ("os", "hardware", "network")


class AgentConfig(WireModel):
    config_version: int = Field(default=1, ge=0, description="Increases on every change.")
    report_interval_seconds: int = Field(default=3600, ge=60, le=7 * 86400, description="Time between scans.")
    jitter_seconds: int = Field(
        default=300, ge=0, le=86400, description="Random delay added so hosts spread out."
    )
    full_report_hours: int = Field(
        default=24, ge=1, le=24 * 30, description="A full report at least this often (resync)."
    )
    sections: list[Name] = Field(
        default_factory=lambda: list(DEFAULT_SECTIONS),
        max_length=64,
        description="Sections the agent collects.",
    )
