"""Run the probes and assemble a report envelope (full or delta)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from agent.host import HostContext
from agent.probes import PROBES, ProbeSkipped
from agent.report import next_state, report_dict, section_hashes
from wire import Report, SectionError, content_hash

__all__ = ["build_report", "next_state", "scan_sections", "section_hashes"]

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


def _run_with_timeout(name: str, ctx: HostContext, platform: str | None, timeout: float) -> dict[str, Any]:
    """Run a probe in a worker thread; past ``timeout`` it is abandoned with an error entry."""
    box: list[dict[str, Any]] = []
    worker = threading.Thread(
        target=lambda: box.append(_run_probe(name, ctx, platform)), name=f"probe-{name}", daemon=True
    )
    worker.start()
    worker.join(timeout)
    if box:
        return box[0]
    log.error("probe %s did not finish within %.0f s; abandoned", name, timeout)
    message = f"timed out after {timeout:.0f} s"
    return {
        "status": "error",
        "reason": message,
        "errors": [{"source": name, "message": message}],
        "duration_ms": int(timeout * 1000),
    }


def scan_sections(
    ctx: HostContext,
    names: Iterable[str] | None = None,
    platform: str | None = None,
    *,
    timeout: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the named probes (all by default); each gives a SectionResult-shaped JSON dict."""
    wanted = [name for name in (list(names) if names is not None else list(PROBES)) if name in PROBES]
    if timeout is None:
        return {name: _run_probe(name, ctx, platform) for name in wanted}
    return {name: _run_with_timeout(name, ctx, platform, timeout) for name in wanted}


def build_report(
    agent_id: uuid.UUID,
    sections: Mapping[str, Mapping[str, Any]],
    *,
    acked: Mapping[str, str] | None = None,
    force_full: bool = False,
    collected_at: float | None = None,
) -> Report:
    """The report (validated against the wire contract) that agent.report assembles."""
    return Report.model_validate(
        report_dict(agent_id, sections, acked=acked, force_full=force_full, collected_at=collected_at)
    )
