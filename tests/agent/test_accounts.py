"""Probe ``accounts`` (A9-T3.5, A9-T2.3): local users, administrators, password age, guest.

Windows parsers on a real PowerShell 5.1 ``Get-LocalUser | ConvertTo-Json`` and a real French
``wmic useraccount list full``; Linux parsers on this machine's passwd/group/``passwd -S -a``
and real lastlog and sudoers files. Live: the user list equals ``getent passwd`` and the
password status agrees with ``passwd -S -a``. No password or hash is ever read or reported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.capture import ReplayContext, capture
from agent.host import CommandResult, HostContext
from agent.probes.accounts_linux import (
    collect_linux,
    linux_accounts,
    parse_group,
    parse_lastlog,
    parse_login_defs,
    parse_passwd,
    parse_passwd_status,
    parse_sudoers,
    sudoers_includes,
)
from agent.probes.accounts_windows import (
    POWERSHELL,
    POWERSHELL_ARGV,
    parse_adsi_members,
    parse_group_members,
    parse_local_users,
    parse_win32_user_accounts,
    parse_windows_accounts,
    ps_datetime,
)
from agent.scan import scan_sections
from agent.wmi import parse_wmic_list
from wire.sections.accounts import AccountFacts

FIX = Path(__file__).resolve().parents[1] / "fixtures"
WIN = FIX / "windows" / "accounts"
LIN = FIX / "linux" / "accounts"
NOW = datetime(2020, 5, 1, tzinfo=UTC)
MACHINE = "S-1-5-21-2356735557-1575748656-448136971"

# CONSTRUCTED (no real capture found): Get-LocalGroupMember -SID S-1-5-32-544 | Select-Object ... |
# ConvertTo-Json, shaped after the learn.microsoft.com example (CONTOSOPC\Administrator, Local) and
# the PrincipalSource values of the cmdlet; the SIDs match the Get-LocalUser capture above.
GROUP_MEMBERS = [
    {"Name": "CONTOSOPC\\chris", "SID": f"{MACHINE}-500", "ObjectClass": "User", "PrincipalSource": "Local"},
    {
        "Name": "CORP\\Domain Admins",
        "SID": "S-1-5-21-1-2-3-512",
        "ObjectClass": "Group",
        "PrincipalSource": 2,
    },
    {
        "Name": "AzureAD\\Bob",
        "SID": "S-1-12-1-11-22-33-44",
        "ObjectClass": "User",
        "PrincipalSource": "AzureAD",
    },
    {
        "Name": "S-1-5-21-9-8-7-1105",
        "SID": "S-1-5-21-9-8-7-1105",
        "ObjectClass": "",
        "PrincipalSource": "Unknown",
    },
]


def _local_users() -> Any:
    return json.loads((WIN / "mondoo_get-localuser_ps51.json").read_text())


def _wmic_users() -> list[dict[str, str]]:
    return parse_wmic_list((WIN / "wmic_useraccount_list_full_win10_fr.txt").read_text())


# -- Windows -------------------------------------------------------------------------------
def test_get_localuser_ps51_capture_gives_every_fact() -> None:
    users = {u.name: u for u in parse_local_users(_local_users(), NOW)}
    assert set(users) == {"chris", "DefaultAccount", "Guest", "sshd", "WDAGUtilityAccount"}
    chris = users["chris"]  # the built-in Administrator (RID 500), renamed
    assert (chris.sid, chris.well_known, chris.kind, chris.enabled) == (
        f"{MACHINE}-500",
        "administrator",
        "human",
        True,
    )
    assert chris.last_logon == datetime(2020, 4, 16, 12, 55, 59, 64000, tzinfo=UTC)
    assert chris.never_logged_on is False
    assert chris.password_last_set == datetime(2020, 4, 15, 20, 11, 59, 962000, tzinfo=UTC)
    assert chris.password_age_days == 15
    assert chris.password_never_expires is False
    assert chris.password_expires == datetime(2020, 5, 27, 20, 11, 59, 962000, tzinfo=UTC)
    assert chris.password_required is True and chris.password_status == "unknown"
    sshd = users["sshd"]  # PasswordLastSet but no PasswordExpires: "password never expires"
    assert sshd.password_never_expires is True and sshd.never_logged_on is True
    assert sshd.full_name == "sshd"
    assert (users["Guest"].well_known, users["Guest"].enabled) == ("guest", False)
    assert users["DefaultAccount"].kind == "system" and users["WDAGUtilityAccount"].kind == "system"
    assert users["DefaultAccount"].password_required is False


def test_get_localuser_ps7_shapes() -> None:
    # CONSTRUCTED: PowerShell 7 writes ISO dates with 7 fractional digits; Select-Object gives the SID as text
    (user,) = parse_local_users(
        {
            "Name": "张伟",
            "SID": f"{MACHINE}-1001",
            "Enabled": True,
            "LastLogon": "2020-04-16T14:55:59.0640000+02:00",
            "PasswordLastSet": {"value": "/Date(1586981519962)/", "DateTime": "Wednesday, April 15, 2020"},
            "PasswordExpires": None,
        },
        NOW,
    )
    assert user.name == "张伟" and user.sid.endswith("-1001")
    assert user.last_logon == datetime(2020, 4, 16, 12, 55, 59, 64000, tzinfo=UTC)
    assert user.password_age_days == 15


def test_powershell_dates() -> None:
    assert ps_datetime("/Date(1587041759064)/") == datetime(2020, 4, 16, 12, 55, 59, 64000, tzinfo=UTC)
    assert ps_datetime("/Date(-11644473600000)/") is None  # 1601-01-01: "never"
    assert ps_datetime(None) is None and ps_datetime("Thursday") is None
    assert ps_datetime("2020-04-15T20:11:59Z") == datetime(2020, 4, 15, 20, 11, 59, tzinfo=UTC)


def test_administrators_from_get_localgroupmember() -> None:
    facts, errors = parse_windows_accounts(
        {
            "Computer": "CONTOSOPC",
            "Group": "BUILTIN\\Administrators",
            "LocalUser": _local_users(),
            "LocalGroupMember": GROUP_MEMBERS,
        },
        NOW,
    )
    assert errors == []
    members = {m.name: m for m in facts.administrators}
    assert members["CONTOSOPC\\chris"].source == "local"
    assert (members["CORP\\Domain Admins"].kind, members["CORP\\Domain Admins"].source) == ("group", "domain")
    assert members["AzureAD\\Bob"].source == "azure_ad"
    orphan = members["S-1-5-21-9-8-7-1105"]
    assert (orphan.source, orphan.kind, orphan.via) == ("orphaned", "unknown", ["Administrators group"])
    assert [u.name for u in facts.users if u.is_admin] == ["chris"]
    assert facts.guest_enabled is False
    assert facts.counts.users == 5 and facts.counts.enabled == 2 and facts.counts.human == 3
    assert facts.counts.administrators == 4
    assert facts.counts.password_never_expires == 1  # sshd (chris' password expires)
    assert facts.counts.never_logged_on == 1  # sshd
    assert facts.sources == ["Get-LocalUser", "Get-LocalGroupMember -SID S-1-5-32-544"]


def test_win32_useraccount_fallback_on_a_french_windows() -> None:
    users = {u.name: u for u in parse_win32_user_accounts(_wmic_users())}
    assert list(users) == ["Administrateur", "DefaultAccount", "Invité", "WDAGUtilityAccount", "yrlan"]
    # the guest is found by RID 501, not by its localised name
    assert (users["Invité"].well_known, users["Invité"].enabled) == ("guest", False)
    assert users["Administrateur"].well_known == "administrator" and users["Administrateur"].enabled is False
    yrlan = users["yrlan"]
    assert (yrlan.enabled, yrlan.locked_out, yrlan.full_name) == (True, False, "Yrlan Montagnier")
    assert yrlan.password_never_expires is True and yrlan.password_required is True
    assert yrlan.last_logon is None and yrlan.never_logged_on is None  # Win32_UserAccount cannot say
    assert users["WDAGUtilityAccount"].password_never_expires is False


def test_orphaned_sid_fallback_through_adsi() -> None:
    # CONSTRUCTED: the ADSI part's output after Get-LocalGroupMember threw error 1789 (ADsPath forms as
    # documented for the WinNT provider); users from the real French wmic capture.
    data = {
        "Computer": "MSI-9SEXR",
        "Group": "BUILTIN\\Administrateurs",
        "LocalUserError": "The term 'Get-LocalUser' is not recognized",
        "Win32_UserAccount": _wmic_users(),
        "LocalGroupMemberError": "Failed to compare two elements in the array.",
        "AdsiMember": [
            {
                "ADsPath": "WinNT://WORKGROUP/MSI-9SEXR/Administrateur",
                "Class": "User",
                "SID": "S-1-5-21-1968258186-1579205017-2869952045-500",
            },
            {"ADsPath": "WinNT://MSI-9SEXR/yrlan", "Class": "User", "SID": ""},
            {"ADsPath": "WinNT://S-1-5-21-111-222-333-1105", "Class": "User", "SID": ""},
            {"ADsPath": "WinNT://NT AUTHORITY/INTERACTIVE", "Class": "Group", "SID": "S-1-5-4"},
        ],
    }
    facts, errors = parse_windows_accounts(data, NOW)
    assert errors == []
    assert facts.administrators_group == "BUILTIN\\Administrateurs"
    by_name = {m.name: m for m in facts.administrators}
    assert by_name["MSI-9SEXR\\Administrateur"].source == "local"
    assert by_name["S-1-5-21-111-222-333-1105"].source == "orphaned"
    assert by_name["NT AUTHORITY\\INTERACTIVE"].source == "well_known"
    assert all(m.via == ["Administrateurs group"] for m in facts.administrators)
    # matched by SID (Administrateur) and by COMPUTER\name (yrlan, whose SID ADSI did not give)
    assert sorted(u.name for u in facts.users if u.is_admin) == ["Administrateur", "yrlan"]
    assert facts.sources == ["Win32_UserAccount", "ADSI WinNT group members"]
    assert "Get-LocalUser unavailable" in facts.note and "read via ADSI" in facts.note


def test_every_part_failing_becomes_error_entries_not_a_crash() -> None:
    facts, errors = parse_windows_accounts(
        {
            "LocalUserError": "x",
            "Win32_UserAccountError": "y",
            "LocalGroupMemberError": "z",
            "AdsiMemberError": "w",
        },
        NOW,
    )
    assert facts.users == [] and facts.guest_enabled is None
    assert len(errors) == 2


def test_powershell_script_shape() -> None:
    assert POWERSHELL.startswith("[Console]::OutputEncoding=[Text.Encoding]::UTF8;")
    assert POWERSHELL.endswith("ConvertTo-Json -Depth 4 -Compress")
    assert "-SID S-1-5-32-544" in POWERSHELL and "LocalAccount=True" in POWERSHELL
    assert POWERSHELL.count("try {") == POWERSHELL.count("catch {")
    assert '"' not in POWERSHELL  # no double quotes to survive Windows command-line quoting
    assert POWERSHELL_ARGV[-1] == POWERSHELL


def test_the_docs_show_the_exact_script() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "probes" / "accounts.md").read_text()
    shown = doc.split("```powershell\n", 1)[1].split("```", 1)[0]
    assert re.sub(r"\s+", "", shown) == re.sub(r"\s+", "", POWERSHELL)


def _bundle(tmp_path: Path, commands: list[tuple[list[str], str]], platform: str) -> Path:
    bundle = tmp_path / "b"
    (bundle / "commands").mkdir(parents=True)
    manifest: dict[str, Any] = {
        "format": 1,
        "platform": platform,
        "facts": {},
        "registry": [],
        "commands": [],
    }
    manifest["captured_at"] = "2020-05-01T00:00:00+00:00"
    for number, (argv, stdout) in enumerate(commands, 1):
        (bundle / "commands" / f"{number:04d}.out").write_text(stdout, encoding="utf-8")
        (bundle / "commands" / f"{number:04d}.err").write_text("")
        manifest["commands"].append(
            {
                "argv": argv,
                "returncode": 0,
                "stdout": f"commands/{number:04d}.out",
                "stderr": f"commands/{number:04d}.err",
            }
        )
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def test_replay_of_the_windows_reader(tmp_path: Path) -> None:
    output = json.dumps(
        {
            "Computer": "CONTOSOPC",
            "Group": "BUILTIN\\Administrators",
            "LocalUser": _local_users(),
            "LocalGroupMember": GROUP_MEMBERS,
        }
    )
    bundle = _bundle(tmp_path, [(POWERSHELL_ARGV, "\ufeff" + output)], "windows")
    result = scan_sections(ReplayContext(bundle), ["accounts"], platform="windows")["accounts"]
    assert result["status"] == "ok", result
    data = AccountFacts.model_validate(result["data"])
    assert data.guest_enabled is False and data.counts.administrators == 4
    chris = next(u for u in data.users if u.name == "chris")
    assert chris.password_age_days == 15  # aged against the capture time, not today
    assert chris.is_admin


# -- Linux ---------------------------------------------------------------------------------
def test_passwd_group_and_login_defs_of_a_debian12_machine() -> None:
    passwd = parse_passwd((LIN / "etc_passwd.debian12").read_text())
    assert len(passwd) == 25 and passwd[0].name == "root" and passwd[0].shell == "/bin/bash"
    groups = parse_group((LIN / "etc_group.debian12").read_text())
    assert groups["sudo"] == (27, []) and groups["ssl-cert"][1] == ["postgres"]
    assert parse_login_defs("UID_MIN\t\t\t 1000\nUID_MAX\t\t\t60000\n#UID_MIN 5\n") == (1000, 60000)
    assert parse_login_defs("") == (1000, 60000)


def test_passwd_status_of_a_debian12_machine() -> None:
    states = parse_passwd_status((LIN / "passwd_-S_-a.debian12.txt").read_text())
    assert len(states) == 25 and all(s.status == "locked" for s in states.values())
    assert states["root"].last_change is not None and states["root"].max_days == 99999
    assert states["cloudsdk"].max_days == -1


def test_passwd_status_variants() -> None:
    # CONSTRUCTED lines in the documented formats: shadow < 4.13 (%m/%d/%Y), day 0, no shadow entry,
    # and the RHEL passwd (PS/LK with a trailing explanation)
    states = parse_passwd_status(
        "alice NP 03/02/2019 0 99999 7 -1\n"
        "bob P 1970-01-01 0 90 7 -1\n"
        "carol P\n"
        "root PS 2019-11-14 0 99999 7 -1 (Password set, SHA512 crypt.)\n"
        "dave LK 2019-11-14 0 99999 7 -1 (Password locked.)\n"
        "passwd: You may not view or modify password information for root.\n"
    )
    assert states["alice"].status == "none" and str(states["alice"].last_change) == "2019-03-02"
    assert states["bob"].must_change is True and states["bob"].last_change is None
    assert states["carol"].status == "set" and states["carol"].max_days is None
    assert states["root"].status == "set" and states["dave"].status == "locked"
    assert set(states) == {"alice", "bob", "carol", "root", "dave"}


def test_lastlog_captures() -> None:
    ubuntu = parse_lastlog((LIN / "lastlog_ubuntu2204_excerpt.txt").read_text())
    assert (
        ubuntu["root"].when == datetime(2024, 9, 3, 8, 18, 45, tzinfo=UTC) and ubuntu["root"].where == "tty1"
    )
    assert ubuntu["michael"].where == "10.10.14.46"
    eastern = parse_lastlog((LIN / "lastlog_minus0500_excerpt.txt").read_text())
    assert eastern["root"].when == datetime(2025, 12, 30, 6, 1, 26, tzinfo=UTC)
    assert eastern["rin"].where == "192.168.0.106"
    debian = parse_lastlog((LIN / "lastlog.debian12.txt").read_text())
    assert len(debian) == 25 and all(entry.when is None for entry in debian.values())


def test_sudoers_of_the_debian_package_and_cloud_init() -> None:
    files = {
        "/etc/sudoers": (LIN / "sudoers.debian-packaging").read_text(),
        "/etc/sudoers.d/90-cloud-init-users": (LIN / "sudoers.d_90-cloud-init-users.excerpt").read_text(),
    }
    grants = [(g.principal, g.origin) for g in parse_sudoers(files)]
    assert grants == [
        ("root", "/etc/sudoers:25"),
        ("%admin", "/etc/sudoers:28"),
        ("%sudo", "/etc/sudoers:31"),
        ("ubuntu", "/etc/sudoers.d/90-cloud-init-users:4"),
    ]
    assert sudoers_includes(files["/etc/sudoers"]) == ([], ["/etc/sudoers.d"])


def test_sudoers_rules_that_do_and_do_not_make_an_admin() -> None:
    # CONSTRUCTED edge cases of sudoers(5) syntax
    text = (
        "User_Alias ADMINS = alice, %ops\n"
        "Cmnd_Alias EVERYTHING = ALL\n"
        "ADMINS ALL = (root) NOPASSWD: ALL\n"
        "deploy ALL=(www-data) ALL\n"
        "backup ALL=(root) /usr/bin/rsync\n"
        "#1000 ALL=(ALL) EVERYTHING\n"
        "carol, dave ALL=(ALL:ALL) \\\n    ALL, !/usr/bin/passwd\n"
        "eve ALL=(ALL) !ALL\n"
        "# frank ALL=(ALL) ALL\n"
        "@includedir /etc/sudoers.local.d\n"
    )
    grants = [g.principal for g in parse_sudoers({"/etc/sudoers": text})]
    assert grants == ["alice", "%ops", "#1000", "carol", "dave"]
    assert sudoers_includes(text) == ([], ["/etc/sudoers.local.d"])


def test_linux_accounts_join_the_sources() -> None:
    passwd = parse_passwd((LIN / "etc_passwd.debian12").read_text())
    # CONSTRUCTED: the captured /etc/group with cloudsdk added to sudo, and an LDAP group in sudoers
    groups = parse_group((LIN / "etc_group.debian12").read_text().replace("sudo:x:27:", "sudo:x:27:cloudsdk"))
    status = parse_passwd_status("cloudsdk NP 2020-04-01 0 99999 7 -1\npostgres P 2020-04-01 0 30 7 -1\n")
    lastlog = parse_lastlog((LIN / "lastlog_ubuntu2204_excerpt.txt").read_text())
    grants = parse_sudoers({"/etc/sudoers.d/ldap": "%domain\\ admins ALL=(ALL) ALL\n#0 ALL=(ALL) ALL\n"})
    users, admins = linux_accounts(passwd, groups, (1000, 60000), status, lastlog, grants, NOW)
    by_name = {u.name: u for u in users}
    cloudsdk = by_name["cloudsdk"]
    assert (cloudsdk.kind, cloudsdk.password_status, cloudsdk.enabled) == ("human", "none", True)
    assert cloudsdk.password_age_days == 30 and cloudsdk.password_never_expires is True
    postgres = by_name["postgres"]  # uid 101 with /bin/bash: a system account, flagged not dropped
    assert postgres.kind == "system" and postgres.password_never_expires is False
    assert postgres.password_expires == datetime(2020, 5, 1, tzinfo=UTC)
    assert by_name["root"].last_logon == datetime(2024, 9, 3, 8, 18, 45, tzinfo=UTC)
    assert by_name["daemon"].password_status == "unknown" and by_name["daemon"].enabled is None
    assert by_name["daemon"].never_logged_on is None  # lastlog excerpt does not list it
    vias = {a.name: a.via for a in admins}
    assert vias["root"] == ["uid 0", "sudoers /etc/sudoers.d/ldap:2"]
    assert vias["cloudsdk"] == ["group sudo"]
    assert vias["%domain admins"] == ["sudoers /etc/sudoers.d/ldap:1"]  # not a local group: kept as is
    assert [u.uid for u in users] == sorted(u.uid for u in users if u.uid is not None)


def test_lastlog2_lists_only_users_that_logged_on() -> None:
    passwd = parse_passwd("root:x:0:0:root:/root:/bin/bash\nann:x:1000:1000::/home/ann:/bin/bash\n")
    lastlog = parse_lastlog("root             tty1     " + " " * 43 + "Tue Sep  3 08:18:45 +0000 2024\n")
    users, _ = linux_accounts(passwd, {}, (1000, 60000), None, lastlog, [], NOW, lastlog_lists_all=False)
    assert [u.never_logged_on for u in users] == [False, True]


def test_collect_from_a_copy_of_a_machine_needs_passwd_status_from_root(tmp_path: Path) -> None:
    """A replayed Linux bundle without the `passwd -S -a` output: the status is an error entry."""
    bundle = _bundle(tmp_path, [(["lastlog"], (LIN / "lastlog_ubuntu2204_excerpt.txt").read_text())], "linux")
    (bundle / "files" / "etc").mkdir(parents=True)
    shutil.copy(LIN / "etc_passwd.debian12", bundle / "files" / "etc" / "passwd")
    shutil.copy(LIN / "etc_group.debian12", bundle / "files" / "etc" / "group")
    shutil.copy(LIN / "sudoers.debian-packaging", bundle / "files" / "etc" / "sudoers")
    collected = collect_linux(ReplayContext(bundle))
    facts = collected.data
    assert isinstance(facts, AccountFacts)
    assert [e.source for e in collected.errors] == ["passwd -S -a"]
    assert all(u.password_status == "unknown" and u.enabled is None for u in facts.users)
    # %sudo is a local group without members; %admin is no local group (Ubuntu's), so the grant is named
    assert {(a.name, a.kind, a.source) for a in facts.administrators} == {
        ("root", "user", "local"),
        ("%admin", "group", "unknown"),
    }
    assert next(a for a in facts.administrators if a.name == "root").via == [
        "uid 0",
        "sudoers /etc/sudoers:25",
    ]
    assert facts.guest_enabled is None and "no guest account" in facts.note


def test_without_root_the_password_status_is_an_error_entry(tmp_path: Path) -> None:
    """`passwd -S -a` as a normal user fails ("passwd: Permission denied." on this Debian 12): said, not hidden."""

    class NotRoot(HostContext):
        def run(self, argv: list[str], *, timeout: float | None = None) -> CommandResult:
            if argv[0] == "passwd":
                return CommandResult(tuple(argv), 1, "", "passwd: Permission denied.\n")
            return CommandResult(tuple(argv), 0, "", "")

    (tmp_path / "etc").mkdir()
    shutil.copy(LIN / "etc_passwd.debian12", tmp_path / "etc" / "passwd")
    shutil.copy(LIN / "etc_group.debian12", tmp_path / "etc" / "group")
    collected = collect_linux(NotRoot(root=tmp_path))
    assert [(e.source, e.message) for e in collected.errors] == [
        ("passwd -S -a", "passwd: Permission denied.")
    ]
    facts = collected.data
    assert isinstance(facts, AccountFacts) and "needs root" in facts.note
    assert "passwd -S -a" not in facts.sources


@given(st.text(), st.text(max_size=40))
def test_linux_parsers_survive_garbage(text: str, path: str) -> None:
    parse_passwd(text)
    parse_group(text)
    parse_login_defs(text)
    parse_passwd_status(text)
    parse_lastlog(text)
    sudoers_includes(text)
    grants = parse_sudoers({path: text})
    linux_accounts(
        parse_passwd(text),
        parse_group(text),
        (1000, 60000),
        parse_passwd_status(text),
        parse_lastlog(text),
        grants,
        NOW,
    )


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "Name",
        "SID",
        "Enabled",
        "LastLogon",
        "PasswordLastSet",
        "PasswordExpires",
        "ADsPath",
        "Class",
        "PrincipalSource",
    ]
)


@given(
    _json,
    st.lists(st.dictionaries(_keys, _json, max_size=6), max_size=4),
    st.dictionaries(st.text(max_size=20), _json),
)
def test_windows_parsers_survive_garbage(
    value: Any, instances: list[dict[str, Any]], data: dict[str, Any]
) -> None:
    ps_datetime(value)
    for parse in (parse_group_members, parse_adsi_members):
        parse(value)
        parse(instances, MACHINE)
    parse_local_users(value, NOW)
    parse_local_users(instances, NOW)
    parse_win32_user_accounts(instances)
    parse_windows_accounts(data, NOW)
    parse_windows_accounts(
        {"LocalUser": instances, "LocalGroupMember": instances, "AdsiMember": instances, "Group": value}, NOW
    )


# -- live, on this machine -----------------------------------------------------------------
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("passwd"), reason="needs root and passwd"
)


@needs_root
def test_live_users_equal_getent_and_passwd_status(tmp_path: Path) -> None:
    collected = collect_linux(HostContext())
    facts = collected.data
    assert isinstance(facts, AccountFacts)
    assert collected.errors == []
    getent = subprocess.run(["getent", "passwd"], capture_output=True, text=True, check=True).stdout
    expected = {(line.split(":")[0], int(line.split(":")[2])) for line in getent.splitlines() if line}
    assert {(u.name, u.uid) for u in facts.users} == expected
    assert "root" in {a.name for a in facts.administrators}
    status = subprocess.run(["passwd", "-S", "-a"], capture_output=True, text=True, check=True).stdout
    tool = {c[0]: c[1] for c in (line.split() for line in status.splitlines()) if len(c) > 1}
    for user in facts.users:
        assert (user.password_status == "locked") == (tool[user.name] in ("L", "LK")), user.name
        assert (user.password_status == "none") == (tool[user.name] == "NP"), user.name
    assert facts.guest_enabled is None


@needs_root
def test_live_capture_holds_no_password_hash(tmp_path: Path) -> None:
    """The probe never reads /etc/shadow: a capture of it has no shadow file and replays the same facts."""
    ctx, recorder = capture(tmp_path / "bundle", "linux")
    live = collect_linux(ctx).data
    recorder.write_manifest("test")
    assert not (tmp_path / "bundle" / "files" / "etc" / "shadow").exists()
    everything = "".join(
        p.read_text(errors="replace") for p in (tmp_path / "bundle").rglob("*") if p.is_file()
    )
    assert "$6$" not in everything and "$y$" not in everything
    replayed = collect_linux(ReplayContext(tmp_path / "bundle")).data
    assert isinstance(replayed, AccountFacts) and isinstance(live, AccountFacts)
    assert [u.name for u in replayed.users] == [u.name for u in live.users]
    assert replayed.administrators == live.administrators
