"""Windows reader of the ``os`` section: one PowerShell call, or wmic on Windows 7.

The parser takes a mapping with the keys ``Os`` (Win32_OperatingSystem), ``ComputerSystem``
(Win32_ComputerSystem), ``TimeZone`` (Get-TimeZone or Win32_TimeZone), ``WindowsProduct``
(the values of HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion), ``MachineGuid`` and
``Architecture``. The PowerShell reader below writes exactly that; ``wmic ... /format:list``
(and ``/format:csv``) captures of a PC without PowerShell 3 are turned into the same
mapping, so Windows 2003/7 and Windows 11 go through the same code.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel

from agent.host import HostContext, ReadError
from agent.probes.base import Collected, read_with_fallback
from agent.wmi import as_instances, parse_wmic_list, wmic_argv, wmic_classes
from wire import SectionError
from wire.sections import OsFacts

__all__ = [
    "POWERSHELL_ARGV",
    "REG_QUERY_ARGVS",
    "WMIC_CLASSES",
    "collect_windows",
    "parse_cim_datetime",
    "parse_reg_query",
    "parse_windows_os",
    "parse_wmic_any",
    "windows_os_from_wmic",
]

_CURRENT_VERSION = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion"
_PRODUCT_VALUES = (
    "ProductName,EditionID,DisplayVersion,ReleaseId,CurrentBuild,CurrentBuildNumber,UBR,InstallDate,"
    "CurrentVersion,InstallationType"
)
#: One PowerShell call (Windows PowerShell 5.1 and PowerShell 7): each part in its own try/catch.
POWERSHELL = (
    "[Console]::OutputEncoding=[Text.Encoding]::UTF8; $r=[ordered]@{}; $e=@(); "
    "try { $r.Os = Get-CimInstance -ClassName Win32_OperatingSystem -ErrorAction Stop | Select-Object "
    "-Property Caption,Version,BuildNumber,OSArchitecture,CSDVersion,CSName,InstallDate,LastBootUpTime,"
    "CurrentTimeZone,OperatingSystemSKU,ProductType } catch { $e += 'Win32_OperatingSystem: ' + $_ }; "
    "try { $r.ComputerSystem = Get-CimInstance -ClassName Win32_ComputerSystem -ErrorAction Stop | "
    "Select-Object -Property Name,DNSHostName,Domain,PartOfDomain,Workgroup,DomainRole } "
    "catch { $e += 'Win32_ComputerSystem: ' + $_ }; "
    "try { $r.TimeZone = Get-TimeZone -ErrorAction Stop | Select-Object -Property Id,StandardName,"
    "@{n='BaseUtcOffsetMinutes';e={$_.BaseUtcOffset.TotalMinutes}} } catch { try { $r.TimeZone = "
    "Get-CimInstance -ClassName Win32_TimeZone -ErrorAction Stop | Select-Object -Property StandardName,"
    "Caption,Bias } catch { $e += 'time zone: ' + $_ } }; "
    "try { $r.WindowsProduct = Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion' "
    f"-ErrorAction Stop | Select-Object -Property {_PRODUCT_VALUES} }} catch {{ $e += 'CurrentVersion: ' + $_ }}; "
    "try { $r.MachineGuid = (Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Cryptography' "
    "-Name MachineGuid -ErrorAction Stop).MachineGuid } catch { $e += 'MachineGuid: ' + $_ }; "
    "$a = $env:PROCESSOR_ARCHITEW6432; if (-not $a) { $a = $env:PROCESSOR_ARCHITECTURE }; "
    "$r.Architecture = $a; $r.Errors = @($e | ForEach-Object { [string]$_ }); "
    "$r | ConvertTo-Json -Depth 3 -Compress"
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
#: Windows 7 without PowerShell 3: each class read with agent.wmi.wmic_argv (key in the parser's mapping).
WMIC_CLASSES = {
    "Os": "Win32_OperatingSystem",
    "ComputerSystem": "Win32_ComputerSystem",
    "TimeZone": "Win32_TimeZone",
}
#: Single registry values for the wmic path (never a recursive export: Winlogon can hold a password).
REG_QUERY_ARGVS = {
    name: ["reg", "query", _CURRENT_VERSION, "/v", name]
    for name in ("ProductName", "EditionID", "DisplayVersion", "ReleaseId", "CurrentBuild", "UBR")
} | {"MachineGuid": ["reg", "query", r"HKLM\SOFTWARE\Microsoft\Cryptography", "/v", "MachineGuid"]}

_PS_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
_CIM_DATE = re.compile(r"^(\d{14})(?:\.(\d{1,6}))?([+-]\d{1,4})?")
_ARCHITECTURES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "x86": "x86", "ia64": "ia64"}


def parse_cim_datetime(value: Any) -> datetime | None:
    """A Windows time as PowerShell or wmic writes it, in UTC; None when absent or "never".

    Accepts ``/Date(1787620870000)/`` (PS 5.1), ``{"value": "/Date(..)/", "DateTime": ".."}``,
    ISO 8601 (PS 7: ``2026-08-24T10:01:10+08:00``), CIM_DATETIME (wmic:
    ``20171019094403.000000+000``, the suffix being minutes east of UTC) and Unix seconds
    (the registry's InstallDate). FILETIME 0 (1601-01-01) and the year 1970 are "never".
    """
    if isinstance(value, dict):
        value = value.get("value") or value.get("DateTime")
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            parsed = datetime.fromtimestamp(float(value), UTC)
        else:
            text = str(value or "").strip()
            if not text:
                return None
            if (ps := _PS_DATE.match(text)) is not None:
                parsed = datetime.fromtimestamp(int(ps.group(1)) / 1000, UTC)
            elif (cim := _CIM_DATE.match(text)) is not None:
                local = datetime.strptime(cim.group(1), "%Y%m%d%H%M%S")
                offset = timezone(timedelta(minutes=int(cim.group(3) or 0)))
                parsed = local.replace(tzinfo=offset).astimezone(UTC)
            elif text.isdecimal():
                parsed = datetime.fromtimestamp(int(text), UTC)
            else:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
                parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.year > 1970 else None


def _text(value: Any, limit: int = 255) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).replace("\x00", "").strip()[:limit]


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text == "true" else False if text == "false" else None


def _architecture(arch: Any, os_arch: Any, caption: str) -> str:
    """PROCESSOR_ARCHITECTURE (AMD64, ARM64, x86), else OSArchitecture ("64-bit", "64 位", "ARM 64-bit")."""
    name = _ARCHITECTURES.get(_text(arch).lower())
    if name:
        return name
    hint = f"{_text(os_arch)} {caption}".lower()
    if "arm" in hint and "64" in hint:
        return "aarch64"
    if "64" in hint:
        return "x86_64"
    return "x86" if "32" in hint or "86" in hint else ""


def _timezone(zone: Mapping[str, Any], bias: Any) -> str:
    """Get-TimeZone Id (stable, English), else the localised StandardName, else the UTC offset."""
    name = _text(zone.get("Id")) or _text(zone.get("StandardName")) or _text(zone.get("Caption"))
    if name:
        return name
    try:
        minutes = int(str(bias).strip())
    except ValueError:
        return ""
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _build(product: Mapping[str, Any], os: Mapping[str, Any]) -> str:
    build = _text(product.get("CurrentBuild")) or _text(product.get("CurrentBuildNumber"))
    build = build or _text(os.get("BuildNumber"))
    ubr = _text(product.get("UBR"))
    return f"{build}.{ubr}" if build and ubr.isdecimal() else build


def _first(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    found = as_instances(data.get(key))
    return found[0] if found else {}


def parse_windows_os(data: Mapping[str, Any]) -> OsFacts:
    """OsFacts from the reader's JSON (or the same mapping built from wmic captures).

    Sample input (PowerShell 5.1, abridged)::

        {"Os": {"Caption": "Microsoft Windows 11 Pro", "Version": "10.0.22631", "BuildNumber": "22631",
                "OSArchitecture": "64-bit", "InstallDate": "/Date(1700000000000)/", ...},
         "ComputerSystem": {"Name": "PC-01", "Domain": "corp.example", "PartOfDomain": true, ...},
         "TimeZone": {"Id": "China Standard Time", "StandardName": "中国标准时间"},
         "WindowsProduct": {"EditionID": "Professional", "DisplayVersion": "23H2", "UBR": 2861, ...},
         "MachineGuid": "...", "Architecture": "AMD64"}
    """
    os, system = _first(data, "Os"), _first(data, "ComputerSystem")
    zone, product = _first(data, "TimeZone"), _first(data, "WindowsProduct")
    caption = _text(os.get("Caption")) or _text(product.get("ProductName")) or "Windows"
    release = (
        _text(product.get("DisplayVersion")) or _text(product.get("ReleaseId")) or _text(os.get("CSDVersion"))
    )
    build = _build(product, os)
    hostname = _text(system.get("DNSHostName")) or _text(system.get("Name")) or _text(os.get("CSName"))
    joined = _flag(system.get("PartOfDomain"))
    domain = _text(system.get("Domain"))
    workgroup = _text(system.get("Workgroup")) or ("" if joined else domain)
    if joined:
        kind, domain = "ad", domain
    elif workgroup:
        kind, domain = "workgroup", workgroup
    else:
        kind, domain = "none", ""
    install = parse_cim_datetime(os.get("InstallDate")) or parse_cim_datetime(product.get("InstallDate"))
    pretty = " ".join(part for part in (caption, release, f"(build {build})" if build else "") if part)
    return OsFacts(
        family="windows",
        name=caption,
        version=release,
        pretty_name=pretty[:255],
        build=build,
        architecture=_architecture(data.get("Architecture"), os.get("OSArchitecture"), caption),
        kernel=_text(os.get("Version")),
        hostname=hostname.split(".", 1)[0][:128] or "unknown",
        fqdn=f"{hostname}.{domain}"[:255] if kind == "ad" and hostname and "." not in hostname else "",
        domain=domain,
        domain_kind=kind,
        machine_id=_text(data.get("MachineGuid")).strip("{}").lower(),
        install_date=install,
        last_boot=parse_cim_datetime(os.get("LastBootUpTime")),
        timezone=_timezone(zone, os.get("CurrentTimeZone")),
        edition=_text(product.get("EditionID")),
    )


def parse_wmic_any(text: str) -> list[dict[str, str]]:
    """Instances of ``wmic ... get /format:list`` or ``/format:csv`` output.

    Sample CSV input::

        Node,BuildNumber,Caption,...
        WIN-VM1,14393,Microsoft Windows Server 2016 Standard Evaluation,...
    """
    text = text.replace("\x00", "").lstrip("\ufeff")
    lines = [line for line in text.replace("\r", "").split("\n") if line.strip()]
    if lines and lines[0].startswith("Node,"):
        try:
            return [{k: v for k, v in row.items() if k and v is not None} for row in csv.DictReader(lines)]
        except csv.Error:
            return []
    return parse_wmic_list(text)


def parse_reg_query(text: str) -> dict[str, str]:
    """Values of ``reg query KEY [/v NAME]`` output.

    Sample input::

        HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion
            EditionID    REG_SZ    Professional
            UBR    REG_DWORD    0xb2d
    """
    values: dict[str, str] = {}
    for line in text.replace("\x00", "").splitlines():
        match = re.match(r"^\s{2,}(.+?)\s{2,}(REG_[A-Z_]+)\s{2,}(.*)$", line)
        if not match:
            continue
        name, kind, value = match.group(1), match.group(2), match.group(3).strip()
        if kind in {"REG_DWORD", "REG_QWORD"} and value.lower().startswith("0x"):
            try:
                value = str(int(value, 16))
            except ValueError:
                continue
        values[name] = value
    return values


def windows_os_from_wmic(outputs: Mapping[str, str], registry: Mapping[str, str]) -> OsFacts:
    """OsFacts from wmic captures (key -> text, keys as in WMIC_CLASSES) and reg query values."""
    data: dict[str, Any] = {key: parse_wmic_any(text) for key, text in outputs.items()}
    data["WindowsProduct"] = {k: v for k, v in registry.items() if k != "MachineGuid"}
    data["MachineGuid"] = registry.get("MachineGuid", "")
    return parse_windows_os(data)


def _powershell(ctx: HostContext) -> tuple[dict[str, Any], list[SectionError]]:
    try:
        result = ctx.run(POWERSHELL_ARGV, timeout=60)
    except ReadError as exc:
        raise ReadError("powershell Win32_OperatingSystem", exc.message) from None
    if result.returncode != 0:
        raise ReadError("powershell Win32_OperatingSystem", (result.stderr or "failed").strip()[:500])
    try:
        data = json.loads(result.stdout.lstrip("\ufeff") or "null")
    except ValueError as exc:
        raise ReadError("powershell Win32_OperatingSystem", f"output is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not as_instances(data.get("Os")):
        raise ReadError("powershell Win32_OperatingSystem", "no Win32_OperatingSystem instance returned")
    errors = data.get("Errors")
    messages = [errors] if isinstance(errors, str) else errors if isinstance(errors, list) else []
    return data, [SectionError(source="powershell", message=str(m)[:1000]) for m in messages[:16] if m]


def _wmic(ctx: HostContext) -> tuple[OsFacts, list[SectionError]]:
    found = wmic_classes(ctx, list(WMIC_CLASSES.values()))
    if not found.get("Win32_OperatingSystem"):
        raise ReadError(" ".join(wmic_argv("Win32_OperatingSystem")), "no Win32_OperatingSystem instance")
    data: dict[str, Any] = {key: found.get(name, []) for key, name in WMIC_CLASSES.items()}
    registry: dict[str, str] = {}
    for argv in REG_QUERY_ARGVS.values():
        try:
            registry |= parse_reg_query(ctx.run(argv, timeout=30).stdout)
        except ReadError:
            continue  # an absent value (DisplayVersion before 20H2, UBR on Windows 7) is no error
    data["WindowsProduct"] = {k: v for k, v in registry.items() if k != "MachineGuid"}
    data["MachineGuid"] = registry.get("MachineGuid", "")
    missing = [name for name in WMIC_CLASSES.values() if name not in found]
    return parse_windows_os(data), [SectionError(source=f"wmic {n}", message="not read") for n in missing]


def collect_windows(ctx: HostContext) -> Collected:
    """PowerShell first; on a PC without PowerShell 3 (Windows 7), wmic and reg query."""

    def from_powershell() -> tuple[BaseModel, list[SectionError]]:
        data, errors = _powershell(ctx)
        return parse_windows_os(data), errors

    return read_with_fallback(from_powershell, lambda: _wmic(ctx))
