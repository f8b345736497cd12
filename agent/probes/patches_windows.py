"""Windows reader of the ``patches`` section: one PowerShell call, one try/catch per part.

Parts: Win32_QuickFixEngineering (installed hotfixes), the Windows Update history
(Microsoft.Update.Session QueryHistory), pending updates (IUpdateSearcher.Search, in a
background job with its own timeout since it asks the WSUS/Windows Update server), the
Windows Update agent's last search/install times, the reboot-pending flags in the registry,
and the Windows Update policy. A part that fails is named in ``Errors``; the rest stays.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from agent.host import HostContext, ReadError
from agent.probes.base import Collected
from agent.wmi import as_instances
from wire import SectionError
from wire.sections.patches import InstalledUpdate, PatchFacts, PendingUpdate, UpdateHistoryEntry

__all__ = [
    "PATCHES_ARGV",
    "POWERSHELL",
    "collect_windows",
    "parse_installed_on",
    "parse_pending_updates",
    "parse_qfe",
    "parse_update_history",
    "parse_windows_patches",
    "parse_wu_time",
]

#: Seconds the pending-update search may take inside the script; the whole call gets more.
SEARCH_TIMEOUT = 90
SECURITY_UPDATES = "0fa1201d-4330-4fa8-8ae9-b877473b6441"
DEFINITION_UPDATES = "e0789628-ce08-4437-be74-2495b842f43b"
CLASSIFICATIONS = {
    SECURITY_UPDATES: "Security Updates",
    DEFINITION_UPDATES: "Definition Updates",
    "e6cf1350-c01b-414d-a61f-263d14d133b4": "Critical Updates",
    "cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83": "Updates",
    "28bc880e-0592-4cbf-8f95-c79b17911d5f": "Update Rollups",
    "68c5b0a3-d1a6-4553-ae49-01d3a7827828": "Service Packs",
    "b54e7d24-7add-428f-8b75-90a396fa584f": "Feature Packs",
    "ebfc1fc5-71a4-4f7b-9aca-3b9a503104a0": "Drivers",
    "b4832bd8-e735-4761-8daf-37f882276dab": "Tools",
    "3689bdc8-b205-4af4-8d4a-a63924c5e9d5": "Upgrades",
}
_DATE = "function D($d){ if($d){ ([datetime]$d).ToString('yyyy-MM-dd''T''HH:mm:ss''Z''',[Globalization.CultureInfo]::InvariantCulture) } }; "
_CATS = "@(@($_.Categories) | ForEach-Object { @{Name=$_.Name; Id=$_.CategoryID; Type=$_.Type} })"
POWERSHELL = (
    "[Console]::OutputEncoding=[Text.Encoding]::UTF8; $ErrorActionPreference='Stop'; $r=@{Errors=@{}}; "
    + _DATE
    +
    # installed hotfixes: InstalledOn raw (text, or FILETIME hex before Windows 7)
    "try { $r.QFE=@(Get-CimInstance -ClassName Win32_QuickFixEngineering | ForEach-Object { @{HotFixID=$_.HotFixID; "
    "Description=$_.Description; InstalledOn=[string]$_.InstalledOn; InstalledBy=$_.InstalledBy; "
    "ServicePackInEffect=$_.ServicePackInEffect} }) } catch { $r.Errors.QFE=[string]$_ }; "
    # Windows Update history, newest first, at most 500 entries
    "try { $q=(New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher(); $n=$q.GetTotalHistoryCount(); "
    "$r.HistoryTotal=$n; $r.History=@(if($n -gt 0){ $q.QueryHistory(0,[Math]::Min($n,500)) | ForEach-Object { "
    "$c=$null; try { $c="
    + _CATS
    + " } catch {}; @{Title=$_.Title; Date=(D $_.Date); Operation=[int]$_.Operation; "
    "ResultCode=[int]$_.ResultCode; Categories=$c} } }) } catch { $r.Errors.History=[string]$_ }; "
    # pending updates: asks the update server, so in a job that is stopped after SEARCH_TIMEOUT seconds
    "try { $j=Start-Job -ScriptBlock { $x=(New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher()"
    ".Search('IsInstalled=0 and IsHidden=0 and Type=''Software'''); ConvertTo-Json -Depth 4 -Compress -InputObject "
    "@(@($x.Updates) | ForEach-Object { @{Title=$_.Title; KB=@($_.KBArticleIDs); MsrcSeverity=$_.MsrcSeverity; "
    "RebootRequired=$_.RebootRequired; Categories=" + _CATS + "} }) }; "
    f"if(Wait-Job $j -Timeout {SEARCH_TIMEOUT}){{ $o=Receive-Job $j -ErrorVariable je -ErrorAction SilentlyContinue; "
    "if($je){ $r.Errors.Pending=[string]$je[0] } else { $r.Pending=[string]$o } } "
    f"else {{ $r.Errors.Pending='update search timed out after {SEARCH_TIMEOUT} s' }}; Remove-Job $j -Force }} "
    "catch { $r.Errors.Pending=[string]$_ }; "
    "try { $a=(New-Object -ComObject Microsoft.Update.AutoUpdate).Results; $r.AutoUpdate=@{"
    "LastSearchSuccessDate=(D $a.LastSearchSuccessDate); LastInstallationSuccessDate=(D $a.LastInstallationSuccessDate)} "
    "} catch { $r.Errors.AutoUpdate=[string]$_ }; "
    # reboot pending: which flag says so
    "try { $b=@{}; $b.CBSRebootPending=Test-Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based "
    "Servicing\\RebootPending'; $b.WURebootRequired=Test-Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\"
    "WindowsUpdate\\Auto Update\\RebootRequired'; $p=(Get-ItemProperty 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\"
    "Session Manager' -ErrorAction SilentlyContinue).PendingFileRenameOperations; "
    "$b.PendingFileRenameOperations=@($p | Where-Object { $_ }).Count; "
    "try { $b.SystemInfoRebootRequired=(New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired } catch {}; "
    "$r.Reboot=$b } catch { $r.Errors.Reboot=[string]$_ }; "
    "try { $au=Get-ItemProperty 'HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU' -ErrorAction "
    "SilentlyContinue; $wu=Get-ItemProperty 'HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate' "
    "-ErrorAction SilentlyContinue; $r.Policy=@{NoAutoUpdate=$au.NoAutoUpdate; AUOptions=$au.AUOptions; "
    "UseWUServer=$au.UseWUServer; WUServer=$wu.WUServer} } catch { $r.Errors.Policy=[string]$_ }; "
    "$r | ConvertTo-Json -Depth 6 -Compress"
)
#: The reader's command line (a capture bundle records it under this argv).
PATCHES_ARGV = [
    "powershell.exe",
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-Command",
    POWERSHELL,
]

_KB = re.compile(r"KB\s?(\d{5,8})", re.I)
_PS_DATE = re.compile(r"/Date\((-?\d+)\)/")
_DMY = re.compile(r"(\d{1,4})[/.\-年](\d{1,2})[/.\-月](\d{1,4})")
_DEFINITION = re.compile(r"security intelligence update|definition update|定义更新|安全智能更新|病毒", re.I)
_RESULTS: dict[
    int, Literal["not_started", "in_progress", "succeeded", "succeeded_with_errors", "failed", "aborted"]
] = {
    0: "not_started",
    1: "in_progress",
    2: "succeeded",
    3: "succeeded_with_errors",
    4: "failed",
    5: "aborted",
}


def _clip(value: object, limit: int = 255) -> str:
    return str(value if value is not None else "").replace("\x00", "").strip()[:limit]


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def parse_installed_on(value: Any) -> date | None:
    """QFE InstalledOn in every shape Windows gives it; None when there is no date.

    Samples: ``3/14/2023`` (Windows 7+, invariant M/d/yyyy), ``2023/3/14`` (zh-CN),
    ``01d9566f3c2a0000`` (FILETIME as 16 hex digits, Vista and older),
    ``{"value": "/Date(1599609600000)/", "DateTime": "Wednesday, September 9, 2020 ..."}``
    (Get-HotFix through PowerShell 5.1). The date is a local midnight; a ``/Date(ms)/`` of
    it is rounded to the nearest day so that UTC+8 machines keep their date.
    """
    if isinstance(value, dict):
        return parse_installed_on(value.get("value")) or parse_installed_on(value.get("DateTime"))
    text = _clip(value)
    if not text:
        return None
    try:
        if (match := _PS_DATE.search(text)) is not None:
            day = datetime(1970, 1, 1) + timedelta(milliseconds=int(match.group(1)) + 12 * 3600 * 1000)
            found = day.date()
        elif re.fullmatch(r"[0-9A-Fa-f]{16}", text):
            found = (datetime(1601, 1, 1) + timedelta(microseconds=int(text, 16) // 10)).date()
        elif re.fullmatch(r"\d{8}", text):
            found = date(int(text[:4]), int(text[4:6]), int(text[6:]))
        elif (dmy := _DMY.search(text)) is not None:
            a, b, c = dmy.groups()
            if len(a) == 4:
                found = date(int(a), int(b), int(c))
            elif len(c) == 4 and int(a) > 12:
                found = date(int(c), int(b), int(a))
            elif len(c) == 4:
                found = date(int(c), int(a), int(b))
            else:
                return None
        elif (long := re.search(r"([A-Z][a-z]+) (\d{1,2}), (\d{4})", text)) is not None:
            found = datetime.strptime(" ".join(long.groups()), "%B %d %Y").date()
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return found if found.year > 1601 else None


def parse_wu_time(value: Any) -> datetime | None:
    """A Windows Update agent time: ``2024-03-12T09:15:02Z`` (the reader's format, UTC),
    ``/Date(1710234902000)/`` or an ISO time; 1601 ("never") is None."""
    text = _clip(value)
    try:
        if (match := _PS_DATE.search(text)) is not None:
            when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))
        else:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    return when if when.year > 1601 else None


def parse_qfe(instances: Any) -> list[InstalledUpdate]:
    """Installed hotfixes from Win32_QuickFixEngineering (PowerShell JSON or ``wmic /format:list``).

    Sample (wmic, Windows XP: the KB number sits in ServicePackInEffect)::

        HotFixID=File 1
        InstalledOn=
        ServicePackInEffect=KB2079403
    """
    found: dict[str, InstalledUpdate] = {}
    for item in as_instances(instances):
        hotfix = _clip(item.get("HotFixID") or item.get("HotFixId"))
        spie = _clip(item.get("ServicePackInEffect"))
        ident = hotfix if _KB.search(hotfix) or not _KB.search(spie) else spie
        if not ident:
            continue
        description = _clip(item.get("Description"))
        day = parse_installed_on(item.get("InstalledOn"))
        lowered = description.lower()
        found.setdefault(
            ident.upper() if ident.upper().startswith("KB") else ident,
            InstalledUpdate(
                id=ident.upper() if ident.upper().startswith("KB") else ident,
                classification=description,
                security=("security" in lowered or "安全" in lowered) if description else None,
                installed_on=day.isoformat() if day else "",
                installed_by=_clip(item.get("InstalledBy")),
                source="qfe",
            ),
        )
    return sorted(found.values(), key=lambda u: (u.installed_on, u.id), reverse=True)


def _classification(categories: Any, ids: Any = None) -> tuple[str, set[str]]:
    names, guids = [], set()
    for cat in categories if isinstance(categories, list) else []:
        if isinstance(cat, dict):
            guid = _clip(cat.get("Id") or cat.get("CategoryID")).lower()
            guids.add(guid)
            if str(cat.get("Type", "")).lower() == "updateclassification" or guid in CLASSIFICATIONS:
                names.append(_clip(cat.get("Name")) or CLASSIFICATIONS.get(guid, ""))
        elif isinstance(cat, str):
            names.append(_clip(cat))
    guids |= {_clip(g).lower() for g in (ids if isinstance(ids, list) else [])}
    names += [
        CLASSIFICATIONS[g] for g in sorted(guids) if g in CLASSIFICATIONS and CLASSIFICATIONS[g] not in names
    ]
    return ", ".join(n for n in names if n)[:255], guids


def _security(name: str, guids: set[str], title: str) -> bool | None:
    if SECURITY_UPDATES in guids or "security updates" in name.lower() or "安全更新" in name:
        return True
    if re.search(r"security update|安全更新", title, re.I):
        return True
    return False if name else None


def parse_update_history(entries: Any) -> list[UpdateHistoryEntry]:
    """Windows Update history from the reader's JSON (one object per IUpdateHistoryEntry).

    Sample: ``{"Title": "2024-03 Cumulative Update for Windows 11 ... (KB5035853)",
    "Date": "2024-03-13T02:11:40Z", "Operation": 1, "ResultCode": 2, "Categories": [...]}``
    """
    out = []
    for item in as_instances(entries):
        title = _clip(item.get("Title"), 1024)
        if not title:
            continue  # WUA keeps entries without a title for internal operations
        name, guids = _classification(item.get("Categories"))
        kb = _KB.search(title)
        op = _int(item.get("Operation"))
        result = _int(item.get("ResultCode"))
        out.append(
            UpdateHistoryEntry(
                title=title,
                kb=f"KB{kb.group(1)}" if kb else "",
                at=parse_wu_time(item.get("Date")),
                operation="install" if op == 1 else "uninstall" if op == 2 else "other",
                result=_RESULTS.get(result, "") if result is not None else "",
                classification=name,
                security=_security(name, guids, title),
                definition=DEFINITION_UPDATES in guids or bool(_DEFINITION.search(title)),
            )
        )
    return sorted(out, key=lambda e: e.at or datetime.min.replace(tzinfo=UTC), reverse=True)[:1000]


def parse_pending_updates(data: Any) -> list[PendingUpdate]:
    """Pending updates from an IUpdateSearcher.Search result as JSON (a string or parsed).

    Sample: ``[{"Title": "2020-02 Security Update for Adobe Flash Player ... (KB4537759)",
    "KBArticleIDs": ["4537759"], "MsrcSeverity": "Critical", "RebootRequired": false,
    "CategoryIDs": ["0fa1201d-4330-4fa8-8ae9-b877473b6441", ...]}]``
    """
    if isinstance(data, str):
        try:
            data = json.loads(data.lstrip("\ufeff") or "[]")
        except ValueError:
            return []
    out = []
    for item in as_instances(data):
        title = _clip(item.get("Title"), 1024)
        kbs = item.get("KB", item.get("KBArticleIDs"))
        kb_list = kbs if isinstance(kbs, list) else [kbs] if kbs else []
        kb = _clip(kb_list[0]) if kb_list else ""
        match = _KB.search(title)
        ident = f"KB{kb}" if kb.isdecimal() else kb or (f"KB{match.group(1)}" if match else title[:255])
        if not ident:
            continue
        name, guids = _classification(item.get("Categories"), item.get("CategoryIDs"))
        severity = _clip(item.get("MsrcSeverity"))
        reboot = item.get("RebootRequired")
        security = True if severity else _security(name, guids, title)
        out.append(
            PendingUpdate(
                id=ident[:255],
                title=title,
                security=security,
                severity=severity,
                classification=name,
                reboot_required=reboot if isinstance(reboot, bool) else None,
            )
        )
    return out[:5000]


def _reboot(flags: Any) -> tuple[bool | None, list[str]]:
    if not isinstance(flags, dict):
        return None, []
    reasons = []
    if flags.get("CBSRebootPending") is True:
        reasons.append(r"CBS RebootPending (Component Based Servicing\RebootPending)")
    if flags.get("WURebootRequired") is True:
        reasons.append(r"Windows Update RebootRequired (WindowsUpdate\Auto Update\RebootRequired)")
    if (renames := _int(flags.get("PendingFileRenameOperations"))) and renames > 0:
        reasons.append(f"Session Manager PendingFileRenameOperations ({renames} entries)")
    if flags.get("SystemInfoRebootRequired") is True:
        reasons.append("Microsoft.Update.SystemInfo RebootRequired")
    return bool(reasons), reasons


def _policy(policy: Any) -> tuple[bool | None, str, str]:
    if not isinstance(policy, dict):
        return None, "", ""
    no_auto, options = _int(policy.get("NoAutoUpdate")), _int(policy.get("AUOptions"))
    server = _clip(policy.get("WUServer"), 1024) if _int(policy.get("UseWUServer")) == 1 else ""
    parts = [
        f"{k}={policy[k]}" for k in ("NoAutoUpdate", "AUOptions", "UseWUServer") if policy.get(k) is not None
    ]
    if no_auto == 1:
        enabled: bool | None = False
    elif options is not None:
        enabled = options >= 3  # 2 notify only; 3 download+notify; 4 scheduled install; 5 local admin chooses
    else:
        enabled = None
    return enabled, ", ".join(parts) or "no Windows Update policy set (Windows defaults apply)", server


def parse_windows_patches(data: Mapping[str, Any]) -> tuple[PatchFacts, dict[str, str]]:
    """PatchFacts from the reader's JSON object, and the errors of the parts that failed."""
    errors = data.get("Errors") if isinstance(data.get("Errors"), dict) else {}
    errors = {str(k): _clip(v, 1000) for k, v in (errors or {}).items()}
    installed = parse_qfe(data.get("QFE"))
    history = parse_update_history(data.get("History"))
    pending = (
        parse_pending_updates(data["Pending"]) if "Pending" in data and "Pending" not in errors else None
    )
    found = data.get("AutoUpdate")
    auto: dict[str, Any] = found if isinstance(found, dict) else {}
    candidates = [
        (datetime.fromisoformat(u.installed_on).replace(tzinfo=UTC), f"QFE {u.id}")
        for u in installed
        if u.installed_on
    ] + [
        (e.at, f"Windows Update history: {e.title}")
        for e in history
        if e.at
        and e.operation == "install"
        and e.result in ("succeeded", "succeeded_with_errors")
        and not e.definition
    ]
    last = max(candidates, key=lambda c: c[0]) if candidates else None
    reboot, reasons = _reboot(data.get("Reboot"))
    enabled, detail, server = _policy(data.get("Policy"))
    facts = PatchFacts(
        manager="windows_update",
        installed=installed[:5000],
        history=history,
        last_update_at=last[0] if last else None,
        last_update_source=last[1][:255] if last else "",
        pending=pending or [],
        pending_count=len(pending) if pending is not None else None,
        pending_security_count=sum(1 for p in pending if p.security) if pending is not None else None,
        lists_updated_at=parse_wu_time(auto.get("LastSearchSuccessDate")),
        lists_source="Microsoft.Update.AutoUpdate LastSearchSuccessDate"
        if auto.get("LastSearchSuccessDate")
        else "",
        last_install_success_at=parse_wu_time(auto.get("LastInstallationSuccessDate")),
        reboot_required=reboot,
        reboot_reasons=reasons,
        auto_updates=enabled,
        auto_updates_detail=detail,
        update_server=server,
        note=f"pending updates unknown: {errors['Pending']}"[:8192] if "Pending" in errors else "",
    )
    return facts, errors


def collect_windows(ctx: HostContext) -> Collected:
    result = ctx.run(PATCHES_ARGV, timeout=SEARCH_TIMEOUT + 90)
    if result.returncode != 0 and not result.stdout.strip():
        raise ReadError("powershell patches", (result.stderr or "failed").strip()[:500])
    try:
        data = json.loads(result.stdout.lstrip("\ufeff") or "{}")
    except ValueError as exc:
        raise ReadError("powershell patches", f"output is not JSON: {exc}") from exc
    facts, errors = parse_windows_patches(data if isinstance(data, dict) else {})
    sources = {
        "QFE": "Win32_QuickFixEngineering",
        "History": "IUpdateSearcher.QueryHistory",
        "Pending": "IUpdateSearcher.Search",
        "AutoUpdate": "Microsoft.Update.AutoUpdate",
        "Reboot": "registry reboot flags",
        "Policy": "Windows Update policy",
    }
    return Collected(
        facts,
        [SectionError(source=sources.get(k, k)[:255], message=v or "failed") for k, v in errors.items()],
    )
