"""Probe ``software``: installed programs (A9-T3.1, A9-M3.1).

Linux: the dpkg database (/var/lib/dpkg/status, install dates from the package file
lists) and rpm. Windows (agent.probes.software_windows): the Uninstall keys of HKLM
(64-bit and WOW6432Node), of every loaded user hive and of the users not logged on
(their NTUSER.DAT loaded for the read), exported with `reg export` and parsed by
agent.regfile, and the Store (AppX) packages. System components and updates are kept
and flagged, never dropped; keys without a DisplayName (not programs) are counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from agent.host import HostContext, ReadError
from agent.probes.base import Collected, Probe
from wire import SectionError
from wire.sections.software import SoftwareFacts, SoftwareItem

__all__ = ["PROBE", "parse_dpkg_status", "parse_rpm_query"]

RPM_FORMAT = "%{NAME}\\t%{EPOCH}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{VENDOR}\\t%{INSTALLTIME}\\t%{SIZE}\\n"


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


def _sorted(items: Iterable[SoftwareItem]) -> list[SoftwareItem]:
    return sorted(
        items, key=lambda i: (i.name.lower(), i.version, i.source, i.scope, i.user, i.architecture, i.key)
    )


def _collect_windows(ctx: HostContext) -> Collected:
    from agent.probes.software_windows import collect_windows

    return collect_windows(ctx)


PROBE = Probe(
    section="software",
    description="Installed programs: dpkg/rpm on Linux, the Uninstall keys and Store apps on Windows.",
    collectors={"linux": collect_linux, "windows": _collect_windows},
)
