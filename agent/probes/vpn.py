"""Probe ``vpn``: VPN servers on this host, their accounts, weak-password verdicts (A9-T2.1, A9-T2.2, A9-T2.3).

The work is in agent/vpn/ (discovery, store parsers, password policy, candidate generator,
libxcrypt hash checks within a time budget; audit.py assembles the section). Linux only: the
VPN daemons it reads (OpenVPN, strongSwan, ocserv, pppd, WireGuard) are Linux servers here.
Only verdicts are in the section, never a password, hash or key.
"""

from __future__ import annotations

from agent.host import HostContext
from agent.probes.base import Collected, Probe

__all__ = ["PROBE"]


def _collect_linux(ctx: HostContext) -> Collected:
    from agent.vpn.audit import audit, options_from_env

    facts, errors = audit(ctx, options_from_env())
    return Collected(facts, errors)


PROBE = Probe(
    section="vpn",
    description="VPN servers, their accounts and weak-password verdicts",
    collectors={"linux": _collect_linux},
    not_applicable={
        "windows": "VPN servers are audited on Linux (OpenVPN, strongSwan, ocserv, pppd, WireGuard); "
        "Windows RRAS is not covered",
    },
)
