"""The JSON API of VPN appliances' syslog line templates (issue 6: A9-T2.3, A9-T1, A9-G).

Scope and roles of every route are in test_access_matrix.py; here: what the routes say, the
clear errors, vendor-wide templates (city admins only), audit, and templates applied by
ingest_lines directly (own templates first, then the vendor's). On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from collector.db.models import AuditLog, Host
from collector.db.models_vpn import VpnLogin
from collector.services.vpn_logins import SyslogStats, find_appliance, ingest_lines
from tests.support.collector import CollectorUnderTest

SAMPLE = "<86>Nov 27 10:01:02 sslvpn-she sslvpn[311]: User zhangwei logged in from 198.18.2.9:51839"


def _appliance(c: CollectorUnderTest, headers: dict[str, str], unit: str = "341021", **extra: Any) -> int:
    body = {
        "hostname": f"vpn-{unit}",
        "unit": unit,
        "device_type": "vpn appliance",
        "vendor": "H3C",
        "ip_addresses": ["198.18.0.1"],
        **extra,
    }
    answer = c.client.post("/api/v1/assets", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_suggest_then_test_then_save(collector: CollectorUnderTest) -> None:
    headers = collector.admin_headers("341021", "district_admin")
    host_id = _appliance(collector, collector.admin_headers())
    suggested = collector.client.post(
        "/api/v1/vpn/templates/suggest", json={"sample": SAMPLE, "user": "zhangwei"}, headers=headers
    )
    assert suggested.status_code == 200, suggested.text
    body = suggested.json()
    assert body["template"] == "User {user} logged in from {src_ip}:{src_port}"
    assert body["test"] == {
        "matched": True,
        "error": "",
        "pattern": body["test"]["pattern"],
        "fields": {"user": "zhangwei", "src_ip": "198.18.2.9", "src_port": "51839"},
    }
    wrong = collector.client.post(
        "/api/v1/vpn/templates/test",
        json={"template": "User {user} logged out from {src_ip}:{src_port}", "sample": SAMPLE},
        headers=headers,
    )
    assert wrong.status_code == 200 and wrong.json()["matched"] is False
    assert "the text ' logged out from '" in wrong.json()["error"]

    refused = collector.client.post(
        "/api/v1/vpn/templates",
        json={
            "host_id": host_id,
            "name": "login",
            "result": "success",
            "template": "User {user} logged out from {src_ip}",
            "sample": SAMPLE,
        },
        headers=headers,
    )
    assert refused.status_code == 422 and "does not match the sample" in refused.json()["detail"]
    saved = collector.client.post(
        "/api/v1/vpn/templates",
        json={
            "host_id": host_id,
            "name": "login",
            "result": "success",
            "template": body["template"],
            "sample": SAMPLE,
        },
        headers=headers,
    )
    assert saved.status_code == 201, saved.text
    made = saved.json()
    assert made["hostname"] == "vpn-341021" and made["vendor"] == "H3C" and made["matched"] == 0
    listed = collector.client.get("/api/v1/vpn/templates", params={"host_id": host_id}, headers=headers)
    assert [t["id"] for t in listed.json()] == [made["id"]]

    patched = collector.client.patch(
        f"/api/v1/vpn/templates/{made['id']}",
        json={"result": "logout", "template": "User {user} logged in from {*}"},
        headers=headers,
    )
    assert patched.status_code == 200 and patched.json()["result"] == "logout"
    bad_patch = collector.client.patch(
        f"/api/v1/vpn/templates/{made['id']}", json={"result": "failure"}, headers=headers
    )
    assert bad_patch.status_code == 422 and "{src_ip}" in bad_patch.json()["detail"]
    assert collector.client.delete(f"/api/v1/vpn/templates/{made['id']}", headers=headers).status_code == 204
    with collector.sessions() as session:
        actions = [
            a.action
            for a in session.scalars(
                select(AuditLog).where(AuditLog.action.like("syslog_template.%")).order_by(AuditLog.id)
            )
        ]
    assert actions == ["syslog_template.create", "syslog_template.update", "syslog_template.delete"]


def test_templates_only_for_vpn_appliances_and_vendor_wide_only_by_city_admins(
    collector: CollectorUnderTest,
) -> None:
    city = collector.admin_headers()
    district = collector.admin_headers("341021", "district_admin")
    printer = collector.client.post(
        "/api/v1/assets",
        json={"hostname": "printer", "unit": "341021", "device_type": "printer"},
        headers=city,
    ).json()["id"]
    body = {
        "name": "login",
        "result": "success",
        "template": "User {user} logged in from {src_ip}:{src_port}",
        "sample": SAMPLE,
    }
    not_vpn = collector.client.post(
        "/api/v1/vpn/templates", json={**body, "host_id": printer}, headers=district
    )
    assert not_vpn.status_code == 422 and "not a VPN appliance" in not_vpn.json()["detail"]
    refused = collector.client.post("/api/v1/vpn/templates", json={**body, "vendor": "H3C"}, headers=district)
    assert refused.status_code == 403 and "city admins" in refused.json()["detail"]
    no_vendor = collector.client.post("/api/v1/vpn/templates", json=body, headers=city)
    assert no_vendor.status_code == 422 and "vendor" in no_vendor.json()["detail"]
    wide = collector.client.post("/api/v1/vpn/templates", json={**body, "vendor": "H3C"}, headers=city)
    assert wide.status_code == 201 and wide.json()["host_id"] is None
    seen = collector.client.get(f"/api/v1/vpn/templates/{wide.json()['id']}", headers=district)
    assert seen.status_code == 200  # vendor-wide templates hold no unit's data
    change = collector.client.patch(
        f"/api/v1/vpn/templates/{wide.json()['id']}", json={"enabled": False}, headers=district
    )
    assert change.status_code == 403


def test_bad_input_is_a_clear_4xx(collector: CollectorUnderTest) -> None:
    headers = collector.admin_headers()
    for body in ({"sample": "   ", "user": ""}, {"sample": "<999>x", "user": "a"}):
        answer = collector.client.post("/api/v1/vpn/templates/suggest", json=body, headers=headers)
        assert answer.status_code == 422 and answer.json()["detail"], answer.text
    nul = collector.client.post(
        "/api/v1/vpn/templates/test", json={"template": "a\x00", "sample": "b"}, headers=headers
    )
    assert nul.status_code == 422
    twice = collector.client.post(
        "/api/v1/vpn/templates/test", json={"template": "{user} {user}", "sample": "a a"}, headers=headers
    )
    assert twice.status_code == 200 and twice.json() == {
        "matched": False,
        "fields": {},
        "pattern": "",
        "error": "{user} is marked more than once",
    }


def test_own_templates_first_then_the_vendors(collector: CollectorUnderTest) -> None:
    headers = collector.admin_headers()
    host_id = _appliance(collector, headers, ip_addresses=["198.18.0.1", "2001:db8::1"])
    line = "User {user} logged in from {src_ip}:{src_port}"
    for payload in (
        {"vendor": "h3c", "name": "vendor", "result": "failure"},
        {"host_id": host_id, "name": "own", "result": "success"},
    ):
        answer = collector.client.post(
            "/api/v1/vpn/templates", json={**payload, "template": line, "sample": SAMPLE}, headers=headers
        )
        assert answer.status_code == 201, answer.text
    now = datetime.now(UTC)
    with collector.sessions() as session:
        host = find_appliance(session, "::ffff:198.18.0.1")
        assert host is not None and host.id == host_id
        assert (
            find_appliance(session, "2001:db8::1") is not None
            and find_appliance(session, "198.18.0.2") is None
        )
        stats = SyslogStats()
        result = ingest_lines(session, "198.18.0.1", [SAMPLE.encode(), b"<14>nothing", b""], now, stats=stats)
        assert (result.stored, result.unmatched, result.garbage) == (1, 1, 1)
        login = session.scalars(select(VpnLogin)).one()
        assert login.result == "success" and login.account == "zhangwei"
        assert now - timedelta(days=366) < login.ts <= now + timedelta(days=1)
        retired = session.get(Host, host_id)
        assert retired is not None
        retired.status = "retired"
        session.commit()
        assert ingest_lines(session, "198.18.0.1", [SAMPLE.encode()], now, stats=stats).host_id is None
        assert stats.unknown_senders == {"198.18.0.1": 1}


def test_testing_and_suggesting_are_bounded_on_hostile_input(collector: CollectorUnderTest) -> None:
    """Review S1: /test and /suggest use the same bounded patterns (no lazy ``.*?``) on
    2000-character hostile samples, and answer."""
    headers = collector.admin_headers()
    hostile = (": login failed " * 140)[:2000]
    for template in (
        "{*}: login failed {*} user={user} {*} ip={src_ip}",
        "{*} user {user} from {src_ip} {*} end {*}",
    ):
        answer = collector.client.post(
            "/api/v1/vpn/templates/test",
            json={"template": template, "sample": hostile, "result": "failure"},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["matched"] is False and ".*?" not in body["pattern"] and ".)*+" in body["pattern"]
    suggested = collector.client.post(
        "/api/v1/vpn/templates/suggest", json={"sample": hostile, "user": "failed"}, headers=headers
    )
    assert suggested.status_code == 200, suggested.text
    assert ".*?" not in suggested.json()["test"]["pattern"]
