"""Probe ``network_exposure``: listening ports, default routes, uplinks, Wi-Fi/cellular up (A9-T3.2, A9-T1).

This module holds the pure core shared by both readers (address scope of a listener,
the derived uplink facts) and the probe declaration. The OS readers live in
``network_exposure_linux`` (ss or /proc/net, sysfs) and ``network_exposure_windows``
(one PowerShell call; netstat/route/tasklist on Windows 7).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agent.host import HostContext
from agent.probes.base import Collected, Probe
from wire.sections.network_exposure import (
    BindScope,
    DefaultRoute,
    ListeningSocket,
    NetworkExposureFacts,
    PhysicalAdapter,
    SocketOwner,
    TunnelInterface,
)

__all__ = [
    "PROBE",
    "AdapterState",
    "assemble",
    "clean",
    "is_number",
    "listener",
    "owner",
    "split_host_port",
    "usable_address",
]

#: Kinds of adapter that carry traffic off the host (virtual and loopback do not count).
PHYSICAL_KINDS = ("wired", "wireless", "cellular", "other")


def clean(text: str) -> str:
    """Text safe for the wire: no NUL characters, no surrounding blanks."""
    return text.replace("\x00", "").strip()


def is_number(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts '²', which int() refuses)."""
    return text.isascii() and text.isdecimal()


def owner(name: str = "", pid: int | None = None, executable: str = "") -> SocketOwner:
    """A socket's owning process, with bounded, NUL-free strings."""
    return SocketOwner(
        name=clean(name)[:255],
        pid=pid if pid is not None and 0 <= pid < 2**32 else None,
        executable=clean(executable)[:1024],
    )


def split_host_port(text: str) -> tuple[str, str, int] | None:
    """``host:port`` as ss and netstat print it -> (address, zone/interface, port).

    Forms: ``0.0.0.0:22``, ``[::]:22``, ``*:9100``, ``127.0.0.53%lo:53``,
    ``[fe80::1%12]:9100`` (netstat), ``[fe80::1]%eth0:546`` (ss). None when no port.
    """
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not is_number(port_text) or not host:
        return None
    port = int(port_text)
    if port > 65535:
        return None
    zone = ""
    if host.startswith("["):
        inner, _, rest = host[1:].partition("]")
        host, zone = inner, rest.lstrip("%")
    if "%" in host:
        host, _, zone = host.partition("%")
    return host, zone, port


def _scope(address: str) -> tuple[str, str, BindScope] | None:
    """(family, normalised address, bind scope) of a local address; None if it is no address."""
    if address in {"*", ""}:
        return "ipv6", "::", "all"  # ss prints a dual-stack wildcard socket as '*'
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        mapped = ip.ipv4_mapped
        scope: BindScope = (
            "all" if mapped.is_unspecified else "loopback" if mapped.is_loopback else "specific"
        )
        return "ipv6", str(ip), scope
    family = "ipv4" if ip.version == 4 else "ipv6"
    scope = "all" if ip.is_unspecified else "loopback" if ip.is_loopback else "specific"
    return family, str(ip), scope


def listener(
    protocol: str,
    address: str,
    port: int,
    *,
    interface: str = "",
    owners: Sequence[SocketOwner] = (),
) -> ListeningSocket | None:
    """One listening socket, its scope derived from the address; None for an unparsable one."""
    scoped = _scope(address)
    if scoped is None or protocol not in {"tcp", "udp"} or not 0 <= port <= 65535:
        return None
    family, normal, scope = scoped
    if interface == "lo" and scope == "all":
        scope = "loopback"  # bound to the loopback device: reachable from this host only
    first = owners[0] if owners else SocketOwner()
    return ListeningSocket(
        protocol="tcp" if protocol == "tcp" else "udp",
        family="ipv4" if family == "ipv4" else "ipv6",
        local_address=normal[:255],
        port=port,
        bind_scope=scope,
        interface=clean(interface)[:255],
        process_name=first.name,
        pid=first.pid,
        executable=first.executable,
        other_owners=list(owners[1:17]),
    )


def usable_address(text: str) -> str | None:
    """An address that reaches a network: not loopback, link-local (169.254/16, fe80::/10) or unspecified."""
    try:
        ip = ipaddress.ip_address(text.strip().split("/", 1)[0].split("%", 1)[0])
    except ValueError:
        return None
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        return None
    return str(ip)


@dataclass(frozen=True)
class AdapterState:
    """A physical adapter as an OS reader saw it (before the derived facts)."""

    name: str
    kind: str  # wired / wireless / cellular / other
    up: bool
    addresses: Sequence[str] = ()
    description: str = ""
    mac: str | None = None
    index: str = ""  # Windows ifIndex, to match routes by index
    extra_keys: frozenset[str] = field(default_factory=frozenset)  # other names a route may use


def _routes_through(adapter: AdapterState, usable: Sequence[str], routes: Iterable[DefaultRoute]) -> bool:
    keys = {adapter.name, *adapter.extra_keys, *usable}
    if adapter.index:
        keys.add(adapter.index)
    return any(route.interface in keys for route in routes)


def _sort_key(item: ListeningSocket) -> tuple[str, str, int, str, str]:
    return (item.protocol, item.family, item.port, item.local_address, item.interface)


def assemble(
    *,
    listeners: Iterable[ListeningSocket | None],
    listeners_source: str,
    processes_known: bool | None,
    routes: Iterable[DefaultRoute],
    adapters: Iterable[AdapterState] | None,
    tunnels: Iterable[TunnelInterface] = (),
    notes: Iterable[str] = (),
) -> NetworkExposureFacts:
    """The section from what a reader gathered; derives uplinks and the 违规外联 flags.

    ``adapters`` is None when the adapters could not be read: the derived flags are then
    null (unknown), not false.
    """
    route_list = list(routes)[:64]
    physical: list[PhysicalAdapter] = []
    for raw in adapters or ():
        usable = sorted({a for a in map(usable_address, raw.addresses) if a})[:64]
        kind = raw.kind if raw.kind in PHYSICAL_KINDS else "other"
        physical.append(
            PhysicalAdapter(
                name=raw.name[:128] or "?",
                description=raw.description[:255],
                kind=kind,  # checked against PHYSICAL_KINDS above
                mac=raw.mac,
                up=raw.up,
                addresses=usable,
                default_route=_routes_through(raw, usable, route_list),
                uplink=raw.up and bool(usable),
            )
        )
    physical.sort(key=lambda a: a.name)
    uplinks = [a.name for a in physical if a.uplink]
    routed = {a.name for a in physical if a.default_route and a.up}
    unique: dict[tuple[object, ...], ListeningSocket] = {}
    for item in listeners:
        if item is not None:
            unique.setdefault((*_sort_key(item), item.pid), item)
    source = listeners_source if listeners_source in {"ss", "proc", "powershell", "netstat"} else ""
    return NetworkExposureFacts(
        listeners=sorted(unique.values(), key=_sort_key)[:4096],
        listeners_source=source,  # checked above
        processes_known=processes_known,
        default_routes=route_list,
        adapters=physical[:256],
        tunnels=sorted(tunnels, key=lambda t: t.name)[:64],
        active_uplinks=uplinks[:256],
        multiple_uplinks=None if adapters is None else (len(uplinks) > 1 or len(routed) > 1),
        wireless_or_cellular_up=(
            None if adapters is None else any(a.up and a.kind in {"wireless", "cellular"} for a in physical)
        ),
        note="; ".join(n for n in notes if n)[:8192],
    )


def _collect_linux(ctx: HostContext) -> Collected:
    from agent.probes.network_exposure_linux import collect_linux

    return collect_linux(ctx)


def _collect_windows(ctx: HostContext) -> Collected:
    from agent.probes.network_exposure_windows import collect_windows

    return collect_windows(ctx)


PROBE = Probe(
    section="network_exposure",
    description="Listening ports with owners, default routes, active uplinks, Wi-Fi/cellular up, tunnels.",
    collectors={"linux": _collect_linux, "windows": _collect_windows},
)
