"""Reading the asset register beyond the host list (issue 4, A9-M3.3, A9-G, A9-T3.1):
one host with its sections and timeline, the software catalogue (every title, its
versions, host counts, counts by unit) and the hardware models.

Every query is limited to the principal's scope; a host outside it is "not found",
exactly like a missing one, and a title installed only outside it does not exist.
Catalogue and model counts cover active hosts (not retired, not merged), as the host
list does by default.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from collector.db.models import Host, HostChange, HostSection, HostSoftware, Unit
from collector.services.auth import Principal
from collector.services.errors import BadRequest, NotFound
from collector.services.org import subtree_ids
from collector.services.register import HostFilter, filtered_hosts
from collector.services.versions import name_key

__all__ = [
    "KINDS",
    "ChangePage",
    "HardwareModel",
    "ModelPage",
    "SoftwareTitle",
    "TitlePage",
    "UnitCount",
    "VersionCount",
    "hardware_models",
    "host_changes",
    "host_in_scope",
    "host_sections",
    "host_software",
    "hosts_by_unit",
    "software_catalogue",
    "software_versions",
]

KINDS = ("application", "system_component", "update", "package", "framework")
MAX_PER_PAGE = 500


@dataclass(frozen=True)
class UnitCount:
    unit_code: str
    name_zh: str
    name_en: str
    hosts: int


@dataclass(frozen=True)
class VersionCount:
    version: str
    version_key: str
    hosts: int


@dataclass(frozen=True)
class SoftwareTitle:
    name_key: str
    name: str
    publishers: list[str]
    kinds: list[str]
    hosts: int
    versions: list[VersionCount]
    units: list[UnitCount]


@dataclass(frozen=True)
class HardwareModel:
    vendor: str
    model: str
    device_type: str
    hosts: int
    units: list[UnitCount]


@dataclass(frozen=True)
class _Page:
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class ChangePage(_Page):
    items: Sequence[HostChange]


@dataclass(frozen=True)
class TitlePage(_Page):
    items: list[SoftwareTitle]


@dataclass(frozen=True)
class ModelPage(_Page):
    items: list[HardwareModel]


def _check_page(page: int, per_page: int) -> None:
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise BadRequest(f"per_page must be 1 to {MAX_PER_PAGE}", "bad_page")
    if page < 1:
        raise BadRequest("page starts at 1", "bad_page")


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- one host --------------------------------------------------------------------------------
def host_in_scope(session: Session, principal: Principal, host_id: int) -> Host:
    """The host, or NotFound when it does not exist or lies outside the principal's scope."""
    host = session.scalar(
        select(Host)
        .where(Host.id == host_id)
        .options(selectinload(Host.addresses), selectinload(Host.unit), selectinload(Host.tags))
    )
    if host is None or not principal.can_see_unit(host.unit_id):
        raise NotFound(f"no host {host_id}", "unknown_host")
    return host


def host_sections(session: Session, host: Host) -> Sequence[HostSection]:
    return session.scalars(
        select(HostSection).where(HostSection.host_id == host.id).order_by(HostSection.name)
    ).all()


def host_software(session: Session, host: Host, search: str = "", kind: str = "") -> Sequence[HostSoftware]:
    """The host's installed titles, by name; ``search`` matches name or publisher."""
    query = select(HostSoftware).where(HostSoftware.host_id == host.id)
    if search.strip():
        pattern = _like(name_key(search))
        query = query.where(
            or_(
                HostSoftware.name_key.like(pattern, escape="\\"),
                HostSoftware.publisher.ilike(_like(search.strip()), escape="\\"),
            )
        )
    if kind:
        query = query.where(HostSoftware.kind == kind)
    return session.scalars(
        query.order_by(HostSoftware.name_key, HostSoftware.version_key, HostSoftware.id)
    ).all()


def host_changes(
    session: Session, host: Host, *, section: str = "", page: int = 1, per_page: int = 50
) -> ChangePage:
    """The host's timeline, newest first."""
    _check_page(page, per_page)
    query = select(HostChange).where(HostChange.host_id == host.id)
    if section:
        query = query.where(HostChange.section == section)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(HostChange.at.desc(), HostChange.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return ChangePage(total, page, per_page, rows)


def hosts_by_unit(
    session: Session, principal: Principal, wanted: HostFilter, silent_after_hours: float
) -> dict[int, int]:
    """How many hosts of the register query fall in each unit (unit id -> count), so a page can
    show the build-out per unit next to the list."""
    matching = filtered_hosts(session, principal, wanted, silent_after_hours).order_by(None).subquery()
    query = select(matching.c.unit_id, func.count()).group_by(matching.c.unit_id)
    return dict(session.execute(query).tuples().all())


# -- scope shared by the catalogue and the models ----------------------------------------------
def _scoped_hosts(session: Session, principal: Principal, unit: str) -> list[Any]:
    """WHERE clauses on Host: active, in scope, and in the given unit's subtree."""
    clauses: list[Any] = [Host.status == "active"]
    if principal.visible_units is not None:
        clauses.append(Host.unit_id.in_(principal.visible_units))
    if unit:
        unit_id = session.scalar(select(Unit.id).where(Unit.code == unit))
        # an unknown unit and a unit out of scope look the same: nothing matches
        clauses.append(Host.unit_id.in_(subtree_ids(session, {unit_id}) if unit_id is not None else set()))
    return clauses


def _units(session: Session) -> dict[int, Unit]:
    return {u.id: u for u in session.scalars(select(Unit))}


def _unit_counts(units: dict[int, Unit], counts: dict[int, int]) -> list[UnitCount]:
    found = [(units[i], n) for i, n in counts.items() if i in units]
    found.sort(key=lambda pair: (pair[0].sort_order, pair[0].code))
    return [UnitCount(u.code, u.name_zh, u.name_en, n) for u, n in found]


# -- software ----------------------------------------------------------------------------------
def _software_rows(session: Session, principal: Principal, unit: str, kind: str) -> list[Any]:
    if kind and kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}", "bad_filter")
    clauses = [HostSoftware.host_id == Host.id, *_scoped_hosts(session, principal, unit)]
    if kind:
        clauses.append(HostSoftware.kind == kind)
    return clauses


def software_catalogue(
    session: Session,
    principal: Principal,
    *,
    q: str = "",
    kind: str = "",
    unit: str = "",
    sort: Literal["name", "hosts"] = "name",
    direction: Literal["asc", "desc"] = "asc",
    page: int = 1,
    per_page: int = 50,
) -> TitlePage:
    """Every title installed on a host in scope, with its versions and counts."""
    _check_page(page, per_page)
    where = _software_rows(session, principal, unit, kind)
    if q.strip():
        where.append(
            or_(
                HostSoftware.name_key.like(_like(name_key(q)), escape="\\"),
                HostSoftware.publisher.ilike(_like(q.strip()), escape="\\"),
            )
        )
    hosts = func.count(func.distinct(HostSoftware.host_id))
    grouped = (
        select(HostSoftware.name_key, hosts.label("hosts")).where(*where).group_by(HostSoftware.name_key)
    )
    total = session.scalar(select(func.count()).select_from(grouped.subquery())) or 0
    order: list[Any]
    if sort == "hosts":
        order = [hosts.desc() if direction == "desc" else hosts.asc(), HostSoftware.name_key.asc()]
    else:
        order = [HostSoftware.name_key.desc() if direction == "desc" else HostSoftware.name_key.asc()]
    found = session.execute(grouped.order_by(*order).offset((page - 1) * per_page).limit(per_page)).all()
    keys = [row.name_key for row in found]
    details = _title_details(session, principal, unit, kind, keys)
    return TitlePage(total, page, per_page, [details[k] for k in keys if k in details])


def _title_details(
    session: Session, principal: Principal, unit: str, kind: str, keys: list[str]
) -> dict[str, SoftwareTitle]:
    if not keys:
        return {}
    where = [*_software_rows(session, principal, unit, kind), HostSoftware.name_key.in_(keys)]
    hosts = func.count(func.distinct(HostSoftware.host_id))
    names: dict[str, dict[str, int]] = defaultdict(dict)
    publishers: dict[str, set[str]] = defaultdict(set)
    kinds: dict[str, set[str]] = defaultdict(set)
    for row in session.execute(
        select(HostSoftware.name_key, HostSoftware.name, HostSoftware.publisher, HostSoftware.kind, hosts)
        .where(*where)
        .group_by(HostSoftware.name_key, HostSoftware.name, HostSoftware.publisher, HostSoftware.kind)
    ):
        names[row[0]][row[1]] = names[row[0]].get(row[1], 0) + row[4]
        if row[2]:
            publishers[row[0]].add(row[2])
        kinds[row[0]].add(row[3])
    versions: dict[str, list[VersionCount]] = defaultdict(list)
    for ver in session.execute(
        select(HostSoftware.name_key, HostSoftware.version, HostSoftware.version_key, hosts)
        .where(*where)
        .group_by(HostSoftware.name_key, HostSoftware.version, HostSoftware.version_key)
        .order_by(HostSoftware.name_key, HostSoftware.version_key.desc(), HostSoftware.version)
    ):
        versions[ver[0]].append(VersionCount(ver[1], ver[2], ver[3]))
    totals: dict[str, int] = {}
    by_unit: dict[str, dict[int, int]] = defaultdict(dict)
    for per_unit in session.execute(
        select(HostSoftware.name_key, Host.unit_id, hosts)
        .where(*where)
        .group_by(HostSoftware.name_key, Host.unit_id)
    ):
        by_unit[per_unit[0]][per_unit[1]] = per_unit[2]
        totals[per_unit[0]] = totals.get(per_unit[0], 0) + per_unit[2]
    units = _units(session)
    return {
        key: SoftwareTitle(
            name_key=key,
            # the spelling most hosts use, ties broken alphabetically
            name=sorted(names[key].items(), key=lambda pair: (-pair[1], pair[0]))[0][0],
            publishers=sorted(publishers[key]),
            kinds=sorted(kinds[key]),
            hosts=totals.get(key, 0),
            versions=versions[key],
            units=_unit_counts(units, by_unit[key]),
        )
        for key in keys
        if key in names
    }


def software_versions(
    session: Session, principal: Principal, name: str, *, unit: str = "", kind: str = ""
) -> SoftwareTitle | None:
    """One title (matched exactly, case and spacing aside) with its versions; None when no host
    in scope has it."""
    key = name_key(name)
    if not key:
        raise BadRequest("name must not be empty", "bad_filter")
    return _title_details(session, principal, unit, kind, [key]).get(key)


# -- hardware ----------------------------------------------------------------------------------
def hardware_models(
    session: Session,
    principal: Principal,
    *,
    q: str = "",
    device_type: str = "",
    unit: str = "",
    sort: Literal["model", "hosts"] = "hosts",
    direction: Literal["asc", "desc"] = "desc",
    page: int = 1,
    per_page: int = 50,
) -> ModelPage:
    """Vendor, model and device type of the hosts in scope, with host counts by unit."""
    _check_page(page, per_page)
    where = _scoped_hosts(session, principal, unit)
    if q.strip():
        pattern = _like(q.strip())
        where.append(or_(Host.vendor.ilike(pattern, escape="\\"), Host.model.ilike(pattern, escape="\\")))
    if device_type:
        where.append(Host.device_type == device_type)
    group = (Host.vendor, Host.model, Host.device_type)
    hosts = func.count(Host.id)
    grouped = select(*group, hosts.label("hosts")).where(*where).group_by(*group)
    total = session.scalar(select(func.count()).select_from(grouped.subquery())) or 0
    names = [Host.vendor, Host.model, Host.device_type]
    order: list[Any]
    if sort == "hosts":
        order = [hosts.desc() if direction == "desc" else hosts.asc(), *names]
    else:
        order = [c.desc() if direction == "desc" else c.asc() for c in names]
    found = session.execute(grouped.order_by(*order).offset((page - 1) * per_page).limit(per_page)).all()
    if not found:
        return ModelPage(total, page, per_page, [])
    wanted = or_(*(and_(Host.vendor == r[0], Host.model == r[1], Host.device_type == r[2]) for r in found))
    by_unit: dict[tuple[str, str, str], dict[int, int]] = defaultdict(dict)
    for row in session.execute(
        select(*group, Host.unit_id, hosts).where(*where, wanted).group_by(*group, Host.unit_id)
    ):
        by_unit[(row[0], row[1], row[2])][row[3]] = row[4]
    units = _units(session)
    items = [
        HardwareModel(r[0], r[1], r[2], r[3], _unit_counts(units, by_unit[(r[0], r[1], r[2])])) for r in found
    ]
    return ModelPage(total, page, per_page, items)
