"""Content hashes of sections and of a host's whole state.

Both sides compute them the same way, so the collector can tell whether the agent's
idea of "what the collector already has" matches its own (delta reports).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["canonical_json", "content_hash", "state_hash"]


def canonical_json(value: Any) -> bytes:
    """Serialise JSON-compatible data deterministically (sorted keys, no spaces, UTF-8)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def content_hash(data: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of a section's content (``None`` included)."""
    return hashlib.sha256(canonical_json(data)).hexdigest()


def state_hash(section_hashes: Mapping[str, str]) -> str:
    """Hash of a host's whole state: the sorted ``name=hash`` pairs of its sections."""
    joined = "\n".join(f"{name}={section_hashes[name]}" for name in sorted(section_hashes))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()
