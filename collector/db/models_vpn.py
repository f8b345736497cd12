"""ORM models of the city's VPN account register (issue 6: A9-T2.1, A9-T2.2, A9-T2.3).

- ``StaffMember``: the staff roster, imported from XLSX/CSV (name, unit, active or left); an
  account's owner is matched against it, and "owner left" makes an account a zombie.
- ``VpnAccount``: one account of one VPN server, across the city. ``host_id`` is either a host
  whose agent read the server's stores (source ``agent``), or a VPN appliance the agent cannot
  run on (a Host row with device type ``vpn appliance``) whose user list was imported (source
  ``import``) or whose syslog showed a login (source ``syslog``). No password or hash is ever
  stored: only the verdict categories the agent sent.
- ``VpnLogin``: logins and failures the collector received from appliances by syslog; they
  feed the register's last login and the collector's log analysis.
- ``SyslogTemplate``: a line template an admin made from a sample line, turning an appliance's
  log message into a login, a failure or a logout.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from collector.db.base import Base, JsonDoc, UtcDateTime, utcnow

__all__ = ["StaffMember", "SyslogTemplate", "VpnAccount", "VpnLogin"]


class StaffMember(Base):
    """One person of the roster (在编/离职). ``accounts`` lists VPN account names known to be theirs."""

    __tablename__ = "staff_members"
    __table_args__ = (UniqueConstraint("unit_id", "name", "employee_no", name="uq_staff_unit_name_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    employee_no: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(8), default="active")  # active | left
    left_on: Mapped[date | None] = mapped_column(Date)
    accounts: Mapped[Any] = mapped_column(JsonDoc, default=list)
    notes: Mapped[str] = mapped_column(String(255), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class VpnAccount(Base):
    """One account of one VPN server (a host's daemon or an appliance), with its verdict."""

    __tablename__ = "vpn_accounts"
    __table_args__ = (
        UniqueConstraint("host_id", "server", "account", name="uq_vpn_account"),
        Index("ix_vpn_accounts_unit_present", "unit_id", "present"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    source: Mapped[str] = mapped_column(String(8))  # agent | import | syslog
    server: Mapped[str] = mapped_column(String(128))
    server_kind: Mapped[str] = mapped_column(String(32), default="")  # openvpn ... | sangfor, huawei ...
    store: Mapped[str] = mapped_column(String(255), default="")
    account: Mapped[str] = mapped_column(String(128), index=True)
    account_type: Mapped[str] = mapped_column(String(16), default="user")
    full_name: Mapped[str] = mapped_column(String(128), default="")
    # active | locked | revoked | expired | disabled | unknown
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    secret_form: Mapped[str] = mapped_column(String(16), default="unknown")
    weak: Mapped[bool | None] = mapped_column(Boolean)
    reasons: Mapped[Any] = mapped_column(JsonDoc, default=list)
    check: Mapped[str] = mapped_column(String(16), default="not_applicable")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id", ondelete="SET NULL"))
    owner_match: Mapped[str] = mapped_column(String(16), default="")  # account | name | manual | ''
    present: Mapped[bool] = mapped_column(Boolean, default=True)  # in the latest list of its source
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_on: Mapped[date | None] = mapped_column(Date)  # creation date an appliance list gives
    last_login: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    last_login_source: Mapped[str] = mapped_column(String(8), default="")  # agent | syslog | import
    last_login_ip: Mapped[str] = mapped_column(String(64), default="")


class VpnLogin(Base):
    """A login, failure or logout an appliance reported by syslog: every line received is stored
    (syslog has no resends; ``fingerprint`` is unique per reception, never the message text)."""

    __tablename__ = "vpn_logins"
    __table_args__ = (Index("ix_vpn_logins_host_ts", "host_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    server: Mapped[str] = mapped_column(String(128))
    account: Mapped[str] = mapped_column(String(128), default="", index=True)
    result: Mapped[str] = mapped_column(String(8))  # success | failure | logout
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    src_ip: Mapped[str] = mapped_column(String(64), default="")
    template_id: Mapped[int | None] = mapped_column(ForeignKey("syslog_templates.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SyslogTemplate(Base):
    """A line template for one appliance (or, with ``host_id`` null, for every appliance of a vendor)."""

    __tablename__ = "syslog_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id"), index=True)
    vendor: Mapped[str] = mapped_column(String(32), default="")
    name: Mapped[str] = mapped_column(String(128))
    result: Mapped[str] = mapped_column(String(8))  # success | failure | logout
    template: Mapped[str] = mapped_column(Text)  # the sample line with {user}, {src_ip}... marked
    sample: Mapped[str] = mapped_column(Text)
    pattern: Mapped[str] = mapped_column(Text)  # the regular expression made from the template
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    last_matched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
