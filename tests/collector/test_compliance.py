"""Evaluation on the collector (issue 5; A9-T3.4, A9-M3.5, P-16), on SQLite and PostgreSQL.

The acceptance test of the issue: for every shipped check, a real report built from the
check's failing example opens the right finding (check, unit, severity, deadline), and a
later report built from its passing example verifies it. Then: results and their history,
missing and skipped sections, unit overrides, pack upload → difference → apply, scope.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from collector.db.base import utcnow
from collector.db.models import Host, HostTag, Unit
from collector.db.models_policy import CheckResult, CheckResultHistory, Finding, PolicyPack
from collector.policy.loader import (
    EXAMPLE_NOW,
    CompiledCheck,
    default_policies_dir,
    example_document,
    load_dir,
)
from collector.services import compliance
from tests.support.collector import CollectorUnderTest, make_report, node_auth
from wire.sections import SECTION_MODELS

PACKS, _ = load_dir(default_policies_dir())
CHECKS = [c for p in PACKS for c in p.checks]
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def _shift(value: Any, delta: timedelta) -> Any:
    """Move every timestamp of an example by ``delta`` (examples are written for EXAMPLE_NOW)."""
    if isinstance(value, dict):
        return {k: _shift(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, delta) for v in value]
    if isinstance(value, str) and _ISO.match(value):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return (parsed + delta).isoformat()
    return value


def _host(
    c: CollectorUnderTest, unit: str = "341021", hostname: str | None = None
) -> tuple[int, uuid.UUID, str]:
    hostname = hostname or f"pc-{uuid.uuid4().hex[:6]}"
    agent_id, key = c.enroll(unit, hostname=hostname)
    with c.sessions() as session:
        host_id = session.scalar(select(Host.id).where(Host.agent_id == agent_id))
    assert host_id is not None
    return host_id, agent_id, key


def _set_host(c: CollectorUnderTest, host_id: int, facts: dict[str, Any]) -> None:
    """Register facts an example's host has (OS family, device type, tags)."""
    with c.sessions() as session:
        host = session.get_one(Host, host_id)
        host.os_family = facts["os_family"]
        host.device_type = facts["device_type"]
        host.vendor, host.model = facts["vendor"], facts["model"]
        for tag in list(host.tags):
            session.delete(tag)
        session.flush()
        for tag in facts["tags"]:
            session.add(HostTag(host_id=host_id, tag=tag))
        session.commit()


def _send(c: CollectorUnderTest, agent_id: uuid.UUID, key: str, sections: dict[str, Any]) -> None:
    report = make_report(agent_id, sections=sections)
    answer = c.client.post("/api/v1/reports", json=report, headers=node_auth(key))
    assert answer.status_code == 200, answer.text


def _ok(data: Any, section: str) -> dict[str, Any]:
    """A section result as the agent sends it (the data as its model writes it)."""
    data = SECTION_MODELS[section].model_validate(data).model_dump(mode="json")
    return {"status": "ok", "content_hash": "", "data": data, "errors": [], "reason": "", "duration_ms": 5}


def _result(c: CollectorUnderTest, host_id: int, check_id: str) -> CheckResult | None:
    with c.sessions() as session:
        return session.get(CheckResult, (host_id, check_id))


def _findings(c: CollectorUnderTest, host_id: int, check_id: str) -> list[Finding]:
    with c.sessions() as session:
        return list(
            session.scalars(select(Finding).where(Finding.host_id == host_id, Finding.check_id == check_id))
        )


def _example(check: CompiledCheck, expect: str) -> Any:
    return next((e for e in check.check.examples if e.expect == expect and not e.params), None)


@pytest.mark.parametrize(
    "check", [c for c in CHECKS if c.section in SECTION_MODELS], ids=lambda c: c.id
)  # host checks and the collector's derived sections (tests/collector/test_vpn_register.py) have their own tests
def test_a_report_breaking_a_check_opens_its_finding_and_a_passing_one_verifies_it(
    collector: CollectorUnderTest, check: CompiledCheck
) -> None:
    failing = _example(check, "fail") or next(e for e in check.check.examples if e.expect == "fail")
    passing = _example(check, "pass") or next(e for e in check.check.examples if e.expect == "pass")
    city = collector.admin_headers()

    def parameters(values: dict[str, Any]) -> None:  # an example's parameters, as the unit's own
        answer = collector.client.put(
            "/api/v1/units/341021/policy", json={"params": {check.pack: values or None}}, headers=city
        )
        assert answer.status_code == 200, answer.text

    delta = utcnow() - EXAMPLE_NOW
    host_id, agent_id, key = _host(collector)
    if not check.check.enabled:  # off by default: the unit switches it on
        answer = collector.client.put(
            "/api/v1/units/341021/policy", json={"checks": {check.id: True}}, headers=city
        )
        assert answer.status_code == 200, answer.text

    doc, facts = example_document(check, failing)
    _set_host(collector, host_id, facts)
    parameters(failing.params)
    _send(collector, agent_id, key, {check.section: _ok(_shift(doc, delta), check.section)})
    result = _result(collector, host_id, check.id)
    assert result is not None and result.status == "fail", (check.id, result and result.evidence)
    assert result.evidence, "a failure carries its evidence"
    [finding] = _findings(collector, host_id, check.id)
    with collector.sessions() as session:
        unit = session.scalar(select(Unit).where(Unit.code == "341021"))
    assert unit is not None
    assert (finding.status, finding.unit_id, finding.severity, finding.category) == (
        "open",
        unit.id,
        check.meta.severity,
        check.meta.category,
    )
    assert abs((finding.due_at - finding.opened_at) - timedelta(days=check.meta.deadline_days)) < timedelta(
        minutes=1
    )

    doc, facts = example_document(check, passing)
    _set_host(collector, host_id, facts)
    parameters(passing.params)
    _send(collector, agent_id, key, {check.section: _ok(_shift(doc, delta), check.section)})
    result = _result(collector, host_id, check.id)
    assert result is not None and result.status == "pass", (check.id, result and result.evidence)
    [finding] = _findings(collector, host_id, check.id)
    assert finding.status == "verified"


def test_a_silent_host_fails_the_host_checks_and_recovers_with_a_report(
    collector: CollectorUnderTest,
) -> None:
    host_checks = [c for c in CHECKS if c.section == "host"]
    if not host_checks:
        pytest.skip("no shipped check reads the host facts")
    host_id, agent_id, key = _host(collector)
    _send(collector, agent_id, key, {"os": make_report(agent_id)["sections"]["os"]})
    with collector.sessions() as session:
        session.get_one(Host, host_id).last_seen = utcnow() - timedelta(days=400)
        session.commit()
        stats = compliance.evaluate_silent_hosts(session)
        session.commit()
    assert stats.evaluations >= len(host_checks)
    failing = {c.id for c in host_checks if (r := _result(collector, host_id, c.id)) and r.status == "fail"}
    assert failing, "a host silent for 400 days fails some host check"
    _send(collector, agent_id, key, {"os": make_report(agent_id)["sections"]["os"]})
    for check_id in failing:
        result = _result(collector, host_id, check_id)
        assert result is not None and result.status == "pass"
        assert {f.status for f in _findings(collector, host_id, check_id)} == {"verified"}


def test_results_keep_history_and_since(collector: CollectorUnderTest) -> None:
    check = next(c for c in CHECKS if c.section != "host" and _example(c, "fail") and _example(c, "pass"))
    delta = utcnow() - EXAMPLE_NOW
    host_id, agent_id, key = _host(collector)
    docs = {}
    for expect in ("fail", "pass"):
        doc, facts = example_document(check, _example(check, expect))
        docs[expect] = _shift(doc, delta)
    _set_host(collector, host_id, facts)
    _send(collector, agent_id, key, {check.section: _ok(docs["fail"], check.section)})
    first = _result(collector, host_id, check.id)
    assert first is not None
    _send(
        collector, agent_id, key, {check.section: _ok(docs["fail"], check.section)}
    )  # same content: nothing new
    again = _result(collector, host_id, check.id)
    assert again is not None and again.since == first.since
    _send(collector, agent_id, key, {check.section: _ok(docs["pass"], check.section)})
    with collector.sessions() as session:
        history = session.scalars(
            select(CheckResultHistory.status)
            .where(CheckResultHistory.host_id == host_id, CheckResultHistory.check_id == check.id)
            .order_by(CheckResultHistory.id)
        ).all()
    assert list(history) == ["fail", "pass"]
    headers = collector.admin_headers()
    answer = collector.client.get(f"/api/v1/hosts/{host_id}/compliance/{check.id}/history", headers=headers)
    assert [h["status"] for h in answer.json()] == ["pass", "fail"]


def test_missing_and_skipped_sections(collector: CollectorUnderTest) -> None:
    host_id, agent_id, key = _host(collector)
    _send(collector, agent_id, key, {"os": make_report(agent_id)["sections"]["os"]})
    licensing = [c for c in CHECKS if c.section == "licensing"]
    software = [c for c in CHECKS if c.section not in ("host", "os")]
    assert software
    result = _result(collector, host_id, software[0].id)
    assert result is not None and result.status == "error"
    assert result.evidence[0]["problem"] == "missing"
    if licensing:
        skipped = {
            "status": "skipped",
            "content_hash": None,
            "data": None,
            "errors": [],
            "reason": "Windows only",
        }
        _send(collector, agent_id, key, {"licensing": {**skipped, "duration_ms": 0}})
        result = _result(collector, host_id, licensing[0].id)
        assert result is not None and result.status == "not_applicable"


def test_unit_overrides_switch_checks_and_change_thresholds(collector: CollectorUnderTest) -> None:
    check = next(c for c in CHECKS if c.section != "host" and _example(c, "fail") and _example(c, "pass"))
    host_id, agent_id, key = _host(collector)
    doc, facts = example_document(check, _example(check, "fail"))
    _set_host(collector, host_id, facts)
    _send(collector, agent_id, key, {check.section: _ok(_shift(doc, utcnow() - EXAMPLE_NOW), check.section)})
    assert _findings(collector, host_id, check.id)
    district = collector.admin_headers("341021", "district_admin")
    answer = collector.client.put(
        "/api/v1/units/341021/policy", json={"checks": {check.id: False}}, headers=district
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["enabled"][check.id] is False
    result = _result(collector, host_id, check.id)
    assert result is not None and result.status == "not_applicable"
    assert collector.client.get("/api/v1/units/341022/policy", headers=district).status_code == 404
    bad = collector.client.put(
        "/api/v1/units/341021/policy", json={"checks": {"nope.check": True}}, headers=district
    )
    assert bad.status_code == 422 and "no active check" in bad.json()["detail"]
    pack = next(p for p in PACKS if p.pack.parameters)
    name, param = pack.name, next(iter(pack.pack.parameters.values()))
    wrong = {"int": "x", "float": "x", "str": 5, "bool": "x", "str_list": "x"}[param.type]
    bad = collector.client.put(
        "/api/v1/units/341021/policy",
        json={"params": {name: {next(iter(pack.pack.parameters)): wrong}}},
        headers=district,
    )
    assert bad.status_code == 422 and "must be of type" in bad.json()["detail"]
    answer = collector.client.put(
        "/api/v1/units/341021/policy", json={"checks": {check.id: None}}, headers=district
    )
    assert answer.json()["enabled"][check.id] is check.check.enabled
    result = _result(collector, host_id, check.id)
    assert result is not None and result.status == "fail"


def _bumped(name: str, session_version: int, edit: Any = None) -> str:
    text = (default_policies_dir() / "packs" / f"{name}.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^version: *\d+", f"version: {session_version}", text)
    return edit(text) if edit else text


def test_a_new_pack_version_is_validated_shown_and_applied(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    pack = PACKS[0]
    with collector.sessions() as session:
        active = session.scalar(
            select(PolicyPack).where(PolicyPack.name == pack.name, PolicyPack.status == "active")
        )
        assert active is not None
        version = active.version
    broken = collector.client.post("/api/v1/policies", json={"source": "pack: [unclosed"}, headers=city)
    assert broken.status_code == 422 and "not valid YAML" in broken.json()["detail"]
    same = collector.client.post(
        "/api/v1/policies", json={"source": _bumped(pack.name, version)}, headers=city
    )
    assert same.status_code == 422 and "higher number" in same.json()["detail"]
    first = pack.checks[0]
    new_title = "新标题 for the diff"
    text = _bumped(pack.name, version + 1, lambda t: t.replace(first.check.title.zh, new_title, 1))
    staged = collector.client.post("/api/v1/policies", json={"source": text}, headers=city)
    assert staged.status_code == 201, staged.text
    diff = staged.json()["diff"]
    assert diff["from_version"] == version and diff["to_version"] == version + 1
    assert [c["id"] for c in diff["changed"]] == [first.id]
    assert new_title in diff["changed"][0]["diff"]
    district = collector.admin_headers("341021", "district_admin")
    refused = collector.client.post(
        f"/api/v1/policies/{pack.name}/versions/{version + 1}/apply", headers=district
    )
    assert refused.status_code == 403
    applied = collector.client.post(
        f"/api/v1/policies/{pack.name}/versions/{version + 1}/apply", headers=city
    )
    assert applied.status_code == 200, applied.text
    detail = collector.client.get(f"/api/v1/checks/{first.id}", headers=city).json()
    assert detail["title"]["zh"] == new_title and detail["pack_version"] == version + 1
    packs = {p["name"]: p for p in collector.client.get("/api/v1/policies", headers=city).json()}
    assert packs[pack.name]["active_version"] == version + 1
    assert {v["status"] for v in packs[pack.name]["versions"]} == {"active", "superseded"}


def test_a_district_admin_sees_only_their_hosts_results(collector: CollectorUnderTest) -> None:
    check = next(c for c in CHECKS if c.section != "host" and _example(c, "fail"))
    doc, facts = example_document(check, _example(check, "fail"))
    for unit in ("341021", "341022"):
        host_id, agent_id, key = _host(collector, unit, hostname=f"host-{unit}")
        _set_host(collector, host_id, facts)
        _send(
            collector, agent_id, key, {check.section: _ok(_shift(doc, utcnow() - EXAMPLE_NOW), check.section)}
        )
    district = collector.admin_headers("341021", "district_admin")
    hosts = collector.client.get(f"/api/v1/checks/{check.id}/hosts", headers=district).json()
    assert [h["hostname"] for h in hosts["hosts"]] == ["host-341021"]
    units = {u["code"] for u in collector.client.get("/api/v1/compliance/units", headers=district).json()}
    assert "341022" not in units and "341021" in units
    rows = {r["id"]: r for r in collector.client.get("/api/v1/checks", headers=district).json()}
    assert rows[check.id]["counts"]["fail"] == 1
    city = {
        r["id"]: r for r in collector.client.get("/api/v1/checks", headers=collector.admin_headers()).json()
    }
    assert city[check.id]["counts"]["fail"] == 2


def test_the_shipped_packs_are_loaded_once_and_a_new_version_wins(
    collector: CollectorUnderTest, tmp_path: Any
) -> None:
    with collector.sessions() as session:
        lines = compliance.sync_builtin_packs(session)
        session.commit()
    assert all(line.endswith("already loaded") for line in lines), lines
    pack = PACKS[0]
    (tmp_path / "packs").mkdir()
    with collector.sessions() as session:
        version = session.scalar(
            select(PolicyPack.version).where(PolicyPack.name == pack.name, PolicyPack.status == "active")
        )
        assert version is not None
        (tmp_path / "packs" / f"{pack.name}.yaml").write_text(
            _bumped(pack.name, version + 1), encoding="utf-8"
        )
        lines = compliance.sync_builtin_packs(session, tmp_path)
        session.commit()
        assert f"{pack.name} v{version + 1}: loaded and active" in lines
        assert compliance.active_catalog(session).packs[pack.name].pack.version == version + 1


def test_timestamps_shift_helper() -> None:
    moved = _shift({"a": ["2026-11-27T00:00:00Z"], "b": "x"}, timedelta(days=1))
    assert moved == {"a": [datetime(2026, 11, 28, tzinfo=UTC).isoformat()], "b": "x"}
