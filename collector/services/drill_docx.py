"""Word documents of plans and drills in the official-document layout (GB/T 9704; A9-M4.1, A9-M4.3).

A4, margins 37/35/28/26 mm (top/bottom/left/right), 22 lines a page; the title in
方正小标宋简体 22 pt, the body in 仿宋_GB2312 16 pt (三号; the font table names 仿宋 as its
substitute), first-level headings in 黑体 and second-level ones in 楷体_GB2312; page numbers
"— n —" at the foot. East Asian fonts are set through ``w:rFonts/@w:eastAsia``.

``plan_document`` renders a plan version (scope, call tree, levels with reporting deadlines,
scenarios, response steps by phase, resources, what the revision answers);
``review_document`` a drill's after-action report (facts, record, metrics, what went well,
problems with owners and due dates, plan revisions).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import Table
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from collector.db.models import Unit
from collector.db.models_drills import Drill, PlanVersion
from collector.services.drill_runner import DrillState
from collector.services.plans import content_of

__all__ = ["BODY_FONT", "HEADING_FONT", "PHASE_ZH", "TITLE_FONT", "plan_document", "review_document"]

TITLE_FONT, BODY_FONT, HEADING_FONT, SUBHEADING_FONT = "方正小标宋简体", "仿宋_GB2312", "黑体", "楷体_GB2312"
_SUBSTITUTES = {TITLE_FONT: "宋体", BODY_FONT: "仿宋", SUBHEADING_FONT: "楷体", HEADING_FONT: "SimHei"}
PHASE_ZH = {"detect": "监测发现", "report": "报告", "contain": "遏制", "eradicate": "根除",
            "recover": "恢复", "review": "总结评估"}  # fmt: skip
_LEVEL_ZH = {"I": "特别重大（Ⅰ级）", "II": "重大（Ⅱ级）", "III": "较大（Ⅲ级）", "IV": "一般（Ⅳ级）"}
_KIND_ZH = {"tabletop": "桌面推演", "hands_on": "实战演练"}
_COVERAGE_ZH = {"specialised": "专项演练", "comprehensive": "综合演练"}
_STATUS_ZH = {"open": "未完成", "done": "已完成", "waived": "不再整改"}
_STEP_ZH = {"started": "开始", "done": "完成", "failed": "失败", "skipped": "跳过", "": "备注"}
_EVENT_ZH = {"start": "演练开始", "finish": "演练结束", "note": "记录"}
_NUMBERS = "一二三四五六七八九十"
_LINE = Pt(28.95)  # 22 lines on the A4 type area


# -- layout ----------------------------------------------------------------------------------------
def _font(run: Run, name: str, size: float, bold: bool = False) -> None:
    run.font.name = name
    run.font.size = Pt(size)
    run.font.bold = bold
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    for attr in ("w:eastAsia", "w:ascii", "w:hAnsi"):
        fonts.set(qn(attr), name)


def _substitutes(document: DocxDocument) -> None:
    """Name a substitute for each official font in the font table (仿宋 for 仿宋_GB2312...)."""
    for part in document.part.package.iter_parts():
        if str(part.partname) != "/word/fontTable.xml":
            continue
        xml = part.blob.decode("utf-8")
        entries = "".join(
            f'<w:font w:name="{name}"><w:altName w:val="{alt}"/><w:charset w:val="86"/></w:font>'
            for name, alt in _SUBSTITUTES.items()
        )
        part._blob = xml.replace("</w:fonts>", entries + "</w:fonts>").encode("utf-8")


def _page_number(paragraph: Paragraph) -> None:
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(paragraph.add_run("— "), "宋体", 14)
    run = paragraph.add_run()
    _font(run, "宋体", 14)
    for kind, text in (("begin", None), (None, "PAGE"), ("end", None)):
        if kind:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
        else:
            element = OxmlElement("w:instrText")
            element.set(qn("xml:space"), "preserve")
            element.text = text
        run._element.append(element)
    _font(paragraph.add_run(" —"), "宋体", 14)


def _new_document() -> DocxDocument:
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    normal = document.styles["Normal"]
    normal.font.name, normal.font.size = BODY_FONT, Pt(16)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)
    _page_number(section.footer.paragraphs[0])
    _substitutes(document)
    return document


def _paragraph(document: DocxDocument, text: str, font: str = BODY_FONT, size: float = 16,
               indent: bool = True, align: int | None = None, bold: bool = False) -> Paragraph:  # fmt: skip
    paragraph = document.add_paragraph()
    form = paragraph.paragraph_format
    form.line_spacing_rule, form.line_spacing = WD_LINE_SPACING.EXACTLY, _LINE
    form.space_before = form.space_after = Pt(0)
    if indent:
        form.first_line_indent = Pt(size * 2)
    if align is not None:
        paragraph.alignment = align  # type: ignore[assignment]
    _font(paragraph.add_run(text), font, size, bold)
    return paragraph


def _title(document: DocxDocument, text: str, subtitle: str = "") -> None:
    title = _paragraph(document, text, TITLE_FONT, 22, indent=False, align=WD_ALIGN_PARAGRAPH.CENTER)
    title.paragraph_format.line_spacing = Pt(36)
    if subtitle:
        _paragraph(document, subtitle, SUBHEADING_FONT, 16, indent=False, align=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph(document, "", indent=False)


def _heading(document: DocxDocument, number: int, text: str) -> None:
    _paragraph(document, f"{_NUMBERS[number - 1]}、{text}", HEADING_FONT, 16)


def _subheading(document: DocxDocument, number: int, text: str) -> None:
    _paragraph(document, f"（{_NUMBERS[number - 1]}）{text}", SUBHEADING_FONT, 16)


def _table(document: DocxDocument, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    table: Table
    table = document.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        _font(cell.paragraphs[0].add_run(text), HEADING_FONT, 12)
    for values in rows:
        cells = table.add_row().cells  # type: ignore[no-untyped-call]
        for cell, text in zip(cells, values, strict=True):
            _font(cell.paragraphs[0].add_run(text), BODY_FONT, 12)
    return table


def _signature(document: DocxDocument, unit: Unit, when: datetime | None, zone: ZoneInfo) -> None:
    _paragraph(document, "", indent=False)
    _paragraph(document, unit.name_zh, indent=False, align=WD_ALIGN_PARAGRAPH.RIGHT)
    if when is not None:
        local = when.astimezone(zone)
        _paragraph(document, f"{local.year}年{local.month}月{local.day}日", indent=False,
                   align=WD_ALIGN_PARAGRAPH.RIGHT)  # fmt: skip


def _bytes(document: DocxDocument) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


# -- the plan --------------------------------------------------------------------------------------
def plan_document(
    unit: Unit, version: PlanVersion, drills: Sequence[Drill] = (), zone: str = "Asia/Shanghai"
) -> bytes:
    """A plan version as an official document (A9-M4.1)."""
    content = content_of(version)
    document = _new_document()
    document.core_properties.title = content.title
    state = {"draft": "（草案）", "superseded": "（已废止）"}.get(version.status, "")
    _title(document, content.title, f"第{version.number}版{state}")
    _heading(document, 1, "适用范围")
    for line in content.scope.splitlines() or [""]:
        _paragraph(document, line)
    _heading(document, 2, "组织机构与联络（呼叫树）")
    _table(
        document,
        ["角色", "姓名", "电话", "由谁通知", "职责"],
        [[c.role, c.name, c.phone, c.called_by or "—", c.duty] for c in content.contacts],
    )
    _heading(document, 3, "事件分级与报告时限")
    _table(
        document,
        ["级别", "判定标准", "报告时限（小时）", "报告对象"],
        [
            [_LEVEL_ZH.get(lv.key, lv.name), lv.criteria, _hours(lv.report_within_hours), lv.addressee]
            for lv in content.levels
        ],
    )
    _heading(document, 4, "应对场景")
    for i, scenario in enumerate(content.scenarios, 1):
        _paragraph(document, f"{i}. {scenario.title}" + (f"：{scenario.notes}" if scenario.notes else ""))
    _heading(document, 5, "处置流程")
    number = 0
    for phase, name in PHASE_ZH.items():
        lines = content.steps.get(phase, [])  # type: ignore[call-overload]
        if lines:
            number += 1
            _subheading(document, number, name)
            for i, line in enumerate(lines, 1):
                _paragraph(document, f"{i}. {line}")
    _heading(document, 6, "保障资源")
    for i, resource in enumerate(content.resources, 1):
        text = f"{i}. {resource.name}" + (f"：{resource.detail}" if resource.detail else "")
        _paragraph(document, text + (f"（{resource.contact}）" if resource.contact else ""))
    if version.note or drills:
        _heading(document, 7, "修订说明")
        if version.note:
            _paragraph(document, version.note)
        for drill in drills:
            _paragraph(
                document,
                f"根据{drill.planned_date:%Y年%m月%d日}“{drill.title}”演练（编号 {drill.id}）的评估结果修订。",
            )
    _signature(document, unit, version.approved_at or version.updated_at, ZoneInfo(zone))
    return _bytes(document)


# -- the after-action report -----------------------------------------------------------------------
def _minutes(value: float | None) -> str:
    return "未完成" if value is None else f"{value:g} 分钟"


def review_document(
    unit: Unit, drill: Drill, state: DrillState, zone: str = "Asia/Shanghai", revised_in: Sequence[int] = ()
) -> bytes:
    """A drill's after-action report (总结评估报告, A9-M4.3)."""
    tz = ZoneInfo(zone)
    document = _new_document()
    document.core_properties.title = f"{drill.title}总结评估报告"
    _title(document, "网络安全应急演练总结评估报告", drill.title)
    _heading(document, 1, "演练基本情况")
    held = drill.held_on or drill.planned_date
    facts = [
        f"演练单位：{unit.name_zh}",
        f"演练时间：{held.year}年{held.month}月{held.day}日",
        f"演练形式：{_KIND_ZH.get(drill.kind, drill.kind)}，{_COVERAGE_ZH.get(drill.coverage, drill.coverage)}",
        f"演练场景：{drill.scenario.get('title_zh', drill.scenario_key)}",
        f"事件级别：{_LEVEL_ZH.get(drill.incident_level, drill.incident_level)}，"
        f"按预案应在 {_hours(state.report_within_hours)} 小时内报告{state.report_to}",
        f"依据预案：第{drill.plan_version.number}版",
    ]
    for line in facts:
        _paragraph(document, line)
    if drill.participants:
        people = "、".join(
            f"{p['name']}（{p['role']}）" if p.get("role") else p["name"] for p in drill.participants
        )
        _paragraph(document, f"参演人员：{people}")
    _heading(document, 2, "评估指标")
    m = state.metrics
    in_time = {True: "，在时限内", False: "，超过时限", None: ""}[m.report_in_time]
    for line in (
        f"发现用时：{_minutes(m.time_to_detect)}",
        f"报告用时（自发现起）：{_minutes(m.time_to_report)}{in_time}",
        f"遏制用时：{_minutes(m.time_to_contain)}",
        f"恢复用时：{_minutes(m.time_to_recover)}",
        f"步骤：共 {m.steps_total} 项，完成 {m.steps_done} 项，失败 {len(m.steps_failed)} 项，跳过 {len(m.steps_skipped)} 项",
    ):
        _paragraph(document, line)
    _table(
        document,
        ["阶段", "目标（分钟）", "实际（分钟）", "是否超时"],
        [
            [
                PHASE_ZH.get(p.phase, p.phase),
                _hours(p.target_minutes),
                _hours(p.minutes),
                {True: "超时", False: "未超时", None: "—"}[p.over_target],
            ]
            for p in m.phases
        ],
    )
    _heading(document, 3, "演练过程记录")
    steps = {s.key: s for p in state.phases for s in p.steps}
    injects = {i.key: i for i in state.injects}
    rows = []
    for entry in state.log:
        if entry.kind == "step":
            step = steps.get(entry.step_key)
            what = f"{step.text_zh if step else entry.step_key}：{_STEP_ZH.get(entry.status, entry.status)}"
        elif entry.kind == "inject":
            inject = injects.get(entry.inject_key)
            what = f"情况注入：{inject.text_zh if inject else entry.inject_key}"
        else:
            what = _EVENT_ZH.get(entry.kind, entry.kind)
        if entry.text and entry.kind != "inject":
            what += f"（{entry.text}）"
        who = entry.performer or entry.actor
        rows.append([entry.at.astimezone(tz).strftime("%H:%M:%S"), what, who])
    _table(document, ["时间", "事项", "人员"], rows)
    _heading(document, 4, "做得好的方面")
    for line in (drill.went_well or "—").splitlines():
        _paragraph(document, line)
    _heading(document, 5, "发现的问题与整改措施")
    for line in (drill.review_summary or "—").splitlines():
        _paragraph(document, line)
    _table(
        document,
        ["序号", "问题", "整改措施", "责任人", "完成期限", "状态"],
        [
            [
                str(i),
                a.problem + ("（涉及预案）" if a.concerns_plan else ""),
                a.action,
                a.owner,
                a.due_date.isoformat(),
                _STATUS_ZH.get(a.status, a.status) + (f"：{a.resolution}" if a.resolution else ""),
            ]
            for i, a in enumerate(drill.actions, 1)
        ],
    )
    _heading(document, 6, "预案修订")
    if revised_in:
        _paragraph(
            document, "根据本次演练评估结果，预案已修订为第" + "、".join(map(str, revised_in)) + "版。"
        )
    else:
        _paragraph(document, "本次演练未引起预案修订。")
    _signature(document, unit, drill.reviewed_at or drill.ended_at, tz)
    return _bytes(document)
