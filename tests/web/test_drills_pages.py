"""The plan and drill pages (issue 7; A9-M4.1, A9-M4.2, A9-M4.3, A9-G).

In-process (SQLite and PostgreSQL): the forms need the CSRF token, a plan is written in the
plain-text editor and approved, a drill is planned, its pages render, a district admin sees
only the district. In a real headless Chromium against a collector process: a district admin
runs a whole drill through the runner page, with actions queued through a failing network and
a reload mid-drill, a second device watching, then evaluates it, revises the plan from it,
closes it, and the after-action report opens with python-docx."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from docx import Document

from tests.support.collector import CollectorUnderTest
from tests.support.processes import CollectorProcess

UNIT = "341021"


def _login(app: CollectorUnderTest, role: str = "district_admin", unit: str = UNIT) -> str:
    """Log the test client in (session cookie); returns the session's CSRF token."""
    app.client.cookies.clear()
    name = f"{role.replace('_', '')}{unit.replace('-', '')}"
    password = app.add_user(name, role, unit)
    answer = app.client.post("/api/v1/auth/login", json={"username": name, "password": password})
    assert answer.status_code == 200
    return str(answer.json()["csrf_token"])


def _editor_form(page: str) -> dict[str, str]:
    form: dict[str, str] = dict(re.findall(r'<input name="(\w+)" maxlength="\d+" value="([^"]*)"', page))
    for name, value in re.findall(r'<textarea name="(\w+)"[^>]*>([^<]*)</textarea>', page):
        form[name] = value.replace("&#34;", '"').replace("&amp;", "&")
    return form


def test_pages_need_a_login_and_forms_the_csrf_token(app: CollectorUnderTest) -> None:
    for path in ("/drills", "/plans", f"/plans/{UNIT}", "/drills/new", "/drills/1/run"):
        assert app.client.get(path, follow_redirects=False).headers["location"] == "/login", path
    _login(app)
    refused = app.client.post(f"/plans/{UNIT}/draft", data={"csrf": "wrong"})
    assert refused.status_code == 400 and "表单已过期" in refused.text
    assert app.client.get(f"/plans/{UNIT}").text.count("第 1 版") == 0


def test_a_plan_is_written_in_the_editor_and_a_drill_planned_against_it(app: CollectorUnderTest) -> None:
    csrf = _login(app)
    started = app.client.post(f"/plans/{UNIT}/draft", data={"csrf": csrf}, follow_redirects=False)
    assert started.headers["location"] == f"/plans/{UNIT}/edit"
    editor = app.client.get(f"/plans/{UNIT}/edit").text
    form = _editor_form(editor)
    assert form["title"] == "歙县统计局网络安全事件应急预案" and "III | 较大 | 1 |" in form["levels"]
    bad = app.client.post(
        f"/plans/{UNIT}/edit", data={**form, "csrf": csrf, "levels": "III | 较大 | 一小时 | 市局"}
    )
    assert bad.status_code == 422 and "number of hours" in bad.text
    form["contacts"] = form["contacts"].replace(
        "应急领导小组组长 |  |  |", "应急领导小组组长 | 张局长 | 0559-6512345 |", 1
    )
    approved = app.client.post(f"/plans/{UNIT}/edit", data={**form, "csrf": csrf, "action": "approve"})
    assert "已批准为现行预案" in approved.text and "张局长" in approved.text and "第 1 版" in approved.text

    planned = app.client.post(
        "/drills/new",
        data={"csrf": csrf, "unit": UNIT, "title": "机房断电演练", "kind": "tabletop", "coverage": "specialised",
              "scenario_key": "server-room-outage", "planned_date": date.today().isoformat(),
              "participants": "王工 | 技术处置人员\n李科长 | 网络安全联络员", "target_detect": "3"},
        follow_redirects=False,
    )  # fmt: skip
    assert planned.status_code == 303, planned.text
    detail = app.client.get(planned.headers["location"]).text
    assert "演练已安排" in detail and "王工（技术处置人员）" in detail and "监测发现 3′" in detail
    drill_id = planned.headers["location"].split("/")[2].split("?")[0]
    runner = app.client.get(f"/drills/{drill_id}/run").text
    assert 'id="drill-state"' in runner and "/static/drills_runner.js" in runner and "so-detect-1" in runner
    calendar = app.client.get("/drills").text
    assert "机房断电演练" in calendar and "休宁" not in calendar


def test_a_district_admin_sees_only_the_district(app: CollectorUnderTest) -> None:
    city = app.admin_headers()
    draft = app.client.post("/api/v1/plans/341022/versions", json={}, headers=city).json()
    app.client.post(f"/api/v1/plan-versions/{draft['id']}/approve", headers=city)
    _login(app)
    assert app.client.get("/plans/341022").status_code == 404
    assert app.client.get(f"/plans/341022/versions/{draft['id']}").status_code == 404
    assert "休宁" not in app.client.get("/plans").text
    _login(app, "auditor", UNIT)
    page = app.client.get(f"/plans/{UNIT}").text
    assert 'id="start-draft"' not in page and 'id="draft-form"' not in page


# -- in a real browser -----------------------------------------------------------------------------
@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[CollectorProcess, str, str]]:
    """A collector process with a district admin of 歙县 (made by the city admin through the API)."""
    collector = CollectorProcess(db_url, tmp_path)
    collector.cli("init", "--admin", "cityadmin", "--credentials-file", str(tmp_path / "creds"))
    collector.start()
    username, password = (tmp_path / "creds").read_text().split()
    with httpx.Client(base_url=collector.url, timeout=30) as client:
        token = client.post("/api/v1/auth/login", json={"username": username, "password": password}).json()[
            "token"
        ]
        made = client.post(
            "/api/v1/users",
            json={"username": "she.admin", "grants": [{"role": "district_admin", "unit_code": UNIT}]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert made.status_code == 201, made.text
    yield collector, "she.admin", made.json()["password"]
    collector.stop()


def _sign_in(page: Any, url: str, username: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")


def _step(page: Any, key: str, act: str) -> None:
    page.click(f"li.step[data-step='{key}'] button[data-act='{act}']")


def _synced(page: Any) -> None:
    page.wait_for_selector("#sync.synced")


@pytest.mark.browser
def test_a_whole_drill_through_the_runner_page(
    browser: Any, served: tuple[CollectorProcess, str, str], tmp_path: Path
) -> None:
    collector, username, password = served
    url = collector.url
    context = browser.new_context(locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    _sign_in(page, url, username, password)

    # the plan (A9-M4.1): written and approved in the editor
    page.goto(f"{url}/plans/{UNIT}")
    page.click("#start-draft")
    page.wait_for_url(f"{url}/plans/{UNIT}/edit")
    page.fill(
        "textarea[name=resources]",
        "数据备份 | 每日备份，离线副本每周一份\n备用联网直报终端 | 预装系统的备用电脑",
    )
    page.click("#plan-approve")
    page.wait_for_url(re.compile(r".*/plans/341021\?done=approved"))
    assert "第 1 版" in page.locator("#in-force").inner_text()

    # planning (A9-M4.2)
    page.goto(f"{url}/drills")
    assert page.locator("tr[data-unit='341021'] .badge.flag").count() == 1
    page.click("#plan-drill")
    page.fill("input[name=title]", "机房断电应急演练")
    page.select_option("select[name=scenario_key]", "server-room-outage")
    page.fill("input[name=planned_date]", date.today().isoformat())
    page.fill("textarea[name=participants]", "王工 | 技术处置人员\n李科长 | 网络安全联络员")
    page.screenshot(path=str(tmp_path / "planning.png"), full_page=True)
    page.click("#drill-submit")
    page.wait_for_url(re.compile(r".*/drills/\d+\?done=planned"))
    drill_id = int(re.search(r"/drills/(\d+)", page.url)[1])  # type: ignore[index]
    page.click("#open-runner")
    page.wait_for_url(f"{url}/drills/{drill_id}/run")

    # the runner: start, the clock runs, steps are recorded with who did them
    page.click("#start")
    page.wait_for_selector("#runner[data-status='running']")
    _synced(page)
    page.wait_for_function("document.getElementById('clock').textContent !== '00:00:00'")
    page.select_option("#performer", "王工")
    _step(page, "so-detect-1", "done")
    _synced(page)
    assert "王工" in page.locator("li.step[data-step='so-detect-1'] .meta").inner_text()

    # a flaky network: actions are queued, survive a reload, and are sent when it comes back
    page.route("**/api/v1/drills/*/events", lambda route: route.abort())
    _step(page, "so-report-1", "started")
    page.fill("li.step[data-step='so-report-1'] input.note", "物业电话无人接听，改打值班手机")
    page.click("li.step[data-step='so-report-1'] button.note-add")
    _step(page, "so-report-1", "done")
    page.wait_for_selector("#sync.offline")
    assert page.locator("li.step[data-step='so-report-1']").get_attribute("data-status") == "done"
    page.reload()
    page.wait_for_selector("#sync.offline")
    assert page.locator("li.step[data-step='so-report-1'].pending").count() == 1
    page.unroute("**/api/v1/drills/*/events")
    _synced(page)
    assert page.locator("li.step[data-step='so-report-1']").get_attribute("data-status") == "done"
    assert "物业电话无人接听" in page.locator("li.step[data-step='so-report-1'] .notes").inner_text()

    # a second device (its own browser session) joins and sees the same drill
    tablet = browser.new_context(locale="zh-CN")
    watcher = tablet.new_page()
    _sign_in(watcher, url, username, password)
    watcher.goto(f"{url}/drills/{drill_id}/run")
    watcher.wait_for_selector("li.step[data-step='so-report-1'][data-status='done']")

    # an inject revealed by hand; the rest of the steps, one failed and one skipped
    page.click("#leader summary")
    page.click("button.reveal[data-inject='so-inject-2']")
    page.wait_for_selector("#injects li[data-inject='so-inject-2']")
    _step(page, "so-contain-1", "done")
    _step(page, "so-contain-2", "failed")
    for key in ("so-eradicate-1", "so-recover-1", "so-recover-2"):
        _step(page, key, "done")
    _step(page, "so-review-1", "skipped")
    page.fill("#note-text", "演练总指挥宣布恢复正常")
    page.click("#note-add")
    _synced(page)
    watcher.wait_for_selector("li.step[data-step='so-review-1'][data-status='skipped']")
    page.click("#finish")
    page.click("#finish")  # the second click confirms
    page.wait_for_selector("#runner[data-status='finished']")
    _synced(page)
    page.reload()
    page.wait_for_selector("#runner[data-status='finished']")
    assert page.locator("#m-detect").inner_text() != "—"
    assert page.locator("#m-steps").inner_text() == "完成 6/8，失败 1，跳过 1"
    assert "在时限内" in page.locator("#m-report").inner_text()
    log = page.locator("#log").inner_text()
    assert "演练总指挥宣布恢复正常" in log and "备用直报" not in log
    page.screenshot(path=str(tmp_path / "runner.png"), full_page=True)
    tablet.close()

    # evaluation (A9-M4.3): the report, two problems, one of them about the plan
    page.click("#back-to-drill")
    page.wait_for_url(f"{url}/drills/{drill_id}")
    assert page.locator("#drill-status").inner_text() == "待评估"
    page.fill("#review-form textarea[name=went_well]", "按顺序关闭服务器，无数据损坏")
    page.fill("#review-form textarea[name=summary]", "物业联系方式过期；预案缺少断电处置步骤")
    page.click("#review-save")
    page.wait_for_url(re.compile(r".*done=review"))
    for problem, plan_related in (("物业电话过期", False), ("预案缺少机房断电处置步骤", True)):
        page.fill("#action-form input[name=problem]", problem)
        page.fill("#action-form input[name=owner]", "李科长")
        page.fill("#action-form input[name=due_date]", f"{date.today().year}-12-31")
        if plan_related:
            page.check("#action-form input[name=concerns_plan]")
        page.click("#action-add")
        page.wait_for_url(re.compile(r".*done=add_action"))
    page.click("#close-drill")
    page.wait_for_load_state()
    assert "still open" in page.locator("#error").inner_text()
    first = page.locator("tr.action.open").first
    first.locator("select[name=outcome]").select_option("waived")
    first.locator("input[name=note]").fill("物业已更换，新联系表另行下发")
    first.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*done=resolve"))

    # the plan's next version names the drill
    page.click("#revise-plan")
    page.wait_for_url(f"{url}/plans/{UNIT}/edit")
    assert "机房断电应急演练" in page.locator("#sources").inner_text()
    steps = page.locator("textarea[name=steps_contain]")
    steps.fill(steps.input_value() + "\n机房断电时按顺序关闭服务器和存储")
    page.click("#plan-approve")
    page.wait_for_url(re.compile(r".*done=approved"))
    assert "第 2 版" in page.locator("#in-force").inner_text()
    assert page.locator("tr[data-version='2'] td.sources").inner_text() == f"#{drill_id}"
    page.click("tr[data-version='2'] a")
    assert "机房断电时按顺序关闭服务器和存储" in page.locator("#diff").inner_text()
    page.screenshot(path=str(tmp_path / "plan-version.png"), full_page=True)

    page.goto(f"{url}/drills/{drill_id}")
    assert page.locator("tr.action.done").count() == 1 and page.locator("tr.action.waived").count() == 1
    page.screenshot(path=str(tmp_path / "evaluation.png"), full_page=True)
    page.click("#close-drill")
    page.wait_for_url(re.compile(r".*done=close"))
    assert page.locator("#drill-status").inner_text() == "已关闭"

    # the after-action report, opened with python-docx
    with page.expect_download() as download:
        page.click("#report-docx")
    saved = tmp_path / "report.docx"
    download.value.save_as(saved)
    document = Document(io.BytesIO(saved.read_bytes()))
    text = "\n".join(p.text for p in document.paragraphs)
    assert document.paragraphs[0].text == "网络安全应急演练总结评估报告"
    assert "按顺序关闭服务器，无数据损坏" in text and "预案已修订为第2版" in text
    assert "失败 1 项，跳过 1 项" in text
    problems = document.tables[-1]
    assert [row.cells[3].text for row in problems.rows[1:]] == ["李科长", "李科长"]
    page.goto(f"{url}/drills")
    assert page.locator("tr[data-unit='341021'] .badge.flag").count() == 0
    page.screenshot(path=str(tmp_path / "calendar.png"), full_page=True)
    context.close()
