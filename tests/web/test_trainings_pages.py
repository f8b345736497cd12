"""The training pages (issue 7, A9-M2.3) and the year's overview (A9-M2.3, A9-M4.2): record a
training, attach a file, import the sign-in sheet (preview, then apply), and see units without
a technical training or a drill flagged. Forms carry the CSRF token; a district admin sees only
their district (A9-G).

The form tests run in-process on SQLite and PostgreSQL; the whole flow runs in a real headless
Chromium against a collector process, as a district admin."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from collector.db.models import AuditLog
from collector.db.models_training import Training
from tests.support.collector import CollectorUnderTest
from tests.support.collector import login as _login
from tests.support.processes import CollectorProcess

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
FORM = {"held_on": "2026-04-15", "topic": "勒索病毒防范技术培训", "kind": "technical", "unit": "341021",
        "trainer": "王工", "location": "三楼会议室", "hours": "3", "notes": ""}  # fmt: skip


def sign_in_sheet(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "单位", "学时", "签到"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _count(app: CollectorUnderTest) -> int:
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(Training)) or 0


def test_the_pages_need_a_login_and_forms_need_the_csrf_token(app: CollectorUnderTest) -> None:
    for url in ("/trainings", "/trainings/1", "/annual"):
        assert app.client.get(url, follow_redirects=False).headers["location"] == "/login"
    csrf = _login(app)
    page = app.client.get("/trainings")
    assert page.status_code == 200 and f'name="csrf" value="{csrf}"' in page.text
    refused = app.client.post("/trainings/new", data={**FORM, "csrf": "wrong"})
    assert refused.status_code == 400 and "表单已过期" in refused.text
    upload = app.client.post("/trainings/1/materials", files={"file": ("a.pdf", PDF)}, data={"csrf": ""})
    assert upload.status_code == 400
    assert _count(app) == 0


def test_recording_a_training_with_a_file_and_attendees(app: CollectorUnderTest) -> None:
    csrf = _login(app, "district_admin", "341021")
    bad = app.client.post("/trainings/new", data={**FORM, "hours": "-1", "csrf": csrf})
    assert (
        bad.status_code == 422
        and "hours must be between" in bad.text
        and 'value="勒索病毒防范技术培训"' in bad.text
    )
    added = app.client.post("/trainings/new", data={**FORM, "csrf": csrf}, follow_redirects=False)
    assert added.status_code == 303
    url = added.headers["location"].split("?")[0]
    page = app.client.get(added.headers["location"])
    assert "已登记" in page.text and "勒索病毒防范技术培训" in page.text and "技术培训" in page.text

    uploaded = app.client.post(
        f"{url}/materials", data={"csrf": csrf}, files={"file": ("课件.pdf", PDF, "application/pdf")}
    )
    assert "已上传" in uploaded.text and "课件.pdf" in uploaded.text
    link = re.search(r'href="(/api/v1/trainings/\d+/materials/\d+)"', uploaded.text)
    assert link is not None and app.client.get(link[1]).content == PDF
    wrong = app.client.post(
        f"{url}/materials", data={"csrf": csrf}, files={"file": ("病毒.pdf", b"MZ\x90", "application/pdf")}
    )
    assert wrong.status_code == 422 and "not a .pdf file" in wrong.text

    person = app.client.post(
        f"{url}/attendees", data={"csrf": csrf, "name": "张三", "unit": "341021", "attended": "1"}
    )
    assert "已添加参训人员" in person.text and 'data-name="张三"' in person.text
    saved = app.client.post(url, data={**FORM, "csrf": csrf, "kind": "awareness", "hours": "2"})
    assert "已保存" in saved.text and "意识教育" in saved.text
    with app.sessions() as session:
        actions = session.scalars(
            select(AuditLog.action).where(AuditLog.action.startswith("training.")).order_by(AuditLog.id)
        ).all()
    assert actions == ["training.create", "training.material_add", "training.attendee_add", "training.update"]
    deleted = app.client.post(url, data={"csrf": csrf, "action": "delete"})
    assert "已删除" in deleted.text and _count(app) == 0


def test_the_sign_in_sheet_is_previewed_then_applied(app: CollectorUnderTest) -> None:
    csrf = _login(app, "district_admin", "341021")
    url = app.client.post("/trainings/new", data={**FORM, "csrf": csrf}, follow_redirects=False).headers[
        "location"
    ]
    url = url.split("?")[0]
    sheet = sign_in_sheet(
        [["张三", "341021", 3, "是"], ["李四", "歙县统计局", "", "否"], ["王五", "341022", 3, "是"]]
    )
    preview = app.client.post(f"{url}/import", data={"csrf": csrf}, files={"file": ("签到表.xlsx", sheet)})
    assert preview.status_code == 200 and "签到表预览" in preview.text and "unknown unit" in preview.text
    payload = re.search(r'name="payload" value="([^"]+)"', preview.text)
    assert payload is not None
    form = {"csrf": csrf, "action": "apply", "filename": "签到表.xlsx", "payload": payload[1]}
    refused = app.client.post(f"{url}/import", data=form, files={"file": ("", b"")})
    assert "有错误的行不能导入" in refused.text
    applied = app.client.post(f"{url}/import", data={**form, "skip_invalid": "1"}, files={"file": ("", b"")})
    assert "已导入" in applied.text
    page = app.client.get(url)
    assert "已签到 1 人 / 名单 2 人" in page.text


def test_a_district_admin_sees_only_its_district(app: CollectorUnderTest) -> None:
    csrf = _login(app)
    for unit, topic in (("341021", "歙县的培训"), ("341022", "休宁的培训")):
        assert app.client.post("/trainings/new", data={**FORM, "unit": unit, "topic": topic, "csrf": csrf},
                               follow_redirects=False).status_code == 303  # fmt: skip
    with app.sessions() as session:
        ids = {t.topic: t.id for t in session.scalars(select(Training))}
    _login(app, "district_admin", "341021")
    listed = app.client.get("/trainings?year=2026")
    assert "歙县的培训" in listed.text and "休宁" not in listed.text
    assert app.client.get(f"/trainings/{ids['休宁的培训']}").status_code == 404
    annual = app.client.get("/annual?year=2026")
    assert 'data-unit="341021"' in annual.text and "休宁" not in annual.text
    _login(app, "auditor", "341022")
    read_only = app.client.get(f"/trainings/{ids['休宁的培训']}")
    assert read_only.status_code == 200 and 'id="edit-form"' not in read_only.text
    assert (
        'id="import-form"' not in read_only.text and 'id="add-form"' not in app.client.get("/trainings").text
    )


# -- in a real browser -----------------------------------------------------------------------------
@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[CollectorProcess, str, str]]:
    collector = CollectorProcess(db_url, tmp_path)
    collector.cli("init", "--admin", "cityadmin", "--credentials-file", str(tmp_path / "creds"))
    out = collector.cli("user", "create", "shexian", "--role", "district_admin", "--unit", "341021")
    password = re.search(r"password \(shown once\): (\S+)", out)
    assert password is not None
    collector.start()
    yield collector, "shexian", password[1]
    collector.stop()


@pytest.mark.browser
def test_a_district_admin_records_a_training_in_the_browser(
    browser: Any, served: tuple[CollectorProcess, str, str], tmp_path: Path
) -> None:
    collector, username, password = served
    slides = tmp_path / "勒索病毒防范.pdf"
    slides.write_bytes(PDF)
    sheet = tmp_path / "签到表.xlsx"
    sheet.write_bytes(sign_in_sheet([["张三", "341021", 3, "是"], ["李四", "歙县统计局", 2, "√"],
                                     ["王五", "341021", "", "请假"], ["赵六", "不存在的局", 3, "是"]]))  # fmt: skip
    page = browser.new_page(locale="zh-CN")
    page.goto(collector.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(collector.url + "/")

    # before: 歙县 has no technical training in the year, and no drill
    page.goto(collector.url + "/annual?year=2026")
    row = page.locator("tr.unit-year[data-unit='341021']")
    assert row.locator(".flag-training").count() == 1 and row.locator(".flag-drill").count() == 1
    assert page.locator("tr.unit-year").count() == 1 and "休宁" not in page.content()

    page.goto(collector.url + "/trainings?year=2026")
    page.fill("#add-form input[name=held_on]", "2026-04-15")
    page.fill("#add-form input[name=topic]", "勒索病毒防范技术培训")
    page.select_option("#add-form select[name=kind]", "technical")
    page.select_option("#add-form select[name=unit]", "341021")
    page.fill("#add-form input[name=trainer]", "市局计算站 王工")
    page.fill("#add-form input[name=hours]", "3")
    page.click("#add-submit")
    page.wait_for_load_state()
    assert page.locator("#done").inner_text() == "已登记。"
    assert page.locator("h1").inner_text().startswith("勒索病毒防范技术培训")

    page.set_input_files("#material-form input[name=file]", str(slides))
    page.click("#material-submit")
    page.wait_for_load_state()
    assert page.locator("#done").inner_text() == "已上传。"
    with page.expect_download() as info:
        page.click("table.materials a.download")
    download = info.value
    assert download.suggested_filename == "勒索病毒防范.pdf"
    assert Path(download.path()).read_bytes() == PDF

    page.set_input_files("#import-form input[name=file]", str(sheet))
    page.click("#import-preview")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "签到表预览（尚未写入）"
    assert page.locator("table.import-rows tbody tr").count() == 4
    assert "unknown unit" in page.locator("tr[data-row='5'] td.error").inner_text()
    page.screenshot(path=str(tmp_path / "attendance-preview.png"), full_page=True)
    page.check("#skip-invalid")
    page.click("#import-apply")
    page.wait_for_load_state()
    assert page.locator("#done").inner_text().startswith("已导入。")
    assert page.locator("tr.row.create").count() == 3 and page.locator("tr.row.skipped").count() == 1
    page.click("#back")
    page.wait_for_load_state()
    assert page.locator("#attended-count").inner_text() == "已签到 2 人 / 名单 3 人"
    assert page.locator("tr.attendee").count() == 3

    # after: the training counts for 歙县; the drill flag stays
    page.goto(collector.url + "/annual?year=2026")
    row = page.locator("tr.unit-year[data-unit='341021']")
    assert row.locator("td.held").inner_text() == "1"
    assert row.locator(".flag-training").count() == 0 and row.locator(".flag-drill").count() == 1
    with page.expect_download() as info:
        page.click("#export-xlsx")
    assert info.value.suggested_filename == "annual-overview-2026.xlsx"
    page.close()
