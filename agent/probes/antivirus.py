"""Probe ``antivirus``: antivirus products, signature age, real-time protection, scans (A9-M3.2).

STUB: being written.
"""

from __future__ import annotations

from agent.probes.base import Probe

__all__ = ["PROBE"]

PROBE = Probe(
    section="antivirus",
    description="antivirus products, signature age, real-time protection, scans",
    collectors={},
)
