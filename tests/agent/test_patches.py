"""Probe ``patches`` (A9-T3.3): installed and pending updates, last update, reboot pending.

Parsers run on real outputs (a Debian 12 machine's apt, GLPI's Windows XP wmic capture,
mondoo's Windows Server 2019 PowerShell outputs); constructed inputs are labelled as such.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.capture import ReplayContext
from agent.host import HostContext
from agent.probes.patches_linux import (
    APT_UPGRADE_ARGV,
    collect_linux,
    newer_kernel,
    parse_apt_config,
    parse_apt_history,
    parse_apt_simulation,
    parse_dnf_check_update,
    parse_rpm_installtimes,
)
from agent.probes.patches_windows import (
    PATCHES_ARGV,
    parse_installed_on,
    parse_pending_updates,
    parse_qfe,
    parse_update_history,
    parse_windows_patches,
    parse_wu_time,
)
from agent.regfile import decode_reg_file
from agent.scan import scan_sections
from agent.wmi import parse_wmic_list

FIX = Path(__file__).resolve().parents[1] / "fixtures"
APT = FIX / "linux" / "debian12-apt"
PS = FIX / "windows" / "powershell"


# -- Debian: apt ----------------------------------------------------------------------------
def test_apt_simulation_counts_pending_and_security_updates_of_a_real_bookworm_machine() -> None:
    text = (APT / "apt-get_-s_upgrade.bookworm.txt").read_text()
    pending, held = parse_apt_simulation(text)
    assert len(pending) == 124 == text.count("\nInst ")
    assert sum(1 for p in pending if p.security) == 81  # origins with "-security", as captured
    assert held == 0
    base = next(p for p in pending if p.id == "base-files")
    assert (base.current_version, base.version, base.security) == ("12.4+deb12u11", "12.4+deb12u15", False)
    assert base.origin == "Debian:12.15/oldstable"


def test_apt_security_flags_agree_with_apt_list_upgradable() -> None:
    """`apt list --upgradable` of the same machine names the suite of each upgrade."""
    pending, _ = parse_apt_simulation((APT / "apt-get_-s_upgrade.bookworm.txt").read_text())
    listed = {}
    for line in (APT / "apt_list_--upgradable.bookworm.txt").read_text().splitlines()[1:]:
        name, _, rest = line.partition("/")
        listed[name] = rest.split()[0]
    assert set(listed) == {p.id for p in pending}
    for p in pending:
        assert p.security == ("security" in listed[p.id]), p.id


def test_apt_origin_of_ubuntu_and_new_installs() -> None:
    # constructed in the documented format (Ubuntu origin; an upgrade pulling in a new package)
    text = (
        "Inst libssl1.1 [1.1.1-1ubuntu2.1~18.04.5] (1.1.1-1ubuntu2.1~18.04.6 Ubuntu:18.04/bionic-updates, "
        "Ubuntu:18.04/bionic-security [amd64])\n"
        "Inst linux-image-4.15.0-99-generic (4.15.0-99.100 Ubuntu:18.04/bionic-updates [amd64])\n"
        "2 upgraded, 1 newly installed, 0 to remove and 3 not upgraded.\n"
    )
    pending, held = parse_apt_simulation(text)
    assert [(p.id, p.current_version, p.security) for p in pending] == [
        ("libssl1.1", "1.1.1-1ubuntu2.1~18.04.5", True),
        ("linux-image-4.15.0-99-generic", "", False),
    ]
    assert held == 3


def test_apt_history_of_a_real_machine_gives_runs_upgrades_and_local_times() -> None:
    text = (APT / "var_log_apt_history.log").read_text()
    runs, upgrades = parse_apt_history(text, timezone(timedelta(hours=8)))
    assert len(runs) == 5 and runs[-2].command == "apt-get install -y tzdata"
    first = runs[0]
    assert first.command == "apt-get -qqy upgrade" and first.upgraded == 2 and first.installed == 0
    assert first.started_at == datetime(2025, 6, 24, 6, 36, 25, tzinfo=UTC)  # 14:36:25 at UTC+8
    tz = next(u for u in upgrades if u.id == "tzdata:amd64")
    assert (tz.old_version, tz.version, tz.installed_on) == (
        "2025b-0+deb12u1",
        "2025b-0+deb12u2",
        "2026-05-08",
    )
    assert runs[-1].upgraded == 29 and runs[-1].installed > 100


def test_apt_history_errors_and_removals() -> None:
    # constructed in the history.log format: a failed run and a removal
    text = (
        "Start-Date: 2026-05-09  14:17:19\nCommandline: apt-get remove --purge telnet\nRequested-By: ops (1000)\n"
        "Purge: telnet:amd64 (0.17-44)\nEnd-Date: 2026-05-09  14:17:20\n\n"
        "Start-Date: 2026-05-11  08:00:00\nCommandline: apt-get dist-upgrade\n"
        "Upgrade: openssl:amd64 (3.0.13-1, 3.0.13-2)\nError: Sub-process /usr/bin/dpkg returned an error code (1)\n"
        "End-Date: 2026-05-11  08:00:04\n"
    )
    runs, upgrades = parse_apt_history(text)
    assert (runs[0].removed, runs[0].requested_by) == (1, "ops (1000)")
    assert runs[1].error.startswith("Sub-process") and len(upgrades) == 1


def test_unattended_upgrades_setting() -> None:
    assert parse_apt_config(
        'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n'
    ) == (
        True,
        "Unattended-Upgrade=1, Update-Package-Lists=1",
    )
    assert parse_apt_config('APT::Periodic::Unattended-Upgrade "0";')[0] is False
    assert parse_apt_config("")[0] is False  # apt's default is off


def test_kernel_reboot_reason() -> None:
    assert newer_kernel("6.1.0-9-amd64", ["6.1.0-9-amd64", "6.1.0-26-amd64"]).startswith(
        "newer kernel 6.1.0-26"
    )
    assert newer_kernel("6.1.0-26-amd64", ["6.1.0-9-amd64", "6.1.0-26-amd64"]) == ""
    assert "no longer installed" in newer_kernel("6.1.0-8-amd64", ["6.1.0-9-amd64"])
    assert newer_kernel("6.1.0-8-amd64", []) == ""
    assert newer_kernel("6.1.0-26-amd64", ["6.1.0-26-amd64", "6.1.0-27-rt-amd64"]) == ""  # another flavour


def _linux_bundle(tmp: Path, apt_output: str, history: bytes, gz: bytes | None = None) -> Path:
    bundle = tmp / "b"
    files = bundle / "files"
    (files / "var/log/apt").mkdir(parents=True)
    (files / "var/lib/dpkg").mkdir(parents=True)
    (files / "var/lib/dpkg/status").write_text("")
    (files / "var/log/apt/history.log").write_bytes(history)
    if gz is not None:
        (files / "var/log/apt/history.log.1.gz").write_bytes(gz)
    lists = files / "var/lib/apt/lists"
    lists.mkdir(parents=True)
    for name, stamp in (
        ("deb.debian.org_debian_dists_bookworm_InRelease", 1_750_000_000),
        ("x_InRelease", 1_780_000_000),
    ):
        (lists / name).write_text("")
        os.utime(lists / name, (stamp, stamp))
    (files / "var/run").mkdir(parents=True)
    (files / "var/run/reboot-required").write_text("*** System restart required ***\n")
    (files / "var/run/reboot-required.pkgs").write_text("libc6\nlinux-image-6.1.0-26-amd64\n")
    (bundle / "commands").mkdir()
    (bundle / "commands/0001.out").write_text(apt_output)
    (bundle / "commands/0001.err").write_text("")
    manifest = {
        "format": 1,
        "platform": "linux",
        "facts": {},
        "registry": [],
        "commands": [
            {
                "argv": APT_UPGRADE_ARGV,
                "returncode": 0,
                "stdout": "commands/0001.out",
                "stderr": "commands/0001.err",
            }
        ],
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def test_replay_of_a_debian_bundle_with_rotated_history(tmp_path: Path) -> None:
    history = (APT / "var_log_apt_history.log").read_bytes()
    blocks = history.split(b"\n\n")
    bundle = _linux_bundle(
        tmp_path,
        (APT / "apt-get_-s_upgrade.bookworm.txt").read_text(),
        b"\n\n".join(blocks[2:]),
        gzip.compress(b"\n\n".join(blocks[:2])),
    )
    result = scan_sections(ReplayContext(bundle), ["patches"], platform="linux")["patches"]
    assert result["status"] == "ok", result
    data = result["data"]
    assert (data["pending_count"], data["pending_security_count"], data["held_back_count"]) == (124, 81, 0)
    assert data["runs"][-1]["command"] == "apt-get -qqy upgrade"  # from the rotated .gz
    assert data["runs"][0]["command"].startswith("apt-get install -y build-essential")
    assert data["last_update_at"].startswith("2026-05-09T07:29:30")  # no /etc/localtime in the bundle: UTC
    assert data["lists_updated_at"].startswith("2026-05-28") and data["lists_oldest_at"].startswith(
        "2025-06-15"
    )
    assert data["reboot_required"] is True and data["reboot_reasons"] == ["/var/run/reboot-required"]
    assert data["reboot_packages"] == ["libc6", "linux-image-6.1.0-26-amd64"]


def test_failed_apt_simulation_is_an_error_not_zero_pending(tmp_path: Path) -> None:
    bundle = _linux_bundle(tmp_path, "", b"")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["commands"][0]["returncode"] = 100
    (bundle / "commands/0001.err").write_text(
        "E: The package lists or status file could not be parsed or opened.\n"
    )
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result = scan_sections(ReplayContext(bundle), ["patches"], platform="linux")["patches"]
    assert result["status"] == "ok" and result["data"]["pending_count"] is None
    assert result["errors"][0]["message"].startswith("E: The package lists")


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get (Debian family)")
def test_live_pending_counts_equal_apt_get_simulation() -> None:
    facts = collect_linux(HostContext()).data.model_dump()
    done = subprocess.run(
        ["apt-get", "-s", "upgrade"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    inst = [line for line in done.stdout.splitlines() if line.startswith("Inst ")]
    assert facts["pending_count"] == len(inst)
    assert facts["pending_security_count"] == sum("security" in line.lower() for line in inst)
    assert {p["id"] for p in facts["pending"]} == {line.split()[1] for line in inst}
    lists = [n for n in os.listdir("/var/lib/apt/lists") if n.endswith("InRelease")]
    if lists:
        newest = max(os.stat(f"/var/lib/apt/lists/{n}").st_mtime for n in lists)
        assert facts["lists_updated_at"] >= datetime.fromtimestamp(newest, UTC)


# -- RPM: dnf -------------------------------------------------------------------------------
def test_dnf_check_update_lines_wrapped_names_and_obsoletes() -> None:
    # constructed in the format of `dnf check-update` (ci-dnf-stack check-update.feature shows
    # "glibc.x86_64  2.28-26.fc29  dnf-ci-fedora-updates"); not from a real machine
    text = (
        "\nglibc.x86_64                 2.28-26.fc29              dnf-ci-fedora-updates\n"
        "python3-a-very-long-package-name-indeed.noarch\n"
        "                             1.2-3.el9                 appstream\n"
        "Obsoleting Packages\n"
        "grub2-tools.x86_64           1:2.06-70.el9             baseos\n"
    )
    assert [(p.id, p.version, p.origin) for p in parse_dnf_check_update(text)] == [
        ("glibc", "2.28-26.fc29", "dnf-ci-fedora-updates"),
        ("python3-a-very-long-package-name-indeed", "1.2-3.el9", "appstream"),
    ]
    assert parse_rpm_installtimes("1690000000 bash\n1700000000 kernel\nnonsense\n") == datetime.fromtimestamp(
        1700000000, UTC
    )


# -- Windows ---------------------------------------------------------------------------------
def test_qfe_of_windows_xp_takes_the_kb_from_service_pack_in_effect() -> None:
    raw = (FIX / "windows/wmic/glpi_xp-Win32_QuickFixEngineering.wmi").read_bytes()
    updates = parse_qfe(parse_wmic_list(decode_reg_file(raw)))
    ids = {u.id for u in updates}
    assert {"KB2079403", "KB2115168", "KB2121546"} <= ids and "File 1" not in ids
    dated = [u for u in updates if u.installed_on]
    assert dated and all(u.installed_on == "2011-01-15" for u in dated)  # "1/15/2011"
    assert any(u.security for u in updates)


def test_get_hotfix_json_of_windows_server_2019() -> None:
    updates = parse_qfe(json.loads((PS / "mondoo_get_hotfix_win2019.json").read_text()))
    assert len(updates) == 6 and {u.installed_on for u in updates} == {"2020-09-09"}
    assert sorted(u.id for u in updates if u.security) == ["KB4470788", "KB4487038"]
    assert {u.installed_by for u in updates} == {"NT AUTHORITY\\SYSTEM"}


def test_installed_on_quirks() -> None:
    # constructed: the shapes InstalledOn takes (see the parser's docstring)
    assert str(parse_installed_on("3/14/2023")) == "2023-03-14"
    assert str(parse_installed_on("2023/3/14")) == "2023-03-14"
    assert str(parse_installed_on("14/03/2023")) == "2023-03-14"
    assert str(parse_installed_on("01d9566f3c2a0000")) == "2023-03-14"  # FILETIME hex
    # local midnight of 2020-09-09 in UTC+8 is 2020-09-08T16:00Z: still the 9th
    assert str(parse_installed_on({"value": "/Date(1599580800000)/", "DateTime": "..."})) == "2020-09-09"
    assert str(
        parse_installed_on({"value": None, "DateTime": "Wednesday, September 9, 2020 12:00:00 AM"})
    ) == ("2020-09-09")
    assert parse_installed_on("") is None and parse_installed_on("0000000000000000") is None
    assert parse_wu_time("1601-01-01T00:00:00Z") is None
    assert parse_wu_time("2024-03-13T02:11:40Z") == datetime(2024, 3, 13, 2, 11, 40, tzinfo=UTC)


def test_pending_updates_of_windows_server_2019_security_by_category_or_severity() -> None:
    pending = parse_pending_updates((PS / "mondoo_wua_pending_win2019.json").read_text())
    assert [p.id for p in pending] == [
        "KB4462930",
        "KB4537759",
        "KB4538156",
        "KB4494174",
        "KB890830",
        "KB4538461",
    ]
    assert [p.id for p in pending if p.security] == [
        "KB4537759",
        "KB4538461",
    ]  # the second has no MsrcSeverity
    assert pending[1].severity == "Critical" and pending[4].classification == "Update Rollups"


HISTORY = [  # constructed in the reader's shape (IUpdateHistoryEntry fields), Chinese titles included
    {
        "Title": "Microsoft Defender 防病毒的安全智能更新 - KB2267602 (版本 1.405.123.0)",
        "Date": "2024-03-20T01:00:00Z",
        "Operation": 1,
        "ResultCode": 2,
        "Categories": [
            {"Name": "定义更新", "Id": "e0789628-ce08-4437-be74-2495b842f43b", "Type": "UpdateClassification"}
        ],
    },
    {
        "Title": "2024-03 适用于 Windows 11 Version 23H2 的累积更新 (KB5035853)",
        "Date": "2024-03-13T02:11:40Z",
        "Operation": 1,
        "ResultCode": 2,
        "Categories": [
            {"Name": "安全更新", "Id": "0FA1201D-4330-4FA8-8AE9-B877473B6441", "Type": "UpdateClassification"}
        ],
    },
    {
        "Title": "2024-02 Cumulative Update (KB5034765)",
        "Date": "2024-02-14T03:00:00Z",
        "Operation": 1,
        "ResultCode": 4,
    },
    {"Title": None, "Date": "2024-01-01T00:00:00Z", "Operation": 3, "ResultCode": 2},
]


def test_update_history_decodes_results_and_flags_definition_updates() -> None:
    history = parse_update_history(HISTORY)
    assert [(e.kb, e.result, e.security, e.definition) for e in history] == [
        ("KB2267602", "succeeded", False, True),
        ("KB5035853", "succeeded", True, False),
        ("KB5034765", "failed", None, False),
    ]


def _windows_output(**override: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Errors": {},
        "QFE": json.loads((PS / "mondoo_get_hotfix_win2019.json").read_text()),
        "History": HISTORY,
        "HistoryTotal": 4,
        "Pending": (PS / "mondoo_wua_pending_win2019.json").read_text(),
        "AutoUpdate": {"LastSearchSuccessDate": "2024-03-21T08:00:00Z", "LastInstallationSuccessDate": None},
        "Reboot": {"CBSRebootPending": False, "WURebootRequired": True, "PendingFileRenameOperations": 4},
        "Policy": {
            "NoAutoUpdate": None,
            "AUOptions": 4,
            "UseWUServer": 1,
            "WUServer": "http://wsus.example:8530",
        },
    }
    return data | override


def test_windows_facts_last_update_ignores_definition_updates() -> None:
    facts, errors = parse_windows_patches(_windows_output())
    assert errors == {}
    assert facts.last_update_at == datetime(2024, 3, 13, 2, 11, 40, tzinfo=UTC)
    assert "KB5035853" in facts.last_update_source
    assert (facts.pending_count, facts.pending_security_count) == (6, 2)
    assert facts.reboot_required is True and len(facts.reboot_reasons) == 2
    assert facts.reboot_reasons[0].startswith("Windows Update RebootRequired")
    assert facts.auto_updates is True and facts.update_server == "http://wsus.example:8530"
    assert facts.lists_updated_at == datetime(2024, 3, 21, 8, tzinfo=UTC)


def test_replay_of_the_powershell_reader_with_a_failed_update_search(tmp_path: Path) -> None:
    """The search timed out: pending is unknown (None, not 0), an error entry, the rest stays."""
    output = _windows_output(Errors={"Pending": "update search timed out after 90 s"})
    del output["Pending"]
    bundle = tmp_path / "b"
    (bundle / "commands").mkdir(parents=True)
    (bundle / "commands/0001.out").write_text(
        "\ufeff" + json.dumps(output, ensure_ascii=False), encoding="utf-8"
    )
    (bundle / "commands/0001.err").write_text("")
    (bundle / "manifest.json").write_text(
        json.dumps(
            {
                "format": 1,
                "platform": "windows",
                "facts": {},
                "registry": [],
                "commands": [
                    {
                        "argv": PATCHES_ARGV,
                        "returncode": 0,
                        "stdout": "commands/0001.out",
                        "stderr": "commands/0001.err",
                    }
                ],
            }
        )
    )
    result = scan_sections(ReplayContext(bundle), ["patches"], platform="windows")["patches"]
    assert result["status"] == "ok", result
    data = result["data"]
    assert data["pending_count"] is None and data["pending_security_count"] is None
    assert result["errors"] == [
        {"source": "IUpdateSearcher.Search", "message": "update search timed out after 90 s"}
    ]
    assert len(data["installed"]) == 6 and data["history"][1]["title"].startswith("2024-03 适用于 Windows 11")
    assert data["reboot_required"] is True


def test_the_reader_is_one_powershell_call_with_utf8_output() -> None:
    script = PATCHES_ARGV[-1]
    assert PATCHES_ARGV[0] == "powershell.exe"
    assert script.startswith("[Console]::OutputEncoding=[Text.Encoding]::UTF8;")
    assert script.endswith("ConvertTo-Json -Depth 6 -Compress")
    assert script.count("try {") >= 6 and "IsInstalled=0 and IsHidden=0 and Type=''Software''" in script
    assert '"' not in script  # nothing for the Windows command-line quoting to mangle


# -- garbage never raises -------------------------------------------------------------------
_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_KEYS = st.sampled_from(["QFE", "History", "Pending", "AutoUpdate", "Reboot", "Policy", "Errors", "HotFixID"])


@given(st.text())
def test_text_parsers_survive_garbage(text: str) -> None:
    parse_apt_simulation(text)
    parse_apt_history(text)
    parse_apt_config(text)
    parse_dnf_check_update(text)
    parse_rpm_installtimes(text)
    parse_installed_on(text)
    parse_wu_time(text)
    parse_pending_updates(text)
    newer_kernel(text, text.split())


@given(st.dictionaries(_KEYS, _JSONISH, max_size=8), _JSONISH)
def test_windows_parsers_survive_garbage(data: dict[str, Any], value: Any) -> None:
    parse_windows_patches(data)
    parse_qfe(value)
    parse_update_history(value)
    parse_pending_updates(value)
    parse_installed_on(value)
