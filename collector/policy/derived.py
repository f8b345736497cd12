"""Sections the collector derives itself, checked by policy packs like the agents' sections.

``vpn_register`` (issue 6; A9-T2.1, A9-T2.3, A9-T1): a VPN server's accounts as the city's
register knows them - from the agent's ``vpn`` section, an appliance's imported user list or its
syslog - with owner status from the staff roster and the last login from every source, plus the
server's recent ``vpn.*`` events (brute force, a login after a burst of failures). No agent sends
it: :func:`collector.services.vpn_register.register_document` builds it from the database when a
check needs it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DERIVED_SECTIONS", "RegisterAccount", "RegisterEvent", "VpnRegisterFacts"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterAccount(_Model):
    server: str = Field(description="The VPN server (a daemon on the host, or the appliance's name).")
    account: str = Field(description="The account name.")
    source: Literal["agent", "import", "syslog"] = Field(
        description="Where the register has it from: the agent's vpn section, an imported user list, "
        "or only the appliance's syslog."
    )
    account_type: str = Field(default="user", description="user, psk, certificate, peer, system.")
    status: str = Field(
        default="unknown", description="active, locked, revoked, expired, disabled or unknown."
    )
    present: bool = Field(description="Still in the latest account list of its source.")
    full_name: str = Field(default="", description="Name the store or list gives.")
    owner: str = Field(default="", description="The matched person of the staff roster ('' if none).")
    owner_status: Literal["active", "left", "unknown"] = Field(
        default="unknown", description="The owner's status in the roster; unknown when not matched."
    )
    weak: bool | None = Field(default=None, description="The agent found its password weak.")
    last_login: datetime | None = Field(default=None, description="Last successful login known.")
    days_since_login: int | None = Field(
        default=None, description="Whole days since the last login; null when none is known."
    )
    never_used: bool = Field(description="No login of it was ever seen.")
    server_has_logins: bool = Field(
        description="Logins of this server reach the collector at all (some account of it has one): "
        "without that, 'never used' says nothing."
    )
    days_known: int = Field(
        description="Whole days since the account exists (the list's creation date, else first seen)."
    )


class RegisterEvent(_Model):
    kind: str = Field(description="Event kind, e.g. vpn.bruteforce, vpn.success_after_failures.")
    occurred_at: datetime = Field(description="When it happened.")
    severity: str = Field(description="info, low, medium, high, critical.")
    server: str = Field(default="", description="The VPN server.")
    account: str = Field(default="", description="The account concerned ('' for a spray over many).")
    src_ip: str = Field(default="", description="The source address ('' when several).")
    summary: str = Field(default="", description="What happened, in words.")


class VpnRegisterFacts(_Model):
    accounts: list[RegisterAccount] = Field(
        default_factory=list, description="The server's accounts known to the register."
    )
    events: list[RegisterEvent] = Field(
        default_factory=list, description="The host's vpn.* events of the last 30 days, newest first."
    )


DERIVED_SECTIONS: dict[str, type[BaseModel]] = {"vpn_register": VpnRegisterFacts}
