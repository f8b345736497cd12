"""ORM models of the bulletins area (通报; issue 5, A9-M3.5, P-16). See collector/db/models.py
for the shared ones (Unit, User).

- Bulletin: a bulletin for one period (week, month, quarter) of one unit's subtree (the city
  root 341000 for a city-wide one). A *draft* keeps only its parameters and wording; its figures
  are computed whenever it is shown. *Issuing* freezes it: the figures go into ``snapshot``
  (JSON), the document gets its number (``<prefix>〔<year>〕<seq>号``, counted per issuing unit
  and year), and the rendered DOCX and XLSX are kept byte for byte in BulletinFile, so an
  issued bulletin never changes and downloads identically for ever.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from collector.db.base import Base, JsonDoc, UtcDateTime, utcnow
from collector.db.models import Unit

__all__ = ["Bulletin", "BulletinFile"]


class Bulletin(Base):
    """One bulletin (通报), draft or issued."""

    __tablename__ = "bulletins"
    __table_args__ = (
        # The document number is unique per issuing unit and year (NULL while a draft).
        UniqueConstraint("issuer_unit_id", "doc_year", "doc_seq", name="uq_bulletins_issuer_year_seq"),
        Index("ix_bulletins_unit_status", "unit_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))  # the subtree it reports on
    period_kind: Mapped[str] = mapped_column(String(8))  # week | month | quarter
    period_key: Mapped[str] = mapped_column(String(16))  # 2026-W48 | 2026-11 | 2026-Q4
    period_start: Mapped[date] = mapped_column(Date)  # first day (Asia/Shanghai calendar)
    period_end: Mapped[date] = mapped_column(Date)  # last day, inclusive
    status: Mapped[str] = mapped_column(String(8), default="draft", server_default="draft", index=True)
    title: Mapped[str] = mapped_column(String(255))
    addressees: Mapped[str] = mapped_column(String(500), default="", server_default="")
    remarks: Mapped[str] = mapped_column(Text, default="", server_default="")  # the admin's own paragraphs
    # The unit in whose name it is issued (its document numbers, its signature).
    issuer_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    doc_year: Mapped[int | None] = mapped_column(Integer)
    doc_seq: Mapped[int | None] = mapped_column(Integer)
    doc_number: Mapped[str | None] = mapped_column(String(64))
    snapshot: Mapped[Any] = mapped_column(JsonDoc, nullable=True)  # the frozen figures (issued only)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    issued_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)

    unit: Mapped[Unit] = relationship(foreign_keys=[unit_id])
    issuer_unit: Mapped[Unit] = relationship(foreign_keys=[issuer_unit_id])
    files: Mapped[list[BulletinFile]] = relationship(
        back_populates="bulletin", cascade="all, delete-orphan", order_by="BulletinFile.kind"
    )


class BulletinFile(Base):
    """The DOCX or XLSX of an issued bulletin, exactly as rendered when it was issued."""

    __tablename__ = "bulletin_files"
    __table_args__ = (UniqueConstraint("bulletin_id", "kind", name="uq_bulletin_files_bulletin_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bulletin_id: Mapped[int] = mapped_column(ForeignKey("bulletins.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # docx | xlsx
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    bulletin: Mapped[Bulletin] = relationship(back_populates="files")
