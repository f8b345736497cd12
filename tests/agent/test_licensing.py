"""Probe ``licensing`` (A9-T3.1): Windows and Office activation, KMS hosts, activator traces.

Parsers run on real outputs (GLPI agent's wmic dump of an Office 2016 KMS client and its Office
registration `reg export`, two `ospp.vbs /dstatus` outputs); the Windows reader is replayed from a
bundle; on this Debian machine the section says why it does not apply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.capture import ReplayContext
from agent.host import HostContext
from agent.probes.licensing import (
    classify_kms_host,
    license_product,
    office_installs,
    office_registration_from_reg,
    parse_ospp_dstatus,
    split_host_port,
)
from agent.probes.licensing_windows import INDICATORS, LICENSING_ARGV, POWERSHELL, parse_windows_licensing
from agent.regfile import decode_reg_file, parse_reg_export
from agent.scan import scan_sections
from agent.wmi import parse_wmic_list
from wire.sections.licensing import LicensingFacts

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "windows"
WINDOWS_APP = "55c92734-d682-4d71-983e-d6ec3f16059f"
OFFICE_APP = "0ff1ce15-a989-479d-af46-f275c6370663"
MICROSOFT = "CN=Microsoft Windows, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"


def _office_wmic() -> list[dict[str, str]]:
    return parse_wmic_list(
        decode_reg_file((FIX / "wmic/glpi_office_2016_01-SoftwareLicensingProduct.wmi").read_bytes())
    )


def test_office_2016_kms_client_from_a_real_wmic_dump() -> None:
    (item,) = _office_wmic()
    product = license_product(item)
    assert product.application == "office" and product.application_id == OFFICE_APP
    assert product.name == "Office 16, Office16ProPlusVL_KMS_Client edition"
    assert (product.channel, product.channel_family) == ("Volume:GVLK", "volume_kms_client")
    assert (product.license_status, product.license_status_name) == (1, "licensed")
    assert product.license_status_reason == "0x4004F040"  # 1074065472
    assert product.grace_minutes_remaining == 259174
    assert (product.kms_host, product.kms_port) == ("mydomain.ms.com", 1688)
    assert product.kms_discovered_address == "10.11.12.13"
    assert product.partial_product_key == "WE9H9" and product.addon is False
    assert product.evaluation_end == ""  # 1601: never


def test_ospp_dstatus_office16_in_oob_grace() -> None:
    text = (FIX / "licensing/ospp_dstatus_office16_standardvl_kms_oob_grace.txt").read_text(encoding="utf-8")
    (product,), hosts = parse_ospp_dstatus(text)
    assert product.source == "ospp.vbs" and product.application == "office"
    assert product.sku_id == "dedfa23d-6ed1-45a6-85dc-63cae0546de6"
    assert product.name == "Office 16, Office16StandardVL_KMS_Client edition"
    assert (product.license_status, product.license_status_name) == (2, "oob_grace")
    assert product.license_status_reason == "0x4004F00C"
    assert product.grace_minutes_remaining == 43194
    assert product.partial_product_key == "DRTFM" and product.channel_family == "volume_kms_client"
    assert hosts == []  # "DNS auto-discovery: KMS name not available", no override


def test_ospp_dstatus_office15_with_a_public_kms_override() -> None:
    text = (FIX / "licensing/ospp_dstatus_office15_standardvl_kms_override.txt").read_text(encoding="utf-8")
    (product,), hosts = parse_ospp_dstatus(text)
    assert product.license_status_name == "licensed" and product.grace_minutes_remaining == 259188
    assert (product.kms_host, product.kms_port) == ("kms.03k.org", 1688)
    assert hosts == [("kms.03k.org", 1688, "registry override")]
    facts = parse_windows_licensing({"OsppDstatus": {"Path": "C:\\x\\OSPP.VBS", "Output": text}})
    (host,) = facts.kms_hosts
    assert (host.kind, host.flag, host.application) == ("dns_name", "", "office")  # judged by policy, by name
    assert facts.office_activated is True and facts.windows_status == "unknown"
    assert "ospp.vbs /dstatus" in facts.sources


def test_office_registration_from_a_real_reg_export() -> None:
    keys = parse_reg_export(decode_reg_file((FIX / "registry/glpi_office_2016_01.reg").read_bytes()))
    entries = office_registration_from_reg(keys)
    assert all("DigitalProductID" not in e for e in entries)  # decodable to a key: never carried
    (install,) = office_installs(entries, None)
    assert install.product == "Microsoft Office Professional Plus 2016"  # named through its SKU entries
    assert install.product_code == "{90160000-0011-0000-1000-0000000FF1CE}"
    assert (install.version, install.product_id) == ("16.0", "00339-10000-00000-AA310")


def test_click_to_run_release_ids() -> None:
    # constructed: the shape the reader gives for HKLM\...\ClickToRun\Configuration
    installs = office_installs(
        [], {"ProductReleaseIds": "O365ProPlusRetail,VisioProRetail", "VersionToReport": "16.0.17928.20156"}
    )
    assert [(i.product, i.source) for i in installs] == [
        ("O365ProPlusRetail", "click_to_run"),
        ("VisioProRetail", "click_to_run"),
    ]


@pytest.mark.parametrize(
    ("host", "kind", "flag"),
    [
        ("kms.corp.example.com", "dns_name", ""),
        ("KMS01", "dns_name", ""),
        ("127.0.0.2", "loopback", "loopback"),
        ("::1", "loopback", "loopback"),
        ("localhost", "loopback", "loopback"),
        ("172.16.0.2", "private", "emulator_address"),
        ("10.20.30.40", "private", "bare_address"),
        ("169.254.169.253", "link_local", "bare_address"),
        ("0.0.0.0", "unspecified", "bare_address"),
        ("42.193.139.78", "public", ""),
        ("kms server!", "invalid", "invalid"),
    ],
)
def test_kms_hosts_are_classified_for_policy(host: str, kind: str, flag: str) -> None:
    found = classify_kms_host(host, 1688, "windows", "test")
    assert found is not None and (found.kind, found.flag) == (kind, flag)
    assert found.loopback is (kind == "loopback")


def test_kms_host_edge_cases() -> None:
    assert classify_kms_host("  ", None, "windows", "x") is None
    discovered = classify_kms_host("10.11.12.13", None, "office", "x", discovered=True)
    assert discovered is not None and discovered.flag == ""  # resolves a name the machine found
    assert split_host_port("kms.example.org:1688") == ("kms.example.org", 1688)
    assert split_host_port("[fe80::1]:1688") == ("fe80::1", 1688)
    assert split_host_port("fe80::1") == ("fe80::1", None)
    assert split_host_port("KMS name not available") == ("", None)


def test_reader_script_is_one_safe_powershell_call() -> None:
    assert LICENSING_ARGV[:6] == [
        "powershell.exe",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-Command",
    ]
    assert POWERSHELL.startswith("[Console]::OutputEncoding=[Text.Encoding]::UTF8;")
    assert POWERSHELL.endswith("ConvertTo-Json -Depth 4 -Compress")
    assert '"' not in POWERSHELL  # survives the Windows command line unquoted
    for secret in (
        "BackupProductKeyDefault",
        "OA3xOriginalProductKey",
        "DigitalProductID",
        "Get-ItemProperty -LiteralPath $b;",
    ):
        assert secret not in POWERSHELL  # only named values are read
    for indicator in INDICATORS:  # the table drives the script
        if indicator.kind in ("file", "folder", "service", "ifeo"):
            assert indicator.match.replace("'", "''") in POWERSHELL
        if indicator.kind == "scheduled_task":
            assert "'" + indicator.match.rsplit("\\", 1)[-1] + "'" in POWERSHELL


# Constructed (labelled): what the reader returns on a PC activated by KMSpico, KMS_VL_ALL's hook
# and MAS Ohook, with the real Office 2016 licence of the GLPI dump alongside.
def _infected_pc() -> dict[str, Any]:
    office = dict(_office_wmic()[0])
    return {
        "SoftwareLicensingProduct": [
            {
                "ID": "2de67392-b7a7-462a-b1ca-108dd189f588",
                "ApplicationID": WINDOWS_APP,
                "Name": "Windows(R), Professional edition",
                "Description": "Windows(R) Operating System, VOLUME_KMSCLIENT channel",
                "ProductKeyChannel": "Volume:GVLK",
                "LicenseIsAddon": False,
                "LicenseStatus": 1,
                "GracePeriodRemaining": 8_500_000,
                "EvaluationEndDate": "/Date(-11644473600000)/",
                "PartialProductKey": "T83GX",
                "KeyManagementServiceMachine": None,
                "KeyManagementServicePort": 0,
            },
            office,
        ],
        "SoftwareLicensingService": {
            "Version": "10.0.19041.3636",
            "KeyManagementServiceMachine": "127.0.0.2",
            "KeyManagementServicePort": 1688,
            "DiscoveredKeyManagementServiceMachineName": "",
            "DiscoveredKeyManagementServiceMachineIpAddress": "",
            "DiscoveredKeyManagementServiceMachinePort": 0,
        },
        "KmsRegistry": [
            {
                "Key": "HKLM:\\SOFTWARE\\Microsoft\\OfficeSoftwareProtectionPlatform",
                "KeyManagementServiceName": "172.16.0.2",
                "KeyManagementServicePort": "1688",
            }
        ],
        "Paths": [
            {
                "Pattern": "%ProgramFiles%\\KMSpico",
                "Path": "C:\\Program Files\\KMSpico",
                "Folder": True,
                "Signer": "",
            },
            {  # Ohook links the genuine system DLL here under this name: Microsoft-signed, never genuine here
                "Pattern": "%ProgramFiles%\\Microsoft Office\\root\\vfs\\System\\sppcs.dll",
                "Path": "C:\\Program Files\\Microsoft Office\\root\\vfs\\System\\sppcs.dll",
                "Folder": False,
                "Signer": MICROSOFT,
            },
            {  # a Microsoft-signed sppc.dll could be genuine: weak
                "Pattern": "%WatchpostOfficeC2R%\\root\\vfs\\System\\sppc.dll",
                "Path": "D:\\Office\\root\\vfs\\System\\sppc.dll",
                "Folder": False,
                "Signer": MICROSOFT,
            },
            {
                "Pattern": "%SystemRoot%\\System32\\SppExtComObjHook.dll",
                "Path": "C:\\Windows\\System32\\SppExtComObjHook.dll",
                "Folder": False,
                "Signer": "",
            },
        ],
        "Tasks": [
            {
                "TaskPath": "\\",
                "TaskName": "AutoPico Daily Restart",
                "State": "Ready",
                "Actions": "C:\\Program Files\\KMSpico\\AutoPico.exe /silent",
            },
            {
                "TaskPath": "\\Microsoft\\Windows\\SoftwareProtectionPlatform\\",
                "TaskName": "SvcTrigger",
                "State": "Ready",
                "Actions": "",
            },
            {"TaskPath": "\\Other\\", "TaskName": "SvcTrigger", "State": "Ready", "Actions": ""},
        ],
        "Services": {
            "Name": "Service KMSELDI",
            "DisplayName": "Service KMSELDI",
            "State": "Running",
            "StartMode": "Auto",
            "PathName": "C:\\Program Files\\KMSpico\\Service_KMS.exe",
        },
        "Ifeo": [
            {
                "Image": "SppExtComObj.exe",
                "Values": {"VerifierDlls": "SppExtComObjHook.dll", "GlobalFlag": "256", "KMS_Emulation": "1"},
            },
            {"Image": "osppsvc.exe", "Values": {"MitigationOptions": "0"}},
        ],
        "Resiliency": [{"Sid": "S-1-5-21-1-2-3-1001", "TimeOfLastHeartbeatFailure": "2040-01-01T00:00:00Z"}],
        "SppPolicy": {"Key": "HKLM:\\...", "NoGenTicket": 1, "NoAcquireGT": None},
        "OfficeRegistration": [],
        "ClickToRun": None,
        "Errors": {
            "OfficeSoftwareProtectionProduct": "Invalid class ",
            "OfficeSoftwareProtectionService": "Invalid class ",
        },
    }


def _replay(tmp_path: Path, output: str) -> dict[str, Any]:
    bundle = tmp_path / "bundle"
    (bundle / "commands").mkdir(parents=True)
    (bundle / "commands" / "0001.out").write_text(output, encoding="utf-8")
    (bundle / "commands" / "0001.err").write_text("", encoding="utf-8")
    command = {
        "argv": LICENSING_ARGV,
        "returncode": 0,
        "stdout": "commands/0001.out",
        "stderr": "commands/0001.err",
    }
    manifest = {"format": 1, "platform": "windows", "facts": {}, "registry": [], "commands": [command]}
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return scan_sections(ReplayContext(bundle), ["licensing"], platform="windows")["licensing"]


def test_replay_of_the_windows_reader_finds_the_activators(tmp_path: Path) -> None:
    section = _replay(tmp_path, json.dumps(_infected_pc(), ensure_ascii=False))
    assert section["status"] == "ok", section
    assert section["errors"] == []  # OSPP classes absent on Windows 8+: not an error
    facts = LicensingFacts.model_validate(section["data"])
    assert (facts.windows_status, facts.windows_activated, facts.office_activated) == ("licensed", True, True)
    windows = next(p for p in facts.products if p.application == "windows")
    assert windows.channel_family == "volume_kms_client" and windows.evaluation_end == ""
    hosts = {(h.host, h.flag) for h in facts.kms_hosts}
    assert ("127.0.0.2", "loopback") in hosts and ("172.16.0.2", "emulator_address") in hosts
    assert ("mydomain.ms.com", "") in hosts
    evidence = {(e.tool, e.kind, e.strength) for e in facts.activator_evidence}
    assert ("KMSpico", "folder", "strong") in evidence
    assert ("KMSpico", "scheduled_task", "strong") in evidence
    assert ("KMSpico", "service", "strong") in evidence
    assert ("KMS_VL_ALL", "file", "strong") in evidence
    assert ("KMS_VL_ALL", "scheduled_task", "strong") in evidence
    assert ("KMS_VL_ALL / SppExtComObjPatcher", "ifeo", "strong") in evidence
    assert ("KMS_VL_ALL", "registry", "weak") in evidence  # NoGenTicket: admins set it too
    assert ("MAS Ohook", "registry", "strong") in evidence
    ohook = {
        e.matched.rsplit("\\", 1)[-1]: e.strength for e in facts.activator_evidence if e.tool == "MAS Ohook"
    }
    assert ohook == {"sppcs.dll": "strong", "sppc.dll": "weak", "TimeOfLastHeartbeatFailure": "strong"}
    assert ("KMS38 / TSforge (MAS, KMS_VL_ALL)", "license_state", "strong") in evidence
    assert any(e.kind == "kms_host" and e.matched == "127.0.0.2:1688" for e in facts.activator_evidence)
    tasks = [e.matched for e in facts.activator_evidence if e.kind == "scheduled_task"]
    assert "\\Other\\SvcTrigger" not in tasks  # only the one in the SPP folder
    ifeo = [e.matched for e in facts.activator_evidence if e.kind == "ifeo"]
    assert ifeo == ["Image File Execution Options\\SppExtComObj.exe"]  # osppsvc.exe: no hook values


def test_replay_of_a_clean_pc_has_no_evidence(tmp_path: Path) -> None:
    clean = {
        "SoftwareLicensingProduct": {
            "ApplicationID": WINDOWS_APP,
            "Name": "Windows(R), Professional edition",
            "Description": "Windows(R) Operating System, OEM_DM channel",
            "ProductKeyChannel": "OEM:DM",
            "LicenseStatus": 1,
            "GracePeriodRemaining": 0,
            "PartialProductKey": "KHJ6C",
        },
        "SoftwareLicensingService": [{"KeyManagementServiceMachine": None, "KeyManagementServicePort": 1688}],
        "Paths": [],
        "Tasks": [],
        "Services": [],
        "Ifeo": [],
        "Resiliency": [{"Sid": "S-1-5-21-1-2-3-1001", "TimeOfLastHeartbeatFailure": "2024-03-05T08:12:44Z"}],
        "Errors": {"Tasks": "The term 'Get-ScheduledTask' is not recognized"},
    }
    section = _replay(tmp_path, "\ufeff" + json.dumps(clean))
    assert section["status"] == "ok"
    assert section["errors"] == [
        {"source": "Tasks", "message": "The term 'Get-ScheduledTask' is not recognized"}
    ]
    data = section["data"]
    assert (data["windows_status"], data["windows_activated"], data["office_activated"]) == (
        "licensed",
        True,
        None,
    )
    assert data["products"][0]["channel_family"] == "oem"
    assert data["kms_hosts"] == [] and data["activator_evidence"] == []
    assert "Tasks" in data["note"]


def test_replay_of_a_failed_reader_is_an_error(tmp_path: Path) -> None:
    section = _replay(tmp_path, "this is not JSON")
    assert section["status"] == "error" and "not JSON" in section["reason"]


def test_linux_says_why_it_does_not_apply() -> None:
    """Live, on this Debian machine."""
    section = scan_sections(HostContext(), ["licensing"], platform="linux")["licensing"]
    assert section["status"] == "skipped"
    assert "Debian" in section["reason"] and "activation" in section["reason"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "SoftwareLicensingProduct",
        "OfficeSoftwareProtectionProduct",
        "SoftwareLicensingService",
        "KmsRegistry",
        "OfficeRegistration",
        "ClickToRun",
        "Paths",
        "Tasks",
        "Services",
        "Ifeo",
        "Resiliency",
        "SppPolicy",
        "OsppDstatus",
        "Errors",
    ]
)
_fields = st.sampled_from(
    [
        "LicenseStatus",
        "GracePeriodRemaining",
        "ApplicationID",
        "LicenseStatusReason",
        "KeyManagementServicePort",
        "Pattern",
        "Folder",
        "TaskName",
        "TaskPath",
        "Name",
        "Values",
        "Image",
        "Output",
        "ProductID",
        "Key",
        "TimeOfLastHeartbeatFailure",
        "ProductReleaseIds",
        "EvaluationEndDate",
        "Description",
    ]
)


@given(
    st.text(),
    st.dictionaries(
        _keys, _json | st.lists(st.dictionaries(_fields, _json, max_size=6), max_size=3), max_size=8
    ),
    st.dictionaries(_fields, _json, max_size=8),
)
def test_parsers_survive_garbage(text: str, data: dict[str, Any], item: dict[str, Any]) -> None:
    parse_ospp_dstatus(text)
    split_host_port(text)
    classify_kms_host(text, None, text, text, discovered=bool(len(text) % 2))
    office_registration_from_reg(parse_reg_export(text))
    license_product(item)
    parse_windows_licensing(data)
    parse_windows_licensing({"OsppDstatus": {"Output": text}, "Errors": {text: text}})


def test_docs_show_the_exact_command_and_every_indicator() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs/probes/licensing.md").read_text(encoding="utf-8")
    assert POWERSHELL in doc
    assert all(f"`{i.match}`" in doc for i in INDICATORS)
