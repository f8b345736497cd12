"""Import of the asset register from an XLSX sheet (资产清单, A9-M3.3), in the caller's scope.

Columns are found by their header text (Chinese or English, any order; other columns are
ignored, so a register export can be filled and sent back). Each row is keyed by (unit,
asset number): a record of that unit with that asset number gets the row's register fields
(the cells that are not empty); failing that, a record of the unit without an asset number
and with the row's serial number; otherwise the row becomes a new record (source "import").
Agents' hosts keep what their agent reports (vendor, model, serial, OS, addresses); only
records without an agent take those from the sheet.

A dry run gives a per-row preview with errors. Applying writes everything or nothing,
unless the admin asks to skip the rows with errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector.db.models import Host, Unit
from collector.services.assets import (
    DEVICE_TYPE_LABELS,
    MAX_TAGS,
    NewAsset,
    apply_fields,
    clean_text,
    device_type_of,
    new_record,
    parse_ip,
    parse_mac,
    set_addresses,
    set_tags,
)
from collector.services.audit import record
from collector.services.auth import Principal
from collector.services.duplicates import identity_key
from collector.services.errors import DomainError, Forbidden, Invalid, RowsRejected
from collector.services.inventory import DEVICE_TYPES
from collector.services.tabular import cell_text, header_keys, read_xlsx_rows

__all__ = [
    "COLUMNS",
    "MAX_BYTES",
    "MAX_ROWS",
    "ImportRejected",
    "RowPlan",
    "import_sheet",
    "read_sheet",
    "template",
]

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000

#: key, Chinese header, English header, other accepted headers.
COLUMNS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("unit", "单位", "Unit", ("单位代码", "单位名称", "unit code", "unit name")),
    ("hostname", "名称", "Name", ("主机名", "计算机名", "设备名称", "host name", "hostname")),
    ("owner", "使用人", "Owner", ("责任人", "使用人/责任人", "user", "user/owner")),
    ("location", "存放地点", "Location", ("位置", "房间", "room")),
    ("asset_number", "资产编号", "Asset number", ("资产编码", "asset no.", "asset no")),
    ("device_type", "设备类型", "Device type", ("类型", "type")),
    ("vendor", "品牌", "Vendor", ("厂商", "brand", "make")),
    ("model", "型号", "Model", ("品牌型号", "make / model")),
    ("serial", "序列号", "Serial number", ("序列号/SN", "sn", "serial")),
    ("os_name", "操作系统", "Operating system", ("os",)),
    ("ip", "IP地址", "IP address", ("ip", "ip 地址", "ip addresses")),
    ("mac", "MAC地址", "MAC address", ("mac", "mac 地址", "mac addresses")),
    ("purchase_date", "购置日期", "Purchase date", ("购买日期", "采购日期")),
    ("notes", "备注", "Notes", ("说明",)),
    ("tags", "标签", "Tags", ()),
)
_HEADERS = {
    " ".join(text.lower().split()).replace(" ", ""): key
    for key, zh, en, more in COLUMNS
    for text in (zh, en, *more)
}
_LIST_SPLIT = re.compile(r"[,;，；、\s]+")
_TAG_SPLIT = re.compile(r"[,;，；、]+")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


class ImportRejected(RowsRejected):
    """Rows have errors and the admin did not ask to skip them: nothing was written."""


@dataclass
class RowPlan:
    row: int  # the spreadsheet's row number
    action: str = "error"  # create | update | error | skipped
    unit: str = ""
    asset_number: str = ""
    hostname: str = ""
    host_id: int | None = None
    fields: list[str] = field(default_factory=list)  # what the row sets
    errors: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    unit_id: int | None = None


# -- reading ----------------------------------------------------------------------------------
def read_sheet(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(row number, {column key: cell value}) of the first sheet's data rows."""
    if len(data) > MAX_BYTES:
        raise Invalid(f"the file is larger than {MAX_BYTES // 1024 // 1024} MB", "file_too_large")
    return list(_rows(read_xlsx_rows(data, max_col=40)))


def _header_keys(cells: Sequence[Any]) -> dict[int, str]:
    return header_keys(cells, _HEADERS)


def _rows(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, dict[str, Any]]]:
    header: dict[int, str] = {}
    count = 0
    for number, cells in enumerate(rows, start=1):
        if not header:
            header = _header_keys(cells) if len(_header_keys(cells)) >= 2 else {}
            if not header and number >= 10:
                raise Invalid("no header row found (use the import template)", "no_header")
            continue
        values = {key: cells[i] for i, key in header.items() if i < len(cells)}
        texts = [cell_text(v) for v in values.values()]
        if not any(texts):
            continue
        if len(_header_keys(cells)) >= len(header) // 2 + 1:
            continue  # a second header row (the other language)
        count += 1
        if count > MAX_ROWS:
            raise Invalid(f"at most {MAX_ROWS} rows per import", "too_many_rows")
        yield number, values
    if not header:
        raise Invalid("no header row found (use the import template)", "no_header")


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(value)
    if not text:
        return None
    match = _DATE.match(text) or re.match(r"^(\d{4})(\d{2})(\d{2})$", text)
    try:
        if match is None:
            raise ValueError(text)
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise Invalid(f"bad date {text[:20]!r} (write 2024-03-15)", "bad_date") from None


# -- planning ---------------------------------------------------------------------------------
def _units(session: Session, principal: Principal) -> dict[str, Unit]:
    found: dict[str, Unit] = {}
    for unit in session.scalars(select(Unit)):
        if principal.can_see_unit(unit.id):
            for name in (unit.code, unit.name_zh, unit.name_en):
                found.setdefault(name.strip().lower(), unit)
    return found


def _parse(values: dict[str, Any], plan: RowPlan) -> dict[str, Any]:
    """The row's values, cleaned; errors go to the plan."""
    parsed: dict[str, Any] = {}
    checks: dict[str, Callable[[Any], Any]] = {
        "device_type": lambda v: device_type_of(cell_text(v)),
        "purchase_date": _date,
        "ip": lambda v: [parse_ip(p) for p in _LIST_SPLIT.split(cell_text(v)) if p],
        "mac": lambda v: [parse_mac(p) for p in _LIST_SPLIT.split(cell_text(v)) if p],
        "tags": lambda v: [t.strip() for t in _TAG_SPLIT.split(cell_text(v)) if t.strip()],
    }
    for key, raw in values.items():
        if key == "unit" or not cell_text(raw):
            continue
        try:
            parsed[key] = checks[key](raw) if key in checks else clean_text(cell_text(raw), 4000)
        except DomainError as exc:
            plan.errors.append(exc.detail)
    if len(parsed.get("tags", [])) > MAX_TAGS:
        plan.errors.append(f"at most {MAX_TAGS} tags")
    return parsed


def plan_rows(
    session: Session, principal: Principal, rows: Sequence[tuple[int, dict[str, Any]]]
) -> list[RowPlan]:
    units = _units(session, principal)
    plans: list[RowPlan] = []
    seen: dict[tuple[int, str], int] = {}
    for number, values in rows:
        plan = RowPlan(row=number)
        plans.append(plan)
        unit_text = cell_text(values.get("unit"))
        unit = units.get(unit_text.lower())
        plan.unit = unit.code if unit else unit_text[:64]
        if unit is None:
            plan.errors.append(f"unknown unit {unit_text[:64]!r}" if unit_text else "the unit is missing")
        elif not principal.can_manage_unit(unit.id):
            plan.errors.append(f"unit {unit.code} is outside your management scope")
        plan.values = _parse(values, plan)
        plan.asset_number = str(plan.values.get("asset_number", ""))[:64]
        if not plan.asset_number:
            plan.errors.append("the asset number is missing")
        plan.fields = sorted(k for k in plan.values if k != "asset_number")
        if unit is None or plan.errors:
            continue
        plan.unit_id = unit.id
        key = (unit.id, plan.asset_number)
        if key in seen:
            plan.errors.append(
                f"asset number {plan.asset_number!r} appears twice in the file (row {seen[key]})"
            )
            continue
        seen[key] = number
        _match(session, plan)
    return plans


def _match(session: Session, plan: RowPlan) -> None:
    alive = select(Host).where(Host.unit_id == plan.unit_id, Host.status != "merged")
    found = list(session.scalars(alive.where(Host.asset_number == plan.asset_number).limit(2)))
    serial = identity_key(str(plan.values.get("serial", "")))
    if not found and serial:
        found = [
            h
            for h in session.scalars(alive.where(Host.asset_number == "", Host.serial != ""))
            if identity_key(h.serial) == serial
        ][:2]
    name = str(plan.values.get("hostname", "")).lower()
    if not found and name:
        found = list(
            session.scalars(alive.where(Host.asset_number == "", func.lower(Host.hostname) == name).limit(2))
        )
    if len(found) > 1:
        plan.errors.append(f"asset number {plan.asset_number!r} is used by several records of this unit")
    elif found:
        plan.action, plan.host_id, plan.hostname = "update", found[0].id, found[0].hostname
    else:
        plan.action = "create"
        plan.hostname = str(plan.values.get("hostname") or plan.asset_number)[:128]


# -- applying ---------------------------------------------------------------------------------
_REGISTER = ("owner", "location", "asset_number", "purchase_date", "device_type", "notes")
_FACTS = ("hostname", "vendor", "model", "serial", "os_name")


def _apply(session: Session, plan: RowPlan, units: dict[int, Unit]) -> int:
    values = plan.values
    if plan.action == "create":
        host = new_record(
            session,
            units[plan.unit_id or 0],
            NewAsset(
                hostname=plan.hostname,
                unit=plan.unit,
                ip_addresses=values.get("ip", []),
                mac_addresses=values.get("mac", []),
                tags=values.get("tags", []),
                **{k: values[k] for k in (*_REGISTER, *_FACTS) if k in values and k != "hostname"},
            ),
            "import",
        )
        return host.id
    host = session.get_one(Host, plan.host_id)
    wanted = [*_REGISTER, *(_FACTS if host.source != "agent" else ())]
    apply_fields(host, {k: values[k] for k in wanted if k in values})
    if host.source != "agent" and (values.get("ip") or values.get("mac")):
        set_addresses(session, host, values.get("ip", []), values.get("mac", []), host.source)
    if values.get("tags"):
        set_tags(session, host, [t.tag for t in host.tags] + values["tags"])
    return host.id


def import_sheet(
    session: Session,
    principal: Principal,
    data: bytes,
    *,
    dry_run: bool,
    skip_invalid: bool = False,
    filename: str = "",
    ip: str = "",
) -> list[RowPlan]:
    """Plan (dry run) or apply an XLSX import; ImportRejected when rows have errors and
    ``skip_invalid`` is false (nothing written)."""
    if not dry_run and principal.managed_units is not None and not principal.managed_units:
        raise Forbidden(
            "your role is read-only (auditor or inspector): you can preview, not import", "read_only"
        )
    plans = plan_rows(session, principal, read_sheet(data))
    if dry_run:
        return plans
    if any(p.errors for p in plans) and not skip_invalid:
        raise ImportRejected(plans)
    units = {u.id: u for u in session.scalars(select(Unit))}
    done: dict[str, list[int]] = {"create": [], "update": []}
    for plan in plans:
        if plan.errors:
            plan.action = "skipped"
            continue
        plan.host_id = _apply(session, plan, units)
        done[plan.action].append(plan.host_id)
        session.flush()
    record(
        session,
        principal.username,
        "asset.import",
        f"file:{filename[:200]}",
        {
            "created": done["create"][:500],
            "updated": done["update"][:500],
            "skipped_rows": [p.row for p in plans if p.action == "skipped"][:500],
        },
        ip,
        principal.user_id,
    )
    session.commit()
    return plans


# -- the template -------------------------------------------------------------------------------
def template(session: Session, principal: Principal, lang: str) -> IO[bytes]:
    """An empty import sheet with headers in ``lang``, and a help sheet: the columns, the
    device types, and the units the caller may import into."""
    import tempfile

    from openpyxl import Workbook
    from openpyxl.styles import Font

    zh = lang == "zh-CN"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "资产清单" if zh else "Assets"
    sheet.append([zh_ if zh else en for _k, zh_, en, _m in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    help_sheet = book.create_sheet("说明" if zh else "Help")
    help_sheet.append(["设备类型" if zh else "Device type", "中文" if zh else "Chinese"])
    for key in DEVICE_TYPES:
        help_sheet.append([key, DEVICE_TYPE_LABELS.get(key, "")])
    help_sheet.append([])
    help_sheet.append(["单位代码" if zh else "Unit code", "单位名称" if zh else "Unit name"])
    for unit in session.scalars(select(Unit).order_by(Unit.sort_order, Unit.code)):
        if principal.can_manage_unit(unit.id):
            help_sheet.append([unit.code, unit.name_zh if zh else unit.name_en])
    handle = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115 - returned open
    book.save(handle)
    handle.seek(0)
    return handle
