"""Attendance import for a training (签到表, A9-M2.3 "with attendance") from an XLSX sheet or a
CSV file (UTF-8, with or without BOM, or GBK/GB18030 as Excel on a Chinese Windows saves it).

Columns are found by their header (Chinese or English, any order, other columns ignored):
姓名/name, 单位/unit (code or name), 学时/hours, 签到/attended, 账号/username (optional link to
an account). Each row is keyed by (unit, name) within the training: an attendee already on
the list is updated, otherwise added. A preview (dry run) gives every row's action and errors;
applying writes everything or nothing, unless the admin asks to skip the rows with errors,
like the asset import (collector/services/imports.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.models import Unit, User
from collector.db.models_training import Training, TrainingAttendee
from collector.services.audit import record
from collector.services.auth import Principal
from collector.services.errors import Invalid, RowsRejected
from collector.services.tabular import cell_text, header_keys, read_csv_rows, read_xlsx_rows
from collector.services.trainings import MAX_HOURS, training_for_write
from collector.services.users import visible_user

__all__ = ["COLUMNS", "MAX_BYTES", "MAX_ROWS", "AttendanceRejected", "RowPlan", "import_attendance",
           "read_table", "template"]  # fmt: skip

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 3000

#: key, Chinese header, English header, other accepted headers.
COLUMNS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("name", "姓名", "Name", ("名字", "参训人员", "参训人", "人员", "full name")),
    ("unit", "单位", "Unit", ("单位代码", "单位名称", "所在单位", "工作单位", "unit code", "unit name")),
    ("hours", "学时", "Hours", ("课时", "时长", "时长(小时)", "学时(小时)", "hour")),
    ("attended", "签到", "Attended", ("是否签到", "出勤", "出席", "签到情况", "present", "signed in")),
    ("username", "账号", "Username", ("用户名", "系统账号", "account", "user")),
)
_HEADERS = {text.lower().replace(" ", ""): key for key, zh, en, more in COLUMNS for text in (zh, en, *more)}
_YES = {"是", "已签到", "签到", "出席", "到", "已到", "参加", "√", "✓", "✔", "y", "yes", "true", "1", "x"}
_NO = {"否", "未签到", "缺席", "未到", "请假", "未参加", "×", "✗", "n", "no", "false", "0"}


class AttendanceRejected(RowsRejected):
    """Rows have errors and the admin did not ask to skip them: nothing was written."""


@dataclass
class RowPlan:
    row: int  # the row number in the file
    action: str = "error"  # create | update | unchanged | error | skipped
    name: str = ""
    unit: str = ""
    hours: float | None = None
    attended: bool = True
    username: str = ""
    errors: list[str] = field(default_factory=list)
    unit_id: int | None = None
    user_id: int | None = None
    attendee_id: int | None = None


# -- reading ----------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    return cell_text(value) if not isinstance(value, datetime) else str(value).strip()


def _header(cells: Sequence[Any]) -> dict[int, str]:
    return header_keys(cells, _HEADERS)


def read_table(data: bytes, filename: str = "") -> list[tuple[int, dict[str, str]]]:
    """(row number, {column key: text}) of the data rows of an XLSX (first sheet) or CSV file."""
    if len(data) > MAX_BYTES:
        raise Invalid(f"the file is larger than {MAX_BYTES // 1024 // 1024} MB", "file_too_large")
    if not data:
        raise Invalid("the file is empty", "empty_file")
    rows = (
        list(read_xlsx_rows(data, max_col=30, max_row=MAX_ROWS + 20))
        if data.startswith(b"PK\x03\x04")
        else read_csv_rows(data, max_col=30, max_rows=MAX_ROWS + 20)
    )
    return list(_data_rows(rows))


def _data_rows(rows: Sequence[tuple[Any, ...]]) -> Iterator[tuple[int, dict[str, str]]]:
    header: dict[int, str] = {}
    count = 0
    for number, cells in enumerate(rows, start=1):
        if not header:
            found = _header(cells)
            if "name" in found.values() and "unit" in found.values():
                header = found
            elif number >= 10:
                break
            continue
        values = {key: _cell(cells[i]) for i, key in header.items() if i < len(cells)}
        if not any(values.values()) or len(_header(cells)) >= 2:
            continue  # blank, or a second header row (the other language)
        count += 1
        if count > MAX_ROWS:
            raise Invalid(f"at most {MAX_ROWS} rows per import", "too_many_rows")
        yield number, values
    if not header:
        raise Invalid("no header row with 姓名/name and 单位/unit found (use the template)", "no_header")


# -- planning ---------------------------------------------------------------------------------
def _units(session: Session, principal: Principal) -> dict[str, Unit]:
    found: dict[str, Unit] = {}
    for unit in session.scalars(select(Unit).order_by(Unit.sort_order, Unit.code)):
        if principal.can_see_unit(unit.id):
            for name in (unit.code, unit.name_zh, unit.name_en):
                found.setdefault(name.strip().lower(), unit)
    return found


def _hours(text: str, plan: RowPlan) -> None:
    if not text:
        return
    try:
        value = float(text.replace("，", ".").replace(",", ".").removesuffix("小时").removesuffix("h"))
    except ValueError:
        plan.errors.append(f"hours {text[:20]!r} is not a number")
        return
    if not 0 <= value <= MAX_HOURS or value != value:
        plan.errors.append(f"hours must be between 0 and {MAX_HOURS:g}")
        return
    plan.hours = round(value, 1)


def _attended(text: str, plan: RowPlan) -> None:
    value = text.strip().lower()
    if not value or value in _YES:
        plan.attended = True
    elif value in _NO:
        plan.attended = False
    else:
        plan.errors.append(f"attended {text[:20]!r}: write 是 or 否 (yes or no)")


def plan_rows(
    session: Session, principal: Principal, training: Training, rows: Sequence[tuple[int, dict[str, str]]]
) -> list[RowPlan]:
    units = _units(session, principal)
    existing = {(a.unit_id, a.name): a for a in training.attendees}
    seen: dict[tuple[int, str], int] = {}
    plans: list[RowPlan] = []
    for number, values in rows:
        plan = RowPlan(row=number)
        plans.append(plan)
        plan.name = " ".join(values.get("name", "").split())[:64]
        if not plan.name:
            plan.errors.append("the name is missing")
        unit_text = values.get("unit", "")
        unit = units.get(unit_text.lower())
        plan.unit = unit.code if unit else unit_text[:64]
        if unit is None:
            plan.errors.append(f"unknown unit {unit_text[:64]!r}" if unit_text else "the unit is missing")
        _hours(values.get("hours", ""), plan)
        _attended(values.get("attended", ""), plan)
        plan.username = values.get("username", "")[:64]
        if plan.username:
            user = session.scalar(select(User).where(User.username == plan.username))
            if user is None or not visible_user(principal, user):
                plan.errors.append(f"unknown user {plan.username!r}")
            else:
                plan.user_id = user.id
        if unit is None or plan.errors:
            continue
        plan.unit_id = unit.id
        key = (unit.id, plan.name)
        if key in seen:
            plan.errors.append(f"{plan.name} of {unit.code} appears twice in the file (row {seen[key]})")
            continue
        seen[key] = number
        _match(plan, existing.get(key))
    return plans


def _match(plan: RowPlan, found: TrainingAttendee | None) -> None:
    if found is None:
        plan.action = "create"
        return
    plan.attendee_id = found.id
    same = (found.hours, found.attended) == (plan.hours, plan.attended) and (
        plan.user_id is None or plan.user_id == found.user_id
    )
    plan.action = "unchanged" if same else "update"


# -- applying ---------------------------------------------------------------------------------
def import_attendance(
    session: Session,
    principal: Principal,
    training_id: int,
    data: bytes,
    *,
    dry_run: bool,
    skip_invalid: bool = False,
    filename: str = "",
    ip: str = "",
) -> list[RowPlan]:
    """Preview (dry run) or apply an attendance file; AttendanceRejected when rows have
    errors and ``skip_invalid`` is false (nothing written). Only a writer of the training
    (who manages its organising unit) may import, preview included."""
    training = training_for_write(session, principal, training_id)
    plans = plan_rows(session, principal, training, read_table(data, filename))
    if dry_run:
        return plans
    if any(p.errors for p in plans) and not skip_invalid:
        raise AttendanceRejected(plans)
    by_id = {a.id: a for a in training.attendees}
    done: dict[str, int] = {"create": 0, "update": 0, "unchanged": 0, "skipped": 0}
    for plan in plans:
        if plan.errors:
            plan.action = "skipped"
        elif plan.action == "create":
            attendee = TrainingAttendee(name=plan.name, unit_id=plan.unit_id, user_id=plan.user_id,
                                        hours=plan.hours, attended=plan.attended)  # fmt: skip
            training.attendees.append(attendee)
            session.flush()
            plan.attendee_id = attendee.id
        elif plan.action == "update" and plan.attendee_id is not None:
            attendee = by_id[plan.attendee_id]
            attendee.hours, attendee.attended = plan.hours, plan.attended
            if plan.user_id is not None:
                attendee.user_id = plan.user_id
        done[plan.action] = done.get(plan.action, 0) + 1
    record(
        session,
        principal.username,
        "training.attendance_import",
        f"training:{training.id}",
        {
            **done,
            "file": filename[:200],
            "skipped_rows": [p.row for p in plans if p.action == "skipped"][:500],
        },
        ip,
        principal.user_id,
    )
    session.commit()
    return plans


# -- the template -------------------------------------------------------------------------------
def template(session: Session, principal: Principal, lang: str) -> IO[bytes]:
    """An empty attendance sheet with headers in ``lang`` and a help sheet: the columns, the
    accepted 签到 values, and the units the caller may name."""
    import tempfile

    from openpyxl import Workbook
    from openpyxl.styles import Font

    zh = lang == "zh-CN"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "签到表" if zh else "Attendance"
    sheet.append([zh_ if zh else en for _k, zh_, en, _m in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for letter, width in zip("ABCDE", (14, 24, 8, 8, 16), strict=True):
        sheet.column_dimensions[letter].width = width
    help_sheet = book.create_sheet("说明" if zh else "Help")
    notes_zh = (
        ("姓名", "必填"),
        ("单位", "必填：单位代码或单位名称（见下表）"),
        ("学时", "可空：为空时按培训的学时计"),
        ("签到", "可空：为空或“是/√”表示已签到，“否/缺席/请假”表示未到"),
        ("账号", "可空：本系统的用户名，用于关联账号"),
    )
    notes_en = (
        ("Name", "required"),
        ("Unit", "required: unit code or name (see below)"),
        ("Hours", "optional: empty means the training's hours"),
        ("Attended", "optional: empty or yes/√ means present; no/absent means not present"),
        ("Username", "optional: an account name of this system, to link the person"),
    )
    for row in notes_zh if zh else notes_en:
        help_sheet.append(list(row))
    help_sheet.append([])
    help_sheet.append(["单位代码" if zh else "Unit code", "单位名称" if zh else "Unit name"])
    for unit in session.scalars(select(Unit).order_by(Unit.sort_order, Unit.code)):
        if principal.can_see_unit(unit.id):
            help_sheet.append([unit.code, unit.name_zh if zh else unit.name_en])
    handle = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115 - returned open
    book.save(handle)
    handle.seek(0)
    return handle
