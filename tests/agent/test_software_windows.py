"""Probe ``software`` on Windows (A9-T3.1, A9-M3.1): the users who are not logged on (their
NTUSER.DAT loaded, read and always unloaded again) and the Store (AppX) packages, on real
`reg export` and Get-AppxPackage outputs replayed through capture bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agent.capture import ReplayContext
from agent.host import CommandResult
from agent.probes.software_windows import (
    APPX_ARGV,
    PROFILE_LIST,
    UNINSTALL,
    collect_windows,
    items_from_appx,
    offline_profiles,
)
from agent.regfile import parse_reg_export
from wire.sections.software import SoftwareFacts

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "windows"
MSSQL = FIX / "registry" / "glpi_mssql-Uninstall.reg"  # a real `reg export` of an Uninstall key
APPX_2019 = json.loads((FIX / "powershell" / "mondoo_appx_allusers_win2019.excerpt.json").read_text())
LOADED, OFFLINE, IN_USE = (
    "S-1-5-21-111-222-333-1001",
    "S-1-5-21-111-222-333-1002",
    "S-1-5-21-111-222-333-1003",
)


def _hex2(text: str) -> str:
    """A REG_EXPAND_SZ value as `reg export` writes it (UTF-16LE bytes, NUL-terminated)."""
    return "hex(2):" + ",".join(f"{b:02x}" for b in (text + "\x00").encode("utf-16-le"))


#: Constructed ProfileList export in the documented .reg layout (ProfileImagePath is REG_EXPAND_SZ):
#: the system profile, a loaded user, two users not logged on, and a broken ".bak" profile.
_PROFILES_KEY = "HKEY_LOCAL_MACHINE\\" + PROFILE_LIST[5:]
_USERS = r"%SystemDrive%\Users"


def _profile(sid: str, path: str) -> str:
    return f'[{_PROFILES_KEY}\\{sid}]\r\n"ProfileImagePath"={_hex2(path)}\r\n'


PROFILE_LIST_REG = "\r\n".join(
    [
        "Windows Registry Editor Version 5.00\r\n",
        f'[{_PROFILES_KEY}]\r\n"ProfilesDirectory"={_hex2(_USERS)}\r\n',
        _profile("S-1-5-18", r"%systemroot%\system32\config\systemprofile"),
        _profile(LOADED, r"C:\Users\admin"),
        _profile(OFFLINE, r"C:\Users\张伟"),
        _profile(IN_USE, r"%SystemDrive%\Users\lisi"),
        _profile("S-1-5-21-111-222-333-1004.bak", r"C:\Users\old"),
    ]
)
#: `reg query HKU` as Windows prints it (constructed): the loaded hives.
REG_QUERY_HKU = f"\r\nHKEY_USERS\\.DEFAULT\r\nHKEY_USERS\\S-1-5-19\r\nHKEY_USERS\\{LOADED}\r\nHKEY_USERS\\{LOADED}_Classes\r\n"


class RecordingReplay(ReplayContext):
    """A replay that remembers the order of the commands and exports asked for."""

    def __init__(self, bundle: Path) -> None:
        super().__init__(bundle)
        self.calls: list[str] = []

    def run(self, argv: list[str], *, timeout: float | None = None) -> CommandResult:
        self.calls.append(
            " ".join(argv[:2]) + (f" {argv[2]}" if argv[:2] != ["powershell.exe", "-NoProfile"] else "")
        )
        return super().run(argv, timeout=timeout)

    def reg_export(self, key: str) -> bytes:
        self.calls.append(f"reg export {key}")
        return super().reg_export(key)


def _bundle(
    root: Path, commands: list[tuple[list[str], int, str, str]], registry: list[tuple[str, bytes]]
) -> RecordingReplay:
    (root / "commands").mkdir(parents=True)
    (root / "registry").mkdir()
    entries, keys = [], []
    for number, (argv, code, out, err) in enumerate(commands, start=1):
        (root / "commands" / f"{number:04d}.out").write_text(out, encoding="utf-8")
        (root / "commands" / f"{number:04d}.err").write_text(err, encoding="utf-8")
        entries.append(
            {
                "argv": argv,
                "returncode": code,
                "stdout": f"commands/{number:04d}.out",
                "stderr": f"commands/{number:04d}.err",
            }
        )
    for number, (key, data) in enumerate(registry, start=1):
        (root / "registry" / f"{number:04d}.reg").write_bytes(data)
        keys.append({"key": key, "file": f"registry/{number:04d}.reg"})
    manifest = {"format": 1, "platform": "windows", "facts": {}, "commands": entries, "registry": keys}
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return RecordingReplay(root)


def _utf16(text: str) -> bytes:
    return b"\xff\xfe" + text.encode("utf-16-le")


def test_profiles_of_users_not_logged_on() -> None:
    profiles = offline_profiles(parse_reg_export(PROFILE_LIST_REG), {LOADED})
    # system and service profiles, loaded hives and ".bak" leftovers are not read again
    assert profiles == [(OFFLINE, "C:\\Users\\张伟"), (IN_USE, "C:\\Users\\lisi")]


def test_users_not_logged_on_are_read_from_their_hive_which_is_always_unloaded(tmp_path: Path) -> None:
    load_1 = ["reg", "load", "HKU\\WatchpostScan_1", "C:\\Users\\张伟\\NTUSER.DAT"]
    load_2 = ["reg", "load", "HKU\\WatchpostScan_2", "C:\\Users\\lisi\\NTUSER.DAT"]
    busy = "ERROR: The process cannot access the file because it is being used by another process.\r\n"
    packages = {"Scope": "AllUsers", "User": "admin", "Errors": [], "Packages": APPX_2019}
    ctx = _bundle(
        tmp_path / "b",
        [
            (["reg", "query", "HKU"], 0, REG_QUERY_HKU, ""),
            (load_1, 0, "The operation completed successfully.\r\n", ""),
            (["reg", "unload", "HKU\\WatchpostScan_1"], 0, "The operation completed successfully.\r\n", ""),
            (load_2, 1, "", busy),
            (APPX_ARGV, 0, json.dumps(packages), ""),
        ],
        [
            (f"HKLM\\{UNINSTALL}", MSSQL.read_bytes()),
            (PROFILE_LIST, _utf16(PROFILE_LIST_REG)),
            (f"HKU\\WatchpostScan_1\\{UNINSTALL}", MSSQL.read_bytes()),
        ],
    )
    collected = collect_windows(ctx)
    facts = collected.data
    assert isinstance(facts, SoftwareFacts)
    assert facts.sources == ["HKLM 64-bit", f"HKU {OFFLINE} (not logged on)", "AppX all users"]
    user_items = [i for i in facts.items if i.scope == "user" and i.source == "registry"]
    assert user_items and {i.user for i in user_items} == {OFFLINE}
    assert "Microsoft SQL Server 2017" in {i.name for i in user_items}
    # the hive was mounted, read and unmounted, in that order; the busy one was never unloaded
    offline_calls = [c for c in ctx.calls if "WatchpostScan" in c]
    assert offline_calls == [
        "reg load HKU\\WatchpostScan_1",
        f"reg export HKU\\WatchpostScan_1\\{UNINSTALL}",
        "reg unload HKU\\WatchpostScan_1",
        "reg load HKU\\WatchpostScan_2",
    ]
    errors = {e.source: e.message for e in collected.errors}
    assert (
        "in use" in errors[f"reg load {IN_USE}"]
        and "being used by another process" in errors[f"reg load {IN_USE}"]
    )
    assert any(LOADED in source for source in errors)  # the loaded user's export was not captured: said


def test_hive_is_unloaded_even_when_its_read_fails(tmp_path: Path) -> None:
    ctx = _bundle(
        tmp_path / "b",
        [
            (["reg", "query", "HKU"], 0, REG_QUERY_HKU, ""),
            (["reg", "load", "HKU\\WatchpostScan_1", "C:\\Users\\张伟\\NTUSER.DAT"], 0, "", ""),
            (["reg", "unload", "HKU\\WatchpostScan_1"], 1, "", "ERROR: Access is denied.\r\n"),
        ],
        [
            (
                PROFILE_LIST,
                _utf16(PROFILE_LIST_REG.split(f"[HKEY_LOCAL_MACHINE\\{PROFILE_LIST[5:]}\\{IN_USE}]")[0]),
            )
        ],
    )
    collected = collect_windows(ctx)
    assert ctx.calls[-2:] == ["reg unload HKU\\WatchpostScan_1", "powershell.exe -NoProfile"]
    sources = [e.source for e in collected.errors]
    assert f"reg export HKU\\WatchpostScan_1\\{UNINSTALL} ({OFFLINE})" in sources
    assert any("stays loaded" in e.message for e in collected.errors)


def test_store_packages_of_a_real_server_2019() -> None:
    # Get-AppxPackage -AllUsers | Select Name, PackageFullName, Architecture, Version (PS 5.1: enum as number)
    items = items_from_appx(APPX_2019)
    assert len(items) == len(APPX_2019) and {i.source for i in items} == {"appx"}
    kinds = {i.name: (i.kind, i.architecture, i.version) for i in items}
    # publisher id cw5n1h2txyewy = signed as part of Windows; 8wekyb3d8bbwe = Microsoft Store apps
    assert kinds["Microsoft.Windows.SecHealthUI"] == ("system_component", "neutral", "10.0.17763.1")
    assert kinds["Microsoft.AsyncTextService"] == ("application", "neutral", "10.0.17763.1")


def test_store_packages_kinds_users_and_chinese_names() -> None:
    """Constructed reader output (PowerShell 5.1 shape, enums written as text by the reader)."""
    data = {
        "Scope": "AllUsers",
        "User": "admin",
        "Errors": [],
        "Packages": [
            {
                "Name": "Microsoft.VCLibs.140.00",
                "Version": "14.0.33519.0",
                "PackageFullName": "Microsoft.VCLibs.140.00_14.0.33519.0_x64__8wekyb3d8bbwe",
                "Publisher": "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US",
                "IsFramework": True,
                "Architecture": "X64",
                "SignatureKind": "Store",
                "Users": ["PC\\admin|S-1-5-21-1-2-3-500|Installed"],
            },
            {
                "Name": "TencentWeChatLimited.微信",
                "Version": "3.9.12.0",
                "PackageFullName": "TencentWeChatLimited.微信_3.9.12.0_x64__abcdefghjkmnp",
                "Publisher": "CN=Tencent Technology (Shenzhen) Company Limited, O=腾讯科技(深圳)有限公司, C=CN",
                "IsFramework": False,
                "Architecture": 9,
                "SignatureKind": 3,
                "InstallLocation": "C:\\Program Files\\WindowsApps\\TencentWeChatLimited.微信_3.9.12.0_x64__abcdefghjkmnp",
                "Users": ["PC\\张伟|S-1-5-21-1-2-3-1002|Installed", "PC\\lisi|S-1-5-21-1-2-3-1003|Staged"],
            },
            {
                "Name": "Microsoft.Windows.ShellExperienceHost",
                "Version": "10.0.22621.1",
                "SignatureKind": "System",
            },
        ],
    }
    items = {i.name: i for i in items_from_appx(data)}
    vclibs, wechat = items["Microsoft.VCLibs.140.00"], items["TencentWeChatLimited.微信"]
    assert (vclibs.kind, vclibs.architecture, vclibs.publisher, vclibs.user) == (
        "framework",
        "x64",
        "Microsoft Corporation",
        "PC\\admin",
    )
    assert (wechat.kind, wechat.architecture, wechat.publisher) == (
        "application",
        "x64",
        "腾讯科技(深圳)有限公司",
    )
    assert wechat.user == "PC\\张伟" and wechat.scope == "user"  # staged for lisi: not installed there
    assert wechat.install_location.endswith("微信_3.9.12.0_x64__abcdefghjkmnp")
    assert items["Microsoft.Windows.ShellExperienceHost"].kind == "system_component"


def test_store_packages_of_the_current_user_only_without_admin(tmp_path: Path) -> None:
    output = {
        "Scope": "CurrentUser",
        "User": "zhangwei",
        "Errors": ["Get-AppxPackage -AllUsers: Access is denied."],
        "Packages": APPX_2019[:2],
    }
    ctx = _bundle(tmp_path / "b", [(APPX_ARGV, 0, json.dumps(output), "")], [])
    collected = collect_windows(ctx)
    facts = collected.data
    assert isinstance(facts, SoftwareFacts)
    assert facts.sources == ["AppX current user zhangwei"]
    assert {i.user for i in facts.items} == {"zhangwei"}
    assert "current user only" in facts.note and "no Uninstall key" in facts.note
    assert any("Access is denied" in e.message for e in collected.errors)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=6),
    max_leaves=20,
)
_FIELDS = st.sampled_from(
    [
        "Name",
        "Version",
        "PackageFullName",
        "Publisher",
        "IsFramework",
        "Architecture",
        "SignatureKind",
        "Users",
    ]
)


@given(_JSONISH | st.lists(st.dictionaries(_FIELDS, _JSONISH), max_size=3), st.text(), st.text())
def test_parsers_survive_garbage(data: Any, text: str, sid: str) -> None:
    items_from_appx(data)
    items_from_appx({"Scope": "CurrentUser", "User": text, "Packages": data})
    offline_profiles(parse_reg_export(text), {sid})
    offline_profiles({f"X\\{sid}": {"ProfileImagePath": text}}, set())


def test_docs_show_the_exact_commands() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs/probes/software.md").read_text(encoding="utf-8")
    assert APPX_ARGV[-1] in doc and "reg load HKU\\WatchpostScan_<n>" in doc and PROFILE_LIST in doc
