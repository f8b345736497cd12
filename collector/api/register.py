"""The asset register's JSON API beyond the host list: host detail and timeline, software
catalogue, hardware models (issue 4, A9-M3.3, A9-G, A9-T3.1). Everything is limited to the
caller's scope; a host or title outside it answers 404 exactly like a missing one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from collector.api.admin import host_out
from collector.api.register_schemas import (
    ChangeList,
    ChangeOut,
    ChangeQuery,
    HardwareList,
    HardwareModelOut,
    HardwareQuery,
    HostDetail,
    SectionOut,
    SoftwareList,
    SoftwareQuery,
    SoftwareTitleOut,
    UnitCountOut,
    VersionCountOut,
    VersionsQuery,
)
from collector.db.models import Host, HostSection
from collector.deps import PrincipalDep, SessionDep, SettingsDep
from collector.services import catalogue
from collector.services.catalogue import SoftwareTitle, UnitCount
from collector.services.errors import NotFound
from collector.settings import Settings

__all__ = ["host_detail_out", "router"]

router = APIRouter(prefix="/api/v1", tags=["register"])
HostId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such host in your scope."}}


def host_detail_out(host: Host, sections: list[HostSection], settings: Settings) -> HostDetail:
    return HostDetail(
        **host_out(host, settings).model_dump(),
        unit_name_en=host.unit.name_en,
        record_status=host.status,
        notes=host.notes,
        retired_at=host.retired_at,
        merged_into_id=host.merged_into_id,
        system_uuid=host.system_uuid,
        sections=[
            SectionOut(
                name=s.name,
                status=s.status,
                collected_at=s.collected_at,
                updated_at=s.updated_at,
                errors=s.errors or [],
                reason=s.reason,
                data=s.data,
            )
            for s in sections
        ],
    )


@router.get("/hosts/{host_id}", response_model=HostDetail, responses=_NOT_FOUND)
def host_detail(
    host_id: HostId, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> HostDetail:
    """One host: every register field, its addresses and tags, and the current content of every
    section (with the status, time and errors of its last read)."""
    host = catalogue.host_in_scope(session, principal, host_id)
    return host_detail_out(host, list(catalogue.host_sections(session, host)), settings)


@router.get("/hosts/{host_id}/changes", response_model=ChangeList, responses=_NOT_FOUND)
def host_changes(
    host_id: HostId, principal: PrincipalDep, session: SessionDep, wanted: Annotated[ChangeQuery, Query()]
) -> ChangeList:
    """The host's timeline, newest first: software installed, removed, upgraded; hardware and
    addresses changed."""
    host = catalogue.host_in_scope(session, principal, host_id)
    found = catalogue.host_changes(
        session, host, section=wanted.section, page=wanted.page, per_page=wanted.per_page
    )
    return ChangeList(
        total=found.total,
        page=found.page,
        per_page=found.per_page,
        pages=found.pages,
        items=[
            ChangeOut(
                id=c.id,
                at=c.at,
                section=c.section,
                change=c.change,
                subject=c.subject,
                old=c.old,
                new=c.new,
                report_id=c.report_id,
            )
            for c in found.items
        ],
    )


def _units_out(units: list[UnitCount]) -> list[UnitCountOut]:
    return [
        UnitCountOut(unit_code=u.unit_code, unit_name=u.name_zh, unit_name_en=u.name_en, hosts=u.hosts)
        for u in units
    ]


def _title_out(title: SoftwareTitle) -> SoftwareTitleOut:
    return SoftwareTitleOut(
        name_key=title.name_key,
        name=title.name,
        publishers=title.publishers,
        kinds=title.kinds,
        hosts=title.hosts,
        versions=[VersionCountOut(version=v.version, hosts=v.hosts) for v in title.versions],
        units=_units_out(title.units),
    )


@router.get("/software", response_model=SoftwareList)
def software(
    principal: PrincipalDep, session: SessionDep, wanted: Annotated[SoftwareQuery, Query()]
) -> SoftwareList:
    """The software catalogue of the hosts in your scope: every title with its versions, the
    number of hosts that have it, and that number by unit (A9-T3.1, A9-M3.1). For "which hosts
    have X below version Y" use ``GET /api/v1/hosts?software=X&version_below=Y``."""
    found = catalogue.software_catalogue(
        session,
        principal,
        q=wanted.q,
        kind=wanted.kind,
        unit=wanted.unit,
        sort=wanted.sort,
        direction=wanted.direction,
        page=wanted.page,
        per_page=wanted.per_page,
    )
    return SoftwareList(
        total=found.total,
        page=found.page,
        per_page=found.per_page,
        pages=found.pages,
        items=[_title_out(t) for t in found.items],
    )


@router.get(
    "/software/versions",
    response_model=SoftwareTitleOut,
    responses={404: {"description": "No host in your scope has this title."}},
)
def software_versions(
    principal: PrincipalDep, session: SessionDep, wanted: Annotated[VersionsQuery, Query()]
) -> SoftwareTitleOut:
    """One title (exact name, case and spacing aside): its versions with host counts, newest first."""
    title = catalogue.software_versions(session, principal, wanted.name, unit=wanted.unit, kind=wanted.kind)
    if title is None:
        raise NotFound("no host in your scope has this title", "unknown_title")
    return _title_out(title)


@router.get("/hardware/models", response_model=HardwareList)
def hardware_models(
    principal: PrincipalDep, session: SessionDep, wanted: Annotated[HardwareQuery, Query()]
) -> HardwareList:
    """Vendor, model and device type of the hosts in your scope, with host counts by unit."""
    found = catalogue.hardware_models(
        session,
        principal,
        q=wanted.q,
        device_type=wanted.device_type,
        unit=wanted.unit,
        sort=wanted.sort,
        direction=wanted.direction,
        page=wanted.page,
        per_page=wanted.per_page,
    )
    return HardwareList(
        total=found.total,
        page=found.page,
        per_page=found.per_page,
        pages=found.pages,
        items=[
            HardwareModelOut(
                vendor=m.vendor,
                model=m.model,
                device_type=m.device_type,
                hosts=m.hosts,
                units=_units_out(m.units),
            )
            for m in found.items
        ],
    )
