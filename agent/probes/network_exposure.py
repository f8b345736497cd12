"""Probe ``network_exposure``: listening ports, default routes, uplinks, Wi-Fi/cellular up (A9-T3.2, A9-T1).

STUB: being written.
"""

from __future__ import annotations

from agent.probes.base import Probe

__all__ = ["PROBE"]

PROBE = Probe(
    section="network_exposure",
    description="listening ports, default routes, uplinks, Wi-Fi/cellular up",
    collectors={},
)
