"""What the findings service needs to know of a check (no rule, no examples)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SEVERITIES", "STATUSES", "CheckMeta"]

SEVERITIES = ("info", "low", "medium", "high", "critical")
#: Result of one host × check.
STATUSES = ("pass", "fail", "error", "not_applicable")


@dataclass(frozen=True)
class CheckMeta:
    id: str
    pack: str
    title_zh: str
    title_en: str
    severity: str
    category: str
    deadline_days: int
    requirements: tuple[str, ...] = field(default_factory=tuple)
    pack_version: int = 0
