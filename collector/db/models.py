"""ORM models. API schemas are separate classes (collector/api, wire/).

Aggregates: organisation (Unit), enrollment (EnrollSecret, NodeKey), inventory
(Host, HostSection, HostAddress, HostSoftware, HostChange, HostTag, ReportLog, HostEvent),
people (User, RoleGrant, AuthSession, ApiToken) and the AuditLog.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from collector.db.base import Base, JsonDoc, UtcDateTime, utcnow

__all__ = [
    "AgentConfigOverride",
    "ApiToken",
    "AuditLog",
    "AuthSession",
    "EnrollSecret",
    "Host",
    "HostAddress",
    "HostChange",
    "HostEvent",
    "HostSection",
    "HostSectionHistory",
    "HostSoftware",
    "HostTag",
    "NodeKey",
    "ReportLog",
    "RoleGrant",
    "SoftwareTitle",
    "Unit",
    "User",
]


class Unit(Base):
    """A unit of the organisation tree: city bureau, its computing station, district bureaus,
    their offices (A9-G)."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # city | station | district | county | office
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    parent: Mapped[Unit | None] = relationship(remote_side=[id])


class EnrollSecret(Base):
    """A unit's enrollment secret. Only its SHA-256 is stored; the secret is shown once."""

    __tablename__ = "enroll_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    unit: Mapped[Unit] = relationship()


class Host(Base):
    """One enrolled computer. Summary columns are refreshed from its sections on ingest."""

    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    hostname: Mapped[str] = mapped_column(String(128), index=True)
    os_family: Mapped[str] = mapped_column(String(16), default="")
    os_name: Mapped[str] = mapped_column(String(255), default="")
    os_version: Mapped[str] = mapped_column(String(255), default="")
    architecture: Mapped[str] = mapped_column(String(64), default="")
    kernel: Mapped[str] = mapped_column(String(255), default="")
    memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    cpu_model: Mapped[str] = mapped_column(String(255), default="")
    vendor: Mapped[str] = mapped_column(String(255), default="")
    model: Mapped[str] = mapped_column(String(255), default="")
    serial: Mapped[str] = mapped_column(String(255), default="", index=True)
    system_uuid: Mapped[str] = mapped_column(String(64), default="", index=True)
    agent_version: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | retired | merged
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    state_hash: Mapped[str | None] = mapped_column(String(64))
    enrolled_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    first_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    # Where the record comes from: an enrolled agent, an admin (printers, switches, PCs
    # without the agent), a spreadsheet import, or a capture bundle from collect.ps1.
    source: Mapped[str] = mapped_column(String(16), default="agent")  # agent | manual | import | bundle
    device_type: Mapped[str] = mapped_column(
        String(32), default="", index=True
    )  # desktop, laptop, printer...
    # Register fields that admins fill or import (资产清单).
    owner: Mapped[str] = mapped_column(String(128), default="")
    location: Mapped[str] = mapped_column(String(128), default="")
    asset_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    purchase_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    # Summary columns for lists and exports, refreshed on ingest.
    disk_bytes: Mapped[int | None] = mapped_column(BigInteger)
    primary_ip: Mapped[str] = mapped_column(String(64), default="")
    primary_mac: Mapped[str] = mapped_column(String(64), default="")
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # An admin asked for a new node key; cleared when the agent first uses the new key.
    key_rotation_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id"))

    unit: Mapped[Unit] = relationship()
    addresses: Mapped[list[HostAddress]] = relationship(
        back_populates="host", cascade="all, delete-orphan", order_by="HostAddress.id"
    )
    tags: Mapped[list[HostTag]] = relationship(cascade="all, delete-orphan", order_by="HostTag.tag")


class NodeKey(Base):
    """A host's per-host key (Bearer). Only its SHA-256 is stored."""

    __tablename__ = "node_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    host: Mapped[Host] = relationship()


class HostSection(Base):
    """The current content of one section of one host, plus the outcome of its last read."""

    __tablename__ = "host_sections"

    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # ok | error | skipped
    content_hash: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[Any] = mapped_column(JsonDoc, nullable=True)
    errors: Mapped[Any] = mapped_column(JsonDoc, default=list)
    reason: Mapped[str] = mapped_column(Text, default="")
    collected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class HostSectionHistory(Base):
    """Every version of a section a host reported: the timeline of changes (software
    installed, disk swapped, address changed). A row is added only when the content changes."""

    __tablename__ = "host_section_history"
    __table_args__ = (Index("ix_host_section_history_host_name", "host_id", "name", "recorded_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    name: Mapped[str] = mapped_column(String(32))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[Any] = mapped_column(JsonDoc, nullable=True)
    report_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    collected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AgentConfigOverride(Base):
    """Agent settings a unit changes for itself and its subtree (merged root to leaf)."""

    __tablename__ = "agent_config_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), unique=True)
    values: Mapped[Any] = mapped_column(JsonDoc, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


class HostAddress(Base):
    """IP and MAC addresses of a host's interfaces, for search by address (A9-M3.3)."""

    __tablename__ = "host_addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"), index=True)
    interface: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), default="")
    mac: Mapped[str | None] = mapped_column(String(64), index=True)
    address: Mapped[str | None] = mapped_column(String(64), index=True)
    prefix_length: Mapped[int | None] = mapped_column(Integer)
    scope: Mapped[str] = mapped_column(String(16), default="")

    host: Mapped[Host] = relationship(back_populates="addresses")


class HostSoftware(Base):
    """One installed program of one host, normalised from its software section, so that
    "which hosts have X (version < Y)" is one indexed query (A9-T3.1, A9-M3.1)."""

    __tablename__ = "host_software"
    __table_args__ = (
        Index("ix_host_software_name_version", "name_key", "version_key"),
        Index("ix_host_software_host", "host_id", "name_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    name: Mapped[str] = mapped_column(String(255))
    name_key: Mapped[str] = mapped_column(String(255))  # lower case, spaces collapsed
    version: Mapped[str] = mapped_column(String(255), default="")
    version_key: Mapped[str] = mapped_column(String(255), default="")  # sortable (services/versions.py)
    publisher: Mapped[str] = mapped_column(String(255), default="")
    architecture: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(16), default="")
    kind: Mapped[str] = mapped_column(String(24), default="application")
    scope: Mapped[str] = mapped_column(String(8), default="machine")
    user: Mapped[str] = mapped_column(String(255), default="")
    install_date: Mapped[str] = mapped_column(String(16), default="")
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SoftwareTitle(Base):
    """Every software title seen on any host (a few thousand rows, where host_software has
    millions): a text search finds the titles here, then host_software by its index."""

    __tablename__ = "software_titles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name_key: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class HostChange(Base):
    """One change in a host's inventory, for its timeline: software installed, removed or
    upgraded, a disk, memory or adapter swapped, an address or MAC changed (A9-M3.3)."""

    __tablename__ = "host_changes"
    __table_args__ = (
        Index("ix_host_changes_host_at", "host_id", "at"),
        Index("ix_host_changes_kind_at", "section", "change", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)  # when the agent collected it
    section: Mapped[str] = mapped_column(String(32))
    change: Mapped[str] = mapped_column(String(16))  # added | removed | upgraded | downgraded | changed
    subject: Mapped[str] = mapped_column(String(255))  # software name, "disk sda", "memory", "eth0"...
    old: Mapped[str] = mapped_column(String(255), default="")
    new: Mapped[str] = mapped_column(String(255), default="")
    report_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class HostTag(Base):
    """A free tag on a host (e.g. 内网, 涉密, 直报机), for filters."""

    __tablename__ = "host_tags"
    __table_args__ = (UniqueConstraint("host_id", "tag"), Index("ix_host_tags_tag", "tag"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"), index=True)
    tag: Mapped[str] = mapped_column(String(64))


class ReportLog(Base):
    """Every report received, by its client-made id (idempotency and delivery history)."""

    __tablename__ = "report_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    sections: Mapped[Any] = mapped_column(JsonDoc, default=list)
    size_bytes: Mapped[int] = mapped_column(Integer)
    collected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class HostEvent(Base):
    """An event a host's monitors sent, stored once by its client-made id."""

    __tablename__ = "host_events"
    __table_args__ = (Index("ix_host_events_host_occurred", "host_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[Any] = mapped_column(JsonDoc, default=dict)


class User(Base):
    """An administrator account (argon2id hash; lockout after repeated failures)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Optional second factor (RFC 6238 TOTP); the secret is set when enrolment is confirmed.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_pending: Mapped[str | None] = mapped_column(String(64))  # proposed, not yet confirmed
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # a code is accepted once

    grants: Mapped[list[RoleGrant]] = relationship(back_populates="user", cascade="all, delete-orphan")


class RoleGrant(Base):
    """A role on a unit's subtree: city_admin, district_admin, auditor, inspector."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "unit_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    role: Mapped[str] = mapped_column(String(32))

    user: Mapped[User] = relationship(back_populates="grants")
    unit: Mapped[Unit] = relationship()


class AuthSession(Base):
    """A login session, kept in the database so any collector replica can serve it."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A user's token for automation (Bearer), acting with that user's roles. Hash only."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    user: Mapped[User] = relationship()


class AuditLog(Base):
    """Who did what, when, from where. Append-only for admins."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[Any] = mapped_column(JsonDoc, default=dict)
    ip: Mapped[str] = mapped_column(String(64), default="")


# The other areas' models live in their own modules; importing them here registers their
# tables on Base.metadata wherever the models are loaded (migrations, tests).
from collector.db import (  # noqa: E402,F401
    models_bulletins,
    models_drills,
    models_inbox,
    models_policy,
    models_training,
    models_vpn,
)
