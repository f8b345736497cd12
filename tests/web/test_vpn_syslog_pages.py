"""The page of VPN appliances' syslog (issue 6: A9-T2.3, A9-T1, A9-M3.4, A9-G): make a line
template from a sample line (suggest, edit, test, save), enable/disable/delete it, see what the
appliances sent and the receiver's counters. Forms carry the CSRF token; a district admin sees
and changes only its district's appliances.

The form tests run in-process on SQLite and PostgreSQL; the whole flow runs in a real headless
Chromium against a collector process, with the real `watchpost-collector syslog` receiving a
line from the appliance's address (127.0.0.2) once the template is saved."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from collector.db.models_vpn import SyslogTemplate
from tests.support.collector import CollectorUnderTest
from tests.support.collector import login as _login
from tests.support.postgres import free_port
from tests.support.processes import CollectorProcess, script

SAMPLE = "<86>Nov 27 10:01:02 sslvpn-she sslvpn[311]: 用户 张伟 从 198.18.2.9 登录成功"
ASSET = {"device_type": "vpn appliance", "vendor": "Sangfor"}


def _appliances(app: CollectorUnderTest) -> dict[str, int]:
    headers = app.admin_headers()
    made = {}
    for unit, name, ip in (("341021", "sslvpn-she", "127.0.0.2"), ("341022", "sslvpn-xiuning", "127.0.0.3")):
        body = {"hostname": name, "unit": unit, "ip_addresses": [ip], **ASSET}
        answer = app.client.post("/api/v1/assets", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        made[unit] = answer.json()["id"]
    return made


def test_the_page_needs_a_login_and_forms_need_the_csrf_token(app: CollectorUnderTest) -> None:
    assert app.client.get("/vpn/syslog", follow_redirects=False).headers["location"] == "/login"
    csrf = _login(app)
    page = app.client.get("/vpn/syslog")
    assert page.status_code == 200 and f'name="csrf" value="{csrf}"' in page.text
    refused = app.client.post(
        "/vpn/syslog/compose", data={"csrf": "wrong", "sample": SAMPLE, "action": "suggest"}
    )
    assert refused.status_code == 400 and "表单已过期" in refused.text


def test_a_district_admin_makes_tests_and_saves_a_template(app: CollectorUnderTest) -> None:
    ids = _appliances(app)
    csrf = _login(app, "district_admin", "341021")
    page = app.client.get("/vpn/syslog")
    assert "sslvpn-she" in page.text and "sslvpn-xiuning" not in page.text
    assert 'value="vendor:"' not in page.text  # vendor-wide templates are the city admins'
    form = {"csrf": csrf, "sample": SAMPLE, "user": "张伟", "action": "suggest"}
    suggested = app.client.post("/vpn/syslog/compose", data=form)
    assert suggested.status_code == 200 and "用户 {user} 从 {src_ip} 登录成功</textarea>" in suggested.text
    assert 'data-field="src_ip"><th>src_ip</th><td>198.18.2.9' in suggested.text
    bad = {**form, "action": "test", "template": "用户 {user} 从 {src_ip} 登录失败"}
    tested = app.client.post("/vpn/syslog/compose", data=bad)
    assert "模板与样例不匹配" in tested.text and "登录失败" in tested.text
    refused = app.client.post(
        "/vpn/syslog/compose", data={**bad, "action": "save", "name": "x", "target": f"host:{ids['341021']}"}
    )
    assert refused.status_code == 422 and "does not match the sample" in refused.text
    other = app.client.post(
        "/vpn/syslog/compose",
        data={
            **form,
            "action": "save",
            "name": "x",
            "template": "用户 {user} 从 {src_ip} 登录成功",
            "target": f"host:{ids['341022']}",
        },
    )
    assert other.status_code == 404 and "sslvpn-xiuning" not in other.text
    saved = app.client.post(
        "/vpn/syslog/compose",
        data={
            **form,
            "action": "save",
            "name": "深信服登录",
            "template": "用户 {user} 从 {src_ip} 登录成功",
            "target": f"host:{ids['341021']}",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"].startswith("/vpn/syslog?done=saved")
    listed = app.client.get(saved.headers["location"])
    assert "模板已保存" in listed.text and "深信服登录" in listed.text
    with app.sessions() as session:
        template = session.scalars(select(SyslogTemplate)).one()
    off = app.client.post(f"/vpn/syslog/templates/{template.id}", data={"csrf": csrf, "action": "disable"})
    assert "模板已停用" in off.text and 'class="template disabled"' in off.text
    gone = app.client.post(f"/vpn/syslog/templates/{template.id}", data={"csrf": csrf, "action": "delete"})
    assert "模板已删除" in gone.text and "深信服登录" not in gone.text
    _login(app, "auditor", "341021")
    read_only = app.client.get("/vpn/syslog")
    assert read_only.status_code == 200 and 'id="compose-form"' not in read_only.text


def test_the_receivers_counters_are_shown(
    app: CollectorUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats = tmp_path / "stats.json"
    monkeypatch.setenv("WATCHPOST_SYSLOG_STATS", str(stats))
    _login(app)
    assert 'id="no-receiver"' in app.client.get("/vpn/syslog").text
    stats.write_text(
        json.dumps(
            {
                "received": 42,
                "stored": 40,
                "unmatched": 2,
                "unknown_senders": {"198.18.77.1": 3},
                "written_at": "2026-11-27T10:00:00+00:00",
            }
        )
    )
    city = app.client.get("/vpn/syslog?lang=en")
    assert 'data-stat="received"><th>Messages received</th><td class="count">42' in city.text
    assert "198.18.77.1: 3" in city.text
    _login(app, "district_admin", "341021")
    assert "198.18.77.1" not in app.client.get("/vpn/syslog").text  # other units' senders


def test_lines_of_an_address_two_appliances_share_are_shown_as_ambiguous(
    app: CollectorUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review S4: the counter for everyone; the address to city-wide users and to the admins of
    an appliance that has it."""
    stats = tmp_path / "stats.json"
    monkeypatch.setenv("WATCHPOST_SYSLOG_STATS", str(stats))
    _appliances(app)  # 127.0.0.2 in 341021, 127.0.0.3 in 341022
    stats.write_text(
        json.dumps({"received": 9, "ambiguous": 7, "ambiguous_senders": {"127.0.0.2": 4, "127.0.0.3": 3}})
    )
    _login(app)
    city = app.client.get("/vpn/syslog?lang=en").text
    assert (
        'data-stat="ambiguous"><th>Not stored: sender address of several appliances</th><td class="count">7'
        in city
    )
    assert "127.0.0.2: 4" in city and "127.0.0.3: 3" in city
    _login(app, "district_admin", "341021")
    district = app.client.get("/vpn/syslog").text
    assert 'data-stat="ambiguous"' in district and "127.0.0.2: 4" in district
    assert "127.0.0.3: 3" not in district  # another unit's appliance


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


def _wait(condition: Any, what: str) -> None:
    end = time.monotonic() + 30
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"waited in vain for {what}")
        time.sleep(0.1)


@pytest.mark.browser
def test_a_district_admin_makes_a_template_and_the_appliances_logins_arrive(
    browser: Any, served: tuple[CollectorProcess, str, str], tmp_path: Path
) -> None:
    collector, username, password = served
    city_name, city_password = (tmp_path / "creds").read_text().split()
    token = httpx.post(
        collector.url + "/api/v1/auth/login", json={"username": city_name, "password": city_password}
    )
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    made = httpx.post(
        collector.url + "/api/v1/assets",
        headers=headers,
        json={"hostname": "sslvpn-she", "unit": "341021", "ip_addresses": ["127.0.0.2"], **ASSET},
    )
    assert made.status_code == 201, made.text
    port = free_port()
    receiver = subprocess.Popen(
        [script("watchpost-collector"), "syslog", "--udp", f"127.0.0.1:{port}", "--tcp", "off"],
        env=collector.env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page = browser.new_page(locale="zh-CN")
        page.goto(collector.url + "/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(collector.url + "/")

        page.goto(collector.url + "/vpn/syslog")
        assert page.locator("tr.appliance").count() == 1
        page.fill("#compose-form textarea[name=sample]", SAMPLE)
        page.fill("#compose-form input[name=user]", "张伟")
        page.click("#suggest")
        page.wait_for_load_state()
        assert page.input_value("#compose-form textarea[name=template]") == "用户 {user} 从 {src_ip} 登录成功"
        assert page.locator("#test-result tr[data-field='user'] td").inner_text() == "张伟"
        page.fill("#compose-form textarea[name=template]", "用户 {user} 从 {src_ip} 登陆成功")
        page.click("#test")
        page.wait_for_load_state()
        assert "part 5 of the template" in page.locator("#test-error").inner_text()
        page.fill("#compose-form textarea[name=template]", "用户 {user} 从 {src_ip} 登录成功")
        page.fill("#compose-form input[name=name]", "深信服 登录成功")
        page.click("#save")
        page.wait_for_load_state()
        assert page.locator("#done").inner_text() == "模板已保存。"
        row = page.locator("tr.template")
        assert row.count() == 1 and row.locator("td.matched").inner_text() == "0"

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # the appliance sends a login
            sock.bind(("127.0.0.2", 0))
            sock.sendto(
                "<86>Nov 27 10:01:02 sslvpn-she sslvpn[311]: 用户 李四 从 198.18.2.30 登录成功".encode("gbk"),
                ("127.0.0.1", port),
            )

        def arrived() -> bool:
            page.reload()
            return page.locator("tr.template td.matched").inner_text() == "1"

        _wait(arrived, "the appliance's login on the page")
        assert page.locator("tr.appliance td.success").inner_text() == "1"
        _wait(
            lambda: page.reload() or page.locator("#receiver tr[data-stat='stored'] td").count() == 1,
            "the receiver's counters",
        )
        page.screenshot(path=str(tmp_path / "vpn-syslog.png"), full_page=True)
        page.close()
    finally:
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=60)
    assert receiver.returncode == 0
