"""Linux reader of the ``antivirus`` section: ClamAV.

Sources: the signature databases (``main``/``daily``/``bytecode`` ``.cvd``/``.cld``, whose
512-byte header gives build time and version), the freshclam log (last successful update),
clamscan/clamd logs (scan summaries and detections), ``clamscan --version`` (engine) and
``systemctl`` (clamav-daemon, clamav-freshclam, clamav-clamonacc). Times in ClamAV logs are
local time without a zone; the reader passes the host's zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from agent.host import HostContext, ReadError
from agent.probes.antivirus import clip, facts_from_products, within_window
from agent.probes.base import Collected
from wire import SectionError
from wire.sections.antivirus import AntivirusProduct, AntivirusScan, ProductService

__all__ = [
    "DATABASES",
    "UNITS",
    "CvdHeader",
    "FreshclamLog",
    "ScanLog",
    "clamav_product",
    "collect_linux",
    "parse_clamav_conf",
    "parse_clamscan_version",
    "parse_cvd_header",
    "parse_freshclam_log",
    "parse_scan_log",
]

DATABASES = ("main", "daily", "bytecode")
UNITS = ("clamav-daemon", "clamav-freshclam", "clamav-clamonacc")
#: Signatures older than this are out of date (Defender's default signature-due interval is the same).
MAX_SIGNATURE_AGE = timedelta(days=7)

_LOGTIME = re.compile(r"([A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \d{4}) -> ?(.*)")
_STARTED = re.compile(r"ClamAV update process started at (.+?)\s*$")
_UPDATED = re.compile(r"(\S+?) updated \(version: (\d+)|Database updated \(")
_CURRENT = re.compile(r"(\S+?)(?: database)? is up[- ]to[- ]date \(version: (\d+)")
_FOUND = re.compile(r"^(.*?): (\S+?)(?:\([0-9a-f]*:\d*\))? FOUND\s*$")
_SUMMARY_DATE = re.compile(r"^(Start|End) Date:\s+(\d{4}):(\d\d):(\d\d) (\d\d):(\d\d):(\d\d)")


@dataclass(frozen=True)
class CvdHeader:
    """The ``ClamAV-VDB:`` header of a signature database."""

    build_time: datetime | None
    version: int | None
    signatures: int | None
    builder: str


@dataclass
class FreshclamLog:
    last_success: datetime | None = None
    updates_30d: int = 0
    failures_30d: int = 0
    sessions: int = 0


@dataclass
class ScanLog:
    scans: list[AntivirusScan] = field(default_factory=list)
    detections: list[tuple[datetime, str]] = field(default_factory=list)
    summaries_seen: int = 0


def _int(text: str) -> int | None:
    return int(text) if text.strip().isdecimal() and len(text.strip()) < 19 else None


def parse_cvd_header(data: bytes) -> CvdHeader | None:
    """The header of a ``.cvd``/``.cld`` file (its first 512 bytes, space padded).

    Sample input::

        ClamAV-VDB:22 Jun 2021 14-58 -0400:1:0:81:a4ab60ae...:ttQeKzTS...:micasnyd:1624388302
    """
    text = data[:512].decode("ascii", errors="replace").strip()
    if not text.startswith("ClamAV-VDB:"):
        return None
    parts = text.split(":")

    def get(index: int) -> str:
        return parts[index].strip() if len(parts) > index else ""

    build: datetime | None = None
    stime = _int(get(8))
    if stime is not None and 10**9 <= stime < 10**11:
        build = datetime.fromtimestamp(stime, UTC)
    else:
        try:
            build = datetime.strptime(get(1), "%d %b %Y %H-%M %z").astimezone(UTC)
        except ValueError:
            build = None
    return CvdHeader(build_time=build, version=_int(get(2)), signatures=_int(get(3)), builder=clip(get(7)))


def _logtime(text: str, tz: tzinfo) -> datetime | None:
    try:
        naive = datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return naive.replace(tzinfo=tz).astimezone(UTC)


def parse_freshclam_log(text: str, now: datetime, tz: tzinfo = UTC) -> FreshclamLog:
    """Update sessions in freshclam's log (``UpdateLogFile``), with or without ``LogTime``.

    Sample input::

        Fri Dec  5 17:43:00 2025 -> ClamAV update process started at Fri Dec 5 17:43:00 2025
        Fri Dec  5 17:43:13 2025 -> daily.cld updated (version: 27841, sigs: 2077269, ...)
        Fri Dec  5 17:43:13 2025 -> main.cvd database is up-to-date (version: 62, sigs: ...)
        ERROR: Update failed for database: daily
    """
    log = FreshclamLog()
    session: dict[str, object] | None = None

    def close() -> None:
        if session is None:
            return
        when = session["time"] if isinstance(session["time"], datetime) else None
        ok, updated, failed = bool(session["ok"]), bool(session["updated"]), bool(session["failed"])
        if ok and when is not None and (log.last_success is None or when > log.last_success):
            log.last_success = when
        if within_window(when, now):
            log.updates_30d += int(ok and updated)
            log.failures_30d += int(failed and not ok)

    for raw in text.splitlines()[-200_000:]:
        stamp = _LOGTIME.search(raw)
        line_time = _logtime(stamp.group(1), tz) if stamp else None
        message = (stamp.group(2) if stamp else raw).strip()
        started = _STARTED.search(message)
        if started:
            close()
            log.sessions += 1
            session = {"time": _logtime(started.group(1), tz) or line_time, "ok": False, "updated": False}
            session["failed"] = False
            continue
        if session is None:
            continue
        if _UPDATED.search(message) or _CURRENT.search(message):
            session["ok"] = True
            session["updated"] = bool(session["updated"]) or bool(_UPDATED.search(message))
            if line_time is not None:
                session["time"] = line_time
        elif raw.lstrip().startswith("ERROR") or "update failed" in message.lower():
            session["failed"] = True
    close()
    return log


def parse_scan_log(text: str, tz: tzinfo = UTC) -> ScanLog:
    """Scan summaries and detections in a clamscan ``--log`` file or the clamd log.

    Sample input::

        /home/user/eicar.com: Win.Test.EICAR_HDB-1 FOUND
        ----------- SCAN SUMMARY -----------
        Infected files: 1
        Start Date: 2021:09:01 12:27:57
        End Date:   2021:09:01 12:29:09
    """
    result = ScanLog()
    pending: list[str] = []  # detections without a time: dated by the summary that follows
    infected: int | None = None
    in_summary = False
    for raw in text.splitlines()[-200_000:]:
        stamp = _LOGTIME.search(raw)
        line_time = _logtime(stamp.group(1), tz) if stamp else None
        line = (stamp.group(2) if stamp else raw).strip()
        if "SCAN SUMMARY" in line:
            in_summary, infected = True, None
            continue
        found = _FOUND.match(line)
        if found:
            if line_time is not None:
                result.detections.append((line_time, clip(found.group(2))))
            else:
                pending.append(clip(found.group(2)))
            continue
        if not in_summary:
            continue
        if line.startswith("Infected files:"):
            infected = _int(line.partition(":")[2])
        dated = _SUMMARY_DATE.match(line)
        if dated and dated.group(1) == "Start":
            try:
                y, mo, d, h, mi, sec = (int(g) for g in dated.groups()[1:])
                start = datetime(y, mo, d, h, mi, sec, tzinfo=tz).astimezone(UTC)
            except (ValueError, OverflowError):
                continue
            in_summary = False
            result.summaries_seen += 1
            result.scans.append(
                AntivirusScan(time=start, kind="unknown", result="completed", infected_files=infected)
            )
            result.detections.extend((start, name) for name in pending)
            pending = []
    return result


def parse_clamscan_version(text: str) -> tuple[str, int | None]:
    """Engine version and daily database version from ``clamscan --version``.

    Sample input: ``ClamAV 1.0.7/27841/Fri Dec  5 08:19:03 2025``
    """
    match = re.search(r"ClamAV ([0-9][\w.~+-]*)(?:/(\d+))?", text or "")
    if not match:
        return "", None
    return clip(match.group(1), 64), _int(match.group(2) or "")


def parse_clamav_conf(text: str) -> dict[str, str]:
    """``Key Value`` lines of freshclam.conf / clamd.conf (comments skipped)."""
    conf: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, _, value = line.strip().partition(" ")
        if key and not key.startswith("#") and value.strip():
            conf[key] = value.strip().strip('"')
    return conf


def clamav_product(
    headers: dict[str, CvdHeader],
    *,
    now: datetime,
    engine: str = "",
    freshclam: FreshclamLog | None = None,
    scan_logs: list[ScanLog] | None = None,
    services: list[ProductService] | None = None,
    evidence: list[str] | None = None,
) -> AntivirusProduct:
    """The ClamAV product from what was read (every argument may be empty)."""
    builds = [h.build_time for h in headers.values() if h.build_time is not None]
    newest = max(builds, default=None)
    age = max(0, (now - newest).days) if newest else None
    units = {s.name: s for s in services or []}
    daemon, onacc = units.get("clamav-daemon"), units.get("clamav-clamonacc")
    enabled = daemon.running if daemon else None
    logs = scan_logs or []
    scans = sorted((s for log in logs for s in log.scans if within_window(s.time, now)), key=lambda s: s.time)
    detections = sorted((d for log in logs for d in log.detections if within_window(d[0], now)), reverse=True)
    has_history = any(log.summaries_seen for log in logs)
    version = " ".join(f"{name}:{headers[name].version}" for name in DATABASES if name in headers)
    return AntivirusProduct(
        name="ClamAV",
        vendor="Cisco Talos",
        recognised_by="clamav",
        evidence=[clip(e) for e in (evidence or [])][:16],
        state="unknown" if enabled is None else ("on" if enabled else "off"),
        enabled=enabled,
        signatures_up_to_date=(now - newest <= MAX_SIGNATURE_AGE) if newest else None,
        signature_version=clip(version, 64),
        signature_date=newest,
        signature_age_days=age,
        last_signature_update=freshclam.last_success if freshclam else None,
        signature_updates_30d=freshclam.updates_30d if freshclam and freshclam.sessions else None,
        signature_update_failures_30d=freshclam.failures_30d if freshclam and freshclam.sessions else None,
        engine_version=engine,
        real_time_protection=onacc.running if onacc else None,
        scans_30d=len(scans) if has_history else None,
        scans=list(reversed(scans))[:64],
        detections_30d=len(detections) if logs else None,
        last_detection=detections[0][0] if detections else None,
        threat_names=sorted({name for _, name in detections})[:32],
        services=(services or [])[:16],
    )


def _units(ctx: HostContext, errors: list[SectionError]) -> list[ProductService]:
    if not ctx.which("systemctl"):
        errors.append(SectionError(source="systemctl", message="systemctl is missing: service state unknown"))
        return []
    try:
        active = ctx.run(["systemctl", "is-active", *UNITS], timeout=15)
    except ReadError as exc:
        errors.append(SectionError(source=exc.source, message=exc.message[:1024]))
        return []
    states = active.stdout.split()
    if len(states) != len(UNITS):
        reason = (active.stderr.strip().splitlines() or ["no answer"])[0]
        errors.append(
            SectionError(source="systemctl is-active", message=clip(f"unit state unknown: {reason}", 1024))
        )
        states = [""] * len(UNITS)
    found = []
    for unit, state in zip(UNITS, states, strict=True):
        try:
            enabled = ctx.run(["systemctl", "is-enabled", unit], timeout=15)
        except ReadError:
            continue
        mode = clip(enabled.stdout.split()[0] if enabled.stdout.split() else "")
        if not mode and "No such file" in enabled.stderr:
            continue  # the unit is not installed
        found.append(
            ProductService(name=unit, running=(state == "active") if state else None, start_mode=mode)
        )
    return found


def collect_linux(ctx: HostContext) -> Collected:
    errors: list[SectionError] = []
    now = datetime.now(UTC)
    tz = datetime.now().astimezone().tzinfo or UTC
    freshclam_conf = parse_clamav_conf(ctx.read_optional("/etc/clamav/freshclam.conf") or "")
    clamd_conf = parse_clamav_conf(ctx.read_optional("/etc/clamav/clamd.conf") or "")
    db_dir = (
        freshclam_conf.get("DatabaseDirectory") or clamd_conf.get("DatabaseDirectory") or "/var/lib/clamav"
    )
    headers: dict[str, CvdHeader] = {}
    evidence: list[str] = []
    for name in DATABASES:
        for suffix in (".cld", ".cvd"):
            path = f"{db_dir.rstrip('/')}/{name}{suffix}"
            if name in headers or not ctx.exists(path):
                continue
            try:
                header = parse_cvd_header(ctx.read_head(path, 512))
            except ReadError as exc:
                errors.append(SectionError(source=path, message=exc.message[:1024]))
                continue
            if header is not None:
                headers[name] = header
                evidence.append(f"database {path}")
    programs = [p for p in ("clamscan", "clamdscan", "freshclam", "clamd") if ctx.which(p)]
    evidence += [f"program {p}" for p in programs]
    sources = [f"clamav databases ({db_dir})", "clamav programs"]
    if not headers and not programs and not ctx.exists("/etc/clamav"):
        return Collected(
            facts_from_products([], sources, read_ok=True, note="ClamAV is not installed."), errors
        )
    engine = ""
    if "clamscan" in programs:
        try:
            engine, _ = parse_clamscan_version(ctx.run(["clamscan", "--version"], timeout=60).stdout)
        except ReadError as exc:
            errors.append(SectionError(source=exc.source, message=exc.message[:1024]))
    log_path = freshclam_conf.get("UpdateLogFile") or "/var/log/clamav/freshclam.log"
    freshclam_text = "\n".join(
        t for t in (ctx.read_optional(log_path + ".1"), ctx.read_optional(log_path)) if t
    )
    freshclam = parse_freshclam_log(freshclam_text, now, tz) if freshclam_text else None
    if freshclam_text:
        sources.append(log_path)
    log_dir = "/var/log/clamav"
    scan_paths = [f"{log_dir}/{n}" for n in ctx.listdir(log_dir) if n.endswith((".log", ".log.1"))]
    scan_paths = [p for p in scan_paths if not p.rsplit("/", 1)[-1].startswith("freshclam")]
    if clamd_conf.get("LogFile") and clamd_conf["LogFile"] not in scan_paths:
        scan_paths.append(clamd_conf["LogFile"])
    scan_logs = [parse_scan_log(text, tz) for p in scan_paths[:16] if (text := ctx.read_optional(p))]
    sources += scan_paths[:16]
    services = _units(ctx, errors)
    if services:
        sources.append("systemctl")
    product = clamav_product(
        headers,
        now=now,
        engine=engine,
        freshclam=freshclam,
        scan_logs=scan_logs,
        services=services,
        evidence=evidence,
    )
    note = "" if headers else f"ClamAV is installed but no signature database was found in {db_dir}. "
    return Collected(facts_from_products([product], sources, read_ok=True, note=note), errors)
