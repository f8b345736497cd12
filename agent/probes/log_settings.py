"""Probe ``log_settings``: log sizes, retention, audit policy, oldest entry kept (A9-M3.4).

STUB: being written.
"""

from __future__ import annotations

from agent.probes.base import Probe

__all__ = ["PROBE"]

PROBE = Probe(
    section="log_settings", description="log sizes, retention, audit policy, oldest entry kept", collectors={}
)
