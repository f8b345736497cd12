"""The bulletin pages (通报; issue 5, A9-M3.5, P-16, A9-G): the history with a preview form, the
preview with its tables, saving a draft, editing and issuing it; forms carry the CSRF token;
a district admin sees and issues only their own subtree; read-only roles get no forms.

The form tests run in-process on SQLite and PostgreSQL; the whole flow (preview and issue a
monthly bulletin as the city admin, download the DOCX, read it with python-docx) runs in a
real headless Chromium against a collector process."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from collector.db.models import AuditLog
from collector.db.models_bulletins import Bulletin
from collector.main import create_app
from collector.services.bulletin_periods import local_today, period_containing
from collector.settings import Settings
from tests.collector.test_bulletins import EXPECTED_CATEGORIES, Town, build_town
from tests.support.collector import CollectorUnderTest
from tests.support.collector import login as _login
from tests.support.processes import CollectorProcess


@pytest.fixture
def town(app: CollectorUnderTest) -> Town:
    return build_town(app)


def _bulletins(app: CollectorUnderTest) -> list[Bulletin]:
    with app.sessions() as session:
        return list(session.scalars(select(Bulletin).order_by(Bulletin.id)))


def test_the_pages_need_a_login_and_forms_need_the_csrf_token(town: Town) -> None:
    app = town.c
    app.client.cookies.clear()
    for path in ("/bulletins", f"/bulletins/preview?period={town.period.key}", "/bulletins/1"):
        assert app.client.get(path, follow_redirects=False).headers["location"] == "/login"
    _login(app)
    form = {"csrf": "wrong", "period": town.period.key, "unit": "341000", "action": "draft"}
    refused = app.client.post("/bulletins/new", data=form)
    assert refused.status_code == 400 and "表单已过期" in refused.text
    assert _bulletins(app) == []


def test_preview_save_edit_and_issue_a_draft(town: Town) -> None:
    app = town.c
    csrf = _login(app)
    history = app.client.get("/bulletins")
    assert history.status_code == 200 and "还没有通报" in history.text
    assert f'<option value="{town.period.key}" selected>' in history.text  # last month by default
    preview = app.client.get("/bulletins/preview", params={"period": town.period.key, "unit": "341000"})
    assert preview.status_code == 200 and "通报预览（尚未保存）" in preview.text
    antivirus = re.search(r'<tr data-key="antivirus">(.*?)</tr>', preview.text)
    assert antivirus is not None
    assert re.findall(r'class="count \w+">(\d+)<', antivirus[1]) == [
        str(n) for n in EXPECTED_CATEGORIES["antivirus"]
    ]
    assert 'id="ranking"' in preview.text and 'id="issue-now"' in preview.text

    form = {"csrf": csrf, "period": town.period.key, "unit": "341000", "title": "关于上月网络安全情况的通报",
            "addressees": "各县、区统计局：", "remarks": "请于下月10日前反馈。", "action": "draft"}  # fmt: skip
    saved = app.client.post("/bulletins/new", data=form, follow_redirects=False)
    assert saved.status_code == 303
    draft = app.client.get(saved.headers["location"])
    assert (
        "草稿已保存" in draft.text
        and "关于上月网络安全情况的通报" in draft.text
        and 'id="edit-form"' in draft.text
    )
    url = saved.headers["location"].split("?")[0]
    unconfirmed = app.client.post(url, data={**form, "action": "issue"})
    assert unconfirmed.status_code == 422 and "请勾选确认" in unconfirmed.text
    assert _bulletins(app)[0].status == "draft"
    issued = app.client.post(
        url, data={**form, "remarks": "请于下月15日前反馈。", "action": "issue", "confirm": "1"}
    )
    assert issued.status_code == 200 and "已正式印发" in issued.text
    number = f"黄统网安通〔{local_today().year}〕1号"
    assert f'<td id="doc-number">{number}</td>' in issued.text and 'id="edit-form"' not in issued.text
    (bulletin,) = _bulletins(app)
    assert (
        bulletin.remarks == "请于下月15日前反馈。"
        and bulletin.snapshot["document"]["remarks"] == bulletin.remarks
    )
    assert number in app.client.get("/bulletins").text
    with app.sessions() as session:
        actions = session.scalars(
            select(AuditLog.action).where(AuditLog.action.startswith("bulletin.")).order_by(AuditLog.id)
        ).all()
    assert actions == ["bulletin.draft", "bulletin.update", "bulletin.issue"]
    english = app.client.get("/bulletins/preview", params={"period": town.period.key, "lang": "en"})
    assert (
        "Bulletin preview (not saved)" in english.text and "She County Bureau of Statistics" in english.text
    )
    assert "Ranking of the district/county bureaus" in english.text


def test_issuing_straight_from_the_preview_and_deleting_a_draft(town: Town) -> None:
    app = town.c
    csrf = _login(app)
    form = {"csrf": csrf, "period": town.period.key, "unit": "341021", "title": "", "addressees": "局属各单位：",
            "remarks": "", "action": "issue", "confirm": "1"}  # fmt: skip
    issued = app.client.post("/bulletins/new", data=form)
    assert issued.status_code == 200 and "已正式印发" in issued.text
    assert f"关于{town.period.label_zh}歙县统计局网络安全监测情况的通报" in issued.text
    drafted = app.client.post("/bulletins/new", data={**form, "action": "draft"}, follow_redirects=False)
    url = drafted.headers["location"].split("?")[0]
    gone = app.client.post(url, data={"csrf": csrf, "action": "delete"}, follow_redirects=False)
    assert gone.headers["location"] == "/bulletins?done=deleted"
    assert [b.status for b in _bulletins(app)] == ["issued"]
    assert app.client.get(url).status_code == 404
    running = {**form, "period": period_containing("month", local_today()).key}
    refused = app.client.post("/bulletins/new", data=running)  # the month is not over: kept as a draft
    assert (
        refused.status_code == 409 and "该期间尚未结束" in refused.text and 'id="edit-form"' in refused.text
    )
    assert [b.status for b in _bulletins(app)] == ["issued", "draft"]


def test_a_district_admin_works_in_their_subtree_and_read_only_roles_get_no_forms(town: Town) -> None:
    app = town.c
    city = _login(app)
    form = {"csrf": city, "period": town.period.key, "unit": "341000", "action": "draft"}
    city_draft = app.client.post("/bulletins/new", data=form, follow_redirects=False).headers["location"]
    she = _login(app, "district_admin", "341021")
    page = app.client.get("/bulletins")
    assert '<option value="341021">' in page.text and "341022" not in page.text and "休宁" not in page.text
    assert app.client.get(city_draft).status_code == 404
    refused = app.client.get("/bulletins/preview", params={"period": town.period.key, "unit": "341022"})
    assert refused.status_code == 404 and "没有这个单位" in refused.text
    preview = app.client.get("/bulletins/preview", params={"period": town.period.key, "unit": "341021"})
    assert preview.status_code == 200 and 'id="ranking"' not in preview.text and "xn1" not in preview.text
    mine = {"csrf": she, "period": town.period.key, "unit": "341021", "action": "issue", "confirm": "1"}
    assert "已正式印发" in app.client.post("/bulletins/new", data=mine).text
    _login(app, "auditor", "341021")
    preview = app.client.get("/bulletins/preview", params={"period": town.period.key, "unit": "341021"})
    assert preview.status_code == 200 and 'id="save-form"' not in preview.text
    listed = app.client.get("/bulletins").text
    assert f"统网安通〔{local_today().year}〕1号" in listed
    detail = re.search(r'href="(/bulletins/\d+)"', listed)
    assert detail is not None and 'id="edit-form"' not in app.client.get(detail[1]).text
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Bulletin)) == 2


# -- in a real browser -----------------------------------------------------------------------------
@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[CollectorProcess, str, str, Town]]:
    collector = CollectorProcess(db_url, tmp_path)
    collector.cli("init", "--admin", "cityadmin", "--credentials-file", str(tmp_path / "creds"))
    settings = Settings(database_url=db_url)
    application = create_app(settings)
    with TestClient(application, raise_server_exceptions=False) as client:
        town = build_town(CollectorUnderTest(client, settings, application.state.sessionmaker))
    application.state.engine.dispose()
    collector.start()
    username, password = (tmp_path / "creds").read_text().split()
    yield collector, username, password, town
    collector.stop()


@pytest.mark.browser
def test_preview_and_issue_a_monthly_bulletin_in_the_browser(
    browser: Any, served: tuple[CollectorProcess, str, str, Town], tmp_path: Path
) -> None:
    collector, username, password, town = served
    page = browser.new_page(locale="zh-CN", accept_downloads=True)
    page.goto(collector.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(collector.url + "/")
    page.goto(collector.url + "/bulletins")
    assert page.locator("h1").inner_text() == "通报"
    assert page.locator("#f-period").input_value() == town.period.key  # last month is preselected
    page.select_option("#f-unit", "341000")
    page.click("#preview-submit")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "通报预览（尚未保存）"
    assert page.locator("#summary td[data-key=new]").inner_text() == "4"
    assert page.locator("#summary td[data-key=overdue]").inner_text() == "3"
    assert page.locator("table.ranking tbody tr").count() == 7
    page.screenshot(path=str(tmp_path / "bulletin-preview.png"), full_page=True)

    page.fill("#save-form textarea[name=remarks]", "请各单位于下月10日前报送整改情况。")
    page.click("#issue-now")
    page.wait_for_load_state()
    assert "请勾选确认" in page.locator("#error").inner_text()  # issuing needs the confirmation
    page.go_back()
    page.fill("#save-form textarea[name=remarks]", "请各单位于下月10日前报送整改情况。")
    page.check("#confirm-issue")
    page.click("#issue-now")
    page.wait_for_url(re.compile(r".*/bulletins/\d+\?done=issued$"))
    number = f"黄统网安通〔{local_today().year}〕1号"
    assert page.locator("#done").inner_text() == "已正式印发。"
    assert page.locator("#doc-number").inner_text() == number
    assert page.locator("#status").get_attribute("data-status") == "issued"

    with page.expect_download() as waiting:
        page.click("#download-docx")
    download = waiting.value
    assert download.suggested_filename.endswith(".docx") and number in download.suggested_filename
    saved = tmp_path / "bulletin.docx"
    download.save_as(saved)
    document = docx.Document(io.BytesIO(saved.read_bytes()))
    texts = [p.text for p in document.paragraphs]
    assert number in texts and "请各单位于下月10日前报送整改情况。" in texts
    categories = next(t for t in document.tables if t.rows[0].cells[0].text == "问题类别")
    antivirus = next(r for r in categories.rows if r.cells[0].text == "防病毒")
    assert tuple(int(c.text) for c in antivirus.cells[1:]) == EXPECTED_CATEGORIES["antivirus"]

    page.goto(collector.url + "/bulletins")
    assert page.locator("table.bulletins tr.issued").count() == 1
    assert number in page.locator("table.bulletins").inner_text()
    page.close()
