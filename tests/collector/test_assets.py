"""The register's own facts (A9-M3.3) in the caller's scope (A9-G): register fields, moves,
retirement, assets without an agent, duplicates and merges, capture bundles. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from collector.db.base import utcnow
from collector.db.models import (
    AuditLog,
    Host,
    HostChange,
    HostEvent,
    HostSection,
    HostSectionHistory,
    NodeKey,
    ReportLog,
    Unit,
)
from collector.services import bundles
from collector.services.duplicates import JUNK_IDENTIFIERS, identity_key, mac_is_burned_in
from tests.support.collector import CollectorUnderTest, make_report, node_auth
from tests.support.processes import script
from wire import content_hash, state_hash

Headers = dict[str, str]


def _host_id(collector: CollectorUnderTest, hostname: str) -> int:
    with collector.sessions() as session:
        return session.scalars(select(Host.id).where(Host.hostname == hostname)).one()


def _enrolled(collector: CollectorUnderTest, unit: str, hostname: str) -> tuple[int, uuid.UUID, str]:
    agent_id, key = collector.enroll(unit, hostname=hostname)
    answer = collector.client.post(
        "/api/v1/reports", json=make_report(agent_id, hostname=hostname), headers=node_auth(key)
    )
    assert answer.status_code == 200, answer.text
    return _host_id(collector, hostname), agent_id, key


def _audit(collector: CollectorUnderTest, action: str) -> list[AuditLog]:
    with collector.sessions() as session:
        return list(session.scalars(select(AuditLog).where(AuditLog.action == action)))


def _names(collector: CollectorUnderTest, headers: Headers, **params: Any) -> list[str]:
    answer = collector.client.get("/api/v1/hosts", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return sorted(h["hostname"] for h in answer.json()["items"])


def _office(collector: CollectorUnderTest, code: str, parent: str) -> None:
    with collector.sessions() as session:
        parent_id = session.scalars(select(Unit.id).where(Unit.code == parent)).one()
        session.add(
            Unit(
                code=code,
                name_zh=f"{code}办公室",
                name_en=f"Office {code}",
                kind="office",
                parent_id=parent_id,
            )
        )
        session.commit()


# -- register fields ---------------------------------------------------------------------------
def test_register_fields_are_set_trimmed_audited_and_never_overwritten_by_the_agent(
    collector: CollectorUnderTest,
) -> None:
    host_id, agent_id, key = _enrolled(collector, "341021", "pc-1")
    city = collector.admin_headers()
    answer = collector.client.patch(
        f"/api/v1/hosts/{host_id}",
        headers=city,
        json={
            "owner": "  张三 ",
            "location": "三楼 302",
            "asset_number": "SX-2021-015",
            "purchase_date": "2021-03-15",
            "device_type": "desktop",
            "notes": "直报机",
            "tags": [" 直报机 ", "内网", "直报机", ""],
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["owner"], body["location"], body["asset_number"]) == ("张三", "三楼 302", "SX-2021-015")
    assert body["purchase_date"] == "2021-03-15" and body["device_type"] == "desktop"
    assert body["notes"] == "直报机" and sorted(body["tags"]) == ["内网", "直报机"]
    assert _audit(collector, "host.register_update")[0].target == f"host:{host_id}"

    # a Chinese device type label is understood; unspecified fields stay
    answer = collector.client.patch(f"/api/v1/hosts/{host_id}", headers=city, json={"device_type": "笔记本"})
    assert answer.json()["device_type"] == "laptop" and answer.json()["owner"] == "张三"

    report = make_report(agent_id, hostname="pc-1")
    assert collector.client.post("/api/v1/reports", json=report, headers=node_auth(key)).status_code == 200
    with collector.sessions() as session:
        host = session.get_one(Host, host_id)
        assert (host.owner, host.asset_number, host.device_type) == ("张三", "SX-2021-015", "laptop")
    assert _names(collector, city, tag="内网") == ["pc-1"]


def test_register_fields_refuse_bad_values(collector: CollectorUnderTest) -> None:
    first, _a, _k = _enrolled(collector, "341021", "pc-1")
    second, _a, _k = _enrolled(collector, "341021", "pc-2")
    city = collector.admin_headers()
    patch = collector.client.patch
    assert patch(f"/api/v1/hosts/{first}", headers=city, json={"device_type": "toaster"}).status_code == 422
    assert (
        patch(f"/api/v1/hosts/{first}", headers=city, json={"tags": [f"t{n}" for n in range(21)]}).status_code
        == 422
    )
    assert patch(f"/api/v1/hosts/{first}", headers=city, json={"tags": ["x" * 65]}).status_code == 422
    assert (
        patch(f"/api/v1/hosts/{first}", headers=city, json={"purchase_date": "2021-02-30"}).status_code == 422
    )
    assert patch(f"/api/v1/hosts/{first}", headers=city, json={"owner": "a\x00b"}).status_code == 422
    assert patch(f"/api/v1/hosts/{first}", headers=city, json={"hostname": "renamed"}).status_code == 422
    assert patch(f"/api/v1/hosts/{first}", headers=city, json={"asset_number": "N-1"}).status_code == 200
    taken = patch(f"/api/v1/hosts/{second}", headers=city, json={"asset_number": "N-1"})
    assert taken.status_code == 409 and taken.json()["error"] == "asset_number_taken"


def test_register_changes_stay_inside_the_callers_scope(collector: CollectorUnderTest) -> None:
    host_id, _a, _k = _enrolled(collector, "341021", "pc-1")
    other = collector.admin_headers("341022", "district_admin")
    own = collector.admin_headers("341021", "district_admin")
    auditor = collector.admin_headers("341021", "auditor")
    inspector = collector.admin_headers("341021", "inspector")
    body = {"owner": "李四"}
    hidden = collector.client.patch(f"/api/v1/hosts/{host_id}", headers=other, json=body)
    missing = collector.client.patch("/api/v1/hosts/999999", headers=other, json=body)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == {**missing.json(), "detail": hidden.json()["detail"]}
    assert hidden.json()["detail"] == f"no host {host_id}"
    for read_only in (auditor, inspector):
        assert (
            collector.client.patch(f"/api/v1/hosts/{host_id}", headers=read_only, json=body).status_code
            == 403
        )
        assert collector.client.post(f"/api/v1/hosts/{host_id}/retire", headers=read_only).status_code == 403
    assert collector.client.patch(f"/api/v1/hosts/{host_id}", headers=own, json=body).status_code == 200
    cookie_without_csrf = collector.client.patch(f"/api/v1/hosts/{host_id}", json=body)
    assert cookie_without_csrf.status_code == 403 and cookie_without_csrf.json()["error"] == "csrf_failed"
    collector.client.cookies.clear()
    assert collector.client.patch(f"/api/v1/hosts/{host_id}", json=body).status_code == 401


# -- moves and retirement ------------------------------------------------------------------------
def test_moving_a_host_needs_both_units_in_the_admins_scope(collector: CollectorUnderTest) -> None:
    _office(collector, "341021-01", "341021")
    host_id, _a, _k = _enrolled(collector, "341021", "pc-1")
    district = collector.admin_headers("341021", "district_admin")
    away = collector.client.post(f"/api/v1/hosts/{host_id}/move", headers=district, json={"unit": "341022"})
    assert away.status_code == 404 and away.json()["error"] == "unknown_unit"
    within = collector.client.post(
        f"/api/v1/hosts/{host_id}/move", headers=district, json={"unit": "341021-01"}
    )
    assert within.status_code == 200 and within.json()["unit_code"] == "341021-01"
    city = collector.admin_headers()
    assert (
        collector.client.post(
            f"/api/v1/hosts/{host_id}/move", headers=city, json={"unit": "341022"}
        ).status_code
        == 200
    )
    # now outside the district admin's scope: it cannot be brought back by them
    back = collector.client.post(f"/api/v1/hosts/{host_id}/move", headers=district, json={"unit": "341021"})
    assert back.status_code == 404
    moves = _audit(collector, "host.move")
    assert [(m.detail["from"], m.detail["to"]) for m in moves] == [
        ("341021", "341021-01"),
        ("341021-01", "341022"),
    ]


def test_a_retired_host_is_kept_hidden_refused_and_can_be_restored(collector: CollectorUnderTest) -> None:
    host_id, agent_id, key = _enrolled(collector, "341021", "pc-1")
    city = collector.admin_headers()
    retired = collector.client.post(f"/api/v1/hosts/{host_id}/retire", headers=city)
    assert retired.status_code == 200
    assert retired.json()["record_status"] == "retired" and retired.json()["retired_at"]
    assert _names(collector, city) == []
    assert _names(collector, city, include_retired=True) == ["pc-1"]
    report = make_report(agent_id, hostname="pc-1")
    assert collector.client.post("/api/v1/reports", json=report, headers=node_auth(key)).status_code == 403
    restored = collector.client.post(f"/api/v1/hosts/{host_id}/reactivate", headers=city)
    assert restored.json()["record_status"] == "active" and restored.json()["retired_at"] is None
    assert _names(collector, city) == ["pc-1"]
    assert [a.action for a in _audit(collector, "host.retire") + _audit(collector, "host.reactivate")] == [
        "host.retire",
        "host.reactivate",
    ]


# -- assets without an agent ----------------------------------------------------------------------
PRINTER = {
    "hostname": "打印机-302",
    "unit": "341021",
    "device_type": "printer",
    "vendor": "HP",
    "model": "LaserJet Pro M404dn",
    "serial": "VNB3K12345",
    "ip_addresses": ["10.21.3.50"],
    "mac_addresses": ["A0-D3-C1-12-34-56"],
    "owner": "办公室",
    "location": "三楼 302",
    "asset_number": "SX-2019-100",
    "purchase_date": "2019-06-01",
    "tags": ["网络打印机"],
}


def test_an_asset_without_an_agent_is_searchable_by_address(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    answer = collector.client.post("/api/v1/assets", headers=city, json=PRINTER)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["source"] == "manual" and body["status"] == "never" and body["record_status"] == "active"
    assert body["primary_ip"] == "10.21.3.50" and body["primary_mac"] == "a0:d3:c1:12:34:56"
    assert uuid.UUID(body["agent_id"]).version == 4
    assert _names(collector, city, ip="10.21.3") == ["打印机-302"]
    assert _names(collector, city, mac="a0d3.c112.3456") == ["打印机-302"]
    assert _names(collector, city, source="manual", device_type="printer") == ["打印机-302"]
    with collector.sessions() as session:
        assert (
            session.scalar(select(func.count()).select_from(NodeKey).where(NodeKey.host_id == body["id"]))
            == 0
        )
    assert _audit(collector, "asset.create")[0].detail["unit"] == "341021"
    again = collector.client.post("/api/v1/assets", headers=city, json={**PRINTER, "hostname": "other"})
    assert again.status_code == 409


def test_adding_an_asset_is_refused_outside_scope_and_for_bad_addresses(
    collector: CollectorUnderTest,
) -> None:
    district = collector.admin_headers("341022", "district_admin")
    auditor = collector.admin_headers("341021", "auditor")
    assert collector.client.post("/api/v1/assets", headers=district, json=PRINTER).status_code == 404
    assert collector.client.post("/api/v1/assets", headers=auditor, json=PRINTER).status_code == 403
    city = collector.admin_headers()
    for bad in ({"mac_addresses": ["12:34"]}, {"ip_addresses": ["10.0.0.300"]}, {"device_type": "kettle"}):
        answer = collector.client.post("/api/v1/assets", headers=city, json={**PRINTER, **bad})
        assert answer.status_code == 422, bad
    with collector.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Host)) == 0


# -- duplicates ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "To Be Filled By O.E.M.",
        "to be filled by o.e.m.",
        "Default string",
        "0",
        "None",
        "System Serial Number",
        "00000000-0000-0000-0000-000000000000",
        "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
        "03000200-0400-0500-0006-000700080009",
        "XXXXXXXXXX",
        "  ",
        "",
    ],
)
def test_placeholder_serials_and_uuids_prove_nothing(value: str) -> None:
    assert identity_key(value) == ""


def test_real_serials_and_uuids_are_compared_without_case_or_spaces() -> None:
    assert identity_key("PF2ABCDE") == identity_key(" pf2abcde ") == "pf2abcde"
    assert identity_key("4C4C4544-0042-3510-8051-B4C04F4E3132") == "4c4c4544-0042-3510-8051-b4c04f4e3132"
    assert "defaultstring" in JUNK_IDENTIFIERS and "tobefilledbyo.e.m." in JUNK_IDENTIFIERS


@pytest.mark.parametrize(
    ("mac", "burned_in"),
    [
        ("a0:d3:c1:12:34:56", True),  # HP
        ("3C-52-82-AA-BB-CC", True),
        ("02:fc:00:00:00:01", False),  # locally administered
        ("52:54:00:12:34:56", False),  # QEMU (locally administered)
        ("00:50:56:aa:bb:cc", False),  # VMware
        ("00:15:5d:01:02:03", False),  # Hyper-V
        ("08:00:27:aa:bb:cc", False),  # VirtualBox
        ("01:00:5e:00:00:01", False),  # multicast
        ("00:00:00:00:00:00", False),
        ("ff:ff:ff:ff:ff:ff", False),
        ("not a mac", False),
    ],
)
def test_only_burned_in_macs_count(mac: str, burned_in: bool) -> None:
    assert mac_is_burned_in(mac) is burned_in


def _identity(collector: CollectorUnderTest, name: str, **values: Any) -> None:
    with collector.sessions() as session:
        session.execute(update(Host).where(Host.hostname == name).values(**values))
        session.commit()


def _groups(collector: CollectorUnderTest, headers: Headers) -> dict[frozenset[str], dict[str, Any]]:
    answer = collector.client.get("/api/v1/duplicates", headers=headers)
    assert answer.status_code == 200, answer.text
    return {frozenset(h["hostname"] for h in g["hosts"]): g for g in answer.json()}


def test_duplicates_are_grouped_with_a_reason(collector: CollectorUnderTest) -> None:
    now = utcnow()
    for name in ("old-pc", "new-pc", "vm-a", "vm-b", "junk-1", "junk-2", "agent-pc"):
        _enrolled(collector, "341021", name)
    _identity(collector, "old-pc", serial="PF2ABCDE", hostname="pc-7", first_seen=now - timedelta(days=90),
              last_seen=now - timedelta(days=30))  # fmt: skip
    _identity(collector, "new-pc", serial="pf2abcde", hostname="pc-7", first_seen=now - timedelta(days=29))
    _identity(collector, "vm-a", system_uuid="4c4c4544-0042-3510-8051-b4c04f4e3132")
    _identity(collector, "vm-b", system_uuid="4C4C4544-0042-3510-8051-B4C04F4E3132")
    _identity(
        collector,
        "junk-1",
        serial="To Be Filled By O.E.M.",
        system_uuid="00000000-0000-0000-0000-000000000000",
    )
    _identity(
        collector,
        "junk-2",
        serial="To Be Filled By O.E.M.",
        system_uuid="00000000-0000-0000-0000-000000000000",
    )
    _identity(collector, "agent-pc", serial="SN-REAL-1")
    city = collector.admin_headers()
    printer = {
        **PRINTER,
        "hostname": "register-row",
        "serial": "SN-REAL-1",
        "mac_addresses": [],
        "ip_addresses": [],
    }
    assert collector.client.post("/api/v1/assets", headers=city, json=printer).status_code == 201
    shared = {**PRINTER, "hostname": "switch-a", "asset_number": "", "serial": "", "unit": "341021"}
    assert collector.client.post("/api/v1/assets", headers=city, json=shared).status_code == 201
    shared_b = {**shared, "hostname": "switch-b", "mac_addresses": ["a0:d3:c1:12:34:56", "02:00:00:00:00:09"]}
    assert collector.client.post("/api/v1/assets", headers=city, json=shared_b).status_code == 201
    locally = {**shared, "hostname": "virt-1", "mac_addresses": ["02:42:ac:11:00:02"]}
    assert collector.client.post("/api/v1/assets", headers=city, json=locally).status_code == 201
    assert (
        collector.client.post(
            "/api/v1/assets", headers=city, json={**locally, "hostname": "virt-2"}
        ).status_code
        == 201
    )

    groups = _groups(collector, city)
    assert set(groups) == {
        frozenset({"pc-7"}),
        frozenset({"vm-a", "vm-b"}),
        frozenset({"agent-pc", "register-row"}),
        frozenset({"switch-a", "switch-b"}),
    }
    reenrolled = groups[frozenset({"pc-7"})]
    assert reenrolled["reason"] == "reenrolled" and reenrolled["matched_on"] == ["serial"]
    assert (
        len(reenrolled["hosts"]) == 2
        and reenrolled["hosts"][0]["last_seen"] > reenrolled["hosts"][1]["last_seen"]
    )
    assert groups[frozenset({"vm-a", "vm-b"})]["reason"] == "cloned_vm"
    assert groups[frozenset({"agent-pc", "register-row"})]["reason"] == "register_and_agent"
    assert groups[frozenset({"switch-a", "switch-b"})]["reason"] == "shared_mac"

    # another district's admin sees none of them; an auditor of the district sees them all
    assert _groups(collector, collector.admin_headers("341022", "district_admin")) == {}
    assert len(_groups(collector, collector.admin_headers("341021", "auditor"))) == 4


def _history(collector: CollectorUnderTest, host_id: int) -> dict[str, int]:
    with collector.sessions() as session:
        return {
            model.__tablename__: session.scalar(
                select(func.count()).select_from(model).where(model.host_id == host_id)
            )
            or 0
            for model in (HostChange, HostEvent, ReportLog, HostSectionHistory)
        }


def test_merging_keeps_the_target_moves_history_and_revokes_the_source(collector: CollectorUnderTest) -> None:
    old_id, old_agent, old_key = _enrolled(collector, "341021", "pc-old")
    new_id, _agent, _key = _enrolled(collector, "341021", "pc-new")
    event = {
        "agent_id": str(old_agent),
        "events": [
            {
                "event_id": str(uuid.uuid4()),
                "occurred_at": utcnow().isoformat(),
                "kind": "test",
                "severity": "info",
                "source": "test",
                "summary": "an event of the old record",
                "data": {},
            }
        ],
    }
    assert collector.client.post("/api/v1/events", json=event, headers=node_auth(old_key)).status_code == 200
    city = collector.admin_headers()
    collector.client.patch(
        f"/api/v1/hosts/{old_id}",
        headers=city,
        json={"owner": "王五", "asset_number": "SX-1", "location": "201", "tags": ["内网"]},
    )
    collector.client.patch(
        f"/api/v1/hosts/{new_id}", headers=city, json={"location": "305", "tags": ["直报机"]}
    )
    before = _history(collector, old_id)
    assert before["report_log"] == 1 and before["host_events"] == 1 and before["host_section_history"] > 0

    answer = collector.client.post(f"/api/v1/hosts/{old_id}/merge", headers=city, json={"into": new_id})
    assert answer.status_code == 200, answer.text
    kept = answer.json()
    assert kept["id"] == new_id and kept["owner"] == "王五" and kept["asset_number"] == "SX-1"
    assert kept["location"] == "305"  # the kept record's own value wins
    assert sorted(kept["tags"]) == ["内网", "直报机"]
    assert _history(collector, old_id) == dict.fromkeys(before, 0)
    after = _history(collector, new_id)
    assert after["report_log"] == 2 and after["host_events"] == 1
    with collector.sessions() as session:
        old = session.get_one(Host, old_id)
        assert (old.status, old.merged_into_id) == ("merged", new_id)
        assert session.scalar(select(func.count()).select_from(NodeKey).where(
            NodeKey.host_id == old_id, NodeKey.revoked_at.is_(None))) == 0  # fmt: skip
        assert session.get(HostSection, (old_id, "os")) is not None  # kept for the record
    report = make_report(old_agent, hostname="pc-old")
    assert (
        collector.client.post("/api/v1/reports", json=report, headers=node_auth(old_key)).status_code == 401
    )
    assert _names(collector, city) == ["pc-new"]
    merge = _audit(collector, "host.merge")[0]
    assert (
        merge.target == f"host:{old_id}"
        and merge.detail["into"] == new_id
        and merge.detail["keys_revoked"] == 1
    )

    again = collector.client.post(f"/api/v1/hosts/{old_id}/merge", headers=city, json={"into": new_id})
    assert again.status_code == 409
    assert (
        collector.client.post(
            f"/api/v1/hosts/{new_id}/merge", headers=city, json={"into": new_id}
        ).status_code
        == 422
    )


def test_merging_needs_both_hosts_in_the_admins_scope(collector: CollectorUnderTest) -> None:
    mine, _a, _k = _enrolled(collector, "341021", "pc-mine")
    theirs, _a, _k = _enrolled(collector, "341022", "pc-theirs")
    district = collector.admin_headers("341021", "district_admin")
    auditor = collector.admin_headers("341021", "auditor")
    post = collector.client.post
    assert post(f"/api/v1/hosts/{mine}/merge", headers=district, json={"into": theirs}).status_code == 404
    assert post(f"/api/v1/hosts/{theirs}/merge", headers=district, json={"into": mine}).status_code == 404
    mine2, _a, _k = _enrolled(collector, "341021", "pc-mine-2")
    assert post(f"/api/v1/hosts/{mine}/merge", headers=auditor, json={"into": mine2}).status_code == 403
    with collector.sessions() as session:
        assert {h.status for h in session.scalars(select(Host))} == {"active"}


# -- capture bundles ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bundle of this machine, made by the agent (all sections)."""
    folder = tmp_path_factory.mktemp("capture") / "bundle"
    done = subprocess.run(
        [script("watchpost-agent"), "--config", str(folder.parent / "none.toml"), "capture", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return folder


def _zip(folder: Path) -> bytes:
    """The bundle zipped with its folder name, symbolic links stored as links (as `zip -y` does)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            name = f"pc-0421/{path.relative_to(folder)}"
            if path.is_symlink():
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, str(path.readlink()))
            elif path.is_file():
                archive.write(path, name)
    return buffer.getvalue()


def _with(data: bytes, extra: dict[str, bytes] | None = None, links: dict[str, str] | None = None) -> bytes:
    """A zip with entries added."""
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def zipped(bundle: Path) -> bytes:
    return _zip(bundle)


def _replay(folder: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            script("watchpost-agent"),
            "--config",
            str(folder.parent / "none.toml"),
            "scan",
            "--json",
            "--replay",
            str(folder),
        ],
        capture_output=True,
        timeout=300,
        check=True,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _post_bundle(
    collector: CollectorUnderTest, headers: Headers, data: bytes, unit: str = "341021", name: str = "b.zip"
) -> Any:
    return collector.client.post(
        "/api/v1/assets/bundle", headers=headers, files={"file": (name, data)}, data={"unit": unit}
    )


def test_a_zipped_bundle_becomes_a_record_with_every_section(
    collector: CollectorUnderTest, bundle: Path
) -> None:
    city = collector.admin_headers()
    answer = _post_bundle(collector, city, _zip(bundle))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["created"] is True and body["status"] == "stored"
    host = body["host"]
    assert host["source"] == "bundle" and host["unit_code"] == "341021"
    assert host["os_family"] == "linux" and host["memory_bytes"] and host["ip_addresses"]
    with collector.sessions() as session:
        sections = set(session.scalars(select(HostSection.name).where(HostSection.host_id == host["id"])))
        assert {"os", "hardware", "network", "software"} <= sections
        assert (
            session.scalar(select(func.count()).select_from(NodeKey).where(NodeKey.host_id == host["id"]))
            == 0
        )
    assert _names(collector, city, software="python3", source="bundle") == [host["hostname"]]
    audit = _audit(collector, "asset.bundle_import")[0]
    assert audit.detail["created"] is True and audit.target == f"host:{host['id']}"


def test_a_replayed_report_updates_the_record_with_the_same_hardware(
    collector: CollectorUnderTest, bundle: Path
) -> None:
    report = _replay(bundle)
    hardware = report["sections"]["hardware"]
    hardware["data"]["system_uuid"] = "4c4c4544-0042-3510-8051-b4c04f4e3132"
    hardware["content_hash"] = content_hash(hardware["data"])
    report["state_hash"] = state_hash(
        {n: s["content_hash"] for n, s in report["sections"].items() if s and s["status"] == "ok"}
    )
    city = collector.admin_headers()
    row = {
        **PRINTER,
        "hostname": "pc-0421",
        "device_type": "desktop",
        "serial": "",
        "mac_addresses": [],
        "ip_addresses": [],
    }
    record = collector.client.post("/api/v1/assets", headers=city, json=row).json()
    _identity(collector, "pc-0421", system_uuid="4C4C4544-0042-3510-8051-B4C04F4E3132")
    answer = _post_bundle(collector, city, json.dumps(report).encode(), name="pc-0421.json")
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] is False and answer.json()["host"]["id"] == record["id"]
    assert answer.json()["host"]["source"] == "bundle" and answer.json()["host"]["owner"] == "办公室"
    again = _post_bundle(collector, city, json.dumps(report).encode(), name="pc-0421.json")
    assert again.json()["status"] == "duplicate"

    # the same hardware under an agent: its inventory comes from the agent
    with collector.sessions() as session:
        session.execute(update(Host).where(Host.id == record["id"]).values(source="agent"))
        session.commit()
    report["report_id"] = str(uuid.uuid4())
    refused = _post_bundle(collector, city, json.dumps(report).encode())
    assert refused.status_code == 409 and refused.json()["error"] == "agent_host"


def test_bundle_import_refusals(
    collector: CollectorUnderTest, bundle: Path, zipped: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    city = collector.admin_headers()
    district = collector.admin_headers("341022", "district_admin")
    auditor = collector.admin_headers("341021", "auditor")
    report = json.dumps(_replay(bundle)).encode()
    assert _post_bundle(collector, district, report, unit="341021").status_code == 404
    assert _post_bundle(collector, auditor, report, unit="341021").status_code == 403
    assert _post_bundle(collector, city, b"{}").json()["error"] == "not_a_report"
    assert _post_bundle(collector, city, b"PK\x03\x04garbage").json()["error"] == "not_zip"
    traversal = _with(zipped, extra={"../../evil.txt": b"x"})
    assert _post_bundle(collector, city, traversal).json()["error"] == "unsafe_zip"
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["commands"][0]["stdout"] = "/etc/passwd"
    bad_manifest = _with(zipped, extra={"manifest.json": json.dumps(manifest).encode()})  # found first
    assert _post_bundle(collector, city, bad_manifest).json()["error"] == "unsafe_manifest"
    monkeypatch.setattr(bundles, "agent_program", lambda: None)
    missing = _post_bundle(collector, city, zipped)
    assert missing.status_code == 422 and missing.json()["error"] == "agent_not_installed"
    assert _post_bundle(collector, city, report).status_code == 200  # the JSON needs no agent program
    with collector.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Host)) == 1


def test_links_in_a_zip_never_lead_out_of_the_bundle(tmp_path: Path, zipped: bytes) -> None:
    data = _with(
        zipped,
        links={
            "pc-0421/files/etc/absolute-link": "/etc/passwd",
            "pc-0421/files/etc/relative-link": "../../../../../etc/passwd",
            "pc-0421/files/etc/zone": "/usr/share/zoneinfo/Asia/Shanghai",
            "pc-0421/files/sys/x/driver": "../../etc",
        },
    )
    out = tmp_path / "out"
    folder = bundles._unpack(data, out)
    assert folder == out / "pc-0421"
    files = folder / "files"
    assert not os.path.lexists(files / "etc" / "absolute-link")
    assert not os.path.lexists(files / "etc" / "relative-link")
    assert (files / "etc" / "zone").readlink() == Path("/usr/share/zoneinfo/Asia/Shanghai")
    assert (files / "sys" / "x" / "driver").readlink() == Path("../../etc")
    for link in [p for p in out.rglob("*") if p.is_symlink()]:
        target = str(link.readlink())
        assert target.startswith("/usr/share/zoneinfo/") or link.resolve().is_relative_to(out.resolve()), link
