"""Probe ``accounts``: local users, administrators, password age, guest (A9-T3.5).

STUB: being written.
"""

from __future__ import annotations

from agent.probes.base import Probe

__all__ = ["PROBE"]

PROBE = Probe(
    section="accounts", description="local users, administrators, password age, guest", collectors={}
)
