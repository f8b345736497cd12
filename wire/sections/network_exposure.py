"""Section ``network_exposure``: listening ports, default routes, uplinks, Wi-Fi/cellular up.

The evidence for two requirements: A9-T1 (risky exposure: what listens, on which
addresses, held by which program) and A9-T3.2 (unapproved network paths, 违规外联:
an internal-network PC that also reaches outside through a second adapter, Wi-Fi or a
4G modem). The derived booleans are what a policy tests; the lists are the evidence.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wire._base import LongText, MacAddress, Name, ShortText, Text, WireModel

__all__ = [
    "BindScope",
    "DefaultRoute",
    "ListeningSocket",
    "NetworkExposureFacts",
    "PhysicalAdapter",
    "SocketOwner",
    "TunnelInterface",
    "TunnelKind",
]

BindScope = Literal["all", "loopback", "specific"]
Family = Literal["ipv4", "ipv6"]
TunnelKind = Literal["tun", "tap", "wireguard", "ppp", "ip-tunnel", "vpn-adapter"]
ListenerSource = Literal["ss", "proc", "powershell", "netstat", ""]


class SocketOwner(WireModel):
    name: ShortText = Field(default="", description="Process name (sshd, svchost).")
    pid: int | None = Field(default=None, ge=0, description="Process id.")
    executable: Text = Field(default="", description="Executable path, when the OS tells it.")


class ListeningSocket(WireModel):
    protocol: Literal["tcp", "udp"] = Field(description="tcp (LISTEN) or udp (bound, not connected).")
    family: Family = Field(description="Address family of the socket.")
    local_address: ShortText = Field(
        description="Bound address as reported, zone removed (0.0.0.0, ::, 127.0.0.1, 10.1.2.3)."
    )
    port: int = Field(ge=0, le=65535, description="Local port.")
    bind_scope: BindScope = Field(
        description="all: every address (0.0.0.0, ::, *); loopback: this host only; specific: one address."
    )
    interface: ShortText = Field(
        default="", description="Device the socket is bound to (ss `%lo`, IPv6 zone), if any."
    )
    process_name: ShortText = Field(default="", description="Owning process name; empty when unknown.")
    pid: int | None = Field(default=None, ge=0, description="Owning process id; null when unknown.")
    executable: Text = Field(default="", description="Executable path of the owner, when available.")
    other_owners: list[SocketOwner] = Field(
        default_factory=list,
        max_length=16,
        description="Further processes holding the same socket (e.g. systemd socket activation).",
    )


class DefaultRoute(WireModel):
    family: Family = Field(description="ipv4 (0.0.0.0/0) or ipv6 (::/0).")
    gateway: ShortText = Field(default="", description="Next hop; empty when the route is on-link.")
    interface: ShortText = Field(default="", description="Outgoing interface (name, or address on Win7).")
    metric: int | None = Field(default=None, ge=0, description="Route metric; lower wins.")
    interface_metric: int | None = Field(
        default=None, ge=0, description="Windows interface metric (added to the route metric)."
    )


class PhysicalAdapter(WireModel):
    name: Name = Field(description="Interface name (eth0, wlan0, 以太网, WLAN).")
    description: ShortText = Field(default="", description="Driver description (Windows) or driver.")
    kind: Literal["wired", "wireless", "cellular", "other"] = Field(
        description="wired / wireless / cellular, as in the hardware section."
    )
    mac: MacAddress | None = Field(default=None, description="Hardware address, lowercase.")
    up: bool = Field(description="Operationally up (link/carrier, associated for Wi-Fi).")
    addresses: list[ShortText] = Field(
        default_factory=list,
        max_length=64,
        description="Usable addresses: IPv4 other than 169.254/16, IPv6 other than link-local.",
    )
    default_route: bool = Field(default=False, description="A default route leaves through it.")
    uplink: bool = Field(description="Up and with a usable address: an active path off this host.")


class TunnelInterface(WireModel):
    name: Name = Field(description="Interface name (tun0, wg0, ppp0, 'OpenVPN TAP-Windows6').")
    kind: TunnelKind = Field(description="tun / tap / wireguard / ppp / ip-tunnel / vpn-adapter.")
    description: ShortText = Field(default="", description="Driver or adapter description.")
    addresses: list[ShortText] = Field(default_factory=list, max_length=64, description="Its addresses.")


class NetworkExposureFacts(WireModel):
    """What this host exposes and through which paths it reaches other networks."""

    listeners: list[ListeningSocket] = Field(
        default_factory=list, max_length=4096, description="Listening TCP and bound UDP sockets."
    )
    listeners_source: ListenerSource = Field(
        default="", description="ss, proc (/proc/net, no process names), powershell or netstat."
    )
    processes_known: bool | None = Field(
        default=None, description="Whether owners could be read (false: /proc fallback or not root)."
    )
    default_routes: list[DefaultRoute] = Field(
        default_factory=list, max_length=64, description="IPv4 and IPv6 default routes."
    )
    adapters: list[PhysicalAdapter] = Field(
        default_factory=list, max_length=256, description="Physical adapters (wired, wireless, cellular)."
    )
    tunnels: list[TunnelInterface] = Field(
        default_factory=list, max_length=64, description="VPN/tunnel interfaces that are up."
    )
    active_uplinks: list[Name] = Field(
        default_factory=list, max_length=256, description="Names of the adapters that are uplinks."
    )
    multiple_uplinks: bool | None = Field(
        default=None,
        description=(
            "More than one active uplink: two physical adapters up with addresses, or default "
            "routes through two physical adapters (dual-homed, 违规外联 evidence). Null: not read."
        ),
    )
    wireless_or_cellular_up: bool | None = Field(
        default=None, description="A Wi-Fi or cellular (4G/5G) adapter is up. Null: not read."
    )
    note: LongText = Field(default="", description="What could not be read, for the admin.")
