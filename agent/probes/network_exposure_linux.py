"""Linux reader of ``network_exposure``: ``ss`` (or /proc/net), /proc routes, sysfs adapters.

Sources:
- ``ss -H -t -u -l -n -p`` (iproute2): TCP listeners and bound UDP sockets with their
  owners; without ss, /proc/net/{tcp,tcp6,udp,udp6}, which carry no process names;
- /proc/<pid>/exe: the owner's executable;
- /proc/net/route and /proc/net/ipv6_route: default routes (parsers of the network probe);
- /sys/class/net and the interface addresses: adapter kinds (hardware probe logic), state.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from agent.host import HostContext, ReadError
from agent.probes.base import Collected
from agent.probes.hardware import SysfsNetInterface, read_net_interfaces
from agent.probes.network import (
    RawAddress,
    build_interfaces,
    parse_proc_net_ipv6_route,
    parse_proc_net_route,
)
from agent.probes.network_exposure import AdapterState, assemble, listener, owner, split_host_port
from wire import SectionError
from wire.sections.network import RouteFacts
from wire.sections.network_exposure import (
    DefaultRoute,
    ListeningSocket,
    TunnelInterface,
    TunnelKind,
)

__all__ = [
    "SS_ARGV",
    "collect_linux",
    "parse_proc_net_sockets",
    "parse_ss",
    "ss_pids",
    "to_default_routes",
    "tunnel_kind",
]

#: TCP listeners and UDP sockets, numeric, with processes, no header line.
SS_ARGV = ["ss", "-H", "-t", "-u", "-l", "-n", "-p"]
_OWNER = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=([0-9]+),fd=[0-9]+\)')
_PROC_NET = (
    ("/proc/net/tcp", "tcp"),
    ("/proc/net/tcp6", "tcp"),
    ("/proc/net/udp", "udp"),
    ("/proc/net/udp6", "udp"),
)
# ARPHRD numbers of IP-in-IP, SIT, GRE and friends (include/uapi/linux/if_arp.h).
_IP_TUNNEL_TYPES = {"768", "769", "776", "778", "823"}


def ss_pids(text: str) -> list[int]:
    """Every pid named in the ``users:((...))`` column of ss output."""
    return sorted({int(m.group(2)) for m in _OWNER.finditer(text)})


def parse_ss(text: str, executables: Mapping[int, str] | None = None) -> list[ListeningSocket]:
    """Listening sockets from ``ss -H -t -u -l -n -p``.

    Sample input::

        tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=686,fd=3))
        udp   UNCONN 0      0      127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=610,fd=12))
        tcp   LISTEN 0      4096               *:9100            *:*

    A line without a Netid column (ss run for one protocol) is told apart by its state:
    LISTEN is TCP, UNCONN is UDP. The header line (``State``/``Netid``) is skipped.
    """
    exes = executables or {}
    found: list[ListeningSocket | None] = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 5:
            continue
        if cols[0] in {"tcp", "udp"}:
            protocol, rest = cols[0], cols[1:]
        elif cols[0] in {"LISTEN", "UNCONN"}:
            protocol, rest = ("tcp" if cols[0] == "LISTEN" else "udp"), cols
        else:
            continue
        if len(rest) < 5 or rest[0] not in {"LISTEN", "UNCONN"}:
            continue
        local = split_host_port(rest[3])
        if local is None:
            continue
        owners = [
            owner(m.group(1), int(m.group(2)), exes.get(int(m.group(2)), ""))
            for m in _OWNER.finditer(" ".join(rest[5:]))
        ]
        # systemd (pid 1) holds socket-activated sockets too: name the service first
        owners.sort(key=lambda item: item.pid == 1)
        address, zone, port = local
        found.append(listener(protocol, address, port, interface=zone, owners=owners))
    return [item for item in found if item is not None]


def _hex_address(text: str) -> str | None:
    """/proc/net address: IPv4 as one little-endian word, IPv6 as four little-endian words."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    if len(raw) == 16:
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        return str(ipaddress.IPv6Address(words))
    return None


def parse_proc_net_sockets(text: str, protocol: str) -> list[ListeningSocket]:
    """Listening TCP (state 0A) or unconnected UDP (state 07, no peer) from /proc/net/{tcp,udp}[6].

    Sample input::

          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 624 1 ...

    The kernel does not say which process owns a socket here (only its inode).
    """
    found: list[ListeningSocket | None] = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 4 or ":" not in cols[1] or ":" not in cols[2]:
            continue
        local_hex, _, port_hex = cols[1].partition(":")
        remote_hex, _, remote_port = cols[2].partition(":")
        state = cols[3].upper()
        if protocol == "tcp" and state != "0A":
            continue
        if protocol == "udp" and (state != "07" or remote_port.strip("0") or remote_hex.strip("0")):
            continue
        address = _hex_address(local_hex)
        try:
            port = int(port_hex, 16)
        except ValueError:
            continue
        if address is not None:
            found.append(listener(protocol, address, port))
    return [item for item in found if item is not None]


def to_default_routes(routes: list[RouteFacts]) -> list[DefaultRoute]:
    """The network probe's default routes, with their address family."""
    return [
        DefaultRoute(
            family="ipv6" if route.destination == "::/0" else "ipv4",
            gateway=route.gateway,
            interface=route.interface,
            metric=route.metric,
        )
        for route in routes
    ]


def tunnel_kind(raw: SysfsNetInterface) -> TunnelKind | None:
    """tun / tap / wireguard / ppp / ip-tunnel from the name, ARPHRD type and udev DEVTYPE; else None."""
    devtype = ""
    for line in raw.uevent.splitlines():
        if line.startswith("DEVTYPE="):
            devtype = line.partition("=")[2].strip()
    kind_type = raw.type.strip()
    if devtype == "wireguard" or raw.name.startswith("wg"):
        return "wireguard"
    if kind_type == "512" or raw.name.startswith("ppp"):
        return "ppp"
    if raw.name.startswith("tap"):
        return "tap"
    if kind_type == "65534" or raw.name.startswith("tun"):
        return "tun"
    if kind_type in _IP_TUNNEL_TYPES:
        return "ip-tunnel"
    return None


def _addresses(ctx: HostContext) -> dict[str, list[RawAddress]]:
    return {
        str(name): [RawAddress(str(a[0]), str(a[1]), a[2] if a[2] is None else str(a[2])) for a in items]
        for name, items in ctx.fact("net_if_addrs").items()
    }


def _listeners(ctx: HostContext, errors: list[SectionError]) -> tuple[list[ListeningSocket], str]:
    try:
        result = ctx.run(SS_ARGV, timeout=30)
    except ReadError as exc:
        result = None
        errors.append(
            SectionError(source="ss", message=f"{exc.message[:900]}; read /proc/net without owners")
        )
    if result is not None and result.returncode == 0:
        exes = {pid: ctx.link_target(f"/proc/{pid}/exe") for pid in ss_pids(result.stdout)[:2048]}
        return parse_ss(result.stdout, exes), "ss"
    if result is not None:
        message = (result.stderr or "failed").strip()[:900]
        errors.append(
            SectionError(source=" ".join(SS_ARGV), message=f"{message}; read /proc/net without owners")
        )
    found: list[ListeningSocket] = []
    for path, protocol in _PROC_NET:
        text = ctx.read_optional(path)
        if text is not None:
            found += parse_proc_net_sockets(text, protocol)
    return found, "proc"


def collect_linux(ctx: HostContext) -> Collected:
    errors: list[SectionError] = []
    listeners, source = _listeners(ctx, errors)
    routes = parse_proc_net_route(ctx.read_optional("/proc/net/route") or "")
    routes += parse_proc_net_ipv6_route(ctx.read_optional("/proc/net/ipv6_route") or "")
    sysfs = read_net_interfaces(ctx)
    try:
        addresses = _addresses(ctx)
    except (ReadError, OSError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        errors.append(SectionError(source="interface addresses", message=str(exc)[:1000]))
        addresses = {}
    interfaces = build_interfaces(sysfs, addresses)
    adapters = [
        AdapterState(
            name=facts.name,
            kind=facts.kind,
            up=facts.up,
            addresses=[str(a.address) for a in facts.addresses],
            description=raw.driver,
            mac=facts.mac,
        )
        for raw, facts in zip(sysfs, interfaces, strict=True)
        if facts.kind in {"wired", "wireless", "cellular", "other"}
    ]
    tunnels = [
        TunnelInterface(
            name=facts.name,
            kind=kind,
            description=raw.driver[:255],
            addresses=[str(a.address) for a in facts.addresses][:64],
        )
        for raw, facts in zip(sysfs, interfaces, strict=True)
        if facts.up and facts.kind not in {"wired", "wireless", "cellular"} and (kind := tunnel_kind(raw))
    ]
    notes = ["ss not usable: sockets from /proc/net, owners unknown"] if source == "proc" else []
    if not sysfs:
        notes.append("/sys/class/net not readable: adapters unknown")
    facts = assemble(
        listeners=listeners,
        listeners_source=source,
        processes_known=source == "ss" and all(item.pid is not None for item in listeners),
        routes=to_default_routes(routes),
        adapters=adapters if sysfs else None,
        tunnels=tunnels,
        notes=notes,
    )
    return Collected(facts, errors)
