"""Probe ``licensing``: OS and Office activation, KMS configuration, activator indicators (A9-T3.1).

STUB: being written.
"""

from __future__ import annotations

from agent.probes.base import Probe

__all__ = ["PROBE"]

PROBE = Probe(
    section="licensing",
    description="OS and Office activation, KMS configuration, activator indicators",
    collectors={},
)
