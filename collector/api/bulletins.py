"""JSON API of the bulletins area (通报; issue 5, A9-M3.5, P-16): preview, drafts, issuing, the
list of bulletins and their DOCX / XLSX.

Scope (A9-G): a bulletin or unit outside the caller's view answers 404 exactly like a missing
one; auditors and inspectors read and get 403 on every write; district admins draft and issue
for their own subtree. Every write and every download is audited.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam

from collector.api.bulletins_schemas import (
    BulletinFileInfo,
    BulletinListOut,
    BulletinOut,
    BulletinSummaryOut,
    DraftIn,
    DraftPatch,
    PeriodKey,
    UnitCode,
)
from collector.db.models_bulletins import Bulletin
from collector.deps import PrincipalDep, SessionDep, client_ip
from collector.services import bulletin_issue, bulletins
from collector.services.bulletin_data import BulletinData, UnitRef
from collector.services.bulletin_periods import parse_period
from collector.services.bulletins import DOCX_MEDIA_TYPE, DraftFields
from collector.services.tabular import XLSX_MEDIA_TYPE

__all__ = ["bulletin_summary", "router"]

router = APIRouter(prefix="/api/v1", tags=["bulletins"])

BulletinId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
_READ: dict[int | str, dict[str, Any]] = {404: {"description": "No such bulletin (or unit) in your scope."}}
_PERIOD: dict[int | str, dict[str, Any]] = {
    **_READ,
    422: {
        "description": "A period that is not a week 2026-W48, a month 2026-11 or a quarter 2026-Q4, or has not begun."
    },
}
_WRITE: dict[int | str, dict[str, Any]] = {
    **_PERIOD,
    403: {"description": "Your role may not change bulletins of this unit."},
    409: {"description": "Issued already (it cannot change), or its period has not ended yet."},
}


def _ref(unit: Any) -> UnitRef:
    return UnitRef(code=unit.code, name_zh=unit.name_zh, name_en=unit.name_en, kind=unit.kind)


def bulletin_summary(bulletin: Bulletin) -> BulletinSummaryOut:
    period = parse_period(bulletin.period_key)
    return BulletinSummaryOut(
        id=bulletin.id,
        status="issued" if bulletin.status == "issued" else "draft",
        unit=_ref(bulletin.unit),
        period_kind=bulletin.period_kind,
        period_key=bulletin.period_key,
        period_label_zh=period.label_zh,
        period_label_en=period.label_en,
        title=bulletin.title,
        doc_number=bulletin.doc_number,
        issuer=_ref(bulletin.issuer_unit),
        created_by=bulletin.created_by,
        created_at=bulletin.created_at,
        issued_by=bulletin.issued_by,
        issued_at=bulletin.issued_at,
        files=[
            BulletinFileInfo(
                kind="docx" if f.kind == "docx" else "xlsx", sha256=f.sha256, size_bytes=f.size_bytes
            )
            for f in bulletin.files
        ],
    )


def _full(shown: bulletins.BulletinView) -> BulletinOut:
    b = shown.bulletin
    return BulletinOut(
        **bulletin_summary(b).model_dump(),
        addressees=b.addressees,
        remarks=b.remarks,
        document=shown.document,
        data=shown.data,
    )


@router.get("/bulletins/preview", response_model=BulletinData, responses=_PERIOD)
def preview(
    principal: PrincipalDep,
    session: SessionDep,
    period: Annotated[PeriodKey, Query(description="2026-W48, 2026-11 or 2026-Q4.")],
    unit: Annotated[UnitCode | None, Query(description="341000 (city-wide) or a unit's code.")] = None,
) -> BulletinData:
    """The figures of a bulletin for a period, computed now and stored nowhere: counts by
    category and severity, new / rectified / open / overdue, agent coverage per unit, the
    ranking of the district/county bureaus."""
    return bulletins.preview(session, principal, period, unit)


@router.get("/bulletins", response_model=BulletinListOut)
def list_bulletins(
    principal: PrincipalDep,
    session: SessionDep,
    status: Literal["draft", "issued"] | None = None,
    unit: Annotated[UnitCode | None, Query(description="Only bulletins of this unit.")] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Periods starting in this year.")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> BulletinListOut:
    """Bulletins in your scope, newest first."""
    found = bulletins.list_bulletins(
        session, principal, status=status, unit_code=unit, year=year, page=page, per_page=per_page
    )
    return BulletinListOut(
        total=found.total, page=page, per_page=per_page, items=[bulletin_summary(b) for b in found.items]
    )


@router.post("/bulletins", response_model=BulletinOut, status_code=201, responses=_WRITE)
def create_draft(
    body: DraftIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> BulletinOut:
    """Save a draft for a period and a unit's subtree (city-wide: 341000)."""
    fields = DraftFields(title=body.title, addressees=body.addressees, remarks=body.remarks)
    draft = bulletins.create_draft(session, principal, body.period, body.unit, fields, client_ip(request))
    return _full(bulletins.view(session, principal, draft.id))


@router.get("/bulletins/{bulletin_id}", response_model=BulletinOut, responses=_READ)
def get_bulletin(bulletin_id: BulletinId, principal: PrincipalDep, session: SessionDep) -> BulletinOut:
    """One bulletin: an issued one exactly as frozen, a draft with its figures computed now."""
    return _full(bulletins.view(session, principal, bulletin_id))


@router.patch("/bulletins/{bulletin_id}", response_model=BulletinOut, responses=_WRITE)
def update_draft(
    bulletin_id: BulletinId, body: DraftPatch, request: Request, principal: PrincipalDep, session: SessionDep
) -> BulletinOut:
    """Change a draft's title, addressees or remarks (409 once issued)."""
    fields = DraftFields(title=body.title, addressees=body.addressees, remarks=body.remarks)
    bulletins.update_draft(session, principal, bulletin_id, fields, client_ip(request))
    return _full(bulletins.view(session, principal, bulletin_id))


@router.delete("/bulletins/{bulletin_id}", status_code=204, response_class=Response, responses=_WRITE)
def delete_draft(
    bulletin_id: BulletinId, request: Request, principal: PrincipalDep, session: SessionDep
) -> Response:
    """Delete a draft (an issued bulletin is kept for ever: 409)."""
    bulletins.delete_draft(session, principal, bulletin_id, client_ip(request))
    return Response(status_code=204)


@router.post("/bulletins/{bulletin_id}/issue", response_model=BulletinOut, responses=_WRITE)
def issue(
    bulletin_id: BulletinId, request: Request, principal: PrincipalDep, session: SessionDep
) -> BulletinOut:
    """Issue a draft: its figures and wording are frozen, it gets its document number, the
    DOCX and XLSX are rendered once and kept. Only after its period has ended."""
    bulletin_issue.issue(session, principal, bulletin_id, client_ip(request))
    return _full(bulletins.view(session, principal, bulletin_id))


def _download(found: bulletin_issue.BulletinFileOut) -> Response:
    disposition = (
        f"attachment; filename=\"{found.ascii_filename}\"; filename*=UTF-8''{quote(found.filename, safe='')}"
    )
    headers = {
        "Content-Disposition": disposition,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(found.content, media_type=found.media_type, headers=headers)


@router.get(
    "/bulletins/{bulletin_id}/docx",
    response_class=Response,
    responses={200: {"content": {DOCX_MEDIA_TYPE: {}}, "description": "The official document."}, **_READ},
)
def download_docx(
    bulletin_id: BulletinId, request: Request, principal: PrincipalDep, session: SessionDep
) -> Response:
    """The bulletin as an official document (GB/T 9704 layout): byte for byte the one kept when
    it was issued; a draft is rendered now, its number left blank."""
    return _download(
        bulletin_issue.bulletin_file(session, principal, bulletin_id, "docx", client_ip(request))
    )


@router.get(
    "/bulletins/{bulletin_id}/xlsx",
    response_class=Response,
    responses={
        200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The tables, one sheet each."},
        **_READ,
    },
)
def download_xlsx(
    bulletin_id: BulletinId, request: Request, principal: PrincipalDep, session: SessionDep
) -> Response:
    """The bulletin's tables as a workbook (a summary sheet, then one sheet per table)."""
    return _download(
        bulletin_issue.bulletin_file(session, principal, bulletin_id, "xlsx", client_ip(request))
    )
