"""Agent configuration served by the collector (GET /api/v1/config, with an ETag)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from wire._base import Name, WireModel
from wire.hashing import content_hash

__all__ = ["DEFAULT_INTERVALS", "DEFAULT_SECTIONS", "AgentConfig", "config_etag"]

DEFAULT_SECTIONS: tuple[str, ...] = (
    "os",
    "hardware",
    "network",
    "software",
    "licensing",
    "antivirus",
    "patches",
    "accounts",
    "security_config",
    "network_exposure",
    "log_settings",
    "vpn",
)

#: Seconds between two reads of a section: inventory hourly, posture every 15 minutes.
DEFAULT_INTERVALS: dict[str, int] = {
    "os": 3600,
    "hardware": 3600,
    "network": 900,
    "software": 3600,
    "licensing": 3600,
    "antivirus": 900,
    "patches": 3600,
    "accounts": 900,
    "security_config": 900,
    "network_exposure": 900,
    "log_settings": 3600,
    "vpn": 86400,
}

Seconds = Annotated[int, Field(ge=10, le=7 * 86400)]


class AgentConfig(WireModel):
    """What an agent runs with. The collector merges unit overrides over these defaults."""

    sections: list[Name] = Field(
        default_factory=lambda: list(DEFAULT_SECTIONS),
        max_length=64,
        description="Sections the agent collects.",
    )
    section_intervals: dict[Name, Seconds] = Field(
        default_factory=lambda: dict(DEFAULT_INTERVALS),
        max_length=64,
        description="Seconds between reads, per section; a section not named uses default_interval_seconds "
        "(intervals of sections that are not enabled are ignored).",
    )
    default_interval_seconds: Seconds = Field(default=3600, description="Interval of unnamed sections.")
    heartbeat_seconds: Seconds = Field(
        default=3600, description="A report at least this often, even when nothing changed."
    )
    jitter_seconds: int = Field(
        default=300, ge=0, le=86400, description="Random delay added to each schedule so hosts spread out."
    )
    full_report_hours: int = Field(
        default=24, ge=1, le=24 * 30, description="A full report at least this often (resync)."
    )
    config_poll_seconds: Seconds = Field(default=300, description="How often to ask for a new config.")
    event_flush_seconds: int = Field(
        default=10, ge=1, le=3600, description="How often queued events are sent."
    )
    probe_timeout_seconds: int = Field(
        default=120, ge=5, le=3600, description="A probe running longer is abandoned with an error."
    )
    spool_max_mb: int = Field(
        default=64, ge=1, le=4096, description="Ceiling of the on-disk queue; beyond it, coalesce then drop."
    )
    memory_limit_mb: int = Field(
        default=200, ge=32, le=4096, description="Above this resident size the agent restarts itself."
    )
    probe_memory_mb: int = Field(
        default=768,
        ge=64,
        le=8192,
        description="Memory ceiling (data segment) of the short-lived process that runs the probes; a probe "
        "that needs more fails with an error entry instead of starving the PC (POSIX).",
    )
    probe_cpu_seconds: int = Field(
        default=300,
        ge=10,
        le=7200,
        description="CPU seconds the probe process may use per collection; beyond it the collection is "
        "stopped and the sections keep their last good state (POSIX).",
    )

    vpn_logs_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="How often the VPN log reader runs (logins, last login per account, brute force as "
        "events) on a host where the vpn section found a VPN server or vpn-logs.toml names logs; 0: never.",
    )

    def interval(self, section: str) -> int:
        return self.section_intervals.get(section, self.default_interval_seconds)


def config_etag(config: AgentConfig) -> str:
    """The config's identity: changes whenever any value does (used as the HTTP ETag)."""
    return content_hash(config.model_dump(mode="json"))[:32]
