"""Linux reader of ``log_settings``: journald, syslog daemons, logrotate, auditd, oldest entries.

Parsers here are pure: rsyslog/syslog-ng rules, auditd.conf, rotated file names and the
first time stamp of a log file; journald lives in log_settings_journal_linux, logrotate in
log_settings_logrotate_linux. ``collect_linux`` reads through the HostContext and assembles
the stores.
"""

from __future__ import annotations

import lzma
import re
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime

from agent.host import HostContext, ReadError
from agent.probes.base import Collected
from agent.probes.log_settings_journal_linux import read_journald
from agent.probes.log_settings_logrotate_linux import describe, include_targets, matches, parse_logrotate
from wire import SectionError
from wire.sections.log_settings import (
    AuditdFacts,
    LogrotateRule,
    LogSettingsFacts,
    LogStore,
    RetentionMode,
)

__all__ = [
    "CORE_LOGS",
    "collect_linux",
    "file_store",
    "first_timestamp",
    "installed",
    "parse_auditd_conf",
    "parse_syslog_targets",
    "rotated_siblings",
]

CORE_LOGS = (
    "/var/log/syslog",
    "/var/log/auth.log",
    "/var/log/messages",
    "/var/log/secure",
    "/var/log/kern.log",
)
_EXT = r"(?:gz|xz|bz2|zst|lz4|Z)"
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


# -- syslog daemons and auditd ---------------------------------------------------------------
def parse_syslog_targets(text: str) -> list[str]:
    """Absolute files written by rsyslog or syslog-ng rules (legacy, RainerScript, syslog-ng).

    Samples::

        auth,authpriv.*                 /var/log/auth.log
        *.*;auth,authpriv.none          -/var/log/syslog
        action(type="omfile" file="/var/log/secure")
        destination d_auth { file("/var/log/auth.log"); };
    """
    found: list[str] = []
    for raw in text.replace("\x00", "").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        legacy = re.match(r"^[\w*,;.!=<>\s-]+\s+-?(/[^\s;]+)\s*$", line)
        if legacy and "." in line.split()[0]:
            found.append(legacy.group(1))
        for match in re.finditer(r"""\b(?:file|File)\s*(?:=\s*|\(\s*)["'](/[^"']+)["']""", line):
            found.append(match.group(1))
    return sorted({f[:1024] for f in found if not f.startswith("/dev/")})


def parse_auditd_conf(text: str) -> AuditdFacts:
    """auditd.conf ``key = value`` lines. Sample::

    log_file = /var/log/audit/audit.log
    max_log_file = 8
    num_logs = 5
    max_log_file_action = ROTATE
    """
    values: dict[str, str] = {}
    for raw in text.replace("\x00", "").splitlines():
        key, sep, value = raw.split("#", 1)[0].partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()

    def number(key: str) -> int | None:
        value = values.get(key, "")
        return int(value) if value.isdecimal() and len(value) < 12 else None

    return AuditdFacts(
        installed=True,
        log_file=values.get("log_file", "/var/log/audit/audit.log")[:1024],
        max_log_file_mb=number("max_log_file"),
        num_logs=number("num_logs"),
        max_log_file_action=values.get("max_log_file_action", "")[:255],
    )


# -- log files -----------------------------------------------------------------------------
def rotated_siblings(base: str, names: Iterable[str]) -> list[str]:
    """Names in the same folder that are rotations of ``base`` (``syslog.1``, ``syslog.2.gz``,
    ``dpkg.log-20240101.xz``, ``audit.log.3``)."""
    pattern = re.compile(rf"^{re.escape(base)}(?:[.-]\d+(?:\.{_EXT})?|\.{_EXT})$")
    return sorted(n for n in names if n != base and pattern.match(n))


def first_timestamp(text: str, reference: datetime | None = None) -> datetime | None:
    """The time stamp on the first dated line of a log (within its first 50 lines).

    Formats: RFC 3339 (``2026-11-27T08:13:01.123456+00:00``, rsyslog on Debian 12),
    ``2026-11-27 08:13:01`` (dpkg, apt; read as UTC), RFC 3164 ``Nov 27 08:13:01`` (year
    taken from ``reference``, the file's time, so that the entry is not after it), and
    auditd ``msg=audit(1732694400.123:42)``.
    """
    for line in text.splitlines()[:50]:
        iso = re.search(
            r"(\d{4}-\d{2}-\d{2})(?:T| +)(\d{2}:\d{2}:\d{2})(?:[.,]\d+)?\s?(Z|[+-]\d{2}:?\d{2}|UTC|GMT)?",
            line[:200],
        )
        if iso:
            zone = iso.group(3) or ""
            zone = "+00:00" if zone in {"Z", "UTC", "GMT", ""} else zone
            if re.fullmatch(r"[+-]\d{4}", zone):
                zone = zone[:3] + ":" + zone[3:]
            try:
                return datetime.fromisoformat(f"{iso.group(1)}T{iso.group(2)}{zone}").astimezone(UTC)
            except ValueError:
                continue
        audit = re.search(r"audit\((\d{9,11})\.\d+:\d+\)", line)
        if audit:
            return datetime.fromtimestamp(int(audit.group(1)), UTC)
        bsd = re.match(r"^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})\b", line)
        if bsd and bsd.group(1) in _MONTHS:
            ref = reference or datetime.now(UTC)
            for year in (ref.year, ref.year - 1):
                try:
                    stamp = datetime(
                        year, _MONTHS[bsd.group(1)], int(bsd.group(2)),
                        int(bsd.group(3)), int(bsd.group(4)), int(bsd.group(5)), tzinfo=UTC,
                    )  # fmt: skip
                except ValueError:
                    continue
                if stamp <= ref:
                    return stamp
    return None


def _decompress(name: str, data: bytes) -> str | None:
    """The text at the start of a (possibly compressed) log file, from its first bytes only:
    gzip and xz streams are decoded incrementally, so a truncated head is enough."""
    try:
        if name.endswith(".gz"):
            data = zlib.decompressobj(wbits=31).decompress(data, 65536)
        elif name.endswith(".xz"):
            data = lzma.LZMADecompressor().decompress(data, max_length=65536)
        elif re.search(r"\.(bz2|zst|lz4|Z)$", name):
            return None
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError):
        return None
    return data[:65536].decode("utf-8", errors="replace")


def _head(ctx: HostContext, path: str) -> str | None:
    """The start of a log file (decompressed), '' when empty, None when unreadable."""
    try:
        data = ctx.read_head(path, 256 * 1024)
    except ReadError:
        return None
    return _decompress(path, data) if data else ""


def _days(oldest: datetime | None, now: datetime) -> int | None:
    return max(0, (now - oldest).days) if oldest is not None else None


def file_store(
    ctx: HostContext, path: str, rule: LogrotateRule | None, rotating: bool | None, now: datetime
) -> LogStore | None:
    """A log file with its rotations: oldest entry from the oldest file's first line."""
    folder, _, base = path.rpartition("/")
    names = ctx.listdir(folder or "/")
    siblings = rotated_siblings(base, names)
    present = [n for n in [base, *siblings] if n in names]
    if not present:
        return None
    times = {n: ctx.mtime(f"{folder}/{n}") for n in present}
    oldest_name = min(present, key=lambda n: times[n] or float("inf"))
    oldest_path = f"{folder}/{oldest_name}"
    stamp = times[oldest_name]
    reference = datetime.fromtimestamp(stamp, UTC) if stamp else None
    head = _head(ctx, oldest_path)
    first = first_timestamp(head or "", reference)
    source, note = f"first line of {oldest_path}", ""
    if head == "" and len(present) == 1:
        note = "the file is empty"
    elif first is None and reference is not None:
        first, source = reference, f"modification time of {oldest_path}"
    if first is not None and first > now:
        first, note = None, f"{oldest_path}: time stamp in the future, ignored"
    mode: RetentionMode = "unknown"
    if rotating is not None:
        mode = "rotate" if rule is not None and rotating else "none"
    if rule is not None and rotating is False:
        note = "; ".join(
            filter(None, [note, "a logrotate rule covers this file but logrotate is not installed"])
        )
    elif rule is None and rotating is not None:
        note = "; ".join(filter(None, [note, "no logrotate rule covers this file"]))
    return LogStore(
        name=path[:128],
        kind="file",
        path=path[:1024],
        retention_mode=mode,
        oldest_entry=first,
        oldest_entry_source=source[:255] if first is not None else "",
        retained_days=_days(first, now),
        policy_retention_days=rule.retention_days if rule is not None else None,
        policy=f"logrotate {describe(rule)} ({rule.source})"[:1024] if rule is not None else "",
        rotated_files=len(siblings),
        note=note,
    )


def installed(ctx: HostContext, program: str) -> bool:
    """Whether a program is installed, by its usual paths (files, so a capture replays it)."""
    return any(ctx.exists(f"{folder}/{program}") for folder in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"))


def _glob_files(ctx: HostContext, pattern: str) -> list[str]:
    folder, _, base = pattern.rpartition("/")
    if not folder or any(c in folder for c in "*?[{"):
        return []
    if not any(c in base for c in "*?[{"):
        return [pattern]
    return [f"{folder}/{n}" for n in ctx.listdir(folder) if matches(pattern, f"{folder}/{n}")]


def _read_logrotate(ctx: HostContext) -> tuple[str, dict[str, str], dict[str, list[str]]]:
    files: dict[str, str] = {}
    dirs: dict[str, list[str]] = {}
    main = "/etc/logrotate.conf"
    text = ctx.read_optional(main)
    if text is None:  # no main file: read the packages' folder as logrotate would include it
        main, text = "<none>", "include /etc/logrotate.d\n"
    files[main] = text
    todo = include_targets(text)
    while todo and len(files) < 1000:
        target = todo.pop(0)
        names = ctx.listdir(target)
        if names:
            dirs[target] = names
            todo += [f"{target.rstrip('/')}/{n}" for n in names]
        elif target not in files and (content := ctx.read_optional(target)) is not None:
            files[target] = content
            todo += include_targets(content)
    return main, files, dirs


def collect_linux(ctx: HostContext, now: datetime | None = None) -> Collected:
    now = now or datetime.now(UTC)
    errors: list[SectionError] = []
    journald, journal_store = read_journald(ctx, errors, now)
    daemons = [d for d in ("rsyslog", "syslog-ng") if installed(ctx, "rsyslogd" if d == "rsyslog" else d)]
    conf_texts = []
    for main, folder in (
        ("/etc/rsyslog.conf", "/etc/rsyslog.d"),
        ("/etc/syslog-ng/syslog-ng.conf", "/etc/syslog-ng/conf.d"),
    ):
        conf_texts.append(ctx.read_optional(main) or "")
        conf_texts += [
            ctx.read_optional(f"{folder}/{n}") or "" for n in ctx.listdir(folder) if n.endswith(".conf")
        ]
    targets = sorted({t for text in conf_texts for t in parse_syslog_targets(text)})
    main, files, dirs = _read_logrotate(ctx)
    rules, notes = parse_logrotate(main, files, dirs) if len(files) > 1 or main != "<none>" else ([], [])
    rotating = installed(ctx, "logrotate")
    auditd = None
    audit_conf = ctx.read_optional("/etc/audit/auditd.conf")
    if audit_conf is not None or installed(ctx, "auditd"):
        auditd = parse_auditd_conf(audit_conf or "")
    candidates: dict[str, LogrotateRule | None] = dict.fromkeys((*CORE_LOGS, *targets))
    for rule in rules:
        for pattern in rule.patterns:
            for path in _glob_files(ctx, pattern):
                candidates.setdefault(path, rule)
    for path in candidates:
        if candidates[path] is None:
            candidates[path] = next((r for r in rules if any(matches(p, path) for p in r.patterns)), None)
    stores = [journal_store]
    for path in sorted(candidates)[:500]:
        store = file_store(ctx, path, candidates[path], rotating, now)
        if store is not None:
            stores.append(store)
    if auditd is not None:
        store = file_store(ctx, auditd.log_file or "/var/log/audit/audit.log", None, None, now)
        if store is not None:
            size = (auditd.max_log_file_mb or 0) * (auditd.num_logs or 0) * 1024 * 1024
            stores.append(
                store.model_copy(
                    update={
                        "retention_mode": "rotate"
                        if auditd.max_log_file_action.upper() == "ROTATE"
                        else "unknown",
                        "max_size_bytes": size or None,
                        "policy": f"auditd max_log_file={auditd.max_log_file_mb} MiB, num_logs={auditd.num_logs}, "
                        f"{auditd.max_log_file_action}",
                        "note": "",
                    }
                )
            )
    facts = LogSettingsFacts(
        stores=stores,
        journald=journald,
        syslog_daemons=daemons,
        syslog_files=targets[:128],
        logrotate_installed=rotating,
        logrotate_rules=rules,
        auditd=auditd,
        note="; ".join(notes)[:8192],
    )
    return Collected(facts, errors)
