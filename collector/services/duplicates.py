"""Duplicate records of one machine, and merging them (issue 4, A9-M3.3).

Two records describe one machine when they share a hardware UUID (SMBIOS system UUID), a
serial number, or a burned-in MAC address. Values that firmware vendors leave unfilled
("To Be Filled By O.E.M.", all-zero UUIDs...) and MACs that are not burned in (locally
administered, multicast, hypervisors' ranges) prove nothing and are ignored.

Merging keeps the target record, copies the source's register fields where the target's
are empty, moves the source's history (changes, events, report log, section history) to
the target, revokes the source's node keys and marks it "merged" (kept for the record).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from collector.db.base import utcnow
from collector.db.models import (
    Host,
    HostChange,
    HostEvent,
    HostSectionHistory,
    HostSoftware,
    NodeKey,
    ReportLog,
)
from collector.services.assets import REGISTER_FIELDS, host_for_write, set_tags
from collector.services.audit import record
from collector.services.auth import Principal
from collector.services.errors import Invalid

__all__ = [
    "JUNK_IDENTIFIERS",
    "DuplicateGroup",
    "find_duplicates",
    "identity_key",
    "mac_is_burned_in",
    "merge_hosts",
]

#: Serial numbers and UUIDs firmware leaves at a placeholder (compared lower-case, without
#: spaces). Values made of one repeated character (0000..., FFFF..., XXXX...) are junk too.
JUNK_IDENTIFIERS = frozenset(
    v.lower().replace(" ", "")
    for v in (
        "To Be Filled By O.E.M.",
        "To be filled by O.E.M.",
        "Default string",
        "System Serial Number",
        "Chassis Serial Number",
        "Base Board Serial Number",
        "Not Specified",
        "Not Applicable",
        "Not Available",
        "None",
        "Null",
        "N/A",
        "NA",
        "Unknown",
        "Invalid",
        "OEM",
        "O.E.M.",
        "Serial",
        "SerialNumber",
        "Default",
        "0",
        "0123456789",
        "123456789",
        "1234567890",
        "0123456789ABCDEF",
        # UUIDs that boards of one model all share (AMI and Gigabyte placeholders)
        "03000200-0400-0500-0006-000700080009",
        "00020003-0004-0005-0006-000700080009",
        "12345678-1234-5678-90ab-cddeefaabbcc",
    )
)
_ONE_CHARACTER = re.compile(r"^(.)\1*$")
#: OUIs hypervisors give virtual adapters: shared by unrelated machines, so no proof.
VIRTUAL_OUIS = frozenset(
    {
        "00:50:56",  # VMware
        "00:0c:29",  # VMware
        "00:05:69",  # VMware
        "00:1c:14",  # VMware
        "08:00:27",  # VirtualBox
        "0a:00:27",  # VirtualBox host-only
        "00:15:5d",  # Hyper-V
        "00:16:3e",  # Xen
        "00:1c:42",  # Parallels
        "00:03:ff",  # Microsoft Virtual PC
    }
)


def identity_key(value: str) -> str:
    """A serial or UUID as compared ('' when it is a placeholder that proves nothing)."""
    text = "".join(value.split()).lower()
    if not text or text in JUNK_IDENTIFIERS or _ONE_CHARACTER.match(text.replace("-", "")):
        return ""
    return text


def mac_is_burned_in(mac: str) -> bool:
    """False for locally administered, multicast, all-zero/broadcast and hypervisor MACs."""
    digits = re.sub(r"[^0-9a-f]", "", mac.lower())
    if len(digits) != 12 or _ONE_CHARACTER.match(digits):
        return False
    first = int(digits[:2], 16)
    if first & 0x02 or first & 0x01:
        return False
    oui = ":".join(digits[i : i + 2] for i in (0, 2, 4))
    return oui not in VIRTUAL_OUIS


@dataclass
class DuplicateGroup:
    hosts: list[Host]
    matched_on: list[str] = field(default_factory=list)  # system_uuid, serial, mac
    values: list[str] = field(default_factory=list)
    reason: str = ""


def _concurrent(hosts: Sequence[Host]) -> bool:
    """Did two of them report over the same period (both alive: a clone, not a re-enrollment)?"""
    spans = [(h.first_seen, h.last_seen) for h in hosts if h.first_seen and h.last_seen]
    spans.sort(key=lambda s: s[0] or datetime.min)
    return any(later[0] < earlier[1] for earlier, later in pairwise(spans) if later[0] and earlier[1])


def reason_of(hosts: Sequence[Host], matched_on: Iterable[str]) -> str:
    """Why these records look like one machine:

    - register_and_agent: a hand-made/imported/bundle record and an agent's host;
    - cloned_vm: same hardware UUID, different host names, both reporting at the same time;
    - reenrolled: same hardware, same host name (reinstalled system, agent data lost);
    - same_hardware: same hardware under another name, one after the other (renamed, reinstalled);
    - shared_mac: only a MAC in common (adapter moved, USB or dock adapter, cloned MAC).
    """
    matched = set(matched_on)
    sources = {h.source == "agent" for h in hosts}
    names = {h.hostname.lower() for h in hosts}
    if sources == {True, False}:
        return "register_and_agent"
    if not matched & {"system_uuid", "serial"}:
        return "shared_mac"
    if (
        "system_uuid" in matched
        and len(names) > 1
        and (_concurrent(hosts) or any(h.device_type == "virtual machine" for h in hosts))
    ):
        return "cloned_vm"
    if len(names) == 1:
        return "reenrolled"
    return "same_hardware"


def find_duplicates(
    session: Session, principal: Principal, *, include_retired: bool = False
) -> list[DuplicateGroup]:
    """Groups of records in the caller's scope that share a UUID, serial or burned-in MAC."""
    query = (
        select(Host)
        .where(Host.status != "merged")
        .options(selectinload(Host.unit), selectinload(Host.addresses))
    )
    if principal.visible_units is not None:
        query = query.where(Host.unit_id.in_(principal.visible_units))
    if not include_retired:
        query = query.where(Host.status != "retired")
    hosts = {h.id: h for h in session.scalars(query)}
    keys: dict[tuple[str, str], set[int]] = defaultdict(set)
    for host in hosts.values():
        for kind, value in (("system_uuid", host.system_uuid), ("serial", host.serial)):
            key = identity_key(value)
            if key:
                keys[(kind, key)].add(host.id)
        macs = {a.mac for a in host.addresses if a.mac and a.kind not in ("virtual", "loopback")}
        for mac in macs | ({host.primary_mac} if host.primary_mac else set()):
            if mac_is_burned_in(mac):
                keys[("mac", mac.lower())].add(host.id)
    groups: dict[frozenset[int], DuplicateGroup] = {}
    for (kind, value), ids in sorted(keys.items()):
        if len(ids) < 2:
            continue
        members = frozenset(ids)
        group = groups.get(members)
        if group is None:
            ordered = sorted(
                (hosts[i] for i in ids), key=lambda h: (h.last_seen or h.enrolled_at, h.id), reverse=True
            )
            group = groups[members] = DuplicateGroup(ordered)
        if kind not in group.matched_on:
            group.matched_on.append(kind)
        group.values.append(f"{kind}={value}")
    for group in groups.values():
        group.reason = reason_of(group.hosts, group.matched_on)
    return sorted(
        groups.values(), key=lambda g: (g.hosts[0].unit.sort_order, g.hosts[0].hostname, g.hosts[0].id)
    )


def merge_hosts(session: Session, principal: Principal, source_id: int, target_id: int, ip: str = "") -> Host:
    """Merge record ``source_id`` into ``target_id`` (both in the caller's management scope)."""
    if source_id == target_id:
        raise Invalid("a host cannot be merged into itself", "merge_into_self")
    source = host_for_write(session, principal, source_id)
    target = host_for_write(session, principal, target_id)
    moved: dict[str, Any] = {}
    for name in REGISTER_FIELDS:
        value = getattr(source, name)
        if value not in (None, "") and getattr(target, name) in (None, ""):
            setattr(target, name, value)
            moved[name] = True
    if source.tags:
        union = [t.tag for t in target.tags] + [
            t.tag for t in source.tags if t.tag not in {x.tag for x in target.tags}
        ]
        set_tags(session, target, union[:20])
    if source.asset_number and source.asset_number == target.asset_number:
        source.asset_number = ""  # the number now belongs to the kept record
    rows: dict[str, int] = {}
    for model in (HostChange, HostEvent, ReportLog, HostSectionHistory):
        result = session.execute(update(model).where(model.host_id == source.id).values(host_id=target.id))
        rows[model.__tablename__] = int(getattr(result, "rowcount", 0) or 0)
    session.execute(update(Host).where(Host.merged_into_id == source.id).values(merged_into_id=target.id))
    revoked = session.execute(
        update(NodeKey)
        .where(NodeKey.host_id == source.id, NodeKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    # Software derived from the source's sections would make the catalogue count it twice
    # (its sections and addresses stay, for the record).
    session.execute(delete(HostSoftware).where(HostSoftware.host_id == source.id))
    source.status = "merged"
    source.merged_into_id = target.id
    if source.first_seen and (target.first_seen is None or source.first_seen < target.first_seen):
        target.first_seen = source.first_seen
    record(
        session,
        principal.username,
        "host.merge",
        f"host:{source.id}",
        {
            "into": target.id,
            "source_hostname": source.hostname,
            "target_hostname": target.hostname,
            "fields": sorted(moved),
            "rows": rows,
            "keys_revoked": int(getattr(revoked, "rowcount", 0) or 0),
        },
        ip,
        principal.user_id,
    )
    session.commit()
    session.refresh(target)
    return target
