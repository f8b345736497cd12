"""API schemas of the VPN register (issue 6: A9-T2.1 manage VPN users, A9-T2.3 zombie users).

Nothing here carries a password or a hash: the register holds verdict categories only.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "AccountListOut",
    "AccountOut",
    "AccountPatch",
    "AccountQuery",
    "ApplianceImportOut",
    "ExportQuery",
    "ImportRowOut",
    "StaffImportOut",
    "StaffListOut",
    "StaffOut",
    "SummaryOut",
    "UnitCountOut",
    "UnitRefOut",
]

_NO_NUL = r"^[^\x00]*$"
_Filter = Annotated[str, StringConstraints(max_length=128, pattern=_NO_NUL)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountQuery(_Strict):
    """Filters, sort and page of the register list (also the exports, without the page)."""

    unit: _Filter = Field(default="", description="A unit code: accounts of that unit and its subtree.")
    source: Literal["agent", "import", "syslog", ""] = ""
    host: int | None = Field(default=None, ge=1, le=2_147_483_647, description="A host or appliance id.")
    server: _Filter = Field(default="", description="A server name (exact).")
    weak: Literal["yes", "no", "unknown", ""] = ""
    zombie: Literal["yes", "no", ""] = ""
    reason: Literal["no_login", "never_used", "owner_left", "locked", ""] = ""
    owner_status: Literal["active", "left", "none", ""] = ""
    present: Literal["yes", "no", "all"] = Field(default="yes", description="yes: in the latest list.")
    q: _Filter = Field(default="", description="Text in account, full name, owner, server or host name.")
    sort: Literal["unit", "account", "server", "source", "last_login", "owner"] = "unit"
    direction: Literal["asc", "desc"] = "asc"
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=500)


class ExportQuery(AccountQuery):
    """The list's filters and sort (page and per_page are ignored: the whole list), and the
    language of the headers."""

    lang: Literal["zh-CN", "en"] = "zh-CN"


class UnitRefOut(BaseModel):
    code: str
    name_zh: str
    name_en: str


class AccountOut(BaseModel):
    id: int
    unit: UnitRefOut
    host_id: int
    host_name: str
    source: str = Field(description="agent, import or syslog.")
    server: str
    server_kind: str
    account: str
    account_type: str
    full_name: str
    status: str = Field(description="active, locked, revoked, expired, disabled or unknown.")
    secret_form: str = Field(description="How the store keeps the secret (category only, never the secret).")
    weak: bool | None = Field(description="Weak password (null: not checked).")
    reasons: list[str] = Field(description="Weak-password reason categories.")
    check: str
    owner_id: int | None
    owner_name: str
    owner_status: str = Field(description="active, left, or '' without an owner.")
    owner_match: str = Field(description="account, name, manual or ''.")
    present: bool
    removed_at: datetime | None
    first_seen: datetime
    created_on: date | None
    last_login: datetime | None
    last_login_source: str
    last_login_ip: str
    zombie: bool
    zombie_reasons: list[str] = Field(description="no_login, never_used, owner_left, locked (A9-T2.3).")
    zombie_days: int = Field(description="The unit's threshold in days.")
    findings_url: str


class AccountListOut(BaseModel):
    total: int
    page: int
    per_page: int
    items: list[AccountOut]


class AccountPatch(_Strict):
    """Set the owner by hand (a roster entry's id, or null for none): automatic matching then
    leaves the account alone. ``note`` goes to the audit log."""

    owner_id: int | None = Field(ge=1, le=2_147_483_647)
    note: Annotated[str, StringConstraints(max_length=500, pattern=_NO_NUL)] = ""


class UnitCountOut(BaseModel):
    unit: UnitRefOut
    accounts: int
    weak: int
    zombie: int
    not_checked: int
    reasons: dict[str, int]


class SummaryOut(BaseModel):
    units: list[UnitCountOut]
    accounts: int
    weak: int
    zombie: int
    not_checked: int


class StaffOut(BaseModel):
    id: int
    unit: UnitRefOut
    name: str
    employee_no: str
    status: str = Field(description="active or left.")
    left_on: date | None
    accounts: list[str] = Field(description="VPN account names the roster gives.")
    owned_accounts: int = Field(description="Present accounts matched to this person.")
    notes: str
    updated_at: datetime


class StaffListOut(BaseModel):
    total: int
    page: int
    per_page: int
    items: list[StaffOut]


class ImportRowOut(BaseModel):
    row: int = Field(description="Row number in the file.")
    action: str = Field(description="create, update, unchanged, error or skipped.")
    key: str = Field(description="The person's name, or the account.")
    unit: str
    errors: list[str]
    notes: list[str]


class StaffImportOut(BaseModel):
    dry_run: bool
    applied: bool
    created: int
    updated: int
    unchanged: int
    errors: int
    rows: list[ImportRowOut]
    not_in_file: list[str] = Field(description="Active people of the imported units the file does not list "
                                               "(reported only, never changed), as 'unit code name'.")  # fmt: skip
    ignored: list[str]


class ApplianceImportOut(BaseModel):
    dry_run: bool
    applied: bool
    created: int
    updated: int
    unchanged: int
    errors: int
    rows: list[ImportRowOut]
    vanished: list[str] = Field(description="Accounts the list does not name: marked gone when applied.")
    ignored: list[str] = Field(description="Columns ignored, with why (password columns are never read).")
