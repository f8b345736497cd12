"""Probe ``licensing``: OS and Office activation, KMS configuration, activator indicators (A9-T3.1).

Windows (agent/probes/licensing_windows.py): one PowerShell call reads SoftwareLicensingProduct
and OfficeSoftwareProtectionProduct, the licensing services, the KMS registry values, the Office
registration, and tests for the activator artefacts of ``licensing_windows.INDICATORS``.
This module holds the pure parsers both that reader and captured outputs go through
(``wmic ... /format:list``, ``cscript ospp.vbs /dstatus``, ``reg export``).

Linux: Debian-family systems have no activation in this sense; the probe says so.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from agent.host import HostContext
from agent.probes.base import Collected, Probe
from agent.regfile import RegValue
from agent.wmi import parse_wmi_date
from wire.sections.licensing import KmsHost, LicenseProduct, LicenseStatusName, OfficeInstall

__all__ = [
    "APPLICATIONS",
    "KMS_MAX_GRACE_MINUTES",
    "LICENSE_STATUS",
    "PROBE",
    "as_port",
    "classify_kms_host",
    "license_product",
    "office_installs",
    "office_registration_from_reg",
    "parse_ospp_dstatus",
    "split_host_port",
]

#: SoftwareLicensingProduct.LicenseStatus (learn.microsoft.com, SoftwareLicensingProduct class).
LICENSE_STATUS: dict[int, LicenseStatusName] = {
    0: "unlicensed",
    1: "licensed",
    2: "oob_grace",  # out-of-box grace: not yet activated
    3: "oot_grace",  # out-of-tolerance grace: hardware changed
    4: "non_genuine_grace",
    5: "notification",  # not activated, grace over: nag mode
    6: "extended_grace",
}
#: ApplicationID -> what it licenses.
APPLICATIONS = {
    "55c92734-d682-4d71-983e-d6ec3f16059f": "windows",
    "0ff1ce15-a989-479d-af46-f275c6370663": "office",  # Office 2013 and later
    "59a52881-a989-479d-af46-f275c6370663": "office",  # Office 2010 (OSPP)
}
#: Default addresses of activators' built-in KMS emulators (KMS_VL_ALL: KMS_IP=172.16.0.2).
EMULATOR_ADDRESSES = frozenset({"172.16.0.2"})
#: A KMS client licence lasts 180 days at most (259200 minutes); more means KMS38 / TSforge.
KMS_MAX_GRACE_MINUTES = 259200
_OSPP_STATUS = {
    "UNLICENSED": 0,
    "LICENSED": 1,
    "OOBGRACE": 2,
    "OOTGRACE": 3,
    "NONGENUINEGRACE": 4,
    "NOTIFICATIONS": 5,
    "EXTENDEDGRACE": 6,
}
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def _text(value: Any, limit: int = 255) -> str:
    if isinstance(value, dict):  # PS 5.1 {"value": .., "DateTime": ..}
        value = value.get("value")
    text = "" if value is None else str(value)
    return text.replace("\x00", "").strip()[:limit]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip(), 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number < 2**63 else None


def as_port(value: Any) -> int | None:
    """A TCP port (1..65535) from a number or text, else None."""
    number = _int(value)
    return number if number is not None and 0 < number <= 65535 else None


def _hex32(value: Any) -> str:
    number = _int(value)
    if number is None:
        try:
            number = int(str(value).strip()) & 0xFFFFFFFF  # negative HRESULTs from some shells
        except ValueError:
            return _text(value)
    return f"0x{number & 0xFFFFFFFF:08X}"


def _channel(channel: str, description: str) -> tuple[str, Any]:
    """(channel, family) from ProductKeyChannel, else from the '..., XXX channel' of the description."""
    if not channel:
        match = re.search(r",\s*([^,]+?)\s+channel\s*$", description, re.I)
        channel = match.group(1) if match else ""
    key = channel.upper().replace("_", ":")
    if "KMSCLIENT" in key or "GVLK" in key:
        family = "volume_kms_client"
    elif "MAK" in key:
        family = "volume_mak"
    elif "CSVLK" in key or key.startswith("VOLUME:KMS"):
        family = "volume_kms_host"
    elif key.startswith("OEM"):
        family = "oem"
    elif "EVAL" in key:
        family = "evaluation"
    elif key.startswith("RETAIL"):
        family = "retail"
    else:
        family = "other" if channel else "unknown"
    return channel[:255], family


def license_product(item: Mapping[str, Any], source: Any = "SoftwareLicensingProduct") -> LicenseProduct:
    """A LicenseProduct from one SoftwareLicensingProduct / OfficeSoftwareProtectionProduct instance.

    Sample input (``wmic path SoftwareLicensingProduct get /format:list``, one instance)::

        ApplicationID=0ff1ce15-a989-479d-af46-f275c6370663
        Description=Office 16, VOLUME_KMSCLIENT channel
        GracePeriodRemaining=259174
        KeyManagementServiceMachine=mydomain.ms.com
        LicenseStatus=1
        Name=Office 16, Office16ProPlusVL_KMS_Client edition
        PartialProductKey=WE9H9
        ProductKeyChannel=Volume:GVLK

    PowerShell JSON carries the same names with numbers as numbers.
    """
    app_id = _text(item.get("ApplicationID") or item.get("ApplicationId"), 64).lower()
    description = _text(item.get("Description"))
    channel, family = _channel(_text(item.get("ProductKeyChannel")), description)
    status = _int(item.get("LicenseStatus"))
    status = status if status in LICENSE_STATUS else None
    addon = str(item.get("LicenseIsAddon", "")).strip().lower()
    end = parse_wmi_date(item.get("EvaluationEndDate"))
    return LicenseProduct(
        application=APPLICATIONS.get(app_id, "other"),
        application_id=app_id,
        sku_id=_text(item.get("ID") or item.get("SkuId"), 64).lower(),
        name=_text(item.get("Name")),
        description=description,
        license_family=_text(item.get("LicenseFamily")),
        channel=channel,
        channel_family=family,
        addon={"true": True, "false": False}.get(addon),
        license_status=status,
        license_status_name=LICENSE_STATUS.get(status, "unknown") if status is not None else "unknown",
        license_status_reason=_hex32(item["LicenseStatusReason"]) if item.get("LicenseStatusReason") else "",
        grace_minutes_remaining=_int(item.get("GracePeriodRemaining")),
        evaluation_end=end.isoformat() if end else "",
        partial_product_key=_text(item.get("PartialProductKey"), 16),
        kms_host=_text(item.get("KeyManagementServiceMachine")),
        kms_port=as_port(item.get("KeyManagementServicePort")),
        kms_discovered_host=_text(item.get("DiscoveredKeyManagementServiceMachineName")),
        kms_discovered_address=_text(item.get("DiscoveredKeyManagementServiceMachineIpAddress")),
        source=source
        if source in ("SoftwareLicensingProduct", "OfficeSoftwareProtectionProduct")
        else "ospp.vbs",
    )


def parse_ospp_dstatus(text: str) -> tuple[list[LicenseProduct], list[tuple[str, int | None, str]]]:
    """Office licences and KMS hosts from ``cscript ospp.vbs /dstatus`` output.

    Returns (products, [(host, port, "registry override" | "DNS")]). Sample block::

        SKU ID: dedfa23d-6ed1-45a6-85dc-63cae0546de6
        LICENSE NAME: Office 16, Office16StandardVL_KMS_Client edition
        LICENSE DESCRIPTION: Office 16, VOLUME_KMSCLIENT channel
        LICENSE STATUS:  ---OOB_GRACE---
        ERROR CODE: 0x4004F00C
        REMAINING GRACE: 29 days  (43194 minute(s) before expiring)
        Last 5 characters of installed product key: DRTFM
                KMS machine registry override defined: kms.example.org:1688
    """
    products: list[LicenseProduct] = []
    hosts: list[tuple[str, int | None, str]] = []
    for block in re.split(r"\n-{5,}[^\n]*", "\n" + text.replace("\r", "")):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip().upper(), value.strip())
        if not any(k in fields for k in ("LICENSE NAME", "LICENSE STATUS", "SKU ID")):
            continue
        status = _OSPP_STATUS.get(re.sub(r"[^A-Z]", "", fields.get("LICENSE STATUS", "").upper()))
        grace = re.search(r"\((\d+)\s*minute", fields.get("REMAINING GRACE", ""))
        error = fields.get("ERROR CODE", "").split(" ")[0]
        item = {
            "ApplicationID": "0ff1ce15-a989-479d-af46-f275c6370663",
            "ID": fields.get("SKU ID", ""),
            "Name": fields.get("LICENSE NAME", ""),
            "Description": fields.get("LICENSE DESCRIPTION", ""),
            "LicenseStatus": status,
            "LicenseStatusReason": error if re.fullmatch(r"0x[0-9A-Fa-f]{1,8}", error) else None,
            "GracePeriodRemaining": grace.group(1) if grace else None,
            "PartialProductKey": fields.get("LAST 5 CHARACTERS OF INSTALLED PRODUCT KEY", ""),
        }
        override = split_host_port(fields.get("KMS MACHINE REGISTRY OVERRIDE DEFINED", ""))
        dns = split_host_port(fields.get("KMS MACHINE NAME FROM DNS", ""))
        item["KeyManagementServiceMachine"], item["KeyManagementServicePort"] = override
        item["DiscoveredKeyManagementServiceMachineName"] = dns[0]
        products.append(license_product(item, "ospp.vbs"))
        hosts += [(h, p, how) for (h, p), how in ((override, "registry override"), (dns, "DNS")) if h]
    return products, hosts


def split_host_port(value: str) -> tuple[str, int | None]:
    """``kms.example.org:1688``, ``[fe80::1]:1688``, ``10.0.0.5`` -> (host, port)."""
    text = value.strip()
    if re.search(r"not available|没有|不可用", text, re.I):
        return "", None
    if text.startswith("[") and "]" in text:
        host, _, rest = text[1:].partition("]")
        return host, as_port(rest.lstrip(":")) if rest.startswith(":") else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if port.strip().isdecimal():
            return host.strip(), as_port(port)
    return text, None


def classify_kms_host(
    host: str, port: int | None, application: str, source: str, discovered: bool = False
) -> KmsHost | None:
    """Classify a configured KMS host (None when empty); see KmsHost.flag for the review flags."""
    name = host.replace("\x00", "").strip().strip("[]").rstrip(".")
    source = source.replace("\x00", "")
    if not name:
        return None
    kind: Any
    try:
        address = ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        labels = name.split(".")
        if name.lower() == "localhost" or name.lower().endswith(".localhost"):
            kind = "loopback"
        elif len(name) <= 253 and all(_LABEL.match(label) for label in labels):
            kind = "dns_name"
        else:
            kind = "invalid"
    else:
        if address.is_loopback:
            kind = "loopback"
        elif address.is_unspecified:
            kind = "unspecified"
        elif address.is_link_local:
            kind = "link_local"
        elif address.is_private:
            kind = "private"
        elif address.is_global:
            kind = "public"
        else:
            kind = "reserved"
    if kind == "loopback":
        flag = "loopback"
    elif name in EMULATOR_ADDRESSES:
        flag = "emulator_address"
    elif kind in ("private", "link_local", "unspecified", "reserved") and not discovered:
        flag = "bare_address"  # a discovered address merely resolves a name the machine found
    elif kind == "invalid":
        flag = "invalid"
    else:
        flag = ""
    return KmsHost(
        host=name[:255],
        port=port,
        application=application if application in ("windows", "office") else "any",
        source=source[:255],
        discovered=discovered,
        kind=kind,
        loopback=kind == "loopback",
        flag=flag,
    )


def office_registration_from_reg(keys: Mapping[str, Mapping[str, RegValue]]) -> list[dict[str, Any]]:
    """Registration entries of a parsed ``reg export`` of HKLM\\SOFTWARE\\Microsoft\\Office, in the shape
    the PowerShell reader gives (``Key``, ``Version``, ``ProductName``, ``ProductID``, ``ProductCode``).

    Sample input (after agent.regfile.parse_reg_export)::

        [HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Office\\16.0\\Registration\\{90160000-0011-0000-1000-0000000FF1CE}]
        "ProductID"="00339-10000-00000-AA310"
    """
    entries = []
    for path, values in keys.items():
        match = re.search(r"\\Office\\(\d+\.\d+)\\Registration\\([^\\]+)$", path, re.I)
        if not match or not (values.get("ProductID") or values.get("ProductCode")):
            continue
        entries.append(
            {"Key": match.group(2), "Version": match.group(1)}
            | {
                k: values.get(k)
                for k in ("ProductName", "ProductID", "ProductCode")
                if isinstance(values.get(k), str)
            }
        )
    return entries


def office_installs(registration: Any, click_to_run: Any) -> list[OfficeInstall]:
    """Installed Office products: registration keys with a ProductID (named through the SKU entries
    whose ProductCode points at them) and the Click-to-Run ProductReleaseIds."""
    entries = [e for e in (registration if isinstance(registration, list) else []) if isinstance(e, dict)]
    names: dict[str, str] = {}
    for entry in sorted(entries, key=lambda e: _text(e.get("Key"))):
        code = _text(entry.get("ProductCode")).upper()
        if code and _text(entry.get("ProductName")):
            names.setdefault(code, _text(entry.get("ProductName")))
    found = []
    for entry in entries:
        key = _text(entry.get("Key")).upper()
        if not _text(entry.get("ProductID")):
            continue
        found.append(
            OfficeInstall(
                product=_text(entry.get("ProductName")) or names.get(key) or key or "Office",
                version=_text(entry.get("Version")),
                product_code=key,
                product_id=_text(entry.get("ProductID")),
                source="registration",
            )
        )
    c2r = click_to_run if isinstance(click_to_run, dict) else {}
    for release in _text(c2r.get("ProductReleaseIds"), 1024).split(","):
        if release.strip():
            version = _text(c2r.get("VersionToReport"))
            found.append(OfficeInstall(product=release.strip()[:255], version=version, source="click_to_run"))
    return sorted(found, key=lambda i: (i.product, i.version))[:64]


def _collect_windows(ctx: HostContext) -> Collected:
    from agent.probes.licensing_windows import collect_windows

    return collect_windows(ctx)


PROBE = Probe(
    section="licensing",
    description="OS and Office activation, KMS configuration, activator indicators",
    collectors={"windows": _collect_windows},
    not_applicable={
        "linux": "Debian-family Linux has no operating-system activation to read (Kylin/UOS activation is "
        "not read by this agent version)"
    },
)
