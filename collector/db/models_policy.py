"""ORM models of policies, check results and findings (issue 5; A9-M3.5, A9-T3.4, P-16).

- PolicyPack: every version of every pack that was loaded or uploaded, with its source text.
  Exactly one version per pack name is ``active``; an uploaded one waits as ``pending``
  until an admin applies it (after seeing its difference).
- PolicyOverride: a unit switches a check on or off, or changes a pack parameter, for itself
  and its subtree (merged root to leaf, like the agent configuration).
- CheckResult: the current result of one check on one host, with its evidence and the time
  the status began ("failing since"); CheckResultHistory keeps every change of status or
  evidence.
- Finding and FindingEvent: the rectification record (整改). ``open_key`` is set while a
  finding is not closed, so that one host × check × subject has at most one live finding on
  both databases (NULLs do not collide in a unique index).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from collector.db.base import Base, JsonDoc, UtcDateTime, utcnow

__all__ = [
    "CheckResult",
    "CheckResultHistory",
    "Finding",
    "FindingEvent",
    "PolicyOverride",
    "PolicyPack",
]


class PolicyPack(Base):
    """One version of a policy pack (YAML source kept verbatim, parsed content as JSON)."""

    __tablename__ = "policy_packs"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_policy_packs_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    content: Mapped[Any] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | pending | superseded
    origin: Mapped[str] = mapped_column(String(16), default="builtin")  # builtin | upload
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PolicyOverride(Base):
    """A unit's change to a pack (parameters, when check_id is '') or to one check (enabled)."""

    __tablename__ = "policy_overrides"
    __table_args__ = (
        UniqueConstraint("unit_id", "pack", "check_id", name="uq_policy_overrides_unit_pack_check"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    pack: Mapped[str] = mapped_column(String(64))
    check_id: Mapped[str] = mapped_column(String(96), default="")
    enabled: Mapped[bool | None] = mapped_column(Boolean)
    params: Mapped[Any] = mapped_column(JsonDoc, default=dict)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CheckResult(Base):
    """The current result of one check on one host."""

    __tablename__ = "check_results"
    __table_args__ = (Index("ix_check_results_check_status", "check_id", "status"),)

    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"), primary_key=True)
    check_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # pass | fail | error | not_applicable
    evidence: Mapped[Any] = mapped_column(JsonDoc, default=list)
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    evaluated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    pack_version: Mapped[int] = mapped_column(Integer, default=0)


class CheckResultHistory(Base):
    """Every change of a host × check result (status or evidence)."""

    __tablename__ = "check_result_history"
    __table_args__ = (Index("ix_check_result_history_host_check", "host_id", "check_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    check_id: Mapped[str] = mapped_column(String(96))
    status: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[Any] = mapped_column(JsonDoc, default=list)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    pack_version: Mapped[int] = mapped_column(Integer, default=0)


class Finding(Base):
    """A problem to rectify: a failing host × check, or a unit-level problem (host_id null,
    e.g. licence seats over-used, no drill this year), identified by ``subject``."""

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_unit_status", "unit_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    check_id: Mapped[str] = mapped_column(String(96), index=True)
    subject: Mapped[str] = mapped_column(String(255), default="")
    open_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    title_zh: Mapped[str] = mapped_column(String(255), default="")
    title_en: Mapped[str] = mapped_column(String(255), default="")
    severity: Mapped[str] = mapped_column(String(16))  # info | low | medium | high | critical
    category: Mapped[str] = mapped_column(String(32), index=True)
    requirements: Mapped[Any] = mapped_column(JsonDoc, default=list)
    # open | assigned | rectified | verified | closed | exempted
    status: Mapped[str] = mapped_column(String(16), index=True)
    evidence: Mapped[Any] = mapped_column(JsonDoc, default=list)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    rectified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    exemption_reason: Mapped[str] = mapped_column(Text, default="")
    exemption_approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    exemption_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FindingEvent(Base):
    """One transition or note on a finding: who (null = the system) and when."""

    __tablename__ = "finding_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str] = mapped_column(String(16), default="")
    to_status: Mapped[str] = mapped_column(String(16), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[Any] = mapped_column(JsonDoc, default=dict)

    # Set instead of finding_id when the finding is new: no flush is needed to record its
    # first event (evaluating thousands of hosts opens thousands of findings at once).
    finding: Mapped[Finding] = relationship()
