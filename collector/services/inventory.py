"""Normalised inventory derived from the sections on ingest (issue 4, A9-M3.3):

- ``host_software``: one row per installed program, so "which hosts have X (version < Y)"
  is one indexed query;
- ``host_changes``: the timeline (software installed, removed, upgraded; disk, memory,
  adapter or machine identity changed; addresses and MACs changed), with the time the agent
  collected the report;
- the summary columns of the hosts row used by lists and exports.

The first content of a section is the baseline: it fills the tables and records no change.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Host, HostChange, HostSoftware, SoftwareTitle
from collector.services.versions import name_key, version_key

__all__ = [
    "DEVICE_TYPES",
    "device_type_of_chassis",
    "forget_software",
    "hardware_changes",
    "network_changes",
    "record_changes",
    "software_changes",
    "sync_software",
]

Change = tuple[str, str, str, str]  # change, subject, old, new

_DESKTOP = {
    "desktop", "low-profile desktop", "pizza box", "mini tower", "tower", "all in one",
    "space-saving", "lunch box", "stick pc", "mini pc",
}  # fmt: skip
_LAPTOP = {
    "portable", "laptop", "notebook", "hand held", "sub notebook", "convertible", "detachable",
    "tablet",
}  # fmt: skip
_SERVER = {
    "main server chassis", "expansion chassis", "rack mount chassis", "multi-system chassis",
    "blade", "blade enclosure", "sealed-case pc",
}  # fmt: skip
DEVICE_TYPES = ("desktop", "laptop", "server", "virtual machine", "printer", "switch", "router",
                "firewall", "vpn appliance", "storage", "other")  # fmt: skip


def device_type_of_chassis(chassis: str, virtual: bool = False) -> str:
    """The register's device type from an SMBIOS chassis type ('' when it says nothing)."""
    if virtual or chassis == "virtual machine":
        return "virtual machine"
    if chassis in _DESKTOP:
        return "desktop"
    if chassis in _LAPTOP:
        return "laptop"
    if chassis in _SERVER:
        return "server"
    return ""


def _clip(value: object, limit: int = 255) -> str:
    return str(value or "")[:limit]


# -- software ------------------------------------------------------------------------------
def _identity(item: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (
        name_key(_clip(item.get("name"))),
        _clip(item.get("architecture"), 64),
        _clip(item.get("scope"), 8) or "machine",
        _clip(item.get("user")),
    )


def _versions(items: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str, str], dict[str, str]]:
    """identity -> {version: display name}."""
    found: dict[tuple[str, str, str, str], dict[str, str]] = defaultdict(dict)
    for item in items:
        found[_identity(item)][_clip(item.get("version"))] = _clip(item.get("name"))
    return found


def software_changes(old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]) -> list[Change]:
    """Installed / removed / upgraded / downgraded titles between two software lists.

    One version replaced by one other of the same title (same architecture and user) is an
    upgrade or a downgrade; anything else is removals and additions.
    """
    before, after = _versions(old), _versions(new)
    changes: list[Change] = []
    for ident in sorted(set(before) | set(after)):
        was, now = before.get(ident, {}), after.get(ident, {})
        gone = sorted(set(was) - set(now))
        came = sorted(set(now) - set(was))
        if len(gone) == 1 and len(came) == 1:
            kind = "upgraded" if version_key(came[0]) > version_key(gone[0]) else "downgraded"
            changes.append((kind, now[came[0]], gone[0], came[0]))
            continue
        changes += [("removed", was[v], v, "") for v in gone]
        changes += [("added", now[v], "", v) for v in came]
    return changes


def _remember_titles(session: Session, titles: Mapping[str, str]) -> None:
    """Add the titles never seen before to software_titles. Concurrent ingests add the same new
    titles all the time (a fleet installs the same programs): INSERT ... ON CONFLICT DO NOTHING,
    in sorted order so that two transactions never wait for each other in a cycle."""
    keys = sorted(k for k in titles if k)
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        known.update(session.scalars(select(SoftwareTitle.name_key).where(SoftwareTitle.name_key.in_(chunk))))
    missing = [k for k in keys if k not in known]
    if not missing:
        return
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    for start in range(0, len(missing), 500):
        rows = [
            {"name_key": k, "name": titles[k] or k, "first_seen": now} for k in missing[start : start + 500]
        ]
        session.execute(
            insert(SoftwareTitle).values(rows).on_conflict_do_nothing(index_elements=["name_key"])
        )


def sync_software(session: Session, host: Host, items: list[Mapping[str, Any]] | None) -> None:
    """Make the host's host_software rows equal to its current software list (None: none)."""
    wanted: dict[tuple[str, ...], Mapping[str, Any]] = {}
    for item in items or []:
        wanted.setdefault((*_identity(item), _clip(item.get("version")), _clip(item.get("source"), 16)), item)
    rows = session.scalars(select(HostSoftware).where(HostSoftware.host_id == host.id)).all()
    have: dict[tuple[str, ...], HostSoftware] = {}
    for existing in rows:
        known = (
            existing.name_key,
            existing.architecture,
            existing.scope,
            existing.user,
            existing.version,
            existing.source,
        )
        if known in wanted and known not in have:
            have[known] = existing
        else:
            session.delete(existing)
    _remember_titles(session, {key[0]: _clip(item.get("name")) for key, item in wanted.items()})
    for key, item in wanted.items():
        row = have.get(key)
        if row is None:
            row = HostSoftware(
                host_id=host.id,
                name_key=key[0],
                architecture=key[1],
                scope=key[2],
                user=key[3],
                version=key[4],
                version_key=version_key(key[4]),
                source=key[5],
            )
            session.add(row)
        row.name = _clip(item.get("name"))
        row.publisher = _clip(item.get("publisher"))
        row.kind = _clip(item.get("kind"), 24) or "application"
        row.install_date = _clip(item.get("install_date"), 16)


# -- hardware and network -------------------------------------------------------------------
def _size(value: object) -> str:
    try:
        gib = int(str(value)) / 1024**3
    except (TypeError, ValueError):
        return ""
    return f"{gib:.0f} GiB" if gib >= 10 else f"{gib:.1f} GiB"


def hardware_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Machine identity, CPU, memory, disks and adapters that changed."""
    changes: list[Change] = []
    for field, subject in (("serial", "serial number"), ("system_uuid", "system UUID"), ("model", "model")):
        if old.get(field) != new.get(field):
            changes.append(("changed", subject, _clip(old.get(field)), _clip(new.get(field))))
    if (old.get("cpu") or {}).get("model") != (new.get("cpu") or {}).get("model"):
        changes.append(("changed", "cpu", _clip((old.get("cpu") or {}).get("model")),
                        _clip((new.get("cpu") or {}).get("model"))))  # fmt: skip
    if old.get("memory_bytes") != new.get("memory_bytes"):
        changes.append(("changed", "memory", _size(old.get("memory_bytes")), _size(new.get("memory_bytes"))))

    def disks(data: Mapping[str, Any]) -> dict[str, str]:
        return {
            f"disk {d.get('name')}": f"{d.get('model', '')} {d.get('serial', '')} {_size(d.get('size_bytes'))}".strip()
            for d in data.get("disks") or []
            if isinstance(d, Mapping)
        }

    def adapters(data: Mapping[str, Any]) -> dict[str, str]:
        return {
            f"adapter {a.get('name')}": f"{a.get('kind', '')} {a.get('mac', '')}".strip()
            for a in data.get("adapters") or []
            if isinstance(a, Mapping)
        }

    for pick in (disks, adapters):
        changes += _diff_map(pick(old), pick(new))
    return changes


def _diff_map(before: Mapping[str, str], after: Mapping[str, str]) -> list[Change]:
    changes: list[Change] = []
    for subject in sorted(set(before) | set(after)):
        if subject not in after:
            changes.append(("removed", subject, before[subject], ""))
        elif subject not in before:
            changes.append(("added", subject, "", after[subject]))
        elif before[subject] != after[subject]:
            changes.append(("changed", subject, before[subject], after[subject]))
    return changes


def network_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Addresses and MACs per interface (loopback left out)."""

    def view(data: Mapping[str, Any]) -> dict[str, str]:
        found = {}
        for iface in data.get("interfaces") or []:
            if not isinstance(iface, Mapping) or iface.get("kind") == "loopback":
                continue
            addresses = sorted(
                f"{a.get('address')}/{a.get('prefix_length')}"
                for a in iface.get("addresses") or []
                if isinstance(a, Mapping) and a.get("scope") != "link"
            )
            found[f"interface {iface.get('name')}"] = " ".join(
                [str(iface.get("mac") or ""), *addresses]
            ).strip()
        return found

    return _diff_map(view(old), view(new))


def record_changes(
    session: Session,
    host: Host,
    section: str,
    changes: Iterable[Change],
    at: datetime,
    report_id: uuid.UUID | None,
) -> int:
    count = 0
    for change, subject, old, new in changes:
        session.add(
            HostChange(
                host_id=host.id,
                at=at,
                section=section,
                change=change,
                subject=_clip(subject),
                old=_clip(old),
                new=_clip(new),
                report_id=report_id,
            )
        )
        count += 1
    return count


def forget_software(session: Session, host: Host) -> None:
    session.execute(delete(HostSoftware).where(HostSoftware.host_id == host.id))
