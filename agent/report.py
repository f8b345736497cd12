"""Assembling a report envelope from section results, without pydantic.

The agent's resident process builds the reports it delivers from queued snapshots with
this module alone (standard library plus wire.hashing), which keeps pydantic out of its
memory; the collector validates every report against the wire models, and the tests
check that what this builds is a valid wire.Report.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from agent import __version__
from wire.hashing import state_hash

__all__ = ["next_state", "report_dict", "section_hashes"]

SCHEMA_VERSION = 1


def section_hashes(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Content hashes of the sections that were read successfully."""
    return {
        name: str(result["content_hash"]) for name, result in sections.items() if result.get("status") == "ok"
    }


def next_state(
    acked: Mapping[str, str] | None, sections: Mapping[str, Mapping[str, Any]], *, full: bool
) -> dict[str, str]:
    """Section hashes the collector holds after applying these sections (the wire rules).

    ok replaces; error keeps the last good hash; skipped removes; in a full report a
    section not sent is removed, in a delta it is unchanged.
    """
    if full:
        state = {n: h for n, h in (acked or {}).items() if sections.get(n, {}).get("status") == "error"}
    else:
        state = {n: h for n, h in (acked or {}).items() if sections.get(n, {}).get("status") != "skipped"}
    state.update(section_hashes(sections))
    return state


def _section(result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "status": result["status"],
        "content_hash": result.get("content_hash"),
        "data": result.get("data"),
        "errors": list(result.get("errors", []))[:32],
        "reason": str(result.get("reason", ""))[:1024],
        "duration_ms": int(result.get("duration_ms", 0)),
    }


def report_dict(
    agent_id: uuid.UUID,
    sections: Mapping[str, Mapping[str, Any]],
    *,
    acked: Mapping[str, str] | None = None,
    force_full: bool = False,
    collected_at: float | None = None,
) -> dict[str, Any]:
    """A full report, or a delta against the section hashes the collector acknowledged.

    ``acked`` maps section -> content hash as last acknowledged; ``None`` means the
    collector holds nothing for us yet, so the report is full.
    """
    full = force_full or acked is None
    fresh = section_hashes(sections)
    if full:
        chosen = dict(sections)
    else:
        # A delta carries what changed: ok sections with a new hash, errors (their reason may
        # change), and a skip only where the collector still holds content to remove (a
        # section that stays skipped, e.g. licensing on Linux, was said in the full report).
        chosen = {
            name: result
            for name, result in sections.items()
            if (result.get("status") == "error")
            or (result.get("status") == "skipped" and name in (acked or {}))
            or (result.get("status") == "ok" and (acked or {}).get(name) != fresh.get(name))
        }
    when = datetime.fromtimestamp(collected_at, UTC) if collected_at else datetime.now(UTC)
    return {
        "schema_version": SCHEMA_VERSION,
        "report_id": str(uuid.uuid4()),
        "agent_id": str(agent_id),
        "agent_version": __version__,
        "collected_at": when.isoformat().replace("+00:00", "Z"),
        "kind": "full" if full else "delta",
        "base_state_hash": None if full else state_hash(acked or {}),
        "state_hash": state_hash(next_state(acked, sections, full=full)),
        "sections": {name: _section(result) for name, result in sorted(chosen.items())},
    }
