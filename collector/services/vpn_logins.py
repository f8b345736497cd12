"""Logins from VPN appliances' syslog: templates applied, logins stored, bursts found (issue 6:
A9-T2.3 last logins for zombie accounts, A9-T1 brute force, A9-M3.4 log analysis).

:func:`ingest_lines` takes the messages one sender sent (collector/services/syslog_receiver.py
batches them) and:

1. finds the appliance: an active Host with device type ``vpn appliance`` whose primary IP or
   one of whose HostAddress rows is the sender's address; messages of unknown senders are only
   counted;
2. redacts ``password=``-style values (before anything else looks at the text), parses the
   message (RFC 5424 / 3164) and applies the appliance's enabled templates, its own first,
   then those of its vendor (``Host.vendor``); lines no template matches are counted;
3. stores each login, failure or logout once in ``vpn_logins`` (fingerprint: SHA-256 of host
   id, redacted message and time; a line repeated within one batch counts each time, a batch
   sent again is stored once), raises the register's last login for successes
   (``vpn_register.note_login``) and the templates' matched counts;
4. looks at the appliance's recent logins: ``vpn.bruteforce`` when at least ``failures``
   failures fall within ``minutes`` (per account and per source address; defaults 10 in 10),
   ``vpn.success_after_failures`` when a login follows that many failures of its account or
   address within ``success_after_minutes``. A burst is one HostEvent (its id is a uuid5 of the
   burst's first failure; a burst that goes on updates its event), source ``syslog:<appliance>``;
5. re-evaluates the register's checks of the appliance (``vpn_register.reevaluate``) and commits.

Never logs a message's text (messages may hold passwords): counters and addresses only.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from collector.db.models import Host, HostAddress, HostEvent
from collector.db.models_vpn import SyslogTemplate, VpnLogin
from collector.services import vpn_register
from collector.services.syslog_parse import SHANGHAI, parse_stamp, parse_syslog, redact
from collector.services.syslog_templates import (
    APPLIANCE,
    Compiled,
    appliance_templates,
    compile_template,
    match,
)

__all__ = ["AnalysisConfig", "IngestResult", "SyslogStats", "find_appliance", "ingest_lines"]

log = logging.getLogger(__name__)
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "watchpost:collector:vpn-syslog")
_CHUNK = 500


@dataclass(frozen=True)
class AnalysisConfig:
    failures: int = 10
    minutes: int = 10
    success_after_minutes: int = 30
    lookback_hours: int = 24


@dataclass
class IngestResult:
    host_id: int | None = None
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    unmatched: int = 0
    garbage: int = 0
    events: int = 0


@dataclass
class SyslogStats:
    """Counters of a receiver since it started (thread-safe), for its log and the page."""

    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    received: int = 0
    processed: int = 0
    stored: int = 0
    duplicates: int = 0
    unmatched: int = 0
    garbage: int = 0
    oversize: int = 0
    dropped: int = 0
    errors: int = 0
    events: int = 0
    unknown_senders: dict[str, int] = field(default_factory=dict)
    last_received_at: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def unknown(self, sender: str, count: int) -> None:
        with self._lock:
            if sender in self.unknown_senders or len(self.unknown_senders) < 100:
                self.unknown_senders[sender] = self.unknown_senders.get(sender, 0) + count

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            names = (
                "received",
                "processed",
                "stored",
                "duplicates",
                "unmatched",
                "garbage",
                "oversize",
                "dropped",
                "errors",
                "events",
            )
            out: dict[str, Any] = {n: getattr(self, n) for n in names}
            out["unknown_senders"] = dict(sorted(self.unknown_senders.items(), key=lambda kv: -kv[1])[:20])
            out["started_at"] = self.started_at.isoformat()
            out["last_received_at"] = self.last_received_at.isoformat() if self.last_received_at else None
            return out


@dataclass(frozen=True)
class _Login:
    fingerprint: str
    account: str
    result: str
    ts: datetime
    src_ip: str
    template_id: int


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _address(text: str) -> str:
    try:
        addr = ipaddress.ip_address(text.strip().strip("[]").split("%")[0])
    except ValueError:
        return ""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def find_appliance(session: Session, sender_ip: str) -> Host | None:
    """The active VPN appliance that has this address (primary IP or an address row)."""
    address = _address(sender_ip)
    if not address:
        return None
    listed = select(HostAddress.host_id).where(HostAddress.address == address)
    query = select(Host).where(
        Host.device_type == APPLIANCE,
        Host.status == "active",
        or_(Host.primary_ip == address, Host.id.in_(listed)),
    )
    return session.scalars(query.order_by(Host.id).limit(1)).first()


def _templates(session: Session, host: Host) -> list[tuple[SyslogTemplate, Compiled]]:
    found = []
    for row in appliance_templates(session, host):
        try:
            found.append((row, compile_template(row.template)))
        except Exception:  # noqa: BLE001 - a stored template that no longer compiles is skipped
            log.warning("syslog template %s does not compile; skipped", row.id)
    return found


def _login(
    host: Host,
    data: bytes | str,
    templates: Sequence[tuple[SyslogTemplate, Compiled]],
    now: datetime,
    tz: tzinfo,
    seen: dict[str, int],
) -> _Login | None:
    """The login a message reports, or None (no template matched). ValueError: not syslog."""
    parsed = parse_syslog(data, now, tz)
    msg, content = redact(parsed.msg), redact(parsed.content)
    for row, compiled in templates:
        fields = next((f for f in (match(compiled, msg), match(compiled, content)) if f is not None), None)
        if fields is None:
            continue
        stamp = parse_stamp(fields["time"], now, tz) if "time" in fields else None
        ts = stamp[0] if stamp else (parsed.ts or now)
        key = f"{host.id}\n{content}\n{ts.isoformat()}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key += f"\n#{seen[key]}"
        fingerprint = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
        account = fields.get("user", "")[:128]
        return _Login(fingerprint, account, row.result, ts, _address(fields.get("src_ip", "")), row.id)
    return None


def _existing(session: Session, fingerprints: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(fingerprints), _CHUNK):
        chunk = fingerprints[start : start + _CHUNK]
        found.update(session.scalars(select(VpnLogin.fingerprint).where(VpnLogin.fingerprint.in_(chunk))))
    return found


def ingest_lines(
    session: Session,
    sender_ip: str,
    messages: Sequence[bytes | str],
    now: datetime,
    *,
    tz: tzinfo = SHANGHAI,
    stats: SyslogStats | None = None,
    config: AnalysisConfig | None = None,
) -> IngestResult:
    """Turn one sender's messages into stored logins and events; commits. See the module doc."""
    stats = stats or SyslogStats()
    config = config or AnalysisConfig()
    result = IngestResult(received=len(messages))
    host = find_appliance(session, sender_ip)
    if host is None:
        stats.unknown(_address(sender_ip) or sender_ip[:64], len(messages))
        stats.add(processed=len(messages))
        log.info("syslog: %d message(s) from %s, which is no active VPN appliance", len(messages), sender_ip)
        return result
    result.host_id = host.id
    templates = _templates(session, host)
    logins: dict[str, _Login] = {}
    seen: dict[str, int] = {}
    for data in messages:
        try:
            found = _login(host, data, templates, now, tz, seen)
        except ValueError:
            result.garbage += 1
            continue
        if found is None:
            result.unmatched += 1
        else:
            logins.setdefault(found.fingerprint, found)
    known = _existing(session, list(logins))
    new = [item for fp, item in logins.items() if fp not in known]
    result.duplicates = len(logins) - len(new)
    matched: dict[int, int] = defaultdict(int)
    for item in logins.values():
        matched[item.template_id] += 1
    for row, _compiled in templates:
        if matched.get(row.id):
            row.matched = (row.matched or 0) + matched[row.id]
            row.last_matched_at = now
    server = host.hostname[:128]
    for item in new:
        session.add(
            VpnLogin(
                fingerprint=item.fingerprint,
                host_id=host.id,
                server=server,
                account=item.account,
                result=item.result,
                ts=item.ts,
                src_ip=item.src_ip,
                template_id=item.template_id,
                received_at=now,
            )
        )
        if item.result == "success" and item.account:
            vpn_register.note_login(
                session,
                host,
                server=server,
                account=item.account,
                ts=item.ts,
                src_ip=item.src_ip,
                source="syslog",
            )
    result.stored = len(new)
    if new:
        session.flush()
        result.events = analyse(session, host, new, config)
        vpn_register.reevaluate(session, [host.id], now)
    session.commit()
    stats.add(
        processed=len(messages),
        stored=result.stored,
        duplicates=result.duplicates,
        unmatched=result.unmatched,
        garbage=result.garbage,
        events=result.events,
    )
    log.info(
        "syslog: %s (%s): %d message(s), %d stored, %d already known, %d unmatched, %d not syslog, %d event(s)",
        host.hostname,
        sender_ip,
        len(messages),
        result.stored,
        result.duplicates,
        result.unmatched,
        result.garbage,
        result.events,
    )
    return result


# -- analysis -----------------------------------------------------------------------------------
def _runs(items: list[VpnLogin], window: timedelta) -> Iterable[list[VpnLogin]]:
    """Failures closer than ``window`` to each other, as runs (items in time order)."""
    run: list[VpnLogin] = []
    for item in items:
        if run and _aware(item.ts) - _aware(run[-1].ts) > window:
            yield run
            run = []
        run.append(item)
    if run:
        yield run


def _crossed(run: list[VpnLogin], n: int, window: timedelta) -> int | None:
    """Index of the failure at which ``n`` failures fell within ``window``, or None."""
    for i in range(n - 1, len(run)):
        if _aware(run[i].ts) - _aware(run[i - n + 1].ts) <= window:
            return i
    return None


def _upsert(
    session: Session,
    host: Host,
    kind: str,
    severity: str,
    key: str,
    first: datetime,
    summary: str,
    data: dict[str, Any],
) -> int:
    """Create the event of a burst, or bring the existing one up to date; 1 when created."""
    event_id = uuid.uuid5(_NAMESPACE, f"{kind}|{host.id}|{key}|{first.isoformat()}")
    row = session.scalar(select(HostEvent).where(HostEvent.event_id == event_id))
    if row is None and kind == "vpn.bruteforce":  # a burst that began before the lookback window
        for earlier in session.scalars(
            select(HostEvent).where(
                HostEvent.host_id == host.id,
                HostEvent.kind == kind,
                HostEvent.occurred_at >= first - timedelta(days=7),
            )
        ):
            old = earlier.data or {}
            if (
                old.get("key") == key
                and str(old.get("last_at", ""))
                >= (first - timedelta(minutes=int(data["window_minutes"]))).isoformat()
            ):
                row = earlier
                data["first_at"] = old.get("first_at", data["first_at"])
                data["failures"] = max(int(old.get("failures", 0)), int(data["failures"]))
                break
    source = f"syslog:{host.hostname}"[:255]
    if row is None:
        session.add(
            HostEvent(
                event_id=event_id,
                host_id=host.id,
                occurred_at=first,
                kind=kind,
                severity=severity,
                source=source,
                summary=summary[:1024],
                data=data,
            )
        )
        return 1
    if row.data != data:
        row.data, row.summary = data, summary[:1024]
    return 0


def _list(values: Iterable[str], limit: int = 20) -> list[str]:
    return sorted({v for v in values if v})[:limit]


def analyse(session: Session, host: Host, new: Sequence[_Login], config: AnalysisConfig) -> int:
    """Brute-force bursts and logins after failures around the new logins; events created."""
    window = timedelta(minutes=config.minutes)
    start = min(_aware(i.ts) for i in new) - timedelta(hours=config.lookback_hours)
    end = max(_aware(i.ts) for i in new) + timedelta(hours=1)
    failures = list(
        session.scalars(
            select(VpnLogin)
            .where(
                VpnLogin.host_id == host.id,
                VpnLogin.result == "failure",
                VpnLogin.ts >= start,
                VpnLogin.ts <= end,
            )
            .order_by(VpnLogin.ts, VpnLogin.id)
        )
    )
    created = 0
    server = host.hostname[:128]
    groups: dict[tuple[str, str], list[VpnLogin]] = defaultdict(list)
    for f in failures:
        if f.account:
            groups[("account", f.account)].append(f)
        if f.src_ip:
            groups[("src_ip", f.src_ip)].append(f)
    covered: list[set[int]] = []  # one burst from one address against one account: one event
    for (dimension, value), items in sorted(groups.items(), key=lambda kv: (kv[0][0] != "src_ip", kv[0][1])):
        for run in _runs(items, window):
            ids = {r.id for r in run}
            if _crossed(run, config.failures, window) is None or any(ids <= done for done in covered):
                continue
            covered.append(ids)
            first, last = _aware(run[0].ts), _aware(run[-1].ts)
            target = f"from {value}" if dimension == "src_ip" else f"against account {value}"
            created += _upsert(
                session,
                host,
                "vpn.bruteforce",
                "high",
                f"{dimension}:{value}",
                first,
                f"{server}: {len(run)} failed VPN logins {target} (at least {config.failures} within "
                f"{config.minutes} min)",
                {
                    "server": server,
                    dimension: value,
                    "key": f"{dimension}:{value}",
                    "failures": len(run),
                    "window_minutes": config.minutes,
                    "first_at": first.isoformat(),
                    "last_at": last.isoformat(),
                    "accounts": _list(r.account for r in run),
                    "sources": _list(r.src_ip for r in run),
                },
            )
    after = timedelta(minutes=config.success_after_minutes)
    for login in new:
        if login.result != "success":
            continue
        ts = _aware(login.ts)
        before = [
            f
            for f in failures
            if ts - after <= _aware(f.ts) < ts
            and (
                (login.account and f.account == login.account) or (login.src_ip and f.src_ip == login.src_ip)
            )
        ]
        if len(before) < config.failures:
            continue
        created += _upsert(
            session,
            host,
            "vpn.success_after_failures",
            "high",  # as the agent rates it: the password may have been guessed
            f"{login.account}|{login.src_ip}",
            ts,
            f"{server}: {login.account} logged in from {login.src_ip or 'an unknown address'} after "
            f"{len(before)} failed logins in {config.success_after_minutes} min",
            {
                "server": server,
                "account": login.account,
                "src_ip": login.src_ip,
                "failures": len(before),
                "failed_accounts": _list(f.account for f in before),
                "window_minutes": config.success_after_minutes,
                "first_at": _aware(before[0].ts).isoformat(),
                "last_at": ts.isoformat(),
            },
        )
    return created
