"""Watchpost wire contract v1: every model that crosses between agent and collector.

Imported by both ``agent`` and ``collector``, which never import each other.
"""

from wire.config import DEFAULT_INTERVALS, DEFAULT_SECTIONS, AgentConfig, config_etag
from wire.enroll import EnrollRequest, EnrollResponse
from wire.errors import ApiError, FieldProblem
from wire.events import Event, EventAck, EventBatch
from wire.hashing import canonical_json, content_hash, state_hash
from wire.report import SCHEMA_VERSION, Report, ReportAck, SectionError, SectionResult, Sections
from wire.sections import SECTION_MODELS

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
