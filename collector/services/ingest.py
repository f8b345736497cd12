"""Report and event ingest: idempotent by client-made id, delta-aware.

Section rules (the same the agent assumes when it computes its state hash):
- ``ok`` replaces the stored content;
- ``error`` keeps the last good content and records the failure;
- ``skipped`` removes the content (not applicable on this host);
- in a full report, a section not sent is removed; in a delta it is unchanged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Host, HostAddress, HostEvent, HostSection, HostSectionHistory, ReportLog
from collector.services import compliance, vpn_register
from collector.services.agent_config import effective_config
from collector.services.errors import Conflict, Forbidden
from collector.services.inventory import (
    device_type_of_chassis,
    forget_software,
    hardware_changes,
    network_changes,
    record_changes,
    software_changes,
    sync_software,
)
from wire import EventAck, EventBatch, Report, ReportAck, SectionResult, config_etag, state_hash
from wire.sections import HardwareFacts, NetworkFacts, OsFacts

__all__ = ["host_state_hash", "ingest_events", "ingest_report", "receive_events", "receive_report"]


@dataclass(frozen=True)
class IngestResult:
    ack: ReportAck


def _etag(session: Session, host: Host) -> str:
    return config_etag(effective_config(session, host.unit_id))


def held_hashes(session: Session, host_id: int) -> dict[str, str]:
    """Content hash of each section the collector holds data for."""
    rows = session.execute(
        select(HostSection.name, HostSection.content_hash).where(
            HostSection.host_id == host_id, HostSection.content_hash.is_not(None)
        )
    )
    return {name: digest for name, digest in rows if digest}


def host_state_hash(session: Session, host_id: int) -> str:
    return state_hash(held_hashes(session, host_id))


def _ack(session: Session, host: Host, report_id: uuid.UUID, status: str) -> ReportAck:
    hashes = held_hashes(session, host.id)
    return ReportAck(
        report_id=report_id,
        status=status,
        state_hash=state_hash(hashes),
        section_hashes=hashes,
        config_etag=_etag(session, host),
        rotate_node_key=host.key_rotation_requested_at is not None,
    )


def _apply_section(
    session: Session,
    host: Host,
    name: str,
    result: SectionResult[BaseModel],
    collected_at: datetime,
    report_id: uuid.UUID,
) -> None:
    row = session.get(HostSection, (host.id, name))
    if row is None:
        row = HostSection(host_id=host.id, name=name, collected_at=collected_at)
        session.add(row)
    row.status = result.status
    row.errors = [e.model_dump(mode="json") for e in result.errors]
    row.reason = result.reason
    row.updated_at = utcnow()
    if result.status == "ok" and result.data is not None:
        data = result.data.model_dump(mode="json")
        if row.content_hash != result.content_hash:
            _derive(session, host, name, row.data, data, collected_at, report_id)
            session.add(
                HostSectionHistory(
                    host_id=host.id,
                    name=name,
                    content_hash=result.content_hash,
                    data=data,
                    report_id=report_id,
                    collected_at=collected_at,
                )
            )
        row.data = data
        row.content_hash = result.content_hash
        row.collected_at = collected_at
        _refresh_summary(session, host, name, result.data)
    elif result.status == "skipped":
        _forget_derived(session, host, name)
        if row.content_hash is not None:
            session.add(
                HostSectionHistory(
                    host_id=host.id,
                    name=name,
                    content_hash=None,
                    data=None,
                    report_id=report_id,
                    collected_at=collected_at,
                )
            )
        row.data = None
        row.content_hash = None


def _derive(
    session: Session,
    host: Host,
    name: str,
    old: Any,
    new: dict[str, Any],
    collected_at: datetime,
    report_id: uuid.UUID,
) -> None:
    """Normalised rows and the change timeline of a section whose content changed.
    The first content of a section is the baseline: no change is recorded for it."""
    baseline = not isinstance(old, dict)
    changes: list[tuple[str, str, str, str]] = []
    if name == "software":
        sync_software(session, host, new.get("items"))
        if not baseline:
            changes = software_changes(old.get("items") or [], new.get("items") or [])
    elif name == "hardware" and not baseline:
        changes = hardware_changes(old, new)
    elif name == "network" and not baseline:
        changes = network_changes(old, new)
    elif name == "vpn":
        vpn_register.sync_host_accounts(session, host, new, utcnow())
    record_changes(session, host, name, changes, collected_at, report_id)


def _forget_derived(session: Session, host: Host, name: str) -> None:
    """A section is gone (skipped, or not in a full report): drop what was derived from it."""
    if name == "network":
        session.execute(delete(HostAddress).where(HostAddress.host_id == host.id))
        host.primary_ip = host.primary_mac = ""
    elif name == "software":
        forget_software(session, host)
    elif name == "vpn":
        vpn_register.forget_host_accounts(session, host, utcnow())


def _refresh_summary(session: Session, host: Host, name: str, data: BaseModel) -> None:
    """Copy the facts the host list shows and searches by into the hosts row."""
    if name == "os" and isinstance(data, OsFacts):
        host.hostname = data.hostname
        host.os_family = data.family
        host.os_name = data.pretty_name or data.name
        host.os_version = data.version
        host.architecture = data.architecture[:64]
        host.kernel = data.kernel
    elif name == "hardware" and isinstance(data, HardwareFacts):
        host.memory_bytes = data.memory_bytes
        host.cpu_model = data.cpu.model
        host.vendor = data.vendor
        host.model = data.model
        host.serial = data.serial
        host.system_uuid = data.system_uuid[:64]
        host.disk_bytes = sum(d.size_bytes for d in data.disks if not d.removable) or None
        if not host.device_type:  # an admin's choice is kept
            host.device_type = device_type_of_chassis(data.chassis_type, data.virtual)
    elif name == "network" and isinstance(data, NetworkFacts):
        host.primary_ip, host.primary_mac = _primary_address(data)
        session.execute(delete(HostAddress).where(HostAddress.host_id == host.id))
        for iface in data.interfaces:
            if iface.kind == "loopback":
                continue
            if not iface.addresses:
                session.add(
                    HostAddress(host_id=host.id, interface=iface.name, kind=iface.kind, mac=iface.mac)
                )
            for addr in iface.addresses:
                session.add(
                    HostAddress(
                        host_id=host.id,
                        interface=iface.name,
                        kind=iface.kind,
                        mac=iface.mac,
                        address=str(addr.address),
                        prefix_length=addr.prefix_length,
                        scope=addr.scope,
                    )
                )


def _primary_address(data: NetworkFacts) -> tuple[str, str]:
    """The address a register shows: the global IPv4 of the interface holding the default
    route, else the first global IPv4 of a physical interface, else the first global address."""
    default_ifaces = [r.interface for r in data.default_routes]
    candidates = []
    for iface in data.interfaces:
        if iface.kind == "loopback":
            continue
        for addr in iface.addresses:
            if addr.scope != "global":
                continue
            rank = (
                iface.name not in default_ifaces,
                addr.address.version != 4,
                iface.kind == "virtual",
            )
            candidates.append((rank, str(addr.address), iface.mac or ""))
    if not candidates:
        return "", ""
    _rank, address, mac = min(candidates)
    return address[:64], mac[:64]


def ingest_report(session: Session, host: Host, report: Report, size_bytes: int) -> ReportAck:
    """Store a report once. Raises Conflict(base_mismatch) for a delta on the wrong base."""
    if report.agent_id != host.agent_id:
        raise Forbidden("report agent_id does not belong to this node key", "agent_mismatch")
    seen = session.scalar(select(ReportLog).where(ReportLog.report_id == report.report_id))
    if seen is not None:
        if seen.host_id != host.id:
            raise Conflict("this report id was used by another host", "report_id_reused")
        return _ack(session, host, report.report_id, "duplicate")
    current = host_state_hash(session, host.id)
    if report.kind == "delta" and report.base_state_hash != current:
        raise Conflict("delta base does not match the collector's state; send a full report", "base_mismatch")
    sections = report.sections.present()
    before = _section_states(session, host.id)
    if report.kind == "full":
        stale = [
            s
            for s in session.scalars(select(HostSection).where(HostSection.host_id == host.id))
            if s.name not in sections
        ]
        for row in stale:
            _forget_derived(session, host, row.name)
            if row.content_hash is not None:
                session.add(
                    HostSectionHistory(
                        host_id=host.id,
                        name=row.name,
                        content_hash=None,
                        data=None,
                        report_id=report.report_id,
                        collected_at=report.collected_at,
                    )
                )
            session.delete(row)
    for name, result in sections.items():
        _apply_section(session, host, name, result, report.collected_at, report.report_id)
    now = utcnow()
    host.first_seen = host.first_seen or now
    host.last_seen = now
    host.agent_version = report.agent_version
    session.add(
        ReportLog(
            report_id=report.report_id,
            host_id=host.id,
            kind=report.kind,
            sections=sorted(sections),
            size_bytes=size_bytes,
            collected_at=report.collected_at,
            received_at=now,
        )
    )
    session.flush()
    new_state = host_state_hash(session, host.id)
    host.state_hash = new_state
    after = _section_states(session, host.id)
    changed = {name for name in set(before) | set(after) if before.get(name) != after.get(name)}
    compliance.evaluate_report(session, host, changed)
    return _ack(session, host, report.report_id, "stored")


def _section_states(session: Session, host_id: int) -> dict[str, tuple[str, str | None]]:
    """(status, content hash) of each section held: what decides which checks to re-evaluate."""
    rows = session.execute(
        select(HostSection.name, HostSection.status, HostSection.content_hash).where(
            HostSection.host_id == host_id
        )
    )
    return {name: (status, digest) for name, status, digest in rows}


def ingest_events(session: Session, host: Host, batch: EventBatch) -> EventAck:
    if batch.agent_id != host.agent_id:
        raise Forbidden("event batch agent_id does not belong to this node key", "agent_mismatch")
    ids = [e.event_id for e in batch.events]
    seen: set[Any] = set(session.scalars(select(HostEvent.event_id).where(HostEvent.event_id.in_(ids))))
    stored = 0
    vpn_events = False
    for event in batch.events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        session.add(
            HostEvent(
                event_id=event.event_id,
                host_id=host.id,
                occurred_at=event.occurred_at,
                kind=event.kind,
                severity=event.severity,
                source=event.source,
                summary=event.summary,
                data=event.data,
            )
        )
        stored += 1
        vpn_events = vpn_events or event.kind in vpn_register.FINDING_EVENT_KINDS
    host.last_seen = utcnow()
    if vpn_events:  # brute force and the like are findings of the vpn_register checks
        vpn_register.reevaluate(session, [host.id])
    return EventAck(stored=stored, duplicates=len(batch.events) - stored)


def receive_report(session: Session, host_id: int, report: Report, size_bytes: int) -> ReportAck:
    """Store and commit one report of an authenticated host (the endpoint's whole transaction).

    Two deliveries of the same report id racing each other: the loser finds the winner's
    row and answers "duplicate". Two different reports of one host racing: the loser is
    applied again on the new state (or refused with base_mismatch, and the agent resends).
    """
    for _attempt in range(3):
        host = session.get_one(Host, host_id)
        try:
            ack = ingest_report(session, host, report, size_bytes)
            session.commit()
            return ack
        except IntegrityError:
            session.rollback()
            seen = session.scalar(select(ReportLog).where(ReportLog.report_id == report.report_id))
            if seen is not None:
                if seen.host_id != host_id:
                    raise Conflict("this report id was used by another host", "report_id_reused") from None
                return _ack(session, session.get_one(Host, host_id), report.report_id, "duplicate")
    raise Conflict("the report could not be stored because of concurrent deliveries; retry", "retry")


def receive_events(session: Session, host_id: int, batch: EventBatch) -> EventAck:
    """Store and commit a batch of events, once each."""
    for _attempt in range(3):
        try:
            ack = ingest_events(session, session.get_one(Host, host_id), batch)
            session.commit()
            return ack
        except IntegrityError:  # a concurrent retry stored some of them first: count them as such
            session.rollback()
    raise Conflict("events could not be stored; retry", "retry")
