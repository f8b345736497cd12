"""JSON API of the training ledger (A9-M2.3) and the year's overview (A9-M2.3, A9-M4.2).

Scope (A9-G): a training is visible to whoever sees its organising unit, a participating unit
or an attendee's unit, cut to their scope; outside it a training answers 404 like a missing
one. Changes need the organising unit's admin (403 for read-only roles). Every write is audited.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse

from collector.api.errors import ApiProblem
from collector.api.trainings_schemas import (
    AnnualOut,
    AnnualTotalsOut,
    AnnualUnitOut,
    AttendanceResultOut,
    AttendanceRowOut,
    AttendeeIn,
    AttendeeOut,
    MaterialOut,
    TrainingIn,
    TrainingListOut,
    TrainingOut,
    TrainingPatch,
    UnitRefOut,
)
from collector.db.models import Unit
from collector.db.models_training import Training, TrainingMaterial
from collector.deps import PrincipalDep, SessionDep, client_ip
from collector.services import annual, trainings
from collector.services import training_attendance as attendance
from collector.services.auth import Principal
from collector.services.errors import Invalid
from collector.services.tabular import XLSX_MEDIA_TYPE, file_chunks
from wire import FieldProblem

__all__ = ["annual_out", "attendance_result", "download_headers", "router", "training_out"]

router = APIRouter(prefix="/api/v1", tags=["trainings"])

TrainingId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
ItemId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
Year = Annotated[int, PathParam(ge=annual.MIN_YEAR, le=annual.MAX_YEAR, description="The calendar year.")]
_READ: dict[int | str, dict[str, Any]] = {404: {"description": "No such training in your scope."}}
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not change this training (read-only, or another unit's)."},
    404: {"description": "No such training (or unit, attendee, file) in your scope."},
    409: {"description": "A conflict: the attendee is already listed, too many files."},
}


def _unit(unit: Unit) -> UnitRefOut:
    return UnitRefOut(code=unit.code, name_zh=unit.name_zh, name_en=unit.name_en)


def _material(training: Training, material: TrainingMaterial) -> MaterialOut:
    return MaterialOut(
        id=material.id,
        filename=material.filename,
        content_type=material.content_type,
        size=material.size,
        sha256=material.sha256,
        uploaded_by=material.uploaded_by,
        uploaded_at=material.uploaded_at,
        url=f"/api/v1/trainings/{training.id}/materials/{material.id}",
    )


def training_out(training: Training, principal: Principal) -> TrainingOut:
    attendees = trainings.shown_attendees(principal, training)
    return TrainingOut(
        id=training.id,
        held_on=training.held_on,
        topic=training.topic,
        kind=training.kind,
        unit=_unit(training.unit),
        trainer=training.trainer,
        location=training.location,
        hours=training.hours,
        notes=training.notes,
        units=[_unit(u) for u in trainings.shown_units(principal, training)],
        attendees=[
            AttendeeOut(
                id=a.id,
                name=a.name,
                unit=_unit(a.unit),
                username=a.user.username if a.user else None,
                hours=a.hours,
                attended=a.attended,
            )
            for a in attendees
        ],
        attended_count=sum(a.attended for a in attendees),
        materials=[_material(training, m) for m in training.materials],
        editable=not principal.read_only and principal.can_manage_unit(training.unit_id),
        created_by=training.created_by,
        created_at=training.created_at,
        updated_at=training.updated_at,
    )


def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise Invalid(f"the file is larger than {limit // 1024 // 1024} MB", "file_too_large")
    return data


def download_headers(filename: str) -> dict[str, str]:
    """Always a download (never shown inline), the name kept in UTF-8 (RFC 6266 / 5987)."""
    fallback = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in filename) or "file"
    return {
        "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    }


# -- routes without a training id first (they would match /trainings/{training_id}) ----------
@router.get("/trainings", response_model=TrainingListOut)
def list_trainings(
    principal: PrincipalDep,
    session: SessionDep,
    year: Annotated[int | None, Query(ge=annual.MIN_YEAR, le=annual.MAX_YEAR)] = None,
    unit: Annotated[str, Query(max_length=128, pattern=r"^[^\x00]*$", description="Unit code")] = "",
    kind: Literal["technical", "awareness", "other", ""] = "",
    q: Annotated[
        str, Query(max_length=128, pattern=r"^[^\x00]*$", description="Text in topic or trainer")
    ] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TrainingListOut:
    """Trainings in your scope, newest first; ``unit`` keeps those it organised or took part in."""
    found = trainings.list_trainings(
        session, principal, year=year, unit=unit, kind=kind, text=q.strip(), page=page, per_page=per_page
    )
    return TrainingListOut(
        total=found.total,
        page=page,
        per_page=per_page,
        items=[training_out(t, principal) for t in found.items],
    )


@router.post("/trainings", response_model=TrainingOut, status_code=201, responses=_WRITE)
def create_training(
    body: TrainingIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> TrainingOut:
    """Record a training organised by a unit you manage, with its participating units and attendees."""
    fields = trainings.TrainingFields(**body.model_dump(exclude={"attendees"}))
    people = [trainings.NewAttendee(**a.model_dump()) for a in body.attendees]
    training = trainings.create_training(session, principal, fields, people, client_ip(request))
    return training_out(training, principal)


@router.get(
    "/trainings/attendance-template.xlsx",
    response_class=StreamingResponse,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The attendance sheet."}},
)
def attendance_template(
    principal: PrincipalDep, session: SessionDep, lang: Literal["zh-CN", "en"] = "zh-CN"
) -> StreamingResponse:
    """An empty attendance sheet (姓名, 单位, 学时, 签到, 账号), headers in Chinese or English,
    and a help sheet with the accepted values and the units of your scope."""
    handle = attendance.template(session, principal, lang)
    return StreamingResponse(
        file_chunks(handle),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="attendance-template.xlsx"'},
    )


# -- one training ---------------------------------------------------------------------------------
@router.get("/trainings/{training_id}", response_model=TrainingOut, responses=_READ)
def get_training(training_id: TrainingId, principal: PrincipalDep, session: SessionDep) -> TrainingOut:
    return training_out(trainings.get_training(session, principal, training_id), principal)


@router.patch("/trainings/{training_id}", response_model=TrainingOut, responses=_WRITE)
def patch_training(
    training_id: TrainingId,
    body: TrainingPatch,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> TrainingOut:
    """Change fields; fields left out stay. ``null`` is the same as leaving a field out."""
    values = {
        k: v for k, v in body.model_dump(exclude_unset=True, exclude={"units"}).items() if v is not None
    }
    training = trainings.update_training(
        session, principal, training_id, values, body.units, client_ip(request)
    )
    return training_out(training, principal)


@router.delete("/trainings/{training_id}", status_code=204, responses=_WRITE)
def delete_training(
    training_id: TrainingId, request: Request, principal: PrincipalDep, session: SessionDep
) -> Response:
    """Delete a training with its attendance and files (audited)."""
    trainings.delete_training(session, principal, training_id, client_ip(request))
    return Response(status_code=204)


@router.post(
    "/trainings/{training_id}/attendees", response_model=AttendeeOut, status_code=201, responses=_WRITE
)
def add_attendee(
    training_id: TrainingId, body: AttendeeIn, request: Request, principal: PrincipalDep, session: SessionDep
) -> AttendeeOut:
    new = trainings.NewAttendee(**body.model_dump())
    a = trainings.add_attendee(session, principal, training_id, new, client_ip(request))
    return AttendeeOut(id=a.id, name=a.name, unit=_unit(a.unit), username=a.user.username if a.user else None,
                       hours=a.hours, attended=a.attended)  # fmt: skip


@router.delete("/trainings/{training_id}/attendees/{attendee_id}", status_code=204, responses=_WRITE)
def remove_attendee(
    training_id: TrainingId,
    attendee_id: ItemId,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> Response:
    trainings.remove_attendee(session, principal, training_id, attendee_id, client_ip(request))
    return Response(status_code=204)


def attendance_result(rows: list[attendance.RowPlan], dry_run: bool) -> AttendanceResultOut:
    return AttendanceResultOut(
        dry_run=dry_run,
        applied=not dry_run,
        created=sum(r.action == "create" for r in rows),
        updated=sum(r.action == "update" for r in rows),
        unchanged=sum(r.action == "unchanged" for r in rows),
        errors=sum(bool(r.errors) for r in rows),
        rows=[
            AttendanceRowOut(
                row=r.row,
                action="error" if r.errors and r.action != "skipped" else r.action,
                name=r.name,
                unit=r.unit,
                hours=r.hours,
                attended=r.attended,
                username=r.username,
                errors=r.errors,
            )
            for r in rows
        ],
    )


@router.post(
    "/trainings/{training_id}/attendance/import",
    response_model=AttendanceResultOut,
    responses={
        **_WRITE,
        422: {"description": "Not XLSX/CSV, too large, or rows with errors (nothing written)."},
    },
)
def import_attendance(
    training_id: TrainingId,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="XLSX, or CSV in UTF-8 or GBK (at most 5 MB).")],
    dry_run: Annotated[bool, Form(description="Preview only (the default).")] = True,
    skip_invalid: Annotated[bool, Form(description="Apply the good rows and skip the bad ones.")] = False,
) -> AttendanceResultOut:
    """Import the attendance list (姓名, 单位, 学时, 签到, 账号): a dry run previews every row;
    applying adds or updates attendees (keyed by unit and name), all or nothing unless
    skip_invalid is set."""
    trainings.training_for_write(session, principal, training_id)  # scope before reading the file
    data = _read_upload(file, attendance.MAX_BYTES)
    try:
        rows = attendance.import_attendance(
            session, principal, training_id, data, dry_run=dry_run, skip_invalid=skip_invalid,
            filename=file.filename or "", ip=client_ip(request),
        )  # fmt: skip
    except attendance.AttendanceRejected as exc:
        problems = [
            FieldProblem(location=f"row {r.row}", message="; ".join(r.errors)[:1000])
            for r in exc.rows
            if r.errors
        ]
        raise ApiProblem(422, exc.code, exc.detail, problems[:50]) from None
    return attendance_result(rows, dry_run)


# -- materials ---------------------------------------------------------------------------------------
@router.post(
    "/trainings/{training_id}/materials",
    response_model=MaterialOut,
    status_code=201,
    responses={**_WRITE, 422: {"description": "A file type not accepted, content not matching, too large."}},
)
def add_material(
    training_id: TrainingId,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="PDF, Office, PNG/JPEG or text; at most 20 MB.")],
) -> MaterialOut:
    """Attach a file (slides, handout, scanned sign-in sheet). Its content must match its name."""
    trainings.training_for_write(session, principal, training_id)
    data = _read_upload(file, trainings.MAX_MATERIAL_BYTES)
    material = trainings.add_material(
        session,
        principal,
        training_id,
        file.filename or "",
        data,
        file.content_type or "",
        client_ip(request),
    )
    return _material(material.training, material)


@router.get(
    "/trainings/{training_id}/materials/{material_id}",
    response_class=Response,
    responses={**_READ, 200: {"content": {"application/octet-stream": {}}, "description": "The file."}},
)
def download_material(
    training_id: TrainingId, material_id: ItemId, principal: PrincipalDep, session: SessionDep
) -> Response:
    """Download an attached file (always as an attachment)."""
    material = trainings.get_material(session, principal, training_id, material_id)
    return Response(
        content=material.data, media_type=material.content_type, headers=download_headers(material.filename)
    )


@router.delete("/trainings/{training_id}/materials/{material_id}", status_code=204, responses=_WRITE)
def remove_material(
    training_id: TrainingId,
    material_id: ItemId,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> Response:
    trainings.remove_material(session, principal, training_id, material_id, client_ip(request))
    return Response(status_code=204)


# -- the year's overview ---------------------------------------------------------------------------
def annual_out(data: annual.AnnualOverview) -> AnnualOut:
    t = data.totals
    return AnnualOut(
        year=data.year,
        city_wide=data.city_wide,
        units=[
            AnnualUnitOut(
                unit=_unit(r.unit),
                technical_held=r.technical_held,
                technical_attended=r.technical_attended,
                other_trainings=r.other_trainings,
                drills_completed=r.drills_completed,
                no_training=r.no_training,
                no_drill=r.no_drill,
            )
            for r in data.rows
        ],
        totals=AnnualTotalsOut(
            technical_trainings=t.technical_trainings,
            drills_completed=t.drills_completed,
            units_without_training=t.units_without_training,
            units_without_drill=t.units_without_drill,
            no_training=t.no_training,
            no_drill=t.no_drill,
        ),
    )


@router.get("/annual/{year}", response_model=AnnualOut)
def annual_overview(year: Year, principal: PrincipalDep, session: SessionDep) -> AnnualOut:
    """Per unit of your scope: technical trainings held and attended (A9-M2.3), drills completed
    (A9-M4.2), and flags for units without either; totals for your scope (the city as a whole
    for a city-wide user)."""
    return annual_out(annual.overview(session, principal, year))


@router.get(
    "/annual/{year}/export.xlsx",
    response_class=StreamingResponse,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The overview as a sheet."}},
)
def annual_export(
    year: Year, principal: PrincipalDep, session: SessionDep, lang: Literal["zh-CN", "en"] = "zh-CN"
) -> StreamingResponse:
    """The year's overview as XLSX (a row per unit, the total last)."""
    handle = annual.overview_xlsx(annual.overview(session, principal, year), lang)
    return StreamingResponse(
        file_chunks(handle),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="annual-overview-{year}.xlsx"'},
    )
