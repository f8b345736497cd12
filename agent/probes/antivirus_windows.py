"""Windows reader of the ``antivirus`` section: one PowerShell call, parsed here.

The call returns one JSON object: ``Now`` (the PC's UTC clock, so that a replayed capture
is judged against the time it was taken), ``SecurityCenter2`` (AntiVirusProduct instances),
``MpComputerStatus``, ``MpThreat``, ``MpThreatDetection``, ``Events`` (the Defender
Operational log of the last 30 days as event XML, parsed by agent.winevent) and
``Services`` (services of known antivirus products); a part that fails gives ``<Part>Error``.

SecurityCenter2 ``productState`` is a DWORD of bit fields (wscapi.h WSC_SECURITY_PROVIDER and
the layout documented by the security-product community; see docs/probes/antivirus.md):
bits 16-23 which providers the product registers (0x04 antivirus, 0x08 antispyware,
0x01 firewall, 0x02 auto-update...), bits 12-15 the product state (0 off, 1 on, 2 snoozed,
3 expired), bits 8-11 the owner (1 = Microsoft), bits 4-7 the signature status (0 up to
date, 1 out of date).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from agent.host import HostContext, ReadError
from agent.probes.antivirus import clip, facts_from_products, within_window
from agent.probes.base import Collected
from agent.winevent import WinEvent, parse_event_xml, parse_time_created
from agent.wmi import as_instances
from wire import SectionError
from wire.sections.antivirus import AntivirusFacts, AntivirusProduct, AntivirusScan, ProductService

__all__ = [
    "DEFENDER_EVENTS",
    "KNOWN_PRODUCTS",
    "POWERSHELL",
    "POWERSHELL_ARGV",
    "KnownProduct",
    "ProductState",
    "collect_windows",
    "decode_product_state",
    "defender_history",
    "parse_format_list",
    "parse_ps_datetime",
    "parse_windows_antivirus",
]

DEFENDER_GUID = "{d68ddc3a-831f-4fae-9e44-da132c1acf46}"
DEFENDER_LOG = "Microsoft-Windows-Windows Defender/Operational"
#: Scan started / completed / cancelled / failed, threat detected / action taken, signature update ok / failed.
DEFENDER_EVENTS = (1000, 1001, 1002, 1005, 1116, 1117, 2000, 2001)


@dataclass(frozen=True)
class KnownProduct:
    name: str
    vendor: str
    services: str  # regular expression over service names (anchored)
    names: str  # regular expression over registered display names
    confidence: Literal["high", "medium", "low"]


#: Products recognised by their services when SecurityCenter2 is absent (Windows Server) or
#: silent; ``confidence`` says how sure the service names are (docs/probes/antivirus.md).
KNOWN_PRODUCTS = (
    KnownProduct("Microsoft Defender Antivirus", "Microsoft", "WinDefend", r"defender", "high"),
    KnownProduct("360安全卫士", "奇虎360 (Qihoo 360)", "ZhuDongFangYu", r"360\s*安全卫士|360\s*safe", "high"),
    KnownProduct("360杀毒", "奇虎360 (Qihoo 360)", "360rp|360sd", r"360\s*杀毒|360\s*antivirus", "medium"),
    KnownProduct("360 Total Security", "Qihoo 360", "QHActiveDefense", r"360\s*total", "medium"),
    KnownProduct(
        "火绒安全软件 (Huorong)",
        "北京火绒网络科技 (Huorong)",
        "HipsDaemon|HRWSCCtrl",
        r"火绒|huorong",
        "high",
    ),
    KnownProduct(
        "奇安信天擎 (QAX TianQing)",
        "奇安信 (QAX)",
        "QAXEntClient|QaxEngManager|TQClient",
        r"天擎|奇安信|qax",
        "low",
    ),
    KnownProduct(
        "金山毒霸 (Kingsoft)", "金山 (Kingsoft)", "kxescore|kxetray|KSafeSvc", r"金山|毒霸|kingsoft", "medium"
    ),
    KnownProduct(
        "腾讯电脑管家 (Tencent PC Manager)",
        "腾讯 (Tencent)",
        "QQPCRTP|QQPCMgr",
        r"电脑管家|tencent",
        "medium",
    ),
    KnownProduct("Symantec Endpoint Protection", "Broadcom", "SepMasterService", r"symantec|norton", "high"),
    KnownProduct(
        "McAfee / Trellix Endpoint Security", "Trellix", "McShield|mfemms|mfefire", r"mcafee|trellix", "high"
    ),
    KnownProduct(
        "Trend Micro Apex One / OfficeScan", "Trend Micro", "ntrtscan|TmCCSF", r"trend\s*micro", "high"
    ),
    KnownProduct("Sophos Endpoint", "Sophos", "SAVService|Sophos MCS Agent|SophosFS", r"sophos", "high"),
    KnownProduct("ESET Endpoint Security", "ESET", "ekrn", r"eset", "high"),
    KnownProduct("Kaspersky Endpoint Security", "Kaspersky", r"AVP(\d[\d.]*)?", r"kaspersky", "high"),
    KnownProduct(
        "Bitdefender Endpoint Security", "Bitdefender", "EPSecurityService|VSSERV", r"bitdefender", "medium"
    ),
    KnownProduct("CrowdStrike Falcon", "CrowdStrike", "CSFalconService", r"crowdstrike|falcon", "high"),
    KnownProduct("SentinelOne", "SentinelOne", "SentinelAgent", r"sentinel", "high"),
    KnownProduct("Carbon Black Cloud", "VMware", "CbDefense", r"carbon\s*black", "high"),
    KnownProduct("Malwarebytes", "Malwarebytes", "MBAMService", r"malwarebytes", "high"),
    KnownProduct("Avast Antivirus", "Gen Digital (Avast)", "avast! Antivirus|AvastSvc", r"avast", "medium"),
)
_SERVICE_PATTERN = "^(" + "|".join(p.services for p in KNOWN_PRODUCTS) + ")$"

_ARRAY = "@({})"
POWERSHELL = (
    "[Console]::OutputEncoding=[Text.Encoding]::UTF8; $ErrorActionPreference='Stop'; $r=[ordered]@{}; "
    "$r.Now=[DateTime]::UtcNow.ToString('o'); "
    "try { $r.SecurityCenter2=@(Get-CimInstance -Namespace root/SecurityCenter2 -ClassName AntiVirusProduct | "
    "Select-Object displayName,instanceGuid,pathToSignedProductExe,pathToSignedReportingExe,productState,"
    "timestamp) } catch { $r.SecurityCenter2Error=[string]$_.Exception.Message }; "
    "try { $r.MpComputerStatus=Get-MpComputerStatus | Select-Object AMEngineVersion,AMProductVersion,"
    "AMRunningMode,AMServiceEnabled,AntivirusEnabled,AntivirusSignatureAge,AntivirusSignatureLastUpdated,"
    "AntivirusSignatureVersion,DefenderSignaturesOutOfDate,RealTimeProtectionEnabled,OnAccessProtectionEnabled,"
    "QuickScanStartTime,QuickScanEndTime,FullScanStartTime,FullScanEndTime,IsTamperProtected "
    "} catch { $r.MpComputerStatusError=[string]$_.Exception.Message }; "
    "try { $r.MpThreat=@(Get-MpThreat | Select-Object ThreatID,ThreatName,SeverityID) } "
    "catch { $r.MpThreatError=[string]$_.Exception.Message }; "
    "try { $r.MpThreatDetection=@(Get-MpThreatDetection | Select-Object ThreatID,DetectionID,"
    "InitialDetectionTime,ActionSuccess,ThreatStatusID) } "
    "catch { $r.MpThreatDetectionError=[string]$_.Exception.Message }; "
    "try { $r.Events=@(Get-WinEvent -FilterHashtable @{LogName='"
    + DEFENDER_LOG
    + "'; Id="
    + ",".join(str(i) for i in DEFENDER_EVENTS)
    + "; StartTime=[DateTime]::Now.AddDays(-30)} -MaxEvents 2000 | ForEach-Object { $_.ToXml() }) } "
    "catch { if ($_.FullyQualifiedErrorId -like 'NoMatchingEventsFound*') { $r.Events=@() } "
    "else { $r.EventsError=[string]$_.Exception.Message } }; "
    "try { $r.Services=@(Get-Service -ErrorAction SilentlyContinue | Where-Object { $_.Name -match '"
    + _SERVICE_PATTERN
    + "' } | Select-Object Name,DisplayName,@{n='Status';e={[string]$_.Status}},"
    "@{n='StartType';e={[string]$_.StartType}}) } catch { $r.ServicesError=[string]$_.Exception.Message }; "
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


@dataclass(frozen=True)
class ProductState:
    providers: int
    state: Literal["on", "off", "snoozed", "expired", "unknown"]
    microsoft: bool
    signatures_up_to_date: bool | None


def decode_product_state(value: Any) -> ProductState | None:
    """SecurityCenter2 ``productState`` by its bit fields (never by comparing whole bytes).

    ``397568`` = 0x061100: providers 0x06 (auto-update + antivirus), on, Microsoft, up to date.
    """
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    if not 0 <= number <= 0xFFFFFFFF:
        return None
    states: dict[int, Literal["on", "off", "snoozed", "expired"]] = {
        0: "off",
        1: "on",
        2: "snoozed",
        3: "expired",
    }
    signatures = (number >> 4) & 0xF
    return ProductState(
        providers=(number >> 16) & 0xFF,
        state=states.get((number >> 12) & 0xF, "unknown"),
        microsoft=((number >> 8) & 0xF) == 1,
        signatures_up_to_date=True if signatures == 0 else (False if signatures == 1 else None),
    )


_PS_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")


def parse_ps_datetime(value: Any) -> datetime | None:
    """A PowerShell date: ``/Date(ms)/`` (5.1), ISO text (7), ``{"value":..,"DateTime":..}``,
    CIM text; the 1601 'never' date and empty values give None."""
    if isinstance(value, dict):
        value = value.get("value") or value.get("DateTime")
    text = str(value or "").strip()
    if not text:
        return None
    match = _PS_DATE.match(text)
    try:
        parsed = (
            datetime.fromtimestamp(int(match.group(1)) / 1000, UTC) if match else parse_time_created(text)
        )
    except (ValueError, OverflowError, OSError):
        return None
    if parsed is None:
        try:
            parsed = datetime.strptime(text.replace("GMT", "+0000"), "%a, %d %b %Y %H:%M:%S %z").astimezone(
                UTC
            )
        except ValueError:
            return None
    return parsed if parsed.year > 1601 else None


def parse_format_list(text: str) -> list[dict[str, str]]:
    """Objects of PowerShell ``Format-List`` text (blank-line separated ``Name : Value`` blocks),
    as people paste Get-CimInstance or Get-MpComputerStatus output. Values stay text.

    Sample input::

        displayName              : Sophos Home
        productState             : 331776
    """
    objects: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for raw in str(text or "").splitlines():
        key, sep, value = raw.partition(" : ") if " : " in raw else raw.rstrip().partition(" :")
        key = key.strip()
        if sep and key and re.fullmatch(r"[A-Za-z_][\w]*", key):
            current[key] = value.strip()
        elif not raw.strip() and current:
            objects.append(current)
            current = {}
    if current:
        objects.append(current)
    return objects


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "1": True, "false": False, "0": False}.get(text)


def _age(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 65535 else None  # 65535 / 4294967295 mean "never"


def _known(name: str = "", service: str = "") -> KnownProduct | None:
    for product in KNOWN_PRODUCTS:
        if service and re.fullmatch(product.services, service, re.I):
            return product
        if name and re.search(product.names, name, re.I):
            return product
    return None


_SCAN_KIND = (
    ("quick", re.compile(r"quick|快速", re.I)),
    ("full", re.compile(r"full|完全|全盘", re.I)),
    ("custom", re.compile(r"custom|自定义", re.I)),
)


def _scan_kind(event: WinEvent) -> Literal["quick", "full", "custom", "unknown"]:
    index = event.get("Scan Parameters Index")
    if index in ("1", "2", "3"):
        return ("quick", "full", "custom")[int(index) - 1]
    text = event.get("Scan Parameters")
    for kind, pattern in _SCAN_KIND:
        if pattern.search(text):
            return kind  # type: ignore[return-value]
    return "unknown"


def defender_history(events: list[WinEvent], now: datetime) -> dict[str, Any]:
    """Scans, detections and signature updates of the last 30 days from Defender events.

    Scans are paired by their ``Scan ID``: 1000 started, 1001 completed, 1002 cancelled, 1005 failed.
    """
    recent = [e for e in events if within_window(e.time_created, now)]
    scans: dict[str, dict[str, Any]] = {}
    for number, event in enumerate(sorted(recent, key=lambda e: e.time_created or now)):
        if event.event_id not in (1000, 1001, 1002, 1005):
            continue
        key = event.get("Scan ID") or f"#{number}"
        scan = scans.setdefault(key, {"time": event.time_created, "kind": "unknown", "result": "started"})
        if event.event_id == 1000:
            scan["time"] = event.time_created
        else:
            scan["result"] = {1001: "completed", 1002: "cancelled", 1005: "failed"}[event.event_id]
            scan["end"] = event.time_created
        kind = _scan_kind(event)
        if kind != "unknown":
            scan["kind"] = kind
    done = [s for s in scans.values() if s["result"] == "completed"]
    detected = sorted((e for e in recent if e.event_id == 1116), key=lambda e: e.time_created or now)
    updates = sorted((e.time_created for e in recent if e.event_id == 2000 and e.time_created), reverse=True)
    return {
        "scans": sorted(
            (AntivirusScan(time=s["time"], kind=s["kind"], result=s["result"]) for s in scans.values()),
            key=lambda s: s.time,
            reverse=True,
        ),
        "last_quick": max((s.get("end") or s["time"] for s in done if s["kind"] == "quick"), default=None),
        "last_full": max((s.get("end") or s["time"] for s in done if s["kind"] == "full"), default=None),
        "detections": len(detected),
        "last_detection": detected[-1].time_created if detected else None,
        "threat_names": sorted({clip(e.get("Threat Name")) for e in detected} - {""}),
        "updates": len(updates),
        "last_update": updates[0] if updates else None,
        "update_failures": sum(1 for e in recent if e.event_id == 2001),
    }


def _latest(*times: datetime | None) -> datetime | None:
    return max((t for t in times if t is not None), default=None)


def _defender_fields(
    status: Mapping[str, Any], history: dict[str, Any] | None, now: datetime
) -> dict[str, Any]:
    """AntivirusProduct fields from Get-MpComputerStatus and the event history."""
    mode = clip(status.get("AMRunningMode"))
    enabled = _bool(status.get("AntivirusEnabled"))
    if enabled and (_bool(status.get("AMServiceEnabled")) is False or "passive" in mode.lower()):
        enabled = False
    out_of_date = _bool(status.get("DefenderSignaturesOutOfDate"))
    fields: dict[str, Any] = {
        "enabled": enabled,
        "state": "unknown" if enabled is None else ("on" if enabled else "off"),
        "signatures_up_to_date": None if out_of_date is None else not out_of_date,
        "signature_version": clip(status.get("AntivirusSignatureVersion"), 64),
        "signature_date": parse_ps_datetime(status.get("AntivirusSignatureLastUpdated")),
        "signature_age_days": _age(status.get("AntivirusSignatureAge")),
        "engine_version": clip(status.get("AMEngineVersion"), 64),
        "product_version": clip(status.get("AMProductVersion"), 64),
        "real_time_protection": _bool(status.get("RealTimeProtectionEnabled")),
        "running_mode": mode,
        "last_quick_scan": parse_ps_datetime(status.get("QuickScanEndTime"))
        or parse_ps_datetime(status.get("QuickScanStartTime")),
        "last_full_scan": parse_ps_datetime(status.get("FullScanEndTime"))
        or parse_ps_datetime(status.get("FullScanStartTime")),
    }
    if history is not None:
        fields.update(
            last_quick_scan=_latest(fields["last_quick_scan"], history["last_quick"]),
            last_full_scan=_latest(fields["last_full_scan"], history["last_full"]),
            scans_30d=len(history["scans"]),
            scans=history["scans"][:64],
            detections_30d=history["detections"],
            last_detection=history["last_detection"],
            threat_names=history["threat_names"][:32],
            signature_updates_30d=history["updates"],
            signature_update_failures_30d=history["update_failures"],
            last_signature_update=history["last_update"] or fields["signature_date"],
        )
    return fields


def _defender(
    status: Mapping[str, Any], history: dict[str, Any] | None, data: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    fields = _defender_fields(status, history, now)
    if history is None and "MpThreatDetection" in data:
        fields.update(_detections_from_cmdlets(data, now))
    return fields


def _detections_from_cmdlets(data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Detections of the last 30 days from Get-MpThreatDetection, named by Get-MpThreat."""
    names = {str(t.get("ThreatID")): clip(t.get("ThreatName")) for t in as_instances(data.get("MpThreat"))}
    recent = [
        (when, names.get(str(d.get("ThreatID")), ""))
        for d in as_instances(data.get("MpThreatDetection"))
        if within_window(when := parse_ps_datetime(d.get("InitialDetectionTime")), now)
    ]
    return {
        "detections_30d": len(recent),
        "last_detection": max((w for w, _ in recent if w), default=None),
        "threat_names": sorted({n for _, n in recent} - {""})[:32],
    }


def _service(item: Mapping[str, Any]) -> ProductService:
    status = str(item.get("Status") or "").lower()
    start = str(item.get("StartType") or "").lower()
    starts = {"0": "boot", "1": "system", "2": "automatic", "3": "manual", "4": "disabled"}
    return ProductService(
        name=clip(item.get("Name")),
        display_name=clip(item.get("DisplayName")),
        running=True if status in ("running", "4") else (False if status else None),
        start_mode=starts.get(start, start)[:255],
    )


def parse_windows_antivirus(data: Mapping[str, Any], now: datetime | None = None) -> AntivirusFacts:
    """AntivirusFacts from the reader's JSON object (see the module docstring for its parts)."""
    if not isinstance(data, Mapping):
        data = {}
    now = parse_ps_datetime(data.get("Now")) or now or datetime.now(UTC)
    notes = [f"{part}: {clip(data[part + 'Error'], 300)}" for part in _PARTS if data.get(part + "Error")]
    events = [e for x in _list(data.get("Events")) if isinstance(x, str) and (e := parse_event_xml(x))]
    history = defender_history(events, now) if "Events" in data else None
    status = data.get("MpComputerStatus") if isinstance(data.get("MpComputerStatus"), Mapping) else None
    services = [_service(s) for s in as_instances(data.get("Services")) if s.get("Name")]
    products: list[AntivirusProduct] = []
    defender_seen = False
    for item in as_instances(data.get("SecurityCenter2")):
        name = clip(item.get("displayName"), 128)
        if not name:
            continue
        decoded = decode_product_state(item.get("productState"))
        known = _known(name=name)
        fields: dict[str, Any] = {}
        is_defender = str(item.get("instanceGuid") or "").lower() == DEFENDER_GUID or (
            known is not None and known.vendor == "Microsoft"
        )
        if is_defender and status is not None and not defender_seen:
            fields = _defender(status, history, data, now)
            defender_seen = True
        if decoded is not None:  # SecurityCenter2's own view wins for state and signatures
            fields.update(state=decoded.state, enabled=decoded.state == "on")
            if decoded.signatures_up_to_date is not None and fields.get("signatures_up_to_date") is not False:
                fields["signatures_up_to_date"] = (
                    decoded.signatures_up_to_date
                )  # either one "out of date" wins
        mine = [s for s in services if known and re.fullmatch(known.services, s.name, re.I)]
        products.append(
            AntivirusProduct(
                name=name,
                vendor="Microsoft" if decoded and decoded.microsoft else (known.vendor if known else ""),
                recognised_by="securitycenter2",
                evidence=["SecurityCenter2 AntiVirusProduct", *(f"service {s.name}" for s in mine)][:16],
                product_state=int(str(item.get("productState")).strip()) if decoded else None,
                path=clip(item.get("pathToSignedProductExe")),
                services=mine[:16],
                **fields,
            )
        )
    claimed = {s.name for p in products for s in p.services}
    if status is not None and not defender_seen:
        fields = _defender(status, history, data, now)
        defender_services = [s for s in services if s.name.lower() == "windefend"]
        claimed |= {s.name for s in defender_services}
        products.append(
            AntivirusProduct(
                name="Microsoft Defender Antivirus",
                vendor="Microsoft",
                recognised_by="defender",
                evidence=["Get-MpComputerStatus"],
                services=defender_services,
                **fields,
            )
        )
    by_product: dict[str, list[ProductService]] = {}
    for service in services:
        known = _known(service=service.name)
        if known is not None and service.name not in claimed:
            if any(p.vendor == known.vendor and p.name == known.name for p in products):
                continue
            by_product.setdefault(known.name, []).append(service)
    for product_name, owned in by_product.items():
        known = next(p for p in KNOWN_PRODUCTS if p.name == product_name)
        running = [s.running for s in owned]
        enabled = True if any(running) else (False if all(r is False for r in running) else None)
        products.append(
            AntivirusProduct(
                name=known.name,
                vendor=known.vendor,
                recognised_by="service",
                evidence=[f"service {s.name} ({known.confidence} confidence)" for s in owned][:16],
                state="unknown" if enabled is None else ("on" if enabled else "off"),
                enabled=enabled,
                services=owned[:16],
            )
        )
    sources = [part for part in _PARTS if part in data]
    read_ok = any(part in data for part in ("SecurityCenter2", "MpComputerStatus", "Services"))
    return facts_from_products(products, sources, read_ok, "; ".join(notes))


_PARTS = ("SecurityCenter2", "MpComputerStatus", "MpThreat", "MpThreatDetection", "Events", "Services")


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def collect_windows(ctx: HostContext) -> Collected:
    result = ctx.run(POWERSHELL_ARGV, timeout=180)
    if result.returncode != 0 and not result.stdout.strip():
        raise ReadError("powershell antivirus", (result.stderr or "failed").strip()[:500])
    try:
        data = json.loads(result.stdout.lstrip("\ufeff") or "{}")
    except ValueError as exc:
        raise ReadError("powershell antivirus", f"output is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        data = {}
    errors = [
        SectionError(source=part, message=clip(data[part + "Error"], 1024))
        for part in _PARTS
        if data.get(part + "Error") and part != "SecurityCenter2"  # absent on Windows Server: not an error
    ]
    facts = parse_windows_antivirus(data)
    if data.get("SecurityCenter2Error") and "MpComputerStatus" not in data and not facts.products:
        errors.append(
            SectionError(source="SecurityCenter2", message=clip(data["SecurityCenter2Error"], 1024))
        )
    return Collected(facts, errors)
