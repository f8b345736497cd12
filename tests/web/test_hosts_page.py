"""The host list in a real headless Chromium (A9-G units, A9-M3.3 inventory): log in with a real
agent enrolled, see this machine with its unit, switch to English, log out."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import CollectorProcess, script

pytestmark = pytest.mark.browser


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[CollectorProcess, str, str]]:
    collector = CollectorProcess(db_url, tmp_path)
    collector.cli("init", "--admin", "cityadmin", "--credentials-file", str(tmp_path / "creds"))
    collector.start()
    secret = collector.cli("enroll-secret", "create", "--unit", "341000-JSZ", "--quiet").strip()
    config = str(tmp_path / "agent.toml")
    for args in (
        [
            "enroll",
            "--server",
            collector.url,
            "--secret",
            secret,
            "--insecure-http",
            "--data-dir",
            str(tmp_path / "agent"),
        ],
        ["run", "--once"],
    ):
        done = subprocess.run(
            [script("watchpost-agent"), "--config", config, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    username, password = (tmp_path / "creds").read_text().split()
    yield collector, username, password
    collector.stop()


def test_login_and_see_this_machine_under_its_unit(
    browser: Any, served: tuple[CollectorProcess, str, str], tmp_path: Path
) -> None:
    collector, username, password = served
    page = browser.new_page(locale="zh-CN")
    page.goto(collector.url + "/")
    assert page.url.endswith("/login")
    assert page.locator("h1").inner_text() == "登录"

    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.locator(".error").inner_text()

    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(collector.url + "/")
    assert page.locator("h1").inner_text() == "主机清单"
    hostname = socket.gethostname().split(".")[0]
    row = page.locator(f"tr.host[data-hostname='{hostname}']")
    assert row.count() == 1
    assert row.get_attribute("data-unit") == "341000-JSZ"
    assert "计算站" in row.locator("td.unit").inner_text()
    assert "在线" in row.inner_text()
    assert "GiB" in row.locator("td.memory").inner_text()
    # the unit filter offers the whole city tree: bureau, station, 7 districts (and "any")
    assert page.locator("select[name=unit] option").count() == 10
    page.screenshot(path=str(tmp_path / "hosts-zh.png"), full_page=True)

    page.click("#lang-switch")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Hosts"
    assert "Computing Station" in row.locator("td.unit").inner_text()
    page.goto(collector.url + "/")  # the choice sticks (cookie)
    assert page.locator("h1").inner_text() == "Hosts"

    page.click("text=Log out")
    page.wait_for_url(collector.url + "/login")
    page.goto(collector.url + "/")
    assert page.url.endswith("/login")
    page.close()
