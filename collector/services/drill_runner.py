"""The drill checklist runner's record and state (A9-M4.2).

The runner page (and any script) posts *events*: start, a step started / done / failed /
skipped, an inject revealed by hand, a note, finish. Each carries an id made by the client
(``client_id``): the server stores an event once per drill and client id, so a client on a
flaky connection queues its actions and retries until they are acknowledged, and a retry
of something already stored answers "duplicate". Events carry the client's time (corrected
for its clock skew by the page), clamped between the drill's start and now, so actions
queued while offline keep the time they were taken.

The state (steps with their status, who and when; injects revealed at their time offset or
by hand; the log; metrics) is computed from the record on every read, so a page reload or a
second device sees exactly what the server has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Unit
from collector.db.models_drills import Drill, DrillEvent
from collector.services import plans
from collector.services.auth import Principal
from collector.services.drill_metrics import Metrics, compute_metrics, step_records
from collector.services.drills import audit, drill_for_read, drill_for_write, scenario_of
from collector.services.errors import Conflict

__all__ = [
    "EVENT_KINDS",
    "MAX_BATCH",
    "STEP_STATUSES",
    "DrillState",
    "EventIn",
    "EventOutcome",
    "drill_state",
    "record_events",
]

EVENT_KINDS = ("start", "step", "inject", "note", "finish")
STEP_STATUSES = ("started", "done", "failed", "skipped")
MAX_BATCH = 100
#: How far back a queued "start" may be dated (a tablet offline since the morning).
_MAX_BACKDATE = timedelta(hours=12)


@dataclass(frozen=True)
class EventIn:
    client_id: str
    kind: str
    step_key: str = ""
    status: str = ""
    inject_key: str = ""
    text: str = ""
    performer: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class EventOutcome:
    client_id: str
    outcome: str  # accepted | duplicate | rejected
    detail: str = ""
    event_id: int | None = None


class _Rejected(Exception):
    pass


def _check(drill: Drill, event: EventIn, at: datetime, revealed: set[str]) -> None:
    """Why an event cannot be applied to the drill as it is now (raises _Rejected)."""
    scenario = scenario_of(drill)
    if event.kind not in EVENT_KINDS:
        raise _Rejected(f"unknown kind {event.kind[:16]!r}")
    if event.kind == "start":
        if drill.status != "planned":
            raise _Rejected(f"the drill is {drill.status} already")
        return
    late = drill.status == "finished" and drill.ended_at is not None and at <= drill.ended_at
    if drill.status != "running" and not (late and event.kind != "finish"):
        raise _Rejected(f"the drill is {drill.status}")
    if event.kind == "step":
        if event.step_key not in {s.key for _p, s in scenario.steps()}:
            raise _Rejected(f"no step {event.step_key[:64]!r} in this drill")
        if event.status not in STEP_STATUSES and not (event.status == "" and event.text):
            raise _Rejected(f"step status must be one of {', '.join(STEP_STATUSES)}")
    elif event.kind == "inject":
        if event.inject_key not in {i.key for i in scenario.injects}:
            raise _Rejected(f"no inject {event.inject_key[:64]!r} in this drill")
        if event.inject_key in revealed:
            raise _Rejected("the inject was revealed already")
    elif event.kind == "note" and not event.text.strip():
        raise _Rejected("a note needs text")


def _when(drill: Drill, given: datetime | None, now: datetime) -> datetime:
    at = min(given or now, now)
    floor = drill.started_at or now - _MAX_BACKDATE
    return max(at, floor)


def _apply(
    session: Session, principal: Principal, drill: Drill, event: EventIn, zone: ZoneInfo, now: datetime
) -> DrillEvent:
    at = _when(drill, event.at, now)
    revealed = {e.inject_key for e in drill.events if e.kind == "inject"}
    _check(drill, event, at, revealed)
    row = DrillEvent(
        client_id=event.client_id,
        kind=event.kind,
        step_key=event.step_key if event.kind == "step" else "",
        status=event.status if event.kind == "step" else "",
        inject_key=event.inject_key if event.kind == "inject" else "",
        text=event.text.replace("\x00", "").strip()[:2000],
        performer=" ".join(event.performer.split())[:64],
        actor=principal.username[:64],
        user_id=principal.user_id,
        at=at,
        received_at=now,
    )
    drill.events.append(row)
    if event.kind == "start":
        drill.status, drill.started_at, drill.held_on = "running", at, at.astimezone(zone).date()
    elif event.kind == "finish":
        drill.status, drill.ended_at = "finished", at
    return row


def _record(
    session: Session, principal: Principal, drill_id: int, events: Sequence[EventIn], ip: str, zone: ZoneInfo
) -> list[EventOutcome]:
    drill = drill_for_write(session, principal, drill_id, lock=True)
    now = utcnow()
    ids = [e.client_id for e in events]
    stored: dict[str, int | None] = dict(
        session.execute(
            select(DrillEvent.client_id, DrillEvent.id).where(
                DrillEvent.drill_id == drill.id, DrillEvent.client_id.in_(ids)
            )
        ).all()
    )
    outcomes, rows = [], []
    for event in events:
        if event.client_id in stored:
            outcomes.append(EventOutcome(event.client_id, "duplicate", event_id=stored[event.client_id]))
            continue
        try:
            row = _apply(session, principal, drill, event, zone, now)
        except _Rejected as exc:
            outcomes.append(EventOutcome(event.client_id, "rejected", str(exc)))
            stored[event.client_id] = None  # a repeat in the same batch is a duplicate, not a second try
            continue
        session.flush()
        stored[event.client_id] = row.id
        rows.append(row)
        outcomes.append(EventOutcome(event.client_id, "accepted", event_id=row.id))
    if rows:
        drill.revision += len(rows)
        for row in rows:
            if row.kind in ("start", "finish"):
                audit(session, principal, f"drill.{row.kind}", drill, {"at": row.at.isoformat()}, ip)
        kinds = sorted({r.kind for r in rows})
        audit(session, principal, "drill.record", drill, {"events": len(rows), "kinds": kinds}, ip)
    return outcomes


def record_events(
    session: Session,
    principal: Principal,
    drill_id: int,
    events: Sequence[EventIn],
    ip: str = "",
    zone: str = "Asia/Shanghai",
) -> list[EventOutcome]:
    """Store a batch of runner events, once each per client id; commits."""
    for _attempt in range(3):
        try:
            outcomes = _record(session, principal, drill_id, events, ip, ZoneInfo(zone))
            session.commit()
            return outcomes
        except IntegrityError:  # a concurrent retry of the same batch stored it first
            session.rollback()
    raise Conflict("the events could not be stored because of concurrent posts; retry", "retry")


# -- state -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepView:
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


@dataclass(frozen=True)
class InjectView:
    key: str
    at_minute: int
    text_zh: str
    text_en: str
    revealed: bool
    revealed_at: datetime | None
    how: str  # "" | auto | hand


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    kind: str
    step_key: str = ""
    status: str = ""
    inject_key: str = ""
    text: str = ""
    actor: str = ""
    performer: str = ""
    event_id: int | None = None


@dataclass(frozen=True)
class PhaseView:
    phase: str
    target_minutes: int
    steps: list[StepView]


@dataclass(frozen=True)
class DrillState:
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
    phases: list[PhaseView]
    injects: list[InjectView]
    log: list[LogEntry]
    metrics: Metrics
    participants: list[dict[str, str]] = field(default_factory=list)


def _injects(drill: Drill, now: datetime) -> list[InjectView]:
    by_hand = {e.inject_key: e.at for e in drill.events if e.kind == "inject"}
    horizon = drill.ended_at or now
    views = []
    for inject in scenario_of(drill).injects:
        due = drill.started_at + timedelta(minutes=inject.at_minute) if drill.started_at else None
        hand = by_hand.get(inject.key)
        if hand is not None and (due is None or hand <= due):
            at, how = hand, "hand"
        elif due is not None and due <= horizon:
            at, how = due, "auto"
        else:
            at, how = None, ""
        views.append(InjectView(inject.key, inject.at_minute, inject.zh, inject.en, at is not None, at, how))
    return views


def drill_state(session: Session, principal: Principal, drill_id: int) -> DrillState:
    """Everything the runner shows, computed from the record now."""
    drill = drill_for_read(session, principal, drill_id)
    now = utcnow()
    scenario = scenario_of(drill)
    records = step_records(scenario, drill.events)
    last_by: dict[str, tuple[str, str]] = {}
    notes: dict[str, list[str]] = {}
    for event in sorted(drill.events, key=lambda e: e.at):
        if event.kind == "step" and event.status:
            last_by[event.step_key] = (event.actor, event.performer)
        if event.step_key and event.text:
            notes.setdefault(event.step_key, []).append(event.text)
    phases = [
        PhaseView(
            p.phase,
            int(drill.targets.get(p.phase, p.target_minutes)),
            [
                StepView(
                    s.key,
                    p.phase,
                    s.zh,
                    s.en,
                    s.role,
                    records[s.key].status,
                    records[s.key].started_at,
                    records[s.key].resolved_at,
                    " / ".join(x for x in last_by.get(s.key, ("", ""))[::-1] if x),
                    notes.get(s.key, []),
                )
                for s in p.steps
            ],
        )
        for p in scenario.phases
    ]
    injects = _injects(drill, now)
    log = [
        LogEntry(e.at, e.kind, e.step_key, e.status, e.inject_key, e.text, e.actor, e.performer, e.id)
        for e in drill.events
    ]
    log += [
        LogEntry(i.revealed_at, "inject", inject_key=i.key, text="auto")
        for i in injects
        if i.how == "auto" and i.revealed_at
    ]
    log.sort(key=lambda entry: (entry.at, entry.event_id or 0))
    version = drill.plan_version
    level = plans.level_of(version, drill.incident_level)
    metrics = compute_metrics(
        scenario,
        drill.targets,
        drill.events,
        drill.started_at,
        drill.ended_at,
        level.report_within_hours if level else None,
    )
    unit = session.get_one(Unit, drill.unit_id)
    return DrillState(
        id=drill.id,
        unit_code=unit.code,
        title=drill.title,
        status=drill.status,
        revision=drill.revision,
        now=now,
        started_at=drill.started_at,
        ended_at=drill.ended_at,
        incident_level=drill.incident_level,
        level_name=level.name if level else drill.incident_level,
        report_within_hours=level.report_within_hours if level else None,
        report_to=level.addressee if level else "",
        phases=phases,
        injects=injects,
        log=log,
        metrics=metrics,
        participants=list(drill.participants),
    )
