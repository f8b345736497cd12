"""API schemas of findings, their transitions and the inbox (issue 5; A9-M3.5, P-16)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from collector.services.findings_query import FindingFilter

__all__ = [
    "AssignIn",
    "BulkErrorOut",
    "BulkIn",
    "BulkOut",
    "ExemptIn",
    "FindingDetailOut",
    "FindingEventOut",
    "FindingExportQuery",
    "FindingListOut",
    "FindingOut",
    "FindingQuery",
    "InboxItemOut",
    "InboxOut",
    "InboxQuery",
    "NoteIn",
    "OptionalNoteIn",
    "VerifyIn",
]

_NO_NUL = r"^[^\x00]*$"
_Filter = Annotated[str, StringConstraints(max_length=255, pattern=_NO_NUL)]
_Note = Annotated[str, StringConstraints(max_length=4000, pattern=_NO_NUL)]
_Id = Annotated[int, Field(ge=1, le=2_147_483_647)]
Severity = Literal["", "info", "low", "medium", "high", "critical"]
Status = Literal["", "open", "assigned", "rectified", "verified", "closed", "exempted", "live"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FindingQuery(_Strict):
    """Filters, sort and page of the findings list."""

    unit: _Filter = Field(default="", description="A unit code: findings of that unit and its subtree.")
    status: Status = Field(default="", description="A status, or 'live' (every status but closed).")
    severity: Severity = ""
    category: _Filter = Field(default="", description="licensing, antivirus, patches, hardware...")
    check: _Filter = Field(default="", description="A check id, e.g. antivirus.signatures_fresh.")
    host: int | None = Field(default=None, ge=1, le=2_147_483_647, description="A host id.")
    overdue: bool | None = Field(
        default=None, description="true: due date passed while open or assigned; false: the others."
    )
    assignee: Annotated[str, StringConstraints(max_length=12, pattern=r"^(|me|none|[0-9]{1,10})$")] = Field(
        default="", description="A user id, 'me', or 'none' (unassigned)."
    )
    q: _Filter = Field(default="", description="Text in the title, check id, subject or host name.")
    sort: Literal["opened_at", "due_at", "updated_at", "severity", "status", "unit"] = "opened_at"
    direction: Literal["asc", "desc"] = "desc"
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=500)

    @field_validator("assignee")
    @classmethod
    def _user_id(cls, value: str) -> str:
        if value.isdigit() and not 1 <= int(value) <= 2_147_483_647:
            raise ValueError("a user id is 1 to 2147483647")
        return value

    def to_filter(self, user_id: int) -> FindingFilter:
        assignee: int | None = None
        if self.assignee == "me":
            assignee = user_id
        elif self.assignee.isdigit():
            assignee = int(self.assignee)
        return FindingFilter(
            unit=self.unit,
            status=self.status,
            severity=self.severity,
            category=self.category,
            check=self.check,
            host_id=self.host,
            overdue=self.overdue,
            assignee_id=assignee,
            unassigned=self.assignee == "none",
            q=self.q,
        )


class FindingExportQuery(FindingQuery):
    """The list's filters; ``page`` and ``per_page`` are ignored: an export holds every match."""

    lang: Literal["zh-CN", "en"] = Field(default="zh-CN", description="Language of headers and values.")


class ExemptionOut(BaseModel):
    reason: str
    expires_at: datetime | None
    pending: bool = Field(description="Requested, not yet approved.")
    requested_by: str | None = Field(default=None, description="Who asked (while pending, on the detail).")
    approver: str | None = None


class FindingOut(BaseModel):
    id: int
    host_id: int | None = Field(description="Null for a unit-level finding (licences, drills...).")
    hostname: str
    unit_code: str
    unit_name: str
    check_id: str
    subject: str = Field(description="What a unit-level finding is about (e.g. a software title).")
    title_zh: str
    title_en: str
    severity: str
    category: str
    requirements: list[str]
    status: str = Field(description="open, assigned, rectified, verified, closed or exempted.")
    overdue: bool = Field(description="The due date passed while open or assigned.")
    assignee_id: int | None
    assignee: str
    opened_at: datetime
    due_at: datetime
    rectified_at: datetime | None
    verified_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    reopen_count: int
    exemption: ExemptionOut | None


class FindingEventOut(BaseModel):
    id: int
    at: datetime
    actor: str | None = Field(description="User name; null for the system (a report, the periodic task).")
    action: str
    from_status: str
    to_status: str
    note: str
    data: dict[str, Any]


class FindingDetailOut(FindingOut):
    evidence: list[Any] = Field(description="The facts that failed, from the last failing result.")
    timeline: list[FindingEventOut]


class FindingListOut(BaseModel):
    total: int
    page: int
    per_page: int
    items: list[FindingOut]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class NoteIn(_Strict):
    note: Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=_NO_NUL)]


class OptionalNoteIn(_Strict):
    note: _Note = ""


class AssignIn(_Strict):
    assignee_id: _Id = Field(description="A city or district admin managing the finding's unit.")
    note: _Note = ""


class VerifyIn(_Strict):
    accept: bool = Field(default=True, description="false: the claim is rejected (a note is needed).")
    note: _Note = ""


class ExemptIn(_Strict):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=_NO_NUL)]
    expires_at: datetime = Field(
        description="When the exemption ends (at most 366 days ahead; no offset: UTC)."
    )

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _utc(value)


class BulkIn(_Strict):
    action: Literal["assign", "close", "exempt", "approve_exemption"]
    ids: list[_Id] = Field(min_length=1, max_length=500)
    assignee_id: _Id | None = Field(default=None, description="For assign.")
    note: _Note = ""
    reason: _Note = Field(default="", description="For exempt.")
    expires_at: datetime | None = Field(default=None, description="For exempt.")

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)


class BulkErrorOut(BaseModel):
    id: int
    error: str
    detail: str


class BulkOut(BaseModel):
    action: str
    changed: list[int]


class InboxQuery(_Strict):
    unread: bool = Field(default=False, description="Only unread items.")
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=200)
    lang: Literal["zh-CN", "en"] = Field(default="zh-CN", description="Language of the item texts.")


class InboxItemOut(BaseModel):
    id: int
    kind: str
    finding_id: int | None
    severity: str
    text: str = Field(description="In the language asked for (lang).")
    link: str
    created_at: datetime
    read_at: datetime | None


class InboxOut(BaseModel):
    total: int
    unread: int
    page: int
    per_page: int
    items: list[InboxItemOut]
