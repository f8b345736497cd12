"""The bulletin's tables as a workbook (issue 5, A9-M3.5, P-16): a summary sheet (document
number, title, period, unit, totals), then one sheet per table of the document, in its order,
with numbers as numbers and rates as percentages. openpyxl; text cells neutralised against
formula injection (collector/services/tabular.py).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, time

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from collector.services.bulletin_data import BulletinData, DocumentText
from collector.services.bulletin_periods import ZONE, chinese_date
from collector.services.bulletin_text import Cell, percent, tables_of
from collector.services.tabular import safe_cell

__all__ = ["SUMMARY_SHEET", "render_xlsx"]

SUMMARY_SHEET = "概况"
_BOLD = Font(bold=True)


def _summary(sheet: Worksheet, data: BulletinData, text: DocumentText) -> None:
    t = data.totals
    rows: list[tuple[str, Cell]] = [
        ("文号", text.doc_number or "（草稿）"),
        ("标题", text.title),
        ("发文单位", text.issuer_name),
        ("成文日期", chinese_date(text.signed_on)),
        ("通报范围", f"{data.unit.name_zh}（{data.unit.code}）"),
        (
            "通报期间",
            f"{data.period.label_zh}（{data.period.start.isoformat()} 至 {data.period.end.isoformat()}）",
        ),
        ("资产登记终端（台）", t.hosts),
        ("已装监测代理（台）", t.agent_hosts),
        ("覆盖率", t.coverage),
        ("新发现问题", t.new),
        ("已整改", t.rectified),
        ("未整改", t.open),
        ("其中逾期", t.overdue),
        ("经批准豁免", t.exempted),
        ("本期复发", t.reopened),
        ("整改率", t.rate),
    ]
    sheet.append(["项目", "数值"])
    for label, value in rows:
        sheet.append([label, safe_cell(value)])
        if label in ("覆盖率", "整改率"):
            sheet.cell(row=sheet.max_row, column=2).number_format = "0.0%"
            if value is None:
                sheet.cell(row=sheet.max_row, column=2).value = percent(None)
    sheet.column_dimensions["A"].width = 20
    sheet.column_dimensions["B"].width = 60


def _style_header(sheet: Worksheet, columns: int) -> None:
    for column in range(1, columns + 1):
        cell = sheet.cell(row=1, column=column)
        cell.font = _BOLD
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    sheet.freeze_panes = "A2"


def render_xlsx(data: BulletinData, text: DocumentText) -> bytes:
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = SUMMARY_SHEET
    _summary(summary, data, text)
    _style_header(summary, 2)
    for spec in tables_of(data):
        sheet = book.create_sheet(spec.sheet[:31])
        sheet.append([safe_cell(h) for h in spec.header])
        for row in spec.rows:
            sheet.append([percent(None) if v is None else safe_cell(v) for v in row])
            for column, fmt in enumerate(spec.formats, start=1):
                cell = sheet.cell(row=sheet.max_row, column=column)
                if fmt == "percent" and isinstance(cell.value, (int, float)):
                    cell.number_format = "0.0%"
                elif fmt == "score" and isinstance(cell.value, (int, float)):
                    cell.number_format = "0." + "0" * data.score.decimals if data.score.decimals else "0"
        _style_header(sheet, len(spec.header))
        for column, name in enumerate(spec.header, start=1):
            width = max(len(name) * 2 + 2, 10 if column > 1 else 24)
            sheet.column_dimensions[get_column_letter(column)].width = min(width, 48)
    props = book.properties
    props.title, props.creator = text.title, text.issuer_name
    props.created = props.modified = (
        datetime.combine(text.signed_on, time(12), ZONE).astimezone(UTC).replace(tzinfo=None)
    )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
