"""The licensed-software catalogue and seat usage per unit (A9-T3.1, A9-M3.1).

``policies/catalogue/licensed-software.yaml`` lists the titles the bureaus hold licences for,
how each is recognised (regular expressions on the installed program's name and publisher, or
on the host's operating-system name) and the seats each unit has bought. :func:`seat_usage`
counts, per unit and title, the distinct active hosts *of that unit itself* (not its sub-units)
that carry a matching program, and flags over-use (installed > seats). A unit absent from a
title's seats holds none: every installation there is over-use.

Matching runs in Python, not SQL (SQLite has no regular expressions): the patterns are tried
on the few thousand distinct titles of ``software_titles``, then the matching titles' rows of
``host_software`` are read through their ``name_key`` index.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.models import Host, HostSoftware, SoftwareTitle, Unit
from collector.policy.schema import Text2

__all__ = [
    "Catalogue",
    "LicensedTitle",
    "SeatUsage",
    "SoftwareMatch",
    "default_catalogue_path",
    "load_catalogue",
    "parse_catalogue",
    "seat_usage",
]

UnitCode = Annotated[str, StringConstraints(pattern=r"^\d{6}(-[A-Z0-9]{1,16})?$")]
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=300)]
SoftwareKind = Literal["application", "system_component", "update", "package", "framework"]
_CHUNK = 500


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


def _default_kinds() -> list[SoftwareKind]:
    return ["application", "package"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SoftwareMatch(_Strict):
    """An installed program of the title: ``name`` (and ``publisher`` when given) found by re.search,
    case-insensitive."""

    name: Pattern
    publisher: Pattern | None = None

    @field_validator("name", "publisher")
    @classmethod
    def _valid(cls, value: str | None) -> str | None:
        return None if value is None else _compiles(value)


class LicensedTitle(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    name: Text2
    vendor: str = Field(default="", max_length=128)
    software: list[SoftwareMatch] = Field(default_factory=list, max_length=50)
    os: list[Pattern] = Field(
        default_factory=list, max_length=20, description="Regexes on the host's OS name."
    )
    exclude: list[Pattern] = Field(
        default_factory=list, max_length=50, description="Regexes on program names."
    )
    kinds: list[SoftwareKind] = Field(default_factory=_default_kinds, min_length=1)
    seats: dict[UnitCode, Annotated[int, Field(ge=0, le=1_000_000)]] = Field(default_factory=dict)
    note: str = Field(default="", max_length=2000)

    @field_validator("os", "exclude")
    @classmethod
    def _valid(cls, values: list[str]) -> list[str]:
        return [_compiles(v) for v in values]

    @model_validator(mode="after")
    def _recognisable(self) -> LicensedTitle:
        if not self.software and not self.os:
            raise ValueError(f"title {self.id} needs at least one 'software' or 'os' pattern")
        return self

    def matches_name(self, name: str) -> bool:
        """The program name fits one of the software patterns (publisher not considered) and no exclusion."""
        if any(re.search(p, name, re.IGNORECASE) for p in self.exclude):
            return False
        return any(re.search(m.name, name, re.IGNORECASE) for m in self.software)

    def matches_program(self, name: str, publisher: str, kind: str) -> bool:
        if kind not in self.kinds or any(re.search(p, name, re.IGNORECASE) for p in self.exclude):
            return False
        return any(
            re.search(m.name, name, re.IGNORECASE)
            and (m.publisher is None or re.search(m.publisher, publisher, re.IGNORECASE))
            for m in self.software
        )

    def matches_os(self, os_name: str) -> bool:
        return any(re.search(p, os_name, re.IGNORECASE) for p in self.os)


class Catalogue(_Strict):
    catalogue: Literal["licensed-software"]
    version: int = Field(ge=1)
    titles: list[LicensedTitle] = Field(max_length=500)

    @field_validator("titles")
    @classmethod
    def _unique(cls, titles: list[LicensedTitle]) -> list[LicensedTitle]:
        seen: set[str] = set()
        for title in titles:
            if title.id in seen:
                raise ValueError(f"title id {title.id} is used twice")
            seen.add(title.id)
        return titles


def default_catalogue_path() -> Path:
    from collector.policy.loader import default_policies_dir

    return default_policies_dir() / "catalogue" / "licensed-software.yaml"


def parse_catalogue(text: str) -> Catalogue:
    """The catalogue from its YAML text; pydantic ValidationError (or ValueError) when it is not valid."""
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise ValueError("the catalogue is a YAML mapping with catalogue, version, titles")
    return Catalogue.model_validate(raw)


def load_catalogue(path: Path | None = None) -> Catalogue:
    return parse_catalogue((path or default_catalogue_path()).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class SeatUsage:
    """One unit × licensed title: seats bought, distinct active hosts of the unit with it installed."""

    unit_code: str
    title_id: str
    title_zh: str
    title_en: str
    seats: int
    installed: int
    host_ids: tuple[int, ...]

    @property
    def over_use(self) -> bool:
        return self.installed > self.seats

    @property
    def excess(self) -> int:
        return max(0, self.installed - self.seats)


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _software_hosts(session: Session, title: LicensedTitle, keys: list[str]) -> dict[int, set[int]]:
    """unit id -> ids of active hosts with a program of the title (keys: the title's candidate name_keys)."""
    found: dict[int, set[int]] = defaultdict(set)
    for chunk in _chunks(keys):
        rows = session.execute(
            select(Host.id, Host.unit_id, HostSoftware.name, HostSoftware.publisher, HostSoftware.kind)
            .join(Host, Host.id == HostSoftware.host_id)
            .where(HostSoftware.name_key.in_(chunk), Host.status == "active")
        )
        for host_id, unit_id, name, publisher, kind in rows:
            if title.matches_program(name, publisher or "", kind or ""):
                found[unit_id].add(host_id)
    return found


def seat_usage(session: Session, catalogue: Catalogue) -> list[SeatUsage]:
    """Per licensed title and unit: seats, installed (distinct active hosts of the unit itself), over-use.

    Lists every unit that has seats for the title or at least one host with it, titles in catalogue
    order and units by code.
    """
    codes: dict[int, str] = dict(session.execute(select(Unit.id, Unit.code)).all())
    names = [(key, name) for key, name in session.execute(select(SoftwareTitle.name_key, SoftwareTitle.name))]
    hosts_os: list[tuple[int, int, str]] = []
    if any(t.os for t in catalogue.titles):
        query = select(Host.id, Host.unit_id, Host.os_name).where(Host.status == "active")
        hosts_os = [(host_id, unit_id, os_name) for host_id, unit_id, os_name in session.execute(query)]
    out: list[SeatUsage] = []
    for title in catalogue.titles:
        by_unit: dict[int, set[int]] = defaultdict(set)
        if title.software:
            keys = sorted({key for key, name in names if title.matches_name(name) or title.matches_name(key)})
            for unit_id, ids in _software_hosts(session, title, keys).items():
                by_unit[unit_id] |= ids
        if title.os:
            for host_id, unit_id, os_name in hosts_os:
                if os_name and title.matches_os(os_name):
                    by_unit[unit_id].add(host_id)
        installed = {codes[u]: ids for u, ids in by_unit.items() if u in codes}
        for code in sorted(set(title.seats) | set(installed)):
            ids = installed.get(code, set())
            out.append(
                SeatUsage(
                    unit_code=code,
                    title_id=title.id,
                    title_zh=title.name.zh,
                    title_en=title.name.en,
                    seats=title.seats.get(code, 0),
                    installed=len(ids),
                    host_ids=tuple(sorted(ids)),
                )
            )
    return out
