"""Section ``hardware``: the machine, its CPU, memory, disks and network adapters.

Feeds the asset register (A9-M3.3) and the hardware standard (A9-T3.2).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wire._base import Identifier, MacAddress, Name, ShortText, WireModel

__all__ = ["AdapterFacts", "AdapterKind", "CpuFacts", "DiskFacts", "HardwareFacts"]

AdapterKind = Literal["wired", "wireless", "cellular", "virtual", "loopback", "other"]


class CpuFacts(WireModel):
    model: ShortText = Field(default="", description="CPU model string.")
    vendor: ShortText = Field(default="", description="CPU vendor id, e.g. GenuineIntel.")
    packages: int = Field(default=0, ge=0, le=64, description="Physical CPU packages (sockets).")
    cores: int = Field(default=0, ge=0, le=4096, description="Physical cores.")
    threads: int = Field(default=0, ge=0, le=8192, description="Logical processors.")
    max_mhz: float | None = Field(default=None, ge=0, description="Maximum frequency in MHz.")


class DiskFacts(WireModel):
    name: Name = Field(description="Device name, e.g. sda, nvme0n1, \\\\.\\PHYSICALDRIVE0.")
    model: ShortText = Field(default="", description="Model as the device reports it.")
    serial: ShortText = Field(default="", description="Serial number, normalised.")
    size_bytes: int = Field(ge=0, description="Capacity in bytes.")
    bus: ShortText = Field(default="", description="Bus: sata, nvme, usb, virtio, scsi...")
    rotational: bool | None = Field(default=None, description="True for spinning disks.")
    removable: bool = Field(default=False, description="Removable media.")


class AdapterFacts(WireModel):
    name: Name = Field(description="Interface name (eth0, enp3s0, 以太网).")
    mac: MacAddress | None = Field(default=None, description="Hardware address, lowercase.")
    kind: AdapterKind = Field(description="wired / wireless / cellular / virtual / loopback / other.")
    driver: ShortText = Field(default="", description="Kernel driver or Windows service name.")
    vendor: ShortText = Field(default="", description="Adapter manufacturer or PCI/USB id.")
    speed_mbps: int | None = Field(default=None, ge=0, description="Link speed when known.")


class HardwareFacts(WireModel):
    """The machine as an asset: who made it, what it is, what it carries."""

    vendor: ShortText = Field(default="", description="System manufacturer (DMI sys_vendor).")
    model: ShortText = Field(default="", description="System product name.")
    chassis_type: ShortText = Field(
        default="", description="desktop, laptop, server, virtual machine... from SMBIOS."
    )
    serial: ShortText = Field(default="", description="System serial number.")
    system_uuid: Identifier = Field(
        default="", description="SMBIOS system UUID, lowercase, in RFC 4122 byte order."
    )
    bios_vendor: ShortText = Field(default="", description="BIOS/UEFI firmware vendor.")
    bios_version: ShortText = Field(default="", description="BIOS/UEFI firmware version.")
    bios_date: ShortText = Field(default="", description="BIOS release date as reported.")
    board_vendor: ShortText = Field(default="", description="Mainboard manufacturer.")
    board_model: ShortText = Field(default="", description="Mainboard product name.")
    board_serial: ShortText = Field(default="", description="Mainboard serial number.")
    virtual: bool = Field(default=False, description="Runs as a virtual machine.")
    cpu: CpuFacts = Field(default_factory=CpuFacts, description="The processor.")
    memory_bytes: int = Field(ge=0, description="Installed memory visible to the OS, in bytes.")
    disks: list[DiskFacts] = Field(default_factory=list, max_length=256, description="Physical disks.")
    adapters: list[AdapterFacts] = Field(
        default_factory=list, max_length=256, description="Network adapters, physical and virtual."
    )
