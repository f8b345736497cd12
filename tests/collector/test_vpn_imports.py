"""Imports of the VPN register (issue 6: A9-T2.1 manage VPN users, A9-T2.3 zombie users): the
staff roster and an appliance's user list, from real XLSX files (openpyxl) and CSV files in
GBK and UTF-8 with BOM, through the API, on SQLite and PostgreSQL.

A password column in an appliance's export is never read: the preview says so, and neither
the passwords nor the hashes appear anywhere in the database afterwards (a dump of every
table is searched)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import MetaData, select

from collector.db.models import AuditLog
from collector.db.models_vpn import StaffMember, VpnAccount
from tests.support.collector import CollectorUnderTest

PASSWORDS = ("Sangfor@2021", "zhang@123456", "$6$rounds=5000$saltsalt$Zq0l9mE2Y7oHn5Q", "5201314abc")


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[list[str]], encoding: str) -> bytes:
    text = "\r\n".join(",".join(cells) for cells in rows) + "\r\n"
    return text.encode("utf-8-sig" if encoding == "utf-8-sig" else encoding)


def appliance(
    c: CollectorUnderTest, headers: dict[str, str], unit: str = "341021", name: str = "sangfor-vpn"
) -> int:
    body = {"hostname": name, "unit": unit, "device_type": "vpn appliance", "vendor": "深信服"}
    answer = c.client.post("/api/v1/assets", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def upload(
    c: CollectorUnderTest, url: str, data: bytes, name: str, headers: dict[str, str], **form: str
) -> Any:
    return c.client.post(
        url, files={"file": (name, data, "application/octet-stream")}, data=form, headers=headers
    )


def dump(c: CollectorUnderTest) -> str:
    """Every row of every table as text (what a database backup would hold)."""
    with c.sessions() as session:
        meta = MetaData()
        meta.reflect(bind=session.get_bind())
        return "\n".join(
            repr(tuple(row)) for table in meta.sorted_tables for row in session.execute(select(table)).all()
        )


# -- the staff roster -----------------------------------------------------------------------------
ROSTER = [
    ["姓名", "单位", "工号", "状态", "离职日期", "VPN账号"],
    ["张伟", "341021", "A001", "在职", "", "zhangwei、zw2"],
    ["李娜", "歙县统计局", "A002", "离职", "2026-03-15", "lina"],
    ["王芳", "341021", "", "在编", "", ""],
]


def test_staff_roster_preview_then_apply_from_xlsx(collector: CollectorUnderTest) -> None:
    """A9-T2.1: the roster from an XLSX, unit by code or Chinese name, statuses in Chinese."""
    admin = collector.admin_headers("341021", "district_admin")
    data = xlsx([*ROSTER, ["赵六", "341021", "", "出差", "", ""], ["", "341021", "", "", "", ""]])
    preview = upload(collector, "/api/v1/vpn/staff/import", data, "名单.xlsx", admin)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["dry_run"] and body["created"] == 3 and body["errors"] == 2
    errors = {r["row"]: r["errors"] for r in body["rows"] if r["errors"]}
    assert "status '出差'" in errors[5][0] and errors[6] == ["the name is missing"]
    with collector.sessions() as session:
        assert session.scalars(select(StaffMember)).all() == []
    refused = upload(collector, "/api/v1/vpn/staff/import", data, "名单.xlsx", admin, dry_run="false")
    assert refused.status_code == 422 and refused.json()["error"] == "import_has_errors"
    assert [p["location"] for p in refused.json()["problems"]] == ["row 5", "row 6"]
    done = upload(collector, "/api/v1/vpn/staff/import", data, "名单.xlsx", admin, dry_run="false",
                  skip_invalid="true")  # fmt: skip
    assert done.status_code == 200 and done.json()["applied"]
    with collector.sessions() as session:
        people = {p.name: p for p in session.scalars(select(StaffMember))}
        assert set(people) == {"张伟", "李娜", "王芳"}
        assert people["张伟"].accounts == ["zhangwei", "zw2"] and people["张伟"].status == "active"
        assert people["李娜"].status == "left" and people["李娜"].left_on.isoformat() == "2026-03-15"
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "vpn.staff_import")).one()
        assert audit.detail["create"] == 3 and audit.detail["skipped"] == 2
    again = upload(collector, "/api/v1/vpn/staff/import", xlsx(ROSTER[:2]), "名单.xlsx", admin)
    assert again.json()["unchanged"] == 1
    assert sorted(again.json()["not_in_file"]) == ["341021 王芳"]  # reported; 李娜 left already


def test_staff_roster_from_gbk_and_bom_csv_with_english_headers(collector: CollectorUnderTest) -> None:
    admin = collector.admin_headers()
    gbk = csv_bytes([["姓名", "单位", "状态"], ["陈静", "341022", "退休"], ["刘洋", "341021", "在职"]], "gbk")
    assert (
        upload(collector, "/api/v1/vpn/staff/import", gbk, "a.csv", admin, dry_run="false").status_code == 200
    )
    bom = csv_bytes([["Name", "Unit", "Status", "Accounts"], ["Liu Yang", "341021", "left", "liuyang;ly"]],
                    "utf-8-sig")  # fmt: skip
    answer = upload(collector, "/api/v1/vpn/staff/import", bom, "b.csv", admin, dry_run="false")
    assert answer.status_code == 200, answer.text
    with collector.sessions() as session:
        people = {p.name: (p.status, p.accounts) for p in session.scalars(select(StaffMember))}
    assert people == {"陈静": ("left", []), "刘洋": ("active", []), "Liu Yang": ("left", ["liuyang", "ly"])}


def test_staff_import_scope(collector: CollectorUnderTest) -> None:
    """A9-G: a district admin imports for their subtree only; read-only roles not at all."""
    district = collector.admin_headers("341021", "district_admin")
    data = xlsx([["姓名", "单位"], ["甲", "341022"], ["乙", "休宁县统计局"]])
    answer = upload(collector, "/api/v1/vpn/staff/import", data, "x.xlsx", district)
    assert [r["errors"] for r in answer.json()["rows"]] == [
        ["unknown unit '341022'"],
        ["unknown unit '休宁县统计局'"],
    ]
    auditor = collector.admin_headers("341021", "auditor")
    refused = upload(collector, "/api/v1/vpn/staff/import", data, "x.xlsx", auditor)
    assert refused.status_code == 403 and refused.json()["error"] == "read_only"
    garbage = upload(collector, "/api/v1/vpn/staff/import", b"PK\x03\x04broken", "x.xlsx", district)
    assert garbage.status_code == 422 and garbage.json()["error"] == "not_xlsx"
    headless = upload(collector, "/api/v1/vpn/staff/import", b"a,b\r\n1,2\r\n", "x.csv", district)
    assert headless.status_code == 422 and headless.json()["error"] == "no_header"


# -- an appliance's user list ---------------------------------------------------------------------
SANGFOR = [
    ["用户名", "显示名", "所属组", "状态", "密码", "创建时间", "最后登录时间"],
    ["zhangwei", "张伟", "/默认组", "启用", PASSWORDS[0], "2024-01-05", "2026-11-20 08:15:03"],
    ["lina", "李娜", "/默认组", "禁用", PASSWORDS[1], "2023-06-01", "2025-02-01 09:00:00"],
    ["olduser", "", "/默认组", "锁定", PASSWORDS[2], "2022-03-01", "从未登录"],
    ["wangfang", "王芳", "/默认组", "启用", PASSWORDS[3], "2026-11-01", ""],
]


def test_appliance_list_ignores_password_columns_and_stores_no_secret(collector: CollectorUnderTest) -> None:
    """A9-T2.1/A9-T2.2: a Sangfor-style export in GBK with a password column: the preview says
    the column is ignored; nothing of it reaches the database or the audit log."""
    admin = collector.admin_headers("341021", "district_admin")
    host_id = appliance(collector, admin)
    roster = xlsx([["姓名", "单位", "状态", "VPN账号"], ["张伟", "341021", "在职", "zhangwei"],
                   ["李娜", "341021", "离职", ""]])  # fmt: skip
    assert (
        upload(collector, "/api/v1/vpn/staff/import", roster, "r.xlsx", admin, dry_run="false").status_code
        == 200
    )
    url = f"/api/v1/vpn/appliances/{host_id}/accounts/import"
    data = csv_bytes(SANGFOR, "gbk")
    preview = upload(collector, url, data, "users.csv", admin)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert "column '密码' ignored: it holds passwords" in body["ignored"]
    assert (
        body["created"] == 4
        and body["vanished"] == []
        and not any(PASSWORDS[0] in str(r) for r in body["rows"])
    )
    applied = upload(collector, url, data, "users.csv", admin, dry_run="false")
    assert applied.status_code == 200, applied.text
    with collector.sessions() as session:
        rows = {
            a.account: a for a in session.scalars(select(VpnAccount).where(VpnAccount.host_id == host_id))
        }
        assert rows["zhangwei"].source == "import" and rows["zhangwei"].server == "sangfor-vpn"
        assert rows["zhangwei"].server_kind == "sangfor" and rows["zhangwei"].full_name == "张伟"
        assert rows["zhangwei"].last_login == datetime(2026, 11, 20, 0, 15, 3, tzinfo=UTC)  # Beijing time
        assert rows["zhangwei"].last_login_source == "import" and rows["olduser"].last_login is None
        assert (rows["lina"].status, rows["olduser"].status) == ("disabled", "locked")
        assert rows["zhangwei"].owner_match == "account" and rows["lina"].owner_match == "name"
    everything = dump(collector)
    for secret in PASSWORDS:
        assert secret not in everything
    listed = collector.client.get("/api/v1/vpn/accounts", params={"host": host_id}, headers=admin).json()
    reasons = {a["account"]: a["zombie_reasons"] for a in listed["items"]}
    assert reasons["lina"] == ["no_login", "owner_left", "locked"] and reasons["olduser"] == [
        "never_used",
        "locked",
    ]
    assert reasons["zhangwei"] == [] and reasons["wangfang"] == []


def test_appliance_full_list_marks_vanished_accounts_and_keeps_newer_logins(
    collector: CollectorUnderTest,
) -> None:
    """A9-T2.3: the import is a full list; an account it no longer names is gone (present false)."""
    admin = collector.admin_headers()
    host_id = appliance(collector, admin, "341021", "usg6000")
    url = f"/api/v1/vpn/appliances/{host_id}/accounts/import"
    first = xlsx(
        [
            ["Login Name", "Display Name", "Last Login", "Password"],
            ["alice", "Alice", datetime(2026, 11, 1, 8, 0), "Sangfor@2021"],
            ["bob", "Bob", None, "x"],
        ]
    )
    assert upload(collector, url, first, "u.xlsx", admin, dry_run="false").status_code == 200
    second = xlsx([["用户名", "上次登录"], ["alice", "2026-10-01 08:00:00"]])  # an older login
    preview = upload(collector, url, second, "u.xlsx", admin).json()
    assert preview["vanished"] == ["bob"] and preview["unchanged"] == 0 and preview["updated"] == 1
    assert upload(collector, url, second, "u.xlsx", admin, dry_run="false").status_code == 200
    with collector.sessions() as session:
        rows = {
            a.account: a for a in session.scalars(select(VpnAccount).where(VpnAccount.host_id == host_id))
        }
        assert not rows["bob"].present and rows["bob"].removed_at is not None
        assert rows["alice"].present and rows["alice"].last_login == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    gone = collector.client.get("/api/v1/vpn/accounts", params={"present": "no"}, headers=admin).json()
    assert [a["account"] for a in gone["items"]] == ["bob"] and gone["items"][0]["zombie"] is False


def test_appliance_import_scope_and_type(collector: CollectorUnderTest) -> None:
    """A9-G: another county's appliance answers like a missing one; a PC is not an appliance."""
    city = collector.admin_headers()
    theirs = appliance(collector, city, "341022", "xiuning-vpn")
    district = collector.admin_headers("341021", "district_admin")
    data = csv_bytes([["用户名"], ["a"]], "utf-8")
    out = upload(collector, f"/api/v1/vpn/appliances/{theirs}/accounts/import", data, "u.csv", district)
    missing = upload(collector, "/api/v1/vpn/appliances/2000000000/accounts/import", data, "u.csv", district)
    assert out.status_code == missing.status_code == 404
    assert out.json()["error"] == missing.json()["error"] == "unknown_host"
    pc = collector.client.post(
        "/api/v1/assets", json={"hostname": "pc", "unit": "341021"}, headers=city
    ).json()["id"]
    wrong = upload(collector, f"/api/v1/vpn/appliances/{pc}/accounts/import", data, "u.csv", city)
    assert wrong.status_code == 422 and wrong.json()["error"] == "not_vpn_appliance"
    auditor = collector.admin_headers("341021", "auditor")
    mine = appliance(collector, city, "341021", "she-vpn")
    assert (
        upload(
            collector, f"/api/v1/vpn/appliances/{mine}/accounts/import", data, "u.csv", auditor
        ).status_code
        == 403
    )


def test_bad_times_and_statuses_are_row_errors_not_failures(collector: CollectorUnderTest) -> None:
    admin = collector.admin_headers()
    host_id = appliance(collector, admin, "341021", "topsec-vpn")
    rows = [["账号", "状态", "最后登录", "创建日期"], ["a", "奇怪", "0001-01-01 00:00", ""],
            ["b", "启用", "2026-11-20 08:15+99:99", ""], ["c", "锁定", "", "9999-01-01"], ["a", "启用", "", ""]]  # fmt: skip
    answer = upload(
        collector, f"/api/v1/vpn/appliances/{host_id}/accounts/import", xlsx(rows), "u.xlsx", admin
    )
    assert answer.status_code == 200, answer.text
    found = {r["row"]: r for r in answer.json()["rows"]}
    assert "not a time between 1990 and 2100" in found[2]["errors"][0]
    assert "status '奇怪' not understood" in found[2]["notes"][0]
    assert "not a time" in found[3]["errors"][0] and "not a date" in found[4]["errors"][0]
    assert "appears twice" in found[5]["errors"][0]
