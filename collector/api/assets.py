"""Assets without an agent, register fields, tags, moves, retirement, duplicates and merges, imports (issue 4).

Scope (A9-G): a host or unit outside the caller's view answers 404 like a missing one; one
the caller sees but may not change (auditor, inspector) answers 403. Every write is audited.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse

from collector.api.admin import host_out
from collector.api.assets_schemas import (
    AssetIn,
    AssetOut,
    BundleResultOut,
    DuplicateGroupOut,
    DuplicateHostOut,
    ImportResultOut,
    ImportRowOut,
    MergeRequest,
    MoveRequest,
    RegisterPatch,
)
from collector.api.errors import ApiProblem
from collector.db.models import Host
from collector.deps import PrincipalDep, SessionDep, SettingsDep, client_ip
from collector.services import assets, bundles, duplicates, imports
from collector.services.errors import Invalid
from collector.services.tabular import XLSX_MEDIA_TYPE, file_chunks
from collector.settings import Settings
from wire import FieldProblem

__all__ = ["asset_out", "import_result", "router"]

router = APIRouter(prefix="/api/v1", tags=["assets"])

HostId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not change this host or unit."},
    404: {"description": "No such host (or unit) in your scope."},
    409: {"description": "A conflict: merged host, asset number already used in the unit."},
}


def asset_out(host: Host, settings: Settings) -> AssetOut:
    return AssetOut(
        **host_out(host, settings).model_dump(),
        notes=host.notes,
        record_status=host.status,
        retired_at=host.retired_at,
        merged_into_id=host.merged_into_id,
    )


def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise Invalid(f"the file is larger than {limit // 1024 // 1024} MB", "file_too_large")
    return data


@router.patch("/hosts/{host_id}", response_model=AssetOut, responses=_WRITE)
def patch_host(
    host_id: HostId,
    body: RegisterPatch,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> AssetOut:
    """Change register fields (owner, location, asset number, purchase date, device type,
    notes) and tags. Agents never overwrite them."""
    values = body.model_dump(exclude_unset=True, exclude={"tags"})
    for name in ("owner", "location", "asset_number", "device_type", "notes"):
        if name in values and values[name] is None:
            values[name] = ""
    host = assets.update_register(
        session,
        principal,
        host_id,
        values,
        body.tags if "tags" in body.model_fields_set else None,
        client_ip(request),
    )
    return asset_out(host, settings)


@router.post("/hosts/{host_id}/move", response_model=AssetOut, responses=_WRITE)
def move_host(
    host_id: HostId,
    body: MoveRequest,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> AssetOut:
    """Move a host to another unit. You must manage both its unit and the new one."""
    return asset_out(assets.move_host(session, principal, host_id, body.unit, client_ip(request)), settings)


@router.post("/hosts/{host_id}/retire", response_model=AssetOut, responses=_WRITE)
def retire_host(
    host_id: HostId, request: Request, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> AssetOut:
    """Retire a host: kept for the record, hidden from lists (include_retired shows it), its agent refused."""
    return asset_out(assets.retire_host(session, principal, host_id, True, client_ip(request)), settings)


@router.post("/hosts/{host_id}/reactivate", response_model=AssetOut, responses=_WRITE)
def reactivate_host(
    host_id: HostId, request: Request, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> AssetOut:
    """Restore a retired host."""
    return asset_out(assets.retire_host(session, principal, host_id, False, client_ip(request)), settings)


@router.post("/assets", response_model=AssetOut, status_code=201, responses=_WRITE)
def create_asset(
    body: AssetIn, request: Request, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> AssetOut:
    """Add an asset that carries no agent (source "manual"): a printer, a switch, a Windows 7 PC..."""
    new = assets.NewAsset(**body.model_dump())
    return asset_out(assets.create_asset(session, principal, new, client_ip(request)), settings)


@router.get("/duplicates", response_model=list[DuplicateGroupOut])
def list_duplicates(
    principal: PrincipalDep,
    session: SessionDep,
    include_retired: Annotated[bool, Query(description="Also compare retired hosts.")] = False,
) -> list[DuplicateGroupOut]:
    """Groups of hosts in your scope that look like one machine (same hardware UUID, serial
    or burned-in MAC), with the likely reason."""
    return [
        DuplicateGroupOut(
            reason=g.reason,
            matched_on=g.matched_on,
            values=g.values,
            hosts=[
                DuplicateHostOut(
                    id=h.id,
                    hostname=h.hostname,
                    unit_code=h.unit.code,
                    source=h.source,
                    record_status=h.status,
                    asset_number=h.asset_number,
                    serial=h.serial,
                    system_uuid=h.system_uuid,
                    first_seen=h.first_seen,
                    last_seen=h.last_seen,
                )
                for h in g.hosts
            ],
        )
        for g in duplicates.find_duplicates(session, principal, include_retired=include_retired)
    ]


@router.post(
    "/hosts/{host_id}/merge",
    response_model=AssetOut,
    responses={**_WRITE, 422: {"description": "Merging a host into itself."}},
)
def merge_host(
    host_id: HostId,
    body: MergeRequest,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> AssetOut:
    """Merge this host into ``into`` (kept): register fields fill the kept host's empty ones,
    history moves to it, this host's keys are revoked and it is marked merged. Returns the kept host."""
    target = duplicates.merge_hosts(session, principal, host_id, body.into, client_ip(request))
    return asset_out(target, settings)


@router.get(
    "/assets/import-template.xlsx",
    response_class=StreamingResponse,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The import sheet."}},
)
def import_template(
    principal: PrincipalDep, session: SessionDep, lang: Literal["zh-CN", "en"] = "zh-CN"
) -> StreamingResponse:
    """An empty import sheet: headers in Chinese (lang=zh-CN) or English (lang=en), and a help
    sheet with the device types and the units you may import into."""
    handle = imports.template(session, principal, lang)
    name = "asset-import-template.xlsx"
    return StreamingResponse(
        file_chunks(handle),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def import_result(rows: list[imports.RowPlan], dry_run: bool) -> ImportResultOut:
    return ImportResultOut(
        dry_run=dry_run,
        applied=not dry_run,
        created=sum(r.action == "create" for r in rows),
        updated=sum(r.action == "update" for r in rows),
        errors=sum(bool(r.errors) for r in rows),
        rows=[
            ImportRowOut(
                row=r.row,
                action="error" if r.errors and r.action != "skipped" else r.action,
                unit=r.unit,
                asset_number=r.asset_number,
                hostname=r.hostname,
                host_id=r.host_id,
                fields=r.fields,
                errors=r.errors,
            )
            for r in rows
        ],
    )


@router.post(
    "/assets/import",
    response_model=ImportResultOut,
    responses={422: {"description": "Not an XLSX sheet, too large, or rows with errors (nothing written)."}},
)
def import_assets(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="The XLSX sheet (at most 5 MB).")],
    dry_run: Annotated[bool, Form(description="Preview only (the default).")] = True,
    skip_invalid: Annotated[bool, Form(description="Apply the good rows and skip the bad ones.")] = False,
) -> ImportResultOut:
    """Import register rows from an XLSX sheet (the template's or an export's columns), keyed
    by unit and asset number. A dry run previews every row; applying writes all or nothing
    unless skip_invalid is set."""
    data = _read_upload(file, imports.MAX_BYTES)
    try:
        rows = imports.import_sheet(
            session,
            principal,
            data,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            filename=file.filename or "",
            ip=client_ip(request),
        )
    except imports.ImportRejected as exc:
        problems = [
            FieldProblem(location=f"row {r.row}", message="; ".join(r.errors)[:1000])
            for r in exc.rows
            if r.errors
        ]
        raise ApiProblem(422, exc.code, exc.detail, problems) from None
    return import_result(rows, dry_run)


@router.post(
    "/assets/bundle",
    response_model=BundleResultOut,
    responses={
        **_WRITE,
        422: {
            "description": "Not a report or a bundle zip, an unsafe zip, or no agent program on the server."
        },
    },
)
def import_bundle(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[
        UploadFile,
        File(
            description="A .zip of the bundle folder, or the JSON of 'watchpost-agent scan --json --replay'."
        ),
    ],
    unit: Annotated[
        str,
        Form(min_length=1, max_length=32, pattern=r"^[^\x00]*$", description="Unit code of a new record."),
    ],
) -> BundleResultOut:
    """Import the inventory of a PC without the agent from a capture bundle (collect.ps1).
    A record with the same hardware UUID or serial in your scope is updated; otherwise a
    new record of source "bundle" is made in ``unit``."""
    data = _read_upload(file, bundles.MAX_BUNDLE_BYTES)
    result = bundles.import_bundle(
        session, principal, data, unit, filename=file.filename or "", ip=client_ip(request)
    )
    return BundleResultOut(
        created=result.created, status=result.status, host=asset_out(result.host, settings)
    )
