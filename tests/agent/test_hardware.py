"""Probe ``hardware`` (A9-T3.2, A9-M3.3): parsers on captured files and sysfs trees, and
the live read compared with what the system's own files and tools say."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.host import HostContext
from agent.probes.hardware import (
    SysfsDisk,
    SysfsNetInterface,
    chassis_name,
    classify_adapter,
    clean_dmi,
    collect_linux,
    parse_cpuinfo,
    parse_disk,
    parse_max_khz,
    parse_meminfo_total,
)
from wire.sections import HardwareFacts

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "linux" / "debian12-vm"


def test_parse_cpuinfo_captured() -> None:
    cpu = parse_cpuinfo((FIX / "proc_cpuinfo").read_text())
    assert cpu.vendor == "AuthenticAMD"
    assert cpu.model == "AMD EPYC"
    assert (cpu.packages, cpu.cores, cpu.threads) == (1, 2, 2)
    # the current clock ("cpu MHz") moves with frequency scaling and is not a hardware fact
    assert cpu.max_mhz is None


def test_parse_max_khz() -> None:
    assert parse_max_khz("4600000\n") == 4600.0
    assert parse_max_khz("") is None and parse_max_khz("0") is None and parse_max_khz("x") is None


def test_parse_meminfo_captured() -> None:
    assert parse_meminfo_total((FIX / "proc_meminfo").read_text()) == 24684084 * 1024


def test_chassis_and_placeholders() -> None:
    assert chassis_name("3") == "desktop"
    assert chassis_name("10") == "notebook"
    assert chassis_name("x") == ""
    assert clean_dmi("To Be Filled By O.E.M.\n") == ""
    assert clean_dmi(" Default string ") == ""
    assert clean_dmi("LENOVO\n") == "LENOVO"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (SysfsNetInterface("lo", type="772"), "loopback"),
        (SysfsNetInterface("enp3s0", type="1", has_device=True, driver="e1000e"), "wired"),
        (SysfsNetInterface("wlp2s0", type="1", has_device=True, has_wireless=True), "wireless"),
        (SysfsNetInterface("wwan0", type="1", has_device=True, uevent="DEVTYPE=wwan\n"), "cellular"),
        (SysfsNetInterface("wwp0s20", type="1", has_device=True, driver="qmi_wwan"), "cellular"),
        (SysfsNetInterface("docker0", type="1", uevent="DEVTYPE=bridge\n"), "virtual"),
        (SysfsNetInterface("tun0", type="65534"), "virtual"),
    ],
)
def test_classify_adapter(raw: SysfsNetInterface, kind: str) -> None:
    assert classify_adapter(raw) == kind


def test_parse_disk_from_sysfs_and_udev() -> None:
    disk = parse_disk(
        SysfsDisk(
            "sda",
            size_sectors="1000215216\n",
            rotational="0\n",
            model="",
            udev="E:ID_BUS=ata\nE:ID_MODEL=Samsung_SSD_860\nE:ID_SERIAL_SHORT=S3Z9NB0K\n",
        )
    )
    assert disk is not None
    assert (disk.model, disk.serial, disk.bus, disk.rotational) == (
        "Samsung SSD 860",
        "S3Z9NB0K",
        "ata",
        False,
    )
    assert disk.size_bytes == 1000215216 * 512
    nvme = parse_disk(SysfsDisk("nvme0n1", size_sectors="2000409264", serial="S4EWNX0N123456     .\n"))
    assert nvme is not None and nvme.serial == "S4EWNX0N123456" and nvme.bus == "nvme"
    assert parse_disk(SysfsDisk("sdb", size_sectors="0")) is None


@given(st.text(), st.text())
def test_parsers_survive_garbage(a: str, b: str) -> None:
    parse_cpuinfo(a)
    parse_meminfo_total(a)
    chassis_name(a)
    parse_disk(SysfsDisk(a[:10] or "x", size_sectors=b, udev=a, serial=b))
    classify_adapter(SysfsNetInterface(a[:10] or "x", type=b, uevent=a))


def test_collect_from_a_captured_tree(tmp_path: Path) -> None:
    """A sysfs/procfs tree laid out under a root: the reader follows the same paths."""
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text((FIX / "proc_cpuinfo").read_text())
    (tmp_path / "proc/meminfo").write_text((FIX / "proc_meminfo").read_text())
    dmi = tmp_path / "sys/class/dmi/id"
    dmi.mkdir(parents=True)
    for name, value in {
        "sys_vendor": "LENOVO",
        "product_name": "ThinkCentre M720t",
        "chassis_type": "3",
        "product_uuid": "4C4C4544-0042-3510-8050-B4C04F4E4B32",
    }.items():
        (dmi / name).write_text(value + "\n")
    net = tmp_path / "sys/class/net/enp1s0"
    (net / "device").mkdir(parents=True)
    (net / "type").write_text("1\n")
    (net / "address").write_text("98:FA:9B:12:34:56\n")
    facts = collect_linux(HostContext(root=tmp_path)).data
    assert isinstance(facts, HardwareFacts)
    assert (facts.vendor, facts.model, facts.chassis_type) == ("LENOVO", "ThinkCentre M720t", "desktop")
    assert facts.system_uuid == "4c4c4544-0042-3510-8050-b4c04f4e4b32"
    assert facts.memory_bytes == 24684084 * 1024
    assert [(a.name, a.mac, a.kind) for a in facts.adapters] == [("enp1s0", "98:fa:9b:12:34:56", "wired")]


def test_hardware_section_is_stable_between_scans() -> None:
    """Two scans in a row give the same facts, so an unchanged PC sends empty deltas."""
    assert collect_linux(HostContext()).data == collect_linux(HostContext()).data


def test_live_memory_equals_meminfo() -> None:
    facts = collect_linux(HostContext()).data
    assert isinstance(facts, HardwareFacts)
    assert facts.memory_bytes == parse_meminfo_total(Path("/proc/meminfo").read_text())
    assert facts.cpu.threads == len(
        [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("processor")]
    )


def test_live_adapters_equal_ip_addr() -> None:
    links = json.loads(
        subprocess.run(["ip", "-j", "addr"], capture_output=True, check=True, text=True, timeout=30).stdout
    )
    facts = collect_linux(HostContext()).data
    assert isinstance(facts, HardwareFacts)
    ours = {a.name: a.mac for a in facts.adapters}
    theirs = {
        link["ifname"]: (None if link.get("address", "").strip("0:") == "" else link.get("address"))
        for link in links
    }
    assert ours == theirs
