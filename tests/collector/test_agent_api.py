"""Agent endpoints: enrollment, report ingest, events (A9-T1 continuous collection,
A9-M3.3 asset inventory). Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from collector.db.models import (
    AuditLog,
    EnrollSecret,
    Host,
    HostSection,
    HostSectionHistory,
    NodeKey,
    ReportLog,
)
from tests.support.collector import CollectorUnderTest, make_report, node_auth
from wire import DEFAULT_INTERVALS, DEFAULT_SECTIONS


def test_enroll_gives_node_key_stored_only_as_hash(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll("341021", hostname="she-pc-07")
    assert key.startswith("wpn_") and len(key) > 40
    with collector.sessions() as session:
        host = session.scalar(select(Host).where(Host.agent_id == agent_id))
        assert host is not None and host.unit.code == "341021" and host.hostname == "she-pc-07"
        stored = session.scalars(select(NodeKey.key_hash)).all()
        assert key not in stored and all(len(h) == 64 for h in stored)


def test_enroll_rejects_unknown_expired_and_used_up_secrets(collector: CollectorUnderTest) -> None:
    body = {
        "enroll_secret": "x" * 20,
        "agent_id": str(uuid.uuid4()),
        "agent_version": "t",
        "hostname": "pc",
        "os_family": "linux",
    }
    answer = collector.client.post("/api/v1/enroll", json=body)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_enroll_secret"

    once = collector.enroll_secret("341002", max_uses=1)
    assert collector.client.post("/api/v1/enroll", json={**body, "enroll_secret": once}).status_code == 200
    again = collector.client.post(
        "/api/v1/enroll", json={**body, "enroll_secret": once, "agent_id": str(uuid.uuid4())}
    )
    assert again.status_code == 401 and again.json()["error"] == "exhausted_enroll_secret"

    expired = collector.enroll_secret("341002")
    with collector.sessions() as session:
        row = session.scalars(select(EnrollSecret).order_by(EnrollSecret.id.desc())).first()
        assert row is not None
        row.expires_at = row.created_at
        session.commit()
    late = collector.client.post("/api/v1/enroll", json={**body, "enroll_secret": expired})
    assert late.status_code == 401 and late.json()["error"] == "expired_enroll_secret"


def test_reenrollment_needs_the_current_key_and_revokes_it(collector: CollectorUnderTest) -> None:
    agent_id, old_key = collector.enroll()
    body = {"agent_id": str(agent_id), "agent_version": "t", "hostname": "pc-01", "os_family": "linux"}
    # knowing the agent id is not enough to take the host over
    stolen = collector.client.post(
        "/api/v1/enroll", json={**body, "enroll_secret": collector.enroll_secret("341003")}
    )
    assert stolen.status_code == 409 and stolen.json()["error"] == "already_enrolled"
    secret = collector.enroll_secret("341003")
    answer = collector.client.post(
        "/api/v1/enroll", json={**body, "enroll_secret": secret, "previous_node_key": old_key}
    )
    assert answer.status_code == 200 and answer.json()["unit_code"] == "341003"
    refused = collector.client.post("/api/v1/reports", json=make_report(agent_id), headers=node_auth(old_key))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_node_key"
    new_key = answer.json()["node_key"]
    accepted = collector.client.post(
        "/api/v1/reports", json=make_report(agent_id), headers=node_auth(new_key)
    )
    assert accepted.status_code == 200


def test_report_ingest_stores_sections_and_summary(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll()
    report = make_report(agent_id, hostname="jsz-admin-01")
    answer = collector.client.post("/api/v1/reports", json=report, headers=node_auth(key))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "stored"
    assert answer.json()["state_hash"] == report["state_hash"]
    with collector.sessions() as session:
        host = session.scalar(select(Host).where(Host.agent_id == agent_id))
        assert host is not None
        assert host.hostname == "jsz-admin-01"
        assert host.memory_bytes == report["sections"]["hardware"]["data"]["memory_bytes"]
        assert host.os_name == report["sections"]["os"]["data"]["pretty_name"]
        names = set(session.scalars(select(HostSection.name).where(HostSection.host_id == host.id)))
        assert names == {"os", "hardware", "network"}
        addresses = {a.address for a in host.addresses if a.address}
    expected = {
        a["address"]
        for i in report["sections"]["network"]["data"]["interfaces"]
        if i["kind"] != "loopback"
        for a in i["addresses"]
    }
    assert addresses == expected


def test_report_ingest_is_idempotent_by_report_id(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll()
    report = make_report(agent_id)
    first = collector.client.post("/api/v1/reports", json=report, headers=node_auth(key))
    second = collector.client.post("/api/v1/reports", json=report, headers=node_auth(key))
    assert first.json()["status"] == "stored" and second.json()["status"] == "duplicate"
    with collector.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ReportLog)) == 1


def test_report_ingest_accepts_gzip(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll()
    body = gzip.compress(json.dumps(make_report(agent_id)).encode())
    answer = collector.client.post(
        "/api/v1/reports",
        content=body,
        headers={**node_auth(key), "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text


def test_delta_applies_on_matching_base_and_is_refused_otherwise(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll()
    full = make_report(agent_id)
    collector.client.post("/api/v1/reports", json=full, headers=node_auth(key))
    os_section = json.loads(json.dumps(full["sections"]["os"]))
    os_section["data"]["hostname"] = "renamed-pc"
    delta = make_report(agent_id, kind="delta", base=full["state_hash"], sections={"os": os_section})
    # the delta's state is the full state with the new os hash
    from wire import content_hash, state_hash

    hashes = {n: r["content_hash"] for n, r in full["sections"].items()}
    hashes["os"] = content_hash(os_section["data"])
    delta["state_hash"] = state_hash(hashes)
    answer = collector.client.post("/api/v1/reports", json=delta, headers=node_auth(key))
    assert answer.status_code == 200, answer.text
    assert answer.json()["state_hash"] == delta["state_hash"]

    stale = make_report(agent_id, kind="delta", base="0" * 64, sections={"os": os_section})
    refused = collector.client.post("/api/v1/reports", json=stale, headers=node_auth(key))
    assert refused.status_code == 409 and refused.json()["error"] == "base_mismatch"


def test_error_section_keeps_last_good_data(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll()
    full = make_report(agent_id)
    collector.client.post("/api/v1/reports", json=full, headers=node_auth(key))
    failed = {
        **full["sections"],
        "hardware": {
            "status": "error",
            "reason": "probe crashed",
            "errors": [{"source": "hardware", "message": "boom"}],
        },
    }
    report = make_report(agent_id, sections=failed)
    hashes = {n: r["content_hash"] for n, r in full["sections"].items()}
    from wire import state_hash

    report["state_hash"] = state_hash(hashes)
    answer = collector.client.post("/api/v1/reports", json=report, headers=node_auth(key))
    assert answer.status_code == 200 and answer.json()["state_hash"] == report["state_hash"]
    with collector.sessions() as session:
        host = session.scalar(select(Host).where(Host.agent_id == agent_id))
        assert host is not None
        row = session.get(HostSection, (host.id, "hardware"))
        assert row is not None and row.status == "error" and row.data is not None


def test_report_of_another_agent_is_forbidden(collector: CollectorUnderTest) -> None:
    _agent_id, key = collector.enroll()
    answer = collector.client.post("/api/v1/reports", json=make_report(uuid.uuid4()), headers=node_auth(key))
    assert answer.status_code == 403 and answer.json()["error"] == "agent_mismatch"


def test_bad_input_gets_clear_4xx_never_500(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll()
    auth = node_auth(key)
    post = collector.client.post
    no_key = post("/api/v1/reports", json=make_report(agent_id))
    assert no_key.status_code == 401 and no_key.json()["error"] == "missing_node_key"
    not_json = post(
        "/api/v1/reports", content=b"{not json", headers={**auth, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_json"
    bad_gzip = post(
        "/api/v1/reports",
        content=b"\x1f\x8bnope",
        headers={**auth, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert bad_gzip.status_code == 400 and bad_gzip.json()["error"] == "bad_gzip"
    extra = make_report(agent_id)
    extra["surprise"] = 1
    answer = post("/api/v1/reports", json=extra, headers=auth)
    assert answer.status_code == 422
    assert any(p["location"] == "body.surprise" for p in answer.json()["problems"])
    tampered = make_report(agent_id)
    tampered["sections"]["os"]["data"]["hostname"] = "not-what-was-hashed"
    answer = post("/api/v1/reports", json=tampered, headers=auth)
    assert answer.status_code == 422 and "content_hash" in json.dumps(answer.json())
    big = gzip.compress(b'{"a":"' + b"x" * (9 * 1024 * 1024) + b'"}')
    answer = post(
        "/api/v1/reports",
        content=big,
        headers={**auth, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert answer.status_code == 413 and answer.json()["error"] == "body_too_large"
    huge = post(
        "/api/v1/reports",
        content=b"x" * (3 * 1024 * 1024),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    wrong_type = post("/api/v1/reports", content=b"{}", headers={**auth, "Content-Type": "text/plain"})
    assert wrong_type.status_code == 415


def test_events_are_stored_once(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll()
    events = [
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-11-27T08:00:00+08:00",
            "kind": "log.auth_failure",
            "severity": "low",
            "source": "log:/var/log/auth.log",
            "summary": f"failed login {n}",
            "data": {"user": "bob", "count": n},
        }
        for n in range(5)
    ]
    batch = {"agent_id": str(agent_id), "events": events}
    first = collector.client.post("/api/v1/events", json=batch, headers=node_auth(key))
    assert first.status_code == 200 and first.json() == {"stored": 5, "duplicates": 0}
    again = collector.client.post("/api/v1/events", json=batch, headers=node_auth(key))
    assert again.json() == {"stored": 0, "duplicates": 5}


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/reports"])
def test_agent_gone_mid_upload_is_answered_4xx_without_a_traceback(
    collector: CollectorUnderTest, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    """An agent killed or switched off while it uploads (issue 8; found by the e2e test that kills
    the agent mid-delivery): the collector drops the request as a 400 and logs no error. It used to
    log the ClientDisconnect as an unexpected error with a traceback, twice."""
    agent_id, key = collector.enroll()
    body = gzip.compress(json.dumps({"agent_id": str(agent_id), "events": []}).encode())
    incoming: list[dict[str, Any]] = [{"type": "http.request", "body": body[:8], "more_body": True}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"collector"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-encoding", b"gzip"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8443),
    }
    with caplog.at_level(logging.WARNING):
        asyncio.run(collector.client.app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["error"] == "client_disconnected"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_config_endpoint_needs_a_valid_key(collector: CollectorUnderTest) -> None:
    _agent_id, key = collector.enroll()
    answer = collector.client.get("/api/v1/config", headers=node_auth(key))
    assert answer.status_code == 200 and answer.json()["sections"] == list(DEFAULT_SECTIONS)
    assert collector.client.get("/api/v1/config", headers=node_auth("wpn_nope")).status_code == 401


def test_config_etag_gives_304_until_an_admin_changes_the_unit(collector: CollectorUnderTest) -> None:
    """Config from the collector (agent runtime): ETag, and overrides merged down the unit tree."""
    _agent_id, key = collector.enroll("341021")
    first = collector.client.get("/api/v1/config", headers=node_auth(key))
    etag = first.headers["etag"]
    same = collector.client.get("/api/v1/config", headers={**node_auth(key), "If-None-Match": etag})
    assert same.status_code == 304

    city = collector.admin_headers()
    assert (
        collector.client.put(
            "/api/v1/units/341000/agent-config", headers=city, json={"heartbeat_seconds": 1800}
        ).status_code
        == 200
    )
    she = collector.admin_headers("341021", "district_admin")
    changed = collector.client.put(
        "/api/v1/units/341021/agent-config", headers=she, json={"section_intervals": {"network": 300}}
    )
    assert changed.status_code == 200, changed.text
    effective = changed.json()["effective"]
    assert effective["heartbeat_seconds"] == 1800  # from the city
    assert effective["section_intervals"] == {**DEFAULT_INTERVALS, "network": 300}

    fresh = collector.client.get("/api/v1/config", headers={**node_auth(key), "If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    assert fresh.json()["section_intervals"]["network"] == 300


def test_config_override_is_validated_and_scoped(collector: CollectorUnderTest) -> None:
    she = collector.admin_headers("341021", "district_admin")
    other = collector.client.put(
        "/api/v1/units/341022/agent-config", headers=she, json={"heartbeat_seconds": 600}
    )
    assert other.status_code == 404 and other.json()["error"] == "unknown_unit"  # out of scope looks missing
    bad = collector.client.put(
        "/api/v1/units/341021/agent-config", headers=she, json={"heartbeat_seconds": 1}
    )
    assert bad.status_code == 422 and "heartbeat_seconds" in bad.json()["detail"]
    unknown = collector.client.put("/api/v1/units/341021/agent-config", headers=she, json={"turbo": True})
    assert unknown.status_code == 422 and "turbo" in unknown.json()["detail"]
    auditor = collector.admin_headers("341000", "auditor")
    assert (
        collector.client.put(
            "/api/v1/units/341021/agent-config", headers=auditor, json={"heartbeat_seconds": 600}
        ).status_code
        == 403
    )
    assert collector.client.get("/api/v1/units/341021/agent-config", headers=auditor).status_code == 200


def test_section_history_records_each_change(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll()
    full = make_report(agent_id)
    collector.client.post("/api/v1/reports", json=full, headers=node_auth(key))
    again = make_report(agent_id)  # same content, new report id: no new history
    collector.client.post("/api/v1/reports", json=again, headers=node_auth(key))
    changed = make_report(agent_id, hostname="renamed")
    collector.client.post("/api/v1/reports", json=changed, headers=node_auth(key))
    with collector.sessions() as session:
        rows = session.execute(
            select(HostSectionHistory.name, HostSectionHistory.content_hash).order_by(HostSectionHistory.id)
        ).all()
    assert [name for name, _ in rows] == ["os", "hardware", "network", "os"]
    assert rows[-1][1] == changed["sections"]["os"]["content_hash"]


def test_revoked_host_can_enroll_again_without_its_old_key(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll("341021")
    collector.client.post("/api/v1/reports", json=make_report(agent_id), headers=node_auth(key))
    admin = collector.admin_headers("341021", "district_admin")
    host_id = collector.client.get("/api/v1/hosts", headers=admin).json()["items"][0]["id"]
    assert collector.client.post(f"/api/v1/hosts/{host_id}/revoke-keys", headers=admin).json() == {
        "revoked": 1
    }
    refused = collector.client.post("/api/v1/reports", json=make_report(agent_id), headers=node_auth(key))
    assert refused.status_code == 401
    again = collector.client.post(
        "/api/v1/enroll",
        json={
            "enroll_secret": collector.enroll_secret("341021"),
            "agent_id": str(agent_id),
            "agent_version": "t",
            "hostname": "pc-01",
            "os_family": "linux",
        },
    )
    assert again.status_code == 200
    other = collector.admin_headers("341022", "district_admin")
    assert collector.client.post(f"/api/v1/hosts/{host_id}/revoke-keys", headers=other).status_code == 404


def test_enroll_secret_max_uses_holds_under_parallel_enrollment(collector: CollectorUnderTest) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import anyio
    import httpx

    secret = collector.enroll_secret("341023", max_uses=1)
    transport = httpx.ASGITransport(app=collector.client.app)  # type: ignore[arg-type]

    async def attempt() -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
            answer = await client.post(
                "/api/v1/enroll",
                json={
                    "enroll_secret": secret,
                    "agent_id": str(uuid.uuid4()),
                    "agent_version": "t",
                    "hostname": "pc",
                    "os_family": "linux",
                },
            )
            return answer.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: anyio.run(attempt), range(8)))
    assert codes.count(200) == 1 and all(c in (200, 401) for c in codes)


def test_hostile_bodies_get_4xx(collector: CollectorUnderTest) -> None:
    """Regressions: nesting, out-of-range dates, NUL, NaN, over-long versions: 4xx, never 500."""
    agent_id, key = collector.enroll()
    auth = {**node_auth(key), "Content-Type": "application/json"}
    deep = collector.client.post(
        "/api/v1/enroll", content=b"[" * 100_000, headers={"Content-Type": "application/json"}
    )
    assert deep.status_code == 400
    for when in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        report = make_report(agent_id)
        report["collected_at"] = when
        assert (
            collector.client.post("/api/v1/reports", json=report, headers=node_auth(key)).status_code == 422
        )
    nul = make_report(agent_id, hostname="pc\u0000x")
    assert collector.client.post("/api/v1/reports", json=nul, headers=node_auth(key)).status_code == 422
    long_version = make_report(agent_id)
    long_version["agent_version"] = "1" * 200
    assert (
        collector.client.post("/api/v1/reports", json=long_version, headers=node_auth(key)).status_code == 422
    )
    event = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-11-27T08:00:00Z",
        "kind": "log.x",
        "source": "s",
        "summary": "s",
        "data": {"v": 1},
    }
    nan = json.dumps({"agent_id": str(agent_id), "events": [event]}).replace('"v": 1', '"v": NaN')
    assert collector.client.post("/api/v1/events", content=nan.encode(), headers=auth).status_code == 400
    nul_key = {"agent_id": str(agent_id), "events": [{**event, "data": {"a\u0000": 1}}]}
    assert collector.client.post("/api/v1/events", json=nul_key, headers=node_auth(key)).status_code == 422


def test_skipped_network_section_clears_the_addresses(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll()
    full = make_report(agent_id)
    collector.client.post("/api/v1/reports", json=full, headers=node_auth(key))
    sections = {**full["sections"], "network": {"status": "skipped", "reason": "disabled"}}
    collector.client.post(
        "/api/v1/reports", json=make_report(agent_id, sections=sections), headers=node_auth(key)
    )
    hosts = collector.client.get("/api/v1/hosts", headers=collector.admin_headers()).json()["items"]
    assert hosts[0]["ip_addresses"] == [] and hosts[0]["addresses"] == []


def test_node_key_rotation_hands_over_without_a_gap(collector: CollectorUnderTest) -> None:
    """An admin asks for a new key; the next acknowledgement says so; the agent fetches one; the old
    key works until the new one is used, then never again; a lost answer is simply asked again."""
    agent_id, old = collector.enroll("341021")
    ack = collector.client.post("/api/v1/reports", json=make_report(agent_id), headers=node_auth(old)).json()
    assert ack["rotate_node_key"] is False
    assert collector.client.post("/api/v1/node-key", headers=node_auth(old)).status_code == 409
    with collector.sessions() as session:
        host_id = session.scalars(select(Host.id).where(Host.agent_id == agent_id)).one()
    other_district = collector.admin_headers("341022", "district_admin")
    assert (
        collector.client.post(f"/api/v1/hosts/{host_id}/rotate-key", headers=other_district).status_code
        == 404
    )
    admin = collector.admin_headers("341021", "district_admin")
    assert collector.client.post(f"/api/v1/hosts/{host_id}/rotate-key", headers=admin).status_code == 202
    ack = collector.client.post("/api/v1/reports", json=make_report(agent_id), headers=node_auth(old)).json()
    assert ack["rotate_node_key"] is True
    lost = collector.client.post("/api/v1/node-key", headers=node_auth(old)).json()["node_key"]
    new = collector.client.post("/api/v1/node-key", headers=node_auth(old)).json()["node_key"]
    assert lost != new != old
    assert collector.client.get("/api/v1/config", headers=node_auth(lost)).status_code == 401  # superseded
    assert collector.client.get("/api/v1/config", headers=node_auth(old)).status_code == 200  # still valid
    ack = collector.client.post("/api/v1/reports", json=make_report(agent_id), headers=node_auth(new)).json()
    assert ack["rotate_node_key"] is False
    assert collector.client.get("/api/v1/config", headers=node_auth(old)).status_code == 401
    assert collector.client.post("/api/v1/node-key", headers=node_auth(new)).status_code == 409
    with collector.sessions() as session:
        keys = session.scalars(select(NodeKey).where(NodeKey.host_id == host_id)).all()
        assert [k.revoked_at is None for k in keys].count(True) == 1
        actions = set(session.scalars(select(AuditLog.action)))
    assert {"node_key.rotate_requested", "node_key.rotated"} <= actions
