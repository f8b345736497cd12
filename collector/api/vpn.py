"""JSON API of the city's VPN account register (issue 6: A9-T2.1 manage VPN users, A9-T2.3
zombie users): the register with zombie reasons, its exports, owners set by hand, the staff
roster and its import, and the import of an appliance's user list.

Scope (A9-G): an account, unit or appliance outside the caller's view answers 404 like a
missing one; read-only roles (auditor, inspector) get 403 on every write. Every write is
audited. No password or hash is ever accepted into or returned from the register.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse

from collector.api.errors import ApiProblem
from collector.api.vpn_schemas import (
    AccountListOut,
    AccountOut,
    AccountPatch,
    AccountQuery,
    ApplianceImportOut,
    ExportQuery,
    ImportRowOut,
    StaffImportOut,
    StaffListOut,
    StaffOut,
    SummaryOut,
    UnitCountOut,
    UnitRefOut,
)
from collector.db.base import utcnow
from collector.db.models import Unit
from collector.deps import PrincipalDep, SessionDep, client_ip
from collector.services import vpn_imports, vpn_query
from collector.services.auth import ensure_writer
from collector.services.errors import Invalid
from collector.services.tabular import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, csv_chunks, file_chunks, xlsx_file
from wire import FieldProblem

__all__ = ["account_out", "appliance_result", "router", "staff_result", "vpn_filter"]

router = APIRouter(prefix="/api/v1", tags=["vpn"])

AccountId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
HostId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
_READ: dict[int | str, dict[str, Any]] = {404: {"description": "No such account (or unit) in your scope."}}
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not change this (read-only, or another unit's)."},
    404: {"description": "No such account, roster entry, unit or appliance in your scope."},
    422: {
        "description": "Not XLSX/CSV, too large, not a VPN appliance, or rows with errors (nothing written)."
    },
}


def _unit(unit: Unit) -> UnitRefOut:
    return UnitRefOut(code=unit.code, name_zh=unit.name_zh, name_en=unit.name_en)


def vpn_filter(wanted: AccountQuery) -> vpn_query.VpnFilter:
    return vpn_query.VpnFilter(
        unit=wanted.unit, source=wanted.source, host_id=wanted.host, server=wanted.server, weak=wanted.weak,
        zombie=wanted.zombie, reason=wanted.reason, owner_status=wanted.owner_status, present=wanted.present,
        q=wanted.q.strip(),
    )  # fmt: skip


def account_out(row: vpn_query.AccountRow) -> AccountOut:
    a = row.account
    return AccountOut(
        id=a.id, unit=_unit(row.unit), host_id=a.host_id, host_name=row.host.hostname, source=a.source,
        server=a.server, server_kind=a.server_kind, account=a.account, account_type=a.account_type,
        full_name=a.full_name, status=a.status, secret_form=a.secret_form, weak=a.weak,
        reasons=[str(r) for r in a.reasons or []], check=a.check, owner_id=a.owner_id,
        owner_name=row.owner.name if row.owner else "", owner_status=row.owner.status if row.owner else "",
        owner_match=a.owner_match, present=a.present, removed_at=a.removed_at, first_seen=a.first_seen,
        created_on=a.created_on, last_login=a.last_login, last_login_source=a.last_login_source,
        last_login_ip=a.last_login_ip, zombie=bool(row.reasons), zombie_reasons=row.reasons,
        zombie_days=row.days, findings_url=f"/findings?category=vpn&host={a.host_id}",
    )  # fmt: skip


def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise Invalid(f"the file is larger than {limit // 1024 // 1024} MB", "file_too_large")
    return data


def _rows_out(rows: list[vpn_imports.RowPlan]) -> list[ImportRowOut]:
    return [
        ImportRowOut(
            row=r.row,
            action="error" if r.errors and r.action != "skipped" else r.action,
            key=r.key,
            unit=r.unit,
            errors=r.errors,
            notes=r.notes,
        )
        for r in rows
    ]


def _counts(rows: list[vpn_imports.RowPlan]) -> dict[str, int]:
    return {
        "created": sum(r.action == "create" for r in rows),
        "updated": sum(r.action == "update" for r in rows),
        "unchanged": sum(r.action == "unchanged" for r in rows),
        "errors": sum(bool(r.errors) for r in rows),
    }


def staff_result(result: vpn_imports.StaffResult, dry_run: bool) -> StaffImportOut:
    return StaffImportOut(dry_run=dry_run, applied=not dry_run, **_counts(result.rows), rows=_rows_out(result.rows),
                          not_in_file=[f"{code} {name}" for code, name in result.not_in_file],
                          ignored=result.ignored)  # fmt: skip


def appliance_result(result: vpn_imports.ApplianceResult, dry_run: bool) -> ApplianceImportOut:
    return ApplianceImportOut(dry_run=dry_run, applied=not dry_run, **_counts(result.rows),
                              rows=_rows_out(result.rows), vanished=result.vanished,
                              ignored=result.ignored)  # fmt: skip


def _rejected(exc: vpn_imports.ImportRejected) -> ApiProblem:
    problems = [
        FieldProblem(location=f"row {r.row}", message="; ".join(r.errors)[:1000])
        for r in exc.rows
        if r.errors
    ]
    return ApiProblem(422, exc.code, exc.detail, problems[:50])


# -- the register ---------------------------------------------------------------------------------
@router.get("/vpn/accounts", response_model=AccountListOut, responses=_READ)
def list_accounts(
    principal: PrincipalDep, session: SessionDep, wanted: Annotated[AccountQuery, Query()]
) -> AccountListOut:
    """VPN accounts in your scope with owner, last login, weak verdict and zombie reasons."""
    found = vpn_query.list_accounts(
        session, principal, vpn_filter(wanted), now=utcnow(), sort=wanted.sort, direction=wanted.direction,
        page=wanted.page, per_page=wanted.per_page,
    )  # fmt: skip
    return AccountListOut(total=found.total, page=found.page, per_page=found.per_page,
                          items=[account_out(r) for r in found.items])  # fmt: skip


def _export(principal: PrincipalDep, session: SessionDep, wanted: ExportQuery, fmt: str) -> StreamingResponse:
    now, lang = utcnow(), wanted.lang
    rows = list(vpn_query.export_rows(session, principal, vpn_filter(wanted), now=now, lang=lang,
                                      sort=wanted.sort, direction=wanted.direction))  # fmt: skip
    header = vpn_query.export_header(lang)
    title = "VPN账号清单" if lang == "zh-CN" else "VPN accounts"
    if fmt == "csv":
        chunks, media = csv_chunks(header, rows), CSV_MEDIA_TYPE
    else:
        chunks, media = file_chunks(xlsx_file(title, header, rows)), XLSX_MEDIA_TYPE
    stamp = now.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    name = f"{title}-{stamp}.{fmt}"
    disposition = (
        f"attachment; filename=\"vpn-accounts-{stamp}.{fmt}\"; filename*=UTF-8''{quote(name, safe='')}"
    )
    headers = {
        "Content-Disposition": disposition,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(iter(list(chunks)), media_type=media, headers=headers)


@router.get(
    "/vpn/accounts/export.xlsx",
    response_class=StreamingResponse,
    responses={**_READ, 200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The filtered list."}},
)
def export_xlsx(
    principal: PrincipalDep, session: SessionDep, wanted: Annotated[ExportQuery, Query()]
) -> StreamingResponse:  # fmt: skip
    """The filtered list as a workbook to print for the cleanup (Chinese headers by default)."""
    return _export(principal, session, wanted, "xlsx")


@router.get(
    "/vpn/accounts/export.csv",
    response_class=StreamingResponse,
    responses={**_READ, 200: {"content": {CSV_MEDIA_TYPE: {}}, "description": "The filtered list."}},
)
def export_csv(
    principal: PrincipalDep, session: SessionDep, wanted: Annotated[ExportQuery, Query()]
) -> StreamingResponse:  # fmt: skip
    """The filtered list as CSV (UTF-8 with BOM, opens in Excel)."""
    return _export(principal, session, wanted, "csv")


@router.get("/vpn/accounts/{account_id}", response_model=AccountOut, responses=_READ)
def get_account(account_id: AccountId, principal: PrincipalDep, session: SessionDep) -> AccountOut:
    return account_out(vpn_query.one_account(session, principal, account_id, utcnow()))


@router.patch("/vpn/accounts/{account_id}", response_model=AccountOut, responses=_WRITE)
def patch_account(
    account_id: AccountId, body: AccountPatch, request: Request, principal: PrincipalDep, session: SessionDep
) -> AccountOut:
    """Set the account's owner by hand (``owner_match`` "manual"), or clear it with null."""
    vpn_query.set_owner(session, principal, account_id, body.owner_id, body.note, client_ip(request))
    return account_out(vpn_query.one_account(session, principal, account_id, utcnow()))


@router.get("/vpn/summary", response_model=SummaryOut, responses=_READ)
def get_summary(
    principal: PrincipalDep,
    session: SessionDep,
    unit: Annotated[str, Query(max_length=128, pattern=r"^[^\x00]*$", description="A unit code")] = "",
) -> SummaryOut:
    """Per unit: present accounts, weak, zombie, not checked (A9-T2.2, A9-T2.3)."""
    items = vpn_query.summary(session, principal, utcnow(), unit.strip())
    units = [UnitCountOut(unit=_unit(s.unit), accounts=s.accounts, weak=s.weak, zombie=s.zombie,
                          not_checked=s.not_checked, reasons=s.reasons) for s in items]  # fmt: skip
    return SummaryOut(units=units, accounts=sum(s.accounts for s in items), weak=sum(s.weak for s in items),
                      zombie=sum(s.zombie for s in items), not_checked=sum(s.not_checked for s in items))  # fmt: skip


# -- the roster -----------------------------------------------------------------------------------
@router.get("/vpn/staff", response_model=StaffListOut, responses=_READ)
def list_staff(
    principal: PrincipalDep,
    session: SessionDep,
    unit: Annotated[str, Query(max_length=128, pattern=r"^[^\x00]*$", description="A unit code")] = "",
    status: Literal["active", "left", ""] = "",
    q: Annotated[str, Query(max_length=128, pattern=r"^[^\x00]*$", description="Name or number")] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 100,
) -> StaffListOut:
    """The staff roster in your scope, with how many VPN accounts each person owns."""
    rows, total = vpn_query.list_staff(session, principal, unit=unit.strip(), status=status, q=q.strip(),
                                       page=page, per_page=per_page)  # fmt: skip
    items = [
        StaffOut(
            id=s.id,
            unit=_unit(u),
            name=s.name,
            employee_no=s.employee_no,
            status=s.status,
            left_on=s.left_on,
            accounts=[str(a) for a in s.accounts or []],
            owned_accounts=n,
            notes=s.notes,
            updated_at=s.updated_at,
        )
        for s, u, n in rows
    ]
    return StaffListOut(total=total, page=page, per_page=per_page, items=items)


@router.get(
    "/vpn/staff/template.xlsx",
    response_class=StreamingResponse,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The roster sheet."}},
)
def staff_template(
    principal: PrincipalDep, session: SessionDep, lang: Literal["zh-CN", "en"] = "zh-CN"
) -> StreamingResponse:
    """An empty roster sheet (姓名, 单位, 工号, 状态, 离职日期, VPN账号, 备注) and a help sheet."""
    handle = vpn_imports.staff_template(session, principal, lang)
    return StreamingResponse(
        file_chunks(handle),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="staff-template.xlsx"'},
    )


@router.post("/vpn/staff/import", response_model=StaffImportOut, responses=_WRITE)
def import_staff(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="XLSX, or CSV in UTF-8 or GBK (at most 5 MB).")],
    dry_run: Annotated[bool, Form(description="Preview only (the default).")] = True,
    skip_invalid: Annotated[bool, Form(description="Apply the good rows and skip the bad ones.")] = False,
) -> StaffImportOut:
    """Import the staff roster: a dry run previews every row and lists the active people of the
    imported units that the file does not name (reported, not changed); applying upserts by
    (unit, name, employee number), then matches owners and re-runs the zombie checks."""
    ensure_writer(principal)
    data = _read_upload(file, vpn_imports.MAX_BYTES)
    try:
        result = vpn_imports.import_staff(session, principal, data, dry_run=dry_run, skip_invalid=skip_invalid,
                                          filename=file.filename or "", ip=client_ip(request))  # fmt: skip
    except vpn_imports.ImportRejected as exc:
        raise _rejected(exc) from None
    return staff_result(result, dry_run)


@router.post("/vpn/appliances/{host_id}/accounts/import", response_model=ApplianceImportOut, responses=_WRITE)
def import_appliance_accounts(
    host_id: HostId,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="The appliance's user list: XLSX, or CSV in UTF-8 or GBK.")],
    dry_run: Annotated[bool, Form(description="Preview only (the default).")] = True,
    skip_invalid: Annotated[bool, Form(description="Apply the good rows and skip the bad ones.")] = False,
) -> ApplianceImportOut:
    """Import an appliance's full user list (Sangfor, Huawei USG, H3C, Topsec, Qi-AnXin exports):
    accounts it does not name are marked gone; password columns are never read."""
    vpn_imports.appliance_for_write(session, principal, host_id)  # scope before reading the file
    data = _read_upload(file, vpn_imports.MAX_BYTES)
    try:
        result = vpn_imports.import_appliance_users(
            session, principal, host_id, data, dry_run=dry_run, skip_invalid=skip_invalid,
            filename=file.filename or "", ip=client_ip(request),
        )  # fmt: skip
    except vpn_imports.ImportRejected as exc:
        raise _rejected(exc) from None
    return appliance_result(result, dry_run)
