"""The VPN account register and its findings (issue 6; A9-T2.1, A9-T2.2, A9-T2.3, A9-T1).

A real ``vpn`` section (policies/examples/vpn.yaml: `watchpost-agent vpn-audit` on stores made by
the real tools) goes in through the report endpoint; the register, the roster match, the zombie
rule and the brute-force events then raise and verify findings through the policy engine, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from collector.db.base import utcnow
from collector.db.models import Host, Unit
from collector.db.models_policy import CheckResult, Finding
from collector.db.models_vpn import StaffMember, VpnAccount
from collector.policy.derived import VpnRegisterFacts
from collector.policy.expr import Context
from collector.policy.loader import default_policies_dir, load_dir
from collector.services import vpn_register
from tests.support.collector import CollectorUnderTest, make_report, node_auth
from wire.sections import VpnFacts

EXAMPLES = default_policies_dir() / "examples"
SECTION = yaml.safe_load((EXAMPLES / "vpn.yaml").read_text(encoding="utf-8"))
WEAK_ACTIVE = sorted(
    {(a["server"], a["account"]) for a in SECTION["accounts"] if a["weak"] and a["status"] == "active"}
)


def _vpn(data: dict[str, Any]) -> dict[str, Any]:
    doc = VpnFacts.model_validate(data).model_dump(mode="json")
    return {"status": "ok", "content_hash": "", "data": doc, "errors": [], "reason": "", "duration_ms": 5}


def _send(c: CollectorUnderTest, agent_id: uuid.UUID, key: str, data: dict[str, Any]) -> None:
    answer = c.client.post(
        "/api/v1/reports", json=make_report(agent_id, sections={"vpn": _vpn(data)}), headers=node_auth(key)
    )
    assert answer.status_code == 200, answer.text


def _host(c: CollectorUnderTest, unit: str = "341021") -> tuple[int, uuid.UUID, str]:
    agent_id, key = c.enroll(unit, hostname=f"vpn-{uuid.uuid4().hex[:6]}")
    with c.sessions() as session:
        host_id = session.scalar(select(Host.id).where(Host.agent_id == agent_id))
    assert host_id is not None
    return host_id, agent_id, key


def _status(c: CollectorUnderTest, host_id: int, check_id: str) -> str | None:
    with c.sessions() as session:
        row = session.get(CheckResult, (host_id, check_id))
        return row.status if row else None


def _finding(c: CollectorUnderTest, host_id: int, check_id: str) -> Finding | None:
    with c.sessions() as session:
        return session.scalar(select(Finding).where(Finding.host_id == host_id, Finding.check_id == check_id))


def _items(finding: Finding) -> list[dict[str, Any]]:
    """The offending list items a finding's evidence names."""
    return [e["item"] for e in finding.evidence if "item" in e]


def test_the_example_section_builds_the_example_register_document() -> None:
    """policies/examples/vpn_register.yaml is what the collector derives from vpn.yaml (kept in step)."""
    base = yaml.safe_load((EXAMPLES / "vpn_register.yaml").read_text(encoding="utf-8"))
    VpnRegisterFacts.model_validate(base)
    names = {(a["server"], a["account"]) for a in base["accounts"]}
    assert names == {(a["server"], a["account"]) for a in SECTION["accounts"]}
    locked = {a["account"] for a in base["accounts"] if a["status"] in vpn_register.LOCKED_STATUSES}
    assert locked == {a["account"] for a in SECTION["accounts"] if a["status"] == "locked"}


def test_a_vpn_section_fills_the_register_and_raises_weak_cleartext_and_zombie_findings(
    collector: CollectorUnderTest,
) -> None:
    host_id, agent_id, key = _host(collector)
    _send(collector, agent_id, key, SECTION)
    with collector.sessions() as session:
        rows = list(session.scalars(select(VpnAccount).where(VpnAccount.host_id == host_id)))
        unit = session.scalar(select(Unit).where(Unit.code == "341021"))
    assert unit is not None
    assert {(r.server, r.account) for r in rows} == {(a["server"], a["account"]) for a in SECTION["accounts"]}
    assert all(r.source == "agent" and r.present and r.unit_id == unit.id for r in rows)
    assert sorted((r.server, r.account) for r in rows if r.weak and r.status == "active") == WEAK_ACTIVE
    # findings through the policy engine, each with the offending accounts as evidence
    assert _status(collector, host_id, "vpn.no_weak_passwords") == "fail"
    weak = _finding(collector, host_id, "vpn.no_weak_passwords")
    assert weak is not None and weak.status == "open" and weak.severity == "high"
    listed = {(i["server"], i["account"]) for i in _items(weak)}
    assert listed and listed <= set(WEAK_ACTIVE)
    assert _status(collector, host_id, "vpn.no_cleartext_store") == "fail"
    assert _status(collector, host_id, "vpn.stores_not_world_readable") == "pass"
    # zombie: the locked account 'olduser' is still present; no logins known, so nothing else
    assert _status(collector, host_id, "vpn.no_zombie_accounts") == "fail"
    zombie = _finding(collector, host_id, "vpn.no_zombie_accounts")
    assert zombie is not None
    assert {i["account"] for i in _items(zombie)} == {"olduser"}
    assert _status(collector, host_id, "vpn.no_recent_bruteforce") == "pass"

    # the cleanup: olduser deleted, weak passwords reset, password file replaced by hashes
    cleaned = copy.deepcopy(SECTION)
    cleaned["accounts"] = [
        {**a, "weak": False if a["weak"] else a["weak"], "reasons": []}
        for a in SECTION["accounts"]
        if a["account"] != "olduser"
    ]
    cleaned["stores"] = [{**s, "cleartext_secrets": 0} for s in SECTION["stores"]]
    _send(collector, agent_id, key, cleaned)
    for check_id in ("vpn.no_weak_passwords", "vpn.no_cleartext_store", "vpn.no_zombie_accounts"):
        assert _status(collector, host_id, check_id) == "pass", check_id
        found = _finding(collector, host_id, check_id)
        assert found is not None and found.status == "verified", check_id
    with collector.sessions() as session:
        gone = session.scalar(
            select(VpnAccount).where(VpnAccount.host_id == host_id, VpnAccount.account == "olduser")
        )
    assert gone is not None and not gone.present and gone.removed_at is not None


def test_long_unused_and_owner_left_accounts_are_zombies(collector: CollectorUnderTest) -> None:
    host_id, agent_id, key = _host(collector)
    now = utcnow()
    data = copy.deepcopy(SECTION)
    data["accounts"] = [a for a in SECTION["accounts"] if a["status"] == "active"]
    old = (now - timedelta(days=120)).isoformat()
    for a in data["accounts"]:
        a["last_login"] = old
    _send(collector, agent_id, key, data)
    # 120 days without a login: zombies at the default 90 days ...
    zombie = _finding(collector, host_id, "vpn.no_zombie_accounts")
    assert zombie is not None and zombie.status == "open"
    assert {"alice", "wangfang"} <= {i["account"] for i in _items(zombie)}
    # ... not where the unit allows 180 (the override re-evaluates)
    answer = collector.client.put(
        "/api/v1/units/341021/policy",
        json={"params": {"vpn": {"inactive_days": 180}}},
        headers=collector.admin_headers(),
    )
    assert answer.status_code == 200, answer.text
    assert _status(collector, host_id, "vpn.no_zombie_accounts") == "pass"
    with collector.sessions() as session:
        unit = session.scalar(select(Unit).where(Unit.code == "341021"))
        assert unit is not None
        assert vpn_register.zombie_days(session, unit.id) == 180
        alice = session.scalar(
            select(VpnAccount).where(
                VpnAccount.host_id == host_id, VpnAccount.account == "alice", VpnAccount.server == "ocserv"
            )
        )
        assert alice is not None
        assert vpn_register.zombie_reasons(alice, None, utcnow(), 180) == []
        assert vpn_register.zombie_reasons(alice, None, utcnow(), 90) == ["no_login"]
        # the roster: 王芳 left the bureau; 李强's entry names his account (case aside)
        session.add(StaffMember(unit_id=unit.id, name="王芳", accounts=["wangfang"], status="left"))
        session.add(StaffMember(unit_id=unit.id, name="李强", accounts=["LiQiang"], status="active"))
        session.flush()
        assert vpn_register.match_owners(session, [unit.id]) >= 2
        vpn_register.reevaluate(session, [host_id])
        session.commit()
        owners = {
            r.account: r.owner_match
            for r in session.scalars(select(VpnAccount).where(VpnAccount.host_id == host_id))
            if r.owner_id
        }
    assert owners == {"wangfang": "account", "liqiang": "account"}
    assert _status(collector, host_id, "vpn.no_zombie_accounts") == "fail"
    zombie = _finding(collector, host_id, "vpn.no_zombie_accounts")
    assert zombie is not None and zombie.reopen_count >= 1
    assert {i["account"] for i in _items(zombie)} == {"wangfang"}


def test_a_brute_force_event_from_the_agent_opens_a_finding(collector: CollectorUnderTest) -> None:
    host_id, agent_id, key = _host(collector)
    _send(collector, agent_id, key, SECTION)
    events = [
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": (utcnow() - timedelta(hours=2)).isoformat(),
            "kind": "vpn.bruteforce",
            "severity": "high",
            "source": "vpn-logs:openvpn-server@server",
            "summary": "openvpn-server@server: 40 failed logins for admin from 198.51.100.23 in 10 minutes",
            "data": {"server": "openvpn-server@server", "account": "admin", "src_ip": "198.51.100.23"},
        }
    ]
    answer = collector.client.post(
        "/api/v1/events", json={"agent_id": str(agent_id), "events": events}, headers=node_auth(key)
    )
    assert answer.status_code == 200, answer.text
    assert _status(collector, host_id, "vpn.no_recent_bruteforce") == "fail"
    found = _finding(collector, host_id, "vpn.no_recent_bruteforce")
    assert found is not None and found.status == "open"
    assert {i["src_ip"] for i in _items(found)} == {"198.51.100.23"}
    assert _status(collector, host_id, "vpn.no_login_after_bruteforce") == "pass"


def test_a_pc_without_vpn_has_the_register_checks_not_applicable(collector: CollectorUnderTest) -> None:
    host_id, agent_id, key = _host(collector)
    _send(collector, agent_id, key, {"servers": [], "stores": [], "accounts": [], "verdicts": []})
    assert _status(collector, host_id, "vpn.no_weak_passwords") == "pass"
    assert _status(collector, host_id, "vpn.no_zombie_accounts") == "not_applicable"


# -- the Python zombie rule and the pack's rule agree ----------------------------------------------
_PACK = next(p for p in load_dir(default_policies_dir() / "packs")[0] if p.name == "vpn")
_ZOMBIE = next(c for c in _PACK.checks if c.id == "vpn.no_zombie_accounts")
_NOW = datetime(2026, 11, 27, 2, tzinfo=UTC)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    present=st.booleans(),
    status=st.sampled_from(["active", "locked", "disabled", "revoked", "unknown"]),
    login_days=st.one_of(st.none(), st.integers(0, 400)),
    known_days=st.integers(0, 400),
    owner=st.sampled_from([None, "active", "left"]),
    server_has_logins=st.booleans(),
    days=st.integers(7, 365),
)
def test_zombie_reasons_agree_with_the_pack_rule(
    present: bool,
    status: str,
    login_days: int | None,
    known_days: int,
    owner: str | None,
    server_has_logins: bool,
    days: int,
) -> None:
    last = _NOW - timedelta(days=login_days) if login_days is not None else None
    row = VpnAccount(
        server="s",
        account="a",
        source="agent",
        status=status,
        present=present,
        last_login=last,
        first_seen=_NOW - timedelta(days=known_days),
    )
    person = StaffMember(name="x", status=owner) if owner else None
    reasons = vpn_register.zombie_reasons(row, person, _NOW, days, server_has_logins=server_has_logins)
    doc = {
        "accounts": [
            {
                "server": "s",
                "account": "a",
                "source": "agent",
                "status": status,
                "present": present,
                "owner_status": owner or "unknown",
                "last_login": last.isoformat() if last else None,
                "days_since_login": login_days,
                "never_used": last is None,
                "server_has_logins": server_has_logins,
                "days_known": known_days,
            }
        ],
        "events": [],
    }
    doc = VpnRegisterFacts.model_validate(doc).model_dump(mode="json")
    outcome, _evidence = _ZOMBIE.evaluate(
        doc, Context(host={}, params={**_PACK.defaults(), "inactive_days": days}, now=_NOW)
    )
    assert (outcome == "fail") == bool(reasons), (reasons, outcome)


@pytest.mark.parametrize("reason", vpn_register.ZOMBIE_REASONS)
def test_every_zombie_reason_is_reachable(reason: str) -> None:
    row = VpnAccount(
        server="s",
        account="a",
        source="import",
        status="locked" if reason == "locked" else "active",
        present=True,
        last_login=None
        if reason == "never_used"
        else _NOW - timedelta(days=200 if reason == "no_login" else 1),
        first_seen=_NOW - timedelta(days=300),
    )
    person = StaffMember(name="x", status="left" if reason == "owner_left" else "active")
    assert vpn_register.zombie_reasons(row, person, _NOW, 90) == [reason]


# -- review findings: scope follows the host, owners stay in their line, clocks, duplicates ----------
def test_a_moved_host_takes_its_vpn_accounts_into_the_new_scope(collector: CollectorUnderTest) -> None:
    host_id, agent_id, key = _host(collector, "341022")
    _send(collector, agent_id, key, SECTION)
    answer = collector.client.post(
        f"/api/v1/hosts/{host_id}/move", json={"unit": "341021"}, headers=collector.admin_headers()
    )
    assert answer.status_code == 200, answer.text
    with collector.sessions() as session:
        units = set(session.scalars(select(VpnAccount.unit_id).where(VpnAccount.host_id == host_id)))
        target = session.scalar(select(Unit.id).where(Unit.code == "341021"))
    assert units == {target}


def test_another_districts_roster_never_names_an_owner(collector: CollectorUnderTest) -> None:
    host_id, agent_id, key = _host(collector, "341021")
    _send(collector, agent_id, key, SECTION)
    with collector.sessions() as session:
        codes = {u.code: u.id for u in session.scalars(select(Unit))}
        # a person of the other district who left, whose entry names the same account name
        session.add(StaffMember(unit_id=codes["341022"], name="张伟", accounts=["zhangwei"], status="left"))
        # the city's own staff may own accounts of a district's server, and the other way round
        session.add(StaffMember(unit_id=codes["341000"], name="李强", accounts=["liqiang"], status="active"))
        session.flush()
        vpn_register.match_owners(session)
        session.commit()
        owners = {
            r.account: r.owner_id
            for r in session.scalars(select(VpnAccount).where(VpnAccount.host_id == host_id))
        }
    assert owners["zhangwei"] is None
    assert owners["liqiang"] is not None


def test_a_login_time_far_in_the_future_is_not_kept(collector: CollectorUnderTest) -> None:
    host_id, agent_id, key = _host(collector)
    data = copy.deepcopy(SECTION)
    for a in data["accounts"]:
        a["last_login"] = "2062-01-01T00:00:00+00:00" if a["account"] == "alice" else None
    _send(collector, agent_id, key, data)
    with collector.sessions() as session:
        logins = {
            r.last_login for r in session.scalars(select(VpnAccount).where(VpnAccount.host_id == host_id))
        }
        host = session.get_one(Host, host_id)
        assert (
            vpn_register.note_login(
                session, host, server="ocserv", account="alice", ts=datetime(2062, 1, 1, tzinfo=UTC)
            )
            is None
        )
    assert logins == {None}


def test_an_account_in_two_stores_of_a_server_is_merged(collector: CollectorUnderTest) -> None:
    """pppd reads chap-secrets and pap-secrets: one user may be in both, weak in one."""
    host_id, agent_id, key = _host(collector)
    data = copy.deepcopy(SECTION)
    base = next(a for a in SECTION["accounts"] if a["server"] == "pptpd" and a["account"] == "frank")
    recent = (utcnow() - timedelta(days=1)).isoformat()
    old = (utcnow() - timedelta(days=200)).isoformat()
    data["accounts"] = [
        {**base, "store": "/etc/ppp/chap-secrets", "weak": False, "reasons": [], "last_login": old},
        {
            **base,
            "store": "/etc/ppp/pap-secrets",
            "weak": True,
            "reasons": ["common_list"],
            "last_login": recent,
        },
    ]
    _send(collector, agent_id, key, data)
    with collector.sessions() as session:
        [row] = session.scalars(select(VpnAccount).where(VpnAccount.host_id == host_id))
    assert row.weak is True and row.reasons == ["common_list"]
    assert row.last_login is not None and (utcnow() - row.last_login) < timedelta(days=2)
    assert row.store == "/etc/ppp/chap-secrets, /etc/ppp/pap-secrets"
