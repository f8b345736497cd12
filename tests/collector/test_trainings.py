"""The training ledger (A9-M2.3: at least one technical training a year, with attendance) in
the caller's scope (A9-G): records, attendees, materials, and the attendance import from XLSX
(made by openpyxl) and CSV (UTF-8 with BOM, and GBK as Excel on a Chinese Windows saves it).
SQLite and PostgreSQL."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from collector.db.models import AuditLog
from collector.db.models_training import TrainingAttendee, TrainingMaterial
from collector.services import trainings
from tests.support.collector import CollectorUnderTest

Headers = dict[str, str]
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TRAINING = {
    "held_on": "2026-04-15",
    "topic": "勒索病毒防范与终端加固",
    "unit": "341000",
    "kind": "technical",
    "trainer": "市局计算站 王工",
    "location": "市局三楼会议室",
    "hours": 3,
}


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _audit(collector: CollectorUnderTest, prefix: str) -> list[AuditLog]:
    with collector.sessions() as session:
        query = select(AuditLog).where(AuditLog.action.startswith(prefix)).order_by(AuditLog.id)
        return list(session.scalars(query))


def _create(collector: CollectorUnderTest, headers: Headers, **changes: Any) -> dict[str, Any]:
    answer = collector.client.post("/api/v1/trainings", headers=headers, json={**TRAINING, **changes})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


# -- records ------------------------------------------------------------------------------------
def test_a_training_is_recorded_with_units_and_attendees_read_back_and_audited(
    collector: CollectorUnderTest,
) -> None:
    city = collector.admin_headers()
    body = _create(
        collector,
        city,
        topic="  网络安全技术培训  ",
        units=["341021", "黄山区统计局"],
        attendees=[
            {"name": "张三", "unit": "341021", "hours": 2.5},
            {"name": "李四", "unit": "歙县统计局", "attended": False},
        ],
    )
    assert body["topic"] == "网络安全技术培训" and body["unit"]["code"] == "341000"
    assert body["hours"] == 3 and body["kind"] == "technical" and body["editable"] is True
    assert sorted(u["code"] for u in body["units"]) == ["341003", "341021"]
    assert [(a["name"], a["unit"]["code"], a["hours"], a["attended"]) for a in body["attendees"]] == [
        ("张三", "341021", 2.5, True),
        ("李四", "341021", None, False),
    ]
    assert body["attended_count"] == 1
    again = collector.client.get(f"/api/v1/trainings/{body['id']}", headers=city).json()
    assert again == body
    [entry] = _audit(collector, "training.create")
    assert entry.target == f"training:{body['id']}" and entry.detail["units"] == ["341003", "341021"]

    patched = collector.client.patch(
        f"/api/v1/trainings/{body['id']}",
        headers=city,
        json={"kind": "awareness", "hours": 2, "units": ["341021"], "notes": "课件见附件", "topic": None},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["kind"], patched.json()["hours"], patched.json()["topic"]) == (
        "awareness",
        2,
        "网络安全技术培训",
    )
    assert [u["code"] for u in patched.json()["units"]] == ["341021"]
    [update] = _audit(collector, "training.update")
    assert update.detail["changed"]["kind"] == ["technical", "awareness"]
    assert update.detail["changed"]["notes"] == []  # free text: that it changed, not what


def test_the_list_filters_by_year_kind_unit_and_text(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    _create(collector, city, held_on="2025-06-01", topic="2025 技术培训")
    _create(collector, city, held_on="2026-03-01", topic="保密意识教育", kind="awareness")
    _create(collector, city, held_on="2026-05-01", topic="日志分析", unit="341021",
            attendees=[{"name": "王五", "unit": "341021"}])  # fmt: skip

    def topics(**params: Any) -> list[str]:
        answer = collector.client.get("/api/v1/trainings", headers=city, params=params)
        assert answer.status_code == 200, answer.text
        return [t["topic"] for t in answer.json()["items"]]

    assert topics() == ["日志分析", "保密意识教育", "2025 技术培训"]
    assert topics(year=2026) == ["日志分析", "保密意识教育"]
    assert topics(year=2026, kind="technical") == ["日志分析"]
    assert topics(unit="341021") == ["日志分析"]
    assert topics(q="意识") == ["保密意识教育"]
    assert collector.client.get("/api/v1/trainings", headers=city, params={"year": 1999}).status_code == 422


def test_bad_values_are_refused_with_clear_messages(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()

    def post(**changes: Any) -> Any:
        return collector.client.post("/api/v1/trainings", headers=city, json={**TRAINING, **changes})

    assert post(kind="lecture").status_code == 422
    assert post(hours=-1).status_code == 422
    assert post(topic="").status_code == 422
    assert post(held_on="1999-12-31").status_code == 422
    assert post(topic="a\x00b").status_code == 422
    unknown = post(unit="349999")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_unit"
    spaces = post(topic="   ")
    assert spaces.status_code == 422 and spaces.json()["error"] == "missing_topic"
    body = _create(collector, city)
    url = f"/api/v1/trainings/{body['id']}/attendees"
    assert (
        collector.client.post(url, headers=city, json={"name": "张三", "unit": "341021"}).status_code == 201
    )
    twice = collector.client.post(url, headers=city, json={"name": "张三", "unit": "341021"})
    assert twice.status_code == 409 and twice.json()["error"] == "attendee_exists"
    nobody = collector.client.post(
        url, headers=city, json={"name": "赵六", "unit": "341021", "username": "nobody"}
    )
    assert nobody.status_code == 404 and nobody.json()["error"] == "unknown_user"


def test_attendees_can_be_linked_to_an_account_and_removed(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    collector.add_user("she.zhang", "auditor", "341021")
    body = _create(collector, city)
    url = f"/api/v1/trainings/{body['id']}/attendees"
    added = collector.client.post(
        url, headers=city, json={"name": "张三", "unit": "341021", "username": "she.zhang"}
    )
    assert added.status_code == 201 and added.json()["username"] == "she.zhang"
    removed = collector.client.delete(f"{url}/{added.json()['id']}", headers=city)
    assert removed.status_code == 204
    assert collector.client.delete(f"{url}/{added.json()['id']}", headers=city).status_code == 404
    assert [e.action for e in _audit(collector, "training.attendee")] == [
        "training.attendee_add",
        "training.attendee_remove",
    ]


# -- scope --------------------------------------------------------------------------------------
def test_a_district_sees_the_city_training_it_attended_cut_to_its_own_people(
    collector: CollectorUnderTest,
) -> None:
    city = collector.admin_headers()
    shared = _create(collector, city, units=["341021", "341022"], attendees=[
        {"name": "张三", "unit": "341021"}, {"name": "休宁的人", "unit": "341022"}])  # fmt: skip
    other = _create(collector, city, unit="341022", topic="休宁县内部培训")
    she = collector.admin_headers("341021", "district_admin")
    seen = collector.client.get(f"/api/v1/trainings/{shared['id']}", headers=she)
    assert seen.status_code == 200
    assert [a["name"] for a in seen.json()["attendees"]] == ["张三"]
    assert [u["code"] for u in seen.json()["units"]] == ["341021"]
    assert "休宁" not in seen.text and seen.json()["editable"] is False
    listed = collector.client.get("/api/v1/trainings", headers=she).json()
    assert [t["id"] for t in listed["items"]] == [shared["id"]]

    hidden = collector.client.get(f"/api/v1/trainings/{other['id']}", headers=she)
    missing = collector.client.get("/api/v1/trainings/2000000000", headers=she)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"] == missing.json()["error"] == "unknown_training"
    refused = collector.client.patch(f"/api/v1/trainings/{shared['id']}", headers=she, json={"hours": 1})
    assert refused.status_code == 403 and refused.json()["error"] == "not_your_training"

    own = _create(collector, she, unit="341021", topic="歙县终端安全培训")
    assert own["editable"] is True
    elsewhere = collector.client.post("/api/v1/trainings", headers=she, json={**TRAINING, "unit": "341022"})
    assert elsewhere.status_code == 404 and elsewhere.json()["error"] == "unknown_unit"
    attendee = collector.client.post(
        f"/api/v1/trainings/{own['id']}/attendees", headers=she, json={"name": "x", "unit": "341022"}
    )
    assert attendee.status_code == 404


def test_a_district_admin_editing_units_keeps_the_units_it_cannot_see(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    she = collector.admin_headers("341021", "district_admin")
    own = _create(collector, she, unit="341021")
    collector.client.patch(f"/api/v1/trainings/{own['id']}", headers=city, json={"units": ["341022"]})
    collector.client.patch(f"/api/v1/trainings/{own['id']}", headers=she, json={"units": ["341021"]})
    codes = [
        u["code"]
        for u in collector.client.get(f"/api/v1/trainings/{own['id']}", headers=city).json()["units"]
    ]
    assert sorted(codes) == ["341021", "341022"]


def test_read_only_roles_read_and_never_write(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    body = _create(collector, city, unit="341021")
    auditor = collector.admin_headers("341021", "auditor")
    assert (
        collector.client.get(f"/api/v1/trainings/{body['id']}", headers=auditor).json()["editable"] is False
    )
    for answer in (
        collector.client.post("/api/v1/trainings", headers=auditor, json={**TRAINING, "unit": "341021"}),
        collector.client.patch(f"/api/v1/trainings/{body['id']}", headers=auditor, json={"hours": 1}),
        collector.client.delete(f"/api/v1/trainings/{body['id']}", headers=auditor),
    ):
        assert answer.status_code == 403 and answer.json()["error"] == "read_only"


def test_deleting_a_training_removes_its_attendance_and_files(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    body = _create(collector, city, attendees=[{"name": "张三", "unit": "341021"}])
    files = {"file": ("课件.pdf", PDF, "application/pdf")}
    assert (
        collector.client.post(
            f"/api/v1/trainings/{body['id']}/materials", headers=city, files=files
        ).status_code
        == 201
    )
    assert collector.client.delete(f"/api/v1/trainings/{body['id']}", headers=city).status_code == 204
    assert collector.client.get(f"/api/v1/trainings/{body['id']}", headers=city).status_code == 404
    with collector.sessions() as session:
        assert session.scalar(select(func.count()).select_from(TrainingAttendee)) == 0
        assert session.scalar(select(func.count()).select_from(TrainingMaterial)) == 0
    [entry] = _audit(collector, "training.delete")
    assert entry.detail["attendees"] == 1 and entry.detail["materials"] == 1


# -- materials ------------------------------------------------------------------------------------
def test_a_material_is_stored_checked_and_downloaded_as_an_attachment(collector: CollectorUnderTest) -> None:
    city = collector.admin_headers()
    body = _create(collector, city, unit="341021")
    url = f"/api/v1/trainings/{body['id']}/materials"
    added = collector.client.post(
        url, headers=city, files={"file": ("../../课件 第1讲.pdf", PDF, "application/pdf")}
    )
    assert added.status_code == 201, added.text
    material = added.json()
    assert (material["filename"], material["content_type"], material["size"]) == (
        "课件 第1讲.pdf",
        "application/pdf",
        len(PDF),
    )
    download = collector.client.get(material["url"], headers=city)
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E8%AF%BE%E4%BB%B6" in download.headers["content-disposition"]
    assert download.headers["x-content-type-options"] == "nosniff"
    text = collector.client.post(
        url, headers=city, files={"file": ("名单.txt", "张三\n".encode("gbk"), "text/plain")}
    )
    assert text.status_code == 201 and text.json()["content_type"] == "text/plain; charset=gb18030"

    auditor = collector.admin_headers("341021", "auditor")
    assert collector.client.get(material["url"], headers=auditor).content == PDF
    xiuning = collector.admin_headers("341022", "district_admin")
    hidden = collector.client.get(material["url"], headers=xiuning)
    assert hidden.status_code == 404 and hidden.json()["error"] == "unknown_training"
    assert collector.client.delete(material["url"], headers=city).status_code == 204
    assert collector.client.get(material["url"], headers=city).status_code == 404
    assert [e.action for e in _audit(collector, "training.material")] == [
        "training.material_add",
        "training.material_add",
        "training.material_remove",
    ]


@pytest.mark.parametrize(
    ("name", "data", "declared", "error"),
    [
        ("tool.exe", b"MZ\x90\x00", "application/octet-stream", "bad_file_type"),
        ("slides.pdf", b"MZ\x90\x00 not a pdf", "application/pdf", "content_mismatch"),
        ("slides.pdf", PDF, "text/html", "content_type_mismatch"),
        ("photo.png", b"\xff\xd8\xff\xe0 jpeg", "image/png", "content_mismatch"),
        ("notes.txt", b"a\x00b", "text/plain", "content_mismatch"),
        ("empty.pdf", b"", "application/pdf", "empty_file"),
        ("noext", PDF, "application/pdf", "bad_file_type"),
    ],
)
def test_materials_of_the_wrong_kind_are_refused(
    collector: CollectorUnderTest, name: str, data: bytes, declared: str, error: str
) -> None:
    city = collector.admin_headers()
    body = _create(collector, city)
    answer = collector.client.post(
        f"/api/v1/trainings/{body['id']}/materials", headers=city, files={"file": (name, data, declared)}
    )
    assert answer.status_code == 422 and answer.json()["error"] == error, answer.text


def test_materials_have_a_size_limit(collector: CollectorUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trainings, "MAX_MATERIAL_BYTES", 1024 * 1024)
    city = collector.admin_headers()
    body = _create(collector, city)
    big = PDF + b"0" * (1024 * 1024)
    answer = collector.client.post(
        f"/api/v1/trainings/{body['id']}/materials",
        headers=city,
        files={"file": ("big.pdf", big, "application/pdf")},
    )
    assert answer.status_code == 422 and answer.json()["error"] == "file_too_large"


# -- attendance import ---------------------------------------------------------------------------------
SHEET = [
    ["姓名", "单位", "学时", "签到", "备注"],
    ["张三", "341021", 3, "是", ""],
    ["李四", "歙县统计局", "", "√", "单位按名称"],
    ["王五", "341021", 2.5, "请假", ""],
    ["", "341021", 3, "是", "没有姓名"],
    ["赵六", "不存在的局", 3, "是", ""],
    ["钱七", "341021", "三", "是", ""],
    ["孙八", "341021", 3, "也许", ""],
    ["张三", "341021", 3, "是", "重复"],
    ["周九", "341022", 3, "是", "超出范围"],
]


def _import(collector: CollectorUnderTest, headers: Headers, training_id: int, data: bytes, name: str = "签到表.xlsx",
            **form: str) -> Any:  # fmt: skip
    return collector.client.post(
        f"/api/v1/trainings/{training_id}/attendance/import",
        headers=headers,
        files={"file": (name, data)},
        data=form,
    )


def _she_training(collector: CollectorUnderTest) -> tuple[Headers, int]:
    she = collector.admin_headers("341021", "district_admin")
    return she, int(_create(collector, she, unit="341021")["id"])


def test_an_attendance_sheet_is_previewed_row_by_row(collector: CollectorUnderTest) -> None:
    she, training_id = _she_training(collector)
    answer = _import(collector, she, training_id, xlsx(SHEET))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    rows = {r["row"]: r for r in body["rows"]}
    assert [rows[n]["action"] for n in range(2, 11)] == ["create"] * 3 + ["error"] * 6
    assert (rows[3]["unit"], rows[3]["hours"], rows[4]["attended"]) == ("341021", None, False)
    assert rows[2]["hours"] == 3 and rows[4]["hours"] == 2.5
    assert rows[5]["errors"] == ["the name is missing"]
    assert rows[6]["errors"] == ["unknown unit '不存在的局'"]
    assert "is not a number" in rows[7]["errors"][0]
    assert "write 是 or 否" in rows[8]["errors"][0]
    assert "appears twice in the file (row 2)" in rows[9]["errors"][0]
    assert rows[10]["errors"] == ["unknown unit '341022'"]  # outside the scope looks unknown
    assert (body["created"], body["errors"], body["applied"]) == (3, 6, False)
    with collector.sessions() as session:
        assert session.scalar(select(func.count()).select_from(TrainingAttendee)) == 0


def test_applying_a_sheet_with_errors_writes_nothing_unless_bad_rows_are_skipped(
    collector: CollectorUnderTest,
) -> None:
    she, training_id = _she_training(collector)
    refused = _import(collector, she, training_id, xlsx(SHEET), dry_run="false")
    assert refused.status_code == 422 and refused.json()["error"] == "import_has_errors"
    assert [p["location"] for p in refused.json()["problems"]] == [f"row {n}" for n in range(5, 11)]
    applied = _import(collector, she, training_id, xlsx(SHEET), dry_run="false", skip_invalid="true")
    assert applied.status_code == 200, applied.text
    assert [r["action"] for r in applied.json()["rows"]].count("skipped") == 6
    people = collector.client.get(f"/api/v1/trainings/{training_id}", headers=she).json()["attendees"]
    assert [(a["name"], a["hours"], a["attended"]) for a in people] == [
        ("张三", 3, True),
        ("李四", None, True),
        ("王五", 2.5, False),
    ]
    [entry] = _audit(collector, "training.attendance_import")
    assert entry.detail["create"] == 3 and entry.detail["skipped_rows"] == [5, 6, 7, 8, 9, 10]

    again = _import(collector, she, training_id, xlsx([SHEET[0], SHEET[1], ["王五", "341021", 2.5, "是"]]))
    assert [r["action"] for r in again.json()["rows"]] == ["unchanged", "update"]


def test_a_gbk_csv_from_excel_and_a_utf8_csv_with_english_headers_are_read(
    collector: CollectorUnderTest,
) -> None:
    she, training_id = _she_training(collector)
    gbk = "姓名,单位,学时,签到\r\n张三,歙县统计局,3,是\r\n李四,341021,,否\r\n".encode("gbk")
    answer = _import(collector, she, training_id, gbk, name="签到表.csv", dry_run="false")
    assert answer.status_code == 200, answer.text
    assert [(r["name"], r["unit"], r["attended"]) for r in answer.json()["rows"]] == [
        ("张三", "341021", True),
        ("李四", "341021", False),
    ]
    utf8 = "\ufeffName;Unit;Hours;Attended\nWang Wu;341021;1.5;yes\n".encode()
    english = _import(collector, she, training_id, utf8, name="attendance.csv", dry_run="false")
    assert [(r["name"], r["hours"]) for r in english.json()["rows"]] == [("Wang Wu", 1.5)]
    with collector.sessions() as session:
        assert sorted(session.scalars(select(TrainingAttendee.name))) == ["Wang Wu", "张三", "李四"]


def test_the_attendance_template_is_filled_and_imported(collector: CollectorUnderTest) -> None:
    she, training_id = _she_training(collector)
    answer = collector.client.get("/api/v1/trainings/attendance-template.xlsx", headers=she)
    assert answer.status_code == 200
    book = load_workbook(io.BytesIO(answer.content))
    sheet = book.worksheets[0]
    assert [c.value for c in sheet[1]] == ["姓名", "单位", "学时", "签到", "账号"]
    help_rows = list(book.worksheets[1].iter_rows(values_only=True))
    assert ("341021", "歙县统计局") in help_rows and not any(r and r[0] == "341022" for r in help_rows)
    sheet.append(["张三", "341021", 2, "是", None])
    buffer = io.BytesIO()
    book.save(buffer)
    preview = _import(collector, she, training_id, buffer.getvalue()).json()
    assert [(r["action"], r["name"]) for r in preview["rows"]] == [("create", "张三")]
    english = collector.client.get(
        "/api/v1/trainings/attendance-template.xlsx", headers=she, params={"lang": "en"}
    )
    header = next(load_workbook(io.BytesIO(english.content)).worksheets[0].iter_rows(values_only=True))
    assert header == ("Name", "Unit", "Hours", "Attended", "Username")


def test_files_that_are_not_an_attendance_sheet_are_refused(collector: CollectorUnderTest) -> None:
    she, training_id = _she_training(collector)

    def error(data: bytes) -> str:
        answer = _import(collector, she, training_id, data)
        assert answer.status_code == 422, answer.text
        return str(answer.json()["error"])

    assert error(b"PK\x03\x04broken") == "not_xlsx"
    assert error(xlsx([["a", "b"], ["c", "d"]])) == "no_header"
    assert error(b"\xff\xfe\x00\x00garbage") in ("bad_encoding", "no_header")
    assert error(b"") == "empty_file"
    assert error(b"0" * (5 * 1024 * 1024 + 1)) == "file_too_large"
    auditor = collector.admin_headers("341021", "auditor")
    assert _import(collector, auditor, training_id, xlsx(SHEET)).status_code == 403
