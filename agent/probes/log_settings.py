"""Probe ``log_settings``: log sizes, retention, audit policy, oldest entry kept (A9-M3.4).

Requirement: logs are monitored routinely and kept six months. The probe reports every log
store with its bound (size, rotation, retention mode), the history its configuration keeps
at least, and the oldest entry actually kept, so the collector can compare with 180 days.

- Linux (agent.probes.log_settings_linux): journald (journald.conf and drop-ins,
  ``journalctl --list-boots -o json``, ``--disk-usage``), rsyslog/syslog-ng rules, logrotate
  (agent.probes.log_settings_logrotate_linux), auditd.conf, and the first line of the oldest
  rotated file of each log;
- Windows (agent.probes.log_settings_windows): one PowerShell call for ``Get-WinEvent
  -ListLog``, the oldest record of each channel and ``auditpol /get /category:* /r``.
"""

from __future__ import annotations

from agent.host import HostContext
from agent.probes.base import Collected, Probe

__all__ = ["PROBE"]


def _collect_linux(ctx: HostContext) -> Collected:
    from agent.probes.log_settings_linux import collect_linux

    return collect_linux(ctx)


def _collect_windows(ctx: HostContext) -> Collected:
    from agent.probes.log_settings_windows import collect_windows

    return collect_windows(ctx)


PROBE = Probe(
    section="log_settings",
    description="log sizes, retention, audit policy, oldest entry kept",
    collectors={"linux": _collect_linux, "windows": _collect_windows},
)
