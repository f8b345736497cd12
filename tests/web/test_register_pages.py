"""The register pages in a real headless Chromium (issue 4, A9-M3.3, A9-G, A9-T3.1): filter,
sort and page the host list, open a host and see its timeline after a report changes its
software, drill down the software catalogue and the hardware models, switch to English; a
district admin sees nothing of another district, on the pages as in the API."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.collector.test_inventory import _real_items, _sections
from tests.support.collector import make_report, node_auth
from tests.support.processes import CollectorProcess

pytestmark = pytest.mark.browser

SHE, XIUNING = "341021", "341022"


@dataclass
class Fleet:
    collector: CollectorProcess
    logins: dict[str, str]  # username -> password
    agents: dict[str, tuple[uuid.UUID, str]]  # hostname -> (agent id, node key)

    def report(self, hostname: str, items: list[dict[str, Any]]) -> None:
        agent_id, key = self.agents[hostname]
        report = make_report(agent_id, hostname=hostname, sections=_sections(items))
        answer = httpx.post(self.collector.url + "/api/v1/reports", json=report, headers=node_auth(key))
        assert answer.status_code == 200, answer.text


def _items(apt: str = "2.6.1", extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    items = [{**i, "version": apt} if i["name"] == "apt" else i for i in _real_items()]
    return items + [{**items[0], "name": name, "version": "1.0", "publisher": "XN"} for name in extra]


@pytest.fixture
def fleet(db_url: str, tmp_path: Path) -> Iterator[Fleet]:
    """Four PCs of 歙县 (she-2 with an old apt) and two of 休宁县 (xn-1 with a title only it has)."""
    collector = CollectorProcess(db_url, tmp_path)
    collector.cli("init", "--admin", "cityadmin", "--credentials-file", str(tmp_path / "creds"))
    created = collector.cli("user", "create", "sheadmin", "--role", "district_admin", "--unit", SHE)
    logins = dict([(tmp_path / "creds").read_text().split()])
    logins["sheadmin"] = created.rsplit(":", 1)[1].strip()
    collector.start()
    fleet = Fleet(collector, logins, {})
    secrets = {
        unit: collector.cli("enroll-secret", "create", "--unit", unit, "--quiet").strip()
        for unit in (SHE, XIUNING)
    }
    for hostname, unit in [("she-1", SHE), ("she-2", SHE), ("she-3", SHE), ("she-4", SHE), ("xn-1", XIUNING),
                           ("xn-2", XIUNING)]:  # fmt: skip
        agent_id = uuid.uuid4()
        answer = httpx.post(
            collector.url + "/api/v1/enroll",
            json={
                "enroll_secret": secrets[unit],
                "agent_id": str(agent_id),
                "agent_version": "test",
                "hostname": hostname,
                "os_family": "linux",
            },
        )
        assert answer.status_code == 200, answer.text
        fleet.agents[hostname] = (agent_id, answer.json()["node_key"])
        fleet.report(hostname, _items(apt="2.2.4" if hostname == "she-2" else "2.6.1",
                                      extra=("xiuning-only-tool",) if hostname == "xn-1" else ()))  # fmt: skip
    yield fleet
    collector.stop()


def _login(browser: Any, fleet: Fleet, username: str) -> Any:
    page = browser.new_page(locale="zh-CN")
    page.goto(fleet.collector.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", fleet.logins[username])
    page.click("button[type=submit]")
    page.wait_for_url(fleet.collector.url + "/")
    return page


def _hostnames(page: Any) -> list[str]:
    return [row.get_attribute("data-hostname") for row in page.locator("tr.host").all()]


def _total(page: Any) -> int:
    return int(page.locator("#total").get_attribute("data-total"))


def test_filter_sort_and_page_the_host_list(browser: Any, fleet: Fleet) -> None:
    page = _login(browser, fleet, "cityadmin")
    assert page.locator("h1").inner_text() == "主机清单"
    assert _total(page) == 6
    assert page.locator("select[name=unit] option").count() == 10  # any + the city tree
    counts = {
        li.get_attribute("data-unit"): li.get_attribute("data-count")
        for li in page.locator("#by-unit li").all()
    }
    assert (
        counts["341000"] == "6" and counts[SHE] == "4" and counts[XIUNING] == "2" and counts["341023"] == "0"
    )

    page.select_option("select[name=unit]", SHE)
    page.fill("input[name=software]", "apt")
    page.fill("input[name=version_below]", "2.6")
    page.click("#host-filters button[type=submit]")
    page.wait_for_load_state()
    assert _hostnames(page) == ["she-2"]
    assert "歙县统计局" in page.locator("tr.host td.unit").inner_text()
    for link in ("#export-xlsx", "#export-csv"):  # the exports carry the same filters
        href = page.locator(link).get_attribute("href")
        assert href.startswith("/api/v1/exports/hosts.")
        wanted = parse_qs(urlsplit(href).query)
        assert (
            wanted["unit"] == [SHE] and wanted["software"] == ["apt"] and wanted["version_below"] == ["2.6"]
        )

    page.click("a.reset")
    page.wait_for_load_state()
    page.select_option("select[name=status]", "online")
    page.select_option("select[name=unit]", XIUNING)
    page.click("#host-filters button[type=submit]")
    page.wait_for_load_state()
    assert sorted(_hostnames(page)) == ["xn-1", "xn-2"]

    page.goto(fleet.collector.url + "/?per_page=4")
    page.click("th[data-sort=hostname] a")
    page.wait_for_load_state()
    assert _hostnames(page) == ["she-1", "she-2", "she-3", "she-4"]
    assert page.locator("th[data-sort=hostname]").get_attribute("aria-sort") == "ascending"
    assert "第 1 / 2 页" in page.locator("nav.pager").inner_text()
    page.click("nav.pager a.next")
    page.wait_for_load_state()
    assert _hostnames(page) == ["xn-1", "xn-2"] and _total(page) == 6
    page.click("th[data-sort=hostname] a")  # the same header again: descending, back to page 1
    page.wait_for_load_state()
    assert _hostnames(page) == ["xn-2", "xn-1", "she-4", "she-3"]

    page.goto(fleet.collector.url + "/?mac=12:34")  # a bad filter is a message, not an error page
    assert "筛选条件无效" in page.locator(".error").inner_text()
    page.close()


def test_a_host_page_shows_sections_and_the_timeline_after_a_software_change(
    browser: Any, fleet: Fleet, tmp_path: Path
) -> None:
    page = _login(browser, fleet, "cityadmin")
    page.click("tr.host[data-hostname='she-1'] td.hostname a")
    page.wait_for_url(re.compile(r"/hosts/\d+$"))
    assert page.locator("#host-name").inner_text().startswith("she-1")
    for section in ("os", "hardware", "network", "software"):
        assert page.locator(f"#section-{section}").count() == 1, section
    assert "Debian" in page.locator("#section-os table.facts").inner_text()
    raw = page.locator("#section-hardware details.raw")
    assert not raw.locator("pre").is_visible()  # the raw JSON is collapsed until asked for
    raw.locator("summary").click()
    assert raw.locator("pre").inner_text().lstrip().startswith("{")
    assert "暂无变更记录" in page.locator("#timeline").inner_text()

    page.fill("#software-search input[name=sw]", "ssl")
    page.click("#software-search button[type=submit]")
    page.wait_for_load_state()
    names = [row.get_attribute("data-name") for row in page.locator("tr.sw").all()]
    assert names and all("ssl" in name for name in names)

    fleet.report("she-1", [i for i in _items(apt="2.9.0") if i["name"] != "curl"])
    page.goto(page.url.split("?")[0])
    upgraded = page.locator("tr.change[data-change=upgraded][data-subject=apt]")
    assert upgraded.locator("td.old").inner_text() == "2.6.1"
    assert upgraded.locator("td.new").inner_text() == "2.9.0"
    assert "升级" in upgraded.inner_text()
    assert page.locator("tr.change[data-change=removed][data-subject=curl]").count() == 1
    page.screenshot(path=str(tmp_path / "host-zh.png"), full_page=True)

    page.click("#lang-switch")
    page.wait_for_load_state()
    assert page.locator("#timeline h2").inner_text() == "Changes"
    assert "upgraded" in upgraded.inner_text()
    assert "She County" in page.locator("p.summary").first.inner_text()
    page.close()


def test_software_catalogue_and_hardware_drill_down_to_the_host_list(browser: Any, fleet: Fleet) -> None:
    page = _login(browser, fleet, "cityadmin")
    page.click("header nav a[href='/software']")
    page.wait_for_load_state()
    page.fill("#software-filters input[name=q]", "apt")
    page.click("#software-filters button[type=submit]")
    page.wait_for_load_state()
    apt = page.locator("tr.title[data-name=apt]")
    assert apt.locator("td.count").inner_text() == "6"
    apt.locator("a.drill").click()
    page.wait_for_load_state()
    assert page.locator("#title-name").inner_text() == "apt"
    old = page.locator("tr.version[data-version='2.2.4'] td.count a")
    assert old.inner_text() == "1"
    old.click()
    page.wait_for_load_state()
    assert _hostnames(page) == ["she-2"]

    page.goto(fleet.collector.url + "/hardware")
    model = page.locator("tr.model[data-device-type='virtual machine']")
    assert model.locator("td.count").inner_text() == "6"
    model.locator("td.count a").click()
    page.wait_for_load_state()
    assert _total(page) == 6
    assert page.locator("select[name=device_type]").input_value() == "virtual machine"
    page.close()


def test_a_district_admin_sees_only_their_district_on_every_page(browser: Any, fleet: Fleet) -> None:
    city = _login(browser, fleet, "cityadmin")
    city.goto(fleet.collector.url + f"/?unit={XIUNING}")
    foreign = city.locator("tr.host[data-hostname='xn-1'] td.hostname a").get_attribute("href")
    city.close()

    page = _login(browser, fleet, "sheadmin")
    assert sorted(_hostnames(page)) == ["she-1", "she-2", "she-3", "she-4"]
    units = page.locator("select[name=unit] option").all_inner_texts()
    assert [u.strip() for u in units] == ["（全部）", "歙县统计局"]
    assert [li.get_attribute("data-unit") for li in page.locator("#by-unit li").all()] == [SHE]
    assert page.goto(fleet.collector.url + "/hosts/not-a-number").status == 404
    answer = page.goto(fleet.collector.url + foreign)
    assert answer.status == 404
    assert "不在您的管理范围内" in page.locator("#not-found").inner_text()
    page.goto(fleet.collector.url + "/software?q=xiuning")
    assert _total(page) == 0
    page.goto(fleet.collector.url + "/software?q=apt")
    assert page.locator("tr.title[data-name=apt] td.count").inner_text() == "4"
    assert "休宁" not in page.locator("tr.title[data-name=apt] td.units").inner_text()
    assert page.goto(fleet.collector.url + "/software/title?name=xiuning-only-tool").status == 404
    page.goto(fleet.collector.url + "/hardware")
    assert sum(int(c) for c in page.locator("tr.model td.count").all_inner_texts()) == 4
    page.close()
