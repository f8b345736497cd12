"""The normalised inventory (issue 4, A9-M3.3): software rows for indexed search, the change
timeline, register summary columns, and the append-only audit log. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from agent.probes.software import parse_dpkg_status
from collector.db.models import AuditLog, Host, HostChange, HostSoftware
from collector.services.inventory import hardware_changes, network_changes, software_changes
from collector.services.versions import name_key, version_key
from tests.support.collector import SAMPLE_REPORT, CollectorUnderTest, make_report, node_auth
from wire import content_hash

FIX = Path(__file__).resolve().parents[1] / "fixtures"
DPKG = (FIX / "linux/debian12-dpkg/var_lib_dpkg_status.excerpt").read_text()


def _software(items: list[dict[str, Any]]) -> dict[str, Any]:
    data = {"items": items, "unnamed_entries": 0, "sources": ["dpkg"], "note": ""}
    return {"status": "ok", "data": data, "content_hash": content_hash(data), "errors": [], "reason": ""}


def _real_items() -> list[dict[str, Any]]:
    return [item.model_dump(mode="json") for item in parse_dpkg_status(DPKG)]


def _sections(software: list[dict[str, Any]]) -> dict[str, Any]:
    return {**SAMPLE_REPORT["sections"], "software": _software(software)}


def test_version_keys_order_versions_as_packagers_mean_them() -> None:
    ordered = [
        "",
        "0.99",
        "1.0~rc1",
        "1.0",
        "1.0.1",
        "1.2.3",
        "1.2.3-1",
        "2.9",
        "2.10.1",
        "10.0.19041.1",
        "1:0.1",
    ]
    assert sorted(ordered, key=version_key) == ordered
    assert name_key("  Microsoft   Office  ") == "microsoft office"


def test_software_changes_tell_upgrades_from_additions() -> None:
    old = [{"name": "OpenSSL", "version": "3.0.11"}, {"name": "Foxit Reader", "version": "9.0"}]
    new = [{"name": "openssl", "version": "3.0.15"}, {"name": "WPS Office", "version": "12.1"}]
    assert software_changes(old, new) == [
        ("removed", "Foxit Reader", "9.0", ""),
        ("upgraded", "openssl", "3.0.11", "3.0.15"),
        ("added", "WPS Office", "", "12.1"),
    ]


def test_hardware_and_network_changes() -> None:
    hw = SAMPLE_REPORT["sections"]["hardware"]["data"]
    swapped = {**hw, "memory_bytes": hw["memory_bytes"] * 2, "disks": []}
    kinds = {(c[0], c[1].split()[0]) for c in hardware_changes(hw, swapped)}
    assert ("changed", "memory") in kinds and ("removed", "disk") in kinds
    net = SAMPLE_REPORT["sections"]["network"]["data"]
    moved = {**net, "interfaces": [{**i, "addresses": []} for i in net["interfaces"]]}
    assert network_changes(net, moved) and network_changes(net, net) == []


def test_software_is_searchable_by_name_and_version_range(collector: CollectorUnderTest) -> None:
    items = _real_items()
    agents = [collector.enroll(hostname=f"pc-{n}") for n in range(3)]
    for number, (agent_id, key) in enumerate(agents):
        mine = [dict(i) for i in items]
        if number == 2:  # one PC has an older apt
            for item in mine:
                if item["name"] == "apt":
                    item["version"] = "2.2.4"
        report = make_report(agent_id, hostname=f"pc-{number}", sections=_sections(mine))
        assert (
            collector.client.post("/api/v1/reports", json=report, headers=node_auth(key)).status_code == 200
        )
    with collector.sessions() as session:
        total = session.scalar(select(text("count(*)")).select_from(HostSoftware))
        assert total == 3 * len(items)
        older = session.scalars(
            select(Host.hostname)
            .join(HostSoftware, HostSoftware.host_id == Host.id)
            .where(HostSoftware.name_key == "apt", HostSoftware.version_key < version_key("2.6"))
        ).all()
        assert older == ["pc-2"]
        assert (
            session.scalar(select(text("count(*)")).select_from(HostChange)) == 0
        )  # a first report is the baseline


def test_changes_between_reports_make_the_timeline(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll()
    items = _real_items()
    first = make_report(agent_id, sections=_sections(items))
    collector.client.post("/api/v1/reports", json=first, headers=node_auth(key))
    changed = [dict(i) for i in items if i["name"] != "curl"]
    for item in changed:
        if item["name"] == "apt":
            item["version"] = "2.6.2"
    changed.append({**items[0], "name": "wps-office", "version": "12.1.0.17900"})
    hardware = dict(SAMPLE_REPORT["sections"]["hardware"])
    hardware["data"] = {**hardware["data"], "memory_bytes": hardware["data"]["memory_bytes"] * 2}
    second = make_report(
        agent_id,
        kind="delta",
        base=first["state_hash"],
        sections={"software": _software(changed), "hardware": hardware},
    )
    second["collected_at"] = "2026-11-20T08:00:00Z"
    second["state_hash"] = ""  # recomputed below
    from wire import state_hash

    hashes = {n: r["content_hash"] for n, r in first["sections"].items() if r and r["status"] == "ok"}
    hashes["software"] = second["sections"]["software"]["content_hash"]
    hashes["hardware"] = content_hash(hardware["data"])
    second["sections"]["hardware"]["content_hash"] = hashes["hardware"]
    second["state_hash"] = state_hash(hashes)
    answer = collector.client.post("/api/v1/reports", json=second, headers=node_auth(key))
    assert answer.status_code == 200, answer.text
    with collector.sessions() as session:
        rows = session.execute(
            select(HostChange.section, HostChange.change, HostChange.subject, HostChange.old, HostChange.new)
        ).all()
        when = set(session.scalars(select(HostChange.at)))
        versions = dict(
            session.execute(
                select(HostSoftware.name, HostSoftware.version).where(HostSoftware.name == "apt")
            ).all()
        )
    assert ("software", "upgraded", "apt", "2.6.1", "2.6.2") in rows
    assert ("software", "removed", "curl", "7.88.1-10+deb12u14", "") in rows
    assert ("software", "added", "wps-office", "", "12.1.0.17900") in rows
    assert any(r[:3] == ("hardware", "changed", "memory") for r in rows)
    assert {w.isoformat()[:19] for w in when} == {"2026-11-20T08:00:00"}  # when the agent saw it
    assert versions == {"apt": "2.6.2"}


def test_register_summary_columns_are_filled_on_ingest(collector: CollectorUnderTest) -> None:
    agent_id, key = collector.enroll()
    collector.client.post("/api/v1/reports", json=make_report(agent_id), headers=node_auth(key))
    net = SAMPLE_REPORT["sections"]["network"]["data"]
    with collector.sessions() as session:
        host = session.scalars(select(Host).where(Host.agent_id == agent_id)).one()
        assert host.device_type == "virtual machine"  # the captured VM
        assert host.disk_bytes and host.disk_bytes > 0
        route_iface = net["default_routes"][0]["interface"]
        iface = next(i for i in net["interfaces"] if i["name"] == route_iface)
        assert host.primary_ip == next(a["address"] for a in iface["addresses"] if ":" not in a["address"])
        assert host.primary_mac == (iface["mac"] or "")


def test_the_audit_log_is_append_only_in_the_database(collector: CollectorUnderTest) -> None:
    with collector.sessions() as session:
        session.add(AuditLog(actor="test", action="test.write", target="", detail={}, ip=""))
        session.commit()
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with collector.sessions() as session, pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
            session.commit()
    with collector.sessions() as session:
        assert session.scalar(select(AuditLog.actor).where(AuditLog.action == "test.write")) == "test"


def test_two_ingests_adding_the_same_new_title_do_not_conflict(collector: CollectorUnderTest) -> None:
    """A fleet installs the same programs, so concurrent ingests add the same new titles: the
    second transaction waits for the first and then finds the title there, with no error."""
    import threading

    from collector.services.inventory import _remember_titles

    first = collector.sessions()
    _remember_titles(first, {"wps office": "WPS Office"})  # inserted, not yet committed
    outcome: list[object] = []

    def second() -> None:
        with collector.sessions() as session:
            try:
                _remember_titles(session, {"wps office": "WPS Office", "钉钉": "钉钉"})
                session.commit()
                outcome.append("ok")
            except Exception as exc:  # noqa: BLE001 - the test reports what happened
                outcome.append(exc)

    worker = threading.Thread(target=second)
    worker.start()
    worker.join(0.5)  # it waits on the first transaction's row
    first.commit()
    first.close()
    worker.join(30)
    assert outcome == ["ok"]
    with collector.sessions() as session:
        names = sorted(session.scalars(select(text("name_key")).select_from(text("software_titles"))))
    assert names == ["wps office", "钉钉"]


def test_many_hosts_with_the_same_new_titles_report_at_once(collector: CollectorUnderTest) -> None:
    """A fleet installs the same programs: concurrent first reports all add the same new titles,
    and every one of them is stored (no conflict surfaces to the agents)."""
    from concurrent.futures import ThreadPoolExecutor

    items = _real_items() + [
        {**_real_items()[0], "name": f"new-title-{n}", "version": "1.0"} for n in range(40)
    ]
    agents = [collector.enroll(hostname=f"pc-{n}") for n in range(24)]
    reports = [
        make_report(a, hostname=f"pc-{n}", sections=_sections(items)) for n, (a, _k) in enumerate(agents)
    ]

    def send(n: int) -> int:
        return collector.client.post(
            "/api/v1/reports", json=reports[n], headers=node_auth(agents[n][1])
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(send, range(len(agents)))) == [200] * len(agents)
    with collector.sessions() as session:
        assert session.scalar(select(text("count(*)")).select_from(text("software_titles"))) == len(items)
