"""Windows reader of the ``licensing`` section: one PowerShell call, parsed by pure functions.

The call reads the licensing CIM classes, the KMS registry values, the Office registration and
tests for the artefacts in ``INDICATORS`` (the activator knowledge is data: a table, not code).
Sources of the indicators are cited in docs/probes/licensing.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agent.host import HostContext, ReadError
from agent.probes.base import Collected
from agent.probes.licensing import (
    KMS_MAX_GRACE_MINUTES,
    as_port,
    classify_kms_host,
    license_product,
    office_installs,
    parse_ospp_dstatus,
)
from agent.wmi import as_instances
from wire import SectionError
from wire.sections.licensing import ActivatorEvidence, KmsHost, LicenseProduct, LicensingFacts

__all__ = [
    "INDICATORS",
    "LICENSING_ARGV",
    "POWERSHELL",
    "Indicator",
    "collect_windows",
    "parse_windows_licensing",
]

IndicatorKind = Literal["scheduled_task", "service", "file", "folder", "ifeo", "registry"]


@dataclass(frozen=True)
class Indicator:
    """An artefact an activator leaves: a task (leaf name, or full path when it holds a backslash),
    a service name, a file or folder path (%ENV% tokens), an IFEO image, or a registry value."""

    tool: str
    kind: IndicatorKind
    match: str
    strength: Literal["strong", "weak"] = "strong"
    #: A Microsoft-signed file at this path may be genuine: such a match is only weak evidence.
    microsoft_signed_is_weak: bool = False


_C2R = ("%ProgramFiles%\\Microsoft Office", "%ProgramFiles(x86)%\\Microsoft Office", "%WatchpostOfficeC2R%")
_HOOKS = (
    "SppExtComObjHook.dll",
    "SppExtComObjHookAvrf.dll",
    "SppExtComObjPatcher.dll",
    "SppExtComObjPatcher.exe",
)
INDICATORS: tuple[Indicator, ...] = (
    Indicator("KMSpico", "service", "Service KMSELDI"),
    Indicator("KMSpico", "scheduled_task", "AutoPico Daily Restart"),
    Indicator("KMSpico", "scheduled_task", "Service KMSELDI"),
    Indicator("KMSpico", "folder", "%ProgramFiles%\\KMSpico"),
    Indicator("KMSpico", "folder", "%ProgramFiles(x86)%\\KMSpico"),
    *(
        Indicator("KMSpico", "file", f"%SystemRoot%\\{sub}SECOH-QAD.{ext}")
        for sub in ("", "System32\\")
        for ext in ("exe", "dll")
    ),
    Indicator("KMS emulator service (KMSpico family)", "service", "KMSServerService"),
    Indicator("vlmcsd KMS emulator", "service", "vlmcsd"),
    Indicator("KMSAuto", "folder", "%ProgramData%\\KMSAutoS"),
    Indicator("KMSAuto", "folder", "%ProgramData%\\KMSAuto"),
    Indicator("KMSAuto", "folder", "%SystemRoot%\\KMSAutoS"),
    Indicator("KMSAuto", "file", "%SystemRoot%\\System32\\KMSAuto Net.exe"),
    Indicator("KMSAuto", "scheduled_task", "KMSAutoNet"),
    Indicator("AAct", "folder", "%SystemRoot%\\AAct_Tools"),
    Indicator("AutoKMS (Microsoft Toolkit)", "folder", "%SystemRoot%\\AutoKMS"),
    Indicator("AutoKMS (Microsoft Toolkit)", "scheduled_task", "AutoKMS"),
    *(
        Indicator("KMS_VL_ALL", "file", f"%SystemRoot%\\{d}\\{f}")
        for d in ("System32", "SysWOW64")
        for f in _HOOKS
    ),
    Indicator("KMS_VL_ALL", "file", "%SystemRoot%\\Migration\\WTR\\KMS_VL_ALL.inf"),
    Indicator("KMS_VL_ALL", "scheduled_task", "\\Microsoft\\Windows\\SoftwareProtectionPlatform\\SvcTrigger"),
    *(
        Indicator("KMS_VL_ALL / SppExtComObjPatcher", "ifeo", i)
        for i in ("SppExtComObj.exe", "sppsvc.exe", "osppsvc.exe")
    ),
    Indicator(
        "KMS_VL_ALL",
        "registry",
        "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows NT\\CurrentVersion\\Software Protection Platform\\NoGenTicket",
        "weak",
    ),
    Indicator("MAS Online KMS", "folder", "%ProgramFiles%\\Activation-Renewal"),
    Indicator("MAS Online KMS", "folder", "%ProgramData%\\Activation-Renewal"),
    Indicator("MAS Online KMS", "folder", "%ProgramData%\\Online_KMS_Activation"),
    Indicator("MAS Online KMS", "scheduled_task", "Activation-Renewal"),
    Indicator("MAS Online KMS", "scheduled_task", "Activation-Run_Once"),
    *(
        Indicator("MAS Ohook", "file", f"{root}\\{sub}\\{dll}", microsoft_signed_is_weak=dll == "sppc.dll")
        for root in _C2R
        for sub in ("root\\vfs\\System", "root\\vfs\\SystemX86", "Office15", "Office16")
        for dll in ("sppcs.dll", "sppc.dll")
        if not (dll == "sppc.dll" and sub.startswith("Office"))
    ),
    Indicator(
        "MAS Ohook",
        "registry",
        "HKU\\*\\Software\\Microsoft\\Office\\16.0\\Common\\Licensing\\Resiliency\\TimeOfLastHeartbeatFailure",
    ),
)
_IFEO_HOOK_VALUES = {"verifierdlls", "debugger", "kms_emulation"}
_LICENSE_PROPS = (
    "ID,ApplicationID,Name,Description,LicenseFamily,ProductKeyChannel,LicenseIsAddon,LicenseStatus,"
    "LicenseStatusReason,GracePeriodRemaining,EvaluationEndDate,PartialProductKey,KeyManagementServiceMachine,"
    "KeyManagementServicePort,DiscoveredKeyManagementServiceMachineName,"
    "DiscoveredKeyManagementServiceMachineIpAddress,DiscoveredKeyManagementServiceMachinePort"
)
_SERVICE_PROPS = (
    "Version,KeyManagementServiceMachine,KeyManagementServicePort,DiscoveredKeyManagementServiceMachineName,"
    "DiscoveredKeyManagementServiceMachineIpAddress,DiscoveredKeyManagementServiceMachinePort"
)


def _ps_list(values: Any) -> str:
    return "@(" + ",".join("'" + str(v).replace("'", "''") + "'" for v in values) + ")"


def _matches(kind: str) -> list[str]:
    return [i.match for i in INDICATORS if i.kind == kind]


_PATHS = _matches("file") + _matches("folder")
_TASK_LEAVES = sorted({m.rsplit("\\", 1)[-1] for m in _matches("scheduled_task")})
_SPP = "HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\SoftwareProtectionPlatform"
_OSPP = (
    "HKLM:\\SOFTWARE\\Microsoft\\OfficeSoftwareProtectionPlatform",
    "HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\OfficeSoftwareProtectionPlatform",
)
#: One PowerShell call (Windows PowerShell 5.1 and 7), every part in its own try/catch. Only named
#: values are read: the SPP key also holds BackupProductKeyDefault (a full product key), the service
#: class OA3xOriginalProductKey (the firmware key), Office registration DigitalProductID.
#: No double quotes, so the script survives the Windows command line as it is.
POWERSHELL = (
    "[Console]::OutputEncoding=[Text.Encoding]::UTF8; $ErrorActionPreference='Stop'; $r=[ordered]@{}; $err=[ordered]@{}; "
    f"$lp={_ps_list(_LICENSE_PROPS.split(','))}; $sp={_ps_list(_SERVICE_PROPS.split(','))}; "
    "function V($k,$n){ try { $p=Get-ItemProperty -LiteralPath $k; $o=[ordered]@{Key=$k}; foreach($x in $n){ $o[$x]=$p.$x }; $o } catch { $null } }; "
    "foreach($c in @('SoftwareLicensingProduct','OfficeSoftwareProtectionProduct')){ try { $r[$c]=@(Get-CimInstance -ClassName $c -Filter 'PartialProductKey IS NOT NULL' | Select-Object -Property $lp) } catch { $err[$c]=[string]$_ } }; "
    "foreach($c in @('SoftwareLicensingService','OfficeSoftwareProtectionService')){ try { $r[$c]=@(Get-CimInstance -ClassName $c | Select-Object -Property $sp) } catch { $err[$c]=[string]$_ } }; "
    f"try {{ $kv=@('KeyManagementServiceName','KeyManagementServicePort'); $b='{_SPP}'; $g=@(V $b $kv); "
    "foreach($a in @('55c92734-d682-4d71-983e-d6ec3f16059f','0ff1ce15-a989-479d-af46-f275c6370663')){ if(Test-Path -LiteralPath ($b+'\\'+$a)){ foreach($s in Get-ChildItem -LiteralPath ($b+'\\'+$a)){ $g+=V ('Registry::'+$s.Name) $kv } } }; "
    f"foreach($o in {_ps_list(_OSPP)}){{ $g+=V $o $kv }}; $r.KmsRegistry=@($g | Where-Object {{ $_ }}) }} catch {{ $err.KmsRegistry=[string]$_ }}; "
    "try { $o=@(); foreach($root in @('HKLM:\\SOFTWARE\\Microsoft\\Office','HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\Office')){ foreach($v in @(Get-ChildItem -LiteralPath $root -ErrorAction SilentlyContinue | Where-Object { $_.PSChildName -match '^\\d+\\.\\d+$' })){ $g='Registry::'+$v.Name+'\\Registration'; if(Test-Path -LiteralPath $g){ foreach($s in Get-ChildItem -LiteralPath $g){ $p=Get-ItemProperty -LiteralPath ('Registry::'+$s.Name); if($p.ProductID -or $p.ProductCode){ $o+=[ordered]@{Key=$s.PSChildName; Version=$v.PSChildName; ProductName=$p.ProductName; ProductID=$p.ProductID; ProductCode=$p.ProductCode} } } } } }; $r.OfficeRegistration=$o } catch { $err.OfficeRegistration=[string]$_ }; "
    "$r.ClickToRun=V 'HKLM:\\SOFTWARE\\Microsoft\\Office\\ClickToRun\\Configuration' @('ProductReleaseIds','VersionToReport','Platform','InstallationPath'); "
    "if($r.ClickToRun -and $r.ClickToRun.InstallationPath){ $env:WatchpostOfficeC2R=$r.ClickToRun.InstallationPath }; "
    f"try {{ $r.Paths=@(foreach($q in {_ps_list(_PATHS)}){{ $x=[Environment]::ExpandEnvironmentVariables($q); if(-not $x.Contains('%') -and (Test-Path -LiteralPath $x)){{ $f=Test-Path -LiteralPath $x -PathType Container; $sg=''; if(-not $f){{ try {{ $sg=[string](Get-AuthenticodeSignature -LiteralPath $x).SignerCertificate.Subject }} catch {{}} }}; [ordered]@{{Pattern=$q; Path=$x; Folder=$f; Signer=$sg}} }} }}) }} catch {{ $err.Paths=[string]$_ }}; "
    f"try {{ $tn={_ps_list(_TASK_LEAVES)}; $r.Tasks=@(Get-ScheduledTask | Where-Object {{ $tn -contains $_.TaskName }} | ForEach-Object {{ [ordered]@{{TaskPath=$_.TaskPath; TaskName=$_.TaskName; State=[string]$_.State; Actions=(@($_.Actions | ForEach-Object {{ ([string]$_.Execute+' '+[string]$_.Arguments).Trim() }}) -join '; ')}} }}) }} catch {{ $err.Tasks=[string]$_ }}; "
    f"try {{ $sn={_ps_list(_matches('service'))}; $r.Services=@(Get-CimInstance -ClassName Win32_Service | Where-Object {{ $sn -contains $_.Name }} | Select-Object -Property Name,DisplayName,State,StartMode,PathName) }} catch {{ $err.Services=[string]$_ }}; "
    f"try {{ $r.Ifeo=@(foreach($i in {_ps_list(_matches('ifeo'))}){{ $k='HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Image File Execution Options\\'+$i; if(Test-Path -LiteralPath $k){{ $p=Get-ItemProperty -LiteralPath $k; $v=[ordered]@{{}}; foreach($q in $p.PSObject.Properties){{ if($q.Name -notlike 'PS*'){{ $v[$q.Name]=[string]$q.Value }} }}; [ordered]@{{Image=$i; Values=$v}} }} }}) }} catch {{ $err.Ifeo=[string]$_ }}; "
    "try { $r.Resiliency=@(foreach($u in Get-ChildItem -LiteralPath 'Registry::HKEY_USERS'){ $k='Registry::'+$u.Name+'\\Software\\Microsoft\\Office\\16.0\\Common\\Licensing\\Resiliency'; if(Test-Path -LiteralPath $k){ [ordered]@{Sid=$u.PSChildName; TimeOfLastHeartbeatFailure=[string](Get-ItemProperty -LiteralPath $k).TimeOfLastHeartbeatFailure} } }) } catch { $err.Resiliency=[string]$_ }; "
    "$r.SppPolicy=V 'HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows NT\\CurrentVersion\\Software Protection Platform' @('NoGenTicket','NoAcquireGT'); "
    "try { $off=@(@($r.SoftwareLicensingProduct)+@($r.OfficeSoftwareProtectionProduct) | Where-Object { $_ -and $_.ApplicationID -match '^(0ff1ce15|59a52881)-' }); if(-not $off.Count){ foreach($d in @('Office16','Office15','Office14')){ foreach($pf in @($env:ProgramFiles, ${env:ProgramFiles(x86)})){ $f=[string]$pf+'\\Microsoft Office\\'+$d+'\\OSPP.VBS'; if($pf -and -not $r.Contains('OsppDstatus') -and (Test-Path -LiteralPath $f)){ $r.OsppDstatus=[ordered]@{Path=$f; Output=(& cscript.exe //nologo $f /dstatus | Out-String)} } } } } } catch { $err.OsppDstatus=[string]$_ }; "
    "$r.Errors=$err; $r | ConvertTo-Json -Depth 4 -Compress"
)
#: The reader's command line (a capture bundle records it under this argv).
LICENSING_ARGV = [
    "powershell.exe",
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-Command",
    POWERSHELL,
]
_ABSENT = re.compile(r"invalid class|not found|nicht gefunden|无效类|找不到", re.I)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _s(value: Any, limit: int = 1024) -> str:
    return ("" if value is None else str(value)).replace("\x00", "").strip()[:limit]


def _key_name(key: str) -> str:
    key = re.sub(r"^(Microsoft\.PowerShell\.Core\\)?Registry::", "", key)
    return re.sub(r"^(HKEY_LOCAL_MACHINE\\|HKLM:\\)", "HKLM\\\\", key)


def _kms_hosts(data: Mapping[str, Any], products: list[LicenseProduct]) -> list[KmsHost]:
    raw: list[tuple[str, Any, str, str, bool]] = []
    for cls, app in (("SoftwareLicensingService", "any"), ("OfficeSoftwareProtectionService", "office")):
        for item in as_instances(data.get(cls)):
            raw.append(
                (
                    _s(item.get("KeyManagementServiceMachine")),
                    item.get("KeyManagementServicePort"),
                    app,
                    cls,
                    False,
                )
            )
            port = item.get("DiscoveredKeyManagementServiceMachinePort")
            for field in (
                "DiscoveredKeyManagementServiceMachineName",
                "DiscoveredKeyManagementServiceMachineIpAddress",
            ):
                raw.append((_s(item.get(field)), port, app, f"{cls} (discovered)", True))
    for p in products:
        where = f"{p.source}: {p.name or p.sku_id}"
        raw.append((p.kms_host, p.kms_port, p.application, where, False))
        raw += [
            (h, None, p.application, f"{where} (discovered)", True)
            for h in (p.kms_discovered_host, p.kms_discovered_address)
        ]
    for item in as_instances(data.get("KmsRegistry")):
        key = _key_name(_s(item.get("Key")))
        app = (
            "office"
            if re.search(r"OfficeSoftwareProtection|0ff1ce15", key, re.I)
            else "windows"
            if "55c92734" in key.lower()
            else "any"
        )
        raw.append(
            (
                _s(item.get("KeyManagementServiceName")),
                item.get("KeyManagementServicePort"),
                app,
                f"{key}\\KeyManagementServiceName",
                False,
            )
        )
    hosts: dict[tuple[Any, ...], KmsHost] = {}
    for host, port, app, source, discovered in raw:
        found = classify_kms_host(host, as_port(port), app, source, discovered)
        if found is not None:
            hosts.setdefault(
                (found.host.lower(), found.port, found.application, found.source, discovered), found
            )
    return list(hosts.values())[:64]


def _evidence(
    data: Mapping[str, Any], products: list[LicenseProduct], hosts: list[KmsHost]
) -> list[ActivatorEvidence]:
    found: dict[tuple[str, str], ActivatorEvidence] = {}

    def add(indicator: Indicator, matched: str, detail: str = "", kind: Any = None) -> None:
        signed = indicator.microsoft_signed_is_weak and "O=Microsoft Corporation" in detail
        weak = indicator.strength == "weak" or signed
        evidence = ActivatorEvidence(
            tool=indicator.tool,
            kind=kind or indicator.kind,
            matched=_s(matched),
            detail=_s(detail),
            strength="weak" if weak else "strong",
        )
        found.setdefault((evidence.kind, evidence.matched.lower()), evidence)

    by_match = {(i.kind, i.match.lower()): i for i in INDICATORS}
    for item in as_instances(data.get("Paths")):
        pattern = _s(item.get("Pattern")).lower()
        folder = str(item.get("Folder")).lower() == "true"
        indicator = (
            by_match.get(("folder" if folder else "file", pattern))
            or by_match.get(("file", pattern))
            or by_match.get(("folder", pattern))
        )
        if indicator is not None:
            add(
                indicator,
                _s(item.get("Path")) or pattern,
                f"signed by {_s(item.get('Signer'))}" if _s(item.get("Signer")) else "",
                "folder" if folder else "file",
            )
    for item in as_instances(data.get("Tasks")):
        full = (_s(item.get("TaskPath")) or "\\") + _s(item.get("TaskName"))
        for i in INDICATORS:
            if i.kind == "scheduled_task" and (
                full.lower() == i.match.lower()
                if "\\" in i.match
                else _s(item.get("TaskName")).lower() == i.match.lower()
            ):
                add(i, full, f"{_s(item.get('State'))}: {_s(item.get('Actions'))}".strip(": "))
    for item in as_instances(data.get("Services")):
        indicator = by_match.get(("service", _s(item.get("Name")).lower()))
        if indicator is not None:
            add(
                indicator,
                _s(item.get("Name")),
                f"{_s(item.get('State'))}, {_s(item.get('StartMode'))}: {_s(item.get('PathName'))}",
            )
    for item in as_instances(data.get("Ifeo")):
        values = _dict(item.get("Values"))
        hooks = {k: v for k, v in values.items() if str(k).lower() in _IFEO_HOOK_VALUES and _s(v)}
        indicator = by_match.get(("ifeo", _s(item.get("Image")).lower()))
        if hooks and indicator is not None:
            add(
                indicator,
                f"Image File Execution Options\\{_s(item.get('Image'))}",
                "; ".join(f"{k}={_s(v, 200)}" for k, v in values.items()),
            )
    resiliency = next(i for i in INDICATORS if "Resiliency" in i.match)
    for item in as_instances(data.get("Resiliency")):
        stamp = _s(item.get("TimeOfLastHeartbeatFailure"))
        if re.match(r"^(20[4-9]\d|2[1-9]\d\d)-", stamp):  # a heartbeat failure decades ahead: MAS writes 2040
            add(
                resiliency,
                resiliency.match.replace("*", _s(item.get("Sid"), 200)),
                f"TimeOfLastHeartbeatFailure={stamp}",
            )
    policy = _dict(data.get("SppPolicy"))
    if str(policy.get("NoGenTicket")) == "1":
        add(
            next(i for i in INDICATORS if i.match.endswith("NoGenTicket")),
            "NoGenTicket=1",
            "KMS client online validation (AVS) disabled by policy",
        )
    for p in products:
        grace = p.grace_minutes_remaining or 0
        if (
            p.application == "windows"
            and p.channel_family == "volume_kms_client"
            and p.license_status == 1
            and grace > KMS_MAX_GRACE_MINUTES
        ):
            add(
                Indicator("KMS38 / TSforge (MAS, KMS_VL_ALL)", "registry", ""),
                p.name,
                f"KMS client licensed for {grace} minutes (~{grace // 525600} years), beyond the 180-day KMS maximum",
                "license_state",
            )
    for h in hosts:
        if h.flag in ("loopback", "emulator_address"):
            tool = (
                "KMS emulator on this machine (KMSpico, KMS_VL_ALL, vlmcsd)"
                if h.loopback
                else "KMS_VL_ALL (default emulator address)"
            )
            add(
                Indicator(tool, "registry", "", "strong" if h.loopback else "weak"),
                f"{h.host}:{h.port or 1688}",
                h.source,
                "kms_host",
            )
    return sorted(found.values(), key=lambda e: (e.tool, e.kind, e.matched))[:256]


def parse_windows_licensing(data: Mapping[str, Any]) -> LicensingFacts:
    """LicensingFacts from the reader's JSON (or a capture shaped like it).

    Sample input (abridged)::

        {"SoftwareLicensingProduct": [{"ApplicationID": "55c92734-...", "LicenseStatus": 1, ...}],
         "SoftwareLicensingService": [{"KeyManagementServiceMachine": "kms.corp.example", ...}],
         "Paths": [{"Pattern": "%ProgramFiles%\\\\KMSpico", "Path": "C:\\\\Program Files\\\\KMSpico", "Folder": true}],
         "Tasks": [], "Services": [], "Ifeo": [], "Errors": {}}
    """
    products = [
        license_product(i, "SoftwareLicensingProduct")
        for i in as_instances(data.get("SoftwareLicensingProduct"))
    ]
    products += [
        license_product(i, "OfficeSoftwareProtectionProduct")
        for i in as_instances(data.get("OfficeSoftwareProtectionProduct"))
    ]
    ospp = _dict(data.get("OsppDstatus"))
    if ospp.get("Output"):
        extra, _hosts = parse_ospp_dstatus(str(ospp["Output"]))
        products += extra
    products = sorted(products, key=lambda p: (p.application, p.name, p.sku_id))[:128]
    hosts = _kms_hosts(data, products)
    windows = [p for p in products if p.application == "windows" and p.addon is not True]
    main = next((p for p in windows if p.license_status == 1), windows[0] if windows else None)
    office = [p for p in products if p.application == "office" and p.addon is not True]
    read_slp = "SoftwareLicensingProduct" in data
    notes = [] if windows or not read_slp else ["no Windows licence with an installed key"]
    errors = _dict(data.get("Errors"))
    notes += [
        f"{_s(k, 100)}: {_s(v, 300)}"
        for k, v in errors.items()
        if not (str(k).startswith("OfficeSoftwareProtection") and _ABSENT.search(str(v)))
    ]
    sources = [
        k
        for k in (
            "SoftwareLicensingProduct",
            "OfficeSoftwareProtectionProduct",
            "SoftwareLicensingService",
            "KmsRegistry",
            "OfficeRegistration",
            "Paths",
            "Tasks",
            "Services",
            "Ifeo",
            "Resiliency",
        )
        if k in data
    ]
    return LicensingFacts(
        windows_status=main.license_status_name if main else "unlicensed" if read_slp else "unknown",
        windows_activated=(main.license_status == 1) if main else (False if read_slp else None),
        office_activated=any(p.license_status == 1 for p in office) if office else None,
        products=products,
        kms_hosts=hosts,
        office_installs=office_installs(data.get("OfficeRegistration"), data.get("ClickToRun")),
        activator_evidence=_evidence(data, products, hosts),
        sources=sources + (["ospp.vbs /dstatus"] if ospp.get("Output") else []),
        note="; ".join(notes)[:8192],
    )


def collect_windows(ctx: HostContext) -> Collected:
    result = ctx.run(LICENSING_ARGV, timeout=180)
    if result.returncode != 0 and not result.stdout.strip():
        raise ReadError("powershell licensing", (result.stderr or "failed").strip()[:500])
    try:
        data = json.loads(result.stdout.lstrip("\ufeff") or "{}")
    except ValueError as exc:
        raise ReadError("powershell licensing", f"output is not JSON: {exc}") from exc
    data = _dict(data)
    errors = _dict(data.get("Errors"))
    return Collected(
        parse_windows_licensing(data),
        [
            SectionError(source=_s(k, 255) or "?", message=_s(v, 1024) or "failed")
            for k, v in errors.items()
            if not (str(k).startswith("OfficeSoftwareProtection") and _ABSENT.search(str(v)))
        ][:32],
    )
