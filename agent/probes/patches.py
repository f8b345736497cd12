"""Probe ``patches``: installed and pending updates, last update, reboot pending (A9-T3.3).

Linux (apt; dnf/yum) in agent.probes.patches_linux, Windows (one PowerShell call) in
agent.probes.patches_windows; docs/probes/patches.md lists the exact commands.
"""

from __future__ import annotations

from agent.probes.base import Probe
from agent.probes.patches_linux import collect_linux
from agent.probes.patches_windows import collect_windows

__all__ = ["PROBE"]

PROBE = Probe(
    section="patches",
    description="installed and pending updates, last update, reboot pending",
    collectors={"linux": collect_linux, "windows": collect_windows},
)
