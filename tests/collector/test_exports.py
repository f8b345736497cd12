"""Exports of the asset register (issue 4, A9-M3.3 资产清单化, A9-G): the XLSX and CSV open in a
real spreadsheet library with the right rows, in the caller's scope only, streamed, audited.
SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import openpyxl
from sqlalchemy import func, insert, select, update

from collector.db.base import utcnow
from collector.db.models import AuditLog, Host, HostSoftware, Unit
from tests.collector.test_register import _fleet
from tests.support.collector import CollectorUnderTest

HEADER_ZH = [
    "单位", "使用人", "存放地点", "资产编号", "设备类型", "品牌型号", "序列号", "处理器", "内存 (GiB)",
    "硬盘 (GiB)", "操作系统", "IP 地址", "MAC 地址", "首次上报", "最近上报", "状态",
    "计算机名", "购置日期", "来源", "标签",
]  # fmt: skip
HEADER_EN = [
    "Unit", "User", "Location", "Asset number", "Device type", "Make / model", "Serial number", "CPU",
    "Memory (GiB)", "Disk (GiB)", "Operating system", "IP addresses", "MAC addresses", "First seen",
    "Last seen", "Status", "Host name", "Purchase date", "Source", "Tags",
]  # fmt: skip
EVIL = "=cmd|'/C calc'!A0"


def _get(collector: CollectorUnderTest, path: str, headers: dict[str, str], **params: Any) -> Any:
    answer = collector.client.get(path, headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return answer


def _xlsx(collector: CollectorUnderTest, headers: dict[str, str], **params: Any) -> list[list[Any]]:
    answer = _get(collector, "/api/v1/exports/hosts.xlsx", headers, **params)
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    return [list(row) for row in sheet.values]


def _csv(collector: CollectorUnderTest, path: str, headers: dict[str, str], **params: Any) -> list[list[str]]:
    raw = _get(collector, path, headers, **params).content
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel on a Chinese Windows reads UTF-8 only with the BOM
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def _column(rows: list[list[Any]], name: str) -> list[Any]:
    at = rows[0].index(name)
    return [row[at] for row in rows[1:]]


def _audits(collector: CollectorUnderTest, action: str) -> list[AuditLog]:
    with collector.sessions() as session:
        return list(session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_xlsx_holds_the_register_in_the_columns_offices_use(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    with collector.sessions() as session:
        session.execute(
            update(Host).where(Host.hostname == "pc-4").values(location="302室", device_type="desktop")
        )
        pc4 = session.scalars(select(Host).where(Host.hostname == "pc-4")).one()
        session.commit()
    rows = _xlsx(collector, collector.admin_headers(), unit="341022", sort="hostname")
    assert rows[0] == HEADER_ZH
    assert _column(rows, "计算机名") == ["pc-3", "pc-4"]
    assert _column(rows, "单位") == ["休宁县统计局", "休宁县统计局"]
    assert _column(rows, "状态") == ["未上报", "在线"]
    pc3_row, pc4_row = (dict(zip(HEADER_ZH, row, strict=True)) for row in rows[1:])
    assert pc4_row["使用人"] == "张三" and pc4_row["资产编号"] == "XN-2024-007"
    assert pc4_row["存放地点"] == "302室" and pc4_row["设备类型"] == "台式机"
    assert pc4_row["来源"] == "代理上报" and pc3_row["最近上报"] is None
    assert pc4_row["IP 地址"].split("; ")[0] == pc4.primary_ip
    assert pc4_row["MAC 地址"].split("; ")[0] == pc4.primary_mac
    assert pc4.memory_bytes is not None and pc4_row["内存 (GiB)"] == round(pc4.memory_bytes / 2**30, 1)
    assert pc4_row["操作系统"].startswith(pc4.os_name) and pc4_row["处理器"] == pc4.cpu_model
    # times are local time of the display zone (Asia/Shanghai), as offices read them
    assert pc4.last_seen is not None
    local = pc4.last_seen.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    assert abs(pc4_row["最近上报"] - local) < timedelta(seconds=1)


def test_csv_is_utf8_with_bom_and_parses_in_both_languages(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    city = collector.admin_headers()
    rows = _csv(collector, "/api/v1/exports/hosts.csv", city, sort="hostname")
    assert rows[0] == HEADER_ZH
    assert _column(rows, "计算机名") == ["pc-0", "pc-1", "pc-2", "pc-3", "pc-4"]
    assert "张三" in _column(rows, "使用人") and "歙县统计局" in _column(rows, "单位")
    english = _csv(collector, "/api/v1/exports/hosts.csv", city, sort="hostname", lang="en")
    assert english[0] == HEADER_EN
    assert _column(english, "Unit")[0] == "She County Bureau of Statistics"
    assert _column(english, "Status") == ["online", "online", "online", "no report yet", "online"]
    assert _column(english, "User")[4] == "张三"


def test_filters_and_sort_are_those_of_the_host_list(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    city = collector.admin_headers()
    old_apt = _csv(collector, "/api/v1/exports/hosts.csv", city, software="apt", version_below="2.6")
    assert _column(old_apt, "计算机名") == ["pc-1"]
    descending = _xlsx(collector, city, sort="hostname", direction="desc", page=2, per_page=1)
    assert _column(descending, "计算机名") == ["pc-4", "pc-3", "pc-2", "pc-1", "pc-0"]  # no paging
    listed = collector.client.get("/api/v1/hosts", headers=city, params={"q": "pc-1", "status": "online"})
    exported = _csv(collector, "/api/v1/exports/hosts.csv", city, q="pc-1", status="online")
    assert _column(exported, "计算机名") == [h["hostname"] for h in listed.json()["items"]]


def test_formula_cells_arrive_neutralised(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    with collector.sessions() as session:
        session.execute(update(Host).where(Host.hostname == "pc-0").values(owner=EVIL, hostname="+pc-0"))
        session.commit()
    city = collector.admin_headers()
    rows = _csv(collector, "/api/v1/exports/hosts.csv", city, q="pc-0")
    assert _column(rows, "使用人") == ["'" + EVIL] and _column(rows, "计算机名") == ["'+pc-0"]
    answer = _get(collector, "/api/v1/exports/hosts.xlsx", city, q="pc-0")
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    owner = sheet.cell(row=2, column=HEADER_ZH.index("使用人") + 1)
    assert owner.value == "'" + EVIL and owner.data_type == "s"  # text, not a formula


def test_a_district_admin_exports_only_their_district(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    she = collector.admin_headers("341021", "district_admin")
    rows = _xlsx(collector, she, sort="hostname")
    assert _column(rows, "计算机名") == ["pc-0", "pc-1", "pc-2"]
    assert set(_column(rows, "单位")) == {"歙县统计局"}
    # another district's code gives an empty export, exactly like a code that does not exist
    for unit in ("341022", "no-such-unit"):
        assert _xlsx(collector, she, unit=unit) == [HEADER_ZH]
        assert _csv(collector, "/api/v1/exports/hosts.csv", she, unit=unit) == [HEADER_ZH]
    assert _csv(collector, "/api/v1/exports/hosts.csv", she, q="张三") == [HEADER_ZH]
    auditor = collector.admin_headers("341022", "auditor")  # reading is what auditors do
    assert _column(_xlsx(collector, auditor, sort="hostname"), "计算机名") == ["pc-3", "pc-4"]


def test_every_export_is_audited_with_its_filters_and_row_count(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    she = collector.admin_headers("341021", "district_admin")
    _get(collector, "/api/v1/exports/hosts.xlsx", she, unit="341021", os="debian")
    _get(collector, "/api/v1/exports/hosts.csv", she, unit="341022", lang="en")
    _get(collector, "/api/v1/exports/software.csv", she, q="apt")
    first, second = _audits(collector, "export.hosts")
    assert first.actor.startswith("admin") and first.user_id is not None and first.ip
    assert first.detail == {
        "format": "xlsx",
        "filters": {"unit": "341021", "os": "debian"},
        "sort": "unit",
        "direction": "asc",
        "rows": 3,
        "lang": "zh-CN",
    }
    assert second.detail["rows"] == 0 and second.detail["format"] == "csv" and second.detail["lang"] == "en"
    (software,) = _audits(collector, "export.software")
    assert software.detail["filters"] == {"q": "apt"} and software.detail["rows"] >= 1


def test_a_large_export_is_streamed_in_chunks(collector: CollectorUnderTest) -> None:
    with collector.sessions() as session:
        unit_id = session.scalar(select(Unit.id).where(Unit.code == "341024"))
        now = utcnow()
        session.execute(
            insert(Host),
            [
                {
                    "agent_id": uuid.uuid4(),
                    "unit_id": unit_id,
                    "hostname": f"qm-{n:05d}",
                    "owner": f"祁门用户{n}",
                    "last_seen": now,
                    "first_seen": now,
                }
                for n in range(3000)
            ],
        )
        session.commit()
    city = collector.admin_headers()
    with collector.client.stream(
        "GET", "/api/v1/exports/hosts.csv", headers=city, params={"sort": "hostname"}
    ) as answer:
        assert answer.status_code == 200
        chunks = list(answer.iter_raw())
    assert len(chunks) > 10  # written and sent a batch at a time, not built whole in memory
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8-sig"), newline="")))
    assert len(rows) == 3001 and rows[1][HEADER_ZH.index("计算机名")] == "qm-00000"
    assert rows[-1][HEADER_ZH.index("使用人")] == "祁门用户2999"
    with collector.client.stream("GET", "/api/v1/exports/hosts.xlsx", headers=city) as answer:
        assert answer.status_code == 200
        chunks = list(answer.iter_raw())
    assert len(chunks) > 1
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(chunks)), read_only=True).active
    assert sheet is not None and sum(1 for _ in sheet.values) == 3001


def test_files_are_named_with_the_date_in_utf8_and_ascii(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    today = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    answer = _get(collector, "/api/v1/exports/hosts.xlsx", city)
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument")
    disposition = answer.headers["content-disposition"]
    assert f'filename="asset-register-{today}.xlsx"' in disposition
    assert f"filename*=UTF-8''{quote(f'资产清单-{today}.xlsx')}" in disposition
    answer = _get(collector, "/api/v1/exports/software.csv", city, lang="en")
    assert answer.headers["content-type"].startswith("text/csv")
    assert f"filename*=UTF-8''software-catalogue-{today}.csv" in answer.headers["content-disposition"]


def test_the_software_catalogue_counts_hosts_in_scope(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    city = _csv(collector, "/api/v1/exports/software.csv", collector.admin_headers(), q="apt")
    assert city[0] == ["软件名称", "版本", "发布者", "主机数"]
    apt = {row[1]: int(row[3]) for row in city[1:] if row[0] == "apt"}
    assert apt["2.2.4"] == 1 and sum(apt.values()) == 5
    she = collector.admin_headers("341022", "district_admin")
    book = _get(collector, "/api/v1/exports/software.xlsx", she, q="apt", lang="en")
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    rows = list(sheet.values)
    assert rows[0] == ("Title", "Version", "Publisher", "Hosts")
    assert {row[1]: row[3] for row in rows[1:] if row[0] == "apt"} == {
        v: 2 for v in apt if v != "2.2.4"
    }  # 休宁县's two hosts only
    assert _csv(collector, "/api/v1/exports/software.csv", she, unit="341021") == [city[0]]


def test_one_hosts_programs_and_out_of_scope_is_not_found(collector: CollectorUnderTest) -> None:
    _fleet(collector)
    with collector.sessions() as session:
        ids: dict[str, int] = dict(session.execute(select(Host.hostname, Host.id)).all())
        installed = session.scalar(select(func.count()).where(HostSoftware.host_id == ids["pc-0"]))
    she = collector.admin_headers("341021", "district_admin")
    rows = _csv(collector, f"/api/v1/exports/hosts/{ids['pc-0']}/software.csv", she)
    assert rows[0] == ["软件名称", "版本", "发布者", "架构", "类别", "安装日期", "首次发现"]
    assert len(rows) - 1 == installed and "apt" in _column(rows, "软件名称")
    outside = collector.client.get(f"/api/v1/exports/hosts/{ids['pc-3']}/software.csv", headers=she)
    missing = collector.client.get("/api/v1/exports/hosts/999999/software.csv", headers=she)
    assert outside.status_code == missing.status_code == 404
    assert outside.json()["error"] == missing.json()["error"] == "unknown_host"
    (entry,) = _audits(collector, "export.host_software")
    assert entry.target == f"host:{ids['pc-0']}" and entry.detail["rows"] == installed


def test_bad_parameters_are_clear_4xx(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    for path in ("/api/v1/exports/hosts.xlsx", "/api/v1/exports/hosts.csv"):
        for params in ({"lang": "fr"}, {"sort": "password"}, {"status": "asleep"}, {"colour": "red"}):
            answer = collector.client.get(path, headers=city, params=params)
            assert answer.status_code == 422, (path, params, answer.text)
        for params in ({"mac": "12:34"}, {"version_below": "2.0"}):
            answer = collector.client.get(path, headers=city, params=params)
            assert answer.status_code == 400 and answer.json()["error"] == "bad_filter", answer.text
        stranger = {"Authorization": "Bearer not-a-token"}  # the client also holds a session cookie
        assert collector.client.get(path, headers=stranger).status_code == 401
    answer = collector.client.get("/api/v1/exports/software.csv", headers=city, params={"kind": "virus"})
    assert answer.status_code == 422
    assert collector.client.get("/api/v1/exports/hosts/0/software.csv", headers=city).status_code == 422
    assert _audits(collector, "export.hosts") == []  # refused exports are not recorded as done
