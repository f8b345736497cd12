"""Emergency response plans (应急预案, A9-M4.1) and their revision from drills (A9-M4.3).

One plan per unit, versioned: at most one draft (editable) and one approved version (the
current plan); approving a draft supersedes the approved one. A version's content is the
structured ``PlanContent``: scope, organisation (a call tree with roles and phones),
incident levels with reporting deadlines and addressees (data, not code: a drill's "time to
report" is measured against them), scenarios, response steps by phase, resources.

A version revised from drills names them (``PlanRevisionSource``); approving it marks the
plan-related actions of those drills done. Scope (A9-G): a unit outside the caller's view
answers 404 like a missing one; a read-only role gets 403 on writes. Every write is audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Unit
from collector.db.models_drills import Drill, EmergencyPlan, PlanRevisionSource, PlanVersion
from collector.services.audit import record
from collector.services.auth import Principal, ensure_writer
from collector.services.drill_templates import (
    LEVEL_KEYS,
    LevelKey,
    PhaseName,
    load_plan_defaults,
    load_templates,
)
from collector.services.errors import Conflict, Forbidden, Invalid, NotFound
from collector.services.hosts import visible_units

__all__ = [
    "Contact",
    "Level",
    "PlanContent",
    "PlanRow",
    "Resource",
    "ScenarioRef",
    "add_sources",
    "approve",
    "create_draft",
    "current_version",
    "default_content",
    "discard_draft",
    "draft_version",
    "level_of",
    "list_plans",
    "plan_of",
    "unit_for_read",
    "unit_for_write",
    "update_draft",
    "version_for_read",
    "version_for_write",
]

_NO_NUL = r"^[^\x00]*$"
Short = Annotated[str, StringConstraints(max_length=128, pattern=_NO_NUL, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_NO_NUL, strip_whitespace=True)]
Phone = Annotated[str, StringConstraints(max_length=32, pattern=r"^[0-9+()\- ,/转]*$", strip_whitespace=True)]
Line = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=_NO_NUL, strip_whitespace=True)]
Long = Annotated[str, StringConstraints(max_length=4000, pattern=_NO_NUL, strip_whitespace=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Contact(_Strict):
    """One person of the call tree: the head has no ``called_by``; everyone else is called by
    the holder of that role."""

    role: Name
    name: Short = ""
    phone: Phone = ""
    called_by: Short = ""
    duty: Short = ""


class Level(_Strict):
    """An incident level and whom to report it to, within how many hours of discovery."""

    key: LevelKey
    name: Name
    criteria: Long = ""
    report_within_hours: float = Field(gt=0, le=720)
    addressee: Name


class ScenarioRef(_Strict):
    key: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=_NO_NUL, strip_whitespace=True)
    ]
    title: Line
    notes: Long = ""


class Resource(_Strict):
    name: Name
    detail: Long = ""
    contact: Short = ""


class PlanContent(_Strict):
    """The structured parts of a plan (A9-M4.1)."""

    title: Line = "网络安全事件应急预案"
    scope: Long = ""
    contacts: list[Contact] = Field(default_factory=list, max_length=50)
    levels: list[Level] = Field(min_length=1, max_length=4)
    scenarios: list[ScenarioRef] = Field(default_factory=list, max_length=30)
    steps: dict[PhaseName, list[Line]] = Field(default_factory=dict)
    resources: list[Resource] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _consistent(self) -> PlanContent:
        keys = [level.key for level in self.levels]
        if len(set(keys)) != len(keys):
            raise ValueError("each incident level once")
        roles = [c.role for c in self.contacts]
        if len(set(roles)) != len(roles):
            raise ValueError("each role of the call tree once")
        unknown = {c.called_by for c in self.contacts if c.called_by} - set(roles)
        if unknown:
            raise ValueError(f"called_by names roles not in the call tree: {', '.join(sorted(unknown))}")
        if any(len(lines) > 40 for lines in self.steps.values()):
            raise ValueError("at most 40 steps per phase")
        self.levels.sort(key=lambda level: LEVEL_KEYS.index(level.key))
        return self


def default_content(unit: Unit | None = None) -> PlanContent:
    """The first draft of a plan: defaults from policies/drills/plan-defaults.yaml."""
    defaults = load_plan_defaults()
    title = f"{unit.name_zh}网络安全事件应急预案" if unit else "网络安全事件应急预案"
    return PlanContent(
        title=title,
        scope=defaults.scope_zh,
        contacts=[Contact(role=c.role, called_by=c.called_by, duty=c.duty) for c in defaults.contacts],
        levels=[
            Level(
                key=lv.key,
                name=lv.name_zh,
                criteria=lv.criteria_zh,
                report_within_hours=lv.report_within_hours,
                addressee=lv.addressee_zh,
            )
            for lv in defaults.levels
        ],
        scenarios=[ScenarioRef(key=s.key, title=s.title_zh) for s in load_templates().values()],
        steps={phase: list(lines) for phase, lines in defaults.steps.items()},
        resources=[Resource(name=r.name, detail=r.detail) for r in defaults.resources],
    )


def content_of(version: PlanVersion) -> PlanContent:
    return PlanContent.model_validate(version.content)


def level_of(version: PlanVersion, key: str) -> Level | None:
    return next((lv for lv in content_of(version).levels if lv.key == key), None)


# -- scope ----------------------------------------------------------------------------------------
def unit_for_read(session: Session, principal: Principal, code: str) -> Unit:
    unit = session.scalar(select(Unit).where(Unit.code == code.strip()))
    if unit is None or not principal.can_see_unit(unit.id):
        raise NotFound(f"no unit with code {code[:40]!r}", "unknown_unit")
    return unit


def unit_for_write(session: Session, principal: Principal, code: str) -> Unit:
    unit = unit_for_read(session, principal, code)
    ensure_writer(principal)
    if not principal.can_manage_unit(unit.id):
        raise Forbidden(f"unit {unit.code} is outside your management scope", "unit_out_of_scope")
    return unit


def _unit_of(session: Session, version: PlanVersion) -> Unit:
    return session.get_one(Unit, version.plan.unit_id)


def version_for_read(session: Session, principal: Principal, version_id: int) -> PlanVersion:
    version = session.get(PlanVersion, version_id)
    if version is None or not principal.can_see_unit(version.plan.unit_id):
        raise NotFound(f"no plan version {version_id}", "unknown_plan_version")
    return version


def version_for_write(session: Session, principal: Principal, version_id: int) -> PlanVersion:
    """A draft the caller may change: 404 outside the view, 403 read-only, 409 not a draft."""
    version = version_for_read(session, principal, version_id)
    ensure_writer(principal)
    if not principal.can_manage_unit(version.plan.unit_id):
        raise Forbidden("your role may not change this plan", "unit_out_of_scope")
    if version.status != "draft":
        raise Conflict(f"version {version.number} is {version.status}: only a draft changes", "not_a_draft")
    return version


# -- queries -------------------------------------------------------------------------------------
def plan_of(session: Session, unit_id: int) -> EmergencyPlan | None:
    return session.scalar(select(EmergencyPlan).where(EmergencyPlan.unit_id == unit_id))


def _version_with(session: Session, unit_id: int, status: str) -> PlanVersion | None:
    return session.scalar(
        select(PlanVersion)
        .join(EmergencyPlan)
        .where(EmergencyPlan.unit_id == unit_id, PlanVersion.status == status)
    )


def current_version(session: Session, unit_id: int) -> PlanVersion | None:
    """The unit's approved plan version (the plan in force), if any."""
    return _version_with(session, unit_id, "approved")


def draft_version(session: Session, unit_id: int) -> PlanVersion | None:
    return _version_with(session, unit_id, "draft")


@dataclass(frozen=True)
class PlanRow:
    unit: Unit
    plan: EmergencyPlan | None
    current: PlanVersion | None
    draft: PlanVersion | None


def list_plans(session: Session, principal: Principal) -> list[PlanRow]:
    """Every unit in the caller's view with its plan (or none yet)."""
    units = visible_units(session, principal)
    plans = {p.unit_id: p for p in session.scalars(select(EmergencyPlan))}
    rows = []
    for unit in units:
        plan = plans.get(unit.id)
        versions = plan.versions if plan else []
        rows.append(
            PlanRow(
                unit=unit,
                plan=plan,
                current=next((v for v in versions if v.status == "approved"), None),
                draft=next((v for v in versions if v.status == "draft"), None),
            )
        )
    return rows


# -- writes --------------------------------------------------------------------------------------
def _audit(
    session: Session, principal: Principal, action: str, unit: Unit, detail: dict[str, Any], ip: str
) -> None:
    record(session, principal.username, action, f"unit:{unit.code}", detail, ip, principal.user_id)


def _checked_content(content: PlanContent | dict[str, Any]) -> dict[str, Any]:
    try:
        model = content if isinstance(content, PlanContent) else PlanContent.model_validate(content)
    except ValidationError as exc:
        raise Invalid(f"the plan does not validate: {exc.errors()[0]['msg']}", "bad_plan") from None
    return model.model_dump(mode="json")


def _source_drills(session: Session, unit: Unit, drill_ids: Iterable[int]) -> list[Drill]:
    drills = []
    for drill_id in sorted(set(drill_ids)):
        drill = session.get(Drill, drill_id)
        if drill is None or drill.unit_id != unit.id:
            raise Invalid(f"drill {drill_id} is not a drill of unit {unit.code}", "bad_source_drill")
        if drill.status not in ("finished", "closed"):
            raise Invalid(f"drill {drill_id} has not been run yet", "bad_source_drill")
        drills.append(drill)
    return drills


def add_sources(version: PlanVersion, drills: Sequence[Drill]) -> list[int]:
    """Record drills as reasons of a version; returns the ids newly added."""
    known = {s.drill_id for s in version.sources}
    added = [d.id for d in drills if d.id not in known]
    version.sources.extend(PlanRevisionSource(drill_id=drill_id) for drill_id in added)
    return added


def create_draft(
    session: Session,
    principal: Principal,
    code: str,
    content: PlanContent | dict[str, Any] | None = None,
    note: str = "",
    source_drill_ids: Sequence[int] = (),
    ip: str = "",
) -> PlanVersion:
    """A new draft: the given content, else a copy of the approved version, else the defaults."""
    unit = unit_for_write(session, principal, code)
    plan = plan_of(session, unit.id)
    if plan is None:
        plan = EmergencyPlan(unit_id=unit.id, created_by=principal.username)
        session.add(plan)
        session.flush()
    existing = draft_version(session, unit.id)
    if existing is not None:
        raise Conflict(f"version {existing.number} is already a draft: edit or discard it", "draft_exists")
    current = current_version(session, unit.id)
    if content is None:
        content = current.content if current else default_content(unit)
    number = max((v.number for v in plan.versions), default=0) + 1
    version = PlanVersion(
        plan=plan,
        number=number,
        status="draft",
        content=_checked_content(content),
        note=note.strip()[:4000],
        created_by=principal.username,
    )
    session.add(version)
    drills = add_sources(version, _source_drills(session, unit, source_drill_ids))
    session.flush()
    _audit(session, principal, "plan.draft_create", unit, {"version": number, "drills": drills}, ip)
    session.commit()
    return version


def update_draft(
    session: Session,
    principal: Principal,
    version_id: int,
    content: PlanContent | dict[str, Any] | None,
    note: str | None = None,
    source_drill_ids: Sequence[int] | None = None,
    ip: str = "",
) -> PlanVersion:
    version = version_for_write(session, principal, version_id)
    unit = _unit_of(session, version)
    if content is not None:
        version.content = _checked_content(content)
    if note is not None:
        version.note = note.strip()[:4000]
    if source_drill_ids is not None:
        wanted = _source_drills(session, unit, source_drill_ids)
        for source in list(version.sources):
            if source.drill_id not in {d.id for d in wanted}:
                version.sources.remove(source)
        add_sources(version, wanted)
    version.updated_at = utcnow()
    _audit(session, principal, "plan.draft_update", unit, {"version": version.number}, ip)
    session.commit()
    return version


def discard_draft(session: Session, principal: Principal, version_id: int, ip: str = "") -> None:
    version = version_for_write(session, principal, version_id)
    unit = _unit_of(session, version)
    number = version.number
    session.delete(version)
    _audit(session, principal, "plan.draft_discard", unit, {"version": number}, ip)
    session.commit()


def approve(session: Session, principal: Principal, version_id: int, ip: str = "") -> PlanVersion:
    """The draft becomes the plan in force; the previous one is superseded; the open
    plan-related actions of the drills it was revised from are done (A9-M4.3)."""
    version = version_for_write(session, principal, version_id)
    unit = _unit_of(session, version)
    now = utcnow()
    previous = current_version(session, unit.id)
    if previous is not None:
        previous.status, previous.superseded_at = "superseded", now
        session.flush()
    version.status, version.approved_at, version.approved_by = "approved", now, principal.username
    resolved = []
    for source in version.sources:
        for action in session.get_one(Drill, source.drill_id).actions:
            if action.concerns_plan and action.status == "open":
                action.status, action.resolved_at, action.resolved_by = "done", now, principal.username
                action.plan_version_id = version.id
                action.resolution = f"预案第{version.number}版"
                resolved.append(action.id)
    detail = {
        "version": version.number,
        "superseded": previous.number if previous else None,
        "drills": [s.drill_id for s in version.sources],
        "actions_done": resolved,
    }
    _audit(session, principal, "plan.approve", unit, detail, ip)
    session.commit()
    return version
