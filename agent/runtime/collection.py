"""The service's child process: read the due sections, merge them into the spool's section
cache, and answer the resident process with each section's hash (or status) only.

Probes, pydantic and the parsed data (a software list runs to hundreds of kilobytes) live
and die here; the resident process never holds them (docs/architecture.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.host import HostContext
from agent.runtime.spool import Spool
from agent.scan import scan_sections

__all__ = ["collect_into_spool", "fingerprint"]


def fingerprint(sections: dict[str, dict[str, Any]]) -> dict[str, str]:
    """What changes when a section changes: its content hash, or its status when it has none."""
    return {
        name: str(result.get("content_hash") or result.get("status")) for name, result in sections.items()
    }


def collect_into_spool(
    data_dir: Path, due: Sequence[str], enabled: Sequence[str], timeout: float, ctx: HostContext | None = None
) -> dict[str, str]:
    results = scan_sections(ctx or HostContext(), due, timeout=timeout)
    now = time.time()
    spool = Spool(data_dir / "agent.db")
    try:
        cache = spool.section_cache()
        cache.update(results)
        for name in list(cache):
            if name not in enabled:
                # said once as "skipped", so the collector drops what it holds for it
                cache[name] = {"status": "skipped", "reason": "disabled by the collector's configuration"}
        status = {k: v for k, v in (spool.get("sections_status") or {}).items() if k in enabled}
        for name, result in results.items():
            status[name] = {
                "status": result["status"],
                "reason": result.get("reason", ""),
                "errors": result.get("errors", []),
                "duration_ms": result.get("duration_ms", 0),
                "at": now,
            }
        state: dict[str, Any] = {"sections_status": status}
        vpn = results.get("vpn")
        if vpn is not None and vpn.get("status") == "ok":
            # the service runs the VPN log reader only on a host with a VPN server
            counts = (vpn.get("data") or {}).get("counts") or {}
            state["vpn_servers"] = int(counts.get("servers") or 0)
        spool.set_section_cache(cache, **state)
        return fingerprint(cache)
    finally:
        spool.close()
