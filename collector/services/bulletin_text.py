"""What a bulletin says (issue 5, A9-M3.5, P-16): its tables (for the DOCX, the XLSX and the
pages alike) and the paragraphs of the official document, in Chinese. Pure.

Tables, in this order (a table without rows is left out; its number goes to the next one):
categories, severities, coverage per unit, rectification per unit, the ranking of the
district/county bureaus, the longest overdue findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collector.services.bulletin_data import (
    SEVERITY_LABELS,
    BulletinData,
    Counts,
    DocumentText,
    UnitRow,
)
from collector.services.bulletin_periods import chinese_date

__all__ = ["Block", "Cell", "TableSpec", "body_sections", "percent", "shown", "tables_of", "unit_label"]

Cell = str | int | float | None
_NUMERALS = "一二三四五六七八九十"


@dataclass(frozen=True)
class TableSpec:
    key: str
    number: int
    title: str  # without its number
    sheet: str  # the XLSX sheet name (at most 31 characters)
    header: list[str]
    formats: list[str]  # per column: text | int | percent | score
    rows: list[list[Cell]]

    @property
    def caption(self) -> str:
        return f"表{self.number}  {self.title}"

    def text_rows(self, decimals: int = 1) -> list[list[str]]:
        return [[shown(v, f, decimals) for v, f in zip(row, self.formats, strict=True)] for row in self.rows]


@dataclass(frozen=True)
class Block:
    kind: str  # heading | subheading | paragraph | table (text = the table's key)
    text: str


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def shown(value: Cell, fmt: str, decimals: int = 1) -> str:
    if value is None:
        return "—"
    if fmt == "percent" and isinstance(value, (int, float)):
        return percent(value)
    if fmt == "score" and isinstance(value, (int, float)):
        return f"{value:.{decimals}f}"
    return str(value)


def unit_label(row: UnitRow) -> str:
    return f"{row.name_zh}（本级）" if row.own_only else row.name_zh


_COUNT_HEADER = ["新发现", "已整改", "未整改", "其中逾期"]
_COUNT_FORMATS = ["int"] * 4


def _counts(c: Counts) -> list[Cell]:
    return [c.new, c.rectified, c.open, c.overdue]


def tables_of(data: BulletinData) -> list[TableSpec]:
    t = data.totals
    found: list[tuple[str, str, str, list[str], list[str], list[list[Cell]]]] = [
        ("categories", "各类别问题情况", "按类别", ["问题类别", *_COUNT_HEADER], ["text", *_COUNT_FORMATS],
         [[r.label_zh, *_counts(r)] for r in data.by_category] + [["合计", *_counts(t)]]),
        ("severities", "各级别问题情况", "按级别", ["问题级别", *_COUNT_HEADER], ["text", *_COUNT_FORMATS],
         [[r.label_zh, *_counts(r)] for r in data.by_severity] + [["合计", *_counts(t)]]),
        ("coverage", "各单位终端监测覆盖情况", "各单位覆盖",
         ["单位", "资产登记终端（台）", "已装监测代理（台）", "覆盖率"], ["text", "int", "int", "percent"],
         [[unit_label(u), u.hosts, u.agent_hosts, u.coverage] for u in data.units]
         + [["合计", t.hosts, t.agent_hosts, t.coverage]]),
        ("rectification", "各单位问题整改情况", "各单位整改", ["单位", *_COUNT_HEADER, "整改率"],
         ["text", *_COUNT_FORMATS, "percent"],
         [[unit_label(u), *_counts(u), u.rate] for u in data.units] + [["合计", *_counts(t), t.rate]]),
        ("ranking", "县区统计局综合排名", "排名",
         ["排名", "单位", "得分", "未整改扣分", "逾期扣分", "整改率", "覆盖率"],
         ["int", "text", "score", "score", "score", "percent", "percent"],
         [[r.rank, r.name_zh, r.score, r.open_points, r.overdue_points, r.rate, r.coverage] for r in data.ranking]),
        ("overdue", "逾期未整改问题清单", "逾期问题",
         ["序号", "单位", "主机", "问题", "级别", "整改期限", "逾期天数"],
         ["int", "text", "text", "text", "text", "text", "int"],
         [[i, o.unit.name_zh, o.host or "—", o.title_zh or o.category, SEVERITY_LABELS.get(o.severity, (o.severity,))[0],
           chinese_date(o.due_on), o.days_overdue] for i, o in enumerate(data.overdue, start=1)]),
    ]  # fmt: skip
    specs: list[TableSpec] = []
    for key, title, sheet, header, formats, rows in found:
        if rows:
            specs.append(TableSpec(key, len(specs) + 1, title, sheet, header, formats, rows))
    return specs


def _scope(data: BulletinData) -> str:
    return "全市统计系统" if data.unit.kind == "city" else data.unit.name_zh


def _listing(items: Sequence[tuple[str, int]], unit: str = "个") -> str:
    return "、".join(f"{name}{count}{unit}" for name, count in items)


def body_sections(data: BulletinData, text: DocumentText) -> list[Block]:
    """The paragraphs of the document, with the places of its tables."""
    tables = {spec.key: spec for spec in tables_of(data)}
    t, period = data.totals, data.period
    blocks: list[Block] = []
    heading = iter(_NUMERALS)

    def section(title: str) -> None:
        blocks.append(Block("heading", f"{next(heading)}、{title}"))

    def ref(*keys: str) -> str:
        return "、".join(f"表{tables[k].number}" for k in keys if k in tables)

    blocks.append(Block("paragraph", (
        f"为及时通报网络安全监测发现的问题、督促整改落实，现将{period.label_zh}（{chinese_date(period.start)}至"
        f"{chinese_date(period.end)}）{_scope(data)}网络安全监测情况通报如下。"
    )))  # fmt: skip
    section("总体情况")
    extra = f"，经批准豁免{t.exempted}个" if t.exempted else ""
    extra += f"；本期复发问题{t.reopened}个" if t.reopened else ""
    blocks.append(Block("paragraph", (
        f"截至{chinese_date(data.as_of)}，{_scope(data)}资产清单登记终端{t.hosts}台，其中已安装监测代理"
        f"{t.agent_hosts}台，覆盖率{percent(t.coverage)}。本期新发现问题{t.new}个，完成整改（已核验或已销号）"
        f"{t.rectified}个，整改率{percent(t.rate)}；期末尚未整改问题{t.open}个，其中逾期未整改{t.overdue}个{extra}。"
    )))  # fmt: skip
    section("问题分布")
    open_by_category = [(r.label_zh + "类", r.open) for r in data.by_category if r.open]
    open_by_severity = [(r.label_zh, r.open) for r in data.by_severity if r.open]
    if open_by_category:
        blocks.append(Block("paragraph", (
            f"期末尚未整改的问题中，按类别分：{_listing(open_by_category)}；按级别分：{_listing(open_by_severity)}。"
            f"详见{ref('categories', 'severities')}。"
        )))  # fmt: skip
    else:
        blocks.append(
            Block("paragraph", f"期末无尚未整改的问题。本期问题情况见{ref('categories', 'severities')}。")
        )
    blocks += [Block("table", "categories"), Block("table", "severities")]
    section("各单位情况")
    laggards = sorted((u for u in data.units if u.overdue), key=lambda u: -u.overdue)[:3]
    sentence = f"各单位终端监测覆盖和问题整改情况见{ref('coverage', 'rectification')}。"
    if laggards:
        sentence += (
            f"逾期未整改问题较多的单位是：{_listing([(unit_label(u), u.overdue) for u in laggards])}。"
        )
    blocks += [Block("paragraph", sentence), Block("table", "coverage"), Block("table", "rectification")]
    if data.ranking:
        s = data.score
        section("县区综合排名")
        basis = f"问题数按每{s.per_hosts}台终端折算，" if s.per_hosts else ""
        blocks.append(Block("paragraph", (
            f"按照通报评分办法（得分＝基础分{s.base:g}－未整改问题扣分－逾期问题扣分＋整改率×{s.rectification_weight:g}"
            f"＋监测代理覆盖率×{s.coverage_weight:g}，{basis}扣分按问题级别加权），各县区统计局得分及排名见{ref('ranking')}。"
            f"本期排名第一的是{data.ranking[0].name_zh}，排名末位的是{data.ranking[-1].name_zh}。"
        )))  # fmt: skip
        blocks.append(Block("table", "ranking"))
    if data.overdue:
        section("逾期未整改问题")
        listed = (
            f"，按整改期限先后列出前{len(data.overdue)}个" if data.overdue_total > len(data.overdue) else ""
        )
        blocks.append(
            Block("paragraph", f"期末逾期未整改问题共{data.overdue_total}个{listed}，见{ref('overdue')}。")
        )
        blocks.append(Block("table", "overdue"))
    closing = [p for p in (*text.closing, *(line.strip() for line in text.remarks.splitlines())) if p]
    if closing:
        section("工作要求")
        blocks += [Block("paragraph", paragraph) for paragraph in closing]
    return blocks
