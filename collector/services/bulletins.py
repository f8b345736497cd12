"""Bulletins (通报; issue 5, A9-M3.5, P-16): drafts, issuing, the list, the files.

- A *preview* computes the figures of a unit's subtree for a period without storing anything.
- A *draft* keeps the period, the unit and the wording (title, addressees, remarks); its
  figures are computed whenever it is shown or downloaded.
- *Issuing* freezes it: the figures and the wording go into ``snapshot``, the document gets its
  number (``<prefix>〔<year>〕<n>号``, n counted per issuing unit and calendar year of issue),
  issuer and time are recorded, and the DOCX and XLSX are rendered once and kept byte for
  byte, so the issued document never changes. Audited (``bulletin.issue``). That part lives in
  collector/services/bulletin_issue.py.

Scope (A9-G): a bulletin belongs to its unit; outside the caller's view it answers 404 exactly
like a missing one. City admins draft and issue for any unit (city-wide: the root 341000);
district admins for their own subtree; auditors and inspectors read (403 on writes). The
issuing unit is the highest unit the issuer administers above the bulletin's unit (the city
bureau for a city admin, the county bureau for its admin): its name signs the document and
its prefix numbers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Unit
from collector.db.models_bulletins import Bulletin
from collector.services.audit import record
from collector.services.auth import Principal, ensure_writer
from collector.services.bulletin_config import BulletinConfig, load_config
from collector.services.bulletin_data import BulletinData, DocumentText
from collector.services.bulletin_periods import Period, local_today, parse_period
from collector.services.bulletin_stats import compute
from collector.services.errors import Conflict, Forbidden, Invalid, NotFound
from collector.services.tabular import XLSX_MEDIA_TYPE

__all__ = [
    "DOCX_MEDIA_TYPE",
    "MEDIA_TYPES",
    "BulletinPage",
    "BulletinView",
    "DraftFields",
    "audit",
    "bulletin_for_read",
    "create_draft",
    "default_addressees",
    "default_title",
    "delete_draft",
    "document_text",
    "draft_for_write",
    "issuer_unit",
    "list_bulletins",
    "preview",
    "unit_for_read",
    "update_draft",
    "view",
    "view_now",
]

DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MEDIA_TYPES = {"docx": DOCX_MEDIA_TYPE, "xlsx": XLSX_MEDIA_TYPE}
_ADMIN_ROLES = ("city_admin", "district_admin")


# -- scope ----------------------------------------------------------------------------------------
def unit_for_read(session: Session, principal: Principal, code: str | None) -> Unit:
    """The unit a bulletin reports on; by default the caller's top unit (the city for city admins)."""
    if not code:
        code = _default_unit_code(session, principal)
    unit = session.scalar(select(Unit).where(Unit.code == code.strip()))
    if unit is None or not principal.can_see_unit(unit.id):
        raise NotFound(f"no unit with code {code[:40]!r}", "unknown_unit")
    return unit


def _default_unit_code(session: Session, principal: Principal) -> str:
    if principal.city_wide:
        root = session.scalar(select(Unit.code).where(Unit.parent_id.is_(None)).order_by(Unit.sort_order))
        return root or ""
    units = {unit_id for _role, unit_id in principal.roles}
    top = session.scalars(select(Unit).where(Unit.id.in_(units)).order_by(Unit.sort_order, Unit.code)).first()
    return top.code if top else ""


def _unit_for_write(session: Session, principal: Principal, code: str | None) -> Unit:
    unit = unit_for_read(session, principal, code)
    ensure_writer(principal)
    if not principal.can_manage_unit(unit.id):
        raise Forbidden(f"unit {unit.code} is outside your management scope", "unit_out_of_scope")
    return unit


def bulletin_for_read(session: Session, principal: Principal, bulletin_id: int) -> Bulletin:
    bulletin = session.get(Bulletin, bulletin_id)
    if bulletin is None or not principal.can_see_unit(bulletin.unit_id):
        raise NotFound(f"no bulletin {bulletin_id}", "unknown_bulletin")
    return bulletin


def _bulletin_for_write(session: Session, principal: Principal, bulletin_id: int) -> Bulletin:
    bulletin = bulletin_for_read(session, principal, bulletin_id)
    ensure_writer(principal)
    if not principal.can_manage_unit(bulletin.unit_id):
        raise Forbidden("your role may not change this bulletin")
    return bulletin


def draft_for_write(session: Session, principal: Principal, bulletin_id: int) -> Bulletin:
    bulletin = _bulletin_for_write(session, principal, bulletin_id)
    if bulletin.status != "draft":
        raise Conflict(f"bulletin {bulletin_id} was issued as {bulletin.doc_number}", "already_issued")
    return bulletin


def issuer_unit(session: Session, principal: Principal, unit: Unit) -> Unit:
    """The highest unit the caller administers on the path from the root down to ``unit``."""
    chain: list[Unit] = []
    current: Unit | None = unit
    while current is not None:
        chain.append(current)
        current = current.parent
    admin_units = {unit_id for role, unit_id in principal.roles if role in _ADMIN_ROLES}
    return next((u for u in reversed(chain) if u.id in admin_units), unit)


# -- wording --------------------------------------------------------------------------------------
def _is_city_wide(unit: Unit) -> bool:
    return unit.parent_id is None


def default_title(config: BulletinConfig, unit: Unit, period: Period) -> str:
    template = config.document.title_city if _is_city_wide(unit) else config.document.title_unit
    return template.format(period=period.label_zh, unit=unit.name_zh)[:255]


def default_addressees(config: BulletinConfig, unit: Unit, issuer: Unit) -> str:
    """City-wide: the bureaus; a unit's own bulletin: its offices; a higher unit reporting on one
    unit (the city on a county): that unit."""
    doc = config.document
    if _is_city_wide(unit):
        return doc.addressees_city
    return doc.addressees_unit if issuer.id == unit.id else f"{unit.name_zh}："


def document_text(config: BulletinConfig, bulletin: Bulletin, issuer: Unit, now: datetime) -> DocumentText:
    settings = config.document.issuers.get(issuer.code)
    name = settings.name if settings else issuer.name_zh
    return DocumentText(
        title=bulletin.title,
        addressees=bulletin.addressees,
        remarks=bulletin.remarks,
        closing=list(config.document.closing),
        issuer_name=name,
        header=(settings.header if settings and settings.header else name),
        red_header=config.document.red_header,
        doc_number=bulletin.doc_number,
        number_prefix=settings.number_prefix if settings else config.document.default_number_prefix,
        signed_on=local_today(now),
    )


# -- previews and drafts --------------------------------------------------------------------------
def _started(period: Period, now: datetime) -> Period:
    if period.start > local_today(now):
        raise Invalid(f"the period {period.key} has not started yet", "period_in_future")
    return period


def preview(
    session: Session,
    principal: Principal,
    period_key: str,
    unit_code: str | None,
    now: datetime | None = None,
) -> BulletinData:
    """The figures of a bulletin, computed now and stored nowhere."""
    now = now or utcnow()
    unit = unit_for_read(session, principal, unit_code)
    period = _started(parse_period(period_key), now)
    return compute(session, unit, period, load_config().score, now)


@dataclass(frozen=True)
class DraftFields:
    title: str | None = None
    addressees: str | None = None
    remarks: str | None = None


def create_draft(
    session: Session,
    principal: Principal,
    period_key: str,
    unit_code: str | None,
    fields: DraftFields,
    ip: str = "",
) -> Bulletin:
    now = utcnow()
    unit = _unit_for_write(session, principal, unit_code)
    period = _started(parse_period(period_key), now)
    config = load_config()
    bulletin = Bulletin(
        unit_id=unit.id,
        period_kind=period.kind,
        period_key=period.key,
        period_start=period.start,
        period_end=period.end,
        status="draft",
        title=(fields.title or "").strip() or default_title(config, unit, period),
        addressees=(
            fields.addressees
            if fields.addressees is not None
            else default_addressees(config, unit, issuer_unit(session, principal, unit))
        ),
        remarks=(fields.remarks or "").strip(),
        issuer_unit_id=issuer_unit(session, principal, unit).id,
        created_by_id=principal.user_id,
        created_by=principal.username,
        created_at=now,
        updated_at=now,
    )
    session.add(bulletin)
    session.flush()
    audit(session, principal, "bulletin.draft", unit, {"bulletin": bulletin.id, "period": period.key}, ip)
    session.commit()
    return bulletin


def update_draft(
    session: Session, principal: Principal, bulletin_id: int, fields: DraftFields, ip: str = ""
) -> Bulletin:
    bulletin = draft_for_write(session, principal, bulletin_id)
    changed = []
    for name in ("title", "addressees", "remarks"):
        value = getattr(fields, name)
        if value is not None and value.strip() != getattr(bulletin, name):
            if name == "title" and not value.strip():
                continue
            setattr(bulletin, name, value.strip())
            changed.append(name)
    if changed:
        bulletin.updated_at = utcnow()
        detail = {"bulletin": bulletin.id, "changed": changed}
        audit(session, principal, "bulletin.update", bulletin.unit, detail, ip)
    session.commit()
    return bulletin


def delete_draft(session: Session, principal: Principal, bulletin_id: int, ip: str = "") -> None:
    bulletin = draft_for_write(session, principal, bulletin_id)
    detail = {"bulletin": bulletin.id, "period": bulletin.period_key, "title": bulletin.title[:80]}
    audit(session, principal, "bulletin.delete", bulletin.unit, detail, ip)
    session.delete(bulletin)
    session.commit()


def audit(
    session: Session, principal: Principal, action: str, unit: Unit, detail: dict[str, object], ip: str
) -> None:
    # The target is the unit, so that the unit's admins and auditors see it in their audit log.
    record(session, principal.username, action, f"unit:{unit.code}", dict(detail), ip, principal.user_id)


# -- reading --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BulletinView:
    """A bulletin with its figures and wording: frozen ones when issued, computed now for a draft."""

    bulletin: Bulletin
    data: BulletinData
    document: DocumentText


def view(
    session: Session, principal: Principal, bulletin_id: int, now: datetime | None = None
) -> BulletinView:
    bulletin = bulletin_for_read(session, principal, bulletin_id)
    return view_now(session, bulletin, now or utcnow())


def view_now(session: Session, bulletin: Bulletin, now: datetime) -> BulletinView:
    if bulletin.status == "issued" and bulletin.snapshot:
        return BulletinView(
            bulletin,
            BulletinData.model_validate(bulletin.snapshot["data"]),
            DocumentText.model_validate(bulletin.snapshot["document"]),
        )
    config = load_config()
    data = compute(session, bulletin.unit, parse_period(bulletin.period_key), config.score, now)
    return BulletinView(bulletin, data, document_text(config, bulletin, bulletin.issuer_unit, now))


@dataclass(frozen=True)
class BulletinPage:
    total: int
    items: list[Bulletin]


def list_bulletins(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    unit_code: str | None = None,
    year: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> BulletinPage:
    """Newest first (issued by issue time, drafts by creation), in the caller's scope."""
    query = select(Bulletin)
    if principal.visible_units is not None:
        query = query.where(Bulletin.unit_id.in_(principal.visible_units))
    if status:
        query = query.where(Bulletin.status == status)
    if unit_code:
        query = query.where(Bulletin.unit_id == unit_for_read(session, principal, unit_code).id)
    if year:
        query = query.where(Bulletin.period_start.between(date(year, 1, 1), date(year, 12, 31)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = query.order_by(func.coalesce(Bulletin.issued_at, Bulletin.created_at).desc(), Bulletin.id.desc())
    items = list(session.scalars(query.offset((page - 1) * per_page).limit(per_page)))
    return BulletinPage(total, items)
