"""ORM models of the training ledger (issue 7, A9-M2.3: at least one technical training a year,
with attendance). See collector/db/models.py for the shared ones (Unit, User).

A training belongs to its organising unit (scope and who may change it); attendees name their
own unit, so a city training counts as attended for every district that sent people.
Materials (slides, handouts, sign-in sheets) are stored in the database, bounded in size.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from collector.db.base import Base, UtcDateTime, utcnow
from collector.db.models import Unit, User

__all__ = ["Training", "TrainingAttendee", "TrainingMaterial", "TrainingUnit"]


class Training(Base):
    """One training session (培训): when, what, of which kind, by whom, organised by which unit."""

    __tablename__ = "trainings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # the organising unit
    held_on: Mapped[date] = mapped_column(Date, index=True)
    topic: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(
        String(16), default="technical", server_default="technical"
    )  # technical|awareness|other
    trainer: Mapped[str] = mapped_column(String(128), default="", server_default="")
    location: Mapped[str] = mapped_column(String(128), default="", server_default="")
    hours: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()
    attendees: Mapped[list[TrainingAttendee]] = relationship(
        back_populates="training",
        cascade="all, delete-orphan",
        order_by="TrainingAttendee.id",
        passive_deletes=True,
    )
    units: Mapped[list[TrainingUnit]] = relationship(
        back_populates="training",
        cascade="all, delete-orphan",
        order_by="TrainingUnit.id",
        passive_deletes=True,
    )
    materials: Mapped[list[TrainingMaterial]] = relationship(
        back_populates="training",
        cascade="all, delete-orphan",
        order_by="TrainingMaterial.id",
        passive_deletes=True,
    )


class TrainingUnit(Base):
    """A unit that took part in a training (besides the attendees' own units), for trainings
    recorded by unit without a name list (a video conference for every district)."""

    __tablename__ = "training_units"
    __table_args__ = (UniqueConstraint("training_id", "unit_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    training_id: Mapped[int] = mapped_column(ForeignKey("trainings.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)

    training: Mapped[Training] = relationship(back_populates="units")
    unit: Mapped[Unit] = relationship()


class TrainingAttendee(Base):
    """One person on a training's attendance list (签到表), from a unit, optionally an account."""

    __tablename__ = "training_attendees"
    __table_args__ = (UniqueConstraint("training_id", "unit_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    training_id: Mapped[int] = mapped_column(ForeignKey("trainings.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    hours: Mapped[float | None] = mapped_column(Float)  # None: the training's hours
    attended: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))

    training: Mapped[Training] = relationship(back_populates="attendees")
    unit: Mapped[Unit] = relationship()
    user: Mapped[User | None] = relationship()


class TrainingMaterial(Base):
    """A file attached to a training (课件, handout, scanned sign-in sheet). The bytes are loaded
    only when downloaded (deferred)."""

    __tablename__ = "training_materials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    training_id: Mapped[int] = mapped_column(ForeignKey("trainings.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    uploaded_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    training: Mapped[Training] = relationship(back_populates="materials")
