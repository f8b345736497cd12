"""Probe ``software`` (A9-T3.1, A9-M3.1): dpkg, rpm, Windows Uninstall keys from `reg export`
files and PowerShell JSON, on real captured outputs; live: the count equals `dpkg-query -W`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.host import HostContext
from agent.probes.software import collect_linux, parse_dpkg_status, parse_rpm_query
from agent.probes.software_windows import items_from_uninstall_json, items_from_uninstall_keys, registry_date
from agent.regfile import decode_reg_file, parse_reg_export
from wire.sections.software import SoftwareFacts

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def test_dpkg_status_captured() -> None:
    items = parse_dpkg_status((FIX / "linux/debian12-dpkg/var_lib_dpkg_status.excerpt").read_text())
    assert len(items) == 15
    apt = next(i for i in items if i.name == "apt")
    assert (apt.version, apt.architecture, apt.size_kb, apt.kind, apt.source) == (
        "2.6.1",
        "amd64",
        4232,
        "package",
        "dpkg",
    )
    assert apt.publisher.startswith("APT Development Team")


def test_dpkg_skips_removed_but_configured_packages() -> None:
    text = (
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n"
        "Package: here\nStatus: install ok installed\nVersion: 2\nArchitecture: all\n"
    )
    assert [i.name for i in parse_dpkg_status(text, {"here:all": 1700000000.0})] == ["here"]
    assert parse_dpkg_status(text, {"here": 1700000000.0})[0].install_date == "2023-11-14"


def test_rpm_query_format() -> None:
    text = "bash\t(none):5.1.8-6.el9\tx86_64\tRocky Enterprise Software Foundation\t1690000000\t7738634\nbroken line\n"
    (item,) = parse_rpm_query(text)
    assert (item.name, item.version, item.architecture, item.install_date, item.size_kb) == (
        "bash",
        "5.1.8-6.el9",
        "x86_64",
        "2023-07-22",
        7557,
    )


def test_reg_export_captured_uninstall_key() -> None:
    keys = parse_reg_export(decode_reg_file((FIX / "windows/registry/glpi_mssql-Uninstall.reg").read_bytes()))
    items, unnamed = items_from_uninstall_keys(keys)
    names = sorted(i.name for i in items)
    assert "Microsoft SQL Server 2017" in names and unnamed == 0
    sql2017 = next(i for i in items if i.name == "Microsoft SQL Server 2017")
    assert (sql2017.version, sql2017.publisher, sql2017.install_location) == (
        "17.77.6700.34",
        "Microsoft",
        "C:\\Program Files\\MS SQL 2017",
    )
    assert sql2017.source == "registry" and sql2017.scope == "machine"


def test_powershell_json_captured_counts_unnamed_keys() -> None:
    data = json.loads((FIX / "windows/powershell/mondoo_windows_packages_uninstall.json").read_text())
    items, unnamed = items_from_uninstall_json(data)
    assert unnamed == sum(1 for r in data if not r.get("DisplayName"))
    assert len(items) + unnamed == len(data)
    pip = next(i for i in items if i.name.startswith("Python 3.10.4 pip Bootstrap"))
    assert (pip.version, pip.size_kb) == ("3.10.4150.0", 248)


def test_reg_value_types_and_flags() -> None:
    """The value encodings of the .reg format (documented by Microsoft: REG_SZ, dword, hex(2)
    expandable strings, hex(7) multi-strings, continuation lines) and the entry kinds."""
    text = "\r\n".join(
        [
            "Windows Registry Editor Version 5.00",
            "",
            r"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{A1}]",
            '"DisplayName"="WPS Office (11.1.0)"',
            '"Publisher"="Kingsoft \\"Corp\\""',
            '"InstallDate"="20231015"',
            '"EstimatedSize"=dword:000015e5',
            '"InstallLocation"=hex(2):43,00,3a,00,5c,00,57,00,50,00,53,00,\\',
            "  00,00",
            '"Multi"=hex(7):61,00,00,00,62,00,00,00,00,00',
            "",
            r"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\KB5031356]",
            '"DisplayName"="Security Update for Windows (KB5031356)"',
            '"ReleaseType"="Security Update"',
            '"ParentDisplayName"="Windows"',
            "",
            r"[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\Runtime]",
            '"DisplayName"="Runtime"',
            '"SystemComponent"=dword:00000001',
            "",
            r"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\NoName]",
            '"UninstallString"="x.exe"',
            "",
            r"[-HKEY_LOCAL_MACHINE\SOFTWARE\Deleted]",
        ]
    )
    keys = parse_reg_export(text)
    wps = keys[r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{A1}"]
    assert wps["Publisher"] == 'Kingsoft "Corp"' and wps["EstimatedSize"] == 5605
    assert wps["InstallLocation"] == "C:\\WPS" and wps["Multi"] == ["a", "b"]
    items, unnamed = items_from_uninstall_keys(keys)
    kinds = {i.name: (i.kind, i.architecture, i.install_date) for i in items}
    assert kinds["WPS Office (11.1.0)"] == ("application", "", "2023-10-15")
    assert kinds["Security Update for Windows (KB5031356)"][0] == "update"
    assert kinds["Runtime"] == ("system_component", "x86", "")
    assert unnamed == 1


def test_registry_dates() -> None:
    assert registry_date("20231015") == "2023-10-15"
    assert registry_date("10/15/2023") == "2023-10-15"
    assert registry_date("0") == "" and registry_date(None) == "" and registry_date("19000101") == ""


def test_reg_file_encodings() -> None:
    text = "Windows Registry Editor Version 5.00\r\n"
    assert decode_reg_file("\ufeff".encode("utf-16-le") + text.encode("utf-16-le")).startswith("Windows")
    assert decode_reg_file('REGEDIT4\r\n"名称"="统计"'.encode("gb18030")).endswith('"统计"')


@given(st.text(), st.binary())
def test_parsers_survive_garbage(text: str, data: bytes) -> None:
    parse_reg_export(text)
    parse_reg_export(decode_reg_file(data))
    parse_dpkg_status(text)
    parse_rpm_query(text)
    items_from_uninstall_keys(parse_reg_export(text))
    items_from_uninstall_json([{"DisplayName": text, "EstimatedSize": text, "InstallDate": text}])


def test_live_count_equals_dpkg_query() -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("not a dpkg system")
    facts = collect_linux(HostContext()).data
    assert isinstance(facts, SoftwareFacts)
    listed = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Status} ${Package}\\n"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    installed = [line for line in listed if line.startswith("installed ")]
    assert len([i for i in facts.items if i.source == "dpkg"]) == len(installed)
