"""Linux reader of the ``patches`` section: apt (Debian family) and dnf/yum (RPM family).

Pending updates come from a simulated upgrade (``apt-get -s``, no root needed, no lock
taken, nothing written), history from /var/log/apt/history.log and its rotations, the age
of the package lists from their file times, the reboot flag from /run/reboot-required.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from agent.host import HostContext, ReadError
from agent.probes.base import Collected, ProbeSkipped
from wire import SectionError
from wire.sections.patches import AptRun, InstalledUpdate, PatchFacts, PendingUpdate

__all__ = [
    "APT_UPGRADE_ARGV",
    "DNF_CHECK_ARGV",
    "DNF_SECURITY_ARGV",
    "RPM_INSTALLTIME_ARGV",
    "collect_linux",
    "newer_kernel",
    "parse_apt_config",
    "parse_apt_history",
    "parse_apt_simulation",
    "parse_dnf_check_update",
    "parse_rpm_installtimes",
]

#: Simulated upgrade: works without root (no lock), and `Dir::Log::Planner=` keeps apt from
#: rewriting /var/log/apt/eipp.log.xz on every scan when run as root.
APT_UPGRADE_ARGV = ["apt-get", "-s", "-o", "Debug::NoLocking=1", "-o", "Dir::Log::Planner=", "upgrade"]
APT_CONFIG_ARGV = ["apt-config", "dump"]
DNF_CHECK_ARGV = ["dnf", "-q", "-C", "check-update"]
DNF_SECURITY_ARGV = ["dnf", "-q", "-C", "check-update", "--security"]
RPM_INSTALLTIME_ARGV = ["rpm", "-qa", "--queryformat", "%{INSTALLTIME} %{NAME}\\n"]
HISTORY = "/var/log/apt/history.log"
LISTS = "/var/lib/apt/lists"
STAMP = "/var/lib/apt/periodic/update-success-stamp"
MAX_HISTORY_FILES = 12

_INST = re.compile(r"^Inst (\S+) (?:\[([^\]]*)\] )?\((\S+) (.*?) ?\[([^\]]+)\]\)")
_SUMMARY = re.compile(r"(\d+) upgraded, (\d+) newly installed, (\d+) to remove and (\d+) not upgraded")
_PKG = re.compile(r"([^\s,()]+) \(([^()]*)\)")
_PERIODIC = re.compile(r"^\s*(APT::Periodic::[\w-]+)\s+\"([^\"]*)\";", re.M)


def _clip(value: object, limit: int = 255) -> str:
    return str(value or "").replace("\x00", "").strip()[:limit]


def _is_security(origin: str) -> bool:
    return "security" in origin.lower()


def parse_apt_simulation(text: str) -> tuple[list[PendingUpdate], int | None]:
    """Pending upgrades from ``apt-get -s upgrade`` and the count of packages kept back.

    Sample lines::

        Inst base-files [12.4+deb12u11] (12.4+deb12u15 Debian:12.15/oldstable [amd64])
        Inst libssl3 [3.0.16-1~deb12u1] (3.0.17-1~deb12u2 Debian-Security:12/oldstable-security [amd64])
        124 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.
    """
    pending = []
    held: int | None = None
    for line in text.splitlines():
        match = _INST.match(line)
        if match:
            name, old, new, origin, _arch = match.groups()
            pending.append(
                PendingUpdate(
                    id=_clip(name),
                    version=_clip(new),
                    current_version=_clip(old),
                    origin=_clip(origin, 1024),
                    security=_is_security(origin),
                )
            )
        elif (summary := _SUMMARY.search(line)) is not None:
            held = int(summary.group(4))
    return pending[:5000], held


def _apt_time(value: str, tz: tzinfo) -> datetime | None:
    try:
        return (
            datetime.strptime(" ".join(value.split()), "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz).astimezone(UTC)
        )
    except (ValueError, OverflowError):
        return None


def parse_apt_history(text: str, tz: tzinfo = UTC) -> tuple[list[AptRun], list[InstalledUpdate]]:
    """Runs and package upgrades of /var/log/apt/history.log (times in the host's zone ``tz``).

    Sample block (blocks are separated by a blank line)::

        Start-Date: 2026-05-09  07:28:46
        Commandline: apt-get install -y tzdata
        Upgrade: tzdata:amd64 (2025b-0+deb12u1, 2025b-0+deb12u2)
        End-Date: 2026-05-09  07:28:50
    """
    runs: list[AptRun] = []
    upgrades: list[InstalledUpdate] = []
    for block in re.split(r"\n\s*\n", text.replace("\r", "")):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(": ")
            if sep and key and " " not in key:
                fields[key.lower()] = value.strip()
        if "start-date" not in fields:
            continue
        started = _apt_time(fields["start-date"], tz)
        ended = _apt_time(fields.get("end-date", ""), tz)
        upgraded = _PKG.findall(fields.get("upgrade", ""))
        when = ended or started
        for name, versions in upgraded:
            old, _, new = versions.partition(", ")
            upgrades.append(
                InstalledUpdate(
                    id=_clip(name),
                    classification="upgrade",
                    installed_on=when.date().isoformat() if when else "",
                    installed_at=when,
                    version=_clip(new),
                    old_version=_clip(old),
                    source="apt_history",
                )
            )
        removed = sum(len(_PKG.findall(fields.get(k, ""))) for k in ("remove", "purge"))
        runs.append(
            AptRun(
                started_at=started,
                ended_at=ended,
                command=_clip(fields.get("commandline"), 1024),
                requested_by=_clip(fields.get("requested-by")),
                upgraded=len(upgraded),
                installed=len(_PKG.findall(fields.get("install", ""))),
                removed=removed,
                error=_clip(fields.get("error"), 1024),
            )
        )
    return runs, upgrades


def parse_apt_config(text: str) -> tuple[bool | None, str]:
    """Whether unattended upgrades are switched on, from ``apt-config dump`` or apt.conf.d files.

    Sample lines::

        APT::Periodic::Update-Package-Lists "1";
        APT::Periodic::Unattended-Upgrade "1";
    """
    values = dict(_PERIODIC.findall(text))
    detail = ", ".join(f"{k.removeprefix('APT::Periodic::')}={v}" for k, v in sorted(values.items()))
    value = values.get("APT::Periodic::Unattended-Upgrade", "0").strip().lower()
    enabled = value not in ("", "0", "false", "no", "off")
    return enabled, detail[:1024]


def parse_dnf_check_update(text: str, security: bool | None = None) -> list[PendingUpdate]:
    """Pending updates from ``dnf -q check-update`` (exit code 100 when there are some).

    Sample lines (a long name wraps its version and repository onto the next line)::

        kernel.x86_64                 5.14.0-362.8.1.el9_3          baseos
        Obsoleting Packages
    """
    pending: list[PendingUpdate] = []
    carry = ""
    for raw in text.splitlines():
        if raw.startswith("Obsoleting"):
            break
        if raw.startswith((" ", "\t")) and not carry:
            continue
        cols = (carry + " " + raw).split() if carry else raw.split()
        carry = ""
        if len(cols) == 1 and "." in cols[0]:
            carry = cols[0]
            continue
        if len(cols) != 3 or "." not in cols[0] or cols[0].startswith("Last"):
            continue
        name = cols[0].rsplit(".", 1)[0]
        pending.append(
            PendingUpdate(id=_clip(name), version=_clip(cols[1]), origin=_clip(cols[2]), security=security)
        )
    return pending[:5000]


def parse_rpm_installtimes(text: str) -> datetime | None:
    """The newest package install time from ``rpm -qa --queryformat '%{INSTALLTIME} %{NAME}\\n'``.

    Sample line: ``1690000000 bash``.
    """
    newest = None
    for line in text.splitlines():
        stamp = line.split(" ", 1)[0]
        if stamp.isdecimal() and len(stamp) < 12:
            newest = max(newest or 0, int(stamp))
    return datetime.fromtimestamp(newest, UTC) if newest else None


def _natural(version: str) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdecimal() else (1, p) for p in re.findall(r"\d+|[^\d.\-+~]+", version)]


def newer_kernel(running: str, installed: Iterable[str]) -> str:
    """Why a reboot is due for the kernel ('' when the running kernel is the newest installed)."""
    flavor = re.sub(r"^[\d.\-+~]+", "", running)  # "amd64" of 6.1.0-26-amd64, "rt-amd64" of ...-rt-amd64
    kernels = sorted({k for k in installed if k and re.sub(r"^[\d.\-+~]+", "", k) == flavor}, key=_natural)
    if not kernels or not running:
        return ""
    if running not in kernels:
        return f"running kernel {running} is no longer installed (newest: {kernels[-1]})"
    if kernels[-1] != running:
        return f"newer kernel {kernels[-1]} installed, running {running}"
    return ""


# -- the reader -----------------------------------------------------------------------------
def _host_zone(ctx: HostContext) -> tzinfo:
    try:
        return ZoneInfo.from_file(io.BytesIO(ctx.read_bytes("/etc/localtime")))
    except (ReadError, ValueError, OSError):
        return UTC


def _history_text(ctx: HostContext, errors: list[SectionError]) -> str:
    """history.log and its rotations, oldest first (history.log.12.gz ... history.log)."""
    names = ctx.listdir("/var/log/apt")
    rotated = sorted(
        (n for n in names if re.fullmatch(r"history\.log\.\d+(\.gz)?", n)),
        key=lambda n: int(n.split(".")[2]),
        reverse=True,
    )[-MAX_HISTORY_FILES:]
    parts = []
    for name in [*rotated, "history.log"]:
        path = f"/var/log/apt/{name}"
        try:
            data = ctx.read_bytes(path)
            if name.endswith(".gz"):
                data = gzip.decompress(data)
        except ReadError as exc:
            if name != "history.log" or ctx.exists(path):
                errors.append(SectionError(source=exc.source, message=exc.message))
            continue
        except (OSError, EOFError, zlib.error) as exc:
            errors.append(SectionError(source=path, message=f"not gzip: {exc}"[:1000]))
            continue
        parts.append(data.decode("utf-8", errors="replace"))
    return "\n\n".join(parts)


def _stamp(ctx: HostContext, path: str) -> datetime | None:
    when = ctx.mtime(path)
    return datetime.fromtimestamp(when, UTC) if when is not None else None


def _lists_age(ctx: HostContext) -> tuple[datetime | None, datetime | None, str]:
    found = {
        f"{LISTS}/{n}": t
        for n in ctx.listdir(LISTS)
        if n.endswith(("_InRelease", "_Release")) and (t := _stamp(ctx, f"{LISTS}/{n}")) is not None
    }
    if (stamp := _stamp(ctx, STAMP)) is not None:
        found[STAMP] = stamp
    if not found:
        return None, None, ""
    newest = max(found, key=lambda k: found[k])
    releases = [t for k, t in found.items() if k != STAMP]
    return found[newest], min(releases) if releases else None, newest


def _reboot(ctx: HostContext) -> tuple[bool | None, list[str], list[str]]:
    reasons, packages = [], []
    for flag in ("/var/run/reboot-required", "/run/reboot-required"):
        if ctx.exists(flag):
            reasons.append(flag)
            text = ctx.read_optional(f"{flag}.pkgs") or ""
            packages = sorted({line.strip()[:255] for line in text.splitlines() if line.strip()})[:500]
            break
    reliable = any(
        ctx.exists(p)
        for p in (
            "/usr/share/update-notifier/notify-reboot-required",
            "/etc/kernel/postinst.d/unattended-upgrades",
        )
    )
    kernels = [n.removeprefix("vmlinuz-") for n in ctx.listdir("/boot") if n.startswith("vmlinuz-")]
    if kernels:
        try:
            running = str(ctx.fact("uname").get("release", ""))
        except (ReadError, AttributeError):
            running = ""
        if running:
            reliable = True
            if why := newer_kernel(running, kernels):
                reasons.append(why[:255])
    return (True if reasons else (False if reliable else None)), reasons, packages


def _collect_apt(ctx: HostContext, errors: list[SectionError]) -> dict[str, object]:
    out: dict[str, object] = {"manager": "apt"}
    try:
        result = ctx.run(APT_UPGRADE_ARGV, timeout=120)
        if result.returncode == 0:
            pending, held = parse_apt_simulation(result.stdout)
            out |= {
                "pending": pending,
                "pending_count": len(pending),
                "pending_security_count": sum(1 for p in pending if p.security),
                "held_back_count": held,
            }
        else:
            errors.append(
                SectionError(source="apt-get -s upgrade", message=_clip(result.stderr, 1000) or "failed")
            )
    except ReadError as exc:
        errors.append(SectionError(source=exc.source[:255], message=exc.message[:1000]))
    runs, upgrades = parse_apt_history(_history_text(ctx, errors), _host_zone(ctx))
    runs.reverse()
    upgrades.reverse()
    done = [r for r in runs if (r.upgraded or r.installed) and not r.error and (r.ended_at or r.started_at)]
    if done:
        out["last_update_at"] = done[0].ended_at or done[0].started_at
        out["last_update_source"] = f"{HISTORY}: {done[0].command}"[:255]
    out["runs"], out["installed"] = runs[:1000], upgrades[:5000]
    out["lists_updated_at"], out["lists_oldest_at"], out["lists_source"] = _lists_age(ctx)
    config = ""
    if ctx.which("apt-config"):
        try:
            config = ctx.run(APT_CONFIG_ARGV).stdout
        except ReadError as exc:
            errors.append(SectionError(source=exc.source[:255], message=exc.message[:1000]))
    else:
        config = "\n".join(
            ctx.read_optional(f"/etc/apt/apt.conf.d/{n}") or "" for n in ctx.listdir("/etc/apt/apt.conf.d")
        )
    enabled, detail = parse_apt_config(config)
    installed = ctx.exists("/usr/bin/unattended-upgrade")
    out["auto_updates"] = enabled and installed
    out["auto_updates_detail"] = (
        (detail or "no APT::Periodic settings") + ("" if installed else "; unattended-upgrades not installed")
    )[:1024]
    return out


def _collect_rpm(ctx: HostContext, errors: list[SectionError]) -> dict[str, object]:
    tool = "dnf" if ctx.which("dnf") else "yum"
    out: dict[str, object] = {"manager": tool}
    argv = [tool, *DNF_CHECK_ARGV[1:]]
    try:
        result = ctx.run(argv, timeout=120)
        if result.returncode in (0, 100):
            pending = parse_dnf_check_update(result.stdout)
            security = ctx.run([tool, *DNF_SECURITY_ARGV[1:]], timeout=120)
            if security.returncode in (0, 100):
                ids = {p.id for p in parse_dnf_check_update(security.stdout)}
                pending = [p.model_copy(update={"security": p.id in ids}) for p in pending]
                out["pending_security_count"] = sum(1 for p in pending if p.security)
            else:
                errors.append(
                    SectionError(source=" ".join(DNF_SECURITY_ARGV), message=_clip(security.stderr, 1000))
                )
            out |= {"pending": pending, "pending_count": len(pending)}
        else:
            errors.append(SectionError(source=" ".join(argv), message=_clip(result.stderr, 1000) or "failed"))
    except ReadError as exc:
        errors.append(SectionError(source=exc.source[:255], message=exc.message[:1000]))
    try:
        if (newest := parse_rpm_installtimes(ctx.run(RPM_INSTALLTIME_ARGV).stdout)) is not None:
            out["last_update_at"], out["last_update_source"] = newest, "rpm INSTALLTIME (install or upgrade)"
    except ReadError as exc:
        errors.append(SectionError(source=exc.source[:255], message=exc.message[:1000]))
    if (made := _stamp(ctx, "/var/cache/dnf/last_makecache")) is not None:
        out["lists_updated_at"], out["lists_source"] = made, "/var/cache/dnf/last_makecache"
    return out


def collect_linux(ctx: HostContext) -> Collected:
    errors: list[SectionError] = []
    if ctx.exists("/var/lib/dpkg/status") and ctx.which("apt-get"):
        out = _collect_apt(ctx, errors)
    elif ctx.which("dnf") or ctx.which("yum"):
        out = _collect_rpm(ctx, errors)
    else:
        raise ProbeSkipped("neither apt-get nor dnf/yum found: no update manager this agent knows")
    out["reboot_required"], out["reboot_reasons"], out["reboot_packages"] = _reboot(ctx)
    notes = []
    if out.get("lists_updated_at") is None:
        notes.append("package lists were never downloaded or are missing: a pending count of 0 means nothing")
    if out["reboot_required"] is None:
        notes.append("no reboot flag mechanism (update-notifier/unattended-upgrades) and no kernel in /boot")
    facts = PatchFacts.model_validate({**out, "note": "; ".join(notes)})
    return Collected(facts, errors)
