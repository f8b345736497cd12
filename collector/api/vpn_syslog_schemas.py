"""API schemas of the VPN appliances' syslog line templates (issue 6: A9-T2.3, A9-T1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "SuggestIn",
    "SuggestOut",
    "TemplateCreate",
    "TemplateOut",
    "TemplatePatch",
    "TemplateTestIn",
    "TemplateTestOut",
]

_NO_NUL = r"^[^\x00]*$"
_Name = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_NO_NUL)]
_Vendor = Annotated[str, StringConstraints(max_length=32, pattern=_NO_NUL)]
_Line = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=_NO_NUL)]
_User = Annotated[str, StringConstraints(max_length=128, pattern=_NO_NUL)]
_Result = Literal["success", "failure", "logout"]
_HostId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemplateCreate(_Strict):
    """A line template. With ``host_id``: for that appliance; without: for every appliance of
    ``vendor`` (city admins only)."""

    host_id: _HostId | None = Field(
        default=None, description="The VPN appliance (a host of device type 'vpn appliance')."
    )
    vendor: _Vendor = Field(
        default="", description="Vendor of a vendor-wide template (matches the hosts' vendor)."
    )
    name: _Name
    result: _Result = Field(description="What a matching line means: success, failure or logout.")
    template: _Line = Field(
        description="The sample line with {user}, {src_ip}, {src_port}, {time}, {*} marked."
    )
    sample: _Line = Field(description="A real line from the appliance; the template must match it.")
    enabled: bool = True


class TemplatePatch(_Strict):
    """Fields to change; a new template, sample or result is tested again."""

    name: _Name | None = None
    vendor: _Vendor | None = Field(default=None, description="Only for vendor-wide templates.")
    result: _Result | None = None
    template: _Line | None = None
    sample: _Line | None = None
    enabled: bool | None = None


class TemplateOut(BaseModel):
    id: int
    host_id: int | None
    hostname: str = Field(description="The appliance's name ('' for a vendor-wide template).")
    vendor: str
    name: str
    result: str
    template: str
    sample: str
    pattern: str = Field(description="The regular expression made from the template.")
    enabled: bool
    matched: int = Field(description="Lines matched so far.")
    last_matched_at: datetime | None
    created_at: datetime


class TemplateTestIn(_Strict):
    template: _Line
    sample: _Line
    result: _Result = "success"


class TemplateTestOut(BaseModel):
    matched: bool
    fields: dict[str, str] = Field(description="user, src_ip, src_port, time as found in the sample.")
    error: str = Field(description="What did not match ('' when it matched).")
    pattern: str = Field(description="The regular expression ('' when the template cannot be compiled).")


class SuggestIn(_Strict):
    sample: _Line = Field(description="A real line from the appliance (with or without its syslog header).")
    user: _User = Field(default="", description="The user name seen in the line (becomes {user}).")


class SuggestOut(BaseModel):
    template: str
    test: TemplateTestOut = Field(
        description="The suggested template tested against the sample (as a login)."
    )
