"""The year's overview (年度概览): per unit, technical trainings held and attended (A9-M2.3:
at least one technical training a year) and emergency drills completed (A9-M4.2: at least one
drill a year), with a flag for each unit that has none; and the same for the city as a whole.

Rows are the accountable units: the city bureau and the district/county bureaus. Trainings of
the computing station and of offices count towards the bureau above them; drills are counted
as the drills area counts them (``completed_drills_by_unit``: the unit's own drills, the same
numbers as its calendar and ``drills.units_without_drill``). A caller sees the rows of their
scope (A9-G); when no accountable unit is in it (an auditor of one office), the topmost units
of the scope are rows.

A unit has a technical training in the year when it organised one, or took part in one (a
participating unit, or an attendee of the unit who came). Drill counts come from the drills
area: ``collector.services.drills.completed_drills_by_unit(session, year)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

from sqlalchemy import extract, select
from sqlalchemy.orm import Session, selectinload

from collector.db.models import Unit
from collector.db.models_training import Training
from collector.services.auth import Principal
from collector.services.drills import completed_drills_by_unit
from collector.services.tabular import xlsx_file
from collector.services.trainings import attended_units

__all__ = [
    "ACCOUNTABLE_KINDS",
    "AnnualOverview",
    "Totals",
    "UnitYear",
    "completed_drills",
    "overview",
    "overview_xlsx",
    "units_without_training",
]

ACCOUNTABLE_KINDS = ("city", "district", "county")
MIN_YEAR, MAX_YEAR = 2000, 2100


@dataclass
class UnitYear:
    unit: Unit
    technical_held: int = 0
    technical_attended: int = 0  # other units' technical trainings it took part in
    other_trainings: int = 0  # awareness and other kinds, held or attended
    drills_completed: int = 0

    @property
    def no_training(self) -> bool:
        return self.technical_held + self.technical_attended == 0

    @property
    def no_drill(self) -> bool:
        return self.drills_completed == 0


@dataclass
class Totals:
    """The whole scope (the city as a whole for a city-wide user)."""

    technical_trainings: int
    drills_completed: int
    units_without_training: int
    units_without_drill: int

    @property
    def no_training(self) -> bool:
        return self.technical_trainings == 0

    @property
    def no_drill(self) -> bool:
        return self.drills_completed == 0


@dataclass
class AnnualOverview:
    year: int
    city_wide: bool
    rows: list[UnitYear]
    totals: Totals


def completed_drills(session: Session, year: int) -> dict[int, int]:
    """Completed drills per unit id in the year, from the drills area (issue 7)."""
    return completed_drills_by_unit(session, year)


# -- rolling units up -------------------------------------------------------------------------
def _row_mapper(units: Iterable[Unit], rows: set[int]) -> Callable[[int], int | None]:
    """unit id -> the id of the nearest row unit at or above it (None: outside the rows)."""
    parents = {u.id: u.parent_id for u in units}
    cache: dict[int, int | None] = {}

    def row_of(unit_id: int) -> int | None:
        if unit_id not in cache:
            current: int | None = unit_id
            seen: set[int] = set()
            while current is not None and current not in rows and current not in seen:
                seen.add(current)
                current = parents.get(current)
            cache[unit_id] = current if current in rows else None
        return cache[unit_id]

    return row_of


def _row_units(all_units: list[Unit], visible: frozenset[int] | None) -> list[Unit]:
    shown = [u for u in all_units if visible is None or u.id in visible]
    rows = [u for u in shown if u.kind in ACCOUNTABLE_KINDS]
    if rows:
        return rows
    ids = {u.id for u in shown}
    return [u for u in shown if u.parent_id not in ids]


def _year_trainings(session: Session, year: int) -> list[Training]:
    query = (
        select(Training)
        .where(extract("year", Training.held_on) == year)
        .options(selectinload(Training.units), selectinload(Training.attendees))
    )
    return list(session.scalars(query))


def _fill(
    session: Session, year: int, rows: list[UnitYear], all_units: list[Unit], drills: dict[int, int]
) -> set[int]:
    """Count trainings and drills into the rows; the ids of the technical trainings counted."""
    by_id = {r.unit.id: r for r in rows}
    row_of = _row_mapper(all_units, set(by_id))
    technical: set[int] = set()
    for training in _year_trainings(session, year):
        organiser = row_of(training.unit_id)
        took_part = {row_of(u) for u in attended_units(training)} - {None, organiser}
        touched = ({organiser} - {None}) | took_part
        if training.kind == "technical":
            if touched:
                technical.add(training.id)
            if organiser is not None:
                by_id[organiser].technical_held += 1
            for row_id in took_part:
                if row_id is not None:
                    by_id[row_id].technical_attended += 1
        else:
            for row_id in touched:
                if row_id is not None:
                    by_id[row_id].other_trainings += 1
    for row in rows:
        row.drills_completed = drills.get(row.unit.id, 0)
    return technical


def overview(session: Session, principal: Principal, year: int) -> AnnualOverview:
    """The year's overview of the units in the caller's scope."""
    all_units = list(session.scalars(select(Unit).order_by(Unit.sort_order, Unit.code)))
    rows = [UnitYear(u) for u in _row_units(all_units, principal.visible_units)]
    drills = completed_drills(session, year)
    technical = _fill(session, year, rows, all_units, drills)
    totals = Totals(
        technical_trainings=len(technical),
        drills_completed=sum(n for unit_id, n in drills.items() if principal.can_see_unit(unit_id)),
        units_without_training=sum(r.no_training for r in rows),
        units_without_drill=sum(r.no_drill for r in rows),
    )
    return AnnualOverview(year, principal.city_wide, rows, totals)


def units_without_training(session: Session, year: int) -> list[Unit]:
    """Accountable units (city and district/county bureaus) that neither held nor took part
    in a technical training in the year (A9-M2.3); the findings area turns them into findings.
    (Units without a drill: ``collector.services.drills.units_without_drill``.)"""
    all_units = list(session.scalars(select(Unit).order_by(Unit.sort_order, Unit.code)))
    rows = [UnitYear(u) for u in _row_units(all_units, None)]
    _fill(session, year, rows, all_units, {})
    return [r.unit for r in rows if r.no_training]


# -- export ---------------------------------------------------------------------------------------
def overview_xlsx(data: AnnualOverview, lang: str) -> IO[bytes]:
    """The overview as one XLSX sheet, a row per unit and the total row last."""
    zh = lang == "zh-CN"
    yes, no = ("是", "") if zh else ("yes", "")
    header = (
        ["单位代码", "单位", "组织技术培训", "参加技术培训", "其他培训", "完成应急演练", "无技术培训", "无演练"]
        if zh
        else ["Unit code", "Unit", "Technical trainings held", "Technical trainings attended",
              "Other trainings", "Drills completed", "No technical training", "No drill"]
    )  # fmt: skip
    rows: list[list[object]] = [
        [r.unit.code, r.unit.name_zh if zh else r.unit.name_en, r.technical_held, r.technical_attended,
         r.other_trainings, r.drills_completed, yes if r.no_training else no, yes if r.no_drill else no]
        for r in data.rows
    ]  # fmt: skip
    label = ("全市" if data.city_wide else "合计") if zh else ("City total" if data.city_wide else "Total")
    t = data.totals
    rows.append(["", label, t.technical_trainings, "", "", t.drills_completed,
                 yes if t.no_training else no, yes if t.no_drill else no])  # fmt: skip
    title = f"{data.year}年度概览" if zh else f"Overview {data.year}"
    return xlsx_file(title, header, rows)
