"""The asset register query (issue 4): filters, sorting, paging, and scope. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from collector.db.models import Host
from tests.collector.test_inventory import _real_items, _sections
from tests.support.collector import CollectorUnderTest, make_report, node_auth


def _fleet(collector: CollectorUnderTest) -> None:
    """Five hosts: three in 歙县 (341021), two in 休宁县 (341022); one with an old apt."""
    for number, unit in enumerate(["341021", "341021", "341021", "341022", "341022"]):
        agent_id, key = collector.enroll(unit, hostname=f"pc-{number}")
        items = [dict(i) for i in _real_items()]
        if number == 1:
            for item in items:
                if item["name"] == "apt":
                    item["version"] = "2.2.4"
        report = make_report(agent_id, hostname=f"pc-{number}", sections=_sections(items))
        assert (
            collector.client.post("/api/v1/reports", json=report, headers=node_auth(key)).status_code == 200
        )
    with collector.sessions() as session:
        session.execute(
            update(Host).where(Host.hostname == "pc-4").values(owner="张三", asset_number="XN-2024-007")
        )
        session.execute(update(Host).where(Host.hostname == "pc-3").values(last_seen=None))
        session.commit()


def _names(collector: CollectorUnderTest, headers: dict[str, str], **params: Any) -> list[str]:
    answer = collector.client.get("/api/v1/hosts", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return [h["hostname"] for h in answer.json()["items"]]


def test_filters_combine(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    city = collector.admin_headers()
    assert _names(collector, city, unit="341021", sort="hostname") == ["pc-0", "pc-1", "pc-2"]
    assert _names(collector, city, software="APT", version_below="2.6") == ["pc-1"]
    assert _names(collector, city, software="apt", version_from="2.6", unit="341021", sort="hostname") == [
        "pc-0",
        "pc-2",
    ]
    assert _names(collector, city, q="张") == ["pc-4"]
    assert _names(collector, city, q="xn-2024") == ["pc-4"]
    assert _names(collector, city, status="never") == ["pc-3"]
    assert len(_names(collector, city, status="online")) == 4
    host = collector.client.get("/api/v1/hosts", headers=city, params={"q": "pc-0"}).json()["items"][0]
    assert host["primary_ip"] and host["primary_mac"]
    assert _names(collector, city, ip=host["primary_ip"].rsplit(".", 1)[0]) != []
    assert (
        len(_names(collector, city, mac=host["primary_mac"].upper().replace(":", "-"))) == 5
    )  # same VM capture


def test_sorting_and_paging_are_stable(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    city = collector.admin_headers()
    assert _names(collector, city, sort="hostname", direction="desc") == [
        "pc-4",
        "pc-3",
        "pc-2",
        "pc-1",
        "pc-0",
    ]
    pages = [
        collector.client.get(
            "/api/v1/hosts", headers=city, params={"sort": "hostname", "per_page": 2, "page": page}
        ).json()
        for page in (1, 2, 3)
    ]
    assert [h["hostname"] for p in pages for h in p["items"]] == [f"pc-{n}" for n in range(5)]
    assert pages[0]["total"] == 5 and pages[0]["pages"] == 3


def test_a_district_admin_never_sees_another_district(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    she = collector.admin_headers("341021", "district_admin")
    assert sorted(_names(collector, she)) == ["pc-0", "pc-1", "pc-2"]
    assert _names(collector, she, unit="341022") == []  # out of scope looks like empty
    assert _names(collector, she, unit="no-such-unit") == []
    assert _names(collector, she, q="张") == []


def test_bad_filters_are_clear_4xx(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    for params in ({"sort": "password"}, {"per_page": 0}, {"status": "asleep"}, {"page": "x"}):
        answer = collector.client.get("/api/v1/hosts", headers=city, params=params)
        assert answer.status_code == 422, (params, answer.text)
    for params in ({"mac": "12:34"}, {"version_below": "2.0"}):
        answer = collector.client.get("/api/v1/hosts", headers=city, params=params)
        assert answer.status_code == 400 and answer.json()["error"] == "bad_filter", answer.text


def test_merged_hosts_are_not_listed(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    with collector.sessions() as session:
        session.execute(update(Host).where(Host.hostname == "pc-2").values(status="merged"))
        session.commit()
        assert session.scalar(select(Host.status).where(Host.hostname == "pc-2")) == "merged"
    assert "pc-2" not in _names(collector, collector.admin_headers(), include_retired=True)
