"""Probe ``hardware``: the machine (DMI), CPU, memory, disks and network adapters.

Linux reads sysfs and procfs only: no dmidecode, no root needed except for the
DMI serial numbers, which the kernel shows to root alone (an error entry says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.host import HostContext
from agent.probes.base import Collected, Probe
from wire import SectionError
from wire.sections import AdapterFacts, CpuFacts, DiskFacts, HardwareFacts
from wire.sections.hardware import AdapterKind

__all__ = [
    "PROBE",
    "SysfsDisk",
    "SysfsNetInterface",
    "chassis_name",
    "classify_adapter",
    "parse_cpuinfo",
    "parse_disk",
    "parse_max_khz",
    "parse_meminfo_total",
    "read_net_interfaces",
]

# SMBIOS 3.x, table 17 (System Enclosure or Chassis Types).
_CHASSIS = {
    1: "other",
    2: "unknown",
    3: "desktop",
    4: "low-profile desktop",
    5: "pizza box",
    6: "mini tower",
    7: "tower",
    8: "portable",
    9: "laptop",
    10: "notebook",
    11: "handheld",
    12: "docking station",
    13: "all-in-one",
    14: "sub-notebook",
    15: "space-saving",
    16: "lunch box",
    17: "main server chassis",
    18: "expansion chassis",
    19: "sub-chassis",
    20: "bus expansion chassis",
    21: "peripheral chassis",
    22: "raid chassis",
    23: "rack mount chassis",
    24: "sealed-case pc",
    25: "multi-system",
    26: "compact pci",
    27: "advanced tca",
    28: "blade",
    29: "blade enclosure",
    30: "tablet",
    31: "convertible",
    32: "detachable",
    33: "iot gateway",
    34: "embedded pc",
    35: "mini pc",
    36: "stick pc",
}

# Placeholders that firmware vendors put where a value should be.
_PLACEHOLDERS = {
    "",
    "to be filled by o.e.m.",
    "to be filled by oem",
    "default string",
    "system serial number",
    "not specified",
    "not applicable",
    "none",
    "0",
    "0123456789",
    "o.e.m.",
    "oem",
    "n/a",
    "system product name",
    "system manufacturer",
    "chassis serial number",
    "123456789",
}

_CELLULAR_DRIVERS = {
    "qmi_wwan",
    "cdc_mbim",
    "cdc_ncm",
    "option",
    "sierra_net",
    "huawei_cdc_ncm",
    "ipheth",
    "rndis_host",  # a phone tethered over USB
}


def clean_dmi(value: str | None) -> str:
    """Strip a DMI string and blank out firmware placeholders."""
    text = (value or "").strip().strip("\x00").strip()
    return "" if text.lower() in _PLACEHOLDERS else text[:255]


def chassis_name(code: str | None) -> str:
    """SMBIOS chassis type number (as in /sys/class/dmi/id/chassis_type) -> name."""
    try:
        return _CHASSIS.get(int((code or "").strip()), "")
    except ValueError:
        return ""


def parse_cpuinfo(text: str) -> CpuFacts:
    """Parse /proc/cpuinfo into model, vendor, sockets, cores and threads.

    Sample input (one block per logical CPU)::

        processor	: 0
        vendor_id	: GenuineIntel
        model name	: Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz
        physical id	: 0
        core id		: 0
        cpu cores	: 6
    """
    model = vendor = ""
    threads = 0
    cores: set[tuple[str, str]] = set()
    packages: set[str] = set()
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip()
        if "processor" not in fields:
            continue
        threads += 1
        model = model or fields.get("model name", "") or fields.get("hardware", "")
        vendor = vendor or fields.get("vendor_id", "") or fields.get("cpu implementer", "")
        package = fields.get("physical id", "0")
        packages.add(package)
        cores.add((package, fields.get("core id", fields["processor"])))
    # "cpu MHz" is the current clock, which moves with frequency scaling: it is not a fact
    # of the hardware (it would change the section's hash on every scan), so it is not read.
    return CpuFacts(
        model=model[:255],
        vendor=vendor[:255],
        packages=min(len(packages), 64),
        cores=min(len(cores), 4096),
        threads=min(threads, 8192),
    )


def parse_max_khz(text: str | None) -> float | None:
    """cpufreq's ``cpuinfo_max_freq`` (kHz, e.g. ``4600000``) -> MHz."""
    try:
        value = int((text or "").strip())
    except ValueError:
        return None
    return value / 1000 if value > 0 else None


def parse_meminfo_total(text: str) -> int | None:
    """MemTotal from /proc/meminfo, in bytes (``MemTotal:       16318412 kB``)."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            try:
                value = int(parts[1])
            except (IndexError, ValueError):
                return None
            unit = parts[2].lower() if len(parts) > 2 else ""
            return value * 1024 if unit == "kb" else value
    return None


@dataclass(frozen=True)
class SysfsDisk:
    """What /sys/block/<name> (and udev's database) says of one block device."""

    name: str
    size_sectors: str = ""
    removable: str = ""
    rotational: str = ""
    model: str = ""
    serial: str = ""
    vendor: str = ""
    subsystem: str = ""
    udev: str = ""


def _udev_properties(text: str) -> dict[str, str]:
    """udev database entries ``E:KEY=value`` -> dict."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("E:") and "=" in line:
            key, _, value = line[2:].partition("=")
            props[key] = value
    return props


def parse_disk(raw: SysfsDisk) -> DiskFacts | None:
    """One physical disk from its sysfs attributes; None for a device that is no disk."""
    try:
        size = int(raw.size_sectors.strip() or "0") * 512  # sysfs counts 512-byte sectors
    except ValueError:
        return None
    if size <= 0:
        return None
    udev = _udev_properties(raw.udev)
    model = clean_dmi(raw.model) or clean_dmi(udev.get("ID_MODEL", "").replace("_", " "))
    serial = clean_dmi(raw.serial) or clean_dmi(udev.get("ID_SERIAL_SHORT"))
    name = raw.name
    bus = udev.get("ID_BUS", "")
    if not bus:
        bus = "nvme" if name.startswith("nvme") else "virtio" if name.startswith("vd") else ""
        bus = bus or {"virtio": "virtio", "scsi": "scsi", "usb": "usb"}.get(raw.subsystem, "")
    rotational = {"0": False, "1": True}.get(raw.rotational.strip())
    return DiskFacts(
        name=name[:128],
        model=model,
        serial=serial.rstrip(".").strip(),
        size_bytes=size,
        bus=bus[:255],
        rotational=rotational,
        removable=raw.removable.strip() == "1" or bus == "usb",
    )


@dataclass(frozen=True)
class SysfsNetInterface:
    """What /sys/class/net/<name> says of one interface."""

    name: str
    address: str = ""
    type: str = ""
    uevent: str = ""
    has_device: bool = False
    has_wireless: bool = False
    driver: str = ""
    operstate: str = ""
    carrier: str = ""
    mtu: str = ""
    speed: str = ""
    vendor: str = ""


def classify_adapter(raw: SysfsNetInterface) -> AdapterKind:
    """wired / wireless / cellular / virtual / loopback from sysfs facts.

    ``type`` is the ARPHRD number: 1 Ethernet, 772 loopback, 65534 none (tun),
    519/530 are cellular raw-IP links. A device without a ``device`` link is virtual
    (bridges, veth, docker, VPN tunnels).
    """
    kind_type = raw.type.strip()
    devtype = _udev_properties("\n".join("E:" + x for x in raw.uevent.splitlines())).get("DEVTYPE", "")
    if kind_type == "772" or raw.name == "lo":
        return "loopback"
    if devtype == "wwan" or raw.driver in _CELLULAR_DRIVERS or kind_type in {"519", "530"}:
        return "cellular"
    if raw.has_wireless or devtype == "wlan":
        return "wireless"
    if not raw.has_device:
        return "virtual"
    if kind_type == "1":
        return "wired"
    return "other"


def normalise_mac(value: str) -> str | None:
    mac = value.strip().lower()
    parts = mac.split(":")
    if len(parts) < 6 or any(len(p) != 2 for p in parts):
        return None
    if all(p == "00" for p in parts):
        return None
    try:
        int("".join(parts), 16)
    except ValueError:
        return None
    return mac


def parse_adapter(raw: SysfsNetInterface) -> AdapterFacts:
    try:
        speed: int | None = int(raw.speed.strip())
        if speed is not None and speed < 0:
            speed = None
    except ValueError:
        speed = None
    return AdapterFacts(
        name=raw.name[:128],
        mac=normalise_mac(raw.address),
        kind=classify_adapter(raw),
        driver=raw.driver[:255],
        vendor=raw.vendor.strip()[:255],
        speed_mbps=speed,
    )


def read_net_interfaces(ctx: HostContext) -> list[SysfsNetInterface]:
    """Read /sys/class/net for every interface (shared with the network probe)."""
    found = []
    for name in ctx.listdir("/sys/class/net"):
        base = f"/sys/class/net/{name}"
        if not ctx.exists(f"{base}/type"):
            continue
        found.append(
            SysfsNetInterface(
                name=name,
                address=ctx.read_text(f"{base}/address", default=""),
                type=ctx.read_text(f"{base}/type", default=""),
                uevent=ctx.read_text(f"{base}/uevent", default=""),
                has_device=ctx.exists(f"{base}/device"),
                has_wireless=ctx.exists(f"{base}/wireless") or ctx.exists(f"{base}/phy80211"),
                driver=ctx.readlink_name(f"{base}/device/driver"),
                operstate=ctx.read_text(f"{base}/operstate", default="").strip(),
                carrier=ctx.read_text(f"{base}/carrier", default="").strip(),
                mtu=ctx.read_text(f"{base}/mtu", default="").strip(),
                speed=ctx.read_text(f"{base}/speed", default=""),
                vendor=ctx.read_text(f"{base}/device/vendor", default=""),
            )
        )
    return found


_NOT_DISKS = ("loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd")


def _read_disks(ctx: HostContext) -> list[SysfsDisk]:
    disks = []
    for name in ctx.listdir("/sys/block"):
        base = f"/sys/block/{name}"
        if name.startswith(_NOT_DISKS) or not ctx.exists(f"{base}/device"):
            continue
        dev = ctx.read_text(f"{base}/dev", default="").strip()
        disks.append(
            SysfsDisk(
                name=name,
                size_sectors=ctx.read_text(f"{base}/size", default=""),
                removable=ctx.read_text(f"{base}/removable", default=""),
                rotational=ctx.read_text(f"{base}/queue/rotational", default=""),
                model=ctx.read_text(f"{base}/device/model", default=""),
                serial=ctx.read_text(f"{base}/device/serial", default=""),
                vendor=ctx.read_text(f"{base}/device/vendor", default=""),
                subsystem=ctx.readlink_name(f"{base}/device/subsystem"),
                udev=ctx.read_text(f"/run/udev/data/b{dev}", default="") if dev else "",
            )
        )
    return disks


_DMI_FIELDS = (
    "sys_vendor",
    "product_name",
    "product_serial",
    "product_uuid",
    "chassis_type",
    "bios_vendor",
    "bios_version",
    "bios_date",
    "board_vendor",
    "board_name",
    "board_serial",
)
_ROOT_ONLY = {"product_serial", "product_uuid", "board_serial"}


def collect_linux(ctx: HostContext) -> Collected:
    errors: list[SectionError] = []
    dmi: dict[str, str] = {}
    if ctx.exists("/sys/class/dmi/id"):
        for key in _DMI_FIELDS:
            path = f"/sys/class/dmi/id/{key}"
            text = ctx.read_optional(path)
            if text is None and key in _ROOT_ONLY and ctx.exists(path):
                errors.append(SectionError(source=path, message="readable by root only"))
            dmi[key] = clean_dmi(text)
    else:
        errors.append(SectionError(source="/sys/class/dmi/id", message="no SMBIOS/DMI table exposed"))
    cpuinfo = ctx.read_optional("/proc/cpuinfo") or ""
    cpu = parse_cpuinfo(cpuinfo).model_copy(
        update={
            "max_mhz": parse_max_khz(
                ctx.read_optional("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
            )
        }
    )
    memory = parse_meminfo_total(ctx.read_optional("/proc/meminfo") or "")
    if memory is None:
        errors.append(SectionError(source="/proc/meminfo", message="no MemTotal line"))
    chassis = chassis_name(dmi.get("chassis_type"))
    flags = next((ln for ln in cpuinfo.splitlines() if ln.startswith("flags")), "")
    hypervisor = ctx.read_optional("/sys/hypervisor/type")
    virtual = " hypervisor" in flags or bool(hypervisor and hypervisor.strip())
    facts = HardwareFacts(
        vendor=dmi.get("sys_vendor", ""),
        model=dmi.get("product_name", ""),
        chassis_type=chassis or ("virtual machine" if virtual and not dmi else ""),
        serial=dmi.get("product_serial", ""),
        system_uuid=dmi.get("product_uuid", "").lower(),
        bios_vendor=dmi.get("bios_vendor", ""),
        bios_version=dmi.get("bios_version", ""),
        bios_date=dmi.get("bios_date", ""),
        board_vendor=dmi.get("board_vendor", ""),
        board_model=dmi.get("board_name", ""),
        board_serial=dmi.get("board_serial", ""),
        virtual=virtual,
        cpu=cpu,
        memory_bytes=memory or 0,
        disks=[d for d in map(parse_disk, _read_disks(ctx)) if d is not None],
        adapters=[parse_adapter(i) for i in read_net_interfaces(ctx)],
    )
    return Collected(facts, errors)


def _collect_windows(ctx: HostContext) -> Collected:
    from agent.probes.hardware_windows import collect_windows

    return collect_windows(ctx)


PROBE = Probe(
    section="hardware",
    description="System vendor/model/serial/UUID, BIOS, CPU, memory, disks, network adapters.",
    collectors={"linux": collect_linux, "windows": _collect_windows},
)
