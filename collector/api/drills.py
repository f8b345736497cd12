"""JSON API of emergency plans and drills (issue 7; A9-M4.1, A9-M4.2, A9-M4.3).

Plans: one per unit, versioned (draft → approved → superseded), with a per-part difference
and a DOCX export. Drills: planning, the yearly calendar, the runner's events (idempotent on
the client's id) and state, the evaluation with its actions, the plan revision, closing and
the after-action report as DOCX. Scope (A9-G): out of the caller's view answers 404 like a
missing object; read-only roles get 403 on writes. Every write is audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.api.drills_schemas import (
    ActionIn,
    ActionOut,
    CalendarOut,
    CancelIn,
    DiffOut,
    DraftIn,
    DraftPatch,
    DrillIn,
    DrillOut,
    DrillPatch,
    DrillStateOut,
    EventBatchIn,
    EventBatchOut,
    PlanOut,
    PlanSummaryOut,
    PlanVersionBrief,
    PlanVersionOut,
    ResolveIn,
    ReviewIn,
    TemplateSummaryOut,
)
from collector.db.models import Unit
from collector.db.models_drills import Drill, PlanRevisionSource, PlanVersion
from collector.deps import PrincipalDep, SessionDep, SettingsDep, client_ip
from collector.services import drill_docx, drill_review, drill_runner, drills, plans
from collector.services.drill_templates import Scenario, load_templates
from collector.services.errors import NotFound
from collector.services.plan_diff import diff_contents

__all__ = ["drill_out", "router", "version_out"]

router = APIRouter(prefix="/api/v1", tags=["drills"])

Id = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
UnitCode = Annotated[str, PathParam(min_length=1, max_length=32, pattern=r"^[^\x00]*$")]
Year = Annotated[int, Query(ge=2000, le=2100, description="Calendar year.")]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not change this unit's plans or drills."},
    404: {"description": "No such object in your scope."},
    409: {"description": "Not possible in the object's state (e.g. not a draft, drill not finished)."},
}
_DOCX_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {DOCX: {}}, "description": "A Word document."}
}


def version_out(session: Session, version: PlanVersion) -> PlanVersionOut:
    unit = session.get_one(Unit, version.plan.unit_id)
    return PlanVersionOut(
        id=version.id,
        unit_code=unit.code,
        number=version.number,
        status=version.status,
        note=version.note,
        created_at=version.created_at,
        created_by=version.created_by,
        approved_at=version.approved_at,
        approved_by=version.approved_by,
        superseded_at=version.superseded_at,
        source_drill_ids=[s.drill_id for s in version.sources],
        content=plans.content_of(version),
    )


def drill_out(session: Session, drill: Drill) -> DrillOut:
    unit = session.get_one(Unit, drill.unit_id)
    scenario = Scenario.model_validate(drill.scenario)
    revised_in = session.scalars(
        select(PlanRevisionSource.plan_version_id).where(PlanRevisionSource.drill_id == drill.id)
    ).all()
    return DrillOut(
        id=drill.id,
        unit_code=unit.code,
        title=drill.title,
        kind=drill.kind,
        coverage=drill.coverage,
        scenario_key=drill.scenario_key,
        scenario_title=scenario.title_zh,
        incident_level=drill.incident_level,
        plan_version_id=drill.plan_version_id,
        plan_version_number=drill.plan_version.number,
        planned_date=drill.planned_date,
        held_on=drill.held_on,
        participants=drill.participants,
        targets=drill.targets,
        status=drill.status,
        revision=drill.revision,
        started_at=drill.started_at,
        ended_at=drill.ended_at,
        went_well=drill.went_well,
        review_summary=drill.review_summary,
        reviewed_at=drill.reviewed_at,
        closed_at=drill.closed_at,
        cancel_reason=drill.cancel_reason,
        revised_in=list(revised_in),
        actions=[ActionOut.model_validate(a) for a in drill.actions],
    )


def _docx(data: bytes, name: str) -> Response:
    return Response(
        data,
        media_type=DOCX,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def _spec(body: DrillPatch) -> drills.DrillPlan:
    return drills.DrillPlan(
        title=body.title,
        kind=body.kind,
        coverage=body.coverage,
        scenario_key=body.scenario_key,
        planned_date=body.planned_date,
        incident_level=body.incident_level,
        participants=[drills.Participant(p.name, p.role) for p in body.participants],
        targets={str(k): v for k, v in body.targets.items()},
        include_plan_steps=body.include_plan_steps,
    )


# -- scenario templates ----------------------------------------------------------------------------
@router.get("/drill-templates", response_model=list[TemplateSummaryOut])
def list_templates(principal: PrincipalDep) -> list[TemplateSummaryOut]:
    """The scenario templates of policies/drills/ (A9-M4.2)."""
    return [
        TemplateSummaryOut(
            key=t.key,
            title_zh=t.title_zh,
            title_en=t.title_en,
            summary_zh=t.summary_zh,
            summary_en=t.summary_en,
            incident_level=t.incident_level,
            steps=len(t.steps()),
            injects=len(t.injects),
        )
        for t in load_templates().values()
    ]


@router.get("/drill-templates/{key}", response_model=Scenario)
def get_template(key: Annotated[str, PathParam(max_length=64)], principal: PrincipalDep) -> Scenario:
    """One template: phases with steps and target minutes, injects with their time offsets."""
    found = load_templates().get(key)
    if found is None:
        raise NotFound(f"no scenario template {key[:64]!r}", "unknown_scenario")
    return found


# -- plans -----------------------------------------------------------------------------------------
@router.get("/plans", response_model=list[PlanSummaryOut])
def list_plans(principal: PrincipalDep, session: SessionDep) -> list[PlanSummaryOut]:
    """Every unit in your scope with its plan in force and its draft (A9-M4.1)."""
    return [
        PlanSummaryOut(
            unit_code=row.unit.code,
            unit_name_zh=row.unit.name_zh,
            unit_name_en=row.unit.name_en,
            current_number=row.current.number if row.current else None,
            current_approved_at=row.current.approved_at if row.current else None,
            draft_number=row.draft.number if row.draft else None,
        )
        for row in plans.list_plans(session, principal)
    ]


@router.get("/plans/{code}", response_model=PlanOut, responses={404: _WRITE[404]})
def get_plan(code: UnitCode, principal: PrincipalDep, session: SessionDep) -> PlanOut:
    """A unit's plan: the version in force, the draft, and the history."""
    unit = plans.unit_for_read(session, principal, code)
    plan = plans.plan_of(session, unit.id)
    versions = list(reversed(plan.versions)) if plan else []
    current = next((v for v in versions if v.status == "approved"), None)
    draft = next((v for v in versions if v.status == "draft"), None)
    return PlanOut(
        unit_code=unit.code,
        current=version_out(session, current) if current else None,
        draft=version_out(session, draft) if draft else None,
        versions=[
            PlanVersionBrief(
                id=v.id,
                number=v.number,
                status=v.status,
                note=v.note,
                created_at=v.created_at,
                approved_at=v.approved_at,
                source_drill_ids=[s.drill_id for s in v.sources],
            )
            for v in versions
        ],
    )


@router.post("/plans/{code}/versions", response_model=PlanVersionOut, status_code=201, responses=_WRITE)
def create_draft(
    code: UnitCode, body: DraftIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> PlanVersionOut:
    """Start a draft (at most one per plan): the given content, else a copy of the approved
    version, else the defaults of policies/drills/plan-defaults.yaml."""
    version = plans.create_draft(
        session, principal, code, body.content, body.note, body.source_drill_ids, client_ip(request)
    )
    return version_out(session, version)


@router.get("/plan-versions/{version_id}", response_model=PlanVersionOut, responses={404: _WRITE[404]})
def get_version(version_id: Id, principal: PrincipalDep, session: SessionDep) -> PlanVersionOut:
    return version_out(session, plans.version_for_read(session, principal, version_id))


@router.put("/plan-versions/{version_id}", response_model=PlanVersionOut, responses=_WRITE)
def update_draft(
    version_id: Id, body: DraftPatch, request: Request, principal: PrincipalDep, session: SessionDep
) -> PlanVersionOut:
    """Change a draft's content, note or source drills."""
    version = plans.update_draft(
        session, principal, version_id, body.content, body.note, body.source_drill_ids, client_ip(request)
    )
    return version_out(session, version)


@router.delete("/plan-versions/{version_id}", status_code=204, responses=_WRITE)
def discard_draft(version_id: Id, request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    plans.discard_draft(session, principal, version_id, client_ip(request))
    return Response(status_code=204)


@router.post("/plan-versions/{version_id}/approve", response_model=PlanVersionOut, responses=_WRITE)
def approve(version_id: Id, request: Request, principal: PrincipalDep, session: SessionDep) -> PlanVersionOut:
    """The draft becomes the plan in force; the open plan-related actions of the drills it
    was revised from are marked done (A9-M4.3)."""
    return version_out(session, plans.approve(session, principal, version_id, client_ip(request)))


@router.get("/plan-versions/{version_id}/diff", response_model=DiffOut, responses={404: _WRITE[404]})
def diff(
    version_id: Id,
    principal: PrincipalDep,
    session: SessionDep,
    against: Annotated[
        int | None, Query(ge=1, le=2_147_483_647, description="Default: the previous version.")
    ] = None,
) -> DiffOut:
    """What changed, part by part, against another version of the same plan."""
    version = plans.version_for_read(session, principal, version_id)
    if against is None:
        older = [v for v in version.plan.versions if v.number < version.number]
        other = older[-1] if older else None
    else:
        other = session.get(PlanVersion, against)
        if other is None or other.plan_id != version.plan_id:
            raise NotFound(f"no version {against} of this plan", "unknown_plan_version")
    parts = diff_contents(other.content if other else None, version.content)
    return DiffOut.model_validate(
        {"version_id": version.id, "against_id": other.id if other else None, "parts": parts}
    )


@router.get("/plan-versions/{version_id}/document.docx", response_class=Response, responses=_DOCX_RESPONSE)
def plan_document(
    version_id: Id, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """The plan version as a Word document (GB/T 9704 layout)."""
    version = plans.version_for_read(session, principal, version_id)
    unit = session.get_one(Unit, version.plan.unit_id)
    sources = [session.get_one(Drill, s.drill_id) for s in version.sources]
    data = drill_docx.plan_document(unit, version, sources, settings.display_timezone)
    return _docx(data, f"plan-{unit.code}-v{version.number}.docx")


# -- drills ----------------------------------------------------------------------------------------
@router.get("/drills/calendar", response_model=CalendarOut)
def calendar(year: Year, principal: PrincipalDep, session: SessionDep) -> CalendarOut:
    """The year's drills per unit in your scope; bureaus with none completed are flagged (A9-M4.2)."""
    rows = drills.calendar(session, principal, year)
    return CalendarOut.model_validate(
        {
            "year": year,
            "units": [
                {
                    "unit_code": r.unit.code,
                    "unit_name_zh": r.unit.name_zh,
                    "unit_name_en": r.unit.name_en,
                    "must_drill": r.must_drill,
                    "completed": r.completed,
                    "flagged": r.flagged,
                    "plan_version": r.plan_version,
                    "drills": r.drills,
                }
                for r in rows
            ],
        }
    )


@router.get("/drills", response_model=list[DrillOut])
def list_drills(
    principal: PrincipalDep,
    session: SessionDep,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    unit: Annotated[str | None, Query(max_length=32, pattern=r"^[^\x00]*$")] = None,
) -> list[DrillOut]:
    return [drill_out(session, d) for d in drills.list_drills(session, principal, year, unit)]


@router.post("/drills", response_model=DrillOut, status_code=201, responses=_WRITE)
def create_drill(body: DrillIn, request: Request, principal: PrincipalDep, session: SessionDep) -> DrillOut:
    """Plan a drill against the unit's approved plan (409 without one)."""
    drill = drills.create_drill(session, principal, body.unit, _spec(body), client_ip(request))
    return drill_out(session, drill)


@router.get("/drills/{drill_id}", response_model=DrillOut, responses={404: _WRITE[404]})
def get_drill(drill_id: Id, principal: PrincipalDep, session: SessionDep) -> DrillOut:
    return drill_out(session, drills.drill_for_read(session, principal, drill_id))


@router.put("/drills/{drill_id}", response_model=DrillOut, responses=_WRITE)
def update_drill(
    drill_id: Id, body: DrillPatch, request: Request, principal: PrincipalDep, session: SessionDep
) -> DrillOut:
    """Re-plan a drill that has not started."""
    return drill_out(
        session, drills.update_drill(session, principal, drill_id, _spec(body), client_ip(request))
    )


@router.post("/drills/{drill_id}/cancel", response_model=DrillOut, responses=_WRITE)
def cancel_drill(
    drill_id: Id, body: CancelIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> DrillOut:
    return drill_out(
        session, drills.cancel_drill(session, principal, drill_id, body.reason, client_ip(request))
    )


@router.get("/drills/{drill_id}/state", response_model=DrillStateOut, responses={404: _WRITE[404]})
def drill_state(drill_id: Id, principal: PrincipalDep, session: SessionDep) -> DrillStateOut:
    """The runner's state, computed from the record now (poll it: the page does every few seconds)."""
    return DrillStateOut.model_validate(drill_runner.drill_state(session, principal, drill_id))


@router.post("/drills/{drill_id}/events", response_model=EventBatchOut, responses=_WRITE)
def post_events(
    drill_id: Id,
    body: EventBatchIn,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> EventBatchOut:
    """Record runner events, once each per ``client_id`` (a retry answers "duplicate"); an
    event that does not fit the drill's state is "rejected" with the reason, the others stand."""
    events = [drill_runner.EventIn(**e.model_dump()) for e in body.events]
    results = drill_runner.record_events(
        session, principal, drill_id, events, client_ip(request), settings.display_timezone
    )
    state = drill_runner.drill_state(session, principal, drill_id)
    return EventBatchOut.model_validate({"results": results, "state": state})


@router.get("/drills/{drill_id}/report.docx", response_class=Response, responses=_DOCX_RESPONSE)
def drill_report(
    drill_id: Id, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """The after-action report as a Word document (GB/T 9704 layout)."""
    state = drill_runner.drill_state(session, principal, drill_id)
    drill = drills.drill_for_read(session, principal, drill_id)
    unit = session.get_one(Unit, drill.unit_id)
    revised_in = session.scalars(
        select(PlanVersion.number)
        .join(PlanRevisionSource, PlanRevisionSource.plan_version_id == PlanVersion.id)
        .where(PlanRevisionSource.drill_id == drill.id)
        .order_by(PlanVersion.number)
    ).all()
    data = drill_docx.review_document(unit, drill, state, settings.display_timezone, revised_in)
    return _docx(data, f"drill-{drill.id}-report.docx")


# -- evaluation ------------------------------------------------------------------------------------
@router.put("/drills/{drill_id}/review", response_model=DrillOut, responses=_WRITE)
def save_review(
    drill_id: Id, body: ReviewIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> DrillOut:
    """The after-action report: what went well, the problems in words (A9-M4.3)."""
    drill = drill_review.save_review(
        session, principal, drill_id, body.went_well, body.summary, client_ip(request)
    )
    return drill_out(session, drill)


@router.post("/drills/{drill_id}/actions", response_model=ActionOut, status_code=201, responses=_WRITE)
def add_action(
    drill_id: Id, body: ActionIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> ActionOut:
    """A problem found, with its owner and due date; ``concerns_plan`` ones are settled by a
    new plan version revised from this drill."""
    spec = drill_review.ActionSpec(**body.model_dump())
    return ActionOut.model_validate(
        drill_review.add_action(session, principal, drill_id, spec, client_ip(request))
    )


@router.put("/drill-actions/{action_id}", response_model=ActionOut, responses=_WRITE)
def update_action(
    action_id: Id, body: ActionIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> ActionOut:
    spec = drill_review.ActionSpec(**body.model_dump())
    row = drill_review.update_action(session, principal, action_id, spec, client_ip(request))
    return ActionOut.model_validate(row)


@router.post("/drill-actions/{action_id}/resolve", response_model=ActionOut, responses=_WRITE)
def resolve_action(
    action_id: Id, body: ResolveIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> ActionOut:
    """Done, or waived with a reason. A plan-related action is done by approving the plan
    version revised from the drill (409 otherwise)."""
    row = drill_review.resolve_action(
        session, principal, action_id, body.outcome, body.note, client_ip(request)
    )
    return ActionOut.model_validate(row)


@router.post("/drills/{drill_id}/revise-plan", response_model=PlanVersionOut, responses=_WRITE)
def revise_plan(
    drill_id: Id, request: Request, principal: PrincipalDep, session: SessionDep
) -> PlanVersionOut:
    """The plan draft that answers this drill (made from the approved version, or the existing
    draft with this drill added to its sources)."""
    return version_out(session, drill_review.revise_plan(session, principal, drill_id, client_ip(request)))


@router.post("/drills/{drill_id}/close", response_model=DrillOut, responses=_WRITE)
def close_drill(drill_id: Id, request: Request, principal: PrincipalDep, session: SessionDep) -> DrillOut:
    """Close the drill: the after-action report written, every action done or waived."""
    return drill_out(session, drill_review.close_drill(session, principal, drill_id, client_ip(request)))
