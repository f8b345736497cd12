"""One model per report section. Adding a section touches this registry (a test checks it)."""

from __future__ import annotations

from pydantic import BaseModel

from wire.sections.hardware import AdapterFacts, CpuFacts, DiskFacts, HardwareFacts
from wire.sections.network import InterfaceAddress, InterfaceFacts, NetworkFacts, RouteFacts
from wire.sections.os import OsFacts
from wire.sections.software import SoftwareFacts, SoftwareItem

__all__ = [
    "SECTION_MODELS",
    "AdapterFacts",
    "CpuFacts",
    "DiskFacts",
    "HardwareFacts",
    "InterfaceAddress",
    "InterfaceFacts",
    "NetworkFacts",
    "OsFacts",
    "RouteFacts",
    "SoftwareFacts",
    "SoftwareItem",
]

#: Section name -> the model of its content.
SECTION_MODELS: dict[str, type[BaseModel]] = {
    "os": OsFacts,
    "hardware": HardwareFacts,
    "network": NetworkFacts,
    "software": SoftwareFacts,
}
