"""Evaluating a drill (A9-M4.3): the after-action report, its actions, the plan revision, closing.

After a drill is finished the team writes what went well and a summary of the problems,
and records each problem as an action with an owner and a due date. A problem that
concerns the plan (``concerns_plan``) can only be settled by a new plan version that names
the drill (``revise_plan`` makes or extends the draft; approving it marks these actions
done) or be waived with a reason. The drill closes only when every action is done or
waived with a reason, and the after-action report is written. Every write is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Unit
from collector.db.models_drills import Drill, DrillAction, PlanVersion
from collector.services import plans
from collector.services.audit import record
from collector.services.auth import Principal
from collector.services.drills import audit, drill_for_write
from collector.services.errors import Conflict, Invalid, NotFound

__all__ = [
    "ActionSpec",
    "action_for_write",
    "add_action",
    "close_drill",
    "resolve_action",
    "revise_plan",
    "save_review",
    "update_action",
]

_MAX_ACTIONS = 100


@dataclass(frozen=True)
class ActionSpec:
    problem: str
    owner: str
    due_date: date
    action: str = ""
    concerns_plan: bool = False


def _text(value: str, limit: int) -> str:
    return value.replace("\x00", "").strip()[:limit]


def _evaluable(session: Session, principal: Principal, drill_id: int) -> Drill:
    drill = drill_for_write(session, principal, drill_id)
    if drill.status != "finished":
        raise Conflict(
            f"the drill is {drill.status}: it is evaluated after it is finished and before it is closed",
            "drill_not_finished",
        )
    return drill


def save_review(
    session: Session, principal: Principal, drill_id: int, went_well: str, summary: str, ip: str = ""
) -> Drill:
    drill = _evaluable(session, principal, drill_id)
    drill.went_well, drill.review_summary = _text(went_well, 8000), _text(summary, 8000)
    if not drill.went_well and not drill.review_summary:
        raise Invalid("write what went well or what went wrong", "review_empty")
    drill.reviewed_at, drill.reviewed_by = utcnow(), principal.username
    drill.revision += 1
    audit(session, principal, "drill.review", drill, {}, ip)
    session.commit()
    return drill


def _checked(spec: ActionSpec) -> ActionSpec:
    problem, owner = _text(spec.problem, 4000), " ".join(spec.owner.split())[:128]
    if not problem or not owner:
        raise Invalid("each problem needs a description and an owner", "action_incomplete")
    return ActionSpec(problem, owner, spec.due_date, _text(spec.action, 4000), spec.concerns_plan)


def add_action(
    session: Session, principal: Principal, drill_id: int, spec: ActionSpec, ip: str = ""
) -> DrillAction:
    drill = _evaluable(session, principal, drill_id)
    if len(drill.actions) >= _MAX_ACTIONS:
        raise Conflict(f"at most {_MAX_ACTIONS} actions per drill", "too_many_actions")
    spec = _checked(spec)
    row = DrillAction(
        problem=spec.problem,
        action=spec.action,
        owner=spec.owner,
        due_date=spec.due_date,
        concerns_plan=spec.concerns_plan,
        created_by=principal.username,
    )
    drill.actions.append(row)
    drill.revision += 1
    session.flush()
    audit(
        session,
        principal,
        "drill.action_add",
        drill,
        {"action": row.id, "concerns_plan": row.concerns_plan},
        ip,
    )
    session.commit()
    return row


def action_for_write(session: Session, principal: Principal, action_id: int) -> DrillAction:
    """An open action of a finished drill the caller may change (404 outside the view)."""
    row = session.get(DrillAction, action_id)
    if row is None or not principal.can_see_unit(row.drill.unit_id):
        raise NotFound(f"no drill action {action_id}", "unknown_action")
    _evaluable(session, principal, row.drill_id)
    if row.status != "open":
        raise Conflict(f"the action is {row.status} already", "action_not_open")
    return row


def update_action(
    session: Session, principal: Principal, action_id: int, spec: ActionSpec, ip: str = ""
) -> DrillAction:
    row = action_for_write(session, principal, action_id)
    spec = _checked(spec)
    row.problem, row.action, row.owner = spec.problem, spec.action, spec.owner
    row.due_date, row.concerns_plan = spec.due_date, spec.concerns_plan
    row.drill.revision += 1
    audit(session, principal, "drill.action_update", row.drill, {"action": row.id}, ip)
    session.commit()
    return row


def resolve_action(
    session: Session, principal: Principal, action_id: int, outcome: str, note: str, ip: str = ""
) -> DrillAction:
    """Mark an action done, or waive it with a reason. A plan-related action is done only by
    approving a plan version revised from the drill."""
    row = action_for_write(session, principal, action_id)
    note = _text(note, 4000)
    if outcome == "waived" and len(note) < 2:
        raise Invalid("say why the action is waived", "reason_required")
    if outcome == "done" and row.concerns_plan:
        raise Conflict(
            "this problem concerns the plan: it is done when a plan version revised from this drill is approved",
            "needs_plan_version",
        )
    if outcome not in ("done", "waived"):
        raise Invalid("outcome: done or waived", "bad_outcome")
    row.status, row.resolution = outcome, note
    row.resolved_at, row.resolved_by = utcnow(), principal.username
    row.drill.revision += 1
    audit(session, principal, f"drill.action_{outcome}", row.drill, {"action": row.id}, ip)
    session.commit()
    return row


def revise_plan(session: Session, principal: Principal, drill_id: int, ip: str = "") -> PlanVersion:
    """The plan draft that answers this drill: the existing draft gets the drill as a source,
    or a new draft is made from the approved version (A9-M4.3)."""
    drill = drill_for_write(session, principal, drill_id)
    if drill.status not in ("finished", "closed"):
        raise Conflict("a plan is revised from a drill that has been run", "drill_not_finished")
    unit = session.get_one(Unit, drill.unit_id)
    draft = plans.draft_version(session, unit.id)
    if draft is None:
        return plans.create_draft(
            session,
            principal,
            unit.code,
            note=f"根据演练“{drill.title}”修订",
            source_drill_ids=[drill.id],
            ip=ip,
        )
    plans.version_for_write(session, principal, draft.id)
    if plans.add_sources(draft, [drill]):
        detail = {"version": draft.number, "drills": [drill.id]}
        record(
            session,
            principal.username,
            "plan.draft_update",
            f"unit:{unit.code}",
            detail,
            ip,
            principal.user_id,
        )
    session.commit()
    return draft


def close_drill(session: Session, principal: Principal, drill_id: int, ip: str = "") -> Drill:
    drill = _evaluable(session, principal, drill_id)
    if drill.reviewed_at is None:
        raise Conflict("write the after-action report first", "review_missing")
    open_ = [a.id for a in drill.actions if a.status == "open"]
    if open_:
        raise Conflict(
            f"{len(open_)} action(s) still open (ids {', '.join(map(str, open_))}): finish or waive them",
            "actions_open",
        )
    drill.status, drill.closed_at, drill.closed_by = "closed", utcnow(), principal.username
    drill.revision += 1
    audit(session, principal, "drill.close", drill, {"actions": len(drill.actions)}, ip)
    session.commit()
    return drill
