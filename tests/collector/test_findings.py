"""Findings and rectification (整改; A9-M3.5, P-16, A9-T3.4): the life cycle driven by results
(the engine's contract: on_result, raise/resolve_unit_finding), every human transition through
the API, scope (A9-G), bulk actions, filters and exports, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from collector.db.models import AuditLog, Host, Unit, User
from collector.db.models_policy import Finding, FindingEvent
from collector.policy.meta import CheckMeta
from collector.services import findings
from tests.support.collector import CollectorUnderTest

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
AV = CheckMeta(
    id="antivirus.signatures_fresh",
    pack="antivirus",
    title_zh="防病毒特征库过期",
    title_en="Antivirus signatures out of date",
    severity="high",
    category="antivirus",
    deadline_days=7,
    requirements=("A9-M3.2",),
    pack_version=3,
)
SMB = CheckMeta("security_config.smb1_off", "security_config", "启用了 SMBv1", "SMBv1 enabled", "medium",
                "security_config", 14)  # fmt: skip
SEATS = CheckMeta(
    "licensing.seats", "licensing", "正版软件超量安装", "Licence seats over-used", "high", "licensing", 30
)
OLD = [{"path": "signature_age_days", "op": "le", "expected": 7, "actual": 30}]


# -- helpers -----------------------------------------------------------------------------------
def host(c: CollectorUnderTest, unit: str = "341021", name: str = "she-pc-01") -> int:
    with c.sessions() as session:
        unit_id = session.scalar(select(Unit.id).where(Unit.code == unit))
        row = Host(agent_id=uuid.uuid4(), unit_id=unit_id, hostname=name)
        session.add(row)
        session.commit()
        return row.id


def result(
    c: CollectorUnderTest,
    host_id: int,
    status: str,
    at: datetime,
    evidence: Any = None,
    check: CheckMeta = AV,
) -> int | None:
    with c.sessions() as session:
        found = findings.on_result(
            session,
            host=session.get_one(Host, host_id),
            check=check,
            status=status,
            evidence=OLD if evidence is None else evidence,
            at=at,
        )
        session.commit()
        return found.id if found else None


def get(c: CollectorUnderTest, finding_id: int) -> Finding:
    with c.sessions() as session:
        return session.get_one(Finding, finding_id)


def actions_of(c: CollectorUnderTest, finding_id: int) -> list[tuple[str, int | None]]:
    with c.sessions() as session:
        rows = session.execute(
            select(FindingEvent.action, FindingEvent.actor_id)
            .where(FindingEvent.finding_id == finding_id)
            .order_by(FindingEvent.id)
        )
        return [(a, u) for a, u in rows]


def user_id(c: CollectorUnderTest, name: str) -> int:
    with c.sessions() as session:
        found = session.scalar(select(User.id).where(User.username == name))
        assert found is not None
        return found


def login(c: CollectorUnderTest, name: str, role: str, unit: str) -> dict[str, str]:
    return c.login(name, c.add_user(name, role, unit))


# -- the life cycle through results ---------------------------------------------------------------
def test_a_failing_result_opens_a_finding_and_repeating_it_changes_nothing(
    collector: CollectorUnderTest,
) -> None:
    h = host(collector)
    first = result(collector, h, "fail", T0)
    assert first is not None
    f = get(collector, first)
    assert (f.status, f.severity, f.category, f.requirements, f.title_zh) == (
        "open", "high", "antivirus", ["A9-M3.2"], "防病毒特征库过期"
    )  # fmt: skip
    assert f.due_at == T0 + timedelta(days=7) and f.evidence == OLD and f.open_key
    assert f.unit_id == get_unit(collector, "341021")
    assert result(collector, h, "fail", T0 + timedelta(hours=1)) == first
    assert actions_of(collector, first) == [("opened", None)]
    newer = [{"path": "signature_age_days", "op": "le", "expected": 7, "actual": 31}]
    result(collector, h, "fail", T0 + timedelta(hours=2), newer)
    assert get(collector, first).evidence == newer
    for status in ("error", "not_applicable"):
        assert result(collector, h, status, T0 + timedelta(hours=3)) == first
    assert get(collector, first).status == "open" and len(actions_of(collector, first)) == 1
    assert result(collector, h, "pass", T0, check=SMB) is None  # a pass without a finding: nothing


def get_unit(c: CollectorUnderTest, code: str) -> int:
    with c.sessions() as session:
        found = session.scalar(select(Unit.id).where(Unit.code == code))
        assert found is not None
        return found


def test_a_pass_verifies_and_a_new_failure_reopens_the_same_finding(collector: CollectorUnderTest) -> None:
    h = host(collector)
    fid = result(collector, h, "fail", T0)
    assert fid is not None
    result(collector, h, "pass", T0 + timedelta(days=1))
    f = get(collector, fid)
    assert (f.status, f.verified_at, f.open_key is not None) == ("verified", T0 + timedelta(days=1), True)
    result(collector, h, "pass", T0 + timedelta(days=2))  # idempotent
    assert actions_of(collector, fid) == [("opened", None), ("verified", None)]
    assert result(collector, h, "fail", T0 + timedelta(days=3)) == fid
    f = get(collector, fid)
    assert (f.status, f.reopen_count, f.opened_at, f.due_at, f.verified_at) == (
        "open", 1, T0 + timedelta(days=3), T0 + timedelta(days=10), None
    )  # fmt: skip
    # closed, then failing again: the same finding reopens, not a new one
    with collector.sessions() as session:
        findings.set_status(
            session, session.get_one(Finding, fid), "closed", "closed", T0 + timedelta(days=4)
        )
        session.commit()
    assert get(collector, fid).open_key is None
    assert result(collector, h, "fail", T0 + timedelta(days=5)) == fid
    assert get(collector, fid).reopen_count == 2
    with collector.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Finding)) == 1


def test_a_failure_while_claimed_sends_it_back_and_while_exempted_keeps_it(
    collector: CollectorUnderTest,
) -> None:
    city = collector.admin_headers()
    she = login(collector, "she.admin", "district_admin", "341021")
    h = host(collector)
    fid = result(collector, h, "fail", T0)
    base = f"/api/v1/findings/{fid}"
    assigned = collector.client.post(
        f"{base}/assign", json={"assignee_id": user_id(collector, "she.admin")}, headers=city
    )
    assert assigned.status_code == 200, assigned.text
    assert (
        collector.client.post(f"{base}/claim", json={"note": "升级了特征库"}, headers=she).json()["status"]
        == "rectified"
    )
    result(collector, h, "fail", T0 + timedelta(days=1))
    f = get(collector, fid)
    assert (f.status, f.rectified_at) == ("assigned", None)
    assert actions_of(collector, fid)[-1] == ("verification_failed", None)

    expires = datetime.now(UTC) + timedelta(days=30)
    asked = collector.client.post(
        f"{base}/exempt", json={"reason": "专用设备", "expires_at": expires.isoformat()}, headers=she
    )
    assert asked.status_code == 200 and asked.json()["exemption"]["pending"] is True
    approved = collector.client.post(f"{base}/exemption/approve", json={}, headers=city)
    assert approved.json()["status"] == "exempted"
    newer = [{"path": "signature_age_days", "actual": 40}]
    result(collector, h, "fail", datetime.now(UTC), newer)
    f = get(collector, fid)
    assert (f.status, f.evidence) == ("exempted", newer)
    with collector.sessions() as session:  # the exemption ends: open again, a fresh deadline
        later = expires + timedelta(seconds=1)
        assert findings.expire_exemptions(session, later) == 1
        session.commit()
        f = session.get_one(Finding, fid)
        assert (f.status, f.exemption_reason, f.exemption_expires_at) == ("assigned", "", None)
        assert f.due_at > later
    result(collector, h, "pass", datetime.now(UTC) + timedelta(days=40))
    assert get(collector, fid).status == "verified"


def test_an_expired_exemption_reopens_at_the_next_failing_result(collector: CollectorUnderTest) -> None:
    h = host(collector)
    fid = result(collector, h, "fail", T0)
    with collector.sessions() as session:
        f = session.get_one(Finding, fid)
        f.exemption_reason, f.exemption_expires_at = "test", T0 + timedelta(days=1)
        findings.set_status(session, f, "exempted", "exempted", T0)
        session.commit()
    result(collector, h, "fail", T0 + timedelta(days=2))
    assert get(collector, fid).status == "open"
    assert actions_of(collector, fid)[-1] == ("exemption_expired", None)


def test_unit_level_findings_are_raised_once_resolved_and_raised_again(collector: CollectorUnderTest) -> None:
    unit = get_unit(collector, "341021")
    evidence = [{"title": "WPS Office", "seats": 10, "installed": 14}]
    with collector.sessions() as session:
        first = findings.raise_unit_finding(
            session, unit_id=unit, check=SEATS, subject="WPS Office", evidence=evidence, at=T0
        )
        again = findings.raise_unit_finding(
            session, unit_id=unit, check=SEATS, subject="WPS Office", evidence=evidence, at=T0
        )
        other = findings.raise_unit_finding(
            session, unit_id=unit, check=SEATS, subject="Visio", evidence=[], at=T0
        )
        session.commit()
        assert first.id == again.id != other.id and first.host_id is None and first.subject == "WPS Office"
        findings.resolve_unit_finding(
            session, unit_id=unit, check_id=SEATS.id, subject="WPS Office", at=T0 + timedelta(days=1)
        )
        session.commit()
        assert session.get_one(Finding, first.id).status == "verified"
        back = findings.raise_unit_finding(
            session,
            unit_id=unit,
            check=SEATS,
            subject="WPS Office",
            evidence=evidence,
            at=T0 + timedelta(days=2),
        )
        session.commit()
        assert (back.id, back.status, back.reopen_count) == (first.id, "open", 1)
    city = collector.admin_headers()
    shown = collector.client.get(f"/api/v1/findings/{first.id}", headers=city).json()
    assert (shown["host_id"], shown["subject"], shown["unit_code"]) == (None, "WPS Office", "341021")


def test_findings_of_retired_hosts_and_withdrawn_checks_close(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    h, other = host(collector), host(collector, name="she-pc-02")
    fid, smb = result(collector, h, "fail", T0), result(collector, other, "fail", T0, check=SMB)
    assert collector.client.post(f"/api/v1/hosts/{h}/retire", headers=city).status_code == 200
    counts = findings.sweep(collector.sessions, collector.settings, datetime.now(UTC))
    assert counts["closed_inactive"] == 1
    f = get(collector, fid)
    assert (f.status, f.open_key) == ("closed", None)
    assert actions_of(collector, fid)[-1] == ("closed", None)
    assert result(collector, h, "fail", T0 + timedelta(days=1)) is None  # a retired host opens nothing
    with collector.sessions() as session:
        assert findings.withdraw_check(session, {SMB.id}, T0) == 1
        session.commit()
    assert get(collector, smb or 0).status == "closed"


def test_overdue_findings_are_flagged_once_per_deadline(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    h = host(collector)
    fid = result(collector, h, "fail", T0)
    late = T0 + timedelta(days=8)
    with collector.sessions() as session:
        assert findings.mark_overdue(session, late) == 1
        session.commit()
        assert findings.mark_overdue(session, late + timedelta(hours=1)) == 0
    assert actions_of(collector, fid)[-1] == ("overdue", None)
    listed = collector.client.get("/api/v1/findings", params={"overdue": "true"}, headers=city).json()
    assert [i["id"] for i in listed["items"]] == [fid] and listed["items"][0]["overdue"] is True
    assert (
        collector.client.get("/api/v1/findings", params={"overdue": "false"}, headers=city).json()["total"]
        == 0
    )


# -- people: every transition through the API ---------------------------------------------------
def test_every_human_transition_through_the_api(collector: CollectorUnderTest) -> None:
    city = login(collector, "city.boss", "city_admin", "341000")
    she = login(collector, "she.admin", "district_admin", "341021")
    inspector = login(collector, "she.inspector", "inspector", "341021")
    fid = result(collector, host(collector), "fail", T0)
    base = f"/api/v1/findings/{fid}"
    post = collector.client.post

    assert post(f"{base}/claim", json={"note": ""}, headers=she).status_code == 422  # a claim needs a note
    bad = post(f"{base}/assign", json={"assignee_id": user_id(collector, "she.inspector")}, headers=she)
    assert bad.status_code == 422 and bad.json()["error"] == "bad_assignee"  # inspectors are not assignees
    assert (
        post(f"{base}/assign", json={"assignee_id": user_id(collector, "she.admin")}, headers=city).json()[
            "assignee"
        ]
        == "she.admin"
    )
    assert post(f"{base}/notes", json={"note": "已电话通知"}, headers=she).status_code == 200
    assert post(f"{base}/claim", json={"note": "已升级特征库"}, headers=she).json()["status"] == "rectified"
    own = post(f"{base}/verify", json={}, headers=she)
    assert own.status_code == 409 and own.json()["error"] == "own_claim"
    rejected = post(f"{base}/verify", json={"accept": False, "note": "截图不清楚"}, headers=inspector)
    assert rejected.json()["status"] == "assigned"
    assert post(f"{base}/claim", json={"note": "补充截图"}, headers=she).status_code == 200
    verified = post(f"{base}/verify", json={"note": "现场核实"}, headers=inspector).json()
    assert verified["status"] == "verified" and verified["verified_at"]
    assert (
        post(f"{base}/assign", json={"assignee_id": user_id(collector, "she.admin")}, headers=she).status_code
        == 409
    )
    assert post(f"{base}/close", json={}, headers=she).json()["status"] == "closed"
    assert post(f"{base}/reopen", json={"note": ""}, headers=she).status_code == 422
    reopened = post(f"{base}/reopen", json={"note": "复查发现仍有问题"}, headers=she).json()
    assert (reopened["status"], reopened["reopen_count"], reopened["assignee"]) == ("open", 1, "")
    assert post(f"{base}/close", json={}, headers=she).json()["error"] == "note_required"

    expires = (datetime.now(UTC) + timedelta(days=60)).isoformat()
    assert (
        post(
            f"{base}/exempt", json={"reason": "x", "expires_at": "2020-01-01T00:00:00"}, headers=she
        ).status_code
        == 422
    )
    asked = post(
        f"{base}/exempt", json={"reason": "涉密专用机，无法联网升级", "expires_at": expires}, headers=she
    )
    assert asked.json()["exemption"]["pending"] and asked.json()["status"] == "open"
    assert post(f"{base}/exemption/approve", json={}, headers=she).json()["error"] == "own_request"
    assert post(f"{base}/exemption/reject", json={"note": "先升级"}, headers=city).json()["exemption"] is None
    post(f"{base}/exempt", json={"reason": "涉密专用机", "expires_at": expires}, headers=she)
    exempted = post(f"{base}/exemption/approve", json={"note": "同意"}, headers=city).json()
    assert exempted["status"] == "exempted" and exempted["exemption"]["approver"] == "city.boss"
    assert exempted["exemption"]["pending"] is False and exempted["exemption"]["reason"] == "涉密专用机"

    timeline = collector.client.get(base, headers=inspector).json()["timeline"]
    assert [(e["action"], e["actor"]) for e in timeline] == [
        ("opened", None), ("assigned", "city.boss"), ("note", "she.admin"), ("claimed", "she.admin"),
        ("claim_rejected", "she.inspector"), ("claimed", "she.admin"), ("verified", "she.inspector"),
        ("closed", "she.admin"), ("reopened", "she.admin"), ("exemption_requested", "she.admin"),
        ("exemption_rejected", "city.boss"), ("exemption_requested", "she.admin"), ("exempted", "city.boss"),
    ]  # fmt: skip
    with collector.sessions() as session:
        audited = session.scalars(
            select(AuditLog.action).where(AuditLog.action.like("finding.%")).order_by(AuditLog.id)
        ).all()
        target = session.scalars(select(AuditLog.target).where(AuditLog.action == "finding.assign")).first()
    assert len(audited) == 12 and audited[0] == "finding.assign" and target and target.startswith("host:")


def test_scope_read_only_roles_and_missing_findings(collector: CollectorUnderTest) -> None:
    she = login(collector, "she.admin", "district_admin", "341021")
    auditor = login(collector, "she.auditor", "auditor", "341021")
    inspector = login(collector, "she.inspector", "inspector", "341021")
    mine = result(collector, host(collector), "fail", T0)
    theirs = result(collector, host(collector, "341022", "xn-pc-01"), "fail", T0)
    listed = collector.client.get("/api/v1/findings", headers=she).json()
    assert [i["id"] for i in listed["items"]] == [mine]
    hidden = collector.client.get(f"/api/v1/findings/{theirs}", headers=she)
    missing = collector.client.get("/api/v1/findings/999999", headers=she)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(str(theirs), "X") == missing.json()["detail"].replace(
        "999999", "X"
    )
    for headers in (auditor, inspector):
        refused = collector.client.post(f"/api/v1/findings/{mine}/notes", json={"note": "x"}, headers=headers)
        assert refused.status_code == 403 and refused.json()["error"] == "read_only"
    assert (
        collector.client.get("/api/v1/findings", params={"unit": "341022"}, headers=she).json()["total"] == 0
    )


def test_bulk_actions_are_all_or_nothing(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    she = login(collector, "she.admin", "district_admin", "341021")
    ids = [result(collector, host(collector, name=f"she-pc-{n}"), "fail", T0) for n in range(3)]
    theirs = result(collector, host(collector, "341022", "xn-pc"), "fail", T0)
    post = collector.client.post
    post(f"/api/v1/findings/{ids[2]}/close", json={"note": "误报"}, headers=city)
    assignee = user_id(collector, "she.admin")
    refused = post(
        "/api/v1/findings/bulk",
        json={"action": "assign", "ids": [*ids, theirs], "assignee_id": assignee},
        headers=she,
    )
    assert refused.status_code == 422 and refused.json()["error"] == "bulk_rejected"
    problems = {p["location"]: p["message"] for p in refused.json()["problems"]}
    assert set(problems) == {f"ids.{ids[2]}", f"ids.{theirs}"}
    assert (
        problems[f"ids.{ids[2]}"].startswith("bad_transition")
        and "unknown_finding" in problems[f"ids.{theirs}"]
    )
    assert {get(collector, i or 0).status for i in ids[:2]} == {"open"}
    done = post(
        "/api/v1/findings/bulk",
        json={"action": "assign", "ids": ids[:2], "assignee_id": assignee},
        headers=she,
    )
    assert done.status_code == 200 and sorted(done.json()["changed"]) == sorted(ids[:2])
    assert {get(collector, i or 0).assignee_id for i in ids[:2]} == {assignee}
    expires = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    asked = post(
        "/api/v1/findings/bulk",
        json={"action": "exempt", "ids": ids[:2], "reason": "停用中", "expires_at": expires},
        headers=she,
    )
    assert asked.status_code == 200
    assert (
        post(
            "/api/v1/findings/bulk", json={"action": "approve_exemption", "ids": ids[:2]}, headers=she
        ).status_code
        == 422
    )
    assert (
        post(
            "/api/v1/findings/bulk", json={"action": "approve_exemption", "ids": ids[:2]}, headers=city
        ).status_code
        == 200
    )
    assert {get(collector, i or 0).status for i in ids[:2]} == {"exempted"}
    assert (
        post("/api/v1/findings/bulk", json={"action": "close", "ids": ids[:2]}, headers=city).status_code
        == 422
    )
    assert (
        post(
            "/api/v1/findings/bulk",
            json={"action": "close", "ids": ids[:2], "note": "设备报废"},
            headers=city,
        ).status_code
        == 200
    )


def test_list_filters_paging_and_exports(collector: CollectorUnderTest) -> None:
    city = login(collector, "city.boss", "city_admin", "341000")
    a, b = host(collector, name="she-pc-a"), host(collector, "341022", "xn-pc-b")
    f1 = result(collector, a, "fail", T0)
    f2 = result(collector, a, "fail", T0 + timedelta(hours=1), [], SMB)
    f3 = result(collector, b, "fail", T0 + timedelta(hours=2))
    collector.client.post(
        f"/api/v1/findings/{f3}/assign", json={"assignee_id": user_id(collector, "city.boss")}, headers=city
    )

    def ids(**params: Any) -> list[int]:
        answer = collector.client.get("/api/v1/findings", params=params, headers=city)
        assert answer.status_code == 200, answer.text
        return [i["id"] for i in answer.json()["items"]]

    assert ids() == [f3, f2, f1]
    assert ids(unit="341021") == [f2, f1] and ids(unit="341000") == [f3, f2, f1]
    assert ids(severity="medium") == [f2] and ids(category="antivirus") == [f3, f1]
    assert (
        ids(check=AV.id, host=a) == [f1]
        and ids(status="assigned") == [f3]
        and ids(status="live") == [f3, f2, f1]
    )
    assert ids(assignee="me") == [f3] and ids(assignee="none") == [f2, f1]
    assert ids(q="xn-pc") == [f3] and ids(q="SMBv1") == [f2] and ids(q="100%") == []
    assert ids(sort="severity", direction="asc") == [f2, f3, f1]
    assert ids(per_page=2, page=2) == [f1]
    assert (
        collector.client.get("/api/v1/findings", params={"status": "nope"}, headers=city).status_code == 422
    )

    text = collector.client.get(
        "/api/v1/findings.csv", params={"unit": "341021"}, headers=city
    ).content.decode("utf-8")
    assert text.startswith("\ufeff编号,单位代码")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r[0] for r in rows[1:]] == [str(f2), str(f1)] and rows[2][6] == "高" and rows[2][8] == "待处理"
    answer = collector.client.get("/api/v1/findings.xlsx", params={"lang": "en"}, headers=city)
    sheet = load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:3] == ("No.", "Unit code", "Unit") and len(values) == 4
    assert values[1][8] == "assigned" and values[1][10] == "city.boss"
    with collector.sessions() as session:
        assert session.scalar(select(func.count()).where(AuditLog.action == "findings.export")) == 2


@pytest.mark.parametrize(
    "body", [{"assignee_id": 0}, {"assignee_id": 1, "extra": 1}, {"assignee_id": "x\x00"}]
)
def test_bad_bodies_are_refused_with_clear_errors(
    collector: CollectorUnderTest, body: dict[str, Any]
) -> None:
    city = collector.admin_headers()
    fid = result(collector, host(collector), "fail", T0)
    answer = collector.client.post(f"/api/v1/findings/{fid}/assign", json=body, headers=city)
    assert answer.status_code == 422 and answer.json()["error"] == "invalid_request"
