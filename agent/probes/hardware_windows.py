"""Windows reader of the ``hardware`` section: CIM classes through one PowerShell call.

The parser takes a mapping of class name -> instances, which both PowerShell JSON (the
reader below) and ``wmic /format:list`` captures (agent.wmi.parse_wmic_list) produce, so
captures from Windows 7 and from Windows 11 go through the same code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from agent.host import HostContext, ReadError
from agent.probes.base import Collected
from agent.probes.hardware import chassis_name, clean_dmi, normalise_mac
from agent.wmi import as_instances, parse_wmi_date, wmic_classes
from wire import SectionError
from wire.sections import AdapterFacts, CpuFacts, DiskFacts, HardwareFacts
from wire.sections.hardware import AdapterKind

__all__ = [
    "CLASSES",
    "POWERSHELL",
    "adapter_kind",
    "collect_windows",
    "normalise_disk_serial",
    "parse_windows_hardware",
]

CLASSES = (
    "Win32_ComputerSystem",
    "Win32_ComputerSystemProduct",
    "Win32_BIOS",
    "Win32_SystemEnclosure",
    "Win32_BaseBoard",
    "Win32_Processor",
    "Win32_DiskDrive",
    "Win32_NetworkAdapter",
    "Win32_PhysicalMemory",
)
#: One PowerShell call; UTF-8 output so that Chinese names survive.
POWERSHELL = (
    "[Console]::OutputEncoding=[Text.Encoding]::UTF8; $r=@{}; foreach($c in @('" + "','".join(CLASSES) + "'))"
    "{ try { $r[$c]=@(Get-CimInstance -ClassName $c -ErrorAction Stop | Select-Object -Property * "
    "-ExcludeProperty Cim*) } catch { $r[$c]=@() } }; $r | ConvertTo-Json -Depth 3 -Compress"
)
_VIRTUAL = re.compile(r"virtual|vmware|qemu|kvm|bochs|bxpc|virtualbox|hyper-v|xen|parallels", re.I)
_WIRELESS = re.compile(r"wireless|wi-?fi|802\.11|wlan|无线", re.I)
_CELLULAR = re.compile(r"mobile broadband|wwan|lte|4g|5g|移动宽带|remote ndis|rndis", re.I)
_VIRTUAL_NIC = re.compile(
    r"virtual|vmware|hyper-v|tap-windows|wintun|wireguard|vpn|loopback|bluetooth|miniport", re.I
)


def normalise_disk_serial(value: Any) -> str:
    """Disk serials as Windows reports them, made comparable with the label on the disk.

    - Windows 7 and older give ATA serials hex-encoded with each byte pair swapped
      (``3353...`` for ``S3...``): decoded when that yields printable ASCII;
    - NVMe serials come as the EUI-64 with a trailing dot (``ACE4_2E61_9000_7804.``): the dot goes;
    - padding spaces go.
    """
    text = str(value or "").strip()
    if len(text) >= 8 and len(text) % 4 == 0 and re.fullmatch(r"[0-9A-Fa-f]+", text):
        raw = bytes.fromhex(text)
        swapped = bytes(b for pair in zip(raw[1::2], raw[0::2], strict=True) for b in pair)
        try:
            decoded = swapped.decode("ascii").strip()
        except UnicodeDecodeError:
            decoded = ""
        if decoded and decoded.isprintable() and re.search(r"[G-Zg-z]", decoded):
            text = decoded
    return clean_dmi(text.rstrip(".").strip())


#: The reader's command line (a capture bundle records it under this argv).
POWERSHELL_ARGV = [
    "powershell.exe",
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-Command",
    POWERSHELL,
]


def _int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**63 else None


def _first(instances: list[dict[str, Any]], key: str) -> str:
    for item in instances:
        text = clean_dmi(str(item.get(key) or ""))
        if text:
            return text
    return ""


def _chassis(enclosures: list[dict[str, Any]]) -> str:
    for item in enclosures:
        types = item.get("ChassisTypes")
        if isinstance(types, list) and types:
            return chassis_name(str(types[0]))
        match = re.search(r"\d+", str(types or ""))
        if match:
            return chassis_name(match.group(0))
    return ""


def _disk(item: Mapping[str, Any]) -> DiskFacts | None:
    size = _int(item.get("Size"))
    name = str(item.get("DeviceID") or item.get("Name") or "").strip()
    if not name or not size:
        return None
    pnp = str(item.get("PNPDeviceID") or "").upper()
    interface = str(item.get("InterfaceType") or "").lower()
    bus = (
        "nvme"
        if "NVME" in pnp
        else {"ide": "ata", "scsi": "scsi", "usb": "usb", "1394": "firewire"}.get(interface, interface)
    )
    media = str(item.get("MediaType") or "").lower()
    return DiskFacts(
        name=name[:128],
        model=clean_dmi(str(item.get("Model") or "")),
        serial=normalise_disk_serial(item.get("SerialNumber")),
        size_bytes=size,
        bus=bus[:255],
        removable=bus == "usb" or "removable" in media or "external" in media,
    )


def adapter_kind(item: Mapping[str, Any]) -> AdapterKind:
    text = " ".join(str(item.get(k) or "") for k in ("Name", "Description", "ProductName", "NetConnectionID"))
    if str(item.get("PhysicalAdapter")).lower() == "false" or _VIRTUAL_NIC.search(text):
        return "virtual"
    if _CELLULAR.search(text):
        return "cellular"
    if _WIRELESS.search(text):
        return "wireless"
    return "wired"


def _adapters(instances: list[dict[str, Any]]) -> list[AdapterFacts]:
    found = []
    for item in instances:
        mac = normalise_mac(str(item.get("MACAddress") or "").replace("-", ":"))
        if mac is None:
            continue  # WAN miniports and the like without an address
        name = str(item.get("NetConnectionID") or item.get("Name") or "").strip() or mac
        speed = _int(item.get("Speed"))
        found.append(
            AdapterFacts(
                name=name[:128],
                mac=mac,
                kind=adapter_kind(item),
                driver=str(item.get("ServiceName") or "")[:255],
                vendor=str(item.get("Manufacturer") or "")[:255],
                speed_mbps=speed // 1_000_000 if speed and speed < 10**13 else None,
            )
        )
    return sorted(found, key=lambda a: a.name)


def parse_windows_hardware(classes: Mapping[str, Any]) -> HardwareFacts:
    """HardwareFacts from CIM instances by class name (PowerShell JSON or wmic captures)."""
    get = {name: as_instances(classes.get(name)) for name in CLASSES}
    system, product, bios = get["Win32_ComputerSystem"], get["Win32_ComputerSystemProduct"], get["Win32_BIOS"]
    board, cpus = get["Win32_BaseBoard"], get["Win32_Processor"]
    vendor, model = _first(system, "Manufacturer"), _first(system, "Model")
    memory = (
        sum(_int(m.get("Capacity")) or 0 for m in get["Win32_PhysicalMemory"])
        or _int(_first(system, "TotalPhysicalMemory"))
        or 0
    )
    cores = sum(_int(c.get("NumberOfCores")) or 0 for c in cpus)
    threads = sum(_int(c.get("NumberOfLogicalProcessors")) or 0 for c in cpus)
    max_mhz = max((_int(c.get("MaxClockSpeed")) or 0 for c in cpus), default=0)
    release = parse_wmi_date(bios[0].get("ReleaseDate")) if bios else None
    virtual = bool(_VIRTUAL.search(f"{vendor} {model} {_first(bios, 'Version')}"))
    chassis = _chassis(get["Win32_SystemEnclosure"]) or ("virtual machine" if virtual else "")
    return HardwareFacts(
        vendor=vendor,
        model=model,
        chassis_type=chassis,
        serial=_first(product, "IdentifyingNumber") or _first(bios, "SerialNumber"),
        system_uuid=_first(product, "UUID").lower()[:64],
        bios_vendor=_first(bios, "Manufacturer"),
        bios_version=_first(bios, "SMBIOSBIOSVersion") or _first(bios, "Version"),
        bios_date=release.isoformat() if release else "",
        board_vendor=_first(board, "Manufacturer"),
        board_model=_first(board, "Product"),
        board_serial=_first(board, "SerialNumber"),
        virtual=virtual,
        cpu=CpuFacts(
            model=_first(cpus, "Name"),
            vendor=_first(cpus, "Manufacturer"),
            packages=min(len(cpus), 64),
            cores=min(cores, 4096),
            threads=min(threads, 8192),
            max_mhz=float(max_mhz) or None,
        ),
        memory_bytes=memory,
        disks=sorted((d for d in map(_disk, get["Win32_DiskDrive"]) if d), key=lambda d: d.name),
        adapters=_adapters(get["Win32_NetworkAdapter"]),
    )


def _powershell_classes(ctx: HostContext) -> dict[str, Any]:
    result = ctx.run(POWERSHELL_ARGV, timeout=120)
    if result.returncode != 0:
        raise ReadError("powershell Get-CimInstance", (result.stderr or "failed").strip()[:500])
    try:
        data = json.loads(result.stdout.lstrip("\ufeff") or "{}")
    except ValueError as exc:
        raise ReadError("powershell Get-CimInstance", f"output is not JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}


def collect_windows(ctx: HostContext) -> Collected:
    errors: list[SectionError] = []
    try:
        data = _powershell_classes(ctx)
    except ReadError as exc:
        # PowerShell 2 (Windows 7) has no Get-CimInstance: read the same classes with wmic.
        data = wmic_classes(ctx, CLASSES)
        if not data:
            raise
        errors.append(SectionError(source=exc.source, message=f"{exc.message[:400]}; read with wmic instead"))
    errors += [
        SectionError(source=name, message="no instances returned")
        for name in ("Win32_ComputerSystem", "Win32_BIOS")
        if not as_instances(data.get(name))
    ]
    return Collected(parse_windows_hardware(data), errors)
