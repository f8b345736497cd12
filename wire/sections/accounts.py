"""Section ``accounts``: local users, administrators, password age, guest (A9-T3.5, A9-T2.3).

No password, hash or other secret is ever part of this section: only facts *about*
passwords (set or not, locked, when last changed, whether it expires).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wire._base import LongText, Name, ShortText, Text, UtcDatetime, WireModel

__all__ = ["AccountCounts", "AccountFacts", "AdminMember", "LocalUser"]

PasswordStatus = Literal["set", "none", "locked", "unknown"]
WellKnown = Literal["", "root", "administrator", "guest", "default_account", "wdag_utility"]
MemberSource = Literal[
    "local", "domain", "azure_ad", "microsoft_account", "well_known", "orphaned", "unknown"
]


class LocalUser(WireModel):
    """One local account as the system records it."""

    name: Name = Field(description="Account name (Windows: localised for the built-ins, e.g. Invité).")
    sid: ShortText = Field(
        default="", description="Windows security identifier (S-1-5-21-...-RID); '' on Linux."
    )
    uid: int | None = Field(default=None, ge=0, description="Linux user id; None on Windows.")
    full_name: ShortText = Field(
        default="", description="Full name (Windows FullName, Linux GECOS first field)."
    )
    description: Text = Field(
        default="", description="Windows account description; Linux the whole GECOS field."
    )
    kind: Literal["human", "system"] = Field(
        description="human: an account a person logs on with (Linux: uid within UID_MIN..UID_MAX of "
        "/etc/login.defs and a login shell; Windows: every local user but DefaultAccount and "
        "WDAGUtilityAccount); system: service and built-in accounts. Flagged, never dropped."
    )
    well_known: WellKnown = Field(
        default="",
        description="Built-in account recognised by its id, not its (localised, renamable) name: Linux uid 0 "
        "(root); Windows RID 500 (administrator), 501 (guest), 503 (default_account), 504 (wdag_utility).",
    )
    enabled: bool | None = Field(
        default=None,
        description="Windows: the account is enabled. Linux: False when the password is locked "
        "(`passwd -S` status L), so no password logon is possible (key-based SSH logons are not covered). "
        "None: unknown.",
    )
    locked_out: bool | None = Field(
        default=None,
        description="Windows: locked out after failed logons (Win32_UserAccount Lockout; Get-LocalUser "
        "does not say, so None there). Always None on Linux (see password_status 'locked').",
    )
    password_status: PasswordStatus = Field(
        default="unknown",
        description="Linux `passwd -S`: set (P), none (NP: logon without any password!), locked (L). "
        "Windows cannot tell whether a password is empty: unknown (see password_required).",
    )
    password_required: bool | None = Field(
        default=None,
        description="Windows PasswordRequired (False: an empty password is allowed). None on Linux.",
    )
    password_last_set: UtcDatetime | None = Field(
        default=None, description="When the password was last changed (Linux: day precision, 00:00 UTC)."
    )
    password_age_days: int | None = Field(
        default=None, ge=0, description="Whole days between password_last_set and the scan."
    )
    password_never_expires: bool | None = Field(
        default=None,
        description="The password never expires (Windows: no PasswordExpires date / flag; Linux: maximum "
        "age empty, -1 or >= 10000 days, the rule chage uses).",
    )
    password_expires: UtcDatetime | None = Field(
        default=None, description="When the password expires, when it does and the source says."
    )
    must_change_password: bool | None = Field(
        default=None, description="Linux: last change recorded as day 0, so it must be changed at next logon."
    )
    user_may_change_password: bool | None = Field(
        default=None, description="Windows UserMayChangePassword / PasswordChangeable."
    )
    account_expires: UtcDatetime | None = Field(
        default=None, description="Windows AccountExpires, when set. (Linux account expiry is not read.)"
    )
    last_logon: UtcDatetime | None = Field(
        default=None, description="Last recorded logon (Windows LastLogon; Linux lastlog/lastlog2)."
    )
    never_logged_on: bool | None = Field(
        default=None,
        description="True: the source records no logon at all; False: a logon is recorded; None: not known "
        "(no source, e.g. the Win32_UserAccount fallback).",
    )
    last_logon_from: ShortText = Field(
        default="", description="Linux: the remote host (or tty when local) of the last logon, from lastlog."
    )
    shell: ShortText = Field(default="", description="Linux login shell ('' on Windows).")
    home: ShortText = Field(default="", description="Linux home directory ('' on Windows).")
    is_admin: bool = Field(default=False, description="Listed among the administrators (see administrators).")


class AdminMember(WireModel):
    """One principal with administrator rights."""

    name: ShortText = Field(
        description="As the source gives it: DOMAIN\\user, PC\\user, a bare SID for an orphaned member; "
        "Linux user name, or %group for a sudoers group grant whose members are unknown."
    )
    sid: ShortText = Field(
        default="", description="Windows SID of the member ('' when unknown and on Linux)."
    )
    uid: int | None = Field(default=None, ge=0, description="Linux uid, when the user is in /etc/passwd.")
    kind: Literal["user", "group", "unknown"] = Field(default="unknown", description="User or group.")
    source: MemberSource = Field(
        default="unknown",
        description="local account; domain (Active Directory); azure_ad (S-1-12-1-...); microsoft_account; "
        "well_known (NT AUTHORITY / BUILTIN principals); orphaned: a SID that no longer resolves to a name "
        "(deleted account or a domain left behind).",
    )
    via: list[ShortText] = Field(
        default_factory=list,
        max_length=16,
        description="Why this member is an administrator: 'Administrators group'; Linux: 'uid 0', "
        "'group sudo', 'sudoers /etc/sudoers.d/x'.",
    )


class AccountCounts(WireModel):
    users: int = Field(default=0, ge=0, description="Local users listed.")
    enabled: int = Field(default=0, ge=0, description="Users with enabled True.")
    human: int = Field(default=0, ge=0, description="Users of kind human.")
    human_enabled: int = Field(default=0, ge=0, description="Human users that are enabled.")
    administrators: int = Field(default=0, ge=0, description="Entries in administrators.")
    password_never_expires: int = Field(
        default=0, ge=0, description="Enabled users whose password never expires."
    )
    no_password: int = Field(default=0, ge=0, description="Users with password_status none (Linux NP).")
    never_logged_on: int = Field(default=0, ge=0, description="Enabled users with never_logged_on True.")


class AccountFacts(WireModel):
    users: list[LocalUser] = Field(
        default_factory=list,
        max_length=5000,
        description="Every local user, sorted by uid (Linux) or name (Windows).",
    )
    administrators_group: ShortText = Field(
        default="",
        description="Windows: the name of the group S-1-5-32-544 on this machine (localised, e.g. "
        "BUILTIN\\Administrateurs). Linux: ''.",
    )
    administrators: list[AdminMember] = Field(
        default_factory=list,
        max_length=1000,
        description="Windows: direct members of S-1-5-32-544 (domain users/groups and orphaned SIDs "
        "included; nested groups not expanded). Linux: uid 0 accounts, members of sudo/wheel/admin, "
        "and whoever sudoers grants ALL commands.",
    )
    guest_enabled: bool | None = Field(
        default=None, description="Windows: the RID 501 guest account is enabled. Linux has none: None."
    )
    counts: AccountCounts = Field(default_factory=AccountCounts, description="Totals over users.")
    sources: list[ShortText] = Field(
        default_factory=list,
        max_length=16,
        description="What was read, e.g. 'Get-LocalUser', 'passwd -S -a'.",
    )
    note: LongText = Field(default="", description="What could not be read, for the admin.")
