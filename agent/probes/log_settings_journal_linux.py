"""journald part of the Linux ``log_settings`` reader: configuration, boots, disk usage.

Pure parsers for journald.conf and its drop-ins, ``journalctl --list-boots`` (JSON and the
older table) and ``journalctl --disk-usage``; ``read_journald`` reads them through the
HostContext and gives the journald facts and the journal as a log store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from agent.host import HostContext, ReadError
from wire import SectionError
from wire.sections.log_settings import JournaldFacts, JournaldSetting, LogStore

__all__ = [
    "DISK_USAGE_ARGV",
    "LIST_BOOTS_ARGV",
    "parse_disk_usage",
    "parse_journald_conf",
    "parse_list_boots",
    "parse_size",
    "parse_timespan",
    "read_journald",
]


LIST_BOOTS_ARGV = ["journalctl", "--list-boots", "-o", "json", "--no-pager"]
DISK_USAGE_ARGV = ["journalctl", "--disk-usage", "--no-pager"]
JOURNALD_KEYS = ("Storage", "SystemMaxUse", "MaxRetentionSec", "MaxFileSec")
JOURNALD_DROPIN_DIRS = (
    "/usr/lib/systemd/journald.conf.d",
    "/usr/local/lib/systemd/journald.conf.d",
    "/run/systemd/journald.conf.d",
    "/etc/systemd/journald.conf.d",
)
#: System and authentication logs looked for whether or not a rule names them.
_SPAN_UNITS = {
    "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3,
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
    "M": 2629800, "month": 2629800, "months": 2629800,
    "y": 31557600, "year": 31557600, "years": 31557600,
}  # fmt: skip


# -- journald ------------------------------------------------------------------------------
def parse_size(text: str) -> int | None:
    """journald/journalctl sizes: ``4G``, ``500M``, ``1.2G``, ``1024`` (base 1024) -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGTPE]?)i?B?\s*", text or "", re.I)
    if not match:
        return None
    power = " KMGTPE".index(match.group(2).upper() or " ")
    value = float(match.group(1)) * 1024**power
    return int(value) if value < 2**63 else None


def parse_timespan(text: str) -> int | None:
    """systemd time spans (``1month``, ``6 months``, ``180d``, ``1y 2M``, ``3600``) -> seconds."""
    text = (text or "").strip()
    if not text:
        return None
    if re.fullmatch(r"\d+", text):
        return int(text)
    total = 0.0
    pos = 0
    for match in re.finditer(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", text):
        if match.start() != pos or (
            match.group(2) not in _SPAN_UNITS and match.group(2).lower() not in _SPAN_UNITS
        ):
            return None
        unit = match.group(2) if match.group(2) in _SPAN_UNITS else match.group(2).lower()
        total += float(match.group(1)) * _SPAN_UNITS[unit]
        pos = match.end()
    return int(total) if pos == len(text) and total < 2**62 else None


def parse_journald_conf(files: Iterable[tuple[str, str]]) -> dict[str, JournaldSetting]:
    """Effective [Journal] settings; ``files`` in the order systemd applies them (later wins).

    Sample::

        [Journal]
        #Storage=auto
        Storage=persistent
        SystemMaxUse=4G
        MaxRetentionSec=6month
    """
    found: dict[str, JournaldSetting] = {}
    for path, text in files:
        section = ""
        path = path.replace("\x00", "")
        for number, raw in enumerate(text.replace("\x00", "").splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[] ")
                continue
            key, sep, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if section != "Journal" or not sep or key not in JOURNALD_KEYS:
                continue
            if not value:  # an empty assignment restores the default
                found.pop(key, None)
                continue
            number_value = parse_timespan(value) if key.endswith("Sec") else parse_size(value)
            found[key] = JournaldSetting(
                key=key, value=value[:255], source=f"{path}:{number}"[:1024], number=number_value
            )
    return found


def parse_list_boots(text: str) -> tuple[list[tuple[datetime, datetime | None]], str]:
    """Boots in the journal as (first entry, last entry), oldest first, and a note.

    ``journalctl --list-boots -o json`` (systemd 251+)::

        [{"index":-1,"boot_id":"3c1e...","first_entry":1732600000000000,"last_entry":1732603600000000}]

    Older journalctl ignore ``-o json`` and print a table, parsed as a fallback::

        -1 3c1e... Tue 2024-11-26 06:00:00 UTC—Tue 2024-11-26 07:00:00 UTC
    """
    boots: list[tuple[datetime, datetime | None]] = []
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                first, last = _usec(item.get("first_entry")), _usec(item.get("last_entry"))
                if first is not None:
                    boots.append((first, last))
        return sorted(boots, key=lambda b: b[0]), ""
    note = ""
    stamp = r"\w{3} (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) ?(\S*)"
    for match in re.finditer(rf"(?m)^\s*-?\d+\s+[0-9a-f]{{32}}\s+{stamp}\s*[—–-]+\s*(?:{stamp})?", text):
        first = _naive(match.group(1), match.group(2))
        last = _naive(match.group(3), match.group(4)) if match.group(3) else None
        if first is not None:
            boots.append((first, last))
            if match.group(2) not in {"UTC", "GMT", ""}:
                note = f"journal times in zone {match.group(2)[:16]} read as UTC"
    return sorted(boots, key=lambda b: b[0]), note


def _usec(value: Any) -> datetime | None:
    try:
        stamp = datetime.fromtimestamp(int(value) / 1_000_000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return stamp if stamp.year > 1970 else None


def _naive(text: str, zone: str = "") -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_disk_usage(text: str) -> int | None:
    """``Archived and active journals take up 1.2G in the file system.`` -> bytes."""
    match = re.search(r"take up (\S+) in the file ?system", text or "")
    return parse_size(match.group(1)) if match else None


def read_journald(
    ctx: HostContext, errors: list[SectionError], now: datetime
) -> tuple[JournaldFacts, LogStore]:
    sources: list[tuple[str, str]] = []
    main = ctx.read_optional("/etc/systemd/journald.conf") or ctx.read_optional(
        "/usr/lib/systemd/journald.conf"
    )
    if main is not None:
        sources.append(("/etc/systemd/journald.conf", main))
    dropins: dict[str, str] = {}
    for folder in JOURNALD_DROPIN_DIRS:  # same name: /etc over /run over /usr/lib
        for name in ctx.listdir(folder):
            if name.endswith(".conf"):
                dropins[name] = f"{folder}/{name}"
    for name in sorted(dropins):
        if (text := ctx.read_optional(dropins[name])) is not None:
            sources.append((dropins[name], text))
    settings = parse_journald_conf(sources)
    storage = settings["Storage"].value.lower() if "Storage" in settings else "auto"
    persistent = ctx.exists("/var/log/journal")
    effective = {"persistent": "persistent", "volatile": "volatile", "none": "none"}.get(
        storage, "persistent" if persistent else "volatile"
    )
    installed = any(ctx.exists(f"{folder}/journalctl") for folder in ("/usr/bin", "/bin"))
    boots: list[tuple[datetime, datetime | None]] = []
    usage = None
    note = ""
    if installed:
        try:
            result = ctx.run(LIST_BOOTS_ARGV, timeout=30)
            boots, note = parse_list_boots(result.stdout)
            if result.returncode != 0 and not boots:
                note = (result.stderr.strip() or "journalctl --list-boots failed")[:500]
            usage = parse_disk_usage(ctx.run(DISK_USAGE_ARGV, timeout=30).stdout)
        except ReadError as exc:
            errors.append(SectionError(source=exc.source[:255], message=exc.message[:1000]))
    elif main is not None:
        note = "journalctl not found"
    oldest = boots[0][0] if boots and boots[0][0] <= now else None
    if not boots and installed and not note:
        note = "the journal holds no entries"
    keys = ("SystemMaxUse", "MaxRetentionSec", "MaxFileSec")
    policy = ", ".join(
        f"{k}={settings[k].value}" if k in settings else f"{k} default" for k in ("Storage", *keys)
    )
    retention = settings.get("MaxRetentionSec")
    facts = JournaldFacts(
        installed=installed,
        active=ctx.exists("/run/systemd/journal/socket") if installed else None,
        storage=storage[:255],
        effective_storage=effective,
        persistent_dir_exists=persistent,
        settings=[
            settings.get(k) or JournaldSetting(key=k, value="", source="default") for k in ("Storage", *keys)
        ],
        boots=len(boots),
        disk_usage_bytes=usage,
    )
    store = LogStore(
        name="journal",
        kind="journald",
        path="/var/log/journal" if effective == "persistent" else "/run/log/journal",
        enabled=installed,
        max_size_bytes=settings["SystemMaxUse"].number if "SystemMaxUse" in settings else None,
        current_size_bytes=usage,
        retention_mode="journal" if installed else "unknown",
        oldest_entry=oldest,
        oldest_entry_source="journal first entry (journalctl --list-boots)" if oldest else "",
        retained_days=_days(oldest, now),
        policy_retention_days=retention.number // 86400 if retention and retention.number else None,
        policy=policy[:1024],
        note=note[:1024],
    )
    return facts, store


def _days(oldest: datetime | None, now: datetime) -> int | None:
    return max(0, (now - oldest).days) if oldest is not None else None
