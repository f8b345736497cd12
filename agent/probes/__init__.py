"""The explicit probe registry: one line per section (a test checks nothing is left out)."""

from __future__ import annotations

from agent.probes import (
    accounts,
    antivirus,
    hardware,
    licensing,
    log_settings,
    network,
    network_exposure,
    os_info,
    patches,
    security_config,
    software,
    vpn,
)
from agent.probes.base import Collected, Probe, ProbeSkipped, current_platform

__all__ = ["PROBES", "Collected", "Probe", "ProbeSkipped", "current_platform"]

PROBES: dict[str, Probe] = {
    probe.section: probe
    for probe in (
        os_info.PROBE,
        hardware.PROBE,
        network.PROBE,
        software.PROBE,
        licensing.PROBE,
        antivirus.PROBE,
        patches.PROBE,
        accounts.PROBE,
        security_config.PROBE,
        network_exposure.PROBE,
        log_settings.PROBE,
        vpn.PROBE,
    )
}
