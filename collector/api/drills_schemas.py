"""API schemas of emergency plans and drills (A9-M4.1, A9-M4.2, A9-M4.3).

Inputs are strict (extra="forbid"), bounded, and refuse NUL characters; outputs are read
from the services' objects (``from_attributes``). The plan content itself is the services'
``PlanContent`` document model.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from collector.services.plans import PlanContent

__all__ = [
    "ActionIn",
    "ActionOut",
    "CalendarOut",
    "CancelIn",
    "DiffOut",
    "DraftIn",
    "DraftPatch",
    "DrillIn",
    "DrillOut",
    "DrillPatch",
    "DrillStateOut",
    "EventBatchIn",
    "EventBatchOut",
    "PlanOut",
    "PlanSummaryOut",
    "PlanVersionBrief",
    "PlanVersionOut",
    "ResolveIn",
    "ReviewIn",
    "TemplateSummaryOut",
]

_NO_NUL = r"^[^\x00]*$"
_Short = Annotated[str, StringConstraints(max_length=64, pattern=_NO_NUL)]
_Name = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_NO_NUL)]
_Title = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=_NO_NUL)]
_Text = Annotated[str, StringConstraints(max_length=4000, pattern=_NO_NUL)]
_Long = Annotated[str, StringConstraints(max_length=8000, pattern=_NO_NUL)]
_UnitCode = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=_NO_NUL)]
_Key = Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9_-]*$")]
_Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]
_Id = Annotated[int, Field(ge=1, le=2_147_483_647)]
_Phase = Literal["detect", "report", "contain", "eradicate", "recover", "review"]
_Level = Literal["I", "II", "III", "IV"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- plans -----------------------------------------------------------------------------------------
class DraftIn(_Strict):
    """A new draft. Without ``content``: a copy of the approved version (or the defaults)."""

    content: PlanContent | None = None
    note: _Text = Field(default="", description="What changed and why.")
    source_drill_ids: list[_Id] = Field(
        default_factory=list, max_length=20, description="Drills whose evaluation this revision answers."
    )


class DraftPatch(_Strict):
    """Fields of a draft to change; those left out stay."""

    content: PlanContent | None = None
    note: _Text | None = None
    source_drill_ids: list[_Id] | None = Field(default=None, max_length=20)


class PlanVersionOut(_Out):
    id: int
    unit_code: str
    number: int
    status: str = Field(description="draft, approved or superseded.")
    note: str
    created_at: datetime
    created_by: str
    approved_at: datetime | None
    approved_by: str
    superseded_at: datetime | None
    source_drill_ids: list[int] = Field(description="Drills this version was revised from (A9-M4.3).")
    content: PlanContent


class PlanVersionBrief(_Out):
    id: int
    number: int
    status: str
    note: str
    created_at: datetime
    approved_at: datetime | None
    source_drill_ids: list[int]


class PlanOut(_Out):
    unit_code: str
    current: PlanVersionOut | None = Field(description="The approved version in force.")
    draft: PlanVersionOut | None
    versions: list[PlanVersionBrief]


class PlanSummaryOut(_Out):
    unit_code: str
    unit_name_zh: str
    unit_name_en: str
    current_number: int | None
    current_approved_at: datetime | None
    draft_number: int | None


class ChangeOut(_Out):
    op: str = Field(description="added, removed or changed.")
    text: str
    old: str


class PartDiffOut(_Out):
    part: str = Field(description="title, scope, contacts, levels, scenarios, steps.<phase> or resources.")
    changes: list[ChangeOut]


class DiffOut(_Out):
    version_id: int
    against_id: int | None
    parts: list[PartDiffOut]


class TemplateSummaryOut(_Out):
    key: str
    title_zh: str
    title_en: str
    summary_zh: str
    summary_en: str
    incident_level: str
    steps: int
    injects: int


# -- drills ----------------------------------------------------------------------------------------
class ParticipantIn(_Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_NO_NUL)]
    role: _Short = ""


class DrillPatch(_Strict):
    title: _Title
    kind: Literal["tabletop", "hands_on"] = Field(description="Tabletop (桌面推演) or hands-on (实战).")
    coverage: Literal["specialised", "comprehensive"] = Field(
        description="Specialised (专项) or comprehensive (综合)."
    )
    scenario_key: _Key = Field(min_length=1, description="A template key (GET /drill-templates) or 'plan'.")
    planned_date: _Day
    incident_level: _Level | None = Field(default=None, description="Default: the scenario's.")
    participants: list[ParticipantIn] = Field(default_factory=list, max_length=100)
    targets: dict[_Phase, Annotated[int, Field(ge=1, le=10080)]] = Field(
        default_factory=dict, description="Target minutes per phase (default: the scenario's)."
    )
    include_plan_steps: bool = Field(
        default=False, description="Add the plan's response steps to each phase."
    )


class DrillIn(DrillPatch):
    unit: _UnitCode = Field(description="Code of the unit that holds the drill.")


class CancelIn(_Strict):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=_NO_NUL)]


class ActionOut(_Out):
    id: int
    problem: str
    action: str
    owner: str
    due_date: date
    concerns_plan: bool
    status: str = Field(description="open, done or waived.")
    resolution: str
    resolved_at: datetime | None
    resolved_by: str
    plan_version_id: int | None


class DrillOut(_Out):
    id: int
    unit_code: str
    title: str
    kind: str
    coverage: str
    scenario_key: str
    scenario_title: str
    incident_level: str
    plan_version_id: int
    plan_version_number: int
    planned_date: date
    held_on: date | None
    participants: list[dict[str, str]]
    targets: dict[str, int]
    status: str = Field(description="planned, running, finished, closed or cancelled.")
    revision: int
    started_at: datetime | None
    ended_at: datetime | None
    went_well: str
    review_summary: str
    reviewed_at: datetime | None
    closed_at: datetime | None
    cancel_reason: str
    revised_in: list[int] = Field(description="Plan versions revised from this drill.")
    actions: list[ActionOut]


class DrillBrief(_Out):
    id: int
    title: str
    planned_date: date
    held_on: date | None
    status: str


class UnitYearOut(_Out):
    unit_code: str
    unit_name_zh: str
    unit_name_en: str
    must_drill: bool
    completed: int
    flagged: bool = Field(description="A bureau with no drill completed in the year (A9-M4.2).")
    plan_version: int | None
    drills: list[DrillBrief]


class CalendarOut(_Out):
    year: int
    units: list[UnitYearOut]


# -- the runner ------------------------------------------------------------------------------------
class EventIn(_Strict):
    client_id: Annotated[str, StringConstraints(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] = (
        Field(description="Made by the client, unique per action: a retry with the same id is stored once.")
    )
    kind: Literal["start", "step", "inject", "note", "finish"]
    step_key: _Key = ""
    status: Literal["", "started", "done", "failed", "skipped"] = ""
    inject_key: _Key = ""
    text: Annotated[str, StringConstraints(max_length=2000, pattern=_NO_NUL)] = ""
    performer: _Short = Field(default="", description="Who did it, when not the logged-in user.")
    at: AwareDatetime | None = Field(default=None, description="When it happened (default: now).")

    @field_validator("at")
    @classmethod
    def _sane(cls, value: datetime | None) -> datetime | None:
        if value is not None and not 2000 <= value.year <= 2100:
            raise ValueError("a time between 2000 and 2100")
        return value


class EventBatchIn(_Strict):
    events: list[EventIn] = Field(min_length=1, max_length=100)


class EventOutcomeOut(_Out):
    client_id: str
    outcome: str = Field(description="accepted, duplicate (stored before) or rejected (with the reason).")
    detail: str
    event_id: int | None


class StepOut(_Out):
    key: str
    phase: str
    text_zh: str
    text_en: str
    role: str
    status: str
    started_at: datetime | None
    resolved_at: datetime | None
    by: str
    notes: list[str]


class PhaseOut(_Out):
    phase: str
    target_minutes: int
    steps: list[StepOut]


class InjectOut(_Out):
    key: str
    at_minute: int
    text_zh: str
    text_en: str
    revealed: bool
    revealed_at: datetime | None
    how: str


class LogOut(_Out):
    at: datetime
    kind: str
    step_key: str
    status: str
    inject_key: str
    text: str
    actor: str
    performer: str
    event_id: int | None


class PhaseMetricOut(_Out):
    phase: str
    target_minutes: int | None
    started_at: datetime | None
    ended_at: datetime | None
    minutes: float | None
    over_target: bool | None


class MetricsOut(_Out):
    time_to_detect: float | None = Field(description="Minutes from the start to the end of detection.")
    time_to_report: float | None = Field(description="Minutes from detection to the end of reporting.")
    report_deadline_minutes: float | None = Field(description="The plan's deadline for the incident level.")
    report_in_time: bool | None
    time_to_contain: float | None
    time_to_recover: float | None
    total_minutes: float | None
    steps_total: int
    steps_done: int
    steps_failed: list[str]
    steps_skipped: list[str]
    steps_open: list[str]
    phases: list[PhaseMetricOut]


class DrillStateOut(_Out):
    id: int
    unit_code: str
    title: str
    status: str
    revision: int
    now: datetime
    started_at: datetime | None
    ended_at: datetime | None
    incident_level: str
    level_name: str
    report_within_hours: float | None
    report_to: str
    participants: list[dict[str, str]]
    phases: list[PhaseOut]
    injects: list[InjectOut]
    log: list[LogOut]
    metrics: MetricsOut


class EventBatchOut(_Out):
    results: list[EventOutcomeOut]
    state: DrillStateOut


# -- evaluation ------------------------------------------------------------------------------------
class ReviewIn(_Strict):
    went_well: _Long = Field(default="", description="What went well.")
    summary: _Long = Field(default="", description="The problems found, in words.")


class ActionIn(_Strict):
    problem: Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=_NO_NUL)]
    action: _Text = Field(default="", description="What is to be done.")
    owner: _Name
    due_date: _Day
    concerns_plan: bool = Field(default=False, description="Settled by a new plan version (A9-M4.3).")


class ResolveIn(_Strict):
    outcome: Literal["done", "waived"]
    note: _Text = Field(default="", description="What was done, or why it is waived (required then).")
