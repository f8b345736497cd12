"""API schemas of the bulletins area (issue 5, A9-M3.5, P-16). The figures themselves are the
service's data models (collector/services/bulletin_data.py), shown as they are stored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from collector.services.bulletin_data import BulletinData, DocumentText, UnitRef

__all__ = [
    "BulletinFileInfo",
    "BulletinListOut",
    "BulletinOut",
    "BulletinSummaryOut",
    "DraftIn",
    "DraftPatch",
    "PeriodKey",
    "UnitCode",
]

PeriodKey = Annotated[
    str,
    StringConstraints(min_length=6, max_length=8, pattern=r"^\d{4}-([Ww]\d{1,2}|[Qq][1-4]|\d{1,2})$"),
]
UnitCode = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[^\x00]*$")]
_Title = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\x00\r\n]*$")]
_Addressees = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00\r\n]*$")]
_Remarks = Annotated[str, StringConstraints(max_length=4000, pattern=r"^[^\x00]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DraftIn(_Strict):
    """A new draft. Title and addressees default to the configured wording for the unit."""

    period: PeriodKey = Field(description="2026-W48 (ISO week), 2026-11 (month) or 2026-Q4 (quarter).")
    unit: UnitCode | None = Field(
        default=None,
        description="The unit whose subtree it covers (341000: city-wide). Default: your top unit.",
    )
    title: _Title | None = None
    addressees: _Addressees | None = Field(default=None, description="主送机关, e.g. 各县、区统计局：")
    remarks: _Remarks | None = Field(default=None, description="Your own paragraphs, one per line.")


class DraftPatch(_Strict):
    """Changes to a draft's wording; fields left out stay as they are."""

    title: _Title | None = None
    addressees: _Addressees | None = None
    remarks: _Remarks | None = None


class BulletinFileInfo(BaseModel):
    kind: Literal["docx", "xlsx"]
    sha256: str
    size_bytes: int


class BulletinSummaryOut(BaseModel):
    id: int
    status: Literal["draft", "issued"]
    unit: UnitRef
    period_kind: str
    period_key: str
    period_label_zh: str
    period_label_en: str
    title: str
    doc_number: str | None = Field(description="黄统网安通〔2026〕3号 once issued.")
    issuer: UnitRef = Field(description="The unit in whose name it is (or will be) issued.")
    created_by: str
    created_at: datetime
    issued_by: str
    issued_at: datetime | None
    files: list[BulletinFileInfo] = Field(description="The kept DOCX and XLSX of an issued bulletin.")


class BulletinOut(BulletinSummaryOut):
    addressees: str
    remarks: str
    document: DocumentText = Field(description="The wording as it appears in the document.")
    data: BulletinData = Field(description="The figures: frozen when issued, computed now for a draft.")


class BulletinListOut(BaseModel):
    total: int
    page: int
    per_page: int
    items: list[BulletinSummaryOut]
