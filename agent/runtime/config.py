"""The agent configuration as the resident process uses it, without pydantic.

The collector validates every configuration against wire.AgentConfig before it serves
it; this reads the served JSON into plain values with the same defaults (a test keeps
the two in step) and falls back to a default for anything malformed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["RuntimeConfig"]

_DEFAULT_SECTIONS = (
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
_DEFAULT_INTERVALS = {
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
_BOUNDS: dict[str, tuple[int, int]] = {
    "default_interval_seconds": (10, 7 * 86400),
    "heartbeat_seconds": (10, 7 * 86400),
    "jitter_seconds": (0, 86400),
    "full_report_hours": (1, 24 * 30),
    "config_poll_seconds": (10, 7 * 86400),
    "event_flush_seconds": (1, 3600),
    "probe_timeout_seconds": (5, 3600),
    "spool_max_mb": (1, 4096),
    "memory_limit_mb": (32, 4096),
    "probe_memory_mb": (64, 8192),
    "probe_cpu_seconds": (10, 7200),
    "vpn_logs_seconds": (0, 86400),
}


@dataclass(frozen=True)
class RuntimeConfig:
    sections: tuple[str, ...] = _DEFAULT_SECTIONS
    section_intervals: dict[str, int] = field(default_factory=lambda: dict(_DEFAULT_INTERVALS))
    default_interval_seconds: int = 3600
    heartbeat_seconds: int = 3600
    jitter_seconds: int = 300
    full_report_hours: int = 24
    config_poll_seconds: int = 300
    event_flush_seconds: int = 10
    probe_timeout_seconds: int = 120
    spool_max_mb: int = 64
    memory_limit_mb: int = 200
    probe_memory_mb: int = 768
    probe_cpu_seconds: int = 300
    vpn_logs_seconds: int = 300

    def interval(self, section: str) -> int:
        return self.section_intervals.get(section, self.default_interval_seconds)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RuntimeConfig:
        data = data or {}
        values: dict[str, Any] = {}
        sections = data.get("sections")
        if isinstance(sections, list) and all(isinstance(s, str) for s in sections):
            values["sections"] = tuple(sections)
        intervals = data.get("section_intervals")
        if isinstance(intervals, dict):
            values["section_intervals"] = {
                str(k): v for k, v in intervals.items() if isinstance(v, int) and 10 <= v <= 7 * 86400
            }
        for item in fields(cls):
            bounds = _BOUNDS.get(item.name)
            value = data.get(item.name)
            if (
                bounds
                and isinstance(value, int)
                and not isinstance(value, bool)
                and bounds[0] <= value <= bounds[1]
            ):
                values[item.name] = value
        return cls(**values)
