"""Watchpost wire contract v1: every model that crosses between agent and collector.

Imported by both ``agent`` and ``collector``, which never import each other.

The models are loaded on first use (PEP 562), so that ``import wire.hashing`` does not
pull pydantic into the agent's small resident process (docs/architecture.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from wire.hashing import canonical_json, content_hash, state_hash

if TYPE_CHECKING:
    from wire.config import DEFAULT_INTERVALS, DEFAULT_SECTIONS, AgentConfig, config_etag
    from wire.enroll import EnrollRequest, EnrollResponse, NodeKeyRotation
    from wire.errors import ApiError, FieldProblem
    from wire.events import Event, EventAck, EventBatch
    from wire.report import SCHEMA_VERSION, Report, ReportAck, SectionError, SectionResult, Sections
    from wire.sections import SECTION_MODELS

_LAZY = {
    "DEFAULT_INTERVALS": "wire.config",
    "DEFAULT_SECTIONS": "wire.config",
    "AgentConfig": "wire.config",
    "config_etag": "wire.config",
    "EnrollRequest": "wire.enroll",
    "EnrollResponse": "wire.enroll",
    "NodeKeyRotation": "wire.enroll",
    "ApiError": "wire.errors",
    "FieldProblem": "wire.errors",
    "Event": "wire.events",
    "EventAck": "wire.events",
    "EventBatch": "wire.events",
    "SCHEMA_VERSION": "wire.report",
    "Report": "wire.report",
    "ReportAck": "wire.report",
    "SectionError": "wire.report",
    "SectionResult": "wire.report",
    "Sections": "wire.report",
    "SECTION_MODELS": "wire.sections",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wire' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_INTERVALS",
    "DEFAULT_SECTIONS",
    "SCHEMA_VERSION",
    "SECTION_MODELS",
    "AgentConfig",
    "ApiError",
    "EnrollRequest",
    "EnrollResponse",
    "Event",
    "EventAck",
    "EventBatch",
    "FieldProblem",
    "NodeKeyRotation",
    "Report",
    "ReportAck",
    "SectionError",
    "SectionResult",
    "Sections",
    "canonical_json",
    "config_etag",
    "content_hash",
    "state_hash",
]
