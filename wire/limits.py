"""Size limits both sides enforce. The collector rejects larger bodies with 413."""

from __future__ import annotations

__all__ = [
    "MAX_COMPRESSED_BYTES",
    "MAX_EVENTS_PER_BATCH",
    "MAX_EVENT_DATA_ITEMS",
    "MAX_REPORT_BYTES",
    "MAX_SECTION_ERRORS",
]

#: Largest accepted report or event batch once decompressed (JSON bytes).
MAX_REPORT_BYTES = 8 * 1024 * 1024
#: Largest accepted request body as sent on the wire (gzip or not).
MAX_COMPRESSED_BYTES = 2 * 1024 * 1024
#: Events in one batch.
MAX_EVENTS_PER_BATCH = 1000
#: Keys in one event's ``data`` mapping.
MAX_EVENT_DATA_ITEMS = 64
#: Error entries recorded for one section.
MAX_SECTION_ERRORS = 32
