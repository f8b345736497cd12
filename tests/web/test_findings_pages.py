"""The findings pages and the inbox (issue 5; A9-M3.5, P-16, A9-G): filters, bulk actions, the
transition forms, the inbox and its badge in the page header. Forms carry the CSRF token; a
district admin sees only their district.

The form tests run in-process on SQLite and PostgreSQL; the whole flow (filter, bulk assign, a
district admin's claim, an inspector's verification) runs in a real headless Chromium against
a collector process."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from collector.db.engine import make_engine, make_sessionmaker
from collector.db.models import Host, Unit
from collector.db.models_policy import Finding
from collector.policy.meta import CheckMeta
from collector.services import findings
from collector.services.auth import create_user, generate_password
from tests.support.collector import CollectorUnderTest
from tests.support.processes import CollectorProcess

AV = CheckMeta(
    "antivirus.enabled", "antivirus", "防病毒软件未启用", "Antivirus not enabled", "high", "antivirus", 7
)
FW = CheckMeta("security_config.firewall_on", "security_config", "防火墙未开启", "Firewall off", "critical",
               "security_config", 7)  # fmt: skip
USB = CheckMeta("security_config.usb_storage_off", "security_config", "允许使用U盘", "USB storage allowed", "medium",
                "security_config", 14)  # fmt: skip


def _login(app: CollectorUnderTest, name: str, role: str = "city_admin", unit: str = "341000") -> str:
    """Log the test client in (session cookie); returns the session's CSRF token."""
    app.client.cookies.clear()
    password = app.add_user(name, role, unit) if name not in _known else _known[name]
    _known[name] = password
    answer = app.client.post("/api/v1/auth/login", json={"username": name, "password": password})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["csrf_token"])


_known: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    _known.clear()
    yield
    _known.clear()


def _fail(sessions: Any, unit: str, hostname: str, check: CheckMeta, at: datetime | None = None) -> int:
    with sessions() as session:
        unit_id = session.scalar(select(Unit.id).where(Unit.code == unit))
        host = Host(agent_id=uuid.uuid4(), unit_id=unit_id, hostname=hostname)
        session.add(host)
        session.flush()
        found = findings.on_result(
            session,
            host=host,
            check=check,
            status="fail",
            evidence=[{"path": "enabled", "op": "eq", "expected": True, "actual": False}],
            at=at or datetime.now(UTC),
        )
        assert found is not None
        session.commit()
        return found.id


def test_the_list_needs_a_login_filters_and_shows_the_inbox_badge(app: CollectorUnderTest) -> None:
    assert app.client.get("/findings", follow_redirects=False).headers["location"] == "/login"
    _login(app, "cityboss")
    a = _fail(app.sessions, "341021", "she-pc-01", AV)
    b = _fail(app.sessions, "341022", "xn-pc-01", FW, datetime.now(UTC) - timedelta(days=20))
    _fail(app.sessions, "341021", "she-pc-02", USB)
    page = app.client.get("/findings")
    assert page.status_code == 200 and page.text.count('class="finding') == 3
    assert re.search(r'id="inbox-unread">2<', page.text)  # high and critical reach the inbox
    assert 'name="ids"' in page.text and 'form="bulk-form"' in page.text
    high = app.client.get("/findings", params={"severity": "high"})
    assert f'data-id="{a}"' in high.text and f'data-id="{b}"' not in high.text
    late = app.client.get("/findings", params={"overdue": "true"})
    assert f'data-id="{b}"' in late.text and "已逾期" in late.text and f'data-id="{a}"' not in late.text
    assert "筛选条件有误" in app.client.get("/findings", params={"status": "bogus"}).text
    english = app.client.get("/findings", params={"lang": "en", "unit": "341021"})
    assert "Findings and rectification" in english.text and english.text.count('class="finding') == 2
    _login(app, "sheadmin", "district_admin", "341021")
    mine = app.client.get("/findings").text
    assert "xn-pc-01" not in mine and "she-pc-01" in mine and "休宁" not in mine
    assert app.client.get(f"/findings/{b}").status_code == 404


def test_bulk_form_needs_the_csrf_token_and_is_all_or_nothing(app: CollectorUnderTest) -> None:
    csrf = _login(app, "cityboss")
    ids = [_fail(app.sessions, "341021", f"she-pc-{n}", AV) for n in range(3)]
    app.client.post(f"/findings/{ids[2]}", data={"csrf": csrf, "action": "close", "note": "误报"})
    refused = app.client.post(
        "/findings/bulk", data={"csrf": "wrong", "action": "close", "ids": ids, "note": "x"}
    )
    assert refused.status_code == 400 and "表单已过期" in refused.text
    form = {"csrf": csrf, "action": "assign", "ids": [str(i) for i in ids], "assignee_id": _user_id(app, "cityboss"),
            "back": "severity=high"}  # fmt: skip
    rejected = app.client.post("/findings/bulk", data=form)
    assert (
        rejected.status_code == 422
        and f'data-id="{ids[2]}"' in rejected.text
        and "bad_transition" in rejected.text
    )
    done = app.client.post(
        "/findings/bulk", data={**form, "ids": [str(i) for i in ids[:2]]}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/findings?severity=high&done=bulk_assign"
    assert "已批量指派。" in app.client.get(done.headers["location"]).text
    with app.sessions() as session:
        statuses = session.scalars(
            select(Finding.status).where(Finding.id.in_(ids)).order_by(Finding.id)
        ).all()
    assert statuses == ["assigned", "assigned", "closed"]


def _user_id(app: CollectorUnderTest, name: str) -> str:
    from collector.db.models import User

    with app.sessions() as session:
        return str(session.scalar(select(User.id).where(User.username == name)))


def test_the_detail_page_shows_the_forms_each_role_may_use(app: CollectorUnderTest) -> None:
    fid = _fail(app.sessions, "341021", "she-pc-01", AV)
    csrf = _login(app, "sheadmin", "district_admin", "341021")
    page = app.client.get(f"/findings/{fid}").text
    assert all(f'id="{form}"' in page for form in ("assign-form", "claim-form", "exempt-form", "close-form"))
    assert 'id="verify-form"' not in page and "enabled" in page and "发现问题" in page
    assert (
        app.client.post(f"/findings/{fid}", data={"csrf": csrf, "action": "claim", "note": ""}).status_code
        == 422
    )
    claimed = app.client.post(
        f"/findings/{fid}", data={"csrf": csrf, "action": "claim", "note": "已开启实时防护"}
    )
    assert "已提交整改，等待核验。" in claimed.text and 'data-status="rectified"' in claimed.text
    assert 'id="verify-form"' in claimed.text  # admins verify too, though not their own claim
    own = app.client.post(f"/findings/{fid}", data={"csrf": csrf, "action": "verify", "accept": "yes"})
    assert own.status_code == 409 and "cannot verify" in own.text

    _login(app, "sheauditor", "auditor", "341021")
    read_only = app.client.get(f"/findings/{fid}").text
    assert 'id="actions"' not in read_only and "已开启实时防护" in read_only
    csrf = _login(app, "sheinspector", "inspector", "341021")
    inspector = app.client.get(f"/findings/{fid}").text
    assert 'id="verify-form"' in inspector and 'id="claim-form"' not in inspector
    refused = app.client.post(f"/findings/{fid}", data={"csrf": csrf, "action": "close", "note": "x"})
    assert refused.status_code == 403
    verified = app.client.post(f"/findings/{fid}", data={"csrf": csrf, "action": "verify", "accept": "yes"})
    assert 'data-status="verified"' in verified.text and "sheinspector" in verified.text


def test_the_inbox_page_lists_and_marks_items(app: CollectorUnderTest) -> None:
    csrf = _login(app, "sheadmin", "district_admin", "341021")
    first = _fail(app.sessions, "341021", "she-pc-01", AV)
    _fail(app.sessions, "341021", "she-pc-02", FW)
    page = app.client.get("/inbox").text
    assert page.count('class="item unread"') == 2 and "新发现问题（严重）：she-pc-02" in page
    app.client.get(f"/findings/{first}")  # opening the finding reads its item
    page = app.client.get("/inbox").text
    assert page.count('class="item unread"') == 1 and 'id="inbox-unread">1<' in page
    assert app.client.post("/inbox", data={"csrf": "bad"}).status_code == 400
    app.client.post("/inbox", data={"csrf": csrf})
    page = app.client.get("/inbox?unread=1").text
    assert 'id="empty"' in page and 'id="inbox-unread"' not in page


# -- in a real browser -----------------------------------------------------------------------------
@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[CollectorProcess, dict[str, str], list[int]]]:
    collector = CollectorProcess(db_url, tmp_path)
    collector.cli("init", "--admin", "cityadmin", "--credentials-file", str(tmp_path / "creds"))
    username, password = (tmp_path / "creds").read_text().split()
    accounts = {username: password}
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        for name, role in (("she.admin", "district_admin"), ("she.inspector", "inspector")):
            accounts[name] = generate_password()
            create_user(session, name, accounts[name], role=role, unit_code="341021", display_name=name)
        session.commit()
    ids = [_fail(sessions, "341021", "she-pc-01", AV), _fail(sessions, "341021", "she-pc-02", AV),
           _fail(sessions, "341021", "she-pc-03", USB)]  # fmt: skip
    engine.dispose()
    collector.start()
    yield collector, accounts, ids
    collector.stop()


def _sign_in(browser: Any, url: str, name: str, password: str) -> Any:
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(url + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    return page


@pytest.mark.browser
def test_filter_bulk_assign_claim_and_verify_in_the_browser(
    browser: Any, served: tuple[CollectorProcess, dict[str, str], list[int]], tmp_path: Path
) -> None:
    collector, accounts, ids = served
    url = collector.url
    page = _sign_in(browser, url, "cityadmin", accounts["cityadmin"])
    page.click("nav >> text=问题整改")
    page.wait_for_url(url + "/findings")
    assert page.locator("#total").get_attribute("data-total") == "3"
    page.select_option("#finding-filters select[name=severity]", "high")
    page.click("#filter-apply")
    page.wait_for_load_state()
    assert page.locator("#total").get_attribute("data-total") == "2"
    for finding_id in ids[:2]:
        page.check(f"tr[data-id='{finding_id}'] input[name=ids]")
    page.select_option("#bulk-action", "assign")
    page.select_option("#bulk-assignee", label="she.admin")
    page.click("#bulk-submit")
    page.wait_for_load_state()
    assert page.locator("#done").inner_text() == "已批量指派。"
    assert page.locator("tr.finding td.assignee").all_inner_texts() == ["she.admin", "she.admin"]
    page.screenshot(path=str(tmp_path / "findings-list.png"), full_page=True)
    page.context.close()

    page = _sign_in(browser, url, "she.admin", accounts["she.admin"])
    assert int(page.locator("#inbox-unread").inner_text()) >= 2
    page.click("#inbox-link")
    page.wait_for_url(url + "/inbox")
    page.click(f"tr.item[data-kind='finding_assigned'] a[href='/findings/{ids[0]}']")
    page.wait_for_url(url + f"/findings/{ids[0]}")
    page.fill("#claim-form input[name=note]", "已重新安装并开启实时防护")
    page.click("#claim-form button")
    page.wait_for_load_state()
    assert page.locator("#done").inner_text() == "已提交整改，等待核验。"
    assert page.locator("#status").get_attribute("data-status") == "rectified"
    page.context.close()

    page = _sign_in(browser, url, "she.inspector", accounts["she.inspector"])
    page.goto(url + "/inbox")
    page.click(f"tr.item[data-kind='claim_pending'] a[href='/findings/{ids[0]}']")
    page.wait_for_url(url + f"/findings/{ids[0]}")
    assert "已重新安装并开启实时防护" in page.locator("#timeline").inner_text()
    page.fill("#verify-form input[name=note]", "现场核实")
    page.click("#verify-accept")
    page.wait_for_load_state()
    assert page.locator("#done").inner_text() == "已处理核验。"
    assert page.locator("#status").get_attribute("data-status") == "verified"
    assert page.locator("tr.event[data-action='verified'] td.who").inner_text() == "she.inspector"
    page.screenshot(path=str(tmp_path / "finding-verified.png"), full_page=True)
    page.context.close()
