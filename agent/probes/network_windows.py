"""Windows reader of the ``network`` section: one PowerShell call, or wmic on Windows 7.

The parser takes a mapping with the keys ``Configurations`` (Win32_NetworkAdapterConfiguration
where IPEnabled), ``Adapters`` (Win32_NetworkAdapter: connection name and status) and
``Routes`` (Get-NetRoute default routes, or Win32_IP4RouteTable on systems without it). The
PowerShell reader writes exactly that; ``wmic ... /format:list`` captures give the same
instances, so a Windows 7 capture goes through the same code.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from agent.host import HostContext, ReadError
from agent.probes.base import Collected, read_with_fallback
from agent.probes.hardware import normalise_mac
from agent.probes.hardware_windows import adapter_kind
from agent.probes.network import RawAddress, parse_addresses
from agent.wmi import as_instances, parse_wmic_list, wmic_argv, wmic_classes
from wire import SectionError
from wire.sections import InterfaceFacts, NetworkFacts, RouteFacts

__all__ = [
    "POWERSHELL_ARGV",
    "WMIC_CLASSES",
    "collect_windows",
    "parse_windows_network",
    "parse_wmic_array",
    "windows_network_from_wmic",
]

_CONFIG_PROPERTIES = (
    "Index,InterfaceIndex,Description,MACAddress,IPAddress,IPSubnet,DefaultIPGateway,DNSServerSearchOrder,"
    "DHCPEnabled,DHCPServer,DNSDomain,DNSDomainSuffixSearchOrder,MTU"
)
_ADAPTER_PROPERTIES = (
    "Index,InterfaceIndex,NetConnectionID,Name,Description,ProductName,NetConnectionStatus,NetEnabled,"
    "PhysicalAdapter,MACAddress"
)
#: One PowerShell call (Windows PowerShell 5.1 and PowerShell 7): each part in its own try/catch.
#: Get-NetRoute runs with -ErrorAction SilentlyContinue: it reports "no matching MSFT_NetRoute
#: objects" for a prefix without a route (::/0 on most IPv4-only networks), which -ErrorAction
#: Stop would turn into a failure of the whole part; a missing cmdlet (Windows 7) still throws.
#: ActiveStore: a static gateway is also in the PersistentStore and would be listed twice.
POWERSHELL = (
    "[Console]::OutputEncoding=[Text.Encoding]::UTF8; $r=[ordered]@{}; $e=@(); "
    "try { $r.Configurations = @(Get-CimInstance -ClassName Win32_NetworkAdapterConfiguration "
    f"-Filter 'IPEnabled=True' -ErrorAction Stop | Select-Object -Property {_CONFIG_PROPERTIES}) }} "
    "catch { $e += 'Win32_NetworkAdapterConfiguration: ' + $_ }; "
    "try { $r.Adapters = @(Get-CimInstance -ClassName Win32_NetworkAdapter -ErrorAction Stop | "
    f"Where-Object {{ $_.NetConnectionID }} | Select-Object -Property {_ADAPTER_PROPERTIES}) }} "
    "catch { $e += 'Win32_NetworkAdapter: ' + $_ }; "
    "try { $r.Routes = @(Get-NetRoute -DestinationPrefix '0.0.0.0/0','::/0' -PolicyStore ActiveStore "
    "-ErrorAction SilentlyContinue | "
    "Select-Object -Property DestinationPrefix,NextHop,InterfaceIndex,InterfaceAlias,RouteMetric,"
    "InterfaceMetric) } catch { try { $r.Routes = @(Get-CimInstance -ClassName Win32_IP4RouteTable "
    "-Filter 'Destination=''0.0.0.0''' -ErrorAction Stop | Select-Object -Property Destination,Mask,"
    "NextHop,InterfaceIndex,Metric1) } catch { $e += 'routes: ' + $_ } }; "
    "$r.Errors = @($e | ForEach-Object { [string]$_ }); $r | ConvertTo-Json -Depth 4 -Compress"
)
#: The reader's command line (a capture bundle records it under this argv).
POWERSHELL_ARGV = [
    "powershell.exe",
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-Command",
    POWERSHELL,
]
#: Windows 7 without PowerShell 3: each class read with agent.wmi.wmic_argv (key in the parser's mapping).
WMIC_CLASSES = {
    "Configurations": "Win32_NetworkAdapterConfiguration",
    "Adapters": "Win32_NetworkAdapter",
    "Routes": "Win32_IP4RouteTable",
}


def parse_wmic_array(value: Any) -> list[str]:
    """A WMI array as wmic writes it (``{"192.0.2.7","fe80::1"}``), or a PowerShell list or string."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    if value is None or isinstance(value, dict | bool):
        return []
    text = str(value).strip()
    if text.startswith("{") and text.endswith("}"):
        quoted = re.findall(r'"([^"]*)"', text)
        items = quoted if quoted else text[1:-1].split(",")
        return [item.strip() for item in items if item.strip()]
    return [text] if text else []


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.split("%", 1)[0].strip()))
    except ValueError:
        return ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**31 else None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text == "true" else False if text == "false" else None


def _raw_addresses(config: Mapping[str, Any]) -> list[RawAddress]:
    """IPAddress and IPSubnet are parallel arrays; an IPv6 "subnet" is a prefix length ("64")."""
    addresses, subnets = parse_wmic_array(config.get("IPAddress")), parse_wmic_array(config.get("IPSubnet"))
    raw = []
    for i, address in enumerate(addresses):
        family = "inet6" if ":" in address else "inet"
        subnet = subnets[i] if i < len(subnets) else ""
        raw.append(RawAddress(family, address, f"/{subnet}" if subnet.isdecimal() else subnet or None))
    return raw


def _interface(config: Mapping[str, Any], adapter: Mapping[str, Any]) -> InterfaceFacts:
    description = str(config.get("Description") or adapter.get("Description") or "").strip()
    name = str(adapter.get("NetConnectionID") or "").strip() or description or f"index {config.get('Index')}"
    status = _int(adapter.get("NetConnectionStatus"))
    addresses = parse_addresses(_raw_addresses(config))
    up = status == 2 if status is not None else bool(_flag(adapter.get("NetEnabled")) or addresses)
    kind = adapter_kind({**adapter, "Description": description}) if adapter else adapter_kind(config)
    mtu = _int(config.get("MTU"))
    return InterfaceFacts(
        name=name[:128],
        mac=normalise_mac(str(config.get("MACAddress") or "").replace("-", ":")),
        kind=kind,
        up=up,
        mtu=mtu if mtu is not None and mtu <= 1_000_000 else None,
        addresses=addresses,
        description=description[:255],
        dhcp=_flag(config.get("DHCPEnabled")),
        dhcp_server=_ip(str(config.get("DHCPServer") or "")),
        gateways=[g for g in map(_ip, parse_wmic_array(config.get("DefaultIPGateway"))) if g][:16],
        dns_servers=[d for d in map(_ip, parse_wmic_array(config.get("DNSServerSearchOrder"))) if d][:32],
    )


def _route(route: Mapping[str, Any], names: Mapping[int, str]) -> RouteFacts | None:
    prefix = str(route.get("DestinationPrefix") or "").strip()
    if not prefix and str(route.get("Destination") or "").strip() == "0.0.0.0":  # noqa: S104 - route table
        prefix = "0.0.0.0/0" if str(route.get("Mask") or "0.0.0.0").strip() == "0.0.0.0" else ""  # noqa: S104
    if prefix not in {"0.0.0.0/0", "::/0"}:
        return None
    gateway = _ip(str(route.get("NextHop") or ""))
    index = _int(route.get("InterfaceIndex"))
    metric = (_int(route.get("RouteMetric")) or 0) + (_int(route.get("InterfaceMetric")) or 0)
    if route.get("Metric1") is not None:
        metric = _int(route.get("Metric1")) or 0
    alias = str(route.get("InterfaceAlias") or "").strip() or (
        names.get(index, "") if index is not None else ""
    )
    return RouteFacts(
        destination=prefix,
        gateway="" if gateway in {"0.0.0.0", "::"} else gateway,  # noqa: S104 - on-link
        interface=alias[:255],
        metric=metric,
    )


def _unique(values: list[str], limit: int) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))[:limit]


def parse_windows_network(data: Mapping[str, Any]) -> NetworkFacts:
    """NetworkFacts from the reader's JSON (or the same mapping built from wmic captures).

    Sample input (PowerShell 5.1, abridged)::

        {"Configurations": [{"Index": 1, "InterfaceIndex": 12, "Description": "Intel(R) Ethernet ...",
            "MACAddress": "00:15:5D:01:02:03", "IPAddress": ["192.0.2.7", "fe80::1"],
            "IPSubnet": ["255.255.255.0", "64"], "DefaultIPGateway": ["192.0.2.1"],
            "DNSServerSearchOrder": ["192.0.2.53"], "DHCPEnabled": true, ...}],
         "Adapters": [{"Index": 1, "NetConnectionID": "以太网", "NetConnectionStatus": 2, ...}],
         "Routes": [{"DestinationPrefix": "0.0.0.0/0", "NextHop": "192.0.2.1", "InterfaceIndex": 12,
            "InterfaceAlias": "以太网", "RouteMetric": 0, "InterfaceMetric": 25}]}
    """
    adapters = {_int(a.get("Index")): a for a in as_instances(data.get("Adapters"))}
    configs = as_instances(data.get("Configurations"))
    interfaces = [_interface(c, adapters.get(_int(c.get("Index")), {})) for c in configs]
    names = {
        index: iface.name
        for c, iface in zip(configs, interfaces, strict=True)
        if (index := _int(c.get("InterfaceIndex"))) is not None
    }
    routes = [r for r in (_route(item, names) for item in as_instances(data.get("Routes"))) if r]
    if not routes:  # no route table captured: the configured gateways are the default routes
        routes = [
            RouteFacts(destination="::/0" if ":" in g else "0.0.0.0/0", gateway=g, interface=i.name)
            for i in interfaces
            for g in i.gateways
        ]
    search = [str(c.get("DNSDomain") or "").strip() for c in configs]
    search += [s for c in configs for s in parse_wmic_array(c.get("DNSDomainSuffixSearchOrder"))]
    return NetworkFacts(
        interfaces=sorted(interfaces, key=lambda i: i.name)[:256],
        default_routes=sorted(routes, key=lambda r: (r.destination, r.metric, r.interface))[:64],
        dns_servers=_unique([d for i in interfaces for d in i.dns_servers], 32),
        dns_search=[s[:255] for s in _unique(search, 32)],
    )


def windows_network_from_wmic(outputs: Mapping[str, str]) -> NetworkFacts:
    """NetworkFacts from wmic captures (key -> text, keys as in WMIC_CLASSES)."""
    data = {key: parse_wmic_list(text.replace("\x00", "").lstrip("\ufeff")) for key, text in outputs.items()}
    data["Configurations"] = [
        c for c in data.get("Configurations", []) if _flag(c.get("IPEnabled")) is not False
    ]
    return parse_windows_network(data)


def _powershell(ctx: HostContext) -> tuple[dict[str, Any], list[SectionError]]:
    try:
        result = ctx.run(POWERSHELL_ARGV, timeout=60)
    except ReadError as exc:
        raise ReadError("powershell Win32_NetworkAdapterConfiguration", exc.message) from None
    if result.returncode != 0:
        raise ReadError(
            "powershell Win32_NetworkAdapterConfiguration", (result.stderr or "failed").strip()[:500]
        )
    try:
        data = json.loads(result.stdout.lstrip("\ufeff") or "null")
    except ValueError as exc:
        raise ReadError("powershell Win32_NetworkAdapterConfiguration", f"output is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ReadError("powershell Win32_NetworkAdapterConfiguration", "output is not a JSON object")
    errors = data.get("Errors")
    messages = [errors] if isinstance(errors, str) else errors if isinstance(errors, list) else []
    return data, [SectionError(source="powershell", message=str(m)[:1000]) for m in messages[:16] if m]


def _wmic(ctx: HostContext) -> tuple[NetworkFacts, list[SectionError]]:
    found = wmic_classes(ctx, list(WMIC_CLASSES.values()))
    if "Win32_NetworkAdapterConfiguration" not in found:
        raise ReadError(" ".join(wmic_argv("Win32_NetworkAdapterConfiguration")), "not read")
    data: dict[str, Any] = {key: found.get(name, []) for key, name in WMIC_CLASSES.items()}
    data["Configurations"] = [c for c in data["Configurations"] if _flag(c.get("IPEnabled")) is not False]
    missing = [name for name in WMIC_CLASSES.values() if name not in found]
    return parse_windows_network(data), [
        SectionError(source=f"wmic {n}", message="not read") for n in missing
    ]


def collect_windows(ctx: HostContext) -> Collected:
    """PowerShell first; on a PC without PowerShell 3 (Windows 7), wmic."""

    def from_powershell() -> tuple[BaseModel, list[SectionError]]:
        data, errors = _powershell(ctx)
        return parse_windows_network(data), errors

    return read_with_fallback(from_powershell, lambda: _wmic(ctx))
