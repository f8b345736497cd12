"""The figures of a bulletin as data (issue 5, A9-M3.5, P-16): what a draft shows, what an
issued bulletin freezes as its snapshot (JSON), what the DOCX, the XLSX and the pages render.

Pydantic models, so that a snapshot read back from the database is validated like any input.
``schema_version`` changes when a field changes meaning; old snapshots keep rendering.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from collector.services.bulletin_config import ScoreConfig

__all__ = [
    "CATEGORY_LABELS",
    "SEVERITY_LABELS",
    "BulletinData",
    "CategoryRow",
    "Counts",
    "DocumentText",
    "OverdueRow",
    "PeriodOut",
    "RankRow",
    "SeverityRow",
    "Totals",
    "UnitRef",
    "UnitRow",
]

#: Finding categories of the policy packs (docs/policy-format), in the bulletin's order.
CATEGORY_LABELS: dict[str, tuple[str, str]] = {
    "licensing": ("软件正版化", "Licensed software"),
    "antivirus": ("防病毒", "Antivirus"),
    "patches": ("系统补丁", "Patches"),
    "hardware": ("硬件标准", "Hardware standard"),
    "security_config": ("安全配置", "Security configuration"),
    "logs": ("日志留存", "Log retention"),
    "availability": ("主机在线", "Host availability"),
    "vpn": ("VPN", "VPN"),
}
#: Severities, most severe first.
SEVERITY_LABELS: dict[str, tuple[str, str]] = {
    "critical": ("严重", "Critical"),
    "high": ("高危", "High"),
    "medium": ("中危", "Medium"),
    "low": ("低危", "Low"),
    "info": ("提示", "Info"),
}


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UnitRef(_Data):
    code: str
    name_zh: str
    name_en: str
    kind: str


class PeriodOut(_Data):
    kind: str = Field(description="week, month or quarter.")
    key: str = Field(description="2026-W48, 2026-11 or 2026-Q4.")
    start: date = Field(description="First day (Asia/Shanghai calendar).")
    end: date = Field(description="Last day, inclusive.")
    label_zh: str
    label_en: str


class Counts(_Data):
    new: int = Field(default=0, description="Opened in the period.")
    rectified: int = Field(default=0, description="Became verified or closed in the period.")
    open: int = Field(default=0, description="Still open at the end (open, assigned, claimed rectified).")
    overdue: int = Field(default=0, description="Open at the end and past their deadline.")
    exempted: int = Field(default=0, description="Exempted at the end.")
    reopened: int = Field(default=0, description="Reopened in the period.")


class CategoryRow(Counts):
    key: str
    label_zh: str
    label_en: str


class SeverityRow(Counts):
    key: str
    label_zh: str
    label_en: str


class UnitRow(Counts, UnitRef):
    own_only: bool = Field(description="The unit's own hosts and findings only (本级), not its subtree.")
    hosts: int = Field(description="Hosts in the asset register at the end of the period.")
    agent_hosts: int = Field(description="Of which with the agent.")
    coverage: float | None = Field(description="agent_hosts / hosts (null without hosts).")
    rate: float | None = Field(description="Rectification rate: rectified / (rectified + open).")


class RankRow(UnitRow):
    rank: int
    score: float
    open_points: float = Field(description="Points taken for open findings (weighted, scaled).")
    overdue_points: float = Field(description="Points taken for overdue findings (weighted, scaled).")
    rate_points: float
    coverage_points: float


class OverdueRow(_Data):
    unit: UnitRef
    host: str
    title_zh: str
    title_en: str
    severity: str
    category: str
    opened_on: date
    due_on: date
    days_overdue: int


class Totals(Counts):
    hosts: int
    agent_hosts: int
    coverage: float | None
    rate: float | None


class BulletinData(_Data):
    schema_version: int = 1
    unit: UnitRef
    period: PeriodOut
    computed_at: datetime
    as_of: date = Field(description="The last day counted: the period's end, or today while it runs.")
    totals: Totals
    by_category: list[CategoryRow]
    by_severity: list[SeverityRow]
    units: list[UnitRow] = Field(description="The unit itself (本级), then each child with its subtree.")
    ranking: list[RankRow] = Field(description="District/county bureaus by score (two or more in scope).")
    overdue: list[OverdueRow] = Field(description="The longest overdue findings (at most 30).")
    overdue_total: int
    score: ScoreConfig = Field(description="The score settings used for the ranking.")


class DocumentText(_Data):
    """What the official document says around the figures (frozen with them when issued)."""

    title: str
    addressees: str
    remarks: str = ""
    closing: list[str] = Field(default_factory=list)
    issuer_name: str
    header: str
    red_header: bool = True
    doc_number: str | None = None  # None: a draft (the number is left blank)
    number_prefix: str = ""
    signed_on: date = Field(description="成文日期: the date the document is issued (or drafted).")
