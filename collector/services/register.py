"""The asset register as a query: hosts in a principal's scope, filtered, sorted, paged
(issue 4, A9-M3.3, A9-G). Pages, the JSON API and the exports all go through here, so
what a district admin can list, open or export is decided in one place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from collector.db.base import utcnow
from collector.db.models import Host, HostAddress, HostSoftware, HostTag, SoftwareTitle, Unit
from collector.services.auth import Principal
from collector.services.errors import BadRequest
from collector.services.org import subtree_ids
from collector.services.versions import name_key, version_key

__all__ = ["SORTS", "STATUSES", "HostFilter", "HostPage", "filtered_hosts", "list_hosts", "status_clause"]

STATUSES = ("online", "silent", "never", "retired")
#: Sort key -> column(s). Every sort ends with the id, so pages are stable.
SORTS: dict[str, tuple[Any, ...]] = {
    "hostname": (Host.hostname,),
    "unit": (Unit.sort_order, Unit.code, Host.hostname),
    "os": (Host.os_name, Host.os_version),
    "ip": (Host.primary_ip,),
    "model": (Host.vendor, Host.model),
    "asset_number": (Host.asset_number,),
    "owner": (Host.owner,),
    "last_seen": (Host.last_seen,),
    "first_seen": (Host.first_seen,),
    "device_type": (Host.device_type,),
}
MAX_PER_PAGE = 500
_MAC = re.compile(r"[^0-9a-f]")


@dataclass(frozen=True)
class HostFilter:
    """What a user asks the register for; every field is optional."""

    q: str = ""  # host name, owner, asset number, serial or location contains
    unit: str = ""  # a unit code: that unit and its subtree
    os: str = ""  # OS name or family contains
    software: str = ""  # installed title contains (case-insensitive)
    version_below: str = ""  # ... in a version lower than this
    version_from: str = ""  # ... in this version or higher
    ip: str = ""  # an address starts with
    mac: str = ""  # a MAC address equals (any notation)
    status: str = ""  # online | silent | never | retired
    tag: str = ""
    device_type: str = ""
    source: str = ""  # agent | manual | import | bundle
    vendor: str = ""  # the make equals (hardware view drill-down)
    model: str = ""  # the model equals
    software_exact: bool = False  # `software` names the title exactly (case and spacing aside)
    include_retired: bool = False
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HostPage:
    items: Sequence[Host]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def status_clause(status: str, silent_after_hours: float, now: datetime | None = None) -> Any:
    cutoff = (now or utcnow()) - timedelta(hours=silent_after_hours)
    active = Host.status == "active"
    clauses = {
        "online": and_(active, Host.last_seen >= cutoff),
        "silent": and_(active, Host.last_seen < cutoff),
        "never": and_(active, Host.last_seen.is_(None)),
        "retired": Host.status == "retired",
    }
    if status not in clauses:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}", "bad_filter")
    return clauses[status]


def filtered_hosts(
    session: Session, principal: Principal, wanted: HostFilter, silent_after_hours: float
) -> Select[Any]:
    """The hosts a principal may see that match the filter (no order, no paging)."""
    query = select(Host).join(Unit, Unit.id == Host.unit_id).where(Host.status != "merged")
    if principal.visible_units is not None:
        query = query.where(Host.unit_id.in_(principal.visible_units))
    if wanted.unit:
        unit_id = session.scalar(select(Unit.id).where(Unit.code == wanted.unit))
        # an unknown unit and a unit out of scope look the same: nothing matches
        ids = subtree_ids(session, {unit_id}) if unit_id is not None else set()
        query = query.where(Host.unit_id.in_(ids))
    if wanted.status:
        query = query.where(status_clause(wanted.status, silent_after_hours))
    elif not wanted.include_retired:
        query = query.where(Host.status != "retired")
    if wanted.q.strip():
        pattern = _like(wanted.q.strip())
        query = query.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (Host.hostname, Host.owner, Host.asset_number, Host.serial, Host.location)
                )
            )
        )
    if wanted.os.strip():
        pattern = _like(wanted.os.strip())
        query = query.where(
            or_(Host.os_name.ilike(pattern, escape="\\"), Host.os_family.ilike(pattern, escape="\\"))
        )
    if wanted.device_type:
        query = query.where(Host.device_type == wanted.device_type)
    if wanted.source:
        query = query.where(Host.source == wanted.source)
    if wanted.vendor:
        query = query.where(Host.vendor == wanted.vendor)
    if wanted.model:
        query = query.where(Host.model == wanted.model)
    if wanted.software.strip() or wanted.version_below or wanted.version_from:
        if not wanted.software.strip():
            raise BadRequest("a version filter needs a software name", "bad_filter")
        key = name_key(wanted.software)
        installed: list[Any] = []
        if wanted.software_exact:
            installed.append(HostSoftware.name_key == key)
        else:  # the few matching titles first, then host_software through its (name_key, version_key) index
            titles = select(SoftwareTitle.name_key).where(
                SoftwareTitle.name_key.like(_like(key), escape="\\")
            )
            installed.append(HostSoftware.name_key.in_(titles))
        if wanted.version_below:
            installed.append(HostSoftware.version_key < version_key(wanted.version_below))
        if wanted.version_from:
            installed.append(HostSoftware.version_key >= version_key(wanted.version_from))
        query = query.where(Host.id.in_(select(HostSoftware.host_id).where(*installed)))
    if wanted.ip.strip():
        query = query.where(
            exists().where(
                HostAddress.host_id == Host.id,
                HostAddress.address.like(wanted.ip.strip().replace("%", "") + "%"),
            )
        )
    if wanted.mac.strip():
        digits = _MAC.sub("", wanted.mac.lower())
        if len(digits) != 12:
            raise BadRequest("mac must have 12 hex digits", "bad_filter")
        mac = ":".join(digits[i : i + 2] for i in range(0, 12, 2))
        query = query.where(exists().where(HostAddress.host_id == Host.id, HostAddress.mac == mac))
    if wanted.tag.strip():
        query = query.where(exists().where(HostTag.host_id == Host.id, HostTag.tag == wanted.tag.strip()))
    return query


def list_hosts(
    session: Session,
    principal: Principal,
    wanted: HostFilter,
    *,
    silent_after_hours: float,
    sort: str = "unit",
    direction: Literal["asc", "desc"] = "asc",
    page: int = 1,
    per_page: int = 50,
) -> HostPage:
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}", "bad_sort")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise BadRequest(f"per_page must be 1 to {MAX_PER_PAGE}", "bad_page")
    if page < 1:
        raise BadRequest("page starts at 1", "bad_page")
    base = filtered_hosts(session, principal, wanted, silent_after_hours)
    total = session.scalar(select(func.count()).select_from(base.order_by(None).subquery())) or 0
    columns = [c.desc() if direction == "desc" else c.asc() for c in SORTS[sort]]
    rows = session.scalars(
        base.options(selectinload(Host.addresses), selectinload(Host.unit), selectinload(Host.tags))
        .order_by(*columns, Host.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return HostPage(rows, total, page, per_page)
