"""Emergency response plans (issue 7, A9-M4.1): one plan per unit, versioned draft → approved →
superseded, structured parts with the reporting deadlines as data, a readable per-part
difference between versions, the DOCX export in the official-document layout, scope (A9-G)
and the audit trail. On SQLite and PostgreSQL through the ``collector`` fixture."""

from __future__ import annotations

import io
from typing import Any

import pytest
from docx import Document
from docx.oxml.ns import qn
from docx.shared import Pt
from pydantic import ValidationError
from sqlalchemy import select

from collector.db.models import AuditLog
from collector.services.drill_templates import PHASES, Scenario, load_plan_defaults, load_templates
from collector.services.plan_diff import diff_contents
from collector.services.plans import PlanContent, default_content
from tests.support.collector import CollectorUnderTest

UNIT = "341021"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def new_plan(c: CollectorUnderTest, headers: dict[str, str], unit: str = UNIT, **body: Any) -> dict[str, Any]:
    answer = c.client.post(f"/api/v1/plans/{unit}/versions", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def approved_plan(c: CollectorUnderTest, headers: dict[str, str], unit: str = UNIT) -> dict[str, Any]:
    draft = new_plan(c, headers, unit)
    answer = c.client.post(f"/api/v1/plan-versions/{draft['id']}/approve", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


# -- the data ---------------------------------------------------------------------------------------
def test_the_scenario_templates_cover_what_a_statistics_bureau_meets() -> None:
    templates = load_templates()
    assert set(templates) == {
        "ransomware-office-pcs",
        "website-defacement",
        "microdata-leak",
        "vpn-account-compromise",
        "direct-reporting-link-loss",
        "direct-reporting-pc-malware",
        "server-room-outage",
    }
    for scenario in templates.values():
        assert [p.phase for p in scenario.phases] == list(PHASES), scenario.key
        assert scenario.injects and all(p.target_minutes > 0 for p in scenario.phases)


def test_a_template_with_an_unknown_field_or_duplicate_keys_is_refused() -> None:
    good = load_templates()["server-room-outage"].model_dump()
    with pytest.raises(ValidationError, match="Extra inputs"):
        Scenario.model_validate({**good, "owner": "x"})
    twice = {**good, "injects": [*good["injects"], good["injects"][0]]}
    with pytest.raises(ValidationError, match="unique"):
        Scenario.model_validate(twice)


def test_reporting_deadlines_and_addressees_are_data() -> None:
    defaults = load_plan_defaults()
    levels = {lv.key: lv for lv in defaults.levels}
    assert [lv.name_zh for lv in defaults.levels] == ["特别重大", "重大", "较大", "一般"]
    assert levels["III"].report_within_hours <= 24 and levels["III"].addressee_zh
    content = default_content()
    assert [lv.report_within_hours for lv in content.levels] == [
        lv.report_within_hours for lv in defaults.levels
    ]


def test_a_plan_names_only_roles_of_its_call_tree() -> None:
    content = default_content().model_dump()
    content["contacts"].append({"role": "值班员", "called_by": "不存在的角色"})
    with pytest.raises(ValidationError, match="called_by"):
        PlanContent.model_validate(content)


def test_the_difference_is_shown_part_by_part() -> None:
    old = default_content().model_dump(mode="json")
    new = default_content().model_dump(mode="json")
    new["levels"][2]["report_within_hours"] = 2
    new["contacts"][0]["phone"] = "0559-1234567"
    new["steps"]["report"].append("同时抄报省统计局")
    new["resources"] = new["resources"][1:]
    parts = {p.part: p.changes for p in diff_contents(old, new)}
    assert set(parts) == {"levels", "contacts", "steps.report", "resources"}
    assert parts["levels"][0].op == "changed" and "2 小时内报告" in parts["levels"][0].text
    assert "1 小时内报告" in parts["levels"][0].old
    assert [c.op for c in parts["steps.report"]] == ["added"]
    assert [c.op for c in parts["resources"]] == ["removed"]
    assert diff_contents(old, old) == []


# -- through the API --------------------------------------------------------------------------------
def test_a_plan_goes_from_draft_to_approved_to_superseded(collector: CollectorUnderTest) -> None:
    admin = collector.admin_headers(UNIT, "district_admin")
    empty = collector.client.get(f"/api/v1/plans/{UNIT}", headers=admin).json()
    assert empty == {"unit_code": UNIT, "current": None, "draft": None, "versions": []}
    first = new_plan(collector, admin, note="初稿")
    assert (first["number"], first["status"]) == (1, "draft")
    assert first["content"]["title"] == "歙县统计局网络安全事件应急预案"
    again = collector.client.post(f"/api/v1/plans/{UNIT}/versions", json={}, headers=admin)
    assert again.status_code == 409 and again.json()["error"] == "draft_exists"

    content = first["content"]
    content["contacts"][0].update(name="张局长", phone="0559-6512345")
    saved = collector.client.put(
        f"/api/v1/plan-versions/{first['id']}", json={"content": content}, headers=admin
    )
    assert saved.status_code == 200 and saved.json()["content"]["contacts"][0]["name"] == "张局长"
    approved = collector.client.post(f"/api/v1/plan-versions/{first['id']}/approve", headers=admin).json()
    assert approved["status"] == "approved" and approved["approved_at"]
    refused = collector.client.put(f"/api/v1/plan-versions/{first['id']}", json={"note": "x"}, headers=admin)
    assert refused.status_code == 409 and refused.json()["error"] == "not_a_draft"

    second = new_plan(collector, admin)
    assert second["number"] == 2 and second["content"] == approved["content"]  # a copy of the plan in force
    content["levels"][2]["report_within_hours"] = 2
    collector.client.put(f"/api/v1/plan-versions/{second['id']}", json={"content": content}, headers=admin)
    collector.client.post(f"/api/v1/plan-versions/{second['id']}/approve", headers=admin)
    plan = collector.client.get(f"/api/v1/plans/{UNIT}", headers=admin).json()
    assert plan["current"]["number"] == 2 and plan["draft"] is None
    assert [(v["number"], v["status"]) for v in plan["versions"]] == [(2, "approved"), (1, "superseded")]

    diff = collector.client.get(f"/api/v1/plan-versions/{second['id']}/diff", headers=admin).json()
    assert diff["against_id"] == first["id"]
    assert [p["part"] for p in diff["parts"]] == ["levels"]
    with collector.sessions() as session:
        actions = session.scalars(select(AuditLog.action).where(AuditLog.target == f"unit:{UNIT}")).all()
    assert actions == ["plan.draft_create", "plan.draft_update", "plan.approve"] * 2


def test_a_draft_can_be_discarded(collector: CollectorUnderTest) -> None:
    admin = collector.admin_headers()
    draft = new_plan(collector, admin)
    gone = collector.client.delete(f"/api/v1/plan-versions/{draft['id']}", headers=admin)
    assert gone.status_code == 204
    assert collector.client.get(f"/api/v1/plan-versions/{draft['id']}", headers=admin).status_code == 404
    assert new_plan(collector, admin)["number"] == 1


def test_a_bad_plan_is_refused_with_a_clear_message(collector: CollectorUnderTest) -> None:
    admin = collector.admin_headers()
    content = default_content().model_dump(mode="json")
    content["levels"][3] = content["levels"][0]
    answer = collector.client.post(f"/api/v1/plans/{UNIT}/versions", json={"content": content}, headers=admin)
    assert answer.status_code == 422 and "each incident level once" in answer.text


def test_scope_out_of_view_looks_missing_and_readers_cannot_write(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    other = approved_plan(collector, city, "341022")
    district = collector.admin_headers(UNIT, "district_admin")
    auditor = collector.admin_headers(UNIT, "auditor")
    hidden = collector.client.get(f"/api/v1/plan-versions/{other['id']}", headers=district)
    missing = collector.client.get("/api/v1/plan-versions/999999", headers=district)
    assert hidden.status_code == missing.status_code == 404
    assert collector.client.get("/api/v1/plans/341022", headers=district).status_code == 404
    units = [p["unit_code"] for p in collector.client.get("/api/v1/plans", headers=district).json()]
    assert units == [UNIT]
    refused = collector.client.post(f"/api/v1/plans/{UNIT}/versions", json={}, headers=auditor)
    assert refused.status_code == 403 and refused.json()["error"] == "read_only"


def test_the_plan_exports_as_an_official_document(collector: CollectorUnderTest) -> None:
    admin = collector.admin_headers()
    version = approved_plan(collector, admin)
    answer = collector.client.get(f"/api/v1/plan-versions/{version['id']}/document.docx", headers=admin)
    assert answer.status_code == 200 and answer.headers["content-type"] == DOCX
    document = Document(io.BytesIO(answer.content))
    section = document.sections[0]
    sizes = (section.page_width, section.page_height, section.top_margin, section.bottom_margin,
             section.left_margin, section.right_margin)  # fmt: skip
    assert [round(s.mm) for s in sizes if s is not None] == [210, 297, 37, 35, 28, 26]
    title = document.paragraphs[0]
    assert title.text == "歙县统计局网络安全事件应急预案"
    assert title.runs[0].font.size == Pt(22)
    assert title.runs[0]._element.rPr.rFonts.get(qn("w:eastAsia")) == "方正小标宋简体"
    body = next(p for p in document.paragraphs if p.text.startswith("本预案适用于"))
    assert body.runs[0].font.size == Pt(16)
    assert body.runs[0]._element.rPr.rFonts.get(qn("w:eastAsia")) == "仿宋_GB2312"
    texts = [p.text for p in document.paragraphs]
    assert "三、事件分级与报告时限" in texts and "（二）报告" in texts
    levels = document.tables[1]
    assert levels.rows[3].cells[0].text == "较大（Ⅲ级）" and levels.rows[3].cells[2].text == "1"
