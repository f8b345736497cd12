"""Logins from VPN appliances' syslog: templates applied, logins stored, bursts found (issue 6:
A9-T2.3 last logins for zombie accounts, A9-T1 brute force, A9-M3.4 log analysis).

:func:`ingest_lines` takes the messages one sender sent (collector/services/syslog_receiver.py
batches them) and:

1. finds the appliance: an active Host with device type ``vpn appliance`` whose primary IP or
   one of whose HostAddress rows is the sender's address; messages of unknown senders are only
   counted, and so are those of an address that more than one active appliance has
   ("ambiguous": no guessing which one sent them);
2. redacts ``password=``-style values (before anything else looks at the text), parses the
   message (RFC 5424 / 3164) and applies the appliance's enabled templates, its own first,
   then those of its vendor (``Host.vendor``); lines no template matches are counted;
3. stores **every** login, failure or logout line in ``vpn_logins`` (syslog has no resends:
   two identical lines are two logins; the unique ``fingerprint`` is a SHA-256 of the host,
   the sender, the receive time, a random id of this reception and the line's position, so
   distinct receptions never collide), raises the register's last login for successes
   (``vpn_register.note_login``) and the templates' matched counts;
4. looks at the appliance's recent logins of the accounts and source addresses of the batch,
   ``max(minutes, success_after_minutes)`` back from the batch's oldest login:
   ``vpn.bruteforce`` when at least ``failures`` failures fall within ``minutes`` (per account
   and per source address; defaults 10 in 10), ``vpn.success_after_failures`` when a login
   follows that many failures of its account or address within ``success_after_minutes``. A
   burst is one HostEvent (its id is a uuid5 of the burst's first failure; a burst that goes on
   updates its event, adding the failures it had not counted), source ``syslog:<appliance>``;
5. re-evaluates the register's checks of the appliance (``vpn_register.reevaluate``) and commits.

Never logs a message's text (messages may hold passwords): counters and addresses only.
"""

from __future__ import annotations

import bisect
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

__all__ = ["AnalysisConfig", "IngestResult", "SyslogStats", "appliances_at", "find_appliance", "ingest_lines"]

log = logging.getLogger(__name__)
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "watchpost:collector:vpn-syslog")
_CHUNK = 500


@dataclass(frozen=True)
class AnalysisConfig:
    failures: int = 10
    minutes: int = 10
    success_after_minutes: int = 30


@dataclass
class IngestResult:
    host_id: int | None = None
    received: int = 0
    stored: int = 0
    ambiguous: int = 0
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
    ambiguous: int = 0
    unmatched: int = 0
    garbage: int = 0
    oversize: int = 0
    dropped: int = 0
    errors: int = 0
    events: int = 0
    unknown_senders: dict[str, int] = field(default_factory=dict)
    ambiguous_senders: dict[str, int] = field(default_factory=dict)
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

    def ambiguous_sender(self, sender: str, count: int) -> None:
        with self._lock:
            self.ambiguous += count
            if sender in self.ambiguous_senders or len(self.ambiguous_senders) < 100:
                self.ambiguous_senders[sender] = self.ambiguous_senders.get(sender, 0) + count

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            names = (
                "received",
                "processed",
                "stored",
                "ambiguous",
                "unmatched",
                "garbage",
                "oversize",
                "dropped",
                "errors",
                "events",
            )
            out: dict[str, Any] = {n: getattr(self, n) for n in names}
            out["unknown_senders"] = dict(sorted(self.unknown_senders.items(), key=lambda kv: -kv[1])[:20])
            out["ambiguous_senders"] = dict(
                sorted(self.ambiguous_senders.items(), key=lambda kv: -kv[1])[:20]
            )
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


def appliances_at(session: Session, sender_ip: str, limit: int = 2) -> list[Host]:
    """The active VPN appliances that have this address (primary IP or an address row)."""
    address = _address(sender_ip)
    if not address:
        return []
    listed = select(HostAddress.host_id).where(HostAddress.address == address)
    query = select(Host).where(
        Host.device_type == APPLIANCE,
        Host.status == "active",
        or_(Host.primary_ip == address, Host.id.in_(listed)),
    )
    return list(session.scalars(query.order_by(Host.id).limit(limit)))


def find_appliance(session: Session, sender_ip: str) -> Host | None:
    """The one active VPN appliance that has this address; None when none or several have it."""
    found = appliances_at(session, sender_ip)
    return found[0] if len(found) == 1 else None


def _templates(session: Session, host: Host) -> list[tuple[SyslogTemplate, Compiled]]:
    found = []
    for row in appliance_templates(session, host):
        try:
            found.append((row, compile_template(row.template)))
        except Exception:  # noqa: BLE001 - a stored template that no longer compiles is skipped
            log.warning("syslog template %s does not compile; skipped", row.id)
    return found


def _login(
    data: bytes | str,
    templates: Sequence[tuple[SyslogTemplate, Compiled]],
    now: datetime,
    tz: tzinfo,
    fingerprint: str,
) -> _Login | None:
    """The login a message reports, or None (no template matched). ValueError: not syslog."""
    parsed = parse_syslog(data, now, tz)
    msg, content = redact(parsed.msg), redact(parsed.content)
    for row, compiled in templates:
        fields = match(compiled, msg)
        if fields is None and content != msg:
            fields = match(compiled, content)
        if fields is None:
            continue
        stamp = parse_stamp(fields["time"], now, tz) if "time" in fields else None
        ts = stamp[0] if stamp else (parsed.ts or now)
        account = fields.get("user", "")[:128]
        return _Login(fingerprint, account, row.result, ts, _address(fields.get("src_ip", "")), row.id)
    return None


def _fingerprint(host: Host, sender: str, now: datetime, reception: str, position: int) -> str:
    """Unique per received line: syslog has no resends, so identical lines are distinct logins."""
    key = f"{host.id}\n{sender}\n{now.isoformat(timespec='microseconds')}\n{reception}\n{position}"
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


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
    found_hosts = appliances_at(session, sender_ip)
    if len(found_hosts) > 1:
        address = _address(sender_ip) or sender_ip[:64]
        result.ambiguous = len(messages)
        stats.ambiguous_sender(address, len(messages))
        stats.add(processed=len(messages))
        log.warning(
            "syslog: %d message(s) from %s, which more than one active VPN appliance has; not stored",
            len(messages),
            address,
        )
        return result
    if not found_hosts:
        stats.unknown(_address(sender_ip) or sender_ip[:64], len(messages))
        stats.add(processed=len(messages))
        log.info("syslog: %d message(s) from %s, which is no active VPN appliance", len(messages), sender_ip)
        return result
    host = found_hosts[0]
    result.host_id = host.id
    templates = _templates(session, host)
    reception = uuid.uuid4().hex
    new: list[_Login] = []
    for position, data in enumerate(messages):
        try:
            found = _login(data, templates, now, tz, _fingerprint(host, sender_ip, now, reception, position))
        except ValueError:
            result.garbage += 1
            continue
        if found is None:
            result.unmatched += 1
        else:
            new.append(found)
    matched: dict[int, int] = defaultdict(int)
    for item in new:
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
        unmatched=result.unmatched,
        garbage=result.garbage,
        events=result.events,
    )
    log.info(
        "syslog: %s (%s): %d message(s), %d stored, %d unmatched, %d not syslog, %d event(s)",
        host.hostname,
        sender_ip,
        len(messages),
        result.stored,
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


def _list(values: Iterable[str], limit: int = 20) -> list[str]:
    return sorted({v for v in values if v})[:limit]


Key = tuple[str, str]  # ("account", name) or ("src_ip", address)


def _keys(item: _Login | VpnLogin) -> list[Key]:
    return [k for k in (("account", item.account), ("src_ip", item.src_ip)) if k[1]]


def _failures(session: Session, host: Host, keys: set[Key], start: datetime, end: datetime) -> list[VpnLogin]:
    """The appliance's failures in [start, end] of these accounts and addresses, in time order."""
    found: dict[int, VpnLogin] = {}
    for dimension, column in (("account", VpnLogin.account), ("src_ip", VpnLogin.src_ip)):
        values = sorted(v for d, v in keys if d == dimension)
        for first in range(0, len(values), _CHUNK):
            query = select(VpnLogin).where(
                VpnLogin.host_id == host.id,
                VpnLogin.result == "failure",
                VpnLogin.ts >= start,
                VpnLogin.ts <= end,
                column.in_(values[first : first + _CHUNK]),
            )
            found.update((row.id, row) for row in session.scalars(query))
    return sorted(found.values(), key=lambda r: (_aware(r.ts), r.id))


class _Bursts:
    """Brute-force events of one appliance: created, or brought up to date as a burst goes on."""

    def __init__(self, session: Session, host: Host, config: AnalysisConfig, since: datetime) -> None:
        self.session, self.host, self.config, self.since = session, host, config, since
        self.window = timedelta(minutes=config.minutes)
        self._earlier: dict[str, list[HostEvent]] | None = None

    def earlier(self, key: str, first: datetime) -> HostEvent | None:
        """An event of a burst of ``key`` that began before the loaded failures and reached
        within ``minutes`` of ``first`` (bursts are looked up at most 7 days back)."""
        if self._earlier is None:
            self._earlier = defaultdict(list)
            for row in self.session.scalars(
                select(HostEvent).where(
                    HostEvent.host_id == self.host.id,
                    HostEvent.kind == "vpn.bruteforce",
                    HostEvent.occurred_at >= self.since - timedelta(days=7),
                )
            ):
                self._earlier[str((row.data or {}).get("key", ""))].append(row)
        bound = (first - self.window).isoformat()
        for row in self._earlier.get(key, []):
            if str((row.data or {}).get("last_at", "")) >= bound:
                return row
        return None

    def note(self, dimension: str, value: str, run: list[VpnLogin], *, create: bool) -> int:
        """Record a run; 1 when an event was created."""
        key = f"{dimension}:{value}"
        first, last = _aware(run[0].ts), _aware(run[-1].ts)
        event_id = uuid.uuid5(_NAMESPACE, f"vpn.bruteforce|{self.host.id}|{key}|{first.isoformat()}")
        row = self.session.scalar(select(HostEvent).where(HostEvent.event_id == event_id))
        if row is None and _aware(run[0].ts) - self.since <= self.window:
            row = self.earlier(key, first)  # the burst may have begun before the loaded failures
        if row is None and not create:
            return 0
        old = dict(row.data or {}) if row is not None else {}
        counted = int(old.get("last_id", 0) or 0)
        if not old:
            failures = len(run)
        elif counted:  # add the failures it has not counted yet
            failures = int(old.get("failures", 0)) + sum(1 for r in run if r.id > counted)
        else:
            failures = max(int(old.get("failures", 0)), len(run))
        first_at = min(str(old.get("first_at") or first.isoformat()), first.isoformat())
        last_at = max(str(old.get("last_at") or last.isoformat()), last.isoformat())
        server = self.host.hostname[:128]
        target = f"from {value}" if dimension == "src_ip" else f"against account {value}"
        data = {
            "server": server,
            dimension: value,
            "key": key,
            "failures": failures,
            "window_minutes": self.config.minutes,
            "first_at": first_at,
            "last_at": last_at,
            "accounts": _list([*old.get("accounts", []), *(r.account for r in run)]),
            "sources": _list([*old.get("sources", []), *(r.src_ip for r in run)]),
            "last_id": max(counted, *(r.id for r in run)),
        }
        summary = (
            f"{server}: {failures} failed VPN logins {target} (at least {self.config.failures} within "
            f"{self.config.minutes} min)"
        )
        return _put_event(self.session, self.host, row, event_id, "vpn.bruteforce", first, summary, data)


def _success_event(
    session: Session, host: Host, login: _Login, before: list[VpnLogin], config: AnalysisConfig
) -> int:
    """The event of a login after failures; 1 when created."""
    ts = _aware(login.ts)
    key = f"{login.account}|{login.src_ip}"
    kind = "vpn.success_after_failures"
    event_id = uuid.uuid5(_NAMESPACE, f"{kind}|{host.id}|{key}|{ts.isoformat()}")
    server = host.hostname[:128]
    summary = (
        f"{server}: {login.account} logged in from {login.src_ip or 'an unknown address'} after "
        f"{len(before)} failed logins in {config.success_after_minutes} min"
    )
    data = {
        "server": server,
        "account": login.account,
        "src_ip": login.src_ip,
        "failures": len(before),
        "failed_accounts": _list(f.account for f in before),
        "window_minutes": config.success_after_minutes,
        "first_at": _aware(before[0].ts).isoformat(),
        "last_at": ts.isoformat(),
    }
    row = session.scalar(select(HostEvent).where(HostEvent.event_id == event_id))
    return _put_event(session, host, row, event_id, kind, ts, summary, data)


def _put_event(
    session: Session,
    host: Host,
    row: HostEvent | None,
    event_id: uuid.UUID,
    kind: str,
    occurred_at: datetime,
    summary: str,
    data: dict[str, Any],
) -> int:
    """Add the appliance's event, or bring the existing one (``row``) up to date; 1 when added.
    Both kinds are high, as the agent rates them (a login after failures: a guessed password)."""
    if row is None:
        session.add(
            HostEvent(
                event_id=event_id,
                host_id=host.id,
                occurred_at=occurred_at,
                kind=kind,
                severity="high",
                source=f"syslog:{host.hostname}"[:255],
                summary=summary[:1024],
                data=data,
            )
        )
        return 1
    if row.data != data:
        row.data, row.summary = data, summary[:1024]
    return 0


def analyse(session: Session, host: Host, new: Sequence[_Login], config: AnalysisConfig) -> int:
    """Brute-force bursts and logins after failures around the new logins; events created.

    Only the failures of the batch's accounts and source addresses are read, from
    ``max(minutes, success_after_minutes)`` before the batch's oldest login to as long after its
    newest; a burst that began earlier is continued in its event (issue 6 review P1)."""
    window = timedelta(minutes=config.minutes)
    after = timedelta(minutes=config.success_after_minutes)
    reach = max(window, after)
    start = min(_aware(i.ts) for i in new) - reach
    end = max(_aware(i.ts) for i in new) + reach
    keys = {k for item in new for k in _keys(item)}
    failures = _failures(session, host, keys, start, end)
    groups: dict[Key, list[VpnLogin]] = defaultdict(list)
    for f in failures:
        for k in _keys(f):
            if k in keys:
                groups[k].append(f)
    created = 0
    bursts = _Bursts(session, host, config, start)
    burst_keys = {k for item in new if item.result == "failure" for k in _keys(item)}
    covered: list[set[int]] = []  # one burst from one address against one account: one event
    for dimension, value in sorted(burst_keys, key=lambda k: (k[0] != "src_ip", k[1])):
        for run in _runs(groups[(dimension, value)], window):
            ids = {r.id for r in run}
            if any(ids <= done for done in covered):
                continue
            crossed = _crossed(run, config.failures, window) is not None
            if crossed:
                covered.append(ids)
            created += bursts.note(dimension, value, run, create=crossed)
    stamps = {k: [_aware(f.ts) for f in items] for k, items in groups.items()}
    for login in new:
        if login.result != "success":
            continue
        ts = _aware(login.ts)
        found: dict[int, VpnLogin] = {}
        for k in _keys(login):
            items, times = groups.get(k, []), stamps.get(k, [])
            for f in items[bisect.bisect_left(times, ts - after) : bisect.bisect_left(times, ts)]:
                found[f.id] = f
        if len(found) < config.failures:
            continue
        before = sorted(found.values(), key=lambda r: (_aware(r.ts), r.id))
        created += _success_event(session, host, login, before, config)
    return created
