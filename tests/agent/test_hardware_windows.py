"""Probe ``hardware`` on Windows (A9-T3.2, A9-M3.3), on real `wmic /format:list` captures and
PowerShell JSON; the disk serial quirks of Windows handled."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agent.capture import ReplayContext
from agent.probes.hardware_windows import POWERSHELL_ARGV, normalise_disk_serial, parse_windows_hardware
from agent.regfile import decode_reg_file
from agent.scan import scan_sections
from agent.wmi import parse_wmi_date, parse_wmic_list

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "windows" / "wmic"


def _wmic(name: str) -> list[dict[str, str]]:
    return parse_wmic_list(decode_reg_file((FIX / name).read_bytes()))


def test_wmic_captures_of_a_proxmox_vm_and_a_latitude_disk() -> None:
    facts = parse_windows_hardware(
        {
            "Win32_ComputerSystem": _wmic("glpi_proxmox-Win32_ComputerSystem.wmi"),
            "Win32_BIOS": _wmic("glpi_proxmox-Win32_Bios.wmi"),
            "Win32_DiskDrive": _wmic("glpi_latitude-7480-Win32_DiskDrive.wmi"),
        }
    )
    assert (facts.vendor, facts.model) == ("BOCHS_", "BXPC____")
    assert facts.virtual is True and facts.chassis_type == "virtual machine"
    assert facts.bios_version == "BOCHS  - 1" and facts.bios_date == "2014-04-01"
    assert facts.serial == ""  # the VM's BIOS has none
    (disk,) = facts.disks
    assert disk.name == "\\\\.\\PHYSICALDRIVE0" and disk.model == "PC300 NVMe SK hynix 512GB"
    assert disk.serial == "ACE4_2E61_9000_7804"  # NVMe: trailing dot removed
    assert disk.bus == "nvme" and disk.size_bytes == 512105932800


def test_wmic_entities_are_unescaped() -> None:
    (disk,) = _wmic("glpi_latitude-7480-Win32_DiskDrive.wmi")
    assert disk["PNPDeviceID"].startswith("SCSI\\DISK&VEN_NVME&PROD_PC300")


def test_disk_serial_quirks() -> None:
    # Windows 7 reports ATA serials hex-encoded with the bytes of each pair swapped
    label = "S3Z9NB0K123456X "
    swapped = "".join(label[i + 1] + label[i] for i in range(0, len(label), 2))
    assert normalise_disk_serial(swapped.encode().hex()) == "S3Z9NB0K123456X"
    assert normalise_disk_serial("  WD-WCC4N1234567  ") == "WD-WCC4N1234567"
    assert (
        normalise_disk_serial("0000000000000000") == "0000000000000000"
    )  # hex-looking, but no letters: kept
    assert normalise_disk_serial(None) == ""


def test_powershell_json_shapes() -> None:
    facts = parse_windows_hardware(
        {
            "Win32_ComputerSystem": {
                "Manufacturer": "LENOVO",
                "Model": "ThinkCentre M720t",
                "TotalPhysicalMemory": "17032851456",
            },
            "Win32_ComputerSystemProduct": [
                {"UUID": "4C4C4544-0042-3510-8050-B4C04F4E4B32", "IdentifyingNumber": "PC1ABCDE"}
            ],
            "Win32_SystemEnclosure": [{"ChassisTypes": [3]}],
            "Win32_Processor": [
                {
                    "Name": "Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz",
                    "Manufacturer": "GenuineIntel",
                    "NumberOfCores": 6,
                    "NumberOfLogicalProcessors": 6,
                    "MaxClockSpeed": 3000,
                }
            ],
            "Win32_PhysicalMemory": [{"Capacity": "8589934592"}, {"Capacity": "8589934592"}],
            "Win32_NetworkAdapter": [
                {
                    "Name": "Intel(R) Ethernet Connection (7) I219-LM",
                    "NetConnectionID": "以太网",
                    "MACAddress": "98-FA-9B-12-34-56",
                    "PhysicalAdapter": True,
                    "ServiceName": "e1dexpress",
                    "Speed": "1000000000",
                },
                {
                    "Name": "Intel(R) Wireless-AC 9560 160MHz",
                    "NetConnectionID": "WLAN",
                    "MACAddress": "A0:51:0B:00:00:01",
                    "PhysicalAdapter": True,
                },
                {"Name": "WAN Miniport (IP)", "MACAddress": None, "PhysicalAdapter": False},
            ],
        }
    )
    assert facts.chassis_type == "desktop" and facts.serial == "PC1ABCDE"
    assert facts.system_uuid == "4c4c4544-0042-3510-8050-b4c04f4e4b32"
    assert facts.memory_bytes == 2 * 8589934592 and facts.cpu.cores == 6 and facts.cpu.max_mhz == 3000.0
    assert [(a.name, a.mac, a.kind) for a in facts.adapters] == [
        ("WLAN", "a0:51:0b:00:00:01", "wireless"),
        ("以太网", "98:fa:9b:12:34:56", "wired"),
    ]


def test_wmi_dates() -> None:
    assert str(parse_wmi_date("20140401000000.000000+000")) == "2014-04-01"
    assert str(parse_wmi_date("/Date(1396310400000)/")) == "2014-04-01"
    assert parse_wmi_date("/Date(-11644473600000)/") is None  # 1601: "never"
    assert parse_wmi_date("") is None and parse_wmi_date("garbage") is None


def test_replay_of_the_powershell_reader(tmp_path: Path) -> None:
    """The Windows reader runs on a bundle: one PowerShell call, output parsed."""
    output = json.dumps(
        {
            "Win32_ComputerSystem": [dict(i) for i in _wmic("glpi_proxmox-Win32_ComputerSystem.wmi")],
            "Win32_BIOS": [dict(i) for i in _wmic("glpi_proxmox-Win32_Bios.wmi")],
        }
    )
    bundle = tmp_path / "b"
    (bundle / "commands").mkdir(parents=True)
    (bundle / "commands" / "0001.out").write_text(output)
    (bundle / "commands" / "0001.err").write_text("")
    argv = POWERSHELL_ARGV
    (bundle / "manifest.json").write_text(
        json.dumps(
            {
                "format": 1,
                "platform": "windows",
                "facts": {},
                "registry": [],
                "commands": [
                    {
                        "argv": argv,
                        "returncode": 0,
                        "stdout": "commands/0001.out",
                        "stderr": "commands/0001.err",
                    }
                ],
            }
        )
    )
    replay = ReplayContext(bundle)
    hardware = scan_sections(replay, ["hardware"], platform="windows")["hardware"]
    assert hardware["status"] == "ok" and hardware["data"]["model"] == "BXPC____"


@given(
    st.text(),
    st.dictionaries(
        st.sampled_from(
            [
                "Win32_DiskDrive",
                "Win32_BIOS",
                "Win32_Processor",
                "Win32_NetworkAdapter",
                "Win32_ComputerSystem",
            ]
        ),
        st.lists(st.dictionaries(st.text(max_size=20), st.one_of(st.text(), st.integers(), st.none()))),
    ),
)
def test_parsers_survive_garbage(text: str, classes: dict[str, list[dict[str, object]]]) -> None:
    parse_wmic_list(text)
    parse_wmi_date(text)
    normalise_disk_serial(text)
    parse_windows_hardware(classes)


def test_replay_of_a_windows_7_bundle_reads_hardware_with_wmic(tmp_path: Path) -> None:
    """A bundle from a PC with PowerShell 2 (collect.ps1 on Windows 7): no PowerShell answer,
    the classes come from real `wmic ... /format:list` outputs (UTF-16LE, saved as wmic wrote them)."""
    from agent.wmi import wmic_argv

    bundle = tmp_path / "bundle"
    (bundle / "commands").mkdir(parents=True)
    commands = [
        {
            "argv": POWERSHELL_ARGV,
            "returncode": 1,
            "stdout": "commands/0000.out",
            "stderr": "commands/0000.err",
        }
    ]
    (bundle / "commands/0000.out").write_bytes(b"")
    (bundle / "commands/0000.err").write_bytes(b"The term 'Get-CimInstance' is not recognized")
    for number, (cls, name) in enumerate(
        [
            ("Win32_ComputerSystem", "glpi_proxmox-Win32_ComputerSystem.wmi"),
            ("Win32_BIOS", "glpi_proxmox-Win32_Bios.wmi"),
            ("Win32_DiskDrive", "glpi_latitude-7480-Win32_DiskDrive.wmi"),
        ],
        start=1,
    ):
        (bundle / f"commands/{number:04d}.out").write_bytes((FIX / name).read_bytes())
        (bundle / f"commands/{number:04d}.err").write_bytes(b"")
        commands.append(
            {
                "argv": wmic_argv(cls),
                "returncode": 0,
                "stdout": f"commands/{number:04d}.out",
                "stderr": f"commands/{number:04d}.err",
            }
        )
    (bundle / "manifest.json").write_text(
        json.dumps({"format": 1, "platform": "windows", "facts": {}, "commands": commands, "registry": []})
    )
    result = scan_sections(ReplayContext(bundle), ["hardware"], platform="windows")["hardware"]
    assert result["status"] == "ok", result
    data = result["data"]
    assert (data["vendor"], data["model"], data["bios_date"]) == ("BOCHS_", "BXPC____", "2014-04-01")
    assert data["disks"][0]["serial"] == "ACE4_2E61_9000_7804"
    assert any("read with wmic instead" in e["message"] for e in result["errors"])
