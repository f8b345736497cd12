"""Probe ``os`` on Windows (A9-M3.3): the PowerShell reader's JSON and wmic captures of real
machines (Windows Server 2003 R2, 2016), and a replay bundle parsed on Linux."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agent.capture import ReplayContext
from agent.probes.os_info_windows import (
    POWERSHELL_ARGV,
    parse_cim_datetime,
    parse_reg_query,
    parse_windows_os,
    parse_wmic_any,
    windows_os_from_wmic,
)
from agent.scan import scan_sections
from agent.wmi import wmic_argv

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "windows"
SERVER_2016_JSON = FIX / "powershell" / "mondoo_custom_computer_info_2016.json"


def _bundle(root: Path, commands: list[tuple[list[str], int, str]]) -> ReplayContext:
    (root / "commands").mkdir(parents=True)
    entries = []
    for number, (argv, code, out) in enumerate(commands, start=1):
        (root / "commands" / f"{number:04d}.out").write_text(out, encoding="utf-8")
        (root / "commands" / f"{number:04d}.err").write_text("", encoding="utf-8")
        entries.append(
            {
                "argv": argv,
                "returncode": code,
                "stdout": f"commands/{number:04d}.out",
                "stderr": f"commands/{number:04d}.err",
            }
        )
    manifest = {"format": 1, "platform": "windows", "facts": {}, "commands": entries, "registry": []}
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return ReplayContext(root)


def test_powershell_json_of_a_real_server_2016() -> None:
    # Win32_OperatingSystem, Win32_ComputerSystem, Win32_TimeZone and the CurrentVersion key of an
    # EC2 Windows Server 2016 as PowerShell 5.1 wrote them: the very keys this reader emits.
    facts = parse_windows_os(json.loads(SERVER_2016_JSON.read_text()))
    assert (facts.family, facts.name, facts.build, facts.kernel) == (
        "windows",
        "Windows Server 2016 Datacenter",
        "14393",
        "10.0.14393",
    )
    assert (facts.architecture, facts.hostname, facts.domain, facts.domain_kind) == (
        "x86_64",
        "WIN-FIXTURE01",
        "WORKGROUP",
        "workgroup",
    )
    assert facts.edition == "ServerDatacenter"
    assert facts.install_date == datetime.fromtimestamp(1787620870, UTC)  # /Date(1787620870000)/
    assert facts.last_boot == datetime.fromtimestamp(1787632853.489, UTC)
    assert facts.timezone == "Coordinated Universal Time"


def test_wmic_list_of_a_real_server_2003() -> None:
    # No OSArchitecture before Vista; the value of Name wraps onto a second line in this capture.
    facts = windows_os_from_wmic(
        {"Os": (FIX / "wmic/ssm_win2003r2-Win32_OperatingSystem.txt").read_text()}, {}
    )
    assert facts.name == "Microsoft(R) Windows(R) Server 2003 Datacenter x64 Edition"
    assert (facts.version, facts.build, facts.kernel, facts.architecture) == (
        "Service Pack 2",
        "3790",
        "5.2.3790",
        "x86_64",
    )
    assert facts.hostname == "AMAZON-901389D0"
    assert facts.install_date == datetime(2017, 10, 19, 9, 44, 3, tzinfo=UTC)
    assert facts.timezone == "UTC+00:00"  # only the offset is known without Win32_TimeZone


def test_wmic_csv_with_a_local_offset_and_a_real_computer_system() -> None:
    # wmic os get * /format:csv on a Server 2016 VM at UTC-7 (CIM_DATETIME suffix -420 minutes).
    outputs = {
        "Os": (FIX / "wmic/mondoo_win2016-os-format-csv.txt").read_text(),
        "ComputerSystem": (FIX / "wmic/glpi_proxmox-Win32_ComputerSystem.wmi").read_bytes().decode("utf-16"),
    }
    facts = windows_os_from_wmic(outputs, {})
    assert (facts.hostname, facts.build, facts.domain_kind) == ("WIN-VM1", "14393", "none")
    assert facts.install_date == datetime(2018, 3, 14, 3, 15, 57, tzinfo=UTC)  # 20180313201557-420
    assert facts.last_boot == datetime(2018, 6, 30, 9, 44, 18, tzinfo=UTC)
    assert facts.timezone == "UTC-07:00"
    assert len(parse_wmic_any(outputs["Os"])) == 1


def test_windows_11_domain_member_with_display_version_and_ubr() -> None:
    """Constructed input in the shape of PowerShell 7 (ISO dates, enums as text): a domain member."""
    data = {
        "Os": {
            "Caption": "Microsoft Windows 11 专业版",
            "Version": "10.0.22631",
            "BuildNumber": "22631",
            "OSArchitecture": "64 位",
            "InstallDate": "2024-01-02T03:04:05+08:00",
            "LastBootUpTime": {"value": "/Date(1732665600000)/", "DateTime": "2024年11月27日 8:00:00"},
        },
        "ComputerSystem": {
            "Name": "PC-0042",
            "DNSHostName": "pc-0042",
            "Domain": "corp.example",
            "PartOfDomain": True,
        },
        "TimeZone": {
            "Id": "China Standard Time",
            "StandardName": "中国标准时间",
            "BaseUtcOffsetMinutes": 480,
        },
        "WindowsProduct": {
            "EditionID": "Professional",
            "DisplayVersion": "23H2",
            "ReleaseId": "2009",
            "UBR": 2861,
        },
        "MachineGuid": "{6F1A2B3C-0000-4000-8000-00000000ABCD}",
        "Architecture": "ARM64",
    }
    facts = parse_windows_os(data)
    assert (facts.name, facts.version, facts.build) == ("Microsoft Windows 11 专业版", "23H2", "22631.2861")
    assert facts.pretty_name == "Microsoft Windows 11 专业版 23H2 (build 22631.2861)"
    assert (facts.domain, facts.domain_kind, facts.fqdn) == ("corp.example", "ad", "pc-0042.corp.example")
    assert (facts.architecture, facts.timezone) == ("aarch64", "China Standard Time")
    assert facts.machine_id == "6f1a2b3c-0000-4000-8000-00000000abcd"
    assert facts.install_date == datetime(2024, 1, 1, 19, 4, 5, tzinfo=UTC)
    assert facts.last_boot == datetime(2024, 11, 27, 0, 0, tzinfo=UTC)


def test_windows_times_never_and_units() -> None:
    assert parse_cim_datetime("/Date(-11644473600000)/") is None  # FILETIME 0 = 1601-01-01: never
    assert parse_cim_datetime(None) is None and parse_cim_datetime("") is None
    assert parse_cim_datetime(1787620870) == datetime.fromtimestamp(1787620870, UTC)  # registry InstallDate
    assert parse_cim_datetime("20240101000000.000000+480") == datetime(2023, 12, 31, 16, 0, tzinfo=UTC)


def test_reg_query_values() -> None:
    # The documented layout of `reg query KEY /v NAME` (four-space indent, REG_ type, hex DWORDs).
    text = (
        "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\r\n"
        "    EditionID    REG_SZ    Professional\r\n    UBR    REG_DWORD    0xb2d\r\n\r\n"
    )
    assert parse_reg_query(text) == {"EditionID": "Professional", "UBR": "2861"}


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=6),
    max_leaves=20,
)
_KEYS = st.sampled_from(["Os", "ComputerSystem", "TimeZone", "WindowsProduct", "MachineGuid", "Architecture"])
_FIELDS = st.sampled_from(
    [
        "Caption",
        "Version",
        "BuildNumber",
        "InstallDate",
        "LastBootUpTime",
        "PartOfDomain",
        "Domain",
        "UBR",
        "Id",
    ]
)


@given(st.dictionaries(_KEYS, _JSONISH | st.dictionaries(_FIELDS, _JSONISH)), st.text())
def test_parsers_survive_garbage(data: dict[str, Any], text: str) -> None:
    parse_windows_os(data)
    parse_cim_datetime(text)
    parse_wmic_any(text)
    parse_reg_query(text)
    windows_os_from_wmic({"Os": text, "ComputerSystem": text}, {"UBR": text})


def test_replay_of_the_powershell_reader(tmp_path: Path) -> None:
    replay = _bundle(tmp_path / "b", [(POWERSHELL_ARGV, 0, SERVER_2016_JSON.read_text())])
    section = scan_sections(replay, ["os"], platform="windows")["os"]
    assert section["status"] == "ok", section
    assert section["data"]["name"] == "Windows Server 2016 Datacenter"
    assert section["data"]["edition"] == "ServerDatacenter" and section["errors"] == []


def test_replay_of_a_windows_without_powershell_3_reads_wmic(tmp_path: Path) -> None:
    os_text = (FIX / "wmic/ssm_win2003r2-Win32_OperatingSystem.txt").read_text()
    replay = _bundle(tmp_path / "b", [(wmic_argv("Win32_OperatingSystem"), 0, os_text)])
    section = scan_sections(replay, ["os"], platform="windows")["os"]
    assert section["status"] == "ok", section
    assert section["data"]["build"] == "3790" and "edition" not in section["data"]
    # what was missing is said: PowerShell, and the classes wmic could not give
    sources = [e["source"] for e in section["errors"]]
    assert "powershell Win32_OperatingSystem" in sources and "wmic Win32_TimeZone" in sources


def test_docs_show_the_exact_commands() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs/probes/os.md").read_text(encoding="utf-8")
    assert POWERSHELL_ARGV[-1] in doc and " ".join(wmic_argv("Win32_OperatingSystem")) in doc
