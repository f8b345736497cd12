"""Exports of the asset register for offices (issue 4, A9-M3.3 资产清单化, A9-G):
the hosts in the columns offices use, the software catalogue, one host's programs.

Scope and filters come from the register query (services/register.py), so an export holds
exactly what the host list shows the same user with the same filters, without paging.

Every export is audited (action, filters, row count) and committed before the first byte
is sent. The rows are then read by a session the export opens itself (the request's session
may be closed before a streamed body ends), in batches (``yield_per``: a server-side cursor
on PostgreSQL; addresses, units and tags loaded per batch), and written as they come: CSV
straight into the response, XLSX into a spooled temporary file that is then streamed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from collector.db.base import utcnow
from collector.db.models import Host, HostSoftware
from collector.services import audit
from collector.services.auth import Principal
from collector.services.errors import NotFound
from collector.services.hosts import host_status
from collector.services.register import SORTS, HostFilter, filtered_hosts
from collector.services.tabular import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, csv_chunks, file_chunks, xlsx_file
from collector.services.versions import name_key
from collector.settings import Settings

__all__ = [
    "HOST_COLUMNS",
    "Export",
    "ExportContext",
    "Format",
    "export_host_software",
    "export_hosts",
    "export_software",
]

Format = Literal["csv", "xlsx"]
#: Rows fetched per round trip; addresses and tags are loaded once per batch.
BATCH = 500
#: Column keys of the asset register, in the order offices use (headers: export.col.<key>).
HOST_COLUMNS = (
    "unit", "owner", "location", "asset_number", "device_type", "model", "serial", "cpu",
    "memory", "disk", "os", "ip", "mac", "first_seen", "last_seen", "status",
    "hostname", "purchase_date", "source", "tags",
)  # fmt: skip
SOFTWARE_COLUMNS = ("title", "version", "publisher", "hosts")
HOST_SOFTWARE_COLUMNS = (
    "title", "version", "publisher", "architecture", "kind", "install_date", "software_first_seen",
)  # fmt: skip
_GIB = 2**30


@dataclass(frozen=True)
class ExportContext:
    """Who exports, how, and where from: what every export needs besides its filters."""

    sessions: sessionmaker[Session]  # the export reads with a session of its own
    principal: Principal
    settings: Settings
    lang: str
    text: Callable[[str], str]  # interface string of a key in ``lang`` (the key itself if unknown)
    ip: str = ""

    def label(self, group: str, value: str) -> str:
        """A stored value in words (``export.<group>.<value>``), or the value as stored."""
        if not value:
            return ""
        key = f"export.{group}.{value}"
        found = self.text(key)
        return value if found == key else found

    def header(self, columns: Sequence[str]) -> list[str]:
        return [self.text(f"export.col.{c}") for c in columns]

    def today(self) -> str:
        return utcnow().astimezone(ZoneInfo(self.settings.display_timezone)).date().isoformat()

    def record(self, session: Session, action: str, target: str, detail: dict[str, Any]) -> None:
        principal = self.principal
        audit.record(
            session,
            principal.username,
            action,
            target,
            {**detail, "lang": self.lang},
            self.ip,
            principal.user_id,
        )
        session.commit()


@dataclass(frozen=True)
class Export:
    """A file to send: its name (may be Chinese), an ASCII name for old clients, the body."""

    filename: str
    ascii_filename: str
    media_type: str
    rows: int
    chunks: Iterator[bytes]


def _write(
    fmt: Format, sheet: str, header: Sequence[str], rows: Iterator[list[Any]]
) -> tuple[str, Iterator[bytes]]:
    if fmt == "csv":
        return CSV_MEDIA_TYPE, csv_chunks(header, rows)
    return XLSX_MEDIA_TYPE, file_chunks(xlsx_file(sheet, header, rows))


def _count(session: Session, query: Select[*tuple[Any, ...]]) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


# -- the asset register ------------------------------------------------------------------------
def _gib(value: int | None) -> float | None:
    return round(value / _GIB, 1) if value else None


def _join(values: Sequence[str]) -> str:
    return "; ".join(dict.fromkeys(v for v in values if v))


def _make_model(vendor: str, model: str) -> str:
    if vendor and model.lower().startswith(vendor.lower()):
        return model
    return " ".join(p for p in (vendor, model) if p)


def _os(name: str, version: str) -> str:
    return name if not version or version in name else f"{name} {version}".strip()


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """Local time of the display zone, without a zone (what a spreadsheet cell holds)."""
    return value.astimezone(zone).replace(tzinfo=None) if value else None


def _host_row(host: Host, ctx: ExportContext, zone: ZoneInfo, now: datetime) -> list[Any]:
    unit = host.unit.name_en if ctx.lang == "en" and host.unit.name_en else host.unit.name_zh
    # the register's address first, then the global addresses of real (not virtual) adapters
    real = [a for a in host.addresses if a.kind not in ("virtual", "loopback")]
    ips = [host.primary_ip, *sorted(a.address for a in real if a.address and a.scope in ("global", ""))]
    macs = [host.primary_mac, *sorted(a.mac for a in real if a.mac)]
    row: list[Any] = [
        unit,
        host.owner,
        host.location,
        host.asset_number,
        ctx.label("device", host.device_type),
        _make_model(host.vendor, host.model),
        host.serial,
        host.cpu_model,
        _gib(host.memory_bytes),
        _gib(host.disk_bytes),
        _os(host.os_name, host.os_version),
        _join(ips),
        _join(macs),
        _local(host.first_seen, zone),
        _local(host.last_seen, zone),
        ctx.text(f"status.{host_status(host, ctx.settings.silent_after_hours, now)}"),
        host.hostname,
        host.purchase_date,
        ctx.label("source", host.source),
        _join([t.tag for t in host.tags]),
    ]
    return [None if value == "" else value for value in row]


def _ordered(query: Select[Any], sort: str, direction: Literal["asc", "desc"]) -> Select[Any]:
    columns = [c.desc() if direction == "desc" else c.asc() for c in SORTS[sort]]
    return query.order_by(*columns, Host.id)


def _host_rows(
    ctx: ExportContext, wanted: HostFilter, sort: str, direction: Literal["asc", "desc"]
) -> Iterator[list[Any]]:
    zone = ZoneInfo(ctx.settings.display_timezone)
    now = utcnow()
    with ctx.sessions() as session:
        query = _ordered(
            filtered_hosts(session, ctx.principal, wanted, ctx.settings.silent_after_hours), sort, direction
        )
        query = query.options(
            selectinload(Host.addresses), selectinload(Host.unit), selectinload(Host.tags)
        ).execution_options(yield_per=BATCH)
        for batch in session.scalars(query).partitions():
            for host in batch:
                yield _host_row(host, ctx, zone, now)


def _filters(wanted: HostFilter) -> dict[str, Any]:
    """The filters that were set (for the audit log)."""
    return {k: v for k, v in asdict(wanted).items() if v not in ("", False, {}, None)}


def export_hosts(
    session: Session,
    ctx: ExportContext,
    wanted: HostFilter,
    fmt: Format,
    *,
    sort: str = "unit",
    direction: Literal["asc", "desc"] = "asc",
) -> Export:
    """The asset register in the principal's scope: every host matching ``wanted``, sorted like
    the host list. A unit out of scope (or unknown) matches nothing; a bad filter raises
    BadRequest before anything is recorded or sent."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")  # the API schema only lets known sorts in
    rows = _count(session, filtered_hosts(session, ctx.principal, wanted, ctx.settings.silent_after_hours))
    detail = {"format": fmt, "filters": _filters(wanted), "sort": sort, "direction": direction, "rows": rows}
    ctx.record(session, "export.hosts", "hosts", detail)
    media_type, chunks = _write(
        fmt,
        ctx.text("export.sheet.hosts"),
        ctx.header(HOST_COLUMNS),
        _host_rows(ctx, wanted, sort, direction),
    )
    name = f"{ctx.text('export.file.hosts')}-{ctx.today()}.{fmt}"
    return Export(name, f"asset-register-{ctx.today()}.{fmt}", media_type, rows, chunks)


# -- the software catalogue --------------------------------------------------------------------
def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _catalogue(
    session: Session, ctx: ExportContext, unit: str, q: str, kind: str
) -> Select[str, str, str, int]:
    """(title, version, publisher, hosts) per title and version, over the hosts in scope that
    the host list shows by default (not retired, not merged)."""
    hosts = filtered_hosts(session, ctx.principal, HostFilter(unit=unit), ctx.settings.silent_after_hours)
    scope = hosts.order_by(None).with_only_columns(Host.id)
    where: list[Any] = [HostSoftware.host_id.in_(scope)]
    if q.strip():
        where.append(
            or_(
                HostSoftware.name_key.like(_like(name_key(q)), escape="\\"),
                HostSoftware.publisher.ilike(_like(q.strip()), escape="\\"),
            )
        )
    if kind:
        where.append(HostSoftware.kind == kind)
    group = (HostSoftware.name_key, HostSoftware.version_key, HostSoftware.version)
    return (
        select(
            func.min(HostSoftware.name),
            HostSoftware.version,
            func.max(HostSoftware.publisher),
            func.count(func.distinct(HostSoftware.host_id)),
        )
        .where(*where)
        .group_by(*group)
        .order_by(*group)
    )


def _catalogue_rows(ctx: ExportContext, unit: str, q: str, kind: str) -> Iterator[list[Any]]:
    with ctx.sessions() as session:
        query = _catalogue(session, ctx, unit, q, kind).execution_options(yield_per=BATCH)
        for row in session.execute(query):
            yield [None if value == "" else value for value in row]


def export_software(
    session: Session, ctx: ExportContext, fmt: Format, *, unit: str = "", q: str = "", kind: str = ""
) -> Export:
    """The software catalogue in scope: one row per title and version with its host count."""
    rows = _count(session, _catalogue(session, ctx, unit, q, kind))
    filters = {k: v for k, v in (("unit", unit), ("q", q), ("kind", kind)) if v}
    ctx.record(session, "export.software", "software", {"format": fmt, "filters": filters, "rows": rows})
    media_type, chunks = _write(
        fmt,
        ctx.text("export.sheet.software"),
        ctx.header(SOFTWARE_COLUMNS),
        _catalogue_rows(ctx, unit, q, kind),
    )
    name = f"{ctx.text('export.file.software')}-{ctx.today()}.{fmt}"
    return Export(name, f"software-catalogue-{ctx.today()}.{fmt}", media_type, rows, chunks)


# -- one host's programs -----------------------------------------------------------------------
def _host_software_rows(ctx: ExportContext, host_id: int) -> Iterator[list[Any]]:
    zone = ZoneInfo(ctx.settings.display_timezone)
    query = (
        select(HostSoftware)
        .where(HostSoftware.host_id == host_id)
        .order_by(HostSoftware.name_key, HostSoftware.version_key, HostSoftware.id)
        .execution_options(yield_per=BATCH)
    )
    with ctx.sessions() as session:
        for item in session.scalars(query):
            row = [
                item.name,
                item.version,
                item.publisher,
                item.architecture,
                ctx.label("kind", item.kind),
                item.install_date,
                _local(item.first_seen, zone),
            ]
            yield [None if value == "" else value for value in row]


def _file_part(text: str) -> str:
    """A host name as part of a file name: letters, digits, dot, dash, underscore."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)[:64] or "host"


def export_host_software(session: Session, ctx: ExportContext, host_id: int) -> Export:
    """One host's installed programs as CSV. A host outside the scope is not found, exactly
    like a missing one (retired hosts can be exported; merged ones are gone)."""
    wanted = HostFilter(include_retired=True)
    found = filtered_hosts(session, ctx.principal, wanted, ctx.settings.silent_after_hours)
    host = session.scalar(found.where(Host.id == host_id))
    if host is None:
        raise NotFound(f"no host {host_id}", "unknown_host")
    hostname = host.hostname
    rows = session.scalar(select(func.count()).where(HostSoftware.host_id == host_id)) or 0
    ctx.record(session, "export.host_software", f"host:{host_id}", {"format": "csv", "rows": rows})
    chunks = csv_chunks(ctx.header(HOST_SOFTWARE_COLUMNS), _host_software_rows(ctx, host_id))
    today = ctx.today()
    name = f"{ctx.text('export.file.host_software')}-{_file_part(hostname)}-{today}.csv"
    return Export(name, f"host-{host_id}-software-{today}.csv", CSV_MEDIA_TYPE, rows, chunks)
