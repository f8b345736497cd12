"""Probe ``log_settings`` (A9-M3.4: logs monitored, kept six months): event log channels and
their oldest record, the logon audit policy, journald, logrotate, syslog daemons, auditd.

Real fixtures: auditpol /r of Windows Server 2022 and Get-WinEvent -ListLog JSON (mondoo),
Debian's logrotate.conf and rsyslog logrotate file, this Debian 12 machine's logrotate.d
files, journald.conf and log heads, rsyslog's Red Hat rsyslog.conf, auditd's default
auditd.conf. Inputs written in this file are constructed and labelled so.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.capture import ReplayContext
from agent.host import HostContext
from agent.probes.log_settings_journal_linux import (
    parse_disk_usage,
    parse_journald_conf,
    parse_list_boots,
    parse_size,
    parse_timespan,
)
from agent.probes.log_settings_linux import (
    file_store,
    first_timestamp,
    parse_auditd_conf,
    parse_syslog_targets,
    rotated_siblings,
)
from agent.probes.log_settings_logrotate_linux import expand_braces, parse_logrotate, retention_days
from agent.probes.log_settings_windows import (
    LOGON_SUBCATEGORIES,
    POWERSHELL_ARGV,
    SUBCATEGORIES,
    parse_auditpol_csv,
    parse_ps_time,
    parse_windows_log_settings,
    setting_flags,
)
from agent.scan import scan_sections

FIX = Path(__file__).resolve().parents[1] / "fixtures"
LOGGING = FIX / "linux" / "logging"
AUDITPOL_WS2022 = (FIX / "windows/auditpol/mondoo_auditpol-ws2022.csv").read_text()
SECURITY_2022 = json.loads(
    (FIX / "windows/powershell/mondoo_eventlog_classic_security_win2022.json").read_text()
)
POWERSHELL_2022 = json.loads(
    (FIX / "windows/powershell/mondoo_eventlog_modern_powershell_win2022.json").read_text()
)


# -- Windows: audit policy -------------------------------------------------------------------
def test_auditpol_of_windows_server_2022_keyed_on_guid() -> None:
    policy = {p.key: p for p in parse_auditpol_csv(AUDITPOL_WS2022)}
    assert len(policy) == 60 and "" not in policy  # every GUID of the real output is known
    assert (policy["logon"].success, policy["logon"].failure) == (True, True)
    assert (policy["logoff"].success, policy["logoff"].failure) == (True, False)
    assert (policy["credential_validation"].success, policy["credential_validation"].failure) == (True, False)
    assert (policy["other_logon_logoff_events"].success, policy["other_logon_logoff_events"].failure) == (
        False,
        False,
    )
    assert all(key in policy for key in LOGON_SUBCATEGORIES)
    assert policy["logon"].guid == "0cce9215-69ae-11d9-bed3-505054503030"
    assert policy["logon"].name == "Logon" and policy["logon"].setting == "Success and Failure"


def test_guid_table_agrees_with_the_english_names_windows_prints() -> None:
    """The stable keys are the English names: checked row by row against a real output."""
    for item in parse_auditpol_csv(AUDITPOL_WS2022):
        expected = re.sub(r"[^a-z0-9]+", "_", item.name.lower()).strip("_")
        assert SUBCATEGORIES[item.guid] == expected


def test_auditpol_console_shape_crlf_and_blank_line_after_header() -> None:
    # auditpol writes CRLF and an empty line after the header on a console (fixture re-shaped)
    lines = AUDITPOL_WS2022.splitlines()
    console = "\r\n".join([lines[0], "", *lines[1:]]) + "\r\n"
    assert parse_auditpol_csv(console) == parse_auditpol_csv(AUDITPOL_WS2022)


def test_auditpol_chinese_windows_constructed_sample() -> None:
    """CONSTRUCTED (no real zh-CN capture found): header, names and settings localised, GUIDs not."""
    text = (
        "计算机名,策略目标,子类别,子类别 GUID,包含设置,排除设置\n"
        "DESKTOP-01,系统,登录,{0CCE9215-69AE-11D9-BED3-505054503030},成功和失败,\n"
        "DESKTOP-01,系统,注销,{0CCE9216-69AE-11D9-BED3-505054503030},成功,\n"
        "DESKTOP-01,系统,账户锁定,{0CCE9217-69AE-11D9-BED3-505054503030},失败,\n"
        "DESKTOP-01,系统,特殊登录,{0CCE921B-69AE-11D9-BED3-505054503030},无审核,\n"
    )
    policy = {p.key: p for p in parse_auditpol_csv(text)}
    assert policy["logon"].name == "登录" and (policy["logon"].success, policy["logon"].failure) == (
        True,
        True,
    )
    assert (policy["logoff"].success, policy["logoff"].failure) == (True, False)
    assert (policy["account_lockout"].success, policy["account_lockout"].failure) == (False, True)
    assert (policy["special_logon"].success, policy["special_logon"].failure) == (False, False)


@pytest.mark.parametrize(
    ("text", "flags"),
    [
        ("Success and Failure", (True, True)),
        ("Success", (True, False)),
        ("Failure", (False, True)),
        ("No Auditing", (False, False)),
        ("成功和失败", (True, True)),
        ("成功与失败", (True, True)),
        ("失败", (False, True)),
        ("无审核", (False, False)),
        ("成功與失敗", (True, True)),  # zh-TW, auditpolmsg.dll.mui string 3
        ("沒有稽核", (False, False)),  # zh-TW string 4
        ("Not Configured", (None, None)),
        ("3", (True, True)),  # auditpol /backup "Setting Value"
        ("Erfolg", (None, None)),  # a language not read: unknown, never a guess
        ("", (None, None)),
    ],
)
def test_inclusion_setting_words(text: str, flags: tuple[bool | None, bool | None]) -> None:
    assert setting_flags(text) == flags


# -- Windows: event log channels -------------------------------------------------------------
def _reader_output(**extra: object) -> dict[str, object]:
    """The reader's JSON: real -ListLog objects (mondoo, Windows Server 2022) and a real auditpol
    output; the oldest times and the 'now' are constructed."""
    security = {**SECURITY_2022, "FileSize": 20975616, "IsLogFull": False}
    return {
        "now": "2026-11-27T08:00:00.1234567Z",
        "logs": [security, POWERSHELL_2022],
        "oldest": {
            "Security": "2026-05-01T00:00:00.0000000Z",
            POWERSHELL_2022["LogName"]: "/Date(1760000000000)/",
        },
        "errors": {},
        "auditpol": AUDITPOL_WS2022,
        "auditpol_exit": 0,
        **extra,
    }


def test_event_log_channels_with_oldest_record() -> None:
    facts, errors = parse_windows_log_settings(_reader_output())
    assert errors == []
    security, operational = facts.stores
    assert security.name == "Security" and security.kind == "windows_eventlog"
    assert security.retention_mode == "circular" and security.enabled is True
    assert security.max_size_bytes == 20971520 and security.record_count == 2445
    assert security.current_size_bytes == 20975616
    assert security.path == "%SystemRoot%\\System32\\Winevt\\Logs\\Security.evtx"
    assert security.oldest_entry == datetime(2026, 5, 1, tzinfo=UTC)
    assert security.retained_days == 210  # 2026-05-01 .. 2026-11-27: more than 180
    assert "overwrite events as needed" in security.policy
    assert operational.name == "Microsoft-Windows-PowerShell/Operational"
    assert operational.oldest_entry == datetime.fromtimestamp(1760000000, UTC)
    assert {p.key for p in facts.audit_policy} >= set(LOGON_SUBCATEGORIES)


def test_log_modes_as_numbers_and_strings() -> None:
    logs = [
        {"LogName": "A", "LogMode": 2},
        {"LogName": "B", "LogMode": "AutoBackup"},
        {"LogName": "C", "LogMode": "1"},
        {"LogName": "D", "LogMode": None},
    ]
    facts, _ = parse_windows_log_settings({"logs": logs})
    assert [s.retention_mode for s in facts.stores] == ["retain", "autobackup", "autobackup", "unknown"]


def test_auditpol_without_administrator_rights_is_an_error_entry() -> None:
    output = _reader_output(
        auditpol="Error 0x00000522 occurred:\nA required privilege is not held by the client.",
        auditpol_exit=1314,
    )
    facts, errors = parse_windows_log_settings(output)
    assert facts.audit_policy == [] and len(facts.stores) == 2
    assert errors[0].source.startswith("auditpol") and "administrator" in errors[0].message


def test_channel_errors_are_reported_not_fatal() -> None:
    output = _reader_output(
        errors={"Setup": "There is not an event log on the localhost computer that matches"}
    )
    facts, errors = parse_windows_log_settings(output)
    assert len(facts.stores) == 2 and errors[0].source == "Get-WinEvent Setup"


def test_powershell_times() -> None:
    assert parse_ps_time("2026-11-27T08:00:00.1234567Z") == datetime(
        2026, 11, 27, 8, 0, 0, 123456, tzinfo=UTC
    )
    assert parse_ps_time({"value": "/Date(0)/"}) == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_ps_time("/Date(-11644473600000)/") is None  # 1601: "never"
    assert parse_ps_time("garbage") is None


def test_replay_of_the_windows_reader(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    (bundle / "commands").mkdir(parents=True)
    (bundle / "commands" / "0001.out").write_text(json.dumps(_reader_output()), encoding="utf-8")
    (bundle / "commands" / "0001.err").write_text("")
    manifest = {
        "format": 1,
        "platform": "windows",
        "facts": {},
        "registry": [],
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
    section = scan_sections(ReplayContext(bundle), ["log_settings"], platform="windows")["log_settings"]
    assert section["status"] == "ok", section
    data = section["data"]
    assert [s["name"] for s in data["stores"]] == ["Security", "Microsoft-Windows-PowerShell/Operational"]
    assert data["stores"][0]["oldest_entry"] == "2026-05-01T00:00:00Z"
    logon = next(p for p in data["audit_policy"] if p["key"] == "logon")
    assert logon["success"] is True and logon["failure"] is True


def test_powershell_reader_is_one_call_with_utf8_and_each_part_guarded() -> None:
    script = POWERSHELL_ARGV[-1]
    assert script.startswith("[Console]::OutputEncoding=[Text.Encoding]::UTF8;")
    assert script.rstrip().endswith("ConvertTo-Json -Depth 4 -Compress")
    assert script.count("try {") == 3 and "-Oldest" in script and "auditpol.exe /get /category:* /r" in script
    assert '"' not in script  # no double quotes: nothing to escape through the Windows command line


# -- Linux: logrotate ------------------------------------------------------------------------
def _debian_logrotate() -> tuple[list, list[str]]:  # type: ignore[type-arg]
    files = {
        "/etc/logrotate.conf": (LOGGING / "debian_logrotate.conf").read_text(),
        "/etc/logrotate.d/rsyslog": (LOGGING / "deepin_rsyslog.logrotate").read_text(),
        "/etc/logrotate.d/apt": (LOGGING / "debian12_logrotate.d_apt").read_text(),
        "/etc/logrotate.d/dpkg": (LOGGING / "debian12_logrotate.d_dpkg").read_text(),
        "/etc/logrotate.d/postgresql-common": (
            LOGGING / "debian12_logrotate.d_postgresql-common"
        ).read_text(),
        "/etc/logrotate.d/dpkg.dpkg-old": "/var/log/old.log { daily }\n",  # constructed: a taboo file
    }
    dirs = {"/etc/logrotate.d": ["rsyslog", "apt", "dpkg", "postgresql-common", "dpkg.dpkg-old"]}
    return parse_logrotate("/etc/logrotate.conf", files, dirs)


def test_logrotate_of_a_debian_system() -> None:
    rules, notes = _debian_logrotate()
    assert notes == []
    by_first = {r.patterns[0]: r for r in rules}
    syslog = by_first["/var/log/syslog"]
    assert syslog.patterns == [
        "/var/log/syslog",
        "/var/log/mail.log",
        "/var/log/kern.log",
        "/var/log/auth.log",
        "/var/log/user.log",
        "/var/log/cron.log",
    ]  # patterns over several lines, then "{"
    assert (syslog.period, syslog.rotate, syslog.retention_days) == ("monthly", 6, 180)
    assert syslog.size == "maxsize 500M" and syslog.source == "/etc/logrotate.d/rsyslog:1"
    assert (
        by_first["/var/log/apt/history.log"].period,
        by_first["/var/log/apt/history.log"].retention_days,
    ) == (
        "monthly",
        360,
    )
    assert by_first["/var/log/postgresql/*.log"].retention_days == 70
    assert (by_first["/var/log/wtmp"].rotate, by_first["/var/log/wtmp"].retention_days) == (1, 30)
    assert "/var/log/old.log" not in by_first  # .dpkg-old files are skipped like logrotate does
    # files are included in name order: apt, dpkg, postgresql-common, rsyslog, then the main file's blocks
    assert [r.source.split(":")[0].rsplit("/", 1)[-1] for r in rules][:5] == [
        "apt",
        "apt",
        "dpkg",
        "postgresql-common",
        "rsyslog",
    ]


def test_logrotate_grammar_edge_cases() -> None:
    """CONSTRUCTED inputs: defaults inherited, scripts with braces, quotes, braces in patterns."""
    text = """# global defaults
weekly
rotate 4
"/var/log/with space.log" /var/log/{a,b}.log {
    postrotate
        if [ -f /run/x.pid ]; then kill -HUP $(cat /run/x.pid); fi; echo "{ }"
    endscript
}
/var/log/big.log {
    size 100M
    rotate 5
}
/var/log/capped.log { daily
    rotate 400
    maxage 180
}
/var/log/all.log {
    monthly
    rotate -1
}
/var/log/unclosed.log {
    daily
"""
    rules, notes = parse_logrotate("/etc/logrotate.conf", {"/etc/logrotate.conf": text})
    inherited, big, capped, keep_all, unclosed = rules
    assert inherited.patterns == ["/var/log/with space.log", "/var/log/{a,b}.log"]
    assert (inherited.period, inherited.rotate, inherited.retention_days) == ("weekly", 4, 28)
    assert big.period == "" and big.retention_days is None and big.size == "size 100M"
    assert capped.retention_days == 180 and capped.maxage_days == 180
    assert keep_all.rotate == -1 and keep_all.retention_days is None
    assert unclosed.period == "daily" and any("not closed" in n for n in notes)
    assert expand_braces("/var/log/{a,b}.log") == ["/var/log/a.log", "/var/log/b.log"]


def test_retention_arithmetic() -> None:
    assert retention_days("weekly", 26, None, False) == 182
    assert retention_days("daily", None, None, False) == 0  # logrotate's default rotate is 0
    assert retention_days("hourly", 48, None, False) == 2
    assert retention_days("", 4, None, False) is None


def test_this_machines_logrotate_files_parse_without_error() -> None:
    folder = Path("/etc/logrotate.d")
    if not folder.is_dir():
        pytest.skip("no /etc/logrotate.d here")
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    files = {f"/etc/logrotate.d/{n}": (folder / n).read_text(errors="replace") for n in names}
    main = Path("/etc/logrotate.conf")
    files["/etc/logrotate.conf"] = main.read_text() if main.exists() else "include /etc/logrotate.d\n"
    rules, notes = parse_logrotate("/etc/logrotate.conf", files, {"/etc/logrotate.d": names})
    assert notes == []
    sources = {r.source.split(":")[0] for r in rules}
    for name in names:  # every package file gives at least one rule
        assert f"/etc/logrotate.d/{name}" in sources, name


# -- Linux: journald, syslog, auditd, files --------------------------------------------------
def test_journald_conf_of_debian12_sets_nothing() -> None:
    assert (
        parse_journald_conf(
            [("/etc/systemd/journald.conf", (LOGGING / "debian12_journald.conf").read_text())]
        )
        == {}
    )


def test_journald_dropins_override_in_order() -> None:
    """CONSTRUCTED: the main file, then drop-ins in name order; an empty value restores the default."""
    settings = parse_journald_conf(
        [
            ("/etc/systemd/journald.conf", "[Journal]\nStorage=volatile\nMaxFileSec=1month\n"),
            (
                "/etc/systemd/journald.conf.d/10-keep.conf",
                "[Journal]\nStorage=persistent\nMaxRetentionSec=6month\n",
            ),
            (
                "/usr/lib/systemd/journald.conf.d/20-size.conf",
                "# c\n[Journal]\nSystemMaxUse=4G\nMaxFileSec=\n",
            ),
            ("/etc/systemd/journald.conf.d/30-other.conf", "[Other]\nStorage=none\n"),
        ]
    )
    assert settings["Storage"].value == "persistent" and settings["Storage"].source.endswith("10-keep.conf:2")
    assert settings["MaxRetentionSec"].number == 6 * 2629800
    assert settings["SystemMaxUse"].number == 4 * 1024**3
    assert "MaxFileSec" not in settings


def test_systemd_spans_and_sizes() -> None:
    assert parse_timespan("180d") == 180 * 86400
    assert parse_timespan("1y 2M") == 31557600 + 2 * 2629800
    assert parse_timespan("6 months") == 6 * 2629800 and parse_timespan("3600") == 3600
    assert parse_timespan("forever") is None and parse_timespan("") is None
    assert parse_size("500M") == 500 * 1024**2 and parse_size("1.5G") == int(1.5 * 1024**3)
    assert parse_size("10%") is None
    assert parse_disk_usage("Archived and active journals take up 0B in the file system.") == 0
    assert parse_disk_usage("Archived and active journals take up 1.2G in the file system.") == int(
        1.2 * 1024**3
    )


def test_list_boots_json_and_the_older_table() -> None:
    """CONSTRUCTED in the shapes systemd prints (JSON since 251; the table before)."""
    text = json.dumps(
        [
            {
                "index": 0,
                "boot_id": "b" * 32,
                "first_entry": 1764000000000000,
                "last_entry": 1764003600000000,
            },
            {
                "index": -1,
                "boot_id": "a" * 32,
                "first_entry": 1760000000000000,
                "last_entry": 1760003600000000,
            },
        ]
    )
    boots, note = parse_list_boots(text)
    assert note == ""
    assert [b[0] for b in boots] == [
        datetime.fromtimestamp(1760000000, UTC),
        datetime.fromtimestamp(1764000000, UTC),
    ]
    table = "-1 " + "a" * 32 + " Fri 2019-06-21 18:14:04 UTC—Fri 2019-06-21 19:00:00 UTC\n"
    boots, _ = parse_list_boots(table)
    assert boots == [(datetime(2019, 6, 21, 18, 14, 4, tzinfo=UTC), datetime(2019, 6, 21, 19, tzinfo=UTC))]
    assert parse_list_boots("") == ([], "")


def test_syslog_targets_of_the_red_hat_rsyslog_conf() -> None:
    targets = parse_syslog_targets((LOGGING / "rsyslog_redhat_rsyslog.conf").read_text())
    assert targets == [
        "/var/log/boot.log",
        "/var/log/cron",
        "/var/log/maillog",
        "/var/log/messages",
        "/var/log/secure",
        "/var/log/spooler",
    ]
    assert parse_syslog_targets('action(type="omfile" file="/var/log/x.log")\n') == ["/var/log/x.log"]
    assert parse_syslog_targets('destination d { file("/var/log/auth.log"); };') == ["/var/log/auth.log"]


def test_auditd_conf_defaults_file() -> None:
    facts = parse_auditd_conf((LOGGING / "audit-userspace_auditd.conf").read_text())
    assert (facts.log_file, facts.max_log_file_mb, facts.num_logs) == ("/var/log/audit/audit.log", 8, 5)
    assert facts.max_log_file_action == "ROTATE"


def test_first_timestamps_of_real_log_heads() -> None:
    dpkg = first_timestamp((LOGGING / "debian12_dpkg.log.head").read_text())
    assert dpkg == datetime(2025, 6, 24, 14, 36, 25, tzinfo=UTC)
    history = first_timestamp((LOGGING / "debian12_apt_history.log.head").read_text())  # "Start-Date: d  t"
    assert history == datetime(2025, 6, 24, 14, 36, 25, tzinfo=UTC)


def test_first_timestamp_formats() -> None:
    """CONSTRUCTED lines in the formats rsyslog (RFC 3339 / 3164) and auditd write."""
    ref = datetime(2026, 1, 10, tzinfo=UTC)
    assert first_timestamp("2026-11-27T08:13:01.123456+08:00 host sshd[1]: x") == datetime(
        2026, 11, 27, 0, 13, 1, tzinfo=UTC
    )
    assert first_timestamp("Dec 30 23:59:01 host cron[2]: x", ref) == datetime(
        2025, 12, 30, 23, 59, 1, tzinfo=UTC
    )
    assert first_timestamp("Jan  2 01:00:00 host x", ref) == datetime(2026, 1, 2, 1, tzinfo=UTC)
    assert first_timestamp("type=DAEMON_START msg=audit(1732694400.123:42): op=start") == datetime(
        2024, 11, 27, 8, tzinfo=UTC
    )
    assert first_timestamp("no time here") is None


def test_rotated_siblings() -> None:
    names = [
        "syslog",
        "syslog.1",
        "syslog.2.gz",
        "syslog-20240101.xz",
        "syslog.bak",
        "syslogx.1",
        "syslog.gz",
    ]
    assert rotated_siblings("syslog", names) == ["syslog-20240101.xz", "syslog.1", "syslog.2.gz", "syslog.gz"]


def test_file_store_reads_the_oldest_rotation(tmp_path: Path) -> None:
    """CONSTRUCTED tree: the oldest rotation's first line is the oldest entry kept."""
    log = tmp_path / "var" / "log"
    log.mkdir(parents=True)
    (log / "auth.log").write_text("2026-11-20T00:00:00+00:00 h sshd[1]: now\n")
    (log / "auth.log.1").write_text("2026-11-10T00:00:00+00:00 h sshd[1]: last week\n")
    (log / "auth.log.2.gz").write_bytes(gzip.compress(b"2026-05-01T00:00:00+00:00 h sshd[1]: old\n"))
    for name, stamp in (("auth.log", 1763600000), ("auth.log.1", 1762800000), ("auth.log.2.gz", 1762000000)):
        os.utime(log / name, (stamp, stamp))
    rules, _ = parse_logrotate("/c", {"/c": "/var/log/auth.log {\n weekly\n rotate 26\n}\n"})
    now = datetime(2026, 11, 27, tzinfo=UTC)
    store = file_store(HostContext(root=tmp_path), "/var/log/auth.log", rules[0], True, now)
    assert store is not None and store.rotated_files == 2 and store.retention_mode == "rotate"
    assert store.oldest_entry == datetime(2026, 5, 1, tzinfo=UTC)
    assert store.oldest_entry_source == "first line of /var/log/auth.log.2.gz"
    assert (store.retained_days, store.policy_retention_days) == (210, 182)
    assert file_store(HostContext(root=tmp_path), "/var/log/none.log", None, True, now) is None


def test_oldest_entry_of_large_compressed_rotations_comes_from_their_first_bytes(tmp_path: Path) -> None:
    """CONSTRUCTED logs bigger than the agent reads whole (4 MiB): only their head is read and decoded."""
    import base64
    import lzma

    log = tmp_path / "var" / "log"
    log.mkdir(parents=True)
    lines = b"".join(
        b"2026-04-01T00:00:%02d+00:00 h sshd[%d]: %s\n" % (n % 60, n, base64.b64encode(os.urandom(48)))
        for n in range(100_000)
    )
    assert len(lines) > 8 * 1024 * 1024
    (log / "auth.log").write_bytes(lines)
    (log / "auth.log.1.gz").write_bytes(gzip.compress(lines.replace(b"2026-04-01", b"2026-03-01")))
    (log / "auth.log.2.xz").write_bytes(lzma.compress(lines.replace(b"2026-04-01", b"2026-02-01"), preset=0))
    for name, stamp in (
        ("auth.log", 1763600000),
        ("auth.log.1.gz", 1762800000),
        ("auth.log.2.xz", 1762000000),
    ):
        os.utime(log / name, (stamp, stamp))
    assert (log / "auth.log.2.xz").stat().st_size > 4 * 1024 * 1024  # random text barely compresses
    now = datetime(2026, 11, 27, tzinfo=UTC)
    store = file_store(HostContext(root=tmp_path), "/var/log/auth.log", None, True, now)
    assert store is not None and store.oldest_entry == datetime(2026, 2, 1, tzinfo=UTC)
    assert store.oldest_entry_source == "first line of /var/log/auth.log.2.xz"


# -- live, on this machine -------------------------------------------------------------------
def _live() -> dict:  # type: ignore[type-arg]
    section = scan_sections(HostContext(), ["log_settings"], platform="linux")["log_settings"]
    assert section["status"] == "ok", section
    return section["data"]  # type: ignore[no-any-return]


@pytest.mark.skipif(shutil.which("journalctl") is None, reason="no journalctl here")
def test_live_journal_agrees_with_journalctl() -> None:
    data = _live()
    done = subprocess.run(
        ["journalctl", "--list-boots", "-o", "json", "--no-pager"],
        capture_output=True,
        text=True,
        check=False,
    )
    boots = json.loads(done.stdout) if done.stdout.strip() else []
    journal = next(s for s in data["stores"] if s["kind"] == "journald")
    assert data["journald"]["boots"] == len(boots)
    if boots:
        first = min(b["first_entry"] for b in boots)
        assert journal["oldest_entry"] == datetime.fromtimestamp(first / 1e6, UTC).isoformat().replace(
            "+00:00", "Z"
        )
    else:
        assert journal["oldest_entry"] is None
    conf = Path("/etc/systemd/journald.conf")
    storage = re.findall(r"(?m)^Storage=(\S+)", conf.read_text()) if conf.exists() else []
    dropins = sorted(Path("/etc/systemd/journald.conf.d").glob("*.conf"))
    if not dropins:
        assert data["journald"]["storage"] == (storage[-1].lower() if storage else "auto")
    assert data["journald"]["persistent_dir_exists"] == Path("/var/log/journal").is_dir()


def test_live_oldest_entries_are_real_times_not_in_the_future() -> None:
    data = _live()
    now = datetime.now(UTC)
    dated = [s for s in data["stores"] if s["oldest_entry"]]
    for store in dated:
        stamp = datetime.fromisoformat(store["oldest_entry"].replace("Z", "+00:00"))
        assert datetime(1995, 1, 1, tzinfo=UTC) < stamp <= now, store
        assert store["retained_days"] in {(now - stamp).days, (now - stamp).days - 1}  # read just before now
    dpkg = Path("/var/log/dpkg.log")
    if dpkg.exists() and dpkg.stat().st_size:
        line = dpkg.read_text(errors="replace").splitlines()[0]
        expected = datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        store = next(s for s in data["stores"] if s["path"] == "/var/log/dpkg.log")
        assert store["oldest_entry"] == expected.isoformat().replace("+00:00", "Z")
    assert data["logrotate_installed"] == any(
        Path(d, "logrotate").exists() for d in ("/usr/sbin", "/usr/bin")
    )


# -- garbage never raises --------------------------------------------------------------------
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@given(st.text(max_size=400))
def test_text_parsers_survive_garbage(text: str) -> None:
    parse_auditpol_csv(text)
    setting_flags(text)
    parse_ps_time(text)
    parse_logrotate("/c", {"/c": text}, {"/c": [text[:10]]})
    parse_journald_conf([("/x", text)])
    parse_list_boots(text)
    parse_disk_usage(text)
    parse_size(text)
    parse_timespan(text)
    parse_syslog_targets(text)
    parse_auditd_conf(text)
    first_timestamp(text)
    rotated_siblings(text[:20], [text[:30], text])


@given(_JSONISH)
def test_windows_parser_survives_jsonish_garbage(data: object) -> None:
    parse_windows_log_settings(data)
    parse_windows_log_settings({"logs": data, "oldest": data, "errors": data, "auditpol": data, "now": data})


def test_the_documented_script_is_the_one_run() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs/probes/log_settings.md").read_text()
    assert POWERSHELL_ARGV[-1] in doc
