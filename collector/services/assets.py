"""The register's own facts (资产清单, A9-M3.3) and who may change them (A9-G).

Admins fill owner, location, asset number, purchase date, device type, notes and tags;
agents never overwrite them (ingest only sets the device type while it is empty). Admins
also move a host to another unit, retire it (kept for the record, hidden from lists) or
restore it, and add assets that carry no agent (printers, switches, Windows 7 PCs, VPN
appliances). Every change is audited. Scope: a host outside the caller's view answers
404 exactly like a missing one; a host the caller sees but may not manage answers 403.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Host, HostAddress, HostTag, Unit
from collector.services import vpn_register
from collector.services.audit import record
from collector.services.auth import Principal
from collector.services.errors import Conflict, Forbidden, Invalid, NotFound
from collector.services.inventory import DEVICE_TYPES

__all__ = [
    "DEVICE_TYPE_LABELS",
    "MAX_TAGS",
    "REGISTER_FIELDS",
    "NewAsset",
    "clean_tags",
    "create_asset",
    "device_type_of",
    "host_for_read",
    "host_for_write",
    "move_host",
    "parse_ip",
    "parse_mac",
    "retire_host",
    "set_addresses",
    "unit_for_write",
    "update_register",
]

#: The register fields an admin fills (agents never write them, except device type while empty).
REGISTER_FIELDS = ("owner", "location", "asset_number", "purchase_date", "device_type", "notes")
LIMITS = {"owner": 128, "location": 128, "asset_number": 64, "notes": 4000, "hostname": 128}
MAX_TAGS = 20
#: Chinese names of the device types, as offices write them in spreadsheets.
DEVICE_TYPE_LABELS: dict[str, str] = {
    "desktop": "台式机",
    "laptop": "笔记本",
    "server": "服务器",
    "virtual machine": "虚拟机",
    "printer": "打印机",
    "switch": "交换机",
    "router": "路由器",
    "firewall": "防火墙",
    "vpn appliance": "VPN设备",
    "storage": "存储设备",
    "other": "其他",
}
_MAC_SEPARATORS = re.compile(r"[\s:.\-]")


# -- values ---------------------------------------------------------------------------------
def clean_text(value: object, limit: int) -> str:
    """Trimmed, inner whitespace runs of a single line kept, bounded."""
    return str(value or "").replace("\x00", "").strip()[:limit]


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Trimmed, whitespace collapsed, duplicates and empties dropped, at most MAX_TAGS of 64."""
    found: list[str] = []
    for tag in tags:
        text = " ".join(str(tag).replace("\x00", "").split())[:64]
        if text and text not in found:
            found.append(text)
    if len(found) > MAX_TAGS:
        raise Invalid(f"at most {MAX_TAGS} tags", "too_many_tags")
    return found


def device_type_of(text: str) -> str:
    """A device type from its English key or Chinese label ('' stays ''); Invalid otherwise."""
    value = " ".join(text.strip().lower().split())
    if not value or value in DEVICE_TYPES:
        return value
    for key, label in DEVICE_TYPE_LABELS.items():
        if text.strip().replace(" ", "").lower() == label.lower():
            return key
    raise Invalid(f"device type must be one of {', '.join(DEVICE_TYPES)}", "bad_device_type")


def parse_mac(text: str) -> str:
    """aa:bb:cc:dd:ee:ff from any usual notation (colons, dashes, Cisco dots, none)."""
    digits = _MAC_SEPARATORS.sub("", text.strip()).lower()
    if not re.fullmatch(r"[0-9a-f]{12}", digits):
        raise Invalid(f"not a MAC address: {text[:40]!r}", "bad_mac")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def parse_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise Invalid(f"not an IP address: {text[:40]!r}", "bad_ip") from None


# -- scope ----------------------------------------------------------------------------------
def host_for_read(session: Session, principal: Principal, host_id: int) -> Host:
    host = session.get(Host, host_id)
    if host is None or not principal.can_see_unit(host.unit_id):
        raise NotFound(f"no host {host_id}", "unknown_host")
    return host


def host_for_write(session: Session, principal: Principal, host_id: int) -> Host:
    """A host the caller may change: 404 outside their view, 403 for a read-only role,
    409 for a host merged into another (it is kept only for the record)."""
    host = host_for_read(session, principal, host_id)
    if not principal.can_manage_unit(host.unit_id):
        raise Forbidden("your role may not change this host")
    if host.status == "merged":
        raise Conflict(f"host {host_id} was merged into host {host.merged_into_id}", "host_merged")
    return host


def unit_for_write(session: Session, principal: Principal, code: str) -> Unit:
    """A unit the caller manages: an unknown unit and one outside their view look the same."""
    unit = session.scalar(select(Unit).where(Unit.code == code.strip()))
    if unit is None or not principal.can_see_unit(unit.id):
        raise NotFound(f"no unit with code {code[:40]!r}", "unknown_unit")
    if not principal.can_manage_unit(unit.id):
        raise Forbidden(f"unit {unit.code} is outside your management scope", "unit_out_of_scope")
    return unit


def _audit(
    session: Session, principal: Principal, action: str, host: Host, detail: dict[str, Any], ip: str
) -> None:
    record(session, principal.username, action, f"host:{host.id}", detail, ip, principal.user_id)


# -- register fields ------------------------------------------------------------------------
def _shown(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value or "")


def apply_fields(host: Host, values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Set register fields (and the asset facts a manual record holds); returns what changed."""
    changed: dict[str, list[str]] = {}
    for name, value in values.items():
        if name == "device_type":
            value = device_type_of(str(value or ""))
        elif name in LIMITS or name in ("vendor", "model", "serial", "os_name"):
            value = clean_text(value, LIMITS.get(name, 255))
        old = getattr(host, name)
        if old != value:
            changed[name] = [_shown(old)[:80], _shown(value)[:80]]
            setattr(host, name, value)
    return changed


def set_tags(session: Session, host: Host, tags: Sequence[str]) -> list[str] | None:
    """Replace the host's tags; the new list when it changed, else None."""
    wanted = clean_tags(tags)
    current = [t.tag for t in host.tags]
    if sorted(current) == sorted(wanted):
        return None
    for row in list(host.tags):
        if row.tag not in wanted:
            host.tags.remove(row)
    session.flush()
    for tag in wanted:
        if tag not in current:
            host.tags.append(HostTag(tag=tag))
    return wanted


def asset_number_taken(session: Session, unit_id: int, number: str, but: int | None = None) -> bool:
    if not number:
        return False
    query = select(func.count()).where(
        Host.unit_id == unit_id, Host.asset_number == number, Host.status != "merged"
    )
    if but is not None:
        query = query.where(Host.id != but)
    return bool(session.scalar(query))


def update_register(
    session: Session,
    principal: Principal,
    host_id: int,
    values: Mapping[str, Any],
    tags: Sequence[str] | None,
    ip: str = "",
) -> Host:
    """Change register fields (only those given) and tags of one host, audited."""
    host = host_for_write(session, principal, host_id)
    unknown = set(values) - set(REGISTER_FIELDS)
    if unknown:
        raise Invalid(f"not register fields: {', '.join(sorted(unknown))}", "not_register_field")
    number = clean_text(values.get("asset_number", ""), 64)
    if "asset_number" in values and asset_number_taken(session, host.unit_id, number, but=host.id):
        raise Conflict(f"asset number {number!r} is already used in this unit", "asset_number_taken")
    changed = apply_fields(host, values)
    if tags is not None:
        new_tags = set_tags(session, host, tags)
        if new_tags is not None:
            changed["tags"] = [",".join(new_tags)[:200]]
    if changed:
        if "notes" in changed:
            changed["notes"] = []  # free text: the audit says it changed, not what it says
        _audit(session, principal, "host.register_update", host, {"changed": changed}, ip)
    session.commit()
    return host


def move_host(session: Session, principal: Principal, host_id: int, unit_code: str, ip: str = "") -> Host:
    """Move a host to another unit; the caller must manage both the old and the new unit."""
    host = host_for_write(session, principal, host_id)
    unit = unit_for_write(session, principal, unit_code)
    if unit.id != host.unit_id:
        if asset_number_taken(session, unit.id, host.asset_number, but=host.id):
            raise Conflict(
                f"asset number {host.asset_number!r} is already used in unit {unit.code}",
                "asset_number_taken",
            )
        old = host.unit.code
        host.unit_id = unit.id
        vpn_register.follow_host_unit(session, host)  # its VPN accounts move with it (scope)
        _audit(
            session,
            principal,
            "host.move",
            host,
            {"from": old, "to": unit.code, "hostname": host.hostname},
            ip,
        )
    session.commit()
    session.refresh(host)
    return host


def retire_host(session: Session, principal: Principal, host_id: int, retire: bool, ip: str = "") -> Host:
    """Retire a host (kept for the record, hidden from lists, its agent refused) or restore it."""
    host = host_for_write(session, principal, host_id)
    wanted = "retired" if retire else "active"
    if host.status != wanted:
        host.status = wanted
        host.retired_at = utcnow() if retire else None
        action = "host.retire" if retire else "host.reactivate"
        _audit(session, principal, action, host, {"hostname": host.hostname}, ip)
    session.commit()
    return host


# -- assets without an agent ----------------------------------------------------------------
@dataclass
class NewAsset:
    hostname: str
    unit: str
    device_type: str = ""
    vendor: str = ""
    model: str = ""
    serial: str = ""
    os_name: str = ""
    ip_addresses: list[str] = field(default_factory=list)
    mac_addresses: list[str] = field(default_factory=list)
    owner: str = ""
    location: str = ""
    asset_number: str = ""
    purchase_date: date | None = None
    notes: str = ""
    tags: list[str] = field(default_factory=list)


def set_addresses(
    session: Session, host: Host, ips: Sequence[str], macs: Sequence[str], interface: str
) -> None:
    """Replace a record's addresses by these (validated) ones, as HostAddress rows, so that
    the register's IP and MAC search finds it like an agent's host."""
    ips = list(dict.fromkeys(parse_ip(a) for a in ips if a.strip()))[:16]
    macs = list(dict.fromkeys(parse_mac(m) for m in macs if m.strip()))[:16]
    for row in list(host.addresses):
        host.addresses.remove(row)
    session.flush()
    paired = macs[0] if len(macs) == 1 else None
    for address in ips:
        host.addresses.append(
            HostAddress(interface=interface, kind="other", mac=paired, address=address, scope="global")
        )
    for mac in macs:
        if mac != paired or not ips:
            host.addresses.append(HostAddress(interface=interface, kind="other", mac=mac))
    host.primary_ip = ips[0] if ips else ""
    host.primary_mac = macs[0] if macs else ""


def new_record(session: Session, unit: Unit, asset: NewAsset, source: str) -> Host:
    """A host row without an agent: a fresh agent_id (the column is unique) for which no key
    is ever issued, so nothing can report as this record."""
    if asset_number_taken(session, unit.id, clean_text(asset.asset_number, 64)):
        raise Conflict(
            f"asset number {asset.asset_number!r} is already used in this unit", "asset_number_taken"
        )
    host = Host(agent_id=uuid.uuid4(), unit_id=unit.id, hostname="", source=source, enrolled_at=utcnow())
    session.add(host)
    apply_fields(
        host,
        {
            "hostname": asset.hostname,
            "device_type": asset.device_type,
            "vendor": asset.vendor,
            "model": asset.model,
            "serial": asset.serial,
            "os_name": asset.os_name,
            "owner": asset.owner,
            "location": asset.location,
            "asset_number": asset.asset_number,
            "purchase_date": asset.purchase_date,
            "notes": asset.notes,
        },
    )
    if not host.hostname:
        raise Invalid("a name is needed", "missing_name")
    session.flush()
    set_addresses(session, host, asset.ip_addresses, asset.mac_addresses, source)
    set_tags(session, host, asset.tags)
    return host


def create_asset(session: Session, principal: Principal, asset: NewAsset, ip: str = "") -> Host:
    """Add an asset that carries no agent (source "manual"), audited."""
    unit = unit_for_write(session, principal, asset.unit)
    host = new_record(session, unit, asset, "manual")
    session.flush()
    _audit(
        session,
        principal,
        "asset.create",
        host,
        {"hostname": host.hostname, "unit": unit.code, "device_type": host.device_type},
        ip,
    )
    session.commit()
    return host
