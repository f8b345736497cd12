"""The VPN register pages (issue 6: A9-T2.1 manage VPN users, A9-T2.3 zombie users): the register
with filters, per-unit summary and zombie reasons in words; the staff roster with its import;
an appliance's page with the import of its user list (preview, then apply). Forms carry the
CSRF token; a district admin sees only their district (A9-G); a password column of an
appliance's export never comes back in the page.

The form tests run in-process on SQLite and PostgreSQL; the whole flow runs in a real headless
Chromium against a collector process, as a district admin."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from collector.db.models import Host
from collector.db.models_vpn import StaffMember, VpnAccount
from tests.support.collector import CollectorUnderTest
from tests.support.collector import login as _login
from tests.support.processes import CollectorProcess

SECRET = "Sangfor@2021"
USERS = "用户名,显示名,所属组,状态,密码,最后登录时间\r\n" + (
    f"zhangwei,张伟,/默认组,启用,{SECRET},2026-11-20 08:15:03\r\n"
    "lina,李娜,/默认组,锁定,lina@123,2025-01-01 09:00:00\r\n"
)


def roster(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "单位", "工号", "状态", "离职日期", "VPN账号"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _appliance(app: CollectorUnderTest, unit: str, name: str) -> int:
    body = {"hostname": name, "unit": unit, "device_type": "vpn appliance", "vendor": "深信服"}
    answer = app.client.post("/api/v1/assets", json=body, headers=app.admin_headers())
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_pages_need_a_login_and_forms_the_csrf_token(app: CollectorUnderTest) -> None:
    for url in ("/vpn", "/vpn/staff", "/vpn/appliances/1"):
        assert app.client.get(url, follow_redirects=False).headers["location"] == "/login"
    csrf = _login(app)
    page = app.client.get("/vpn")
    assert page.status_code == 200 and 'href="/vpn/syslog"' in page.text and "VPN 账号台账" in page.text
    staff = app.client.get("/vpn/staff")
    assert f'name="csrf" value="{csrf}"' in staff.text
    refused = app.client.post("/vpn/staff/import", data={"csrf": "wrong"}, files={"file": ("a.xlsx", b"x")})
    assert refused.status_code == 400 and "表单已过期" in refused.text
    bad = app.client.get("/vpn", params={"weak": "maybe"})
    assert bad.status_code == 422 and "weak" in bad.text


def test_roster_and_user_list_imports_through_the_pages(app: CollectorUnderTest) -> None:
    """A9-T2.1/A9-T2.3: preview, apply; the page keeps no password column between the two."""
    host_id = _appliance(app, "341021", "she-sangfor")
    csrf = _login(app, "district_admin", "341021")
    data = roster(
        [
            ["张伟", "341021", "A1", "在职", "", "zhangwei"],
            ["李娜", "歙县统计局", "", "离职", "2026-03-01", ""],
        ]
    )
    preview = app.client.post("/vpn/staff/import", data={"csrf": csrf}, files={"file": ("名单.xlsx", data)})
    assert preview.status_code == 200 and "导入预览（尚未写入）" in preview.text
    payload = re.search(r'name="payload" value="([^"]+)"', preview.text)
    assert payload is not None
    applied = app.client.post("/vpn/staff/import", data={"csrf": csrf, "action": "apply", "payload": payload[1],
                                                         "filename": "名单.xlsx"})  # fmt: skip
    assert "已导入" in applied.text
    with app.sessions() as session:
        assert sorted(session.scalars(select(StaffMember.name))) == ["张伟", "李娜"]

    files = {"file": ("users.csv", USERS.encode("gbk"))}
    preview = app.client.post(f"/vpn/appliances/{host_id}/import", data={"csrf": csrf}, files=files)
    assert preview.status_code == 200, preview.text
    assert "column &#39;密码&#39; ignored: it holds passwords" in preview.text
    assert SECRET not in preview.text
    payload = re.search(r'name="payload" value="([^"]+)"', preview.text)
    assert payload is not None
    kept = base64.b64decode(payload[1]).decode()
    assert SECRET not in kept and "lina@123" not in kept and "zhangwei" in kept
    applied = app.client.post(f"/vpn/appliances/{host_id}/import", data={"csrf": csrf, "action": "apply",
                                                                          "payload": payload[1]})  # fmt: skip
    assert "已导入" in applied.text
    with app.sessions() as session:
        assert sorted(session.scalars(select(VpnAccount.account))) == ["lina", "zhangwei"]
    page = app.client.get(f"/vpn/appliances/{host_id}")
    lina = re.search(r'<tr class="account zombie[^"]*" data-account="lina".*?</tr>', page.text, re.S)
    assert (
        lina is not None
        and "使用人已离职" in lina[0]
        and "超过90天未登录" in lina[0]
        and "已锁定或禁用但未删除" in lina[0]
    )
    assert f'href="/findings?category=vpn&amp;host={host_id}"' in page.text


def test_a_district_admin_sees_only_their_district(app: CollectorUnderTest) -> None:
    _appliance(app, "341021", "she-sangfor")
    theirs = _appliance(app, "341022", "xiuning-usg")
    with app.sessions() as session:
        unit_id = session.get_one(Host, theirs).unit_id
        session.add(VpnAccount(host_id=theirs, unit_id=unit_id, source="import", server="xiuning-usg",
                               account="xiuning-admin", reasons=[]))  # fmt: skip
        session.commit()
    _login(app, "district_admin", "341021")
    page = app.client.get("/vpn")
    assert "xiuning" not in page.text and "休宁" not in page.text and "she-sangfor" in page.text
    out = app.client.get(f"/vpn/appliances/{theirs}")
    missing = app.client.get("/vpn/appliances/2000000000")
    assert out.status_code == missing.status_code == 404
    assert out.text.replace(f"/{theirs}?", "/<id>?") == missing.text.replace("/2000000000?", "/<id>?")


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
def test_a_district_admin_cleans_up_vpn_accounts_in_the_browser(
    browser: Any, served: tuple[CollectorProcess, str, str], tmp_path: Path
) -> None:
    collector, username, password = served
    with httpx.Client(base_url=collector.url) as api:
        token = api.post("/api/v1/auth/login", json={"username": username, "password": password}).json()[
            "token"
        ]
        body = {
            "hostname": "she-sangfor",
            "unit": "341021",
            "device_type": "vpn appliance",
            "vendor": "深信服",
        }
        made = api.post("/api/v1/assets", json=body, headers={"Authorization": f"Bearer {token}"})
        assert made.status_code == 201, made.text
        host_id = made.json()["id"]
    names = tmp_path / "人员名单.xlsx"
    names.write_bytes(roster([["张伟", "341021", "A1", "在职", "", "zhangwei"], ["李娜", "341021", "", "离职", "", ""],
                              ["王五", "341099", "", "在职", "", ""]]))  # fmt: skip
    users = tmp_path / "sangfor-users.csv"
    users.write_bytes(USERS.encode("gbk"))

    page = browser.new_page(locale="zh-CN")
    page.goto(collector.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(collector.url + "/")

    page.goto(collector.url + "/vpn/staff")
    page.set_input_files("#import-form input[name=file]", str(names))
    page.click("#import-preview")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "导入预览（尚未写入）"
    assert "unknown unit" in page.locator("tr[data-row='4'] td.error").inner_text()
    page.check("#skip-invalid")
    page.click("#import-apply")
    page.wait_for_load_state()
    assert page.locator("#done").inner_text().startswith("已导入")
    page.click("#back")
    page.wait_for_load_state()
    assert page.locator("tr.person").count() == 2

    page.goto(f"{collector.url}/vpn/appliances/{host_id}")
    page.set_input_files("#import-form input[name=file]", str(users))
    page.click("#import-preview")
    page.wait_for_load_state()
    assert "it holds passwords" in page.locator("#ignored").inner_text()
    assert SECRET not in page.content()
    page.screenshot(path=str(tmp_path / "vpn-import-preview.png"), full_page=True)
    page.click("#import-apply")
    page.wait_for_load_state()
    page.click("#back")
    page.wait_for_load_state()
    assert page.locator("tr.account").count() == 2

    page.goto(collector.url + "/vpn")
    assert page.locator("tr[data-unit='341021'] td.zombie").inner_text() == "1"
    page.select_option("#f-zombie", "yes")
    page.click("#filter-submit")
    page.wait_for_load_state()
    assert page.locator("tr.account").count() == 1
    reasons = page.locator("tr[data-account='lina'] td.zombie").inner_text()
    assert "使用人已离职" in reasons and "已锁定或禁用但未删除" in reasons
    page.screenshot(path=str(tmp_path / "vpn-register.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#export-xlsx")
    sheet = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][4] == "账号" and [r[4] for r in rows[1:]] == ["lina"]
    page.close()
