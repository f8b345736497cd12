"""Exports of the asset register: XLSX and CSV, streamed (issue 4, A9-M3.3, A9-G).

Every export is limited to the caller's scope, audited, and sent as a download whose name
carries the date (RFC 5987 ``filename*`` in UTF-8, plus an ASCII ``filename``).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from collector.api.exports_schemas import ExportLang, HostExportQuery, LangQuery, SoftwareExportQuery
from collector.deps import PrincipalDep, SessionDep, SettingsDep, client_ip
from collector.services.auth import Principal
from collector.services.exports import (
    Export,
    ExportContext,
    export_host_software,
    export_hosts,
    export_software,
)
from collector.services.tabular import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE
from collector.settings import Settings
from collector.web.i18n import translate

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["exports"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A filter that cannot be applied (e.g. a MAC without 12 hex digits)."},
    401: {"description": "Not logged in."},
    422: {"description": "Malformed query parameters."},
}


def _file(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": what, "content": {media_type: {}}}, **_ERRORS}


def _context(request: Request, principal: Principal, settings: Settings, lang: ExportLang) -> ExportContext:
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    return ExportContext(sessions, principal, settings, lang, partial(translate, lang), client_ip(request))


def _download(export: Export) -> StreamingResponse:
    disposition = (
        f'attachment; filename="{export.ascii_filename}"; '
        f"filename*=UTF-8''{quote(export.filename, safe='')}"
    )
    return StreamingResponse(
        export.chunks,
        media_type=export.media_type,
        headers={
            "Content-Disposition": disposition,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _hosts(
    request: Request,
    principal: Principal,
    session: Session,
    settings: Settings,
    wanted: HostExportQuery,
    fmt: str,
) -> StreamingResponse:
    ctx = _context(request, principal, settings, wanted.lang)
    export = export_hosts(
        session,
        ctx,
        wanted.to_filter(),
        "xlsx" if fmt == "xlsx" else "csv",
        sort=wanted.sort,
        direction=wanted.direction,
    )
    return _download(export)


@router.get(
    "/exports/hosts.xlsx",
    response_class=StreamingResponse,
    responses=_file(XLSX_MEDIA_TYPE, "The asset register as a workbook."),
)
def hosts_xlsx(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    wanted: Annotated[HostExportQuery, Query()],
) -> StreamingResponse:
    """The asset register in the caller's scope as XLSX: every host matching the host list's
    filters (no paging), sorted like the list, in the columns offices use."""
    return _hosts(request, principal, session, settings, wanted, "xlsx")


@router.get(
    "/exports/hosts.csv",
    response_class=StreamingResponse,
    responses=_file(CSV_MEDIA_TYPE, "The asset register as CSV (UTF-8 with BOM)."),
)
def hosts_csv(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    wanted: Annotated[HostExportQuery, Query()],
) -> StreamingResponse:
    """The asset register as CSV (UTF-8 with a BOM, so Excel reads Chinese), streamed."""
    return _hosts(request, principal, session, settings, wanted, "csv")


@router.get(
    "/exports/software.xlsx",
    response_class=StreamingResponse,
    responses=_file(XLSX_MEDIA_TYPE, "The software catalogue as a workbook."),
)
def software_xlsx(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    wanted: Annotated[SoftwareExportQuery, Query()],
) -> StreamingResponse:
    """The software catalogue in scope: title, version, publisher and host count."""
    ctx = _context(request, principal, settings, wanted.lang)
    return _download(export_software(session, ctx, "xlsx", unit=wanted.unit, q=wanted.q, kind=wanted.kind))


@router.get(
    "/exports/software.csv",
    response_class=StreamingResponse,
    responses=_file(CSV_MEDIA_TYPE, "The software catalogue as CSV."),
)
def software_csv(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    wanted: Annotated[SoftwareExportQuery, Query()],
) -> StreamingResponse:
    """The software catalogue in scope as CSV (UTF-8 with a BOM), streamed."""
    ctx = _context(request, principal, settings, wanted.lang)
    return _download(export_software(session, ctx, "csv", unit=wanted.unit, q=wanted.q, kind=wanted.kind))


@router.get(
    "/exports/hosts/{host_id}/software.csv",
    response_class=StreamingResponse,
    responses={
        **_file(CSV_MEDIA_TYPE, "The host's installed programs."),
        404: {"description": "No such host in your scope."},
    },
)
def host_software_csv(
    host_id: Annotated[int, PathParam(ge=1, le=2_147_483_647)],
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    wanted: Annotated[LangQuery, Query()],
) -> StreamingResponse:
    """One host's installed programs as CSV. A host outside your scope is not found."""
    ctx = _context(request, principal, settings, wanted.lang)
    return _download(export_host_software(session, ctx, host_id))
