"""Probe ``network``: interfaces with their addresses, default routes, name servers.

Linux: sysfs, the interface addresses, /proc/net/route, /proc/net/ipv6_route, /etc/resolv.conf;
Windows: agent.probes.network_windows (one PowerShell call, or wmic on Windows 7).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.host import HostContext
from agent.probes.base import Collected, Probe
from agent.probes.hardware import SysfsNetInterface, classify_adapter, normalise_mac, read_net_interfaces
from wire import SectionError
from wire.sections import InterfaceAddress, InterfaceFacts, NetworkFacts, RouteFacts

__all__ = [
    "PROBE",
    "RawAddress",
    "build_interfaces",
    "parse_addresses",
    "parse_proc_net_ipv6_route",
    "parse_proc_net_route",
    "parse_resolv_conf",
]


@dataclass(frozen=True)
class RawAddress:
    """One address as psutil.net_if_addrs() gives it (family name, address, netmask)."""

    family: str  # "inet" or "inet6"
    address: str
    netmask: str | None


def _prefix_length(family: str, netmask: str | None) -> int:
    if not netmask:
        return 32 if family == "inet" else 128
    try:
        if "/" in netmask:
            return int(netmask.rsplit("/", 1)[1])
        bits = int(ipaddress.ip_address(netmask))
    except ValueError:
        return 32 if family == "inet" else 128
    width = 32 if family == "inet" else 128
    length = bin(bits).count("1")
    # A real mask is contiguous ones; anything else is not a mask we can trust.
    if bits != ((1 << width) - 1) ^ ((1 << (width - length)) - 1):
        return width
    return length


def parse_addresses(raw: Iterable[RawAddress]) -> list[InterfaceAddress]:
    """Addresses with prefix length and scope; a zone suffix (``%eth0``) is dropped."""
    result = []
    for item in raw:
        try:
            address = ipaddress.ip_address(item.address.split("%", 1)[0])
        except ValueError:
            continue
        if address.is_loopback:
            scope = "host"
        elif address.is_link_local:
            scope = "link"
        else:
            scope = "global"
        result.append(
            InterfaceAddress(
                address=address,
                prefix_length=_prefix_length(item.family, item.netmask),
                scope=scope,
            )
        )
    # a stable order, so the section's hash changes only when the addresses do
    result.sort(key=lambda a: (a.address.version, int(a.address)))
    return result


def build_interfaces(
    sysfs: Iterable[SysfsNetInterface], addresses: Mapping[str, Iterable[RawAddress]]
) -> list[InterfaceFacts]:
    """Join sysfs facts with the addresses of each interface."""
    result = []
    for raw in sysfs:
        try:
            mtu: int | None = int(raw.mtu)
        except ValueError:
            mtu = None
        up = raw.operstate in {"up", "unknown"} and raw.carrier != "0"
        result.append(
            InterfaceFacts(
                name=raw.name[:128],
                mac=normalise_mac(raw.address),
                kind=classify_adapter(raw),
                up=up,
                mtu=mtu,
                addresses=parse_addresses(addresses.get(raw.name, ())),
            )
        )
    return result


def _hex_ipv4(value: str) -> str:
    """/proc/net/route stores IPv4 addresses as little-endian hex (``010200C0``)."""
    return socket.inet_ntoa(int(value, 16).to_bytes(4, "little"))


def parse_proc_net_route(text: str) -> list[RouteFacts]:
    """Default IPv4 routes from /proc/net/route.

    Sample input::

        Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
        eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0
    """
    routes = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        try:
            if int(cols[1], 16) != 0 or int(cols[7], 16) != 0 or not int(cols[3], 16) & 0x1:
                continue
            gateway = _hex_ipv4(cols[2])
            metric = int(cols[6])
        except (ValueError, OverflowError):
            continue
        routes.append(
            RouteFacts(
                destination="0.0.0.0/0",
                gateway="" if gateway == "0.0.0.0" else gateway,  # noqa: S104 - on-link route
                interface=cols[0][:255],
                metric=max(metric, 0),
            )
        )
    return routes


def parse_proc_net_ipv6_route(text: str) -> list[RouteFacts]:
    """Default IPv6 routes from /proc/net/ipv6_route (32-hex-digit fields, no header).

    Sample line: ``00000000000000000000000000000000 00 ... fe800000000000000000000000000001
    00000400 00000001 00000000 00000003 eth0``.
    """
    routes = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) != 10:
            continue
        try:
            if int(cols[0], 16) != 0 or int(cols[1], 16) != 0 or not int(cols[8], 16) & 0x1:
                continue
            gateway = ipaddress.IPv6Address(int(cols[4], 16))
            metric = int(cols[5], 16)
        except ValueError:
            continue
        if cols[9] == "lo":
            continue
        routes.append(
            RouteFacts(
                destination="::/0",
                gateway="" if gateway == ipaddress.IPv6Address(0) else str(gateway),
                interface=cols[9][:255],
                metric=min(metric, 2**31),
            )
        )
    return routes


def parse_resolv_conf(text: str) -> tuple[list[str], list[str]]:
    """Name servers and search domains from /etc/resolv.conf.

    Sample input: ``nameserver 192.0.2.53`` / ``search example.internal``.
    """
    servers: list[str] = []
    search: list[str] = []
    for line in text.splitlines():
        cols = line.split("#", 1)[0].split()
        if len(cols) >= 2 and cols[0] == "nameserver":
            try:
                servers.append(str(ipaddress.ip_address(cols[1].split("%", 1)[0])))
            except ValueError:
                continue
        elif cols and cols[0] in {"search", "domain"}:
            search = [c[:255] for c in cols[1:]]
    return servers[:32], search[:32]


def _addresses(ctx: HostContext) -> dict[str, list[RawAddress]]:
    return {
        str(name): [RawAddress(str(a[0]), str(a[1]), a[2] if a[2] is None else str(a[2])) for a in items]
        for name, items in ctx.fact("net_if_addrs").items()
    }


def collect_linux(ctx: HostContext) -> Collected:
    errors: list[SectionError] = []
    try:
        addresses = _addresses(ctx)
    except (OSError, KeyError, TypeError, ValueError, IndexError) as exc:
        errors.append(SectionError(source="interface addresses", message=str(exc)[:1000]))
        addresses = {}
    routes = parse_proc_net_route(ctx.read_optional("/proc/net/route") or "")
    routes += parse_proc_net_ipv6_route(ctx.read_optional("/proc/net/ipv6_route") or "")
    servers, search = parse_resolv_conf(ctx.read_optional("/etc/resolv.conf") or "")
    facts = NetworkFacts(
        interfaces=build_interfaces(read_net_interfaces(ctx), addresses),
        default_routes=routes[:64],
        dns_servers=servers,
        dns_search=search,
    )
    return Collected(facts, errors)


def _collect_windows(ctx: HostContext) -> Collected:
    from agent.probes.network_windows import collect_windows

    return collect_windows(ctx)


PROBE = Probe(
    section="network",
    description="Interfaces with addresses and kinds, default routes, DNS servers.",
    collectors={"linux": collect_linux, "windows": _collect_windows},
)
