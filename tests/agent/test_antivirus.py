"""Probe ``antivirus`` (A9-M3.2): every product with its state, signatures, scans and detections;
"no antivirus at all" as an explicit fact. Windows parts on real captures, ClamAV on real files."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agent.capture import ReplayContext
from agent.host import CommandResult, HostContext
from agent.probes.antivirus_linux import (
    collect_linux,
    parse_clamscan_version,
    parse_cvd_header,
    parse_freshclam_log,
    parse_scan_log,
)
from agent.probes.antivirus_windows import (
    POWERSHELL,
    POWERSHELL_ARGV,
    decode_product_state,
    defender_history,
    parse_format_list,
    parse_ps_datetime,
    parse_windows_antivirus,
)
from agent.scan import scan_sections
from agent.winevent import parse_event_xml

FIX = Path(__file__).resolve().parents[1] / "fixtures"
AV = FIX / "windows" / "antivirus"
CLAM = FIX / "linux" / "clamav"


def _json(name: str) -> Any:
    return json.loads((AV / name).read_text(encoding="utf-8"))


def _freshclam_section(letter: str) -> str:
    text = (CLAM / "freshclam_and_clamscan_output_lines.txt").read_text()
    for block in text.split("### ")[1:]:
        if block.startswith(f"({letter})"):
            return block.split("\n", 1)[1]
    raise KeyError(letter)


# -- SecurityCenter2 ---------------------------------------------------------------------------
def test_product_state_is_decoded_by_bit_fields() -> None:
    trend, sophos, defender = parse_format_list(
        (AV / "securitycenter2_antivirusproduct_trend_sophos_defender.txt").read_text()
    )
    assert [p["productState"] for p in (trend, sophos, defender)] == ["266240", "331776", "393472"]
    on_av = decode_product_state(trend["productState"])  # 0x041000
    assert on_av is not None and (on_av.providers, on_av.state, on_av.microsoft) == (0x04, "on", False)
    assert on_av.signatures_up_to_date is True
    with_firewall = decode_product_state(sophos["productState"])  # 0x051000: firewall bit set too
    assert with_firewall is not None and with_firewall.providers == 0x05 and with_firewall.state == "on"
    off = decode_product_state(defender["productState"])  # 0x060100: Microsoft, off
    assert off is not None and (off.state, off.microsoft, off.signatures_up_to_date) == ("off", True, True)
    # constructed values: the signature nibble and the snoozed/expired states
    late = decode_product_state(0x061110)
    assert late is not None and late.state == "on" and late.signatures_up_to_date is False
    snoozed, expired = decode_product_state(0x062100), decode_product_state(0x043000)
    assert snoozed is not None and snoozed.state == "snoozed"
    assert expired is not None and expired.state == "expired"
    assert decode_product_state("garbage") is None and decode_product_state(-1) is None


def test_three_registered_products_with_their_state() -> None:
    """The Format-List capture: Trend Micro and Sophos on, Windows Defender off (third-party AV active)."""
    products = parse_format_list(
        (AV / "securitycenter2_antivirusproduct_trend_sophos_defender.txt").read_text()
    )
    facts = parse_windows_antivirus({"Now": "2020-04-13T00:00:00Z", "SecurityCenter2": products})
    by_name = {p.name: p for p in facts.products}
    assert set(by_name) == {"Trend Micro Antivirus+", "Sophos Home", "Windows Defender"}
    assert by_name["Trend Micro Antivirus+"].enabled is True and by_name["Sophos Home"].vendor == "Sophos"
    assert by_name["Windows Defender"].enabled is False and by_name["Windows Defender"].vendor == "Microsoft"
    assert all(p.recognised_by == "securitycenter2" for p in facts.products)
    assert facts.state == "protected" and facts.has_antivirus


def test_securitycenter2_json_merged_with_defender_status_and_threats() -> None:
    """PS 5.1 JSON (CimClass noise, Win10) plus Get-MpComputerStatus and Get-MpThreatDetection (Win2016)."""
    data = {
        "Now": "2026-08-30T00:00:00Z",
        "SecurityCenter2": _json("mondoo_security_products_antivirus.json")["antiVirus"],
        "MpComputerStatus": _json("defender_computer_status_win2016.json"),
        "MpThreatDetection": _json("defender_threat_detections_win2016.json"),
        "MpThreat": [{"ThreatID": 2147519003, "ThreatName": "Virus:DOS/EICAR_Test_File", "SeverityID": 5}],
    }
    (defender,) = parse_windows_antivirus(data).products
    assert defender.name == "Windows Defender" and defender.product_state == 397568 and defender.enabled
    assert defender.signature_version == "1.457.122.0" and defender.signature_age_days == 13
    assert defender.signature_date == datetime(2026, 8, 12, 1, 46, 48, tzinfo=UTC)  # /Date(1786499208000)/
    assert defender.engine_version == "1.1.26070.7" and defender.real_time_protection is True
    # SecurityCenter2 says current, Defender says DefenderSignaturesOutOfDate: "out of date" wins
    assert defender.signatures_up_to_date is False
    assert defender.last_quick_scan is None and defender.last_full_scan is None  # never scanned (null times)
    assert defender.detections_30d == 2 and defender.threat_names == ["Virus:DOS/EICAR_Test_File"]
    assert defender.last_detection == datetime(2026, 8, 25, 5, 23, 35, 765000, tzinfo=UTC)
    assert parse_windows_antivirus(data).state == "at_risk"


def test_windows_server_without_securitycenter2_falls_back_to_defender_and_services() -> None:
    data = {
        "Now": "2026-08-30T00:00:00Z",
        "SecurityCenter2Error": "Invalid namespace",
        "MpComputerStatus": _json("defender_computer_status_win2016.json"),
        # constructed service rows in Get-Service JSON shape (PS 5.1 enums as numbers and as strings)
        "Services": [
            {
                "Name": "WinDefend",
                "DisplayName": "Windows Defender Antivirus Service",
                "Status": 4,
                "StartType": 2,
            },
            {
                "Name": "ZhuDongFangYu",
                "DisplayName": "360主动防御服务模块",
                "Status": "Running",
                "StartType": "Automatic",
            },
            {
                "Name": "kxescore",
                "DisplayName": "金山毒霸核心组件",
                "Status": "Stopped",
                "StartType": "Disabled",
            },
        ],
    }
    facts = parse_windows_antivirus(data)
    by_name = {p.name: p for p in facts.products}
    assert by_name["Microsoft Defender Antivirus"].recognised_by == "defender"
    assert [s.name for s in by_name["Microsoft Defender Antivirus"].services] == ["WinDefend"]
    qihoo = by_name["360安全卫士"]
    assert qihoo.recognised_by == "service" and qihoo.enabled is True
    assert (
        qihoo.services[0].display_name == "360主动防御服务模块"
        and qihoo.services[0].start_mode == "automatic"
    )
    kingsoft = by_name["金山毒霸 (Kingsoft)"]
    assert kingsoft.enabled is False and kingsoft.services[0].start_mode == "disabled"
    assert facts.state == "unverified"  # 360 is on, but nothing says whether its signatures are current
    assert "Invalid namespace" in facts.note


def test_chinese_products_registered_in_securitycenter2_get_their_vendor() -> None:
    # constructed rows in the SecurityCenter2 JSON shape; the names are the products' own
    rows = [
        {"displayName": "火绒安全软件", "productState": 266240, "instanceGuid": "{x}"},
        {"displayName": "360杀毒", "productState": 266256, "instanceGuid": "{y}"},
    ]
    facts = parse_windows_antivirus(
        {"SecurityCenter2": rows, "Services": [{"Name": "HipsDaemon", "Status": "Running"}]}
    )
    huorong, sd = sorted(facts.products, key=lambda p: p.name != "火绒安全软件")
    assert huorong.vendor.startswith("北京火绒") and [s.name for s in huorong.services] == ["HipsDaemon"]
    assert sd.vendor.startswith("奇虎360") and sd.signatures_up_to_date is False
    assert len(facts.products) == 2  # the Huorong service is evidence, not a second product


def _event(event_id: int, when: str, **data: str) -> str:
    items = "".join(f'<Data Name="{k.replace("_", " ")}">{v}</Data>' for k, v in data.items())
    return (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        '<Provider Name="Microsoft-Windows-Windows Defender" Guid="{11CD958A-C507-4EF3-B3F2-5FD9DFBD2C78}"/>'
        f"<EventID>{event_id}</EventID><Level>4</Level><TimeCreated SystemTime='{when}'/>"
        "<Channel>Microsoft-Windows-Windows Defender/Operational</Channel><Computer>PC-01</Computer>"
        f"</System><EventData>{items}</EventData></Event>"
    )


def test_defender_event_history_of_the_last_30_days() -> None:
    """Constructed events in the documented Defender Operational layout (field names from
    learn.microsoft.com 'Microsoft Defender Antivirus event IDs')."""
    xml = [
        _event(1000, "2026-11-20T09:00:00.0000000Z", Scan_ID="{A}", Scan_Parameters="Quick Scan"),
        _event(1001, "2026-11-20T09:04:00.0000000Z", Scan_ID="{A}", Scan_Parameters="Quick Scan"),
        _event(1000, "2026-11-22T10:00:00.0000000Z", Scan_ID="{B}", Scan_Parameters="Full Scan"),
        _event(1002, "2026-11-22T10:30:00.0000000Z", Scan_ID="{B}", Scan_Parameters="Full Scan"),
        _event(1000, "2026-11-23T10:00:00.0000000Z", Scan_ID="{C}", Scan_Parameters="完全扫描"),
        _event(1001, "2026-11-23T11:00:00.0000000Z", Scan_ID="{C}", Scan_Parameters="完全扫描"),
        _event(1116, "2026-11-24T08:00:00.0000000Z", Threat_Name="Virus:DOS/EICAR_Test_File"),
        _event(1117, "2026-11-24T08:00:05.0000000Z", Threat_Name="Virus:DOS/EICAR_Test_File"),
        _event(2000, "2026-11-25T03:00:00.0000000Z", Current_Signature_Version="1.421.1.0"),
        _event(2001, "2026-11-26T03:00:00.0000000Z", Error_Code="0x8024402c"),
        _event(1000, "2026-09-01T09:00:00.0000000Z", Scan_ID="{OLD}", Scan_Parameters="Quick Scan"),
    ]
    now = datetime(2026, 11, 27, tzinfo=UTC)
    history = defender_history([e for x in xml if (e := parse_event_xml(x))], now)
    assert [(s.kind, s.result) for s in history["scans"]] == [
        ("full", "completed"),
        ("full", "cancelled"),
        ("quick", "completed"),
    ]
    assert history["last_quick"] == datetime(2026, 11, 20, 9, 4, tzinfo=UTC)
    assert history["last_full"] == datetime(
        2026, 11, 23, 11, 0, tzinfo=UTC
    )  # the cancelled one is no full scan
    assert history["detections"] == 1 and history["threat_names"] == ["Virus:DOS/EICAR_Test_File"]
    assert (history["updates"], history["update_failures"]) == (1, 1)
    facts = parse_windows_antivirus(
        {
            "Now": now.isoformat(),
            "MpComputerStatus": _json("defender_computer_status_win2016.json"),
            "Events": xml,
        }
    )
    (defender,) = facts.products
    assert defender.scans_30d == 3 and defender.detections_30d == 1
    assert defender.last_signature_update == datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    assert defender.signature_update_failures_30d == 1


def test_get_mpcomputerstatus_format_list_doc_example() -> None:
    (status,) = parse_format_list((AV / "get-mpcomputerstatus_format-list_msdocs.txt").read_text())
    (defender,) = parse_windows_antivirus({"MpComputerStatus": status}).products
    assert defender.signature_version == "1.377.418.0" and defender.engine_version == "1.1.19700.3"
    assert defender.enabled is True and defender.signatures_up_to_date is True
    assert defender.signature_age_days == 0 and defender.running_mode == "Normal"


def test_no_antivirus_at_all_is_a_fact_and_unreadable_is_unknown() -> None:
    none = parse_windows_antivirus(
        {"SecurityCenter2": [], "Services": [], "MpComputerStatusError": "not found"}
    )
    assert (none.state, none.has_antivirus, none.products) == ("none", False, [])
    unknown = parse_windows_antivirus(
        {"SecurityCenter2Error": "x", "MpComputerStatusError": "y", "ServicesError": "z"}
    )
    assert unknown.state == "unknown" and not unknown.has_antivirus


def test_powershell_dates() -> None:
    assert parse_ps_datetime("/Date(-11644473600000)/") is None  # 1601: never
    assert parse_ps_datetime({"value": "/Date(1786499208000)/", "DateTime": "x"}) == datetime(
        2026, 8, 12, 1, 46, 48, tzinfo=UTC
    )
    assert parse_ps_datetime("2026-08-12T01:46:48.5+08:00") == datetime(
        2026, 8, 11, 17, 46, 48, 500000, tzinfo=UTC
    )
    assert parse_ps_datetime("Mon, 18 Apr 2022 08:05:47 GMT") == datetime(2022, 4, 18, 8, 5, 47, tzinfo=UTC)


def test_the_reader_is_one_powershell_call_with_utf8_output() -> None:
    assert POWERSHELL_ARGV[:6] == [
        "powershell.exe",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-Command",
    ]
    assert POWERSHELL.startswith("[Console]::OutputEncoding=[Text.Encoding]::UTF8;")
    assert POWERSHELL.rstrip().endswith("ConvertTo-Json -Depth 4 -Compress")
    assert POWERSHELL.count("try {") == 6


def test_replay_of_a_windows_capture(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "commands").mkdir(parents=True)
    output = {
        "Now": "2026-08-30T00:00:00.0000000Z",
        "SecurityCenter2": _json("mondoo_security_products_antivirus.json")["antiVirus"],
        "MpComputerStatus": _json("defender_computer_status_win2016.json"),
        "MpThreatDetection": _json("defender_threat_detections_win2016.json"),
        "MpThreatError": "access denied",
        "Events": [],
        "Services": [
            {
                "Name": "WinDefend",
                "DisplayName": "Microsoft Defender Antivirus Service",
                "Status": 4,
                "StartType": 2,
            }
        ],
    }
    (bundle / "commands" / "0001.out").write_text(
        "\ufeff" + json.dumps(output, ensure_ascii=False), encoding="utf-8"
    )
    (bundle / "commands" / "0001.err").write_text("")
    manifest = {
        "format": 1,
        "platform": "windows",
        "facts": {},
        "commands": [
            {
                "argv": POWERSHELL_ARGV,
                "returncode": 0,
                "stdout": "commands/0001.out",
                "stderr": "commands/0001.err",
            }
        ],
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    section = scan_sections(ReplayContext(bundle), ["antivirus"], platform="windows")["antivirus"]
    assert section["status"] == "ok", section
    data = section["data"]
    assert data["state"] == "at_risk" and data["has_antivirus"] is True
    (defender,) = data["products"]
    assert defender["signature_version"] == "1.457.122.0" and defender["scans_30d"] == 0
    assert [s["name"] for s in defender["services"]] == ["WinDefend"]
    assert section["errors"] == [{"source": "MpThreat", "message": "access denied"}]


# -- ClamAV ---------------------------------------------------------------------------------------
def test_cvd_header_of_a_real_talos_test_database() -> None:
    header = parse_cvd_header((CLAM / "test-1.cvd").read_bytes())
    assert header is not None
    assert header.build_time == datetime(2021, 6, 22, 18, 58, 22, tzinfo=UTC)  # stime 1624388302
    assert (header.version, header.signatures, header.builder) == (1, 0, "micasnyd")
    assert parse_cvd_header(b"\x1f\x8b\x08not a header") is None


def test_freshclam_log_with_logtime() -> None:
    now = datetime(2025, 12, 20, tzinfo=UTC)
    log = parse_freshclam_log(_freshclam_section("a"), now)
    assert log.sessions == 1 and log.updates_30d == 1 and log.failures_30d == 0
    assert log.last_success == datetime(2025, 12, 5, 17, 43, 13, tzinfo=UTC)


def test_freshclam_log_in_a_container_and_without_logtime_and_legacy_wording() -> None:
    boxed = parse_freshclam_log(_freshclam_section("b"), datetime(2026, 1, 20, tzinfo=UTC))
    assert boxed.last_success == datetime(2026, 1, 16, 23, 0, 44, tzinfo=UTC)
    plain = parse_freshclam_log(_freshclam_section("c"), datetime(2021, 9, 10, tzinfo=UTC))
    assert plain.last_success == datetime(2021, 8, 31, 23, 48, 6, tzinfo=UTC)  # the session start time
    legacy = parse_freshclam_log(_freshclam_section("d"), datetime(2019, 6, 1, tzinfo=UTC))
    assert legacy.last_success == datetime(2019, 5, 23, 7, 25, 44, tzinfo=UTC) and legacy.updates_30d == 1
    assert parse_freshclam_log(_freshclam_section("a"), datetime(2026, 6, 1, tzinfo=UTC)).updates_30d == 0


def test_failed_update_session() -> None:
    # constructed from freshclam's own message texts (libfreshclam / freshclam.c)
    text = (
        "Mon Nov 23 10:00:00 2026 -> ClamAV update process started at Mon Nov 23 10:00:00 2026\n"
        "Mon Nov 23 10:00:05 2026 -> ERROR: Can't download daily.cvd from https://database.clamav.net/daily.cvd\n"
        "Mon Nov 23 10:00:05 2026 -> ERROR: Update failed for database: daily\n"
    )
    log = parse_freshclam_log(text, datetime(2026, 11, 27, tzinfo=UTC))
    assert (log.failures_30d, log.updates_30d, log.last_success) == (1, 0, None)


def test_clamscan_summary() -> None:
    scans = parse_scan_log(_freshclam_section("c"))
    (scan,) = scans.scans
    assert scan.time == datetime(2021, 9, 1, 12, 27, 57, tzinfo=UTC) and scan.infected_files == 0
    assert scans.detections == []


def test_clamscan_versions() -> None:
    assert parse_clamscan_version("ClamAV 0.103.3/26280/Wed Sep  1 08:19:03 2021") == ("0.103.3", 26280)
    assert parse_clamscan_version("ClamAV 1.0.7\n") == ("1.0.7", None)
    assert parse_clamscan_version("bash: clamscan: not found") == ("", None)


class _FakeHost(HostContext):
    """A machine's files under tmp_path; programs and systemctl answers given by the test."""

    answers: dict[tuple[str, ...], CommandResult]

    def which(self, program: str) -> bool:
        return any(argv[0] == program for argv in self.answers)

    def run(self, argv: list[str], *, timeout: float | None = None) -> CommandResult:
        return self.answers.get(tuple(argv)) or CommandResult(tuple(argv), 1, "", "not found")


def _clamav_root(root: Path) -> None:
    (root / "var/lib/clamav").mkdir(parents=True)
    (root / "var/log/clamav").mkdir(parents=True)
    shutil.copy(CLAM / "test-1.cvd", root / "var/lib/clamav/daily.cvd")
    (root / "var/log/clamav/freshclam.log").write_text(_freshclam_section("a"))
    (root / "var/log/clamav/scan.log").write_text(_freshclam_section("c"))


def test_clamav_from_a_machines_files_with_units(tmp_path: Path) -> None:
    _clamav_root(tmp_path)
    ctx = _FakeHost(root=tmp_path)
    units = ("clamav-daemon", "clamav-freshclam", "clamav-clamonacc")
    ctx.answers = {
        ("clamscan", "--version"): CommandResult((), 0, "ClamAV 1.0.7/27841/Fri Dec  5 08:19:03 2025\n", ""),
        ("systemctl", "is-active", *units): CommandResult((), 3, "active\nactive\ninactive\n", ""),
        ("systemctl", "is-enabled", "clamav-daemon"): CommandResult((), 0, "enabled\n", ""),
        ("systemctl", "is-enabled", "clamav-freshclam"): CommandResult((), 0, "enabled\n", ""),
        ("systemctl", "is-enabled", "clamav-clamonacc"): CommandResult(
            (), 1, "", "Failed to get unit file state for clamav-clamonacc.service: No such file or directory"
        ),
    }
    collected = collect_linux(ctx)
    facts = collected.data
    (clam,) = facts.products  # type: ignore[attr-defined]
    assert clam.name == "ClamAV" and clam.recognised_by == "clamav" and clam.engine_version == "1.0.7"
    assert (
        clam.signature_date == datetime(2021, 6, 22, 18, 58, 22, tzinfo=UTC)
        and clam.signature_version == "daily:1"
    )
    assert clam.signatures_up_to_date is False and clam.signature_age_days > 1800
    assert clam.last_signature_update == datetime(2025, 12, 5, 17, 43, 13, tzinfo=UTC)
    assert clam.enabled is True and clam.real_time_protection is None  # no clamonacc unit
    assert [(s.name, s.running, s.start_mode) for s in clam.services] == [
        ("clamav-daemon", True, "enabled"),
        ("clamav-freshclam", True, "enabled"),
    ]
    assert clam.scans_30d == 0  # clamscan logs exist, but the 2021 scan is not in the last 30 days
    assert facts.state == "at_risk" and collected.errors == []  # type: ignore[attr-defined]


def test_clamav_without_systemctl_says_so(tmp_path: Path) -> None:
    _clamav_root(tmp_path)
    ctx = _FakeHost(root=tmp_path)
    ctx.answers = {}
    collected = collect_linux(ctx)
    (clam,) = collected.data.products  # type: ignore[attr-defined]
    assert clam.enabled is None and clam.services == [] and clam.state == "unknown"
    assert [e.source for e in collected.errors] == ["systemctl"]
    assert "missing" in collected.errors[0].message


def test_no_clamav_is_no_antivirus(tmp_path: Path) -> None:
    ctx = _FakeHost(root=tmp_path)
    ctx.answers = {}
    facts = collect_linux(ctx).data
    assert (facts.state, facts.has_antivirus, facts.products) == ("none", False, [])  # type: ignore[attr-defined]


def test_live_reading_on_this_machine() -> None:
    """Compared with what the system itself shows: ClamAV's programs and databases."""
    section = scan_sections(HostContext(), ["antivirus"], platform="linux")["antivirus"]
    assert section["status"] == "ok", section
    installed = (
        any(shutil.which(p) for p in ("clamscan", "clamd", "freshclam")) or Path("/etc/clamav").exists()
    )
    if installed or Path("/var/lib/clamav/daily.cvd").exists() or Path("/var/lib/clamav/daily.cld").exists():
        assert [p["name"] for p in section["data"]["products"]] == ["ClamAV"]
    else:
        assert section["data"]["state"] == "none" and section["data"]["products"] == []
        assert section["data"]["has_antivirus"] is False


# -- garbage never raises --------------------------------------------------------------------------
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
_parts = st.sampled_from(
    ["Now", "SecurityCenter2", "MpComputerStatus", "MpThreat", "MpThreatDetection", "Events", "Services"]
)


@given(st.dictionaries(_parts, _json_values, max_size=7))
def test_windows_parser_survives_garbage(data: dict[str, Any]) -> None:
    facts = parse_windows_antivirus(data)
    assert facts.has_antivirus == bool(facts.products)


@given(
    st.lists(
        st.fixed_dictionaries(
            {"displayName": st.text(max_size=20), "productState": _json_values, "instanceGuid": _json_values}
        ),
        max_size=3,
    ),
    st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            (
                "AntivirusEnabled",
                "AntivirusSignatureAge",
                "QuickScanEndTime",
                "AntivirusSignatureLastUpdated",
                "AMRunningMode",
            ),
            _json_values,
        ),
    ),
)
def test_windows_parser_survives_garbage_values_in_the_right_places(
    rows: list[Any], status: dict[str, Any]
) -> None:
    parse_windows_antivirus({"SecurityCenter2": rows, "MpComputerStatus": status, "Services": rows})


@given(st.binary(max_size=600))
def test_cvd_header_survives_garbage(data: bytes) -> None:
    parse_cvd_header(b"ClamAV-VDB:" + data)
    parse_cvd_header(data)


@given(st.text(max_size=600))
def test_log_parsers_survive_garbage(text: str) -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    parse_freshclam_log("ClamAV update process started at " + text, now)
    parse_freshclam_log(text, now)
    parse_scan_log("----------- SCAN SUMMARY -----------\n" + text)
    parse_clamscan_version(text)
    parse_format_list(text)
    decode_product_state(text)
    parse_ps_datetime(text)


def test_the_header_of_a_database_of_real_size_is_read(tmp_path: Path) -> None:
    """Real main.cvd/daily.cld run to hundreds of megabytes: only the 512-byte header is read."""
    _clamav_root(tmp_path)
    database = tmp_path / "var/lib/clamav/main.cvd"
    with database.open("wb") as out:
        out.write((CLAM / "test-1.cvd").read_bytes())
        out.truncate(64 * 1024 * 1024)  # sparse: 64 MB without using the disk
    ctx = _FakeHost(root=tmp_path)
    ctx.answers = {}
    collected = collect_linux(ctx)
    (clam,) = collected.data.products  # type: ignore[attr-defined]
    assert clam.signature_date == datetime(2021, 6, 22, 18, 58, 22, tzinfo=UTC)
    assert not [e for e in collected.errors if "main.cvd" in e.source]
    assert "main.cvd" in " ".join(clam.evidence)
