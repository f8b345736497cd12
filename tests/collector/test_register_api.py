"""The register's read API (issue 4, A9-M3.3, A9-G, A9-T3.1): host detail with every section,
the change timeline, the software catalogue and the hardware models, each limited to the
caller's scope. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from collector.db.models import Host
from collector.web.register_view import Fact, key_facts
from tests.collector.test_inventory import _real_items, _sections
from tests.support.collector import CollectorUnderTest, make_report, node_auth

SHE, XIUNING = "341021", "341022"


def _report(
    collector: CollectorUnderTest, agent: tuple[Any, str], hostname: str, items: list[dict[str, Any]]
) -> None:
    agent_id, key = agent
    report = make_report(agent_id, hostname=hostname, sections=_sections(items))
    answer = collector.client.post("/api/v1/reports", json=report, headers=node_auth(key))
    assert answer.status_code == 200, answer.text


def _fleet(collector: CollectorUnderTest) -> dict[str, int]:
    """Three hosts in 歙县 (one with an old apt), two in 休宁县 (one with a title only it has)."""
    ids = {}
    for number, unit in enumerate([SHE, SHE, SHE, XIUNING, XIUNING]):
        agent = collector.enroll(unit, hostname=f"pc-{number}")
        items = [dict(i) for i in _real_items()]
        if number == 1:
            for item in items:
                if item["name"] == "apt":
                    item["version"] = "2.2.4"
        if number == 4:
            items.append({**items[0], "name": "xiuning-only-tool", "version": "1.0", "publisher": "XN"})
        _report(collector, agent, f"pc-{number}", items)
        with collector.sessions() as session:
            ids[f"pc-{number}"] = session.scalars(select(Host.id).where(Host.agent_id == agent[0])).one()
    with collector.sessions() as session:
        session.execute(
            update(Host)
            .where(Host.id == ids["pc-0"])
            .values(vendor="Lenovo", model="ThinkCentre M720", device_type="desktop", owner="李四")
        )
        session.execute(
            update(Host).where(Host.id == ids["pc-3"]).values(vendor="Lenovo", model="ThinkCentre M720")
        )
        session.commit()
    return ids


def _get(collector: CollectorUnderTest, path: str, headers: dict[str, str], **params: Any) -> Any:
    answer = collector.client.get(path, headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_host_detail_has_every_register_field_and_section(collector: CollectorUnderTest) -> None:
    ids = _fleet(collector)
    host = _get(collector, f"/api/v1/hosts/{ids['pc-0']}", collector.admin_headers())
    assert host["hostname"] == "pc-0" and host["unit_code"] == SHE and host["unit_name"] == "歙县统计局"
    assert host["owner"] == "李四" and host["vendor"] == "Lenovo" and host["record_status"] == "active"
    assert host["status"] == "online" and host["primary_ip"] and host["addresses"]
    sections = {s["name"]: s for s in host["sections"]}
    assert {"os", "hardware", "network", "software"} <= set(sections)
    assert sections["os"]["status"] == "ok" and sections["os"]["data"]["family"] == "linux"
    assert {i["name"] for i in sections["software"]["data"]["items"]} >= {"apt", "curl"}
    assert set(sections["hardware"]) == {
        "name",
        "status",
        "collected_at",
        "updated_at",
        "errors",
        "reason",
        "data",
    }


def test_the_timeline_shows_a_software_change_newest_first(collector: CollectorUnderTest) -> None:
    agent = collector.enroll(SHE, hostname="pc-t")
    items = _real_items()
    _report(collector, agent, "pc-t", items)
    upgraded = [{**i, "version": "2.9.0"} if i["name"] == "apt" else i for i in items if i["name"] != "curl"]
    _report(collector, agent, "pc-t", upgraded)
    city = collector.admin_headers()
    host_id = _get(collector, "/api/v1/hosts", city, q="pc-t")["items"][0]["id"]
    timeline = _get(collector, f"/api/v1/hosts/{host_id}/changes", city, section="software")
    changes = {(c["change"], c["subject"], c["old"], c["new"]) for c in timeline["items"]}
    assert ("upgraded", "apt", "2.6.1", "2.9.0") in changes
    assert any(c[0] == "removed" and c[1] == "curl" for c in changes)
    assert timeline["total"] == len(changes)
    one = _get(collector, f"/api/v1/hosts/{host_id}/changes", city, section="software", per_page=1, page=2)
    assert len(one["items"]) == 1 and one["pages"] == timeline["total"]
    assert _get(collector, f"/api/v1/hosts/{host_id}/changes", city, section="hardware")["total"] == 0


def test_a_district_admin_gets_404_for_another_districts_host(collector: CollectorUnderTest) -> None:
    ids = _fleet(collector)
    she = collector.admin_headers(SHE, "district_admin")
    auditor = collector.admin_headers(SHE, "auditor")
    for headers in (she, auditor):
        assert _get(collector, f"/api/v1/hosts/{ids['pc-1']}", headers)["hostname"] == "pc-1"
        for path in (
            f"/api/v1/hosts/{ids['pc-3']}",
            f"/api/v1/hosts/{ids['pc-3']}/changes",
            "/api/v1/hosts/999999",
        ):
            answer = collector.client.get(path, headers=headers)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["error"] == "unknown_host"  # the same answer as a host that never was


def test_the_catalogue_counts_titles_versions_and_units(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    city = collector.admin_headers()
    found = _get(collector, "/api/v1/software", city, q="APT", per_page=500)
    apt = next(t for t in found["items"] if t["name_key"] == "apt")
    assert apt["hosts"] == 5 and apt["name"] == "apt" and apt["publishers"]
    assert [(v["version"], v["hosts"]) for v in apt["versions"]] == [("2.6.1", 4), ("2.2.4", 1)]
    assert [(u["unit_code"], u["hosts"]) for u in apt["units"]] == [(SHE, 3), (XIUNING, 2)]
    assert all("apt" in t["name_key"] for t in found["items"])
    by_hosts = _get(collector, "/api/v1/software", city, sort="hosts", direction="asc", per_page=1)
    assert by_hosts["items"][0]["name_key"] == "xiuning-only-tool" and by_hosts["items"][0]["hosts"] == 1
    assert by_hosts["total"] == len(_real_items()) + 1
    names = [t["name_key"] for t in _get(collector, "/api/v1/software", city, per_page=500)["items"]]
    assert names == sorted(names)
    assert _get(collector, "/api/v1/software", city, kind="update")["total"] == 0
    assert _get(collector, "/api/v1/software", city, kind="package")["total"] == by_hosts["total"]


def test_a_district_admin_never_sees_another_districts_software(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    she = collector.admin_headers(SHE, "district_admin")
    catalogue = _get(collector, "/api/v1/software", she, per_page=500)
    assert "xiuning-only-tool" not in {t["name_key"] for t in catalogue["items"]}
    apt = next(t for t in catalogue["items"] if t["name_key"] == "apt")
    assert apt["hosts"] == 3 and [u["unit_code"] for u in apt["units"]] == [SHE]
    assert _get(collector, "/api/v1/software", she, q="xiuning")["total"] == 0
    assert _get(collector, "/api/v1/software", she, unit=XIUNING)["total"] == 0
    answer = collector.client.get(
        "/api/v1/software/versions", headers=she, params={"name": "xiuning-only-tool"}
    )
    assert answer.status_code == 404 and answer.json()["error"] == "unknown_title"
    versions = _get(collector, "/api/v1/software/versions", she, name="  APT ")
    assert [(v["version"], v["hosts"]) for v in versions["versions"]] == [("2.6.1", 2), ("2.2.4", 1)]


def test_versions_then_hosts_below_a_version(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    city = collector.admin_headers()
    versions = _get(collector, "/api/v1/software/versions", city, name="apt")
    newest = versions["versions"][0]["version"]
    below = _get(collector, "/api/v1/hosts", city, software="apt", version_below=newest)
    assert [h["hostname"] for h in below["items"]] == ["pc-1"]


def test_hardware_models_count_hosts_by_unit(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    city = collector.admin_headers()
    models = _get(collector, "/api/v1/hardware/models", city)
    assert sum(m["hosts"] for m in models["items"]) == 5
    lenovo = _get(collector, "/api/v1/hardware/models", city, q="thinkcentre")["items"]
    assert [(m["vendor"], m["model"], m["device_type"], m["hosts"]) for m in lenovo] == [
        ("Lenovo", "ThinkCentre M720", "desktop", 1),
        ("Lenovo", "ThinkCentre M720", "virtual machine", 1),
    ]  # equal counts: by vendor, model, device type
    assert _get(collector, "/api/v1/hardware/models", city, device_type="desktop")["items"][0]["units"] == [
        {
            "unit_code": SHE,
            "unit_name": "歙县统计局",
            "unit_name_en": "She County Bureau of Statistics",
            "hosts": 1,
        }
    ]
    she = collector.admin_headers(SHE, "district_admin")
    assert sum(m["hosts"] for m in _get(collector, "/api/v1/hardware/models", she)["items"]) == 3


def test_bad_catalogue_input_is_a_clear_4xx(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    for path, params in (
        ("/api/v1/software", {"kind": "virus"}),
        ("/api/v1/software", {"per_page": 0}),
        ("/api/v1/software", {"sort": "price"}),
        ("/api/v1/software/versions", {}),
        ("/api/v1/software/versions", {"name": "   "}),
        ("/api/v1/hardware/models", {"page": 0}),
        ("/api/v1/hosts/0", {}),
        ("/api/v1/hosts/1/changes", {"section": "x\x00"}),
    ):
        answer = collector.client.get(path, headers=city, params=params)
        assert answer.status_code == 422, (path, params, answer.text)
    collector.client.cookies.clear()  # the logins above left a session cookie
    assert collector.client.get("/api/v1/software").status_code == 401


def test_key_facts_show_plain_values_one_nested_level_and_list_sizes() -> None:
    data = {
        "windows_activated": True,
        "windows_status": "licensed",
        "note": "",
        "products": [{"name": "Windows"}, {"name": "Office"}],
        "sources": ["SoftwareLicensingProduct", "ospp.vbs"],
        "firewall": {"inbound_filtered": False, "profiles": [], "deep": {"x": 1}},
        "grace": None,
    }
    assert key_facts(data) == [
        Fact("windows_activated", "bool", True),
        Fact("windows_status", "text", "licensed"),
        Fact("products", "count", 2),
        Fact("sources", "text", "SoftwareLicensingProduct, ospp.vbs"),
        Fact("firewall.inbound_filtered", "bool", False),
    ]  # empty values left out; deeper structure is in the raw JSON
    assert key_facts(None) == [] and key_facts([1, 2]) == []
