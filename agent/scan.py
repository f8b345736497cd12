"""Run the probes and assemble a report envelope (full or delta)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from agent import __version__
from agent.host import HostContext
from agent.probes import PROBES, ProbeSkipped
from wire import Report, SectionError, Sections, content_hash, state_hash

__all__ = ["build_report", "scan_sections", "section_hashes"]

log = logging.getLogger(__name__)


def _run_probe(name: str, ctx: HostContext, platform: str | None) -> dict[str, Any]:
    probe = PROBES[name]
    started = time.monotonic()
    try:
        collected = probe.collect(ctx, platform)
    except ProbeSkipped as skip:
        result: dict[str, Any] = {"status": "skipped", "reason": str(skip)[:1024]}
    except Exception as exc:  # noqa: BLE001 - one failing probe must not stop the scan
        log.warning("probe %s failed: %s", name, exc)
        result = {
            "status": "error",
            "reason": f"{type(exc).__name__}: {exc}"[:1024],
            "errors": [SectionError(source=name, message=str(exc)[:1024]).model_dump()],
        }
    else:
        data = collected.data.model_dump(mode="json")
        result = {
            "status": "ok",
            "data": data,
            "content_hash": content_hash(data),
            "errors": [e.model_dump() for e in collected.errors[:32]],
        }
    result["duration_ms"] = int((time.monotonic() - started) * 1000)
    return result


def scan_sections(
    ctx: HostContext, names: Iterable[str] | None = None, platform: str | None = None
) -> dict[str, dict[str, Any]]:
    """Run the named probes (all by default); each gives a SectionResult-shaped JSON dict."""
    wanted = list(names) if names is not None else list(PROBES)
    return {name: _run_probe(name, ctx, platform) for name in wanted if name in PROBES}


def section_hashes(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Content hashes of the sections that were read successfully."""
    return {
        name: str(result["content_hash"]) for name, result in sections.items() if result.get("status") == "ok"
    }


def build_report(
    agent_id: uuid.UUID,
    sections: Mapping[str, Mapping[str, Any]],
    *,
    acked: Mapping[str, str] | None = None,
    force_full: bool = False,
) -> Report:
    """A full report, or a delta against the section hashes the collector acknowledged.

    ``acked`` maps section -> content hash as last acknowledged; ``None`` means the
    collector holds nothing for us yet, so the report is full.
    """
    fresh = section_hashes(sections)
    # A section that failed this time keeps the state the collector already has.
    state = {
        name: digest
        for name, digest in (acked or {}).items()
        if sections.get(name, {}).get("status") != "skipped"
    }
    state.update(fresh)
    full = force_full or acked is None
    if full:
        # The collector keeps its last good copy of a section that failed this time
        # and drops sections that were skipped or not sent (wire contract rule).
        chosen = dict(sections)
        state = {
            name: digest
            for name, digest in (acked or {}).items()
            if sections.get(name, {}).get("status") == "error"
        }
        state.update(fresh)
    else:
        chosen = {
            name: result
            for name, result in sections.items()
            if result.get("status") != "ok" or (acked or {}).get(name) != fresh.get(name)
        }
    return Report(
        report_id=uuid.uuid4(),
        agent_id=agent_id,
        agent_version=__version__,
        collected_at=datetime.now(UTC),
        kind="full" if full else "delta",
        base_state_hash=None if full else state_hash(acked or {}),
        state_hash=state_hash(state),
        sections=Sections.model_validate(chosen),
    )
