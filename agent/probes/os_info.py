"""Probe ``os``: operating system, host name, domain, boot and install times.

Linux: /etc/os-release, uname, the host name and boot time; Windows: agent.probes.os_info_windows
(one PowerShell call, or wmic on Windows 7).
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from agent.host import HostContext
from agent.probes.base import Collected, Probe
from wire import SectionError
from wire.sections import OsFacts

__all__ = ["PROBE", "collect_linux", "parse_os_release", "parse_timezone"]


def parse_os_release(text: str) -> dict[str, str]:
    """Parse /etc/os-release (shell-style KEY=value lines).

    Sample input::

        PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
        NAME="Debian GNU/Linux"
        VERSION_ID="12"
        ID=debian
    """
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if not key.replace("_", "").isalnum():
            continue
        try:
            parts = shlex.split(value, comments=False, posix=True)
        except ValueError:
            parts = [value.strip().strip("\"'")]
        values[key] = " ".join(parts)[:255]
    return values


def parse_timezone(etc_timezone: str | None, localtime_target: str) -> str:
    """Time-zone name from /etc/timezone, else from the /etc/localtime symlink target.

    Sample inputs: ``"Asia/Shanghai\\n"`` and ``"/usr/share/zoneinfo/Asia/Shanghai"``.
    """
    if etc_timezone and etc_timezone.strip():
        return etc_timezone.strip().splitlines()[0][:255]
    marker = "zoneinfo/"
    if marker in localtime_target:
        return localtime_target.split(marker, 1)[1][:255]
    return ""


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0].strip() if text and text.strip() else ""


_EARLIEST_PLAUSIBLE = 946684800  # 2000-01-01


def _install_date(ctx: HostContext) -> datetime | None:
    """Debian's installer leaves /var/log/installer; else the root's lost+found."""
    for candidate in ("/var/log/installer", "/lost+found"):
        stamp = ctx.mtime(candidate)
        if stamp is not None and stamp > _EARLIEST_PLAUSIBLE:  # images built with mtime 0 say nothing
            return datetime.fromtimestamp(stamp, tz=UTC)
    return None


def collect_linux(ctx: HostContext) -> Collected:
    errors: list[SectionError] = []
    release_text = ctx.read_optional("/etc/os-release") or ctx.read_optional("/usr/lib/os-release")
    if release_text is None:
        errors.append(SectionError(source="/etc/os-release", message="missing: OS name unknown"))
    release = parse_os_release(release_text or "")
    uname = ctx.fact("uname")
    hostname = ctx.fact("hostname") or uname.get("node") or "unknown"
    fqdn = ctx.fact("fqdn") or ""
    short = hostname.split(".", 1)[0]
    domain = fqdn.split(".", 1)[1] if "." in fqdn and fqdn.split(".", 1)[0] == short else ""
    try:
        last_boot: datetime | None = datetime.fromtimestamp(float(ctx.fact("boot_time")), tz=UTC)
    except Exception as exc:  # noqa: BLE001 - psutil raises various OS errors
        errors.append(SectionError(source="boot time", message=str(exc)[:1000]))
        last_boot = None
    facts = OsFacts(
        family="linux",
        name=release.get("NAME", "Linux"),
        version=release.get("VERSION_ID", ""),
        pretty_name=release.get("PRETTY_NAME", ""),
        distribution_id=release.get("ID", ""),
        like=release.get("ID_LIKE", "").split()[:16],
        architecture=str(uname.get("machine", ""))[:255],
        kernel=str(uname.get("release", ""))[:255],
        hostname=short[:128] or "unknown",
        fqdn=fqdn[:255] if "." in fqdn else "",
        domain=domain[:255],
        domain_kind="dns" if domain else "none",
        machine_id=_first_line(ctx.read_optional("/etc/machine-id")),
        install_date=_install_date(ctx),
        last_boot=last_boot,
        timezone=parse_timezone(ctx.read_optional("/etc/timezone"), ctx.link_target("/etc/localtime")),
    )
    return Collected(facts, errors)


def _collect_windows(ctx: HostContext) -> Collected:
    from agent.probes.os_info_windows import collect_windows

    return collect_windows(ctx)


PROBE = Probe(
    section="os",
    description="Operating system, host name, domain, boot and install times.",
    collectors={"linux": collect_linux, "windows": _collect_windows},
)
