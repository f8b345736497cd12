"""Issuing a bulletin and its files (通报; issue 5, A9-M3.5, P-16).

Issuing freezes a draft: the figures and the wording go into ``snapshot``, the document gets
its number (``<prefix>〔<year>〕<n>号``: n counts per issuing unit and calendar year of issue,
guarded by a unique constraint and counted again when two issues race), issuer and time are
recorded, the DOCX and XLSX are rendered once and kept byte for byte. The claim is a
conditional UPDATE (``status = 'draft'``), so a bulletin is issued once even when two admins
press the button together. Audited as ``bulletin.issue`` with the files' SHA-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models_bulletins import Bulletin, BulletinFile
from collector.services.auth import Principal
from collector.services.bulletin_config import load_config
from collector.services.bulletin_docx import render_docx
from collector.services.bulletin_periods import local_today, parse_period
from collector.services.bulletin_stats import compute
from collector.services.bulletin_xlsx import render_xlsx
from collector.services.bulletins import (
    MEDIA_TYPES,
    audit,
    bulletin_for_read,
    document_text,
    draft_for_write,
    issuer_unit,
    view_now,
)
from collector.services.errors import Conflict, NotFound

__all__ = ["BulletinFileOut", "bulletin_file", "issue"]

_NUMBER_ATTEMPTS = 5


# -- issuing --------------------------------------------------------------------------------------
def _next_seq(session: Session, issuer_id: int, year: int) -> int:
    found = session.scalar(
        select(func.max(Bulletin.doc_seq)).where(
            Bulletin.issuer_unit_id == issuer_id, Bulletin.doc_year == year
        )
    )
    return int(found or 0) + 1


def issue(session: Session, principal: Principal, bulletin_id: int, ip: str = "") -> Bulletin:
    """Freeze a draft: figures, wording, number, files. 409 when it was issued already or its
    period has not ended yet."""
    for _attempt in range(_NUMBER_ATTEMPTS):
        now = utcnow()
        bulletin = draft_for_write(session, principal, bulletin_id)
        period = parse_period(bulletin.period_key)
        if period.ends_at > now:
            raise Conflict(
                f"the period {period.key} ends on {period.end.isoformat()}: issue its bulletin after that",
                "period_not_over",
            )
        config = load_config()
        issuer = issuer_unit(session, principal, bulletin.unit)
        year = local_today(now).year
        seq = _next_seq(session, issuer.id, year)
        document = document_text(config, bulletin, issuer, now)
        number = f"{document.number_prefix}〔{year}〕{seq}号"
        document = document.model_copy(update={"doc_number": number})
        data = compute(session, bulletin.unit, period, config.score, now)
        files = {"docx": render_docx(data, document), "xlsx": render_xlsx(data, document)}
        snapshot = {"data": data.model_dump(mode="json"), "document": document.model_dump(mode="json")}
        try:
            claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(Bulletin)
                .where(Bulletin.id == bulletin.id, Bulletin.status == "draft")
                .values(
                    status="issued",
                    issuer_unit_id=issuer.id,
                    doc_year=year,
                    doc_seq=seq,
                    doc_number=number,
                    snapshot=snapshot,
                    issued_by_id=principal.user_id,
                    issued_by=principal.username,
                    issued_at=now,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                session.rollback()
                raise Conflict(f"bulletin {bulletin_id} was issued meanwhile", "already_issued")
            for kind, content in files.items():
                session.add(BulletinFile(bulletin_id=bulletin.id, kind=kind, sha256=_sha256(content),
                                         size_bytes=len(content), content=content, created_at=now))  # fmt: skip
            detail = {"bulletin": bulletin.id, "doc_number": number, "period": period.key,
                      "sha256": {k: _sha256(v) for k, v in files.items()}}  # fmt: skip
            audit(session, principal, "bulletin.issue", bulletin.unit, detail, ip)
            session.commit()
        except IntegrityError:
            session.rollback()  # another bulletin took this number: count again
            continue
        session.refresh(bulletin)
        return bulletin
    raise Conflict("could not assign a document number; try again", "number_busy")


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# -- files ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BulletinFileOut:
    content: bytes
    media_type: str
    filename: str
    ascii_filename: str


def bulletin_file(
    session: Session, principal: Principal, bulletin_id: int, kind: str, ip: str = ""
) -> BulletinFileOut:
    """The DOCX or XLSX: as kept when issued; rendered now for a draft. Audited."""
    bulletin = bulletin_for_read(session, principal, bulletin_id)
    if bulletin.status == "issued":
        content = session.scalar(
            select(BulletinFile.content).where(
                BulletinFile.bulletin_id == bulletin.id, BulletinFile.kind == kind
            )
        )
        if content is None:
            raise NotFound(f"bulletin {bulletin_id} has no {kind} file", "no_file")
    else:
        shown = view_now(session, bulletin, utcnow())
        render = render_docx if kind == "docx" else render_xlsx
        content = render(shown.data, shown.document)
    label = bulletin.doc_number or f"草稿{bulletin.id}"
    detail = {"bulletin": bulletin.id, "kind": kind, "status": bulletin.status}
    audit(session, principal, "bulletin.download", bulletin.unit, detail, ip)
    session.commit()
    return BulletinFileOut(
        content=content,
        media_type=MEDIA_TYPES[kind],
        filename=f"{label} {bulletin.title}"[:150] + f".{kind}",
        ascii_filename=f"bulletin-{bulletin.id}-{bulletin.period_key}.{kind}",
    )
