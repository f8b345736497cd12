"""The compliance and policy pages (issue 5; A9-T3.4, A9-M3.5, P-16, A9-G).

A real report from an enrolled host gives results on the host's compliance tab and the
overview; a city admin uploads a new version of a shipped pack (version bumped, a threshold
changed), sees its difference, applies it and the result changes; a district admin overrides a
threshold for their county and sees nothing of another county; the English pages show the
English titles. The form tests run in-process on SQLite and PostgreSQL; the flows run in a real
headless Chromium against a collector process.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from sqlalchemy import select

from collector.db.engine import make_engine, make_sessionmaker
from collector.db.models import AuditLog, Host
from collector.db.models_policy import CheckResult, PolicyOverride, PolicyPack
from collector.services.auth import create_user, generate_password
from collector.services.enrollment import create_enroll_secret
from collector.web.policies_view import evidence_lines, parse_param
from tests.support.collector import SAMPLE_REPORT, CollectorUnderTest, make_report, node_auth
from tests.support.processes import CollectorProcess

ROOT = Path(__file__).resolve().parents[2]
SHE, XIUNING = "341021", "341022"
CHECK = "antivirus.signatures_fresh"
_EXAMPLE_SECTIONS = (
    "accounts",
    "security_config",
    "software",
    "patches",
    "licensing",
    "log_settings",
    "network_exposure",
)


def _section(name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = (
        data
        if data is not None
        else yaml.safe_load((ROOT / "policies" / "examples" / f"{name}.yaml").read_text())
    )
    return {"status": "ok", "content_hash": "", "data": doc, "errors": [], "reason": "", "duration_ms": 1}


def sections(signature_age_days: int = 10) -> dict[str, Any]:
    """The captured Debian report plus the example documents of the other sections, with
    Defender signatures ``signature_age_days`` old (the default threshold is 7 days)."""
    out = copy.deepcopy(SAMPLE_REPORT["sections"])
    for name in _EXAMPLE_SECTIONS:
        out[name] = _section(name)
    antivirus = yaml.safe_load((ROOT / "policies" / "examples" / "antivirus.yaml").read_text())
    stamp = (datetime.now(UTC) - timedelta(days=signature_age_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    antivirus["products"][0].update(signature_date=stamp, last_signature_update=stamp)
    out["antivirus"] = _section("antivirus", antivirus)
    return out


def bumped_pack(default_days: int = 14) -> str:
    """The shipped antivirus pack, one version up, with another signature age threshold."""
    text = (ROOT / "policies" / "packs" / "antivirus.yaml").read_text(encoding="utf-8")
    version = int(yaml.safe_load(text)["version"])
    text = re.sub(r"(?m)^version: \d+$", f"version: {version + 1}", text, count=1)
    text, n = re.subn(
        r"(max_signature_age_days:\n(?:[ \t]+.*\n)*?[ \t]+default: )\d+",
        rf"\g<1>{default_days}",
        text,
        count=1,
    )
    assert n == 1
    return text


# -- pure: evidence as text -------------------------------------------------------------------------
def test_evidence_reads_as_field_condition_expected_and_actual() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    lines = evidence_lines(
        [
            {"path": "screen_lock.timeout_seconds", "op": "le", "expected": 600, "actual": 900},
            {"path": "last_update_at", "op": "within_days", "expected": 30, "actual": "2024-03-13T02:11:40Z"},
            {"path": "pending_count", "op": "is_null", "expected": False, "actual": None},
            {"path": "products", "op": "some", "actual": 0},
            {
                "path": "administrators",
                "item": {"name": "AzureAD\\Bob", "sid": "S-1-12-1"},
                "facts": [
                    {
                        "path": "administrators[].sid",
                        "op": "matches",
                        "expected": ["^S-1-5-21-.*-500$"],
                        "actual": "S-1-12-1",
                    }
                ],
            },
            {"path": "software", "more_items": 3},
            {"path": "ports", "op": "count le", "expected": 0, "actual": 2, "items": [{"name": "rdp"}, 3389]},
            {"section": "patches", "problem": "missing", "detail": "the host never reported it"},
            {"disabled": True},
        ],
        zone,
    )
    assert [line.kind for line in lines] == [
        "compare",
        "compare",
        "compare",
        "compare",
        "item",
        "more",
        "compare",
        "section_missing",
        "disabled",
    ]
    assert (lines[0].op, lines[0].expected, lines[0].actual) == ("le", "600", "900")
    assert lines[1].actual == "2024-03-13 10:11"  # UTC shown in Beijing time
    assert (lines[2].op, lines[2].expected, lines[2].actual) == ("is_null.false", "", "—")
    assert not lines[3].show_actual
    assert (
        lines[4].item == "AzureAD\\Bob (sid: S-1-12-1)"
        and lines[4].children[0].expected == "^S-1-5-21-.*-500$"
    )
    assert (lines[6].op, lines[6].items) == ("count.le", ["rdp", "3389"])
    assert lines[7].path == "patches"


def test_parameters_are_read_from_the_form_by_their_type() -> None:
    assert parse_param(" 30 ", "int") == 30 and parse_param("0.5", "float") == 0.5
    assert parse_param("false", "bool") is False
    assert parse_param("a\nb，c\n\n", "str_list") == ["a", "b", "c"]
    for text, kind in (("3.5", "int"), ("nan", "float"), ("perhaps", "bool")):
        with pytest.raises(ValueError):
            parse_param(text, kind)


# -- in-process, both databases -----------------------------------------------------------------------
Login = Callable[..., str]


@pytest.fixture
def login(app: CollectorUnderTest) -> Login:
    """``login(role, unit)``: the test client logged in as such a user; returns the CSRF token."""
    passwords: dict[str, str] = {}

    def log_in(role: str = "city_admin", unit: str = "341000") -> str:
        app.client.cookies.clear()
        name = f"{role.replace('_', '')}{unit.replace('-', '')}"
        if name not in passwords:
            passwords[name] = app.add_user(name, role, unit)
        answer = app.client.post("/api/v1/auth/login", json={"username": name, "password": passwords[name]})
        assert answer.status_code == 200
        return str(answer.json()["csrf_token"])

    return log_in


def _host(app: CollectorUnderTest, unit: str, hostname: str, signature_age_days: int = 10) -> int:
    agent_id, key = app.enroll(unit, hostname)
    report = make_report(agent_id, hostname=hostname, sections=sections(signature_age_days))
    answer = app.client.post("/api/v1/reports", json=report, headers=node_auth(key))
    assert answer.status_code == 200, answer.text
    with app.sessions() as session:
        return session.scalars(select(Host.id).where(Host.hostname == hostname)).one()


def _status(app: CollectorUnderTest, host_id: int, check: str = CHECK) -> str:
    with app.sessions() as session:
        return session.get_one(CheckResult, (host_id, check)).status


def test_pages_need_a_login_and_forms_need_the_csrf_token(app: CollectorUnderTest, login: Login) -> None:
    for path in (
        "/compliance",
        f"/compliance/checks/{CHECK}",
        "/hosts/1/compliance",
        "/policies",
        f"/policies/units/{SHE}",
        "/policies/packs/antivirus/1",
    ):
        assert app.client.get(path, follow_redirects=False).headers["location"] == "/login"
    csrf = login()
    refused = app.client.post("/policies/upload", data={"csrf": "wrong", "text": bumped_pack()})
    assert refused.status_code == 400 and "表单已过期" in refused.text
    assert (
        app.client.post(f"/policies/units/{SHE}", data={"check:antivirus.present": "off"}).status_code == 400
    )
    assert app.client.post("/policies/packs/antivirus/1/apply", data={"csrf": ""}).status_code == 400
    with app.sessions() as session:
        assert session.scalars(select(PolicyPack.status).where(PolicyPack.name == "antivirus")).all() == [
            "active"
        ]
        assert session.scalars(select(PolicyOverride)).all() == []
    assert f'name="csrf" value="{csrf}"' in app.client.get("/policies").text


def test_a_report_shows_on_the_host_tab_the_overview_and_the_check_page(
    app: CollectorUnderTest, login: Login
) -> None:
    host_id = _host(app, SHE, "she-1")
    login()
    tab = app.client.get(f"/hosts/{host_id}/compliance")
    assert tab.status_code == 200
    rows = re.findall(r'<tr class="result st-(\w+)" data-check="([^"]+)"', tab.text)
    statuses = [s for s, _c in rows]
    assert statuses == sorted(
        statuses, key=["fail", "error", "pass", "not_applicable"].index
    )  # failures first
    assert ("fail", CHECK) in rows and ("pass", "antivirus.present") in rows
    assert re.search(r'href="/findings/\d+"', tab.text)  # the finding the failure opened
    assert f'href="/hosts/{host_id}/compliance/{CHECK}"' in tab.text
    assert "病毒库及时更新" in tab.text and "screen_lock.timeout_seconds" in tab.text

    history = app.client.get(f"/hosts/{host_id}/compliance/{CHECK}")
    assert history.status_code == 200 and history.text.count('<tr class="change"') == 1

    overview = app.client.get("/compliance")
    unit_row = re.search(rf'<tr class="unit[^"]*" data-unit="{SHE}">(.*?)</tr>', overview.text, re.S)
    assert unit_row is not None
    cells = re.findall(r'<td class="num[^"]*">(?:<a[^>]*>)?(\d+)', unit_row[1])
    assert cells[:2] == ["1", "1"]  # one host, failing
    assert f'href="/compliance/checks/{CHECK}"' in overview.text

    filtered = app.client.get(f"/compliance?unit={SHE}")
    assert filtered.status_code == 200 and 'id="unit-filter"' in filtered.text
    assert app.client.get("/compliance?unit=999999").status_code == 404

    check = app.client.get(f"/compliance/checks/{CHECK}")
    assert check.status_code == 200 and "max_signature_age_days" in check.text
    assert f'href="/hosts/{host_id}/compliance"' in check.text and "不合规始于" in check.text
    assert "Signatures are fresh" in check.text  # the English text beside the Chinese one
    assert app.client.get("/compliance/checks/no.such_check").status_code == 404
    assert app.client.get("/hosts/99999/compliance").status_code == 404
    assert app.client.get(f"/hosts/{host_id}").text.count(f'href="/hosts/{host_id}/compliance"') == 1


def test_only_a_city_admin_uploads_and_applies_a_pack(app: CollectorUnderTest, login: Login) -> None:
    host_id = _host(app, SHE, "she-1")
    for role, unit in (("district_admin", SHE), ("auditor", "341000")):
        csrf = login(role, unit)
        page = app.client.get("/policies")
        assert page.status_code == 200 and 'id="upload-form"' not in page.text and "antivirus" in page.text
        refused = app.client.post("/policies/upload", data={"csrf": csrf, "text": bumped_pack()})
        assert refused.status_code == 403 and "只有市局管理员" in refused.text

    csrf = login()
    bad = app.client.post("/policies/upload", data={"csrf": csrf, "text": "pack: antivirus\nversion: 9\n"})
    assert bad.status_code == 422 and "校验未通过" in bad.text
    assert re.findall(r"<li>(title|description|checks): Field required</li>", bad.text) == [
        "title",
        "description",
        "checks",
    ]
    staged = app.client.post(
        "/policies/upload",
        data={"csrf": csrf},
        files={"file": ("antivirus.yaml", bumped_pack().encode())},
        follow_redirects=False,
    )
    assert staged.status_code == 303
    review = app.client.get(staged.headers["location"])
    assert 'id="apply-form"' in review.text and '<td class="to">14</td>' in review.text
    assert _status(app, host_id) == "fail"  # nothing applies before the confirmation

    login("district_admin", SHE)
    version = staged.headers["location"].rsplit("/", 1)[1]
    assert 'id="apply-form"' not in app.client.get(staged.headers["location"]).text
    csrf_district = login("district_admin", SHE)
    assert (
        app.client.post(
            f"/policies/packs/antivirus/{version}/apply", data={"csrf": csrf_district}
        ).status_code
        == 403
    )
    csrf = login()
    applied = app.client.post(f"/policies/packs/antivirus/{version}/apply", data={"csrf": csrf})
    assert applied.status_code == 200 and 'data-changed="1"' in applied.text
    assert _status(app, host_id) == "pass"
    again = app.client.post(f"/policies/packs/antivirus/{version}/apply", data={"csrf": csrf})
    assert again.status_code == 422 and "not pending" in again.text
    with app.sessions() as session:
        actions = session.scalars(
            select(AuditLog.action).where(AuditLog.action.like("policy.%")).order_by(AuditLog.id)
        ).all()
    assert actions == ["policy.upload", "policy.apply"]


def test_overrides_show_errors_beside_the_field_and_read_only_roles_cannot_save(
    app: CollectorUnderTest, login: Login
) -> None:
    she, xiuning = _host(app, SHE, "she-1"), _host(app, XIUNING, "xn-1")
    csrf = login("district_admin", SHE)
    field = "param:antivirus:max_signature_age_days"
    wrong = app.client.post(
        f"/policies/units/{SHE}", data={"csrf": csrf, field: "1000", "check:antivirus.present": "off"}
    )
    assert wrong.status_code == 422
    assert re.search(r'id="error-antivirus-max_signature_age_days">[^<]*above the maximum 90', wrong.text)
    assert 'value="1000"' in wrong.text  # the submitted value is kept
    saved = app.client.post(
        f"/policies/units/{SHE}", data={"csrf": csrf, field: "30"}, follow_redirects=False
    )
    assert saved.status_code == 303 and "done=saved" in saved.headers["location"]
    assert (_status(app, she), _status(app, xiuning)) == ("pass", "fail")
    page = app.client.get(saved.headers["location"])
    assert f'name="{field}" value="30"' in page.text and "已保存" in page.text
    unchanged = app.client.post(
        f"/policies/units/{SHE}", data={"csrf": csrf, field: "30"}, follow_redirects=False
    )
    assert "done=unchanged" in unchanged.headers["location"]
    assert app.client.post(f"/policies/units/{XIUNING}", data={"csrf": csrf, field: "30"}).status_code == 404
    assert app.client.get(f"/policies/units/{XIUNING}").status_code == 404
    assert app.client.get(f"/hosts/{xiuning}/compliance").status_code == 404

    csrf = login("auditor", SHE)
    view = app.client.get(f"/policies/units/{SHE}")
    assert (
        view.status_code == 200 and 'id="overrides-form"' not in view.text and 'id="read-only"' in view.text
    )
    assert app.client.post(f"/policies/units/{SHE}", data={"csrf": csrf, field: ""}).status_code == 403
    assert _status(app, she) == "pass"


# -- in a real browser ------------------------------------------------------------------------------------
@dataclass
class Fleet:
    collector: CollectorProcess
    logins: dict[str, str]


@pytest.fixture
def fleet(db_url: str, tmp_path: Path) -> Iterator[Fleet]:
    """A collector with she-1 (歙县) and xn-1 (休宁县), both with signatures 10 days old; the
    accounts and enrollment secrets are made in the database (faster than the CLI)."""
    engine = make_engine(db_url)
    logins = {"cityadmin": generate_password(), "sheadmin": generate_password()}
    with make_sessionmaker(engine)() as session:
        create_user(session, "cityadmin", logins["cityadmin"], role="city_admin", unit_code="341000")
        create_user(session, "sheadmin", logins["sheadmin"], role="district_admin", unit_code=SHE)
        secrets = {unit: create_enroll_secret(session, unit).secret for unit in (SHE, XIUNING)}
        session.commit()
    engine.dispose()
    collector = CollectorProcess(db_url, tmp_path)
    collector.start()
    for hostname, unit in (("she-1", SHE), ("xn-1", XIUNING)):
        agent_id = uuid.uuid4()
        enrolled = httpx.post(
            collector.url + "/api/v1/enroll",
            json={
                "enroll_secret": secrets[unit],
                "agent_id": str(agent_id),
                "agent_version": "test",
                "hostname": hostname,
                "os_family": "linux",
            },
        )
        assert enrolled.status_code == 200, enrolled.text
        report = make_report(agent_id, hostname=hostname, sections=sections())
        key = enrolled.json()["node_key"]
        stored = httpx.post(collector.url + "/api/v1/reports", json=report, headers=node_auth(key))
        assert stored.status_code == 200, stored.text
    yield Fleet(collector, logins)
    collector.stop()


def _open(browser: Any, fleet: Fleet, username: str, locale: str = "zh-CN") -> Any:
    page = browser.new_page(locale=locale, viewport={"width": 820, "height": 1100})  # a tablet held upright
    page.goto(fleet.collector.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", fleet.logins[username])
    page.click("button[type=submit]")
    page.wait_for_url(fleet.collector.url + "/")
    return page


def _result(page: Any, check: str = CHECK) -> str:
    return str(page.locator(f"tr.result[data-check='{check}']").get_attribute("data-status"))


@pytest.mark.browser
def test_a_report_appears_on_the_host_tab_and_the_overview(
    browser: Any, fleet: Fleet, tmp_path: Path
) -> None:
    page = _open(browser, fleet, "cityadmin")
    page.click("nav >> text=合规")
    page.wait_for_url(fleet.collector.url + "/compliance")
    assert page.locator("h1").inner_text() == "合规概况"
    she = page.locator(f"tr.unit[data-unit='{SHE}'] td.num")
    assert she.nth(0).inner_text() == "1" and she.nth(1).inner_text() == "1"  # hosts, hosts failing
    assert (
        int(page.locator(f"tr.check[data-check='{CHECK}'] td.num").nth(1).inner_text()) == 2
    )  # fail on both
    page.screenshot(path=str(tmp_path / "compliance-overview.png"), full_page=True)

    page.click(f"tr.unit[data-unit='{SHE}'] td a >> nth=0")
    page.wait_for_load_state()
    assert "歙县统计局" in page.locator("#unit-filter").inner_text()
    assert page.locator(f"tr.check[data-check='{CHECK}'] td.num").nth(1).inner_text() == "1"
    page.click(f"tr.check[data-check='{CHECK}'] a.check-title")
    page.wait_for_load_state()
    assert page.locator("#check-title").inner_text() == "病毒库及时更新"
    assert "max_signature_age_days" in page.locator("pre.rule").inner_text()
    assert sorted(page.locator("tr.host").evaluate_all("rows => rows.map(r => r.dataset.hostname)")) == [
        "she-1",
        "xn-1",
    ]

    page.click("tr.host[data-hostname='she-1'] a")
    page.wait_for_load_state()
    assert page.locator("#host-name").inner_text() == "she-1"
    statuses = page.locator("tr.result").evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert statuses[0] == "fail" and "pass" in statuses and _result(page) == "fail"
    evidence = page.locator(f"tr.result[data-check='{CHECK}'] td.evidence").inner_text()
    assert "products" in evidence
    lock = page.locator("tr.result[data-check='security_config.screen_lock'] td.evidence").inner_text()
    assert "screen_lock.timeout_seconds" in lock and "900" in lock  # field, expected and actual
    assert (
        page.locator(f"tr.result[data-check='{CHECK}'] a.finding-link")
        .get_attribute("href")
        .startswith("/findings/")
    )
    page.screenshot(path=str(tmp_path / "host-compliance.png"), full_page=True)
    page.click(f"tr.result[data-check='{CHECK}'] a.history")
    page.wait_for_load_state()
    assert page.locator("table.history tr.change").count() == 1
    page.click("p.crumbs a")  # back to the host's compliance tab
    page.wait_for_load_state()
    page.click("#tab-register")
    page.wait_for_load_state()
    page.click("#host-compliance")  # and back again from the register page
    page.wait_for_load_state()
    assert page.locator("#host-name").inner_text() == "she-1"
    page.close()


@pytest.mark.browser
def test_a_city_admin_uploads_a_new_pack_version_sees_the_difference_and_applies_it(
    browser: Any, fleet: Fleet, tmp_path: Path
) -> None:
    pack = tmp_path / "antivirus.yaml"
    pack.write_text(bumped_pack(14), encoding="utf-8")
    page = _open(browser, fleet, "cityadmin")
    page.goto(fleet.collector.url + "/policies")
    active = page.locator("section[data-pack='antivirus'] .active-version").get_attribute("data-version")

    page.fill("#upload-form textarea[name=text]", "pack: antivirus\nversion: 99\nchecks: []\n")
    page.click("#upload-submit")
    page.wait_for_load_state()
    problems = page.locator("#upload-errors li").all_inner_texts()
    assert problems and any("title" in p for p in problems)

    page.fill("#upload-form textarea[name=text]", "")
    page.set_input_files("#upload-form input[name=file]", str(pack))
    page.click("#upload-submit")
    page.wait_for_url(re.compile(r"/policies/packs/antivirus/\d+$"))
    assert page.locator("#pack-status").inner_text() == "待启用"
    row = page.locator("table.diff-parameters tr[data-param='max_signature_age_days']")
    assert (row.locator("td.from").inner_text(), row.locator("td.to").inner_text()) == ("7", "14")
    assert "+    default: 14" in page.locator("pre.diff.source").inner_text()
    page.screenshot(path=str(tmp_path / "pack-diff.png"), full_page=True)

    page.click("#apply")
    page.wait_for_load_state()
    assert int(page.locator("#applied").get_attribute("data-evaluations")) >= 12  # 6 checks on 2 hosts
    assert page.locator("#applied").get_attribute("data-changed") == "2"
    page.goto(fleet.collector.url + "/policies")
    now = page.locator("section[data-pack='antivirus'] .active-version").get_attribute("data-version")
    assert int(now) == int(active) + 1
    page.goto(fleet.collector.url + f"/compliance/checks/{CHECK}?status=pass")
    assert sorted(page.locator("tr.host").evaluate_all("rows => rows.map(r => r.dataset.hostname)")) == [
        "she-1",
        "xn-1",
    ]

    page.goto(fleet.collector.url + "/policies")
    page.set_input_files("#upload-form input[name=file]", str(pack))  # the same version again
    page.click("#upload-submit")
    page.wait_for_load_state()
    assert "higher number" in page.locator("#upload-errors").inner_text()
    page.close()


@pytest.mark.browser
def test_a_district_admin_overrides_a_threshold_and_sees_only_their_county(
    browser: Any, fleet: Fleet
) -> None:
    city = _open(browser, fleet, "cityadmin")
    city.goto(fleet.collector.url + f"/compliance/checks/{CHECK}")
    foreign = city.locator("tr.host[data-hostname='xn-1'] a").get_attribute("href")
    city.close()

    page = _open(browser, fleet, "sheadmin")
    page.goto(fleet.collector.url + "/compliance")
    assert page.locator("tr.unit").evaluate_all("rows => rows.map(r => r.dataset.unit)") == [SHE]
    assert "休宁" not in page.content()
    page.goto(fleet.collector.url + "/policies")
    assert page.locator("#upload-form").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    refused = page.request.post(
        fleet.collector.url + "/policies/upload", multipart={"csrf": csrf, "text": bumped_pack()}
    )
    assert refused.status == 403
    for path in (
        f"/policies/units/{XIUNING}",
        foreign,
        f"/compliance?unit={XIUNING}",
        "/policies/units/341000",
    ):
        assert page.goto(fleet.collector.url + path).status == 404

    page.goto(fleet.collector.url + "/policies")
    page.click(f"ul.unit-overrides li[data-unit='{SHE}'] a")
    page.wait_for_load_state()
    field = "#overrides-form input[name='param:antivirus:max_signature_age_days']"
    page.fill(field, "1000")
    page.click("#overrides-save")
    page.wait_for_load_state()
    assert "above the maximum 90" in page.locator("#error-antivirus-max_signature_age_days").inner_text()
    page.fill(field, "30")
    page.select_option("#overrides-form select[name='check:antivirus.scans_frequent']", "off")
    page.click("#overrides-save")
    page.wait_for_load_state()
    assert "已保存" in page.locator("#done").inner_text()
    assert (
        page.locator("tr.param[data-param='antivirus.max_signature_age_days'] td.effective").inner_text()
        == "30"
    )
    assert (
        page.locator("tr.check-choice[data-check='antivirus.scans_frequent'] td.effective").inner_text()
        == "关闭"
    )

    page.goto(fleet.collector.url + f"/compliance/checks/{CHECK}?status=pass")
    assert page.locator("tr.host").evaluate_all("rows => rows.map(r => r.dataset.hostname)") == ["she-1"]
    page.click("tr.host a")
    page.wait_for_load_state()
    assert _result(page) == "pass" and _result(page, "antivirus.scans_frequent") == "not_applicable"
    page.close()
    city = _open(browser, fleet, "cityadmin")
    city.goto(fleet.collector.url + foreign)
    assert _result(city) == "fail"  # 休宁县 keeps the city's threshold
    city.close()


@pytest.mark.browser
def test_the_english_pages_show_english_titles(browser: Any, fleet: Fleet) -> None:
    page = _open(browser, fleet, "cityadmin")
    page.goto(fleet.collector.url + "/compliance?lang=en")
    assert page.locator("h1").inner_text() == "Compliance overview"
    assert (
        page.locator(f"tr.check[data-check='{CHECK}'] a.check-title").inner_text() == "Signatures are fresh"
    )
    assert "She County Bureau of Statistics" in page.locator(f"tr.unit[data-unit='{SHE}']").inner_text()
    page.goto(fleet.collector.url + "/policies")  # the language is kept in a cookie
    assert page.locator("h1").inner_text() == "Policy packs"
    page.goto(fleet.collector.url + f"/compliance/checks/{CHECK}")
    assert page.locator("#check-title").inner_text() == "Signatures are fresh"
    assert page.locator("#status-tabs a[data-status='fail']").inner_text().startswith("Fail")
    page.close()
