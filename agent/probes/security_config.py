"""Probe ``security_config``: firewall, screen lock, disk encryption, USB storage, RDP, SMBv1, autorun (A9-T3.5).

STUB: being written.
"""

from __future__ import annotations

from agent.probes.base import Probe

__all__ = ["PROBE"]

PROBE = Probe(
    section="security_config",
    description="firewall, screen lock, disk encryption, USB storage, RDP, SMBv1, autorun",
    collectors={},
)
