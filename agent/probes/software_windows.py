"""Windows reader of the ``software`` section: Uninstall keys and Store (AppX) packages.

- the Uninstall keys of HKLM (64-bit and WOW6432Node) and of every loaded user hive
  (``reg query HKU``), exported with ``reg export`` and parsed by agent.regfile;
- the users NOT logged on: their profiles come from HKLM\\...\\ProfileList, their
  NTUSER.DAT is mounted with ``reg load HKU\\WatchpostScan_<n>``, its Uninstall key exported,
  and the hive always unloaded again (``reg unload``), all through the HostContext so a
  capture records every step; a hive in use elsewhere is an error entry, not a failure;
- the Store apps: ``Get-AppxPackage -AllUsers`` (administrator), else the current user's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from agent.host import HostContext, ReadError
from agent.probes.base import Collected
from agent.probes.software import _clip, _sorted
from agent.regfile import RegValue, decode_reg_file, parse_reg_export
from wire import SectionError
from wire.sections.software import SoftwareFacts, SoftwareItem

__all__ = [
    "APPX_ARGV",
    "PROFILE_LIST",
    "collect_windows",
    "items_from_appx",
    "items_from_uninstall_json",
    "items_from_uninstall_keys",
    "offline_profiles",
    "registry_date",
]

UNINSTALL = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
UNINSTALL_WOW64 = r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall"
PROFILE_LIST = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList"
#: Where an offline user's hive is mounted for the read (numbered in SID order).
MOUNT = "HKU\\WatchpostScan_{}"
_UPDATE_TYPES = {"security update", "update", "hotfix", "service pack", "update rollup"}
_USER_SID = re.compile(r"S-1-5-21-\d+(?:-\d+)+")
#: Get-AppxPackage -AllUsers needs administrator rights; without them, the current user's packages.
APPX_POWERSHELL = (
    "[Console]::OutputEncoding=[Text.Encoding]::UTF8; $scope='AllUsers'; $e=@(); "
    "try { $p=@(Get-AppxPackage -AllUsers -ErrorAction Stop) } catch { $e += 'Get-AppxPackage -AllUsers: ' + $_; "
    "$scope='CurrentUser'; try { $p=@(Get-AppxPackage -ErrorAction Stop) } catch { $e += 'Get-AppxPackage: ' + $_; "
    "$p=@() } }; $r=[ordered]@{Scope=$scope; User=[Environment]::UserName; "
    "Errors=@($e | ForEach-Object { [string]$_ }); Packages=@($p | Select-Object -Property Name,PackageFullName,"
    "Version,Publisher,InstallLocation,IsFramework,IsResourcePackage,NonRemovable,"
    "@{n='Architecture';e={[string]$_.Architecture}},@{n='SignatureKind';e={[string]$_.SignatureKind}},"
    "@{n='Users';e={@($_.PackageUserInformation | ForEach-Object { [string]$_.UserSecurityId.Username + '|' + "
    "[string]$_.UserSecurityId.Sid + '|' + [string]$_.InstallState })}})}; $r | ConvertTo-Json -Depth 4 -Compress"
)
#: The Store reader's command line (a capture bundle records it under this argv).
APPX_ARGV = [
    "powershell.exe",
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-Command",
    APPX_POWERSHELL,
]
# ProcessorArchitecture and SignatureKind enums, for PowerShell JSON that writes them as numbers.
_APPX_ARCH = {"0": "x86", "5": "arm", "9": "x64", "11": "neutral", "12": "arm64", "14": "x86a64"}
_SIGNATURE = {"0": "none", "1": "developer", "2": "enterprise", "3": "store", "4": "system"}
#: The publisher id of packages signed as part of Windows ("CN=Microsoft Windows, ...").
_WINDOWS_PUBLISHER_ID = "_cw5n1h2txyewy"


# -- Uninstall keys ------------------------------------------------------------------------
def registry_date(value: RegValue | None) -> str:
    """Uninstall InstallDate: ``20231015`` (also seen: ``2023-10-15``, ``10/15/2023``) -> YYYY-MM-DD."""
    text = str(value or "").strip()
    for pattern in ("%Y%m%d", "%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d"):
        try:
            parsed = datetime.strptime(text, pattern)
        except ValueError:
            continue
        if 1980 <= parsed.year <= 2100:
            return parsed.date().isoformat()
    return ""


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _item_from_values(
    values: Mapping[str, Any], key: str, *, scope: str, user: str, arch: str
) -> SoftwareItem | None:
    name = _clip(values.get("DisplayName"), 128)
    if not name:
        return None
    release = _clip(values.get("ReleaseType")).lower()
    parent = _clip(values.get("ParentDisplayName")) or _clip(values.get("ParentKeyName"))
    if release in _UPDATE_TYPES or parent or re.fullmatch(r"KB\d{6,8}", key or ""):
        kind = "update"
    elif _int_or_none(values.get("SystemComponent")) == 1:
        kind = "system_component"
    else:
        kind = "application"
    return SoftwareItem(
        name=name,
        version=_clip(values.get("DisplayVersion")),
        publisher=_clip(values.get("Publisher")),
        install_date=registry_date(values.get("InstallDate")),
        source="registry",
        scope="user" if scope == "user" else "machine",
        user=_clip(user),
        architecture=arch,
        kind=kind,
        parent=parent,
        install_location=_clip(values.get("InstallLocation"), 1024),
        size_kb=_int_or_none(values.get("EstimatedSize")),
        key=_clip(key),
    )


def items_from_uninstall_keys(
    keys: Mapping[str, Mapping[str, RegValue]], *, scope: str = "machine", user: str = "", arch: str = ""
) -> tuple[list[SoftwareItem], int]:
    """Software items from an exported Uninstall key; returns (items, keys without a DisplayName)."""
    items, unnamed = [], 0
    for path, values in keys.items():
        head, sep, key = path.rpartition("\\")
        if not sep or not head.lower().endswith("\\uninstall"):
            continue  # the Uninstall key itself, or a sub-subkey
        key_arch = arch or ("x86" if "\\wow6432node\\" in path.lower() else "")
        item = _item_from_values(values, key, scope=scope, user=user, arch=key_arch)
        if item is None:
            unnamed += 1
        else:
            items.append(item)
    return items, unnamed


def items_from_uninstall_json(data: Any, *, arch: str = "") -> tuple[list[SoftwareItem], int]:
    """PowerShell ``Get-ItemProperty <Uninstall>\\* | ConvertTo-Json`` output (a list, or one object)."""
    records = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    items, unnamed = [], 0
    for record in records:
        if not isinstance(record, dict):
            continue
        item = _item_from_values(
            record, _clip(record.get("PSChildName")), scope="machine", user="", arch=arch
        )
        if item is None:
            unnamed += 1
        else:
            items.append(item)
    return items, unnamed


# -- Store (AppX) packages -----------------------------------------------------------------
def _publisher(value: Any) -> str:
    """``CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, ...`` -> the O or CN part."""
    text = _clip(value)
    fields = {k.strip().upper(): v.strip() for k, _, v in (p.partition("=") for p in text.split(",")) if v}
    return fields.get("O") or fields.get("CN") or text


def _appx_users(users: Any) -> list[str]:
    names = []
    for entry in users if isinstance(users, list) else [users] if isinstance(users, str) else []:
        name, _, rest = str(entry).partition("|")
        sid, _, state = rest.partition("|")
        if "staged" not in state.lower():  # provisioned for the user, not installed yet
            names.append(name.strip() or sid.strip())
    return [n for n in names if n]


def items_from_appx(data: Any) -> list[SoftwareItem]:
    """Store packages from the reader's JSON, or a bare ``Get-AppxPackage | ConvertTo-Json`` list.

    Sample input (abridged)::

        {"Scope": "AllUsers", "User": "admin", "Errors": [],
         "Packages": [{"Name": "Microsoft.WindowsCalculator", "Version": "11.2311.0.0",
                       "PackageFullName": "Microsoft.WindowsCalculator_11.2311.0.0_x64__8wekyb3d8bbwe",
                       "Publisher": "CN=Microsoft Corporation, O=Microsoft Corporation, ...",
                       "Architecture": "X64", "IsFramework": false, "SignatureKind": "Store",
                       "Users": ["PC\\alice|S-1-5-21-...-1001|Installed"]}]}
    """
    if isinstance(data, dict) and "Packages" in data:
        packages, scope, current = data.get("Packages"), str(data.get("Scope") or ""), _clip(data.get("User"))
    else:
        packages, scope, current = data, "", ""
    items = []
    for package in packages if isinstance(packages, list) else [packages]:
        if not isinstance(package, dict) or not _clip(package.get("Name"), 128):
            continue
        full_name = _clip(package.get("PackageFullName"))
        signature = _clip(package.get("SignatureKind")).lower()
        signature = _SIGNATURE.get(signature, signature)
        if package.get("IsFramework") is True:
            kind = "framework"
        elif signature == "system" or (not signature and full_name.endswith(_WINDOWS_PUBLISHER_ID)):
            kind = "system_component"
        else:
            kind = "application"
        arch = _clip(package.get("Architecture")).lower()
        users = _appx_users(package.get("Users")) or ([current] if scope == "CurrentUser" and current else [])
        items.append(
            SoftwareItem(
                name=_clip(package.get("Name"), 128),
                version=_clip(package.get("Version")),
                publisher=_publisher(package.get("Publisher")),
                source="appx",
                scope="user",
                user=_clip(", ".join(users)),
                architecture=_APPX_ARCH.get(arch, arch),
                kind=kind,
                install_location=_clip(package.get("InstallLocation"), 1024),
                key=full_name,
            )
        )
    return items


# -- reading -------------------------------------------------------------------------------
def _export(ctx: HostContext, key: str) -> dict[str, dict[str, RegValue]]:
    return parse_reg_export(decode_reg_file(ctx.reg_export(key)))


def _loaded_user_hives(ctx: HostContext) -> list[str]:
    result = ctx.run(["reg", "query", "HKU"])
    return [
        line.strip().split("\\", 1)[1]
        for line in result.stdout.splitlines()
        if re.fullmatch(r"HKEY_USERS\\S-1-5-21-[\d-]+", line.strip())
    ]


def _expand(path: str) -> str:
    """ProfileImagePath is REG_EXPAND_SZ; user profiles hold plain paths, %SystemDrive% is C: here."""
    return re.sub(r"%systemdrive%", "C:", path, flags=re.IGNORECASE)


def offline_profiles(keys: Mapping[str, Mapping[str, RegValue]], loaded: set[str]) -> list[tuple[str, str]]:
    """(SID, profile folder) of the local and domain users (S-1-5-21-*) whose hive is not loaded.

    Sample input: the export of ProfileList, e.g. ``[HKEY_LOCAL_MACHINE\\...\\ProfileList\\
    S-1-5-21-1-2-3-1001]`` with ``"ProfileImagePath"=hex(2):43,00,3a,00,...`` (C:\\Users\\alice).
    """
    found = []
    for path, values in keys.items():
        sid = path.rpartition("\\")[2]
        folder = values.get("ProfileImagePath")
        if _USER_SID.fullmatch(sid) and sid not in loaded and isinstance(folder, str) and folder.strip():
            found.append((sid, _expand(folder.strip()).rstrip("\\")))
    return sorted(found)


def _read_offline_hive(
    ctx: HostContext, number: int, sid: str, folder: str
) -> tuple[list[SoftwareItem], int, list[SectionError]]:
    """Mount one user's NTUSER.DAT, export its Uninstall key, and always unmount it."""
    mount, hive = MOUNT.format(number), f"{folder}\\NTUSER.DAT"
    if "%" in hive:
        return [], 0, [SectionError(source=f"profile {sid}", message=f"cannot expand {folder}")]
    try:
        loaded = ctx.run(["reg", "load", mount, hive], timeout=60)
    except ReadError as exc:
        return [], 0, [SectionError(source=exc.source[:255], message=exc.message[:1000])]
    if loaded.returncode != 0:
        why = (loaded.stderr or loaded.stdout).strip()[:500] or "failed"
        message = f"{hive}: {why} (in use: the user is probably logged on elsewhere)"
        return [], 0, [SectionError(source=f"reg load {sid}", message=message[:1000])]
    errors: list[SectionError] = []
    items: list[SoftwareItem] = []
    unnamed = 0
    try:
        items, unnamed = items_from_uninstall_keys(
            _export(ctx, f"{mount}\\{UNINSTALL}"), scope="user", user=sid
        )
    except ReadError as exc:
        errors.append(SectionError(source=f"{exc.source} ({sid})"[-255:], message=exc.message[:1000]))
    finally:
        try:
            unloaded = ctx.run(["reg", "unload", mount], timeout=60)
            if unloaded.returncode != 0:
                message = f"{mount} stays loaded: {(unloaded.stderr or unloaded.stdout).strip()[:500]}"
                errors.append(SectionError(source=f"reg unload {sid}", message=message))
        except ReadError as exc:
            errors.append(SectionError(source=exc.source[:255], message=exc.message[:1000]))
    return items, unnamed, errors


def _appx(ctx: HostContext) -> tuple[list[SoftwareItem], str, str, list[SectionError]]:
    """Store packages, the source label, a note, and errors."""
    try:
        result = ctx.run(APPX_ARGV, timeout=120)
        data = json.loads(result.stdout.lstrip("\ufeff") or "null")
    except ReadError as exc:
        return [], "", "", [SectionError(source="powershell Get-AppxPackage", message=exc.message[:1000])]
    except ValueError as exc:
        return [], "", "", [SectionError(source="powershell Get-AppxPackage", message=f"not JSON: {exc}")]
    if not isinstance(data, dict):
        return [], "", "", [SectionError(source="powershell Get-AppxPackage", message="no packages object")]
    raw = data.get("Errors")
    messages: list[Any] = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
    errors = [SectionError(source="powershell Get-AppxPackage", message=str(m)[:1000]) for m in messages[:8]]
    if data.get("Scope") == "CurrentUser":
        user = _clip(data.get("User"))
        note = "Store apps of the current user only: Get-AppxPackage -AllUsers needs administrator rights."
        return items_from_appx(data), f"AppX current user {user}".strip(), note, errors
    return items_from_appx(data), "AppX all users", "", errors


def collect_windows(ctx: HostContext) -> Collected:
    """Every Uninstall key (machine, loaded users, users not logged on) and the Store apps."""
    items: list[SoftwareItem] = []
    errors: list[SectionError] = []
    sources: list[str] = []
    unnamed = 0
    plan = [
        (f"HKLM\\{UNINSTALL}", "machine", "", "HKLM 64-bit"),
        (f"HKLM\\{UNINSTALL_WOW64}", "machine", "x86", "HKLM 32-bit"),
    ]
    loaded: list[str] | None = None
    try:
        loaded = _loaded_user_hives(ctx)
        plan += [(f"HKU\\{sid}\\{UNINSTALL}", "user", "", f"HKU {sid}") for sid in loaded]
    except ReadError as exc:
        errors.append(SectionError(source=exc.source[:255], message=exc.message))
    for key, scope, arch, label in plan:
        try:
            keys = _export(ctx, key)
        except ReadError as exc:
            if scope == "machine" and arch == "x86":
                continue  # a 32-bit Windows has no WOW6432Node
            errors.append(SectionError(source=exc.source[:255], message=exc.message))
            continue
        found, missing = items_from_uninstall_keys(
            keys, scope=scope, user=label[4:] if scope == "user" else "", arch=arch
        )
        items += found
        unnamed += missing
        sources.append(label)
    if loaded is not None:  # which hives are loaded must be known before loading the others
        try:
            profiles = offline_profiles(_export(ctx, PROFILE_LIST), set(loaded))
        except ReadError as exc:
            errors.append(SectionError(source=exc.source[:255], message=exc.message))
            profiles = []
        for number, (sid, folder) in enumerate(profiles, start=1):
            found, missing, problems = _read_offline_hive(ctx, number, sid, folder)
            items += found
            unnamed += missing
            errors += problems
            if not any(p.source.startswith(("reg load", "reg export", "profile")) for p in problems):
                sources.append(f"HKU {sid} (not logged on)")
    store, label, store_note, problems = _appx(ctx)
    items += store
    errors += problems
    if label:
        sources.append(label)
    notes = [store_note] if store_note else []
    if not any(s.startswith(("HKLM", "HKU")) for s in sources):
        notes.insert(0, "no Uninstall key could be read")
    facts = SoftwareFacts(
        items=_sorted(items), unnamed_entries=unnamed, sources=sources[:64], note=" ".join(notes)
    )
    return Collected(facts, errors[:32])
