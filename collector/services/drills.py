"""Emergency drills (应急演练, A9-M4.2): planning, the yearly calendar, who has drilled.

A drill is planned for a unit against its approved plan version (A9-M4.1): type (tabletop /
hands-on), coverage (specialised / comprehensive), a scenario from a template in
policies/drills/ (or the plan's own response steps: key ``plan``), the date, participants
with roles and target minutes per phase. The scenario is copied into the drill, so later
template or plan edits never change it. Running it is collector/services/drill_runner.py;
evaluating and closing it collector/services/drill_review.py.

``completed_drills_by_unit`` and ``units_without_drill`` feed the yearly overview (and the
finding "no drill this year"). Scope (A9-G): out of the caller's view answers 404 like a
missing drill; read-only roles get 403 on writes. Every write is audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector.db.models import Unit
from collector.db.models_drills import Drill
from collector.services import plans
from collector.services.audit import record
from collector.services.auth import Principal, ensure_writer
from collector.services.drill_templates import LEVEL_KEYS, PHASES, Phase, Scenario, Step, load_templates
from collector.services.errors import Conflict, Forbidden, Invalid, NotFound
from collector.services.hosts import visible_units

__all__ = [
    "COMPLETED",
    "COVERAGES",
    "DRILL_UNIT_KINDS",
    "KINDS",
    "PLAN_SCENARIO",
    "DrillPlan",
    "Participant",
    "UnitYear",
    "audit",
    "calendar",
    "cancel_drill",
    "completed_drills_by_unit",
    "create_drill",
    "drill_for_read",
    "drill_for_write",
    "list_drills",
    "scenario_of",
    "units_without_drill",
    "update_drill",
]

KINDS = ("tabletop", "hands_on")
COVERAGES = ("specialised", "comprehensive")
#: Drill statuses in which the exercise has been carried out.
COMPLETED = ("finished", "closed")
#: Units that must hold a plan and drill every year: the city bureau and the district and
#: county bureaus (the computing station and offices drill as part of their bureau).
DRILL_UNIT_KINDS = ("city", "district", "county")
#: Scenario key of a drill that walks the plan's own response steps.
PLAN_SCENARIO = "plan"
_PLAN_PHASE_MINUTES = 30


@dataclass(frozen=True)
class Participant:
    name: str
    role: str = ""


@dataclass
class DrillPlan:
    """What a drill is planned with (the API and the pages fill it)."""

    title: str
    kind: str
    coverage: str
    scenario_key: str
    planned_date: date
    incident_level: str | None = None
    participants: Sequence[Participant] = ()
    targets: Mapping[str, int] = field(default_factory=dict)
    include_plan_steps: bool = False


# -- scope ----------------------------------------------------------------------------------------
def drill_for_read(session: Session, principal: Principal, drill_id: int) -> Drill:
    drill = session.get(Drill, drill_id)
    if drill is None or not principal.can_see_unit(drill.unit_id):
        raise NotFound(f"no drill {drill_id}", "unknown_drill")
    return drill


def drill_for_write(session: Session, principal: Principal, drill_id: int, lock: bool = False) -> Drill:
    """A drill the caller may run or change: 404 outside the view, 403 for read-only roles.
    ``lock`` takes the row lock (PostgreSQL) so that concurrent runner posts serialise."""
    drill = drill_for_read(session, principal, drill_id)
    ensure_writer(principal)
    if not principal.can_manage_unit(drill.unit_id):
        raise Forbidden("your role may not change this drill", "unit_out_of_scope")
    if lock:
        session.scalar(select(Drill.id).where(Drill.id == drill_id).with_for_update())
        session.refresh(drill)
    return drill


def audit(
    session: Session, principal: Principal, action: str, drill: Drill, detail: dict[str, Any], ip: str
) -> None:
    unit = session.get_one(Unit, drill.unit_id)
    record(
        session,
        principal.username,
        action,
        f"unit:{unit.code}",
        {"drill": drill.id, **detail},
        ip,
        principal.user_id,
    )


def scenario_of(drill: Drill) -> Scenario:
    return Scenario.model_validate(drill.scenario)


# -- planning ------------------------------------------------------------------------------------
def _clean(text: str, limit: int) -> str:
    return " ".join(text.replace("\x00", "").split())[:limit]


def _snapshot(spec: DrillPlan, version_content: plans.PlanContent) -> Scenario:
    """The drill's own copy of its scenario: the template's steps (plus the plan's steps
    when asked), or the plan's steps alone for the ``plan`` scenario."""
    plan_steps: dict[str, list[str]] = {str(k): v for k, v in version_content.steps.items()}
    if spec.scenario_key == PLAN_SCENARIO:
        phases = [
            Phase(
                phase=phase,
                target_minutes=_PLAN_PHASE_MINUTES,
                steps=[Step(key=f"plan-{phase}-{i}", zh=line) for i, line in enumerate(lines, 1)],
            )
            for phase in PHASES
            if (lines := plan_steps.get(phase))
        ]
        if not phases:
            raise Invalid("the approved plan has no response steps to drill", "plan_has_no_steps")
        return Scenario(
            key=PLAN_SCENARIO,
            title_zh="按预案处置流程演练",
            title_en="Walk through the plan's response steps",
            phases=phases,
        )
    found = load_templates().get(spec.scenario_key)
    if found is None:
        raise Invalid(f"no scenario template {spec.scenario_key[:64]!r}", "unknown_scenario")
    scenario = found.model_copy(deep=True)
    if spec.include_plan_steps:
        for phase in scenario.phases:
            extra = plan_steps.get(phase.phase, [])
            phase.steps.extend(
                Step(key=f"plan-{phase.phase}-{i}", zh=line) for i, line in enumerate(extra, 1)
            )
    return Scenario.model_validate(scenario.model_dump())


def _apply(session: Session, drill: Drill, spec: DrillPlan) -> None:
    if spec.kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}", "bad_kind")
    if spec.coverage not in COVERAGES:
        raise Invalid(f"coverage must be one of {', '.join(COVERAGES)}", "bad_coverage")
    title = _clean(spec.title, 255)
    if not title:
        raise Invalid("give the drill a title", "bad_title")
    current = plans.current_version(session, drill.unit_id)
    if current is None:
        raise Conflict("the unit has no approved emergency plan yet: approve one first", "no_approved_plan")
    scenario = _snapshot(spec, plans.content_of(current))
    level = spec.incident_level or scenario.incident_level
    if level not in LEVEL_KEYS:
        raise Invalid(f"incident level must be one of {', '.join(LEVEL_KEYS)}", "bad_level")
    unknown = set(spec.targets) - set(PHASES)
    if unknown:
        raise Invalid(f"targets name unknown phases: {', '.join(sorted(unknown))}", "bad_targets")
    targets = {p.phase: int(spec.targets.get(p.phase) or p.target_minutes) for p in scenario.phases}
    if any(not 1 <= minutes <= 10080 for minutes in targets.values()):
        raise Invalid("target minutes: 1 to 10080", "bad_targets")
    people = [
        {"name": _clean(p.name, 64), "role": _clean(p.role, 64)}
        for p in spec.participants
        if _clean(p.name, 64)
    ]
    if len(people) > 100:
        raise Invalid("at most 100 participants", "too_many_participants")
    drill.title, drill.kind, drill.coverage = title, spec.kind, spec.coverage
    drill.scenario_key, drill.scenario = scenario.key, scenario.model_dump(mode="json")
    drill.incident_level, drill.planned_date = level, spec.planned_date
    drill.plan_version_id, drill.participants, drill.targets = current.id, people, targets


def create_drill(
    session: Session, principal: Principal, unit_code: str, spec: DrillPlan, ip: str = ""
) -> Drill:
    unit = plans.unit_for_write(session, principal, unit_code)
    drill = Drill(unit_id=unit.id, created_by=principal.username, status="planned")
    _apply(session, drill, spec)
    session.add(drill)
    session.flush()
    audit(
        session,
        principal,
        "drill.plan",
        drill,
        {"title": drill.title, "date": drill.planned_date.isoformat()},
        ip,
    )
    session.commit()
    return drill


def update_drill(
    session: Session, principal: Principal, drill_id: int, spec: DrillPlan, ip: str = ""
) -> Drill:
    drill = drill_for_write(session, principal, drill_id)
    if drill.status != "planned":
        raise Conflict(f"the drill is {drill.status}: only a planned drill changes", "drill_not_planned")
    _apply(session, drill, spec)
    drill.revision += 1
    audit(session, principal, "drill.update", drill, {"title": drill.title}, ip)
    session.commit()
    return drill


def cancel_drill(session: Session, principal: Principal, drill_id: int, reason: str, ip: str = "") -> Drill:
    drill = drill_for_write(session, principal, drill_id)
    if drill.status != "planned":
        raise Conflict(f"the drill is {drill.status}: only a planned drill is cancelled", "drill_not_planned")
    reason = reason.replace("\x00", "").strip()[:2000]
    if not reason:
        raise Invalid("say why the drill is cancelled", "reason_required")
    drill.status, drill.cancel_reason = "cancelled", reason
    drill.revision += 1
    audit(session, principal, "drill.cancel", drill, {}, ip)
    session.commit()
    return drill


# -- lists and the yearly calendar -----------------------------------------------------------------
def _year_range(year: int) -> tuple[date, date]:
    if not 2000 <= year <= 2100:
        raise Invalid("year: 2000 to 2100", "bad_year")
    return date(year, 1, 1), date(year, 12, 31)


def list_drills(
    session: Session, principal: Principal, year: int | None = None, unit_code: str | None = None
) -> list[Drill]:
    query = select(Drill).order_by(Drill.planned_date, Drill.id)
    if principal.visible_units is not None:
        query = query.where(Drill.unit_id.in_(principal.visible_units))
    if year is not None:
        first, last = _year_range(year)
        query = query.where(func.coalesce(Drill.held_on, Drill.planned_date).between(first, last))
    if unit_code:
        unit = plans.unit_for_read(session, principal, unit_code)
        query = query.where(Drill.unit_id == unit.id)
    return list(session.scalars(query))


def completed_drills_by_unit(session: Session, year: int) -> dict[int, int]:
    """unit_id -> drills completed (run to the end) in ``year``, for every unit (0 for none);
    the year of a drill is the local date it was held. Not scoped: callers filter."""
    first, last = _year_range(year)
    counts = dict.fromkeys(session.scalars(select(Unit.id)), 0)
    query = (
        select(Drill.unit_id, func.count())
        .where(Drill.status.in_(COMPLETED), Drill.held_on.between(first, last))
        .group_by(Drill.unit_id)
    )
    for unit_id, count in session.execute(query):
        counts[unit_id] = count
    return counts


def units_without_drill(session: Session, year: int) -> list[Unit]:
    """The bureaus (city, districts, counties) with no drill completed in ``year`` (A9-M4.2)."""
    done = completed_drills_by_unit(session, year)
    units = session.scalars(
        select(Unit).where(Unit.kind.in_(DRILL_UNIT_KINDS)).order_by(Unit.sort_order, Unit.code)
    )
    return [u for u in units if not done.get(u.id)]


@dataclass
class UnitYear:
    """One row of the yearly calendar."""

    unit: Unit
    drills: list[Drill]
    completed: int
    must_drill: bool
    plan_version: int | None  # number of the approved plan version

    @property
    def flagged(self) -> bool:
        return self.must_drill and self.completed == 0


def calendar(session: Session, principal: Principal, year: int) -> list[UnitYear]:
    """Every unit in the caller's view with its drills of the year (A9-M4.2)."""
    drills = list_drills(session, principal, year)
    done = completed_drills_by_unit(session, year)
    rows = []
    for unit in visible_units(session, principal):
        current = plans.current_version(session, unit.id)
        rows.append(
            UnitYear(
                unit=unit,
                drills=[d for d in drills if d.unit_id == unit.id],
                completed=done.get(unit.id, 0),
                must_drill=unit.kind in DRILL_UNIT_KINDS,
                plan_version=current.number if current else None,
            )
        )
    return rows
