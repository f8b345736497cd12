"""Probe ``software``: installed programs (A9-T3.1, A9-M3.1).

Linux: the dpkg database (/var/lib/dpkg/status, install dates from the package file
lists) and rpm. Windows: the Uninstall keys of HKLM (64-bit and WOW6432Node) and of every
loaded user hive, exported with `reg export` and parsed by agent.regfile. System
components and updates are kept and flagged, never dropped; keys without a DisplayName
(not programs) are counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from agent.host import HostContext, ReadError
from agent.probes.base import Collected, Probe
from agent.regfile import RegValue, decode_reg_file, parse_reg_export
from wire import SectionError
from wire.sections.software import SoftwareFacts, SoftwareItem

__all__ = [
    "PROBE",
    "items_from_uninstall_json",
    "items_from_uninstall_keys",
    "parse_dpkg_status",
    "parse_rpm_query",
    "registry_date",
]

UNINSTALL = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
UNINSTALL_WOW64 = r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall"
RPM_FORMAT = "%{NAME}\\t%{EPOCH}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{VENDOR}\\t%{INSTALLTIME}\\t%{SIZE}\\n"
_UPDATE_TYPES = {"security update", "update", "hotfix", "service pack", "update rollup"}


def _clip(value: object, limit: int = 255) -> str:
    text = "" if value is None else str(value)
    return text.replace("\x00", "").strip()[:limit]


# -- Linux ---------------------------------------------------------------------------------
def parse_dpkg_status(text: str, install_times: Mapping[str, float] | None = None) -> list[SoftwareItem]:
    """Installed packages from /var/lib/dpkg/status.

    Sample stanza (stanzas are separated by a blank line)::

        Package: apt
        Status: install ok installed
        Installed-Size: 4232
        Maintainer: APT Development Team <deity@lists.debian.org>
        Architecture: amd64
        Version: 2.6.1
    """
    items = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if not line or line[0] in " \t" or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        status = fields.get("status", "").split()
        name = fields.get("package", "")
        if len(status) != 3 or status[2] != "installed" or not name:
            continue
        arch = fields.get("architecture", "")
        when = (install_times or {}).get(f"{name}:{arch}") or (install_times or {}).get(name)
        try:
            size: int | None = int(fields.get("installed-size", ""))
        except ValueError:
            size = None
        items.append(
            SoftwareItem(
                name=_clip(name, 128),
                version=_clip(fields.get("version")),
                publisher=_clip(fields.get("maintainer")),
                install_date=datetime.fromtimestamp(when, UTC).date().isoformat() if when else "",
                source="dpkg",
                architecture=_clip(arch),
                kind="package",
                size_kb=size,
                key=_clip(name),
            )
        )
    return items


def parse_rpm_query(text: str) -> list[SoftwareItem]:
    """Output of ``rpm -qa --queryformat`` with RPM_FORMAT (tab-separated, one package a line).

    Sample line: ``bash\\t(none):5.1.8-6.el9\\tx86_64\\tRocky Enterprise Software Foundation\\t1690000000\\t7738634``.
    """
    items = []
    for line in text.splitlines():
        cols = line.split("\t")
        if len(cols) != 6 or not cols[0]:
            continue
        name, version, arch, vendor, installed, size = cols
        version = version.removeprefix("(none):")
        try:
            date = datetime.fromtimestamp(int(installed), UTC).date().isoformat()
        except (ValueError, OverflowError, OSError):
            date = ""
        try:
            size_kb: int | None = int(size) // 1024
        except ValueError:
            size_kb = None
        items.append(
            SoftwareItem(
                name=_clip(name, 128),
                version=_clip(version),
                publisher=_clip(vendor.replace("(none)", "")),
                install_date=date,
                source="rpm",
                architecture=_clip(arch),
                kind="package",
                size_kb=size_kb,
                key=_clip(name),
            )
        )
    return items


def _dpkg_install_times(ctx: HostContext) -> dict[str, float]:
    """A package's install (or last upgrade) time: the mtime of its file list."""
    times = {}
    for name in ctx.listdir("/var/lib/dpkg/info"):
        if name.endswith(".list") and (stamp := ctx.mtime(f"/var/lib/dpkg/info/{name}")) is not None:
            times[name[:-5]] = stamp
    return times


def collect_linux(ctx: HostContext) -> Collected:
    items: list[SoftwareItem] = []
    errors: list[SectionError] = []
    sources = []
    status = ctx.read_optional("/var/lib/dpkg/status")
    if status is not None:
        items += parse_dpkg_status(status, _dpkg_install_times(ctx))
        sources.append("dpkg")
    if ctx.which("rpm"):
        try:
            result = ctx.run(["rpm", "-qa", "--queryformat", RPM_FORMAT])
            if result.returncode == 0:
                items += parse_rpm_query(result.stdout)
                sources.append("rpm")
            else:
                errors.append(
                    SectionError(source="rpm -qa", message=result.stderr.strip()[:1000] or "failed")
                )
        except ReadError as exc:
            errors.append(SectionError(source=exc.source, message=exc.message[:1000]))
    if not sources:
        errors.append(SectionError(source="/var/lib/dpkg/status", message="no dpkg or rpm database found"))
    return Collected(SoftwareFacts(items=_sorted(items), sources=sources), errors)


# -- Windows -------------------------------------------------------------------------------
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


def _export(ctx: HostContext, key: str) -> dict[str, dict[str, RegValue]]:
    return parse_reg_export(decode_reg_file(ctx.reg_export(key)))


def _loaded_user_hives(ctx: HostContext) -> list[str]:
    result = ctx.run(["reg", "query", "HKU"])
    return [
        line.strip().split("\\", 1)[1]
        for line in result.stdout.splitlines()
        if re.fullmatch(r"HKEY_USERS\\S-1-5-21-[\d-]+", line.strip())
    ]


def collect_windows(ctx: HostContext) -> Collected:
    """Not yet run on a real Windows PC by the test suite: its parsing is (test_software.py)."""
    items: list[SoftwareItem] = []
    errors: list[SectionError] = []
    sources: list[str] = []
    unnamed = 0
    plan = [
        (f"HKLM\\{UNINSTALL}", "machine", "", "HKLM 64-bit"),
        (f"HKLM\\{UNINSTALL_WOW64}", "machine", "x86", "HKLM 32-bit"),
    ]
    try:
        plan += [(f"HKU\\{sid}\\{UNINSTALL}", "user", "", f"HKU {sid}") for sid in _loaded_user_hives(ctx)]
    except ReadError as exc:
        errors.append(SectionError(source=exc.source, message=exc.message))
    for key, scope, arch, label in plan:
        try:
            keys = _export(ctx, key)
        except ReadError as exc:
            if scope == "machine" and arch == "x86":
                continue  # a 32-bit Windows has no WOW6432Node
            errors.append(SectionError(source=exc.source, message=exc.message))
            continue
        found, missing = items_from_uninstall_keys(
            keys, scope=scope, user=label[4:] if scope == "user" else "", arch=arch
        )
        items += found
        unnamed += missing
        sources.append(label)
    note = "" if sources else "no Uninstall key could be read"
    facts = SoftwareFacts(items=_sorted(items), unnamed_entries=unnamed, sources=sources, note=note)
    return Collected(facts, errors[:32])


def _sorted(items: Iterable[SoftwareItem]) -> list[SoftwareItem]:
    return sorted(
        items, key=lambda i: (i.name.lower(), i.version, i.source, i.scope, i.user, i.architecture, i.key)
    )


PROBE = Probe(
    section="software",
    description="Installed programs: dpkg/rpm on Linux, the Uninstall keys on Windows.",
    collectors={"linux": collect_linux, "windows": collect_windows},
)
