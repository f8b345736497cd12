"""Section ``network``: interfaces with their addresses, routes and name servers.

Feeds IP/MAC search in the inventory (A9-M3.3) and the unapproved-uplink checks
(A9-T3.2, 违规外联).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from wire._base import MacAddress, Name, ShortText, WireModel
from wire.sections.hardware import AdapterKind

__all__ = ["InterfaceAddress", "InterfaceFacts", "NetworkFacts", "RouteFacts"]


class InterfaceAddress(WireModel):
    address: IPv4Address | IPv6Address = Field(description="The IP address.")
    prefix_length: int = Field(ge=0, le=128, description="Network prefix length.")
    scope: Literal["global", "link", "host", "site"] = Field(
        default="global", description="Address scope (link-local, loopback...)."
    )


class InterfaceFacts(WireModel):
    name: Name = Field(description="Interface name as the OS shows it.")
    mac: MacAddress | None = Field(default=None, description="Hardware address, lowercase.")
    kind: AdapterKind = Field(description="wired / wireless / cellular / virtual / loopback / other.")
    up: bool = Field(description="Administratively up and with carrier.")
    mtu: int | None = Field(default=None, ge=0, le=1_000_000, description="Maximum transmission unit.")
    addresses: list[InterfaceAddress] = Field(
        default_factory=list, max_length=256, description="IPv4 and IPv6 addresses."
    )
    description: ShortText = Field(
        default="", description="Adapter description (Windows: the driver's product name)."
    )
    dhcp: bool | None = Field(
        default=None, description="Whether the address comes from DHCP; null when the source does not say."
    )
    dhcp_server: ShortText = Field(default="", description="The DHCP server that leased the address.")
    gateways: list[ShortText] = Field(
        default_factory=list, max_length=16, description="Default gateways configured on this interface."
    )
    dns_servers: list[ShortText] = Field(
        default_factory=list, max_length=32, description="DNS servers configured on this interface."
    )

    @model_serializer(mode="wrap")
    def _omit_unset_additions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Fields added after contract v1 are left out while unset, so the content hash of a
        report made before they existed (and of every Linux report) does not change."""
        data: dict[str, Any] = handler(self)
        for name in INTERFACE_ADDED_FIELDS:
            if data.get(name) in ("", None, []):
                data.pop(name, None)
        return data


#: InterfaceFacts fields added after contract v1, omitted from the serialised form while empty.
INTERFACE_ADDED_FIELDS = ("description", "dhcp", "dhcp_server", "gateways", "dns_servers")


class RouteFacts(WireModel):
    destination: ShortText = Field(description="Destination prefix, e.g. 0.0.0.0/0.")
    gateway: ShortText = Field(default="", description="Next hop; empty when on-link.")
    interface: ShortText = Field(default="", description="Outgoing interface.")
    metric: int = Field(default=0, ge=0, description="Route metric; lower wins.")


class NetworkFacts(WireModel):
    interfaces: list[InterfaceFacts] = Field(
        default_factory=list, max_length=256, description="Every network interface."
    )
    default_routes: list[RouteFacts] = Field(
        default_factory=list, max_length=64, description="Default routes (IPv4 and IPv6): the uplinks."
    )
    dns_servers: list[ShortText] = Field(
        default_factory=list, max_length=32, description="Configured DNS servers."
    )
    dns_search: list[ShortText] = Field(
        default_factory=list, max_length=32, description="DNS search domains."
    )
