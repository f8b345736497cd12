"""The city's VPN account register (issue 6; A9-T2.1 manage VPN users, A9-T2.2 weak passwords,
A9-T2.3 zombie users, A9-T1 brute force).

Three sources feed ``vpn_accounts`` (collector/db/models_vpn.py):

- the agent's ``vpn`` section of a host that runs OpenVPN, strongSwan, ocserv, pppd or WireGuard
  (:func:`sync_host_accounts`, called by ingest when the section changes): accounts with the
  agent's verdict categories and the last login from the agent's own log reader. Never a
  password or a hash: the section carries none;
- an appliance's imported user list (collector/services/vpn_imports.py);
- an appliance's syslog (collector/services/vpn_logins.py), through :func:`note_login`.

Owners are matched against the staff roster (:func:`match_owners`). An account is a *zombie*
(:func:`zombie_reasons`) when it is still present and: no login for N days (the ``vpn`` pack's
``inactive_days``, default 90, overridable per unit), never used although the server's logins
reach the collector and it exists for N days, its owner left, or it is locked or disabled but
not removed. The same rule, as data, is the policy check ``vpn.no_zombie_accounts`` over the
derived section ``vpn_register`` (:func:`register_document`); a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Host, HostEvent, Unit
from collector.db.models_vpn import StaffMember, VpnAccount
from collector.services.org import path_to_root

__all__ = [
    "DEFAULT_INACTIVE_DAYS",
    "EVENT_DAYS",
    "FINDING_EVENT_KINDS",
    "LOCKED_STATUSES",
    "ZOMBIE_REASONS",
    "forget_host_accounts",
    "match_owners",
    "note_login",
    "reevaluate",
    "register_document",
    "register_hosts",
    "sync_host_accounts",
    "zombie_days",
    "zombie_reasons",
]

DEFAULT_INACTIVE_DAYS = 90
#: How far back the derived section looks for vpn.* events.
EVENT_DAYS = 30
#: Event kinds that the vpn_register checks turn into findings (a new one re-evaluates them).
FINDING_EVENT_KINDS = frozenset({"vpn.bruteforce", "vpn.success_after_failures"})
LOCKED_STATUSES = ("locked", "disabled")
ZOMBIE_REASONS = ("no_login", "never_used", "owner_left", "locked")
_ACCOUNT_FIELDS = ("account_type", "full_name", "status", "secret_form", "weak", "check")
_FUTURE_SLACK = timedelta(days=1)
#: Status of an account listed twice (pppd's chap- and pap-secrets): the one that says most.
_STATUS_RANK = {"active": 0, "unknown": 1, "expired": 2, "revoked": 3, "disabled": 4, "locked": 5}


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return _aware(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None


# -- the agent's section ---------------------------------------------------------------------------
def _merged_accounts(items: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The section's accounts by (server, account). One account listed in two stores of a server
    (pppd's chap-secrets and pap-secrets) is merged: weak if any entry is, not weak only if every
    entry says so; the newest login; the status that says most; the stores joined."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items or []:
        if not isinstance(item, Mapping):
            continue
        key = (str(item.get("server", ""))[:128], str(item.get("account", ""))[:128])
        if not key[1]:
            continue
        login = _parse_time(item.get("last_login")) or _parse_time(item.get("last_handshake"))
        entry: dict[str, Any] = {
            "account_type": str(item.get("account_type", "user"))[:16],
            "full_name": str(item.get("full_name", ""))[:128],
            "status": str(item.get("status", "unknown"))[:16],
            "secret_form": str(item.get("secret_form", "unknown"))[:16],
            "weak": item.get("weak") if isinstance(item.get("weak"), bool) else None,
            "check": str(item.get("check", "not_applicable"))[:16],
            "reasons": {str(r) for r in item.get("reasons") or []},
            "stores": [str(item.get("store", ""))],
            "login": login,
        }
        old = merged.get(key)
        if old is None:
            merged[key] = entry
            continue
        weaks = (old["weak"], entry["weak"])
        old["weak"] = True if True in weaks else (False if weaks == (False, False) else None)
        if _STATUS_RANK.get(entry["status"], 1) > _STATUS_RANK.get(old["status"], 1):
            old["status"] = entry["status"]
        old["full_name"] = old["full_name"] or entry["full_name"]
        old["reasons"] |= entry["reasons"]
        old["stores"] += entry["stores"]
        if entry["check"] != "checked" and old["check"] == "checked":
            old["check"] = entry["check"]
        logins = [t for t in (old["login"], entry["login"]) if t is not None]
        old["login"] = max(logins) if logins else None
    return merged


def sync_host_accounts(session: Session, host: Host, data: Mapping[str, Any], now: datetime) -> int:
    """Bring the register in line with a host's ``vpn`` section; returns how many rows changed.

    Accounts the section no longer lists stay in the register with ``present`` false (the
    cleanup of a zombie is visible as its removal)."""
    kinds = {
        str(s.get("name")): str(s.get("kind", ""))
        for s in data.get("servers") or []
        if isinstance(s, Mapping)
    }
    rows = {
        (row.server, row.account): row
        for row in session.scalars(select(VpnAccount).where(VpnAccount.host_id == host.id))
    }
    accounts = _merged_accounts(data.get("accounts"))
    changed = 0
    with session.no_autoflush:
        for (server, account), entry in accounts.items():
            values = {k: entry[k] for k in _ACCOUNT_FIELDS}
            reasons = sorted(entry["reasons"])
            row = rows.get((server, account))
            if row is None:
                row = VpnAccount(
                    host_id=host.id,
                    unit_id=host.unit_id,
                    source="agent",
                    server=server,
                    account=account,
                    first_seen=now,
                    reasons=reasons,
                    **values,
                )
                session.add(row)
                rows[(server, account)] = row
                changed += 1
            else:
                before = (
                    tuple(getattr(row, k) for k in _ACCOUNT_FIELDS),
                    list(row.reasons or []),
                    row.present,
                )
                for key, value in values.items():
                    setattr(row, key, value)
                row.reasons = reasons
                row.source = "agent"
                row.present = True
                row.removed_at = None
                row.unit_id = host.unit_id
                if before != (tuple(getattr(row, k) for k in _ACCOUNT_FIELDS), reasons, True):
                    changed += 1
            row.server_kind = kinds.get(server, row.server_kind or "")[:32]
            row.store = ", ".join(sorted(set(entry["stores"])))[:255]
            row.last_seen = now
            login = _plausible(entry["login"], now)
            if login is not None and (row.last_login is None or login > _aware(row.last_login)):  # type: ignore[operator]
                row.last_login = login
                row.last_login_source = "agent"
        for pair, row in rows.items():
            if row.source == "agent" and pair not in accounts and row.present:
                row.present = False
                row.removed_at = now
                changed += 1
    if changed:
        session.flush()
        match_owners(session, host_ids=[host.id])
    return changed


def forget_host_accounts(session: Session, host: Host, now: datetime) -> None:
    """The host stopped sending its ``vpn`` section (skipped, or no longer in a full report)."""
    session.execute(
        update(VpnAccount)
        .where(VpnAccount.host_id == host.id, VpnAccount.source == "agent", VpnAccount.present.is_(True))
        .values(present=False, removed_at=now)
    )


def follow_host_unit(session: Session, host: Host) -> None:
    """The host moved (an admin moved it, or it enrolled again into another unit): its accounts
    move with it, so that scope and the unit's zombie threshold follow at once."""
    session.execute(
        update(VpnAccount)
        .where(VpnAccount.host_id == host.id, VpnAccount.unit_id != host.unit_id)
        .values(unit_id=host.unit_id)
    )


def _plausible(login: datetime | None, now: datetime) -> datetime | None:
    """A login time, or None when it lies more than a day ahead (a wrong clock or a typo would
    otherwise keep the account from ever turning zombie, and hide every real later login)."""
    if login is None:
        return None
    return login if login <= now + _FUTURE_SLACK else None


# -- logins ----------------------------------------------------------------------------------------
def note_login(
    session: Session,
    host: Host,
    *,
    server: str,
    account: str,
    ts: datetime,
    src_ip: str = "",
    source: str = "syslog",
) -> VpnAccount | None:
    """A successful login of ``account``: raise its last login when newer. An appliance account
    never listed is added (source ``syslog``) so that it shows in the register. Caller commits."""
    account = account.strip()[:128]
    server = server.strip()[:128] or host.hostname
    if not account:
        return None
    ts = _aware(ts) or utcnow()
    if _plausible(ts, utcnow()) is None:
        return None  # a clock a day or more ahead: not a login time to keep
    row = session.scalar(
        select(VpnAccount).where(
            VpnAccount.host_id == host.id, VpnAccount.server == server, VpnAccount.account == account
        )
    )
    if row is None:
        row = VpnAccount(
            host_id=host.id,
            unit_id=host.unit_id,
            source="syslog",
            server=server,
            server_kind=(host.vendor or "")[:32],
            account=account,
            status="active",
            first_seen=ts,
            last_seen=ts,
            present=True,
            reasons=[],
        )
        session.add(row)
    if row.last_login is None or ts > _aware(row.last_login):  # type: ignore[operator]
        row.last_login = ts
        row.last_login_source = source[:8]
        row.last_login_ip = src_ip[:64]
    if row.source == "syslog":
        row.last_seen = max(_aware(row.last_seen) or ts, ts)
    return row


# -- owners ----------------------------------------------------------------------------------------
def match_owners(
    session: Session, unit_ids: Iterable[int] | None = None, *, host_ids: Iterable[int] | None = None
) -> int:
    """Match accounts (of ``unit_ids`` / ``host_ids``, all when both None) to the staff roster.

    First a person whose roster entry lists the account name (case-insensitive), then a person
    whose name equals the account's full name; in both cases only people of the account's own
    unit, a unit above it (a city VPN used by the city's staff) or below it (a city VPN used by
    a district's staff) count, and only a unique match is taken: one district's roster never
    names the owner of another district's account. An owner set by hand
    (``owner_match == 'manual'``) is kept. Returns how many accounts changed."""
    parents: dict[int, int | None] = {}
    for uid, pid in session.execute(select(Unit.id, Unit.parent_id)):
        parents[uid] = pid
    by_account: dict[str, list[StaffMember]] = {}
    by_name: dict[str, list[StaffMember]] = {}
    for person in session.scalars(select(StaffMember)):
        for name in person.accounts or []:
            by_account.setdefault(str(name).strip().casefold(), []).append(person)
        by_name.setdefault(person.name.strip(), []).append(person)
    query = select(VpnAccount).where(VpnAccount.owner_match != "manual")
    if unit_ids is not None:
        query = query.where(VpnAccount.unit_id.in_(list(unit_ids)))
    if host_ids is not None:
        query = query.where(VpnAccount.host_id.in_(list(host_ids)))
    changed = 0
    for row in session.scalars(query):
        owner, how = _pick(by_account.get(row.account.casefold(), []), parents, row.unit_id), "account"
        if owner is None and row.full_name.strip():
            owner, how = _pick(by_name.get(row.full_name.strip(), []), parents, row.unit_id), "name"
        new = (owner.id if owner else None, how if owner else "")
        if (row.owner_id, row.owner_match) != new:
            row.owner_id, row.owner_match = new
            changed += 1
    return changed


def _pick(people: list[StaffMember], parents: Mapping[int, int | None], unit_id: int) -> StaffMember | None:
    """The one person of ``people`` in the unit's line (itself and above) or below it."""
    if not people:
        return None
    line = set(path_to_root(parents, unit_id))
    near = [p for p in people if p.unit_id in line or unit_id in path_to_root(parents, p.unit_id)]
    return near[0] if len(near) == 1 else None


# -- zombies ---------------------------------------------------------------------------------------
def _days_known(account: VpnAccount, now: datetime) -> int:
    start = _aware(account.first_seen) or now
    if account.created_on is not None:
        created = datetime(
            account.created_on.year, account.created_on.month, account.created_on.day, tzinfo=UTC
        )
        start = min(start, created)
    return max(0, (now - start).days)


def zombie_reasons(
    account: VpnAccount,
    owner: StaffMember | None,
    now: datetime,
    days: int,
    *,
    server_has_logins: bool = True,
) -> list[str]:
    """Why a present account is a zombie (A9-T2.3), in the order of :data:`ZOMBIE_REASONS`."""
    if not account.present:
        return []
    reasons = []
    last = _aware(account.last_login)
    if last is not None and (now - last).days > days:
        reasons.append("no_login")
    if last is None and server_has_logins and _days_known(account, now) > days:
        reasons.append("never_used")
    if owner is not None and owner.status == "left":
        reasons.append("owner_left")
    if account.status in LOCKED_STATUSES:
        reasons.append("locked")
    return reasons


def _policies(session: Session) -> Any:
    """The effective-policy helper of the active catalogue, kept for the session's life (one
    load of units and overrides per request, not one per unit or host)."""
    from collector.services.compliance import _Policies, active_catalog

    catalog = active_catalog(session)
    cached = session.info.get("vpn_policies")
    if cached is None or cached.catalog is not catalog:
        cached = _Policies(session, catalog)
        session.info["vpn_policies"] = cached
    return cached


def zombie_days(session: Session, unit_id: int) -> int:
    """The unit's zombie threshold: the ``vpn`` pack's ``inactive_days`` as the unit sees it."""
    _enabled, params = _policies(session).for_unit(unit_id)
    value = params.get("vpn", {}).get("inactive_days", DEFAULT_INACTIVE_DAYS)
    return int(value) if isinstance(value, int) else DEFAULT_INACTIVE_DAYS


def servers_with_logins(session: Session, host_ids: Iterable[int]) -> set[tuple[int, str]]:
    """(host, server) pairs of which some account has a known login."""
    rows = session.execute(
        select(VpnAccount.host_id, VpnAccount.server)
        .where(VpnAccount.host_id.in_(list(host_ids)), VpnAccount.last_login.is_not(None))
        .distinct()
    )
    return {(h, s) for h, s in rows}


# -- the derived section for the policy engine -----------------------------------------------------
def register_document(session: Session, host: Host, now: datetime) -> dict[str, Any] | None:
    """The ``vpn_register`` document of a host (collector/policy/derived.py), or None when the
    register knows no VPN account and no vpn.* event of it (its checks are then not applicable)."""
    rows = list(session.scalars(select(VpnAccount).where(VpnAccount.host_id == host.id)))
    events = list(
        session.scalars(
            select(HostEvent)
            .where(
                HostEvent.host_id == host.id,
                HostEvent.kind.like("vpn.%"),
                HostEvent.occurred_at >= now - timedelta(days=EVENT_DAYS),
            )
            .order_by(HostEvent.occurred_at.desc())
            .limit(500)
        )
    )
    if not rows and not events:
        return None
    owners = {
        p.id: p
        for p in session.scalars(
            select(StaffMember).where(StaffMember.id.in_({r.owner_id for r in rows if r.owner_id}))
        )
    }
    with_logins = {r.server for r in rows if r.last_login is not None}
    accounts = []
    for row in rows:
        owner = owners.get(row.owner_id) if row.owner_id else None
        last = _aware(row.last_login)
        accounts.append(
            {
                "server": row.server,
                "account": row.account,
                "source": row.source,
                "account_type": row.account_type,
                "status": row.status,
                "present": row.present,
                "full_name": row.full_name,
                "owner": owner.name if owner else "",
                "owner_status": owner.status if owner else "unknown",
                "weak": row.weak,
                "last_login": last,
                "days_since_login": (now - last).days if last else None,
                "never_used": last is None,
                "server_has_logins": row.server in with_logins,
                "days_known": _days_known(row, now),
            }
        )
    accounts.sort(key=lambda a: (a["server"], a["account"]))
    return {
        "accounts": accounts,
        "events": [
            {
                "kind": e.kind,
                "occurred_at": _aware(e.occurred_at),
                "severity": e.severity,
                "server": str((e.data or {}).get("server", ""))[:128],
                "account": str((e.data or {}).get("account", ""))[:128],
                "src_ip": str((e.data or {}).get("src_ip", ""))[:64],
                "summary": e.summary[:500],
            }
            for e in events
        ],
    }


def register_hosts(session: Session) -> list[int]:
    """Hosts with anything for the derived section: VPN accounts or vpn.* events lately."""
    since = utcnow() - timedelta(days=EVENT_DAYS + 1)
    with_accounts = set(session.scalars(select(VpnAccount.host_id).distinct()))
    with_events = set(
        session.scalars(
            select(HostEvent.host_id)
            .where(HostEvent.kind.like("vpn.%"), HostEvent.occurred_at >= since)
            .distinct()
        )
    )
    return sorted(with_accounts | with_events)


def reevaluate(session: Session, host_ids: Iterable[int], now: datetime | None = None) -> None:
    """Re-run the checks of the derived ``vpn_register`` section on these hosts (zombies, brute
    force). Call after an import, a roster change or a batch of logins; the caller commits."""
    from collector.services import compliance

    now = now or utcnow()
    ids = sorted(set(host_ids))
    if not ids:
        return
    catalog = compliance.active_catalog(session)
    if not catalog.by_section.get("vpn_register"):
        return
    session.flush()
    policies = compliance._Policies(session, catalog)
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        for host in session.scalars(select(Host).where(Host.id.in_(batch), Host.status == "active")):
            compliance.evaluate_host(
                session, host, sections=["vpn_register"], now=now, catalog=catalog, policies=policies
            )
