"""Administration pages in a real headless Chromium (issue 4, A9-G, A9-M3.5): a city admin
creates a district auditor (password shown once), the auditor sees the read-only notice,
the admin turns on two-step sign-in and logs in again with a code; the audit log shows it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.support.processes import CollectorProcess

pytestmark = pytest.mark.browser


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[CollectorProcess, str, str]]:
    collector = CollectorProcess(db_url, tmp_path)
    collector.cli("init", "--admin", "cityadmin", "--credentials-file", str(tmp_path / "creds"))
    collector.start()
    username, password = (tmp_path / "creds").read_text().split()
    yield collector, username, password
    collector.stop()


def _login(page: Any, url: str, username: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")


def _later_code(totp: pyotp.TOTP) -> str:
    """The next step's code (the current one was used to confirm; a code is accepted once)."""
    return totp.at(totp.timecode(datetime.now(UTC)) * 30 + 30)


def test_admin_creates_an_auditor_and_turns_on_two_step_sign_in(
    browser: Any, served: tuple[CollectorProcess, str, str], tmp_path: Path
) -> None:
    collector, username, password = served
    page = browser.new_page(locale="zh-CN")
    _login(page, collector.url, username, password)
    page.wait_for_url(collector.url + "/")

    page.goto(collector.url + "/admin")
    assert page.locator("h1").inner_text() == "系统管理"
    form = page.locator("#create-user")
    form.locator("input[name=username]").fill("she.auditor")
    form.locator("select[name=role]").select_option("auditor")
    form.locator("select[name=unit_codes]").select_option(["341021"])
    form.locator("button[type=submit]").click()
    assert page.locator("h1").inner_text() == "新密码"
    auditor_password = page.locator("#once-secret").inner_text().strip()
    assert len(auditor_password) >= 12
    page.screenshot(path=str(tmp_path / "admin-password-once.png"), full_page=True)

    # the auditor reads, with the read-only notice, and sees only their county
    other = browser.new_page(locale="zh-CN")
    _login(other, collector.url, "she.auditor", auditor_password)
    other.wait_for_url(collector.url + "/")
    other.goto(collector.url + "/admin")
    assert "只读" in other.locator("p.note").first.inner_text()
    assert other.locator("#create-user").count() == 0
    assert [u.get_attribute("data-unit") for u in other.locator(".unit-secrets").all()] == ["341021"]
    other.close()

    # two-step sign-in: start, scan (read the key), confirm with a code
    page.goto(collector.url + "/account")
    page.click("#totp-start button")
    secret = page.locator("#totp-secret").inner_text().strip()
    assert page.locator("#totp-uri").inner_text().startswith("otpauth://totp/Watchpost:cityadmin")
    totp = pyotp.TOTP(secret)
    page.fill("#totp-confirm input[name=code]", totp.now())
    page.click("#totp-confirm button")
    assert "两步验证已开启" in page.locator("p.done").inner_text()

    page.click("text=退出登录")
    page.wait_for_url(collector.url + "/login")
    _login(page, collector.url, username, password)
    assert page.locator("h1").inner_text() == "两步验证"
    page.fill("input[name=code]", _later_code(totp))
    page.click("main button[type=submit]")
    page.wait_for_url(collector.url + "/")

    page.goto(collector.url + "/admin/audit?action=totp.")
    actions = [row.get_attribute("data-action") for row in page.locator("tr.entry").all()]
    assert actions == ["totp.enable", "totp.enrol_start"]  # newest first
    page.screenshot(path=str(tmp_path / "audit.png"), full_page=True)
    page.close()
