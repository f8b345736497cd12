"""API schemas of the training ledger and the year's overview (issue 7, A9-M2.3, A9-M4.2)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "AnnualOut",
    "AnnualTotalsOut",
    "AnnualUnitOut",
    "AttendanceResultOut",
    "AttendanceRowOut",
    "AttendeeIn",
    "AttendeeOut",
    "MaterialOut",
    "TrainingIn",
    "TrainingListOut",
    "TrainingOut",
    "TrainingPatch",
    "UnitRefOut",
]

_NO_NUL = r"^[^\x00]*$"
_Topic = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=_NO_NUL)]
_Short = Annotated[str, StringConstraints(max_length=128, pattern=_NO_NUL)]
_Notes = Annotated[str, StringConstraints(max_length=4000, pattern=_NO_NUL)]
_UnitCode = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_NO_NUL)]
_Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_NO_NUL)]
_Username = Annotated[str, StringConstraints(max_length=64, pattern=_NO_NUL)]
_Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]
_Hours = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
Kind = Literal["technical", "awareness", "other"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttendeeIn(_Strict):
    """One person on the attendance list."""

    name: _Name = Field(description="The person's name.")
    unit: _UnitCode = Field(description="Code or name of the person's unit.")
    username: _Username = Field(default="", description="An account of this system to link (optional).")
    hours: _Hours | None = Field(default=None, description="Hours credited; null: the training's hours.")
    attended: bool = Field(default=True, description="Signed in (false: on the list but absent).")


class TrainingIn(_Strict):
    """A training to record (A9-M2.3 asks for at least one technical training a year)."""

    held_on: _Day = Field(description="The day it was held.")
    topic: _Topic
    unit: _UnitCode = Field(description="Code of the organising unit (one you manage).")
    kind: Kind = Field(default="technical", description="technical, awareness or other.")
    trainer: _Short = ""
    location: _Short = ""
    hours: _Hours = Field(default=0, description="Length in hours (学时).")
    notes: _Notes = ""
    units: list[_UnitCode] = Field(default_factory=list, max_length=200, description="Participating units.")
    attendees: list[AttendeeIn] = Field(default_factory=list, max_length=500)


class TrainingPatch(_Strict):
    """Fields to change; fields left out stay. ``units`` replaces the participating units you see."""

    held_on: _Day | None = None
    topic: _Topic | None = None
    unit: _UnitCode | None = Field(default=None, description="Move to another organising unit you manage.")
    kind: Kind | None = None
    trainer: _Short | None = None
    location: _Short | None = None
    hours: _Hours | None = None
    notes: _Notes | None = None
    units: list[_UnitCode] | None = Field(default=None, max_length=200)


class UnitRefOut(BaseModel):
    code: str
    name_zh: str
    name_en: str


class AttendeeOut(BaseModel):
    id: int
    name: str
    unit: UnitRefOut
    username: str | None
    hours: float | None
    attended: bool


class MaterialOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
    url: str = Field(description="Where to download it.")


class TrainingOut(BaseModel):
    id: int
    held_on: date
    topic: str
    kind: str
    unit: UnitRefOut = Field(description="The organising unit.")
    trainer: str
    location: str
    hours: float
    notes: str
    units: list[UnitRefOut] = Field(description="Participating units in your scope.")
    attendees: list[AttendeeOut] = Field(description="Attendees of units in your scope.")
    attended_count: int = Field(description="Attendees in your scope who signed in.")
    materials: list[MaterialOut]
    editable: bool = Field(description="You may change it (you manage the organising unit).")
    created_by: str
    created_at: datetime
    updated_at: datetime


class TrainingListOut(BaseModel):
    total: int
    page: int
    per_page: int
    items: list[TrainingOut]


class AttendanceRowOut(BaseModel):
    row: int = Field(description="Row number in the file.")
    action: str = Field(description="create, update, unchanged, error or skipped.")
    name: str
    unit: str
    hours: float | None
    attended: bool
    username: str
    errors: list[str]


class AttendanceResultOut(BaseModel):
    dry_run: bool
    applied: bool
    created: int
    updated: int
    unchanged: int
    errors: int = Field(description="Rows with errors (skipped when applied with skip_invalid).")
    rows: list[AttendanceRowOut]


class AnnualUnitOut(BaseModel):
    unit: UnitRefOut
    technical_held: int = Field(description="Technical trainings it organised in the year.")
    technical_attended: int = Field(description="Other units' technical trainings it took part in.")
    other_trainings: int = Field(description="Awareness and other trainings, held or attended.")
    drills_completed: int = Field(description="Emergency drills completed in the year (A9-M4.2).")
    no_training: bool = Field(description="Flag: no technical training held or attended (A9-M2.3).")
    no_drill: bool = Field(description="Flag: no completed drill (A9-M4.2).")


class AnnualTotalsOut(BaseModel):
    technical_trainings: int = Field(description="Distinct technical trainings in your scope.")
    drills_completed: int
    units_without_training: int
    units_without_drill: int
    no_training: bool
    no_drill: bool


class AnnualOut(BaseModel):
    year: int
    city_wide: bool = Field(description="The totals are the city as a whole.")
    units: list[AnnualUnitOut]
    totals: AnnualTotalsOut
