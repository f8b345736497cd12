"""Imports of the VPN register (issue 6: A9-T2.1 manage VPN users, A9-T2.3 zombie users).

Two spreadsheets, XLSX (first sheet) or CSV (UTF-8 with or without BOM, or GBK), columns found
by their header text (Chinese or English, any order; other columns are ignored):

- The staff roster (人员名单): 姓名/name, 单位/unit (code or name), 工号/employee_no,
  状态/status (在职/在编 = active, 离职/调离/退休 = left), 离职日期/left_on, VPN账号/accounts.
  Rows are keyed by (unit, name, employee number); a dry run previews every row and names the
  active people of the imported units that the file does not list ("not in file": reported,
  never changed). Applying writes all or nothing unless the admin skips the rows with errors.
- An appliance's user list (Sangfor, Huawei USG, H3C, Topsec, Qi-AnXin exports): account,
  full name, status (enabled/disabled/locked), created, last login. The list is a full list:
  accounts of the appliance that it does not name are marked gone (present false). A column
  that holds passwords or hashes is never read (the preview says so), and the page keeps only
  a cleaned copy of the file (``clean_copy``) between preview and apply.

After applying, owners are matched to the roster and the register-based checks re-run
(``vpn_register.match_owners`` / ``vpn_register.reevaluate``). Both imports are audited.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Host, Unit
from collector.db.models_vpn import StaffMember, VpnAccount
from collector.services import vpn_register
from collector.services.assets import host_for_write
from collector.services.audit import record
from collector.services.auth import Principal, ensure_writer
from collector.services.errors import Invalid, RowsRejected
from collector.services.org import path_to_root, subtree_ids
from collector.services.tabular import cell_text, header_keys, read_csv_rows, read_xlsx_rows

__all__ = [
    "APPLIANCE_COLUMNS",
    "APPLIANCE_TYPE",
    "MAX_BYTES",
    "MAX_ROWS",
    "STAFF_COLUMNS",
    "ApplianceResult",
    "ImportRejected",
    "StaffResult",
    "appliance_for_write",
    "clean_copy",
    "import_appliance_users",
    "import_staff",
    "staff_template",
]

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
APPLIANCE_TYPE = "vpn appliance"
#: Appliances log and export in local time: a time without a zone is Beijing time.
LOCAL = ZoneInfo("Asia/Shanghai")
MIN_YEAR, MAX_YEAR = 1990, 2100

#: key, Chinese header, English header, other accepted headers (matched without spaces, any case).
STAFF_COLUMNS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("name", "姓名", "Name", ("名字", "人员姓名", "员工姓名", "full name")),
    ("unit", "单位", "Unit", ("单位代码", "单位名称", "所在单位", "工作单位", "unit code", "unit name")),
    ("employee_no", "工号", "Employee no", ("员工编号", "人员编号", "职工编号", "编号", "employee number",
                                          "employee_no", "staff no")),
    ("status", "状态", "Status", ("人员状态", "在职状态", "在岗状态", "是否在职")),
    ("left_on", "离职日期", "Left on", ("调离日期", "退休日期", "离岗日期", "left_on", "date left", "left date")),
    ("accounts", "VPN账号", "Accounts", ("vpn账户", "vpn帐号", "vpn用户名", "vpn accounts", "vpn account")),
    ("notes", "备注", "Notes", ("说明",)),
)  # fmt: skip
#: The appliances' export headers (Sangfor, Huawei USG, H3C, Topsec, Qi-AnXin and generic ones).
APPLIANCE_COLUMNS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("account", "用户名", "User name", ("登录名", "账号", "帐号", "用户账号", "用户帐号", "登录账号", "账户",
                                      "账户名", "用户", "名称", "username", "login name", "login", "account",
                                      "user", "name")),
    ("full_name", "姓名", "Full name", ("显示名", "显示名称", "描述", "真实姓名", "用户描述", "display name",
                                      "description", "real name")),
    ("status", "状态", "Status", ("账号状态", "帐号状态", "用户状态", "state", "account status")),
    ("enabled", "启用", "Enabled", ("是否启用", "启用状态", "激活", "enable")),
    ("disabled", "禁用", "Disabled", ("是否禁用", "停用", "disable")),
    ("locked", "锁定", "Locked", ("是否锁定", "锁定状态", "lock")),
    ("created", "创建时间", "Created", ("创建日期", "创建于", "添加时间", "created at", "creation time",
                                     "create time", "created on")),
    ("last_login", "最后登录时间", "Last login", ("上次登录", "上次登录时间", "最近登录时间", "最后登录",
                                               "最近登录", "last login time", "last logon", "lastlogin")),
    ("group", "所属组", "Group", ("用户组", "组", "所属用户组", "user group")),
)  # fmt: skip
_PASSWORD_MARKS = (
    "密码",
    "口令",
    "password",
    "passwd",
    "pwd",
    "hash",
    "哈希",
    "散列",
    "secret",
    "密钥",
    "psk",
)
_ACTIVE = {"在职", "在编", "在岗", "正常", "active", "在职在编", "聘用"}
_LEFT = {"离职", "调离", "退休", "离岗", "辞职", "已离职", "已调离", "已退休", "left", "retired", "inactive"}
_YES = {"是", "启用", "已启用", "正常", "激活", "y", "yes", "true", "1", "enabled", "on", "√", "✓"}
_NO = {"否", "未启用", "n", "no", "false", "0", "off", "×"}
_STATUS = {
    **dict.fromkeys(("启用", "已启用", "正常", "激活", "已激活", "活动", "active", "enabled", "enable", "normal",
                     "ok", "有效"), "active"),
    **dict.fromkeys(("禁用", "已禁用", "停用", "已停用", "disabled", "disable", "inactive", "无效"), "disabled"),
    **dict.fromkeys(("锁定", "已锁定", "locked", "lock", "冻结", "已冻结"), "locked"),
    **dict.fromkeys(("过期", "已过期", "expired"), "expired"),
}  # fmt: skip
_NEVER = {"", "-", "--", "—", "从未登录", "未登录", "无", "never", "n/a", "none", "null"}
_SPLIT = re.compile(r"[,;，；、\s]+")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_DATETIME = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
    r"(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_VENDORS = {"深信服": "sangfor", "华为": "huawei", "新华三": "h3c", "华三": "h3c", "天融信": "topsec",
            "奇安信": "qianxin", "网神": "qianxin"}  # fmt: skip


def _headers(columns: Sequence[tuple[str, str, str, tuple[str, ...]]]) -> dict[str, str]:
    return {t.lower().replace(" ", ""): key for key, zh, en, more in columns for t in (zh, en, *more)}


_STAFF_HEADERS = _headers(STAFF_COLUMNS)
_APPLIANCE_HEADERS = _headers(APPLIANCE_COLUMNS)


class ImportRejected(RowsRejected):
    """Rows have errors and the admin did not ask to skip them: nothing was written."""


@dataclass
class RowPlan:
    row: int  # the row number in the file
    action: str = "error"  # create | update | unchanged | error | skipped
    key: str = ""  # the person's name, or the account
    unit: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    target_id: int | None = None


@dataclass
class StaffResult:
    rows: list[RowPlan]
    not_in_file: list[tuple[str, str]]  # (unit code, name) of active people the file does not list
    ignored: list[str]  # what was ignored, in words


@dataclass
class ApplianceResult:
    rows: list[RowPlan]
    vanished: list[str]  # accounts of the appliance the list does not name (marked gone)
    ignored: list[str]  # columns ignored, with the reason (passwords!)


# -- reading ------------------------------------------------------------------------------------
def _raw_rows(data: bytes) -> list[tuple[Any, ...]]:
    if len(data) > MAX_BYTES:
        raise Invalid(f"the file is larger than {MAX_BYTES // 1024 // 1024} MB", "file_too_large")
    if not data:
        raise Invalid("the file is empty", "empty_file")
    if data.startswith(b"PK\x03\x04"):
        return list(read_xlsx_rows(data, max_col=40, max_row=MAX_ROWS + 20))
    return read_csv_rows(data, max_col=40, max_rows=MAX_ROWS + 20)


def _is_password(text: str) -> bool:
    value = text.lower().replace(" ", "")
    return any(mark in value for mark in _PASSWORD_MARKS)


@dataclass
class _Table:
    header_index: int  # 0-based position of the header row
    columns: dict[int, str]  # column index -> key
    headers: list[str]  # the header cells as text
    rows: list[tuple[int, dict[str, Any]]]  # (row number, {key: raw value})
    ignored: list[str]


def _table(data: bytes, headers: dict[str, str], needed: tuple[str, ...], what: str) -> _Table:
    raw = _raw_rows(data)
    for index, cells in enumerate(raw[:10]):
        texts = [cell_text(c) for c in cells]
        keys = {i: k for i, k in header_keys(texts, headers).items() if not _is_password(texts[i])}
        if all(k in keys.values() for k in needed):
            return _read_body(raw, index, keys, texts)
    raise Invalid(f"no header row with {what} found in the first 10 rows (use the template)", "no_header")


def _read_body(raw: list[tuple[Any, ...]], index: int, keys: dict[int, str], texts: list[str]) -> _Table:
    ignored = [
        f"column {t!r} ignored: it holds passwords" if _is_password(t) else f"column {t!r} ignored"
        for i, t in enumerate(texts)
        if t and (i not in keys or keys[i] == "group")
    ]
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, cells in enumerate(raw[index + 1 :], start=index + 2):
        values = {k: (cells[i] if i < len(cells) else None) for i, k in keys.items() if k != "group"}
        if not any(cell_text(v) for v in values.values()):
            continue
        if [cell_text(cells[i]) if i < len(cells) else "" for i in keys] == [texts[i] for i in keys]:
            continue  # the header repeated
        rows.append((number, values))
        if len(rows) > MAX_ROWS:
            raise Invalid(f"at most {MAX_ROWS} rows per import", "too_many_rows")
    return _Table(index, keys, texts, rows, ignored)


def clean_copy(data: bytes, kind: str) -> tuple[bytes, list[str]]:
    """The file as a UTF-8 CSV holding only the columns the import reads (the same row numbers),
    and what was left out: what a page keeps between preview and apply, so that no password
    column travels back to the browser."""
    headers, needed = (
        (_STAFF_HEADERS, ("name", "unit")) if kind == "staff" else (_APPLIANCE_HEADERS, ("account",))
    )
    table = _table(data, headers, needed, "the needed columns")
    order = sorted(i for i, k in table.columns.items() if k != "group")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)  # the sniffer sees ","
    for _ in range(table.header_index):
        writer.writerow([""] * len(order))
    writer.writerow([table.headers[i] for i in order])
    by_number = dict(table.rows)
    last = max(by_number, default=table.header_index + 1)
    for number in range(table.header_index + 2, last + 1):
        values = by_number.get(number)
        writer.writerow([_csv_value(values.get(table.columns[i])) if values else "" for i in order])
    return buffer.getvalue().encode("utf-8"), table.ignored


def _csv_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return cell_text(value)


# -- values -------------------------------------------------------------------------------------
def _text(value: Any, limit: int) -> str:
    return " ".join(cell_text(value).split())[:limit]


def _in_range(day: date) -> bool:
    return MIN_YEAR <= day.year <= MAX_YEAR


def _date(value: Any, plan: RowPlan, what: str) -> date | None:
    found: date | None = None
    if isinstance(value, datetime):
        found = value.date()
    elif isinstance(value, date):
        found = value
    else:
        text = cell_text(value)
        if text.lower() in _NEVER:
            return None
        match = _DATE.match(text) or _DATETIME.match(text)
        try:
            found = date(int(match[1]), int(match[2]), int(match[3])) if match else None
        except ValueError:
            found = None
    if found is not None and _in_range(found):
        return found
    plan.errors.append(f"{what} {cell_text(value)[:24]!r} is not a date between {MIN_YEAR} and {MAX_YEAR} "
                       "(write 2026-03-15)")  # fmt: skip
    return None


def _datetime(value: Any, plan: RowPlan, what: str) -> datetime | None:
    text = cell_text(value) if not isinstance(value, datetime) else value.isoformat(" ")
    moment = value if isinstance(value, datetime) else None
    if moment is None:
        if text.lower() in _NEVER:
            return None
        match = _DATETIME.match(text)
        try:
            if match:
                parts = [int(match[i] or 0) for i in range(1, 7)]
                moment = datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
                if match[7] and match[7] != "Z":
                    sign = -1 if match[7][0] == "-" else 1
                    digits = match[7][1:].replace(":", "")
                    minutes = int(digits[:2]) * 60 + int(digits[2:])
                    if minutes > 14 * 60:
                        raise ValueError(match[7])
                    moment = moment.replace(tzinfo=timezone(sign * timedelta(minutes=minutes)))
                elif match[7]:
                    moment = moment.replace(tzinfo=UTC)
        except ValueError:
            moment = None
    if moment is None or not _in_range(moment.date()):
        plan.errors.append(f"{what} {text[:24]!r} is not a time between {MIN_YEAR} and {MAX_YEAR} "
                           "(write 2026-03-15 08:30:00)")  # fmt: skip
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL)
    return moment.astimezone(UTC)


def _accounts(text: str, plan: RowPlan) -> list[str]:
    found = list(dict.fromkeys(a[:128] for a in _SPLIT.split(text) if a))
    if len(found) > 50:
        plan.errors.append("at most 50 accounts per person")
    return found[:50]


# -- the staff roster ---------------------------------------------------------------------------
def _units(session: Session, principal: Principal) -> dict[str, Unit]:
    found: dict[str, Unit] = {}
    for unit in session.scalars(select(Unit).order_by(Unit.sort_order, Unit.code)):
        if principal.can_see_unit(unit.id) and principal.can_manage_unit(unit.id):
            for name in (unit.code, unit.name_zh, unit.name_en):
                found.setdefault(name.strip().lower(), unit)
    return found


def _staff_status(text: str, left_on: date | None, plan: RowPlan) -> str:
    value = text.strip().lower()
    if not value:
        return "left" if left_on else "active"
    if value in _ACTIVE:
        return "active"
    if value in _LEFT:
        return "left"
    plan.errors.append(f"status {text[:20]!r}: write 在职 (active) or 离职 (left)")
    return "active"


def _plan_staff(
    session: Session, principal: Principal, rows: list[tuple[int, dict[str, Any]]]
) -> list[RowPlan]:
    units = _units(session, principal)
    existing: dict[tuple[int, str], list[StaffMember]] = {}
    for member in session.scalars(select(StaffMember)):
        existing.setdefault((member.unit_id, member.name), []).append(member)
    seen: dict[tuple[int, str, str], int] = {}
    plans: list[RowPlan] = []
    for number, values in rows:
        plan = RowPlan(row=number)
        plans.append(plan)
        plan.key = _text(values.get("name"), 64)
        if not plan.key:
            plan.errors.append("the name is missing")
        unit_text = _text(values.get("unit"), 64)
        unit = units.get(unit_text.lower())
        plan.unit = unit.code if unit else unit_text
        if unit is None:
            plan.errors.append(f"unknown unit {unit_text!r}" if unit_text else "the unit is missing")
        number_text = _text(values.get("employee_no"), 32)
        left_on = _date(values.get("left_on"), plan, "left_on")
        status = _staff_status(cell_text(values.get("status")), left_on, plan)
        accounts = _accounts(cell_text(values.get("accounts")), plan)
        plan.detail = {"employee_no": number_text, "status": status, "left_on": left_on, "accounts": accounts,
                       "notes": _text(values.get("notes"), 255)}  # fmt: skip
        if unit is None or plan.errors:
            continue
        key = (unit.id, plan.key, number_text)
        if key in seen:
            plan.errors.append(f"{plan.key} of {unit.code} appears twice in the file (row {seen[key]})")
            continue
        seen[key] = number
        plan.detail["unit_id"] = unit.id
        _match_staff(plan, existing.get((unit.id, plan.key), []))
    return plans


def _match_staff(plan: RowPlan, same_name: list[StaffMember]) -> None:
    wanted = plan.detail["employee_no"]
    found = next((m for m in same_name if m.employee_no == wanted), None)
    if found is None and wanted:
        found = next((m for m in same_name if not m.employee_no), None)  # the number is new
    if found is None and not wanted and len(same_name) == 1:
        found = same_name[0]  # the file has no number, the roster one person of that name
    if found is None:
        plan.action = "create"
        return
    plan.target_id = found.id
    same = (found.employee_no or wanted, found.status, found.left_on, list(found.accounts or [])) == (
        wanted or found.employee_no, plan.detail["status"], plan.detail["left_on"], plan.detail["accounts"]
    )  # fmt: skip
    plan.action = (
        "unchanged"
        if same and (not plan.detail["notes"] or plan.detail["notes"] == found.notes)
        else "update"
    )


def _not_in_file(session: Session, plans: list[RowPlan]) -> list[tuple[str, str]]:
    unit_ids = {p.detail["unit_id"] for p in plans if "unit_id" in p.detail}
    listed = {p.target_id for p in plans if p.target_id}
    names = {(p.detail.get("unit_id"), p.key) for p in plans}
    query = (
        select(Unit.code, StaffMember.name, StaffMember.id, StaffMember.unit_id)
        .join(Unit, Unit.id == StaffMember.unit_id)
        .where(StaffMember.unit_id.in_(unit_ids), StaffMember.status == "active")
        .order_by(Unit.code, StaffMember.name)
    )
    return [(code, name) for code, name, sid, uid in session.execute(query)
            if sid not in listed and (uid, name) not in names]  # fmt: skip


def import_staff(
    session: Session, principal: Principal, data: bytes, *, dry_run: bool, skip_invalid: bool = False,
    filename: str = "", ip: str = "",
) -> StaffResult:  # fmt: skip
    """Preview (dry run) or apply a roster file; ImportRejected when rows have errors and
    ``skip_invalid`` is false (nothing written). Only admins import (preview included); a
    district admin only for the units of their subtree (other units are "unknown")."""
    ensure_writer(principal)
    table = _table(data, _STAFF_HEADERS, ("name", "unit"), "姓名/name and 单位/unit")
    plans = _plan_staff(session, principal, table.rows)
    result = StaffResult(plans, _not_in_file(session, plans), table.ignored)
    if dry_run:
        return result
    if any(p.errors for p in plans) and not skip_invalid:
        raise ImportRejected(plans)
    done: dict[str, int] = {"create": 0, "update": 0, "unchanged": 0, "skipped": 0}
    now = utcnow()
    for plan in plans:
        if plan.errors:
            plan.action = "skipped"
        elif plan.action in ("create", "update"):
            _write_staff(session, plan, now)
        done[plan.action] = done.get(plan.action, 0) + 1
    session.flush()
    unit_ids = subtree_ids(session, {p.detail["unit_id"] for p in plans if "unit_id" in p.detail})
    record(session, principal.username, "vpn.staff_import", "staff", {
        **done, "file": filename[:200], "units": len(unit_ids), "not_in_file": len(result.not_in_file),
        "skipped_rows": [p.row for p in plans if p.action == "skipped"][:500],
    }, ip, principal.user_id)  # fmt: skip
    _rematch(session, unit_ids, {p.target_id for p in plans if p.target_id})
    session.commit()
    return result


def _write_staff(session: Session, plan: RowPlan, now: datetime) -> None:
    d = plan.detail
    member = session.get(StaffMember, plan.target_id) if plan.target_id else None
    if member is None:
        member = StaffMember(unit_id=d["unit_id"], name=plan.key, employee_no=d["employee_no"])
        session.add(member)
    if d["employee_no"]:
        member.employee_no = d["employee_no"]
    member.status, member.left_on, member.accounts = d["status"], d["left_on"], list(d["accounts"])
    if d["notes"]:
        member.notes = d["notes"]
    member.updated_at = now
    session.flush()
    plan.target_id = member.id


def _rematch(session: Session, unit_ids: set[int], staff_ids: Iterable[int]) -> None:
    """Match owners of accounts in these units and the units above them (a district's staff may
    own accounts of the city's VPN), then re-run the checks of every host with an account there
    or an account owned by one of these people."""
    parents: dict[int, int | None] = {}
    for uid, pid in session.execute(select(Unit.id, Unit.parent_id)):
        parents[uid] = pid
    unit_ids = {above for uid in unit_ids for above in path_to_root(parents, uid)}
    vpn_register.match_owners(session, unit_ids)
    session.flush()
    query = select(VpnAccount.host_id).where(VpnAccount.unit_id.in_(unit_ids)).distinct()
    hosts = set(session.scalars(query))
    staff = [s for s in staff_ids if s]
    if staff:
        hosts |= set(
            session.scalars(select(VpnAccount.host_id).where(VpnAccount.owner_id.in_(staff)).distinct())
        )
    if hosts:
        vpn_register.reevaluate(session, sorted(hosts))


# -- an appliance's user list -------------------------------------------------------------------
def appliance_for_write(session: Session, principal: Principal, host_id: int) -> Host:
    """A VPN appliance the caller may change: 404 outside their view (like a missing host), 403
    for read-only roles, 422 for a host that is not a VPN appliance."""
    host = host_for_write(session, principal, host_id)
    if host.device_type != APPLIANCE_TYPE:
        raise Invalid(
            f"host {host_id} is not a VPN appliance (set its device type to {APPLIANCE_TYPE!r} first)",
            "not_vpn_appliance",
        )
    return host


def server_kind(vendor: str) -> str:
    text = vendor.strip().lower()
    for name, kind in _VENDORS.items():
        if name in text:
            return kind
    for kind in ("sangfor", "huawei", "h3c", "topsec", "qianxin", "qi-anxin", "fortinet", "cisco"):
        if kind in text:
            return kind.replace("-", "")
    return text[:32]


def _flag(value: Any) -> bool | None:
    text = cell_text(value).lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    return None


def _account_status(values: dict[str, Any], plan: RowPlan) -> str:
    if _flag(values.get("locked")):
        return "locked"
    if _flag(values.get("disabled")) or _flag(values.get("enabled")) is False:
        return "disabled"
    text = cell_text(values.get("status")).lower().replace(" ", "")
    if text:
        if text in _STATUS:
            return _STATUS[text]
        plan.notes.append(f"status {text[:20]!r} not understood: recorded as unknown")
        return "unknown"
    if (
        cell_text(values.get("enabled"))
        or cell_text(values.get("disabled"))
        or cell_text(values.get("locked"))
    ):
        return "active"
    return "unknown"


def _plan_appliance(session: Session, host: Host, rows: list[tuple[int, dict[str, Any]]]) -> list[RowPlan]:
    existing = {
        a.account: a for a in session.scalars(select(VpnAccount).where(VpnAccount.host_id == host.id))
    }
    seen: dict[str, int] = {}
    plans: list[RowPlan] = []
    for number, values in rows:
        plan = RowPlan(row=number, unit=host.unit.code)
        plans.append(plan)
        plan.key = cell_text(values.get("account"))[:128]
        if not plan.key:
            plan.errors.append("the account is missing")
        plan.detail = {
            "full_name": _text(values.get("full_name"), 128),
            "status": _account_status(values, plan),
            "created_on": _date(values.get("created"), plan, "created"),
            "last_login": _datetime(values.get("last_login"), plan, "last login"),
        }
        if plan.key in seen:
            plan.errors.append(f"account {plan.key!r} appears twice in the file (row {seen[plan.key]})")
        elif plan.key:
            seen[plan.key] = number
        if plan.errors:
            continue
        _match_account(plan, existing.get(plan.key))
    return plans


def _match_account(plan: RowPlan, found: VpnAccount | None) -> None:
    if found is None:
        plan.action = "create"
        return
    plan.target_id = found.id
    d = plan.detail
    newer = d["last_login"] is not None and (found.last_login is None or d["last_login"] > found.last_login)
    same = (
        found.present and found.source == "import" and found.status == d["status"]
        and found.full_name == d["full_name"] and (d["created_on"] is None or found.created_on == d["created_on"])
        and not newer
    )  # fmt: skip
    plan.action = "unchanged" if same else "update"


def import_appliance_users(
    session: Session, principal: Principal, host_id: int, data: bytes, *, dry_run: bool,
    skip_invalid: bool = False, filename: str = "", ip: str = "",
) -> ApplianceResult:  # fmt: skip
    """Preview (dry run) or apply an appliance's full user list (see the module docstring)."""
    host = appliance_for_write(session, principal, host_id)
    table = _table(data, _APPLIANCE_HEADERS, ("account",), "用户名/user name")
    plans = _plan_appliance(session, host, table.rows)
    named = {p.key for p in plans if p.key}
    current = session.scalars(
        select(VpnAccount).where(VpnAccount.host_id == host.id, VpnAccount.present.is_(True))
    ).all()
    vanished = sorted(a.account for a in current if a.account not in named)
    result = ApplianceResult(plans, vanished, table.ignored)
    if dry_run:
        return result
    if any(p.errors for p in plans) and not skip_invalid:
        raise ImportRejected(plans)
    now = utcnow()
    done: dict[str, int] = {"create": 0, "update": 0, "unchanged": 0, "skipped": 0}
    for plan in plans:
        if plan.errors:
            plan.action = "skipped"
        elif plan.action in ("create", "update"):
            _write_account(session, host, plan, now)
        elif plan.target_id:
            account = session.get(VpnAccount, plan.target_id)
            if account is not None:
                account.last_seen = now
        done[plan.action] = done.get(plan.action, 0) + 1
    for account in current:
        if account.account in vanished:
            account.present, account.removed_at = False, now
    session.flush()
    record(session, principal.username, "vpn.appliance_import", f"host:{host.id}", {
        **done, "vanished": len(vanished), "file": filename[:200],
        "skipped_rows": [p.row for p in plans if p.action == "skipped"][:500],
    }, ip, principal.user_id)  # fmt: skip
    vpn_register.match_owners(session, host_ids=[host.id])
    session.flush()
    vpn_register.reevaluate(session, [host.id], now)
    session.commit()
    return result


def _write_account(session: Session, host: Host, plan: RowPlan, now: datetime) -> None:
    d = plan.detail
    account = session.get(VpnAccount, plan.target_id) if plan.target_id else None
    if account is None:
        account = VpnAccount(host_id=host.id, unit_id=host.unit_id, server=host.hostname[:128], account=plan.key,
                             first_seen=now, check="not_applicable", reasons=[])  # fmt: skip
        session.add(account)
    account.source, account.server_kind, account.unit_id = "import", server_kind(host.vendor), host.unit_id
    account.full_name, account.status = d["full_name"], d["status"]
    if d["created_on"] is not None:
        account.created_on = d["created_on"]
    account.present, account.removed_at, account.last_seen = True, None, now
    login: datetime | None = d["last_login"]
    if login is not None and login > now + timedelta(days=1):
        login = None  # a date in the future is a typo or a wrong clock, not a login
    if login is not None and (account.last_login is None or login > account.last_login):
        account.last_login, account.last_login_source, account.last_login_ip = login, "import", ""
    session.flush()
    plan.target_id = account.id


# -- the roster template ------------------------------------------------------------------------
def staff_template(session: Session, principal: Principal, lang: str) -> io.BytesIO:
    """An empty roster sheet with headers in ``lang`` and a help sheet (values, units)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    zh = lang == "zh-CN"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "人员名单" if zh else "Staff"
    sheet.append([zh_ if zh else en for _k, zh_, en, _m in STAFF_COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for letter, width in zip("ABCDEFG", (12, 22, 12, 10, 14, 28, 24), strict=True):
        sheet.column_dimensions[letter].width = width
    notes = (
        (("姓名", "必填"), ("单位", "必填：单位代码或单位名称（见下表）"), ("工号", "可空"),
         ("状态", "在职/在编（默认），或 离职/调离/退休"), ("离职日期", "可空，如 2026-03-15"),
         ("VPN账号", "可空：此人使用的 VPN 账号，多个用逗号或顿号分隔"), ("备注", "可空"))
        if zh else
        (("Name", "required"), ("Unit", "required: unit code or name (see below)"), ("Employee no", "optional"),
         ("Status", "active (default), or left"), ("Left on", "optional, e.g. 2026-03-15"),
         ("Accounts", "optional: the VPN accounts this person uses, separated by commas"), ("Notes", "optional"))
    )  # fmt: skip
    help_sheet = book.create_sheet("说明" if zh else "Help")
    for row in notes:
        help_sheet.append(list(row))
    help_sheet.append([])
    help_sheet.append(["单位代码" if zh else "Unit code", "单位名称" if zh else "Unit name"])
    for unit in session.scalars(select(Unit).order_by(Unit.sort_order, Unit.code)):
        if principal.can_see_unit(unit.id):
            help_sheet.append([unit.code, unit.name_zh if zh else unit.name_en])
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    return buffer
