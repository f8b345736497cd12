"""XLSX import of the asset register (A9-M3.3) in the caller's scope (A9-G): the template,
a per-row preview with errors, all-or-nothing apply, skipping bad rows. SQLite and PostgreSQL.

The sheet is tests/fixtures/register/shexian-register.csv (tests/fixtures/SOURCES.md)
written into an XLSX workbook by openpyxl, as an office would fill the template."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, update

from collector.db.models import AuditLog, Host, RoleGrant, Unit, User
from tests.support.collector import CollectorUnderTest, make_report, node_auth

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "register" / "shexian-register.csv"
PRINTER = {
    "hostname": "打印机-302",
    "unit": "341021",
    "device_type": "printer",
    "serial": "VNB3K12345",
    "asset_number": "SX-2019-100",
}


def sheet_rows() -> list[list[str]]:
    with FIXTURE.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def xlsx(rows: list[list[Any]]) -> bytes:
    """A workbook as an office sends it: text cells, an ISO date typed as a real date."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(
            [datetime.fromisoformat(v) if len(v) == 10 and v[4] == "-" and v[:4].isdigit() and v[5:7] < "13" else v
             for v in row]
        )  # fmt: skip
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _setup(collector: CollectorUnderTest) -> dict[str, str]:
    """An agent PC in 歙县 whose serial the sheet knows, a printer added by hand, and a user who
    administers 歙县 (341021) and audits 休宁县 (341022)."""
    agent_id, key = collector.enroll("341021", hostname="pc-dell")
    collector.client.post(
        "/api/v1/reports", json=make_report(agent_id, hostname="pc-dell"), headers=node_auth(key)
    )
    with collector.sessions() as session:
        session.execute(
            update(Host).where(Host.hostname == "pc-dell").values(serial="6TXYZ42", vendor="Dell Inc.")
        )
        session.commit()
    assert (
        collector.client.post("/api/v1/assets", headers=collector.admin_headers(), json=PRINTER).status_code
        == 201
    )
    password = collector.add_user("shexian", "district_admin", "341021")
    with collector.sessions() as session:
        user = session.scalars(select(User).where(User.username == "shexian")).one()
        unit = session.scalars(select(Unit.id).where(Unit.code == "341022")).one()
        session.add(RoleGrant(user_id=user.id, unit_id=unit, role="auditor"))
        session.commit()
    return collector.login("shexian", password)


def _post(collector: CollectorUnderTest, headers: dict[str, str], data: bytes, **form: str) -> Any:
    return collector.client.post(
        "/api/v1/assets/import", headers=headers, files={"file": ("台账.xlsx", data)}, data=form
    )


def _count(collector: CollectorUnderTest) -> int:
    with collector.sessions() as session:
        return session.scalar(select(func.count()).select_from(Host)) or 0


def test_a_dry_run_previews_every_row_and_writes_nothing(collector: CollectorUnderTest) -> None:
    headers = _setup(collector)
    answer = _post(collector, headers, xlsx(sheet_rows()))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["dry_run"] is True and body["applied"] is False
    rows = {r["row"]: r for r in body["rows"]}
    assert [rows[n]["action"] for n in range(2, 12)] == ["create", "update", "update", "create"] + [
        "error"
    ] * 6
    assert rows[3]["hostname"] == "pc-dell" and rows[4]["hostname"] == "打印机-302"
    assert rows[2]["unit"] == "341021"  # found by its name
    assert "unknown unit" in rows[6]["errors"][0] and "the asset number is missing" in rows[6]["errors"]
    assert rows[7]["errors"] == ["unit 341022 is outside your management scope"]
    assert "bad date" in rows[8]["errors"][0]
    assert "not a MAC address" in rows[9]["errors"][0]
    assert "not an IP address" in rows[10]["errors"][0]
    assert "appears twice in the file (row 2)" in rows[11]["errors"][0]
    assert (body["created"], body["updated"], body["errors"]) == (2, 2, 6)
    assert _count(collector) == 2


def test_applying_with_errors_writes_nothing(collector: CollectorUnderTest) -> None:
    headers = _setup(collector)
    answer = _post(collector, headers, xlsx(sheet_rows()), dry_run="false")
    assert answer.status_code == 422 and answer.json()["error"] == "import_has_errors"
    assert [p["location"] for p in answer.json()["problems"]] == [f"row {n}" for n in range(6, 12)]
    assert _count(collector) == 2
    with collector.sessions() as session:
        assert session.scalars(select(Host.owner).where(Host.hostname == "pc-dell")).one() == ""


def test_applying_the_good_rows_fills_the_register(collector: CollectorUnderTest) -> None:
    headers = _setup(collector)
    answer = _post(collector, headers, xlsx(sheet_rows()), dry_run="false", skip_invalid="true")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["applied"], body["created"], body["updated"]) == (True, 2, 2)
    assert [r["action"] for r in body["rows"]].count("skipped") == 6
    with collector.sessions() as session:
        hosts = {h.hostname: h for h in session.scalars(select(Host))}
        dell = hosts["pc-dell"]
        assert (dell.owner, dell.location, dell.asset_number) == ("李四", "二楼 203", "SX-2020-014")
        assert dell.device_type == "laptop" and dell.purchase_date == date(2020, 11, 3)
        assert (dell.vendor, dell.source) == ("Dell Inc.", "agent")  # the agent's facts stay
        new = hosts["SX-PC-01"]
        assert (new.source, new.unit.code, new.owner, new.device_type) == (
            "import",
            "341021",
            "张三",
            "desktop",
        )
        assert new.purchase_date == date(2018, 5, 20) and new.os_name == "Windows 7 专业版"
        assert sorted(t.tag for t in new.tags) == ["内网", "直报机"]
        assert (new.primary_ip, new.primary_mac) == ("10.21.2.11", "3c:52:82:0a:1b:2c")
        switch = hosts["核心交换机"]
        assert switch.device_type == "switch" and switch.purchase_date == date(2017, 9, 1)
        printer = hosts["打印机-302"]
        assert (printer.source, printer.owner, printer.model) == ("manual", "办公室", "LaserJet Pro M404dn")
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "asset.import")).one()
        assert audit.actor == "shexian" and audit.target == "file:台账.xlsx"
        assert sorted(audit.detail["created"]) == sorted([new.id, switch.id])
        assert audit.detail["skipped_rows"] == list(range(6, 12))
    assert _count(collector) == 4
    city = collector.admin_headers()
    found = collector.client.get("/api/v1/hosts", headers=city, params={"mac": "3c52.820a.1b2c"}).json()
    assert [h["hostname"] for h in found["items"]] == ["SX-PC-01"]

    again = _post(collector, headers, xlsx(sheet_rows()[:5])).json()
    assert [r["action"] for r in again["rows"]] == ["update"] * 4  # imported once, matched since


def test_the_template_has_the_columns_and_the_units_one_may_import_into(
    collector: CollectorUnderTest,
) -> None:
    headers = _setup(collector)
    answer = collector.client.get("/api/v1/assets/import-template.xlsx", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(answer.content), read_only=True)
    header = next(book.worksheets[0].iter_rows(values_only=True))
    assert list(header) == sheet_rows()[0]
    help_rows = list(book.worksheets[1].iter_rows(values_only=True))
    assert ("341021", "歙县统计局") in help_rows and not any(r and r[0] == "341022" for r in help_rows)
    assert ("printer", "打印机") in help_rows

    english = collector.client.get(
        "/api/v1/assets/import-template.xlsx", headers=headers, params={"lang": "en"}
    )
    header_en = next(
        load_workbook(io.BytesIO(english.content), read_only=True).worksheets[0].iter_rows(values_only=True)
    )
    assert header_en[:5] == ("Unit", "Name", "Owner", "Location", "Asset number")
    rows = [[str(v or "") for v in header_en], ["341021", "NAS-1", "", "", "SX-2022-001", "storage"]]
    preview = _post(collector, headers, xlsx(rows)).json()
    assert [(r["action"], r["hostname"]) for r in preview["rows"]] == [("create", "NAS-1")]


def test_two_header_rows_and_extra_columns_are_understood(collector: CollectorUnderTest) -> None:
    headers = _setup(collector)
    zh = ["单位", "资产编号", "内存", "使用人"]
    en = ["Unit", "Asset number", "Memory", "Owner"]
    preview = _post(collector, headers, xlsx([zh, en, ["341021", "SX-2019-100", "8 GiB", "综合科"]])).json()
    assert [(r["row"], r["action"], r["fields"]) for r in preview["rows"]] == [(3, "update", ["owner"])]


def test_files_that_are_not_a_register_sheet_are_refused(collector: CollectorUnderTest) -> None:
    headers = _setup(collector)
    assert _post(collector, headers, b"not a workbook").json()["error"] == "not_xlsx"
    assert _post(collector, headers, b"PK\x03\x04broken").json()["error"] == "not_xlsx"
    no_header = _post(collector, headers, xlsx([["a", "b"], ["c", "d"]]))
    assert no_header.status_code == 422 and no_header.json()["error"] == "no_header"
    large = _post(collector, headers, b"0" * (5 * 1024 * 1024 + 1))
    assert large.status_code == 422 and large.json()["error"] == "file_too_large"
    auditor = collector.admin_headers("341021", "auditor")
    rows = _post(collector, auditor, xlsx(sheet_rows()[:3])).json()["rows"]
    assert all("outside your management scope" in r["errors"][0] for r in rows)
    applied = _post(collector, auditor, xlsx(sheet_rows()[:3]), dry_run="false", skip_invalid="true")
    assert applied.status_code == 403 and applied.json()["error"] == "read_only"


def test_an_exported_register_with_asset_numbers_filled_comes_back_onto_its_hosts(
    collector: CollectorUnderTest,
) -> None:
    headers = _setup(collector)
    agent_id, key = collector.enroll("341021", hostname="she-vm-7")  # a VM: no serial to match by
    collector.client.post(
        "/api/v1/reports", json=make_report(agent_id, hostname="she-vm-7"), headers=node_auth(key)
    )
    export = [["单位", "使用人", "资产编号", "品牌型号", "计算机名", "状态"],
              ["歙县统计局", "周七", "SX-2024-031", "QEMU Standard PC", "SHE-VM-7", "在线"]]  # fmt: skip
    preview = _post(collector, headers, xlsx(export)).json()
    assert [(r["action"], r["hostname"]) for r in preview["rows"]] == [("update", "she-vm-7")]
    assert _post(collector, headers, xlsx(export), dry_run="false").status_code == 200
    with collector.sessions() as session:
        host = session.scalars(select(Host).where(Host.hostname == "she-vm-7")).one()
        assert (host.owner, host.asset_number, host.model) == (
            "周七",
            "SX-2024-031",
            "",
        )  # the agent's model stays
