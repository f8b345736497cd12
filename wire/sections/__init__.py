"""One model per report section. Adding a section touches this registry (a test checks it)."""

from __future__ import annotations

from pydantic import BaseModel

from wire.sections.accounts import AccountFacts
from wire.sections.antivirus import AntivirusFacts
from wire.sections.hardware import AdapterFacts, CpuFacts, DiskFacts, HardwareFacts
from wire.sections.licensing import LicensingFacts
from wire.sections.log_settings import LogSettingsFacts
from wire.sections.network import InterfaceAddress, InterfaceFacts, NetworkFacts, RouteFacts
from wire.sections.network_exposure import NetworkExposureFacts
from wire.sections.os import OsFacts
from wire.sections.patches import PatchFacts
from wire.sections.security_config import SecurityConfigFacts
from wire.sections.software import SoftwareFacts, SoftwareItem
from wire.sections.vpn import VpnFacts

__all__ = [
    "SECTION_MODELS",
    "AccountFacts",
    "AdapterFacts",
    "AntivirusFacts",
    "CpuFacts",
    "DiskFacts",
    "HardwareFacts",
    "InterfaceAddress",
    "InterfaceFacts",
    "LicensingFacts",
    "LogSettingsFacts",
    "NetworkExposureFacts",
    "NetworkFacts",
    "OsFacts",
    "PatchFacts",
    "RouteFacts",
    "SecurityConfigFacts",
    "SoftwareFacts",
    "SoftwareItem",
    "VpnFacts",
]

#: Section name -> the model of its content.
SECTION_MODELS: dict[str, type[BaseModel]] = {
    "os": OsFacts,
    "hardware": HardwareFacts,
    "network": NetworkFacts,
    "software": SoftwareFacts,
    "licensing": LicensingFacts,
    "antivirus": AntivirusFacts,
    "patches": PatchFacts,
    "accounts": AccountFacts,
    "security_config": SecurityConfigFacts,
    "network_exposure": NetworkExposureFacts,
    "log_settings": LogSettingsFacts,
    "vpn": VpnFacts,
}
