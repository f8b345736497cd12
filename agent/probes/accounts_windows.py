"""Windows reader of the ``accounts`` section: one PowerShell call, four guarded parts.

1. the name of the administrators group, looked up by its well-known SID S-1-5-32-544
   (the name is localised: Administrateurs, Administratoren...);
2. local users: ``Get-LocalUser`` (PowerShell 5.1+); where it is missing (Windows 7/8.1 with
   PowerShell 3/4, or a 32-bit PowerShell on 64-bit Windows) ``Win32_UserAccount`` with
   LocalAccount=True, which has no last logon and no password date;
3. administrators: ``Get-LocalGroupMember -SID S-1-5-32-544``; it throws (error 1789, "Failed to
   compare two elements in the array") when the group holds an orphaned SID, and then the
   members are read through ADSI (``WinNT://PC/<group>,group``), which lists orphans as SIDs.

The parsers take the decoded JSON (PowerShell 5.1 or 7 shapes) and wmic /format:list
instances alike.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.host import HostContext, ReadError
from agent.probes.accounts import age_days, assemble, clip, scan_time
from agent.probes.base import Collected
from agent.wmi import as_instances
from wire import SectionError
from wire.sections.accounts import AccountFacts, AdminMember, LocalUser, MemberSource

__all__ = [
    "ADMINISTRATORS_SID",
    "POWERSHELL",
    "POWERSHELL_ARGV",
    "collect_windows",
    "parse_adsi_members",
    "parse_group_members",
    "parse_local_users",
    "parse_win32_user_accounts",
    "parse_windows_accounts",
    "ps_datetime",
]

ADMINISTRATORS_SID = "S-1-5-32-544"
#: One PowerShell call (Windows PowerShell 5.1; PowerShell 3+ for the fallbacks), UTF-8 output.
POWERSHELL = (
    "[Console]::OutputEncoding=[Text.Encoding]::UTF8; $ErrorActionPreference='Stop'; "
    "$r=@{Computer=$env:COMPUTERNAME}; "
    "try { $r.Group=(New-Object Security.Principal.SecurityIdentifier('S-1-5-32-544'))"
    ".Translate([Security.Principal.NTAccount]).Value } catch { $r.GroupError=$_.Exception.Message }; "
    "try { $r.LocalUser=@(Get-LocalUser | Select-Object Name,@{n='SID';e={$_.SID.Value}},Enabled,LastLogon,"
    "PasswordLastSet,PasswordExpires,PasswordRequired,UserMayChangePassword,AccountExpires,Description,FullName) } "
    "catch { $r.LocalUserError=$_.Exception.Message; "
    "try { $r.Win32_UserAccount=@(Get-CimInstance -ClassName Win32_UserAccount -Filter 'LocalAccount=True' | "
    "Select-Object Name,SID,Disabled,Lockout,PasswordExpires,PasswordRequired,PasswordChangeable,Description,"
    "FullName) } catch { $r.Win32_UserAccountError=$_.Exception.Message } }; "
    "try { $r.LocalGroupMember=@(Get-LocalGroupMember -SID S-1-5-32-544 | Select-Object Name,"
    "@{n='SID';e={$_.SID.Value}},ObjectClass,@{n='PrincipalSource';e={[string]$_.PrincipalSource}}) } "
    "catch { $r.LocalGroupMemberError=$_.Exception.Message; "
    "try { $n='Administrators'; if ($r.Group) { $n=($r.Group -split '\\\\')[-1] }; "
    "$g=[ADSI]('WinNT://'+$env:COMPUTERNAME+'/'+$n+',group'); "
    "$r.AdsiMember=@($g.psbase.Invoke('Members') | ForEach-Object { $m=$_; $t=$m.GetType(); $s=''; "
    "try { $s=(New-Object Security.Principal.SecurityIdentifier("
    "$t.InvokeMember('objectSid','GetProperty',$null,$m,$null),0)).Value } catch { }; "
    "[pscustomobject]@{ADsPath=$t.InvokeMember('ADsPath','GetProperty',$null,$m,$null);"
    "Class=$t.InvokeMember('Class','GetProperty',$null,$m,$null);SID=$s} }) } "
    "catch { $r.AdsiMemberError=$_.Exception.Message } }; "
    "$r | ConvertTo-Json -Depth 4 -Compress"
)
#: The reader's command line (a capture bundle records it under this argv).
POWERSHELL_ARGV = [
    "powershell.exe",
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-Command",
    POWERSHELL,
]

_PS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_SID = re.compile(r"^S-1-\d+(-\d+)+$", re.I)
_WELL_KNOWN_RID = {"500": "administrator", "501": "guest", "503": "default_account", "504": "wdag_utility"}
_SOURCES: dict[str, MemberSource] = {
    "0": "unknown",
    "unknown": "unknown",
    "1": "local",
    "local": "local",
    "2": "domain",
    "activedirectory": "domain",
    "3": "azure_ad",
    "azuread": "azure_ad",
    "4": "microsoft_account",
    "microsoftaccount": "microsoft_account",
}


def ps_datetime(value: Any) -> datetime | None:
    """A PowerShell date as UTC: ``/Date(1587041759064)/`` (5.1), ISO 8601 (7), ``{"value": ..}``.

    The 1601-01-01 "never" (FILETIME 0) and anything unreadable give None.
    """
    if isinstance(value, dict):
        value = value.get("value")
    text = str(value or "").strip()
    if not text:
        return None
    try:
        if match := _PS_DATE.match(text):
            parsed = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)  # PS 7 writes an offset; a bare time is taken as UTC
            parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return parsed if 1601 < parsed.year < 9999 else None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text == "true" else False if text == "false" else None


def _sid(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("Value") or value.get("value")
    text = clip(value)
    return text if _SID.match(text) else ""


def _well_known(sid: str) -> str:
    rid = sid.rsplit("-", 1)[-1]
    return _WELL_KNOWN_RID.get(rid, "") if sid.upper().startswith("S-1-5-21-") else ""


def _user(name: str, sid: str, **facts: Any) -> LocalUser | None:
    if not name:
        return None
    well_known = _well_known(sid)
    kind = "system" if well_known in ("default_account", "wdag_utility") else "human"
    return LocalUser.model_validate(
        {"name": name[:128], "sid": sid, "kind": kind, "well_known": well_known, **facts}
    )


def parse_local_users(instances: Any, now: datetime) -> list[LocalUser]:
    """Users from ``Get-LocalUser | ConvertTo-Json`` (PS 5.1 or 7; SID as string or object).

    Sample (PS 5.1)::

        [{"Name": "chris", "Enabled": true, "LastLogon": "/Date(1587041759064)/",
          "PasswordLastSet": "/Date(1586981519962)/", "PasswordExpires": null,
          "PasswordRequired": true, "SID": {"Value": "S-1-5-21-...-500"}, ...}]
    """
    users = []
    for item in as_instances(instances):
        last_set = ps_datetime(item.get("PasswordLastSet"))
        expires = ps_datetime(item.get("PasswordExpires"))
        last_logon = ps_datetime(item.get("LastLogon"))
        user = _user(
            clip(item.get("Name"), 128),
            _sid(item.get("SID")),
            full_name=clip(item.get("FullName")),
            description=clip(item.get("Description"), 1024),
            enabled=_bool(item.get("Enabled")),
            password_required=_bool(item.get("PasswordRequired")),
            password_last_set=last_set,
            password_age_days=age_days(last_set, now),
            password_never_expires=expires is None,  # no date: the flag is set or the policy has no maximum
            password_expires=expires,
            user_may_change_password=_bool(item.get("UserMayChangePassword")),
            account_expires=ps_datetime(item.get("AccountExpires")),
            last_logon=last_logon,
            never_logged_on=last_logon is None,
        )
        if user:
            users.append(user)
    return users


def parse_win32_user_accounts(instances: Any) -> list[LocalUser]:
    """Users from ``Win32_UserAccount`` (CIM JSON or ``wmic useraccount list full``).

    Sample (wmic /format:list)::

        Disabled=TRUE
        Lockout=FALSE
        Name=Invité
        PasswordChangeable=FALSE
        PasswordExpires=FALSE
        PasswordRequired=FALSE
        SID=S-1-5-21-1968258186-1579205017-2869952045-501
    """
    users = []
    for item in as_instances(instances):
        if _bool(item.get("LocalAccount")) is False:
            continue
        disabled, expires = _bool(item.get("Disabled")), _bool(item.get("PasswordExpires"))
        user = _user(
            clip(item.get("Name"), 128),
            _sid(item.get("SID")),
            full_name=clip(item.get("FullName")),
            description=clip(item.get("Description"), 1024),
            enabled=None if disabled is None else not disabled,
            locked_out=_bool(item.get("Lockout")),
            password_required=_bool(item.get("PasswordRequired")),
            password_never_expires=None if expires is None else not expires,
            user_may_change_password=_bool(item.get("PasswordChangeable")),
        )
        if user:
            users.append(user)
    return users


def _source(sid: str, machine: str, declared: MemberSource = "unknown") -> MemberSource:
    if declared != "unknown":
        return declared
    upper = sid.upper()
    if machine and upper.startswith(machine.upper() + "-"):
        return "local"
    if upper.startswith("S-1-12-1-"):
        return "azure_ad"
    if upper.startswith("S-1-5-21-"):
        return "domain"
    return "well_known" if upper else "unknown"


def _member(name: str, sid: str, kind: str, source: MemberSource, group: str) -> AdminMember:
    if not name or _SID.match(name):  # Windows could not name it: the account is gone
        name, source = name or sid, "orphaned"
    kind = kind.lower() if kind.lower() in ("user", "group") else "unknown"
    return AdminMember.model_validate(
        {"name": clip(name), "sid": sid, "kind": kind, "source": source, "via": [clip(f"{group} group")]}
    )


def parse_group_members(
    instances: Any, machine_sid: str = "", group: str = "Administrators"
) -> list[AdminMember]:
    """Members from ``Get-LocalGroupMember -SID S-1-5-32-544`` JSON.

    Sample: ``[{"Name": "CONTOSOPC\\\\Administrator", "SID": "S-1-5-21-...-500", "ObjectClass": "User",
    "PrincipalSource": "Local"}]`` (PrincipalSource as a name, or 0-4 when not cast to string).
    """
    members = []
    for item in as_instances(instances):
        sid = _sid(item.get("SID"))
        declared = _SOURCES.get(str(item.get("PrincipalSource") or "").strip().lower(), "unknown")
        name = clip(item.get("Name"))
        if not name and not sid:
            continue
        members.append(
            _member(name, sid, str(item.get("ObjectClass") or ""), _source(sid, machine_sid, declared), group)
        )
    return members


def parse_adsi_members(
    instances: Any, machine_sid: str = "", group: str = "Administrators"
) -> list[AdminMember]:
    """Members read through ADSI: ``{"ADsPath": "WinNT://CORP/jdoe", "Class": "User", "SID": "S-1-5-21-..."}``.

    ADsPath forms: ``WinNT://WORKGROUP/PC/name`` (local), ``WinNT://CORP/name`` (domain or
    NT AUTHORITY), ``WinNT://S-1-5-21-...`` (an orphaned SID Windows cannot name).
    """
    members = []
    for item in as_instances(instances):
        path = clip(item.get("ADsPath")).removeprefix("WinNT://")
        parts = [p for p in path.split("/") if p]
        sid = _sid(item.get("SID")) or (parts[0] if len(parts) == 1 and _SID.match(parts[0]) else "")
        name = "\\".join(parts[-2:]) if len(parts) > 1 else (parts[0] if parts else "")
        if not name and not sid:
            continue
        members.append(_member(name, sid, str(item.get("Class") or ""), _source(sid, machine_sid), group))
    return members


def _machine_sid(users: list[LocalUser]) -> str:
    prefixes = Counter(u.sid.rsplit("-", 1)[0] for u in users if u.sid.upper().startswith("S-1-5-21-"))
    return prefixes.most_common(1)[0][0] if prefixes else ""


def parse_windows_accounts(data: Mapping[str, Any], now: datetime) -> tuple[AccountFacts, list[SectionError]]:
    """AccountFacts from the reader's JSON object (keys LocalUser / Win32_UserAccount, LocalGroupMember /
    AdsiMember, Group, Computer and the *Error messages of the parts that failed)."""
    errors: list[SectionError] = []
    notes: list[str] = []
    sources: list[str] = []
    group_full = clip(data.get("Group")) or "Administrators"
    group = group_full.rsplit("\\", 1)[-1]
    if "LocalUser" in data:
        users, sources = parse_local_users(data.get("LocalUser"), now), ["Get-LocalUser"]
    else:
        users = parse_win32_user_accounts(data.get("Win32_UserAccount"))
        if "Win32_UserAccount" in data:
            sources = ["Win32_UserAccount"]
            notes.append(
                f"Get-LocalUser unavailable ({clip(data.get('LocalUserError'), 200)}); Win32_UserAccount used: "
                "no last logon or password age"
            )
        else:
            message = (
                f"{clip(data.get('LocalUserError'), 400)}; {clip(data.get('Win32_UserAccountError'), 400)}"
            )
            errors.append(
                SectionError(source="Get-LocalUser / Win32_UserAccount", message=clip(message, 1024))
            )
    machine = _machine_sid(users)
    if "LocalGroupMember" in data:
        admins = parse_group_members(data.get("LocalGroupMember"), machine, group)
        sources.append(f"Get-LocalGroupMember -SID {ADMINISTRATORS_SID}")
    elif "AdsiMember" in data:
        admins = parse_adsi_members(data.get("AdsiMember"), machine, group)
        sources.append("ADSI WinNT group members")
        notes.append(
            f"Get-LocalGroupMember failed ({clip(data.get('LocalGroupMemberError'), 200)}); read via ADSI"
        )
    else:
        admins = []
        message = f"{clip(data.get('LocalGroupMemberError'), 400)}; {clip(data.get('AdsiMemberError'), 400)}"
        errors.append(SectionError(source=f"members of {ADMINISTRATORS_SID}", message=clip(message, 1024)))
    if data.get("GroupError"):
        errors.append(
            SectionError(source=f"name of {ADMINISTRATORS_SID}", message=clip(data.get("GroupError"), 1024))
        )
    computer = clip(data.get("Computer")).lower()
    keys = {a.sid for a in admins if a.sid}
    keys |= {
        a.name.lower().split("\\", 1)[1]
        for a in admins
        if computer and a.name.lower().startswith(computer + "\\")
    }
    guests = [u for u in users if u.well_known == "guest"]
    facts = assemble(
        users,
        admins,
        admin_keys=keys,
        administrators_group=clip(data.get("Group")),
        guest_enabled=guests[0].enabled if guests else None,
        sources=sources,
        notes=notes,
    )
    return facts.model_copy(update={"users": sorted(facts.users, key=lambda u: u.name.lower())}), errors


def collect_windows(ctx: HostContext) -> Collected:
    result = ctx.run(POWERSHELL_ARGV, timeout=120)
    if result.returncode != 0 and not result.stdout.strip():
        raise ReadError("powershell accounts", (result.stderr or "failed").strip()[:500])
    try:
        data = json.loads(result.stdout.lstrip("\ufeff") or "{}")
    except ValueError as exc:
        raise ReadError("powershell accounts", f"output is not JSON: {exc}") from exc
    facts, errors = parse_windows_accounts(data if isinstance(data, dict) else {}, scan_time(ctx))
    return Collected(facts, errors)
