"""ORM models of emergency plans and drills (issue 7; A9-M4.1, A9-M4.2, A9-M4.3).

- ``EmergencyPlan``: one per unit (应急预案); its ``PlanVersion`` rows go draft → approved →
  superseded, each holding the structured content (scope, call tree, incident levels with
  reporting deadlines, scenarios, response steps by phase, resources) as one JSON document.
- ``Drill`` (应急演练): planned against the unit's approved plan version, with a snapshot of
  its scenario (phases, steps, injects) so later template edits never change a past drill.
- ``DrillEvent``: the runner's record (start, step started/done/failed/skipped, injects,
  notes, finish); idempotent on the client-made ``client_id``.
- ``DrillAction``: a problem found in the evaluation, with owner, due date and outcome.
- ``PlanRevisionSource``: which drills a plan version was revised from (A9-M4.3).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from collector.db.base import Base, JsonDoc, UtcDateTime, utcnow

__all__ = ["Drill", "DrillAction", "DrillEvent", "EmergencyPlan", "PlanRevisionSource", "PlanVersion"]


class EmergencyPlan(Base):
    """A unit's network-security emergency response plan (A9-M4.1): one per unit."""

    __tablename__ = "emergency_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="", server_default="")

    versions: Mapped[list[PlanVersion]] = relationship(
        back_populates="plan", order_by="PlanVersion.number", cascade="all, delete-orphan"
    )


class PlanVersion(Base):
    """One version of a plan: draft (editable, at most one), approved (the current one, at
    most one), superseded (kept for the history)."""

    __tablename__ = "plan_versions"
    __table_args__ = (UniqueConstraint("plan_id", "number", name="uq_plan_versions_plan_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("emergency_plans.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft", server_default="draft")
    content: Mapped[Any] = mapped_column(JsonDoc, default=dict)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    approved_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    superseded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    plan: Mapped[EmergencyPlan] = relationship(back_populates="versions")
    sources: Mapped[list[PlanRevisionSource]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="PlanRevisionSource.drill_id"
    )


class Drill(Base):
    """An emergency drill of a unit (A9-M4.2): planned → running → finished → closed, or cancelled."""

    __tablename__ = "drills"
    __table_args__ = (Index("ix_drills_unit_date", "unit_id", "planned_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    title: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # tabletop | hands_on
    coverage: Mapped[str] = mapped_column(String(16))  # specialised | comprehensive
    scenario_key: Mapped[str] = mapped_column(String(64))
    scenario: Mapped[Any] = mapped_column(JsonDoc, default=dict)  # snapshot: phases, steps, injects
    incident_level: Mapped[str] = mapped_column(String(8))  # I..IV (特别重大..一般)
    plan_version_id: Mapped[int] = mapped_column(ForeignKey("plan_versions.id"), index=True)
    planned_date: Mapped[date] = mapped_column(Date)
    held_on: Mapped[date | None] = mapped_column(Date, index=True)  # local date it started
    participants: Mapped[Any] = mapped_column(JsonDoc, default=list)
    targets: Mapped[Any] = mapped_column(JsonDoc, default=dict)  # phase -> minutes
    status: Mapped[str] = mapped_column(String(16), default="planned", server_default="planned")
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    went_well: Mapped[str] = mapped_column(Text, default="", server_default="")
    review_summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reviewed_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    cancel_reason: Mapped[str] = mapped_column(Text, default="", server_default="")

    plan_version: Mapped[PlanVersion] = relationship()
    events: Mapped[list[DrillEvent]] = relationship(
        back_populates="drill", order_by="DrillEvent.id", cascade="all, delete-orphan"
    )
    actions: Mapped[list[DrillAction]] = relationship(
        back_populates="drill", order_by="DrillAction.id", cascade="all, delete-orphan"
    )


class DrillEvent(Base):
    """One thing said or done during a drill. ``at`` is when it happened (the client's time,
    corrected for clock skew and clamped); ``received_at`` when the server got it."""

    __tablename__ = "drill_events"
    __table_args__ = (UniqueConstraint("drill_id", "client_id", name="uq_drill_events_drill_client"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("drills.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # start | step | inject | note | finish
    step_key: Mapped[str] = mapped_column(String(64), default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default="", server_default="")
    inject_key: Mapped[str] = mapped_column(String(64), default="", server_default="")
    text: Mapped[str] = mapped_column(Text, default="", server_default="")
    performer: Mapped[str] = mapped_column(String(64), default="", server_default="")
    actor: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    drill: Mapped[Drill] = relationship(back_populates="events")


class DrillAction(Base):
    """A problem found in a drill's evaluation and what is done about it (A9-M4.3)."""

    __tablename__ = "drill_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("drills.id"), index=True)
    problem: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text, default="", server_default="")
    owner: Mapped[str] = mapped_column(String(128))
    due_date: Mapped[date] = mapped_column(Date)
    concerns_plan: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    resolution: Mapped[str] = mapped_column(Text, default="", server_default="")
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    plan_version_id: Mapped[int | None] = mapped_column(ForeignKey("plan_versions.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="", server_default="")

    drill: Mapped[Drill] = relationship(back_populates="actions")


class PlanRevisionSource(Base):
    """A drill whose evaluation a plan version was revised from (A9-M4.3)."""

    __tablename__ = "plan_revision_sources"
    __table_args__ = (
        UniqueConstraint("plan_version_id", "drill_id", name="uq_plan_revision_sources_version_drill"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_version_id: Mapped[int] = mapped_column(ForeignKey("plan_versions.id"))
    drill_id: Mapped[int] = mapped_column(ForeignKey("drills.id"), index=True)

    version: Mapped[PlanVersion] = relationship(back_populates="sources")
    drill: Mapped[Drill] = relationship()
