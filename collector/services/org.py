"""The organisation tree (A9-G): the city bureau, its computing station and the seven
district/county bureaus, with stable unit codes.

Codes of the bureaus are their administrative division codes (GB/T 2260), which do
not change when names are edited; the computing station is the city bureau's code
with the suffix ``-JSZ``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.models import Unit
from collector.services.errors import NotFound

__all__ = [
    "SEED_UNITS",
    "SeedUnit",
    "list_units",
    "path_to_root",
    "seed_units",
    "subtree_ids",
    "unit_by_code",
]

CITY_CODE = "341000"
STATION_CODE = "341000-JSZ"


@dataclass(frozen=True)
class SeedUnit:
    code: str
    name_zh: str
    name_en: str
    kind: str
    parent: str | None


SEED_UNITS: tuple[SeedUnit, ...] = (
    SeedUnit(CITY_CODE, "黄山市统计局", "Huangshan Municipal Bureau of Statistics", "city", None),
    SeedUnit(STATION_CODE, "黄山市统计局计算站", "Computing Station (city bureau IT)", "station", CITY_CODE),
    SeedUnit("341002", "屯溪区统计局", "Tunxi District Bureau of Statistics", "district", CITY_CODE),
    SeedUnit("341003", "黄山区统计局", "Huangshan District Bureau of Statistics", "district", CITY_CODE),
    SeedUnit("341004", "徽州区统计局", "Huizhou District Bureau of Statistics", "district", CITY_CODE),
    SeedUnit("341021", "歙县统计局", "She County Bureau of Statistics", "county", CITY_CODE),
    SeedUnit("341022", "休宁县统计局", "Xiuning County Bureau of Statistics", "county", CITY_CODE),
    SeedUnit("341023", "黟县统计局", "Yi County Bureau of Statistics", "county", CITY_CODE),
    SeedUnit("341024", "祁门县统计局", "Qimen County Bureau of Statistics", "county", CITY_CODE),
)


def seed_units(session: Session, units: Iterable[SeedUnit] = SEED_UNITS) -> int:
    """Create the units that do not exist yet (by code). Returns how many were created."""
    existing = {u.code: u for u in session.scalars(select(Unit))}
    created = 0
    for order, spec in enumerate(units):
        if spec.code in existing:
            continue
        parent = existing.get(spec.parent) if spec.parent else None
        unit = Unit(
            code=spec.code,
            name_zh=spec.name_zh,
            name_en=spec.name_en,
            kind=spec.kind,
            parent=parent,
            sort_order=order,
        )
        session.add(unit)
        session.flush()
        existing[spec.code] = unit
        created += 1
    return created


def unit_by_code(session: Session, code: str) -> Unit:
    unit = session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        raise NotFound(f"no unit with code {code!r}", "unknown_unit")
    return unit


def path_to_root(parents: Mapping[int, int | None], unit_id: int) -> list[int]:
    """The unit and every unit above it, nearest first (``parents``: unit id -> parent id);
    a cycle in bad data stops the walk instead of looping."""
    found: list[int] = []
    current: int | None = unit_id
    while current is not None and current not in found:
        found.append(current)
        current = parents.get(current)
    return found


def list_units(session: Session) -> list[Unit]:
    return list(session.scalars(select(Unit).order_by(Unit.sort_order, Unit.code)))


def subtree_ids(session: Session, root_ids: Iterable[int]) -> set[int]:
    """The given units and every unit below them."""
    children: dict[int | None, list[int]] = {}
    for unit_id, parent_id in session.execute(select(Unit.id, Unit.parent_id)):
        children.setdefault(parent_id, []).append(unit_id)
    found: set[int] = set()
    stack = list(root_ids)
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.add(current)
        stack.extend(children.get(current, []))
    return found
