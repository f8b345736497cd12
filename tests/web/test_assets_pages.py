"""The asset pages (issue 4, A9-M3.3, A9-G): add an asset without the agent, import the register
from an XLSX sheet (preview, then apply), import a capture bundle, merge duplicates, edit a
host's register fields. Forms carry the CSRF token; a district admin sees only their district.

The form tests run in-process on SQLite and PostgreSQL; the import flow runs in a real
headless Chromium against a collector process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from collector.db.models import AuditLog, Host
from tests.collector.test_imports import sheet_rows, xlsx
from tests.support.collector import CollectorUnderTest
from tests.support.collector import login as _login
from tests.support.processes import CollectorProcess


def _count(app: CollectorUnderTest) -> int:
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(Host)) or 0


ASSET = {"hostname": "打印机-302", "unit": "341021", "device_type": "printer", "ip": "10.21.3.50",
         "mac": "A0-D3-C1-12-34-56", "asset_number": "SX-2019-100", "tags": "网络打印机，三楼"}  # fmt: skip


def test_the_page_needs_a_login_and_forms_need_the_csrf_token(app: CollectorUnderTest) -> None:
    assert app.client.get("/assets", follow_redirects=False).headers["location"] == "/login"
    csrf = _login(app)
    page = app.client.get("/assets")
    assert page.status_code == 200 and f'name="csrf" value="{csrf}"' in page.text
    refused = app.client.post("/assets/new", data={**ASSET, "csrf": "wrong"})
    assert refused.status_code == 400 and "表单已过期" in refused.text
    assert (
        app.client.post("/assets/import", files={"file": ("a.xlsx", b"x")}, data={"csrf": ""}).status_code
        == 400
    )
    assert _count(app) == 0


def test_adding_an_asset_and_editing_its_register_fields(app: CollectorUnderTest) -> None:
    csrf = _login(app)
    added = app.client.post("/assets/new", data={**ASSET, "csrf": csrf}, follow_redirects=False)
    assert added.status_code == 303
    page = app.client.get(added.headers["location"])
    assert "已添加" in page.text and "10.21.3.50" in page.text and "a0:d3:c1:12:34:56" in page.text
    host_id = int(added.headers["location"].split("/")[-1].split("?")[0])
    with app.sessions() as session:
        host = session.get_one(Host, host_id)
        assert (host.source, sorted(t.tag for t in host.tags)) == ("manual", ["三楼", "网络打印机"])
    bad = app.client.post(
        "/assets/new", data={**ASSET, "hostname": "x", "asset_number": "", "mac": "12:34", "csrf": csrf}
    )
    assert bad.status_code == 422 and "not a MAC address" in bad.text and 'value="x"' in bad.text

    url = f"/assets/hosts/{host_id}"
    saved = app.client.post(url, data={"csrf": csrf, "owner": "办公室", "location": "302", "asset_number": "SX-2019-100",
                                       "purchase_date": "2019-06-01", "device_type": "printer", "tags": "三楼"})  # fmt: skip
    assert "已保存" in saved.text and 'value="办公室"' in saved.text
    moved = app.client.post(url, data={"csrf": csrf, "action": "move", "unit": "341022"})
    assert "休宁县统计局" in moved.text
    retired = app.client.post(url, data={"csrf": csrf, "action": "retire"})
    assert "已退役" in retired.text
    with app.sessions() as session:
        actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions[-4:] == ["asset.create", "host.register_update", "host.move", "host.retire"]


def test_the_import_previews_then_applies_exactly_the_previewed_sheet(app: CollectorUnderTest) -> None:
    csrf = _login(app)
    preview = app.client.post(
        "/assets/import", data={"csrf": csrf}, files={"file": ("台账.xlsx", xlsx(sheet_rows()))}
    )
    assert preview.status_code == 200 and "导入预览" in preview.text and _count(app) == 0
    payload = re.search(r'name="payload" value="([^"]+)"', preview.text)
    assert payload is not None
    form = {"csrf": csrf, "action": "apply", "filename": "台账.xlsx", "payload": payload[1]}
    refused = app.client.post("/assets/import", data=form, files={"file": ("", b"")})
    assert "有错误的行不能导入" in refused.text and _count(app) == 0
    applied = app.client.post("/assets/import", data={**form, "skip_invalid": "1"}, files={"file": ("", b"")})
    assert "已导入" in applied.text and _count(app) == 5  # the city admin manages 休宁县 too


def test_a_district_admin_sees_and_merges_only_inside_the_district(app: CollectorUnderTest) -> None:
    city = _login(app)
    for unit, name in (("341021", "she-a"), ("341021", "she-b"), ("341022", "xn-a"), ("341022", "xn-b")):
        asset = {**ASSET, "unit": unit, "hostname": name, "asset_number": "", "csrf": city}
        assert app.client.post("/assets/new", data=asset, follow_redirects=False).status_code == 303
    with app.sessions() as session:
        ids = {h.hostname: h.id for h in session.scalars(select(Host))}
    app.client.cookies.clear()
    csrf = _login(app, "district_admin", "341021")
    page = app.client.get("/assets")
    assert "she-a" in page.text and "xn-a" not in page.text
    assert "仅网卡地址相同" in page.text
    assert app.client.get(f"/assets/hosts/{ids['xn-a']}").status_code == 404
    across = app.client.post("/assets/merge", data={"csrf": csrf, "source": ids["xn-b"], "into": ids["xn-a"]})
    assert across.status_code == 404
    merged = app.client.post(
        "/assets/merge", data={"csrf": csrf, "source": ids["she-b"], "into": ids["she-a"]}
    )
    assert merged.status_code == 200 and "已合并" in merged.text and "没有发现重复的记录" in merged.text
    app.client.cookies.clear()
    _login(app, "auditor", "341022")
    read_only = app.client.get("/assets")
    assert "xn-a" in read_only.text and 'action="/assets/merge"' not in read_only.text
    assert 'id="add-form"' not in read_only.text
    assert 'id="register-form"' not in app.client.get(f"/assets/hosts/{ids['xn-a']}").text


# -- in a real browser -----------------------------------------------------------------------------
@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[CollectorProcess, str, str]]:
    collector = CollectorProcess(db_url, tmp_path)
    collector.cli("init", "--admin", "cityadmin", "--credentials-file", str(tmp_path / "creds"))
    collector.start()
    username, password = (tmp_path / "creds").read_text().split()
    yield collector, username, password
    collector.stop()


@pytest.mark.browser
def test_import_flow_in_the_browser(
    browser: Any, served: tuple[CollectorProcess, str, str], tmp_path: Path
) -> None:
    collector, username, password = served
    sheet = tmp_path / "歙县资产台账.xlsx"
    sheet.write_bytes(xlsx(sheet_rows()))
    page = browser.new_page(locale="zh-CN")
    page.goto(collector.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(collector.url + "/")
    page.click("nav >> text=资产登记")
    page.wait_for_url(collector.url + "/assets")
    assert page.locator("h1").inner_text() == "资产登记"

    page.set_input_files("#import-form input[name=file]", str(sheet))
    page.click("#import-preview")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "导入预览（尚未写入）"
    rows = page.locator("table.import-rows tbody tr")
    assert rows.count() == 10
    assert page.locator("tr.row.error").count() == 5
    assert "unknown unit" in page.locator("tr[data-row='6'] td.error").inner_text()
    assert page.locator("tr[data-row='2'] td.action").inner_text() == "新增"
    page.screenshot(path=str(tmp_path / "import-preview.png"), full_page=True)

    page.check("#skip-invalid")
    page.click("#import-apply")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "导入结果"
    assert page.locator("#done").inner_text() == "已导入。"
    assert page.locator("tr.row.create").count() == 5 and page.locator("tr.row.skipped").count() == 5

    page.click("tr.row.create >> nth=0 >> a")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("SX-PC-01")
    page.fill("#register-form input[name=owner]", "赵六")
    page.click("#register-save")
    page.wait_for_load_state()
    assert page.locator("#done").inner_text() == "已保存。"
    assert page.locator("#register-form input[name=owner]").input_value() == "赵六"

    page.goto(collector.url + "/assets")
    page.fill("#add-form input[name=hostname]", "同网卡的电脑")
    page.select_option("#add-form select[name=unit]", "341021")
    page.fill("#add-form input[name=mac]", "3c:52:82:0a:1b:2c")
    page.click("#add-submit")
    page.wait_for_load_state()
    assert page.locator("#done").inner_text() == "已添加。"
    page.goto(collector.url + "/assets#duplicates")
    group = page.locator("table.duplicates tr.dup")
    assert group.count() == 2
    page.click("table.duplicates form.merge button")
    page.wait_for_load_state()
    assert page.locator("#done").inner_text() == "已合并。"
    assert page.locator("table.duplicates").count() == 0
    page.close()
