"""Emergency drills (issue 7; A9-M4.2, A9-M4.3): planning against the approved plan, the runner's
events (idempotent on the client's id, queued actions keep their time), the state and the
metrics computed from the record, the evaluation whose plan-related problems lead to a new
plan version naming the drill, closing, the after-action DOCX, the yearly counts, scope (A9-G)
and the audit trail. On SQLite and PostgreSQL through the ``collector`` fixture."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from docx import Document
from sqlalchemy import select

from collector.db.models import AuditLog, Unit
from collector.services.drill_metrics import compute_metrics
from collector.services.drill_templates import load_templates
from collector.services.drills import completed_drills_by_unit, units_without_drill
from tests.collector.test_plans import DOCX, UNIT, approved_plan
from tests.support.collector import CollectorUnderTest


def plan_drill(
    c: CollectorUnderTest, headers: dict[str, str], unit: str = UNIT, **extra: Any
) -> dict[str, Any]:
    body = {
        "unit": unit,
        "title": "勒索病毒应急演练",
        "kind": "tabletop",
        "coverage": "specialised",
        "scenario_key": "server-room-outage",
        "planned_date": date.today().isoformat(),
        "participants": [
            {"name": "王工", "role": "技术处置人员"},
            {"name": "李科长", "role": "网络安全联络员"},
        ],
        **extra,
    }
    answer = c.client.post("/api/v1/drills", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"client_id": uuid.uuid4().hex, "kind": kind, **fields}


def post(
    c: CollectorUnderTest, headers: dict[str, str], drill_id: int, *events: dict[str, Any]
) -> dict[str, Any]:
    answer = c.client.post(
        f"/api/v1/drills/{drill_id}/events", json={"events": list(events)}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def run_whole_drill(c: CollectorUnderTest, headers: dict[str, str], drill: dict[str, Any]) -> dict[str, Any]:
    """Start, every step done except one failed and one skipped, finish."""
    state = post(c, headers, drill["id"], event("start"))["state"]
    steps = [s["key"] for p in state["phases"] for s in p["steps"]]
    events = [event("step", step_key=key, status="done") for key in steps]
    events[-1]["status"] = "skipped"
    events[1]["status"] = "failed"
    events[1]["text"] = "物业电话无人接听"
    return post(c, headers, drill["id"], *events, event("finish"))


def test_a_drill_needs_an_approved_plan_and_snapshots_its_scenario(collector: CollectorUnderTest) -> None:
    admin = collector.admin_headers(UNIT, "district_admin")
    body = {"unit": UNIT, "title": "x", "kind": "tabletop", "coverage": "specialised",
            "scenario_key": "server-room-outage", "planned_date": "2026-05-01"}  # fmt: skip
    refused = collector.client.post("/api/v1/drills", json=body, headers=admin)
    assert refused.status_code == 409 and refused.json()["error"] == "no_approved_plan"
    plan = approved_plan(collector, admin)
    drill = plan_drill(collector, admin, include_plan_steps=True, targets={"detect": 3})
    assert drill["plan_version_id"] == plan["id"] and drill["status"] == "planned"
    assert drill["incident_level"] == "IV" and drill["targets"]["detect"] == 3
    assert drill["targets"]["report"] == 15  # the template's
    state = collector.client.get(f"/api/v1/drills/{drill['id']}/state", headers=admin).json()
    detect = [s["key"] for s in state["phases"][0]["steps"]]
    assert detect == ["so-detect-1", "plan-detect-1", "plan-detect-2"]
    assert state["report_within_hours"] == 24 and "计算站" in state["report_to"]
    unknown = collector.client.post("/api/v1/drills", json={**body, "scenario_key": "nope"}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_scenario"
    walk = plan_drill(collector, admin, scenario_key="plan")
    assert walk["scenario_title"] == "按预案处置流程演练"


def test_runner_events_are_stored_once_per_client_id(collector: CollectorUnderTest) -> None:
    admin = collector.admin_headers(UNIT, "district_admin")
    approved_plan(collector, admin)
    drill = plan_drill(collector, admin)
    start = event("start")
    first = post(collector, admin, drill["id"], start)
    assert first["results"][0]["outcome"] == "accepted" and first["state"]["status"] == "running"
    step = event("step", step_key="so-detect-1", status="done", performer="王工")
    again = post(collector, admin, drill["id"], start, step, step)
    assert [r["outcome"] for r in again["results"]] == ["duplicate", "accepted", "duplicate"]
    retried = post(collector, admin, drill["id"], step)
    assert retried["results"][0] == {**again["results"][1], "outcome": "duplicate"}
    state = retried["state"]
    assert state["phases"][0]["steps"][0]["status"] == "done"
    assert state["phases"][0]["steps"][0]["by"].startswith("王工 / ")
    assert [e["kind"] for e in state["log"]] == ["start", "step"]
    rejected = post(
        collector, admin, drill["id"], event("step", step_key="nope", status="done"), event("start")
    )
    assert [r["outcome"] for r in rejected["results"]] == ["rejected", "rejected"]
    assert (
        "no step" in rejected["results"][0]["detail"]
        and "running already" in rejected["results"][1]["detail"]
    )


def test_queued_actions_keep_their_time_within_the_drill(collector: CollectorUnderTest) -> None:
    admin = collector.admin_headers()
    approved_plan(collector, admin)
    drill = plan_drill(collector, admin)
    begun = datetime.now(UTC) - timedelta(minutes=30)
    state = post(collector, admin, drill["id"], event("start", at=begun.isoformat()))["state"]
    assert abs(datetime.fromisoformat(state["started_at"]) - begun) < timedelta(seconds=1)
    # the inject at minute 5 and at minute 15 are revealed by time; none by hand
    assert [(i["revealed"], i["how"]) for i in state["injects"]] == [(True, "auto"), (True, "auto")]
    offline = begun + timedelta(minutes=4)
    early = begun - timedelta(hours=2)
    future = datetime.now(UTC) + timedelta(days=1)
    post(
        collector, admin, drill["id"],
        event("step", step_key="so-detect-1", status="done", at=offline.isoformat()),
        event("step", step_key="so-report-1", status="started", at=early.isoformat()),
        event("note", text="UPS 告警声很大", at=future.isoformat()),
    )  # fmt: skip
    state = collector.client.get(f"/api/v1/drills/{drill['id']}/state", headers=admin).json()
    metrics = state["metrics"]
    assert metrics["time_to_detect"] == 4.0
    started = datetime.fromisoformat(state["phases"][1]["steps"][0]["started_at"])
    assert started == datetime.fromisoformat(state["started_at"])  # clamped to the start
    note = next(e for e in state["log"] if e["kind"] == "note")
    assert datetime.fromisoformat(note["at"]) <= datetime.fromisoformat(state["now"])


def test_metrics_follow_the_record() -> None:
    scenario = load_templates()["server-room-outage"]
    t0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

    class E:
        def __init__(self, key: str, status: str, minute: float) -> None:
            self.kind, self.step_key, self.status = "step", key, status
            self.at = t0 + timedelta(minutes=minute)

    events = [
        E("so-detect-1", "started", 1), E("so-detect-1", "done", 4),
        E("so-report-1", "done", 70),
        E("so-contain-1", "done", 20), E("so-contain-2", "failed", 25),
        E("so-recover-1", "done", 90), E("so-recover-2", "skipped", 91),
    ]  # fmt: skip
    targets = {p.phase: p.target_minutes for p in scenario.phases}
    metrics = compute_metrics(scenario, targets, events, t0, t0 + timedelta(minutes=100), 1)
    assert metrics.time_to_detect == 4.0
    assert (metrics.time_to_report, metrics.report_deadline_minutes, metrics.report_in_time) == (
        66.0,
        60,
        False,
    )
    assert metrics.time_to_contain == 25.0 and metrics.time_to_recover == 91.0
    assert metrics.steps_failed == ["so-contain-2"] and metrics.steps_skipped == ["so-recover-2"]
    assert metrics.steps_open == ["so-eradicate-1", "so-review-1"] and metrics.total_minutes == 100.0
    detect = metrics.phases[0]
    assert (detect.minutes, detect.target_minutes, detect.over_target) == (3.0, 5, False)
    assert metrics.phases[3].ended_at is None  # eradicate: nothing done


def test_plan_drill_evaluation_and_the_next_plan_version(collector: CollectorUnderTest) -> None:
    """The whole cycle (A9-M4.1 → A9-M4.2 → A9-M4.3) as a district admin."""
    admin = collector.admin_headers(UNIT, "district_admin")
    plan_v1 = approved_plan(collector, admin)
    drill = plan_drill(collector, admin)
    done = run_whole_drill(collector, admin, drill)
    state = done["state"]
    assert state["status"] == "finished" and state["metrics"]["steps_failed"] == ["so-report-1"]
    assert state["metrics"]["steps_skipped"] == ["so-review-1"]
    late = post(collector, admin, drill["id"], event("note", text="补记"))
    assert late["results"][0]["outcome"] == "rejected"  # after the end, nothing new

    url = f"/api/v1/drills/{drill['id']}"
    early_close = collector.client.post(f"{url}/close", headers=admin)
    assert early_close.status_code == 409 and early_close.json()["error"] == "review_missing"
    review = {"went_well": "按序关机，无数据损坏", "summary": "物业联系方式过期；预案缺少机房断电流程"}
    assert collector.client.put(f"{url}/review", json=review, headers=admin).status_code == 200
    phone = {"problem": "物业电话过期", "action": "更新联系表", "owner": "李科长", "due_date": "2026-12-31"}
    in_plan = {
        "problem": "预案缺少机房断电处置步骤",
        "owner": "王工",
        "due_date": "2026-12-31",
        "concerns_plan": True,
    }
    a1 = collector.client.post(f"{url}/actions", json=phone, headers=admin).json()
    a2 = collector.client.post(f"{url}/actions", json=in_plan, headers=admin).json()
    blocked = collector.client.post(f"{url}/close", headers=admin)
    assert blocked.status_code == 409 and blocked.json()["error"] == "actions_open"
    by_hand = collector.client.post(
        f"/api/v1/drill-actions/{a2['id']}/resolve", json={"outcome": "done"}, headers=admin
    )
    assert by_hand.status_code == 409 and by_hand.json()["error"] == "needs_plan_version"
    no_reason = collector.client.post(
        f"/api/v1/drill-actions/{a1['id']}/resolve", json={"outcome": "waived"}, headers=admin
    )
    assert no_reason.status_code == 422 and no_reason.json()["error"] == "reason_required"
    waived = collector.client.post(
        f"/api/v1/drill-actions/{a1['id']}/resolve",
        json={"outcome": "waived", "note": "物业已更换，新表另行下发"},
        headers=admin,
    )
    assert waived.json()["status"] == "waived"

    draft = collector.client.post(f"{url}/revise-plan", headers=admin).json()
    assert draft["status"] == "draft" and draft["number"] == 2 and draft["source_drill_ids"] == [drill["id"]]
    assert collector.client.post(f"{url}/revise-plan", headers=admin).json()["id"] == draft["id"]
    content = draft["content"]
    content["steps"]["contain"].append("机房断电时按顺序关闭服务器和存储")
    collector.client.put(f"/api/v1/plan-versions/{draft['id']}", json={"content": content}, headers=admin)
    approved = collector.client.post(f"/api/v1/plan-versions/{draft['id']}/approve", headers=admin).json()
    assert approved["source_drill_ids"] == [drill["id"]]
    after = collector.client.get(url, headers=admin).json()
    assert after["revised_in"] == [draft["id"]]
    settled = {a["id"]: (a["status"], a["plan_version_id"]) for a in after["actions"]}
    assert settled == {a1["id"]: ("waived", None), a2["id"]: ("done", draft["id"])}
    diff = collector.client.get(f"/api/v1/plan-versions/{draft['id']}/diff", headers=admin).json()
    assert diff["against_id"] == plan_v1["id"]
    assert diff["parts"] == [
        {
            "part": "steps.contain",
            "changes": [{"op": "added", "text": "机房断电时按顺序关闭服务器和存储", "old": ""}],
        }
    ]

    closed = collector.client.post(f"{url}/close", headers=admin)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    report = collector.client.get(f"{url}/report.docx", headers=admin)
    assert report.status_code == 200 and report.headers["content-type"] == DOCX
    text = "\n".join(p.text for p in Document(io.BytesIO(report.content)).paragraphs)
    assert "网络安全应急演练总结评估报告" in text and "按序关机，无数据损坏" in text
    assert "预案已修订为第2版" in text
    plan_doc = collector.client.get(f"/api/v1/plan-versions/{draft['id']}/document.docx", headers=admin)
    assert f"（编号 {drill['id']}）" in "\n".join(
        p.text for p in Document(io.BytesIO(plan_doc.content)).paragraphs
    )

    with collector.sessions() as session:
        actions = session.scalars(select(AuditLog.action).where(AuditLog.action.like("drill.%"))).all()
    assert {"drill.plan", "drill.start", "drill.record", "drill.finish", "drill.review", "drill.action_add",
            "drill.action_waived", "drill.close"} <= set(actions)  # fmt: skip


def test_the_year_counts_completed_drills_per_unit(collector: CollectorUnderTest) -> None:
    admin = collector.admin_headers()
    approved_plan(collector, admin)
    drill = plan_drill(collector, admin)
    run_whole_drill(collector, admin, drill)
    plan_drill(collector, admin)  # planned only: does not count
    year = date.fromisoformat(
        collector.client.get(f"/api/v1/drills/{drill['id']}", headers=admin).json()["held_on"]
    ).year
    with collector.sessions() as session:
        she = session.scalar(select(Unit.id).where(Unit.code == UNIT))
        counts = completed_drills_by_unit(session, year)
        assert counts[she] == 1 and sum(counts.values()) == 1
        assert sum(completed_drills_by_unit(session, year - 1).values()) == 0
        missing = [u.code for u in units_without_drill(session, year)]
    assert UNIT not in missing and "341000" in missing and "341022" in missing
    assert "341000-JSZ" not in missing  # the station drills with the city bureau
    calendar = collector.client.get(f"/api/v1/drills/calendar?year={year}", headers=admin).json()
    rows = {u["unit_code"]: u for u in calendar["units"]}
    assert rows[UNIT]["completed"] == 1 and not rows[UNIT]["flagged"] and len(rows[UNIT]["drills"]) == 2
    assert rows["341022"]["flagged"] and not rows["341000-JSZ"]["flagged"]


def test_scope_and_read_only_roles(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    approved_plan(collector, city, "341022")
    other = plan_drill(collector, city, "341022")
    district = collector.admin_headers(UNIT, "district_admin")
    hidden = collector.client.get(f"/api/v1/drills/{other['id']}/state", headers=district)
    missing = collector.client.get("/api/v1/drills/1999999/state", headers=district)
    assert (
        (hidden.status_code, hidden.json()["error"])
        == (missing.status_code, missing.json()["error"])
        == (404, "unknown_drill")
    )
    assert collector.client.get("/api/v1/drills", headers=district).json() == []
    approved_plan(collector, city)
    mine = plan_drill(collector, city)
    auditor = collector.admin_headers(UNIT, "auditor")
    assert collector.client.get(f"/api/v1/drills/{mine['id']}", headers=auditor).status_code == 200
    refused = collector.client.post(
        f"/api/v1/drills/{mine['id']}/events", json={"events": [event("start")]}, headers=auditor
    )
    assert refused.status_code == 403 and refused.json()["error"] == "read_only"


def test_a_planned_drill_is_changed_or_cancelled_with_a_reason(collector: CollectorUnderTest) -> None:
    admin = collector.admin_headers()
    approved_plan(collector, admin)
    drill = plan_drill(collector, admin)
    body = {"title": "改期后的演练", "kind": "hands_on", "coverage": "comprehensive",
            "scenario_key": "vpn-account-compromise", "planned_date": "2026-06-01"}  # fmt: skip
    changed = collector.client.put(f"/api/v1/drills/{drill['id']}", json=body, headers=admin).json()
    assert (changed["title"], changed["scenario_key"], changed["incident_level"]) == (
        "改期后的演练",
        "vpn-account-compromise",
        "III",
    )
    cancelled = collector.client.post(
        f"/api/v1/drills/{drill['id']}/cancel", json={"reason": "疫情"}, headers=admin
    )
    assert cancelled.json()["status"] == "cancelled"
    again = collector.client.put(f"/api/v1/drills/{drill['id']}", json=body, headers=admin)
    assert again.status_code == 409 and again.json()["error"] == "drill_not_planned"
