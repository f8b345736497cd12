"""Probe ``antivirus``: antivirus products, signature age, real-time protection, scans (A9-M3.2).

Windows (agent/probes/antivirus_windows.py): SecurityCenter2, Defender status, threats and
its Operational event history, and known product services, in one PowerShell call.
Linux (agent/probes/antivirus_linux.py): ClamAV databases, freshclam and scan logs, units.

"No antivirus at all" is a fact here: ``products == []`` with ``state == "none"`` when the
sources were read; ``state == "unknown"`` only when they could not be.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from agent.host import HostContext
from agent.probes.base import Collected, Probe
from wire.sections.antivirus import AntivirusFacts, AntivirusProduct

__all__ = ["PROBE", "WINDOW", "clip", "facts_from_products", "overall_state", "within_window"]

OverallState = Literal["protected", "unverified", "at_risk", "none", "unknown"]

#: The history window of the section: scans, detections and updates of the last 30 days.
WINDOW = timedelta(days=30)


def clip(value: object, limit: int = 255) -> str:
    """A value as bounded text without NUL characters ('' for None)."""
    text = "" if value is None else str(value)
    return text.replace("\x00", "").strip()[:limit]


def within_window(time: datetime | None, now: datetime) -> bool:
    """Whether ``time`` falls in the 30 days before ``now`` (a little clock skew allowed)."""
    return time is not None and now - WINDOW <= time <= now + timedelta(days=1)


def overall_state(products: Iterable[AntivirusProduct], read_ok: bool) -> OverallState:
    """protected / unverified / at_risk / none / unknown (see AntivirusFacts.state)."""
    found = list(products)
    if not found:
        return "none" if read_ok else "unknown"
    if any(p.enabled and p.signatures_up_to_date for p in found):
        return "protected"
    if any(p.enabled and p.signatures_up_to_date is None for p in found):
        return "unverified"
    return "at_risk"


def facts_from_products(
    products: Iterable[AntivirusProduct], sources: Iterable[str], read_ok: bool, note: str = ""
) -> AntivirusFacts:
    found = sorted(products, key=lambda p: (p.name.lower(), p.recognised_by))[:32]
    return AntivirusFacts(
        state=overall_state(found, read_ok),
        has_antivirus=bool(found),
        products=found,
        sources=[clip(s) for s in sources][:32],
        note=clip(note, 8192),
    )


def _collect_linux(ctx: HostContext) -> Collected:
    from agent.probes.antivirus_linux import collect_linux

    return collect_linux(ctx)


def _collect_windows(ctx: HostContext) -> Collected:
    from agent.probes.antivirus_windows import collect_windows

    return collect_windows(ctx)


PROBE = Probe(
    section="antivirus",
    description="antivirus products, signature age, real-time protection, scans",
    collectors={"linux": _collect_linux, "windows": _collect_windows},
)
