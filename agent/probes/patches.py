"""Probe ``patches``: installed and pending updates, last update, reboot pending (A9-T3.3).

STUB: being written.
"""

from __future__ import annotations

from agent.probes.base import Probe

__all__ = ["PROBE"]

PROBE = Probe(
    section="patches", description="installed and pending updates, last update, reboot pending", collectors={}
)
