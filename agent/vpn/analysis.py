"""VPN log analysis: login events in, wire events out (A9-T1, A9-T2.3, A9-M3.4).

What is looked for (thresholds in :class:`AnalysisConfig`; defaults from
../shared/design/vpn-notes.md section 10):

* ``vpn.bruteforce`` - at least ``burst_failures`` failed logins within ``burst_minutes``,
  from one source address or against one account;
* ``vpn.success_after_failures`` - a login from an address, or to an account, that had at
  least ``burst_failures`` failures in the ``success_after_minutes`` before it (a guessed password?);
* ``vpn.odd_hours`` - a login outside working hours (Asia/Shanghai, workdays, holidays and
  make-up working days configurable);
* ``vpn.new_source`` - a login of an account from an address (or /24) it never used before
  (not for its first login ever: there is nothing to compare with);
* ``vpn.concurrent_sessions`` - one account connected from two addresses at once: from the
  logs (an overlap with evidence that the older session was alive) or from the live sessions;
  OpenVPN without ``duplicate-cn`` drops the older session and says so, which counts too;
* ``vpn.failed_logins`` - per server and local day: failed logins per account and per source;
* ``vpn.source_banned`` - ocserv banned an address.

Event ids are derived from what was found (uuid5), so a finding seen again in a later scan
is the same event; the store remembers what was sent. A summary holds account names,
addresses and counts only: the lines were redacted before they were parsed.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any

from agent.host import HostContext, ReadError
from agent.vpn.lastlogin import LastLoginStore, LogSource
from agent.vpn.logs import (
    KINDS,
    LiveSession,
    LoginEvent,
    parse_occtl_users,
    parse_openvpn_status,
    parse_swanctl_list_sas,
)
from agent.vpn.redact import redact
from wire.events import Event, Severity

__all__ = [
    "AnalysisConfig",
    "Burst",
    "VpnLogConfig",
    "default_sources",
    "detect",
    "failure_counts",
    "find_bursts",
    "is_odd_hour",
    "join_attempts",
    "read_live_sessions",
    "scan_logs",
    "source_net",
]

log = logging.getLogger(__name__)

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "watchpost:agent:vpn-logs")
_TIMEOUT_REASONS = ("ping-restart", "ping-exit", "dpd", "timeout", "idle", "server")
CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")


@dataclass(frozen=True)
class AnalysisConfig:
    burst_failures: int = 5
    burst_minutes: int = 10
    success_after_minutes: int = 30
    timezone: str = "Asia/Shanghai"
    work_start: time = time(7, 0)
    work_end: time = time(22, 0)
    workdays: frozenset[int] = frozenset(range(5))  # Monday = 0
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()  # 调休: weekend days worked
    new_source_prefix_v4: int = 32
    new_source_prefix_v6: int = 64
    concurrent_grace_minutes: int = 5
    session_max_hours: int = 24
    join_seconds: int = 5
    lookback_hours: int = 48
    burst_history_days: int = 14  # failures looked at to find where a long run of them began

    def zone(self) -> tzinfo:
        try:
            from zoneinfo import ZoneInfo

            return ZoneInfo(self.timezone)
        except (ImportError, ValueError, OSError, KeyError):
            return CHINA  # no tz database (Windows without tzdata): China has one offset, no DST


@dataclass
class Burst:
    server: str
    key: str  # "ip:<address>" or "account:<name>"
    first: datetime
    crossed: datetime
    last: datetime
    count: int
    accounts: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)


# -- joining the lines of one attempt -------------------------------------------------------------
def join_attempts(events: Iterable[LoginEvent], join_seconds: int = 5) -> list[LoginEvent]:
    """One failed attempt can leave a line in several logs: OpenVPN's (address, no name), the
    verify script's or the PAM plugin's (name), pam_unix's (name or not, address). Failures of
    one server within ``join_seconds`` of each other, of different origins, with no
    contradicting address or name, are merged into one (the name and the address kept)."""
    out: list[LoginEvent] = []
    groups: list[list[LoginEvent]] = []
    window = timedelta(seconds=join_seconds)
    for e in sorted(events, key=lambda ev: ev.ts):
        if e.result != "failure":
            out.append(e)
            continue
        best: list[LoginEvent] | None = None
        for group in reversed(groups):
            head = group[0]
            if e.ts - head.ts > window:
                break
            if head.server != e.server or any(g.origin == e.origin for g in group):
                continue
            ips = {g.src_ip for g in group if g.src_ip} | ({e.src_ip} if e.src_ip else set())
            names = {g.account for g in group if g.account} | ({e.account} if e.account else set())
            if len(ips) <= 1 and len(names) <= 1:
                best = group
        if best is not None:
            best.append(e)
        else:
            groups.append([e])
    for group in groups:
        out.append(_merge(group))
    out.sort(key=lambda ev: ev.ts)
    return out


def _merge(group: list[LoginEvent]) -> LoginEvent:
    if len(group) == 1:
        return group[0]
    base = next((g for g in group if g.src_port is not None), group[0])
    named = next((g for g in group if g.account), None)
    return LoginEvent(
        ts=base.ts,
        server=base.server,
        account=named.account if named else None,
        result="failure",
        src_ip=base.src_ip or next((g.src_ip for g in group if g.src_ip), None),
        src_port=base.src_port,
        session=base.session,
        reason=named.reason if named and named.reason else base.reason,
        origin="+".join(sorted({g.origin for g in group})),
    )


# -- rules -------------------------------------------------------------------------------------
def find_bursts(failures: Sequence[LoginEvent], n: int, window: timedelta) -> list[Burst]:
    """Failures per source address and per account; a burst is ``n`` of them within ``window``.
    Failures closer than ``window`` to each other form one run; one burst per run."""
    keyed: dict[tuple[str, str], list[LoginEvent]] = defaultdict(list)
    for f in failures:
        if f.src_ip:
            keyed[(f.server, f"ip:{f.src_ip}")].append(f)
        if f.account:
            keyed[(f.server, f"account:{f.account}")].append(f)
    bursts = []
    for (server, key), items in keyed.items():
        items.sort(key=lambda ev: ev.ts)
        run: list[LoginEvent] = []
        for item in [*items, None]:
            if item is not None and (not run or item.ts - run[-1].ts <= window):
                run.append(item)
                continue
            for i in range(n - 1, len(run)):
                if run[i].ts - run[i - n + 1].ts <= window:
                    bursts.append(
                        Burst(
                            server,
                            key,
                            run[0].ts,
                            run[i].ts,
                            run[-1].ts,
                            len(run),
                            {r.account or "(unknown)" for r in run},
                            {r.src_ip for r in run if r.src_ip},
                        )
                    )
                    break
            run = [item] if item is not None else []
    return bursts


def is_odd_hour(ts: datetime, cfg: AnalysisConfig) -> bool:
    """Outside working hours: not a workday (weekend or holiday, unless a make-up working day),
    or before ``work_start`` / at or after ``work_end``, local time."""
    local = ts.astimezone(cfg.zone())
    day = local.date()
    workday = day not in cfg.holidays and (day.weekday() in cfg.workdays or day in cfg.extra_workdays)
    return not workday or not (cfg.work_start <= local.time().replace(tzinfo=None) < cfg.work_end)


def source_net(ip: str | None, cfg: AnalysisConfig) -> str | None:
    """The address, or its network when the config compares networks (e.g. /24)."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    prefix = cfg.new_source_prefix_v4 if addr.version == 4 else cfg.new_source_prefix_v6
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def failure_counts(failures: Iterable[LoginEvent]) -> tuple[dict[str, int], dict[str, int]]:
    """Failed logins per account and per source address."""
    accounts: dict[str, int] = defaultdict(int)
    sources: dict[str, int] = defaultdict(int)
    for f in failures:
        accounts[f.account or "(unknown)"] += 1
        sources[f.src_ip or "(unknown)"] += 1
    return dict(accounts), dict(sources)


# -- sessions ------------------------------------------------------------------------------------
@dataclass
class _Session:
    server: str
    account: str
    ip: str | None
    key: str
    start: datetime
    end: datetime | None = None
    end_reason: str = ""
    activity: list[datetime] = field(default_factory=list)


def _sessions(events: Sequence[LoginEvent], session_max: timedelta) -> list[_Session]:
    found: list[_Session] = []
    open_: dict[tuple[str, str], _Session] = {}
    for e in events:
        key = (e.server, e.session or f"{e.src_ip}")
        if e.result == "success" and e.account:
            s = _Session(e.server, e.account, e.src_ip, key[1], e.ts)
            found.append(s)
            open_[key] = s
        elif e.result in ("logout", "replaced") and key in open_:
            s = open_.pop(key)
            s.end, s.end_reason = e.ts, ("replaced" if e.result == "replaced" else e.reason)
        elif e.result == "auth_ok" and key in open_:
            open_[key].activity.append(e.ts)
    for s in found:
        if s.end is None and s.start + session_max < (events[-1].ts if events else s.start):
            s.end, s.end_reason = s.start + session_max, "timeout"
    return found


def _concurrent(a: _Session, b: _Session, now: datetime, grace: timedelta) -> bool:
    """Was the older session ``a`` alive after ``b`` began (``b`` from another address)?"""
    if a.ip == b.ip or a.start > b.start or (a.end is not None and a.end <= b.start):
        return False
    if any(t > b.start for t in a.activity):
        return True
    if a.end is None:
        return now - b.start >= grace
    if a.end_reason.startswith(_TIMEOUT_REASONS) or a.end_reason == "replaced":
        return a.end - b.start >= grace
    return a.end - b.start > timedelta(seconds=10)


# -- events ---------------------------------------------------------------------------------
def _event(
    kind: str,
    severity: Severity,
    server: str,
    key: str,
    at: datetime,
    summary: str,
    data: Mapping[str, Any],
) -> Event:
    clean = {k: (redact(v)[:1024] if isinstance(v, str) else v) for k, v in data.items() if v is not None}
    return Event(
        event_id=uuid.uuid5(_NAMESPACE, f"{kind}|{server}|{key}"),
        occurred_at=at,
        kind=kind,
        severity=severity,
        source=f"vpn-logs:{server}"[:255],
        summary=redact(summary)[:1024],
        data={"server": server[:1024], **clean},
    )


def _list(values: Iterable[str], limit: int = 20) -> str:
    items = sorted(values)
    text = ", ".join(items[:limit])
    return text + (f" (+{len(items) - limit})" if len(items) > limit else "")


def detect(
    events: Sequence[LoginEvent],
    history: Mapping[tuple[str, str], Sequence[tuple[datetime, str | None]]],
    live: Sequence[LiveSession],
    cfg: AnalysisConfig,
    now: datetime,
) -> list[Event]:
    """All findings in ``events`` (time order, all results). ``history`` gives each account's
    earlier successes (time, address) for the new-source rule; ``live`` the sessions connected now."""
    joined = join_attempts(events, cfg.join_seconds)
    failures = [e for e in joined if e.result == "failure"]
    successes = [e for e in joined if e.result == "success" and e.account]
    out: list[Event] = []
    out += _bursts(failures, cfg)
    out += _after_failures(successes, failures, cfg)
    out += _odd_hours(successes, cfg)
    out += _new_sources(successes, history, cfg)
    out += _concurrency(joined, live, cfg, now)
    out += _daily_failures(failures, cfg, now)
    for e in joined:
        if e.result == "banned" and e.src_ip:
            out.append(
                _event(
                    "vpn.source_banned",
                    "low",
                    e.server,
                    f"{e.src_ip}|{e.ts.isoformat()}",
                    e.ts,
                    f"{e.server}: {e.src_ip} banned after repeated failed logins",
                    {"src_ip": e.src_ip},
                )
            )
    return out


def _bursts(failures: Sequence[LoginEvent], cfg: AnalysisConfig) -> list[Event]:
    out = []
    window = timedelta(minutes=cfg.burst_minutes)
    for b in find_bursts(failures, cfg.burst_failures, window):
        what = b.key.split(":", 1)[1]
        by_ip = b.key.startswith("ip:")
        target = f"from {what} (accounts: {_list(b.accounts)})" if by_ip else f"against {what}"
        out.append(
            _event(
                "vpn.bruteforce",
                "high" if len(b.accounts) >= 3 and by_ip else "medium",
                b.server,
                f"{b.key}|{b.first.isoformat()}",
                b.crossed,
                f"{b.server}: {b.count} failed logins {target} within {cfg.burst_minutes} min",
                {
                    "src_ip" if by_ip else "account": what,
                    "failures": b.count,
                    "window_minutes": cfg.burst_minutes,
                    "first_at": b.first.isoformat(),
                    "last_at": b.last.isoformat(),
                    "accounts": _list(b.accounts),
                    "sources": _list(b.sources),
                },
            )
        )
    return out


def _after_failures(
    successes: Sequence[LoginEvent], failures: Sequence[LoginEvent], cfg: AnalysisConfig
) -> list[Event]:
    out = []
    window = timedelta(minutes=cfg.success_after_minutes)
    index: dict[tuple[str, str], list[int]] = defaultdict(list)  # failures by address and by account
    for i, f in enumerate(failures):  # failures are in time order
        if f.src_ip:
            index[(f.server, f"ip:{f.src_ip}")].append(i)
        if f.account:
            index[(f.server, f"account:{f.account}")].append(i)
    for s in successes:
        keys = [(s.server, f"account:{s.account}")] + ([(s.server, f"ip:{s.src_ip}")] if s.src_ip else [])
        picked: set[int] = set()
        for key in keys:
            positions = index.get(key, [])
            lo = bisect_left(positions, s.ts - window, key=lambda i: failures[i].ts)
            hi = bisect_left(positions, s.ts, key=lambda i: failures[i].ts)
            picked.update(positions[lo:hi])
        if len(picked) < cfg.burst_failures:
            continue
        before = [failures[i] for i in sorted(picked)]
        out.append(
            _event(
                "vpn.success_after_failures",
                "high",
                s.server,
                f"{s.account}|{s.src_ip}|{s.ts.isoformat()}",
                s.ts,
                f"{s.server}: {s.account} logged in from {s.src_ip or 'an unknown address'} after "
                f"{len(before)} failed logins in {cfg.success_after_minutes} min",
                {
                    "account": s.account,
                    "src_ip": s.src_ip,
                    "failures": len(before),
                    "failed_accounts": _list({f.account or "(unknown)" for f in before}),
                    "window_minutes": cfg.success_after_minutes,
                },
            )
        )
    return out


def _odd_hours(successes: Sequence[LoginEvent], cfg: AnalysisConfig) -> list[Event]:
    out = []
    zone = cfg.zone()
    for s in successes:
        if not is_odd_hour(s.ts, cfg):
            continue
        local = s.ts.astimezone(zone)
        out.append(
            _event(
                "vpn.odd_hours",
                "low",
                s.server,
                f"{s.account}|{s.ts.isoformat()}",
                s.ts,
                f"{s.server}: {s.account} logged in at {local:%Y-%m-%d %H:%M} ({cfg.timezone}), "
                f"outside working hours",
                {"account": s.account, "src_ip": s.src_ip, "local_time": local.isoformat()},
            )
        )
    return out


def _new_sources(
    successes: Sequence[LoginEvent],
    history: Mapping[tuple[str, str], Sequence[tuple[datetime, str | None]]],
    cfg: AnalysisConfig,
) -> list[Event]:
    out = []
    for s in successes:
        assert s.account is not None
        net = source_net(s.src_ip, cfg)
        if net is None:
            continue
        earlier = {source_net(ip, cfg) for ts, ip in history.get((s.server, s.account), ()) if ts < s.ts}
        earlier.discard(None)
        if not earlier or net in earlier:
            continue
        out.append(
            _event(
                "vpn.new_source",
                "low",
                s.server,
                f"{s.account}|{net}",
                s.ts,
                f"{s.server}: {s.account} logged in from a new source {s.src_ip}",
                {"account": s.account, "src_ip": s.src_ip, "network": net, "known_sources": len(earlier)},
            )
        )
    return out


def _concurrency(
    events: Sequence[LoginEvent], live: Sequence[LiveSession], cfg: AnalysisConfig, now: datetime
) -> list[Event]:
    out = []
    grace = timedelta(minutes=cfg.concurrent_grace_minutes)
    by_account: dict[tuple[str, str], list[_Session]] = defaultdict(list)
    for s in _sessions(events, timedelta(hours=cfg.session_max_hours)):
        by_account[(s.server, s.account)].append(s)
    for (server, account), sessions in by_account.items():
        for i, b in enumerate(sessions):
            older = next((a for a in sessions[:i] if _concurrent(a, b, now, grace)), None)
            if older is None:
                continue
            replaced = older.end_reason == "replaced" and older.end == b.start
            out.append(
                _event(
                    "vpn.concurrent_sessions",
                    "medium",
                    server,
                    f"{account}|{b.key}|{b.start.isoformat()}",
                    b.start,
                    f"{server}: {account} connected from {b.ip} while connected from {older.ip}"
                    + (" (the older session was dropped)" if replaced else ""),
                    {"account": account, "src_ip": b.ip, "other_src_ip": older.ip, "replaced": replaced},
                )
            )
    for e in events:
        if e.result != "replaced" or not e.account:
            continue
        earlier = [
            s for s in by_account.get((e.server, e.account), []) if s.start <= e.ts and s.key != e.session
        ]
        newer = earlier[-1] if earlier else None
        if newer is None or newer.ip == e.src_ip:
            continue
        out.append(
            _event(
                "vpn.concurrent_sessions",
                "medium",
                e.server,
                f"{e.account}|{newer.key}|{newer.start.isoformat()}",
                e.ts,
                f"{e.server}: {e.account} connected from {newer.ip} while connected from {e.src_ip} "
                f"(the older session was dropped)",
                {"account": e.account, "src_ip": newer.ip, "other_src_ip": e.src_ip, "replaced": True},
            )
        )
    grouped: dict[tuple[str, str], list[LiveSession]] = defaultdict(list)
    for one in live:
        grouped[(one.server, one.account)].append(one)
    for (server, account), connected in grouped.items():
        ips = {c.src_ip for c in connected if c.src_ip}
        if len(ips) < 2:
            continue
        ids = sorted(c.session or f"{c.src_ip}" for c in connected)
        out.append(
            _event(
                "vpn.concurrent_sessions",
                "medium",
                server,
                f"live|{account}|{'|'.join(ids)}",
                now,
                f"{server}: {account} is connected {len(connected)} times now, from {_list(ips)}",
                {"account": account, "sessions": len(connected), "sources": _list(ips), "live": True},
            )
        )
    return _unique(out)


def _daily_failures(failures: Sequence[LoginEvent], cfg: AnalysisConfig, now: datetime) -> list[Event]:
    zone = cfg.zone()
    days: dict[tuple[str, date], list[LoginEvent]] = defaultdict(list)
    for f in failures:
        days[(f.server, f.ts.astimezone(zone).date())].append(f)
    out = []
    for (server, day), items in sorted(days.items()):
        end = datetime.combine(day + timedelta(days=1), time(0), zone)
        if end > now:
            continue  # the day is not over yet
        accounts, sources = failure_counts(items)
        top_a = sorted(accounts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        top_s = sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        data: dict[str, Any] = {"day": day.isoformat(), "failures": len(items)}
        for i, (name, count) in enumerate(top_a, 1):
            data[f"account.{i}"], data[f"account.{i}.failures"] = name, count
        for i, (ip, count) in enumerate(top_s, 1):
            data[f"source.{i}"], data[f"source.{i}.failures"] = ip, count
        out.append(
            _event(
                "vpn.failed_logins",
                "info",
                server,
                day.isoformat(),
                end,
                f"{server}: {len(items)} failed logins on {day.isoformat()}; most: "
                + ", ".join(f"{n} ({c})" for n, c in top_a[:5]),
                data,
            )
        )
    return out


def _unique(events: list[Event]) -> list[Event]:
    seen: set[uuid.UUID] = set()
    out = []
    for e in events:
        if e.event_id not in seen:
            seen.add(e.event_id)
            out.append(e)
    return out


# -- the runner ---------------------------------------------------------------------------------
# Debian/Ubuntu and RHEL places; a source that does not exist costs nothing.
_DEFAULT_SOURCES = (
    ("/var/log/openvpn/openvpn.log", "openvpn"),
    ("/var/log/openvpn/server.log", "openvpn"),
    ("/var/log/openvpn.log", "openvpn"),
    ("/var/log/openvpn-password.log", "openvpn-verify"),
    ("/var/log/syslog", "syslog"),
    ("/var/log/messages", "syslog"),
    ("/var/log/auth.log", "syslog"),
    ("/var/log/secure", "syslog"),
    ("/var/log/charon.log", "strongswan"),
    ("/var/log/ocserv.log", "ocserv"),
)
_DEFAULT_STATUS = (
    "/var/log/openvpn/openvpn-status.log",
    "/run/openvpn/server.status",
    "/run/openvpn-server/status-server.log",
)


def default_sources() -> tuple[LogSource, ...]:
    return tuple(LogSource(path, kind) for path, kind in _DEFAULT_SOURCES)


@dataclass(frozen=True)
class VpnLogConfig:
    """What :func:`scan_logs` reads and how it judges. ``log_timezone`` is the zone of log
    stamps that carry none (OpenVPN's own file, BSD syslog); empty = the host's local zone."""

    sources: tuple[LogSource, ...] = field(default_factory=default_sources)
    openvpn_status: tuple[str, ...] = _DEFAULT_STATUS
    occtl: bool = True
    swanctl: bool = True
    log_timezone: str = ""
    retention_days: int = 400
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def log_tz(self) -> tzinfo:
        if self.log_timezone:
            return AnalysisConfig(timezone=self.log_timezone).zone()
        return datetime.now().astimezone().tzinfo or CHINA

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VpnLogConfig:
        """From plain values (a TOML table): ``sources = [{path, kind, server}]``, thresholds by name.

        Raises ValueError naming the bad value."""
        sources = []
        for item in data.get("sources", []):
            kind = str(item.get("kind", ""))
            if kind not in KINDS:
                raise ValueError(
                    f"vpn log source {item.get('path')!r}: kind must be one of {', '.join(KINDS)}"
                )
            labels = tuple((str(k), str(v)) for k, v in dict(item.get("labels", {})).items())
            sources.append(LogSource(str(item["path"]), kind, labels))
        analysis = dict(data.get("analysis", {}))
        for name in ("work_start", "work_end"):
            if name in analysis:
                analysis[name] = time.fromisoformat(str(analysis[name]))
        for name in ("holidays", "extra_workdays"):
            if name in analysis:
                analysis[name] = frozenset(date.fromisoformat(str(d)) for d in analysis[name])
        if "workdays" in analysis:
            analysis["workdays"] = frozenset(int(d) for d in analysis["workdays"])
        known = set(AnalysisConfig.__dataclass_fields__)
        unknown = set(analysis) - known
        if unknown:
            raise ValueError(f"unknown vpn log analysis settings: {', '.join(sorted(unknown))}")
        base = cls()
        return cls(
            sources=tuple(sources) if "sources" in data else base.sources,
            openvpn_status=tuple(str(p) for p in data.get("openvpn_status", base.openvpn_status)),
            occtl=bool(data.get("occtl", base.occtl)),
            swanctl=bool(data.get("swanctl", base.swanctl)),
            log_timezone=str(data.get("log_timezone", "")),
            retention_days=int(data.get("retention_days", base.retention_days)),
            analysis=AnalysisConfig(**analysis),
        )


def read_live_sessions(config: VpnLogConfig, ctx: HostContext, now: datetime) -> list[LiveSession]:
    """Sessions connected now: OpenVPN status files, ``occtl --json show users``,
    ``swanctl --list-sas`` (each only where present; a failing one is skipped)."""
    live: list[LiveSession] = []
    tz = config.log_tz()
    for path in config.openvpn_status:
        text = ctx.read_optional(path)
        if text:
            live += parse_openvpn_status(text, tz=tz)
    commands = []
    if config.occtl and ctx.which("occtl"):
        commands.append((["occtl", "--json", "show", "users"], "ocserv"))
    if config.swanctl and ctx.which("swanctl"):
        commands.append((["swanctl", "--list-sas"], "strongswan"))
    for argv, kind in commands:
        try:
            result = ctx.run(argv, timeout=20)
        except ReadError:
            continue
        if result.returncode != 0:
            continue
        if kind == "ocserv":
            live += parse_occtl_users(result.stdout, now, tz=tz)
        else:
            live += parse_swanctl_list_sas(result.stdout, now)
    return live


def scan_logs(
    config: VpnLogConfig,
    store: LastLoginStore,
    now: datetime,
    ctx: HostContext | None = None,
    deliver: Callable[[list[Event]], None] | None = None,
) -> list[Event]:
    """Read what is new in the VPN logs into ``store``, look at the recent events, and return
    the findings not returned before (they are marked as sent in ``store``).

    ``deliver`` (the agent's service: agent/vpn/runner.py puts them in the spool) is called with
    the new findings *before* they are marked as sent, so a crash in between sends them again
    (same event ids: the collector stores each once) rather than never."""
    ctx = ctx or HostContext()
    tz = config.log_tz()
    for source in config.sources:
        stats = store.ingest(source, root=ctx.root, tz=tz, reference=now)
        if stats.lines:
            log.info(
                "vpn logs: %s: %d new lines in %d files, %d new events",
                source.path,
                stats.lines,
                stats.files,
                stats.events,
            )
    live = read_live_sessions(config, ctx, now)
    store.add_live_sessions(live, now)
    cfg = config.analysis
    reach = max(cfg.burst_minutes, cfg.success_after_minutes) + cfg.session_max_hours * 60
    since = now - timedelta(hours=cfg.lookback_hours, minutes=reach)
    events = store.logins(since=since, until=now + timedelta(minutes=5), results=None)
    # a run of failures that began before the window keeps its first failure (and its event id)
    events = (
        store.logins(
            since=min(since, now - timedelta(days=cfg.burst_history_days)), until=since, results=("failure",)
        )
        + events
    )
    history: dict[tuple[str, str], list[tuple[datetime, str | None]]] = {}
    for e in events:
        if e.result == "success" and e.account and (e.server, e.account) not in history:
            history[(e.server, e.account)] = [(h.ts, h.src_ip) for h in store.logins(e.server, e.account)]
    found = detect(events, history, live, cfg, now)
    horizon = now - timedelta(hours=cfg.lookback_hours)
    found = [e for e in found if e.occurred_at >= horizon]
    sent = store.emitted(str(e.event_id) for e in found)
    new = [e for e in found if str(e.event_id) not in sent]
    if deliver is not None and new:
        deliver(new)
    store.mark_emitted((str(e.event_id) for e in new), now)
    if new:
        log.info("vpn logs: %d findings (%s)", len(new), ", ".join(sorted({e.kind for e in new})))
    store.prune(now - timedelta(days=config.retention_days))
    return new
