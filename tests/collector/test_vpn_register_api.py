"""The VPN register API (issue 6: A9-T2.1 manage VPN users, A9-T2.3 zombie users): filters,
zombie reasons, per-unit summary, owners set by hand, the roster list, and the XLSX/CSV
exports (opened with openpyxl and compared with the database). A district admin sees only
their subtree (A9-G). SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select

from collector.db.models import AuditLog, Host, Unit
from collector.db.models_vpn import StaffMember, VpnAccount
from tests.support.collector import CollectorUnderTest

NOW = datetime.now(UTC)


def _seed(c: CollectorUnderTest) -> dict[str, int]:
    """Two appliances (歙县 341021, 休宁县 341022) with accounts of every kind, and a roster."""
    city = c.admin_headers()
    ids: dict[str, int] = {}
    for unit, name in (("341021", "she-sangfor"), ("341022", "xiuning-usg")):
        body = {"hostname": name, "unit": unit, "device_type": "vpn appliance", "vendor": "华为"}
        ids[name] = c.client.post("/api/v1/assets", json=body, headers=city).json()["id"]
    with c.sessions() as session:
        units = {u.code: u.id for u in session.scalars(select(Unit))}
        left = StaffMember(
            unit_id=units["341021"], name="李娜", status="left", left_on=date(2026, 3, 1), accounts=[]
        )
        here = StaffMember(unit_id=units["341021"], name="张伟", status="active", accounts=["zhangwei"])
        session.add_all([left, here])
        session.flush()

        def account(host: str, unit: str, name: str, **values: Any) -> None:
            row = VpnAccount(host_id=ids[host], unit_id=units[unit], source=values.pop("source", "import"),
                             server=host, server_kind="huawei", account=name, reasons=[],
                             first_seen=values.pop("first_seen", NOW - timedelta(days=400)), **values)  # fmt: skip
            session.add(row)

        account("she-sangfor", "341021", "zhangwei", status="active", weak=False, owner_id=here.id,
                owner_match="account", last_login=NOW - timedelta(days=2))  # fmt: skip
        account("she-sangfor", "341021", "lina", status="active", weak=True, owner_id=left.id, owner_match="name",
                last_login=NOW - timedelta(days=10))  # fmt: skip
        account("she-sangfor", "341021", "=cmd|calc", status="active", last_login=NOW - timedelta(days=200))
        account("she-sangfor", "341021", "olduser", status="locked", weak=None)
        account("she-sangfor", "341021", "gone", status="active", present=False, removed_at=NOW)
        account("xiuning-usg", "341022", "xiuning-admin", status="active", last_login=NOW - timedelta(days=1))
        session.commit()
        ids["left"], ids["here"] = left.id, here.id
    return ids


def _get(c: CollectorUnderTest, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    answer = c.client.get("/api/v1/vpn/accounts", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _names(body: dict[str, Any]) -> list[str]:
    return [a["account"] for a in body["items"]]


def test_list_filters_and_zombie_reasons(collector: CollectorUnderTest) -> None:
    _seed(collector)
    city = collector.admin_headers()
    everything = _get(collector, city, sort="account")
    assert _names(everything) == ["=cmd|calc", "lina", "olduser", "xiuning-admin", "zhangwei"]
    reasons = {a["account"]: a["zombie_reasons"] for a in everything["items"]}
    assert reasons == {"=cmd|calc": ["no_login"], "lina": ["owner_left"], "olduser": ["never_used", "locked"],
                       "xiuning-admin": [], "zhangwei": []}  # fmt: skip
    assert _names(_get(collector, city, zombie="yes", sort="account")) == ["=cmd|calc", "lina", "olduser"]
    assert _names(_get(collector, city, reason="owner_left")) == ["lina"]
    assert _names(_get(collector, city, weak="yes")) == ["lina"]
    assert _names(_get(collector, city, weak="unknown", unit="341021", sort="account")) == [
        "=cmd|calc",
        "olduser",
    ]
    assert _names(_get(collector, city, owner_status="none", unit="341021", sort="account")) == [
        "=cmd|calc", "olduser"]  # fmt: skip
    assert _names(_get(collector, city, q="张伟")) == ["zhangwei"]
    assert _names(_get(collector, city, present="no")) == ["gone"]
    assert _get(collector, city, unit="341000")["total"] == 5  # the city's subtree
    page = _get(collector, city, sort="last_login", direction="desc", per_page=2, page=1)
    assert page["total"] == 5 and _names(page) == ["xiuning-admin", "zhangwei"]
    one = page["items"][1]
    assert one["owner_name"] == "张伟" and one["owner_status"] == "active" and one["zombie_days"] == 90
    assert one["findings_url"] == f"/findings?category=vpn&host={one['host_id']}"
    bad = collector.client.get("/api/v1/vpn/accounts", params={"weak": "maybe"}, headers=city)
    assert bad.status_code == 422
    unknown = collector.client.get("/api/v1/vpn/accounts", params={"unit": "349999"}, headers=city)
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_unit"


def test_district_admin_sees_only_their_subtree(collector: CollectorUnderTest) -> None:
    ids = _seed(collector)
    district = collector.admin_headers("341021", "district_admin")
    assert "xiuning-admin" not in _names(_get(collector, district))
    out = collector.client.get("/api/v1/vpn/accounts", params={"unit": "341022"}, headers=district)
    missing = collector.client.get("/api/v1/vpn/accounts", params={"unit": "349999"}, headers=district)
    assert out.status_code == missing.status_code == 404
    with collector.sessions() as session:
        theirs = session.scalar(select(VpnAccount.id).where(VpnAccount.account == "xiuning-admin"))
    gone = collector.client.get(f"/api/v1/vpn/accounts/{theirs}", headers=district)
    assert gone.status_code == 404 and gone.json()["error"] == "unknown_vpn_account"
    summary = collector.client.get("/api/v1/vpn/summary", headers=district).json()
    assert [u["unit"]["code"] for u in summary["units"]] == ["341021"]
    assert (summary["accounts"], summary["weak"], summary["zombie"], summary["not_checked"]) == (4, 1, 3, 2)
    staff = collector.client.get("/api/v1/vpn/staff", headers=district).json()
    assert {s["name"]: s["owned_accounts"] for s in staff["items"]} == {"李娜": 1, "张伟": 1}
    csv_text = collector.client.get("/api/v1/vpn/accounts/export.csv", headers=district).content.decode(
        "utf-8-sig"
    )
    assert "xiuning" not in csv_text and ids["xiuning-usg"]


def test_owner_set_by_hand_is_audited_and_kept(collector: CollectorUnderTest) -> None:
    ids = _seed(collector)
    district = collector.admin_headers("341021", "district_admin")
    with collector.sessions() as session:
        olduser = session.scalar(select(VpnAccount.id).where(VpnAccount.account == "olduser"))
    answer = collector.client.patch(f"/api/v1/vpn/accounts/{olduser}", json={"owner_id": ids["left"], "note": "核实"},
                                    headers=district)  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (
        body["owner_match"] == "manual"
        and body["owner_name"] == "李娜"
        and "owner_left" in body["zombie_reasons"]
    )
    cleared = collector.client.patch(
        f"/api/v1/vpn/accounts/{olduser}", json={"owner_id": None}, headers=district
    )
    assert cleared.json()["owner_id"] is None and cleared.json()["owner_match"] == "manual"
    assert collector.client.patch(f"/api/v1/vpn/accounts/{olduser}", json={"owner_id": 2_000_000_000},
                                  headers=district).status_code == 404  # fmt: skip
    auditor = collector.admin_headers("341021", "auditor")
    assert collector.client.patch(f"/api/v1/vpn/accounts/{olduser}", json={"owner_id": None},
                                  headers=auditor).status_code == 403  # fmt: skip
    with collector.sessions() as session:
        notes = session.scalars(select(AuditLog.detail).where(AuditLog.action == "vpn.account_owner")).all()
    assert [n["note"] for n in notes] == ["核实", ""]


def test_exports_match_the_database(collector: CollectorUnderTest) -> None:
    """The printable list (A9-T2.3 cleanup): same accounts as the database, Chinese headers,
    reasons in words, formula-looking names neutralised."""
    _seed(collector)
    city = collector.admin_headers()
    answer = collector.client.get("/api/v1/vpn/accounts/export.xlsx", params={"unit": "341021"}, headers=city)
    assert answer.status_code == 200 and "attachment" in answer.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(answer.content)).worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = rows[0]
    assert header[:5] == ["单位代码", "单位", "服务器/设备", "服务类型", "账号"]
    by_account = {r[header.index("账号")]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    with collector.sessions() as session:
        wanted = session.scalars(
            select(VpnAccount).join(Host).where(Host.hostname == "she-sangfor", VpnAccount.present.is_(True))
        ).all()
        assert sorted(by_account) == sorted(("'" + a.account) if a.account.startswith("=") else a.account
                                            for a in wanted)  # fmt: skip
        for account in wanted:
            row = by_account[
                account.account if not account.account.startswith("=") else "'" + account.account
            ]
            assert row["单位代码"] == "341021" and row["服务器/设备"] == account.server
            if account.last_login:
                local = account.last_login.astimezone(UTC) + timedelta(hours=8)
                assert abs((row["最后登录(北京时间)"] - local.replace(tzinfo=None)).total_seconds()) < 1
    assert by_account["lina"]["僵尸原因"] == "使用人已离职" and by_account["lina"]["弱口令"] == "是"
    assert by_account["olduser"]["僵尸原因"] == "从未使用；已锁定或禁用但未删除"
    assert by_account["olduser"]["弱口令"] == "未检查" and by_account["zhangwei"]["僵尸账号"] == "否"
    text = collector.client.get("/api/v1/vpn/accounts/export.csv", params={"zombie": "yes", "lang": "en"},
                                headers=city).content  # fmt: skip
    assert text.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    assert table[0][4] == "Account" and sorted(r[4] for r in table[1:]) == ["'=cmd|calc", "lina", "olduser"]
    assert "no login for more than 90 days" in text.decode("utf-8-sig")


def test_staff_template_and_list_filters(collector: CollectorUnderTest) -> None:
    _seed(collector)
    city = collector.admin_headers()
    template = collector.client.get("/api/v1/vpn/staff/template.xlsx", headers=city)
    book = load_workbook(io.BytesIO(template.content))
    assert [c.value for c in book.worksheets[0][1]] == [
        "姓名",
        "单位",
        "工号",
        "状态",
        "离职日期",
        "VPN账号",
        "备注",
    ]
    left = collector.client.get("/api/v1/vpn/staff", params={"status": "left"}, headers=city).json()
    assert [s["name"] for s in left["items"]] == ["李娜"] and left["items"][0]["left_on"] == "2026-03-01"
    assert collector.client.get("/api/v1/vpn/staff", params={"q": "张"}, headers=city).json()["total"] == 1
