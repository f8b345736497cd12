"""Windows reader of ``network_exposure``: one PowerShell call, netstat/route/tasklist on Windows 7.

The PowerShell script gathers, each part in its own try/catch:
``Get-NetTCPConnection -State Listen`` and ``Get-NetUDPEndpoint`` (owners joined to
``Get-Process``), ``Get-NetRoute`` for 0.0.0.0/0 and ::/0, ``Get-NetAdapter`` and
``Get-NetIPAddress``. Windows 7 has no NetTCPIP/NetAdapter modules: the script then puts
``netstat -ano`` and ``route print`` text and the WMI adapters into its JSON; where
PowerShell has no ConvertTo-Json at all (PowerShell 2.0), the reader runs ``netstat -ano``,
``route print`` and ``tasklist`` itself.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from typing import Any

from agent.host import HostContext, ReadError
from agent.probes.base import Collected
from agent.probes.hardware import normalise_mac
from agent.probes.network_exposure import (
    AdapterState,
    assemble,
    clean,
    is_number,
    listener,
    owner,
    split_host_port,
    usable_address,
)
from agent.wmi import as_instances
from wire import SectionError
from wire.sections.network_exposure import (
    DefaultRoute,
    ListeningSocket,
    NetworkExposureFacts,
    SocketOwner,
    TunnelInterface,
    TunnelKind,
)

__all__ = [
    "NETSTAT_ARGV",
    "POWERSHELL",
    "POWERSHELL_ARGV",
    "ROUTE_ARGV",
    "TASKLIST_ARGV",
    "collect_windows",
    "parse_netstat_ano",
    "parse_route_print",
    "parse_tasklist_csv",
    "parse_windows_exposure",
    "parse_windows_listeners",
]

_SELECT_ADAPTER = (
    "Name,InterfaceDescription,InterfaceIndex,InterfaceType,Status,MediaType,PhysicalMediaType,"
    "NdisPhysicalMedium,HardwareInterface,Virtual,MacAddress"
)
#: One PowerShell call; UTF-8 output so that Chinese adapter and process names survive.
#: Data cmdlets run with -ErrorAction SilentlyContinue ("no objects found" is no error);
#: a missing cmdlet (Windows 7) still lands in catch and triggers the fallback of that part.
POWERSHELL = (
    "[Console]::OutputEncoding=[Text.Encoding]::UTF8; $r=@{}; $e=@{}; "
    "try { $r.tcp=@(Get-NetTCPConnection -State Listen -ErrorAction SilentlyContinue"
    " | Select-Object LocalAddress,LocalPort,OwningProcess) }"
    " catch { $e.tcp=$_.Exception.Message; $r.netstat=(netstat.exe -ano | Out-String) }; "
    "try { $r.udp=@(Get-NetUDPEndpoint -ErrorAction SilentlyContinue"
    " | Select-Object LocalAddress,LocalPort,OwningProcess) } catch { $e.udp=$_.Exception.Message }; "
    "try { $r.processes=@(Get-Process -ErrorAction SilentlyContinue | Select-Object Id,ProcessName,Path) }"
    " catch { $e.processes=$_.Exception.Message }; "
    "try { $r.routes=@(Get-NetRoute -DestinationPrefix '0.0.0.0/0','::/0' -PolicyStore ActiveStore"
    " -ErrorAction SilentlyContinue"
    " | Select-Object DestinationPrefix,NextHop,InterfaceAlias,InterfaceIndex,RouteMetric,InterfaceMetric) }"
    " catch { $e.routes=$_.Exception.Message; $r.route_print=(route.exe print | Out-String) }; "
    f"try {{ $r.adapters=@(Get-NetAdapter -ErrorAction Stop | Select-Object {_SELECT_ADAPTER}) }}"
    " catch { $e.adapters=$_.Exception.Message; try { $r.wmi_adapters=@(Get-WmiObject Win32_NetworkAdapter"
    " -Filter 'PhysicalAdapter=TRUE' | Select-Object NetConnectionID,Name,InterfaceIndex,NetConnectionStatus,"
    "MACAddress); $r.wmi_configs=@(Get-WmiObject Win32_NetworkAdapterConfiguration -Filter 'IPEnabled=TRUE'"
    " | Select-Object InterfaceIndex,IPAddress) } catch { $e.wmi=$_.Exception.Message } }; "
    "try { $r.addresses=@(Get-NetIPAddress -ErrorAction SilentlyContinue"
    " | Select-Object InterfaceAlias,InterfaceIndex,IPAddress) } catch { $e.addresses=$_.Exception.Message }; "
    "$r.errors=$e; $r | ConvertTo-Json -Depth 4 -Compress"
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
#: Windows 7 with PowerShell 2.0 (no ConvertTo-Json): plain tools.
NETSTAT_ARGV = ["netstat", "-ano"]
ROUTE_ARGV = ["route", "print"]
TASKLIST_ARGV = ["tasklist", "/fo", "csv", "/nh"]

# NDIS_PHYSICAL_MEDIUM numbers and the strings Get-NetAdapter shows for them.
_MEDIUM_KIND = {
    "1": "wireless",
    "9": "wireless",
    "8": "cellular",
    "12": "cellular",
    "14": "wired",
    "native 802.11": "wireless",
    "wireless lan": "wireless",
    "wireless wan": "cellular",
    "wimax": "cellular",
    "802.3": "wired",
}
# IANA ifType: 6 ethernetCsmacd, 71 ieee80211, 243/244 wwanPP/wwanPP2 (mobile broadband).
_IF_TYPE_KIND = {"6": "wired", "71": "wireless", "243": "cellular", "244": "cellular"}
_CELLULAR = re.compile(
    r"mobile broadband|wwan|\blte\b|\b[45]g\b|移动宽带|remote ndis|rndis|android usb ethernet|"
    r"apple mobile device ethernet|iphone|huawei mobile|usb modem",
    re.I,
)
_WIRELESS = re.compile(r"wireless|wi-?fi|802\.11|wlan|无线", re.I)
_VIRTUAL = re.compile(
    r"virtual|vmware|hyper-v|tap-windows|wintun|wireguard|vpn|loopback|miniport|tunnel|isatap|teredo|"
    r"fortinet|anyconnect|globalprotect|pangp|juniper|sangfor|深信服|easyconnect|openvpn|zerotier|tailscale",
    re.I,
)
_TUNNEL_KINDS: tuple[tuple[re.Pattern[str], TunnelKind], ...] = (
    (re.compile(r"wireguard|wintun", re.I), "wireguard"),
    (re.compile(r"tap-windows|\btap\b|openvpn", re.I), "tap"),
    (re.compile(r"\bppp\b|wan miniport", re.I), "ppp"),
    (
        re.compile(
            r"vpn|fortinet|anyconnect|globalprotect|pangp|juniper|sangfor|深信服|easyconnect|zerotier|tailscale",
            re.I,
        ),
        "vpn-adapter",
    ),
)


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else clean(str(value))


def _int(value: Any) -> int | None:
    try:
        number = int(_text(value))
    except ValueError:
        return None
    return number if 0 <= number < 2**31 else None


def _true(value: Any) -> bool | None:
    text = _text(value).lower()
    return True if text in {"true", "1"} else False if text in {"false", "0"} else None


def _index(item: Mapping[str, Any]) -> str:
    """Interface index under either of its names (InterfaceIndex, ifIndex)."""
    return _text(item.get("InterfaceIndex")) or _text(item.get("ifIndex"))


def _owners(processes: Any) -> dict[int, SocketOwner]:
    found: dict[int, SocketOwner] = {}
    for item in as_instances(processes):
        pid = _int(item.get("Id"))
        if pid is not None:
            name = _text(item.get("ProcessName")) or _text(item.get("Name"))
            found[pid] = owner(name, pid, _text(item.get("Path")))
    return found


def _endpoint(
    protocol: str, item: Mapping[str, Any], owners: Mapping[int, SocketOwner]
) -> ListeningSocket | None:
    if protocol == "tcp" and _text(item.get("State")).lower() not in {"", "2", "listen"}:
        return None  # a capture of every connection: only listeners (State 2 = Listen) count
    address, _, zone = _text(item.get("LocalAddress")).partition("%")
    port = _int(item.get("LocalPort"))
    pid = _int(item.get("OwningProcess"))
    if port is None or port > 65535:
        return None
    held_by = owners.get(pid, owner(pid=pid)) if pid is not None else owner()
    return listener(protocol, address, port, interface=zone, owners=[held_by])


def parse_netstat_ano(text: str, names: Mapping[int, str] | None = None) -> list[ListeningSocket]:
    """Listening TCP and unconnected UDP sockets from ``netstat -ano`` (any Windows language).

    Sample input::

          Proto  Local Address          Foreign Address        State           PID
          TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       664
          TCP    [::]:445               [::]:0                 LISTENING       4
          UDP    0.0.0.0:123            *:*                                    872

    The State word is localised (LISTENING, ABHÖREN, 侦听), so a TCP listener is told by its
    foreign address ``0.0.0.0:0`` / ``[::]:0`` instead; UDP by ``*:*``.
    """
    found: list[ListeningSocket | None] = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 4 or cols[0].upper() not in {"TCP", "UDP"} or not is_number(cols[-1]):
            continue
        protocol = cols[0].lower()
        local, foreign, pid = split_host_port(cols[1]), cols[2], int(cols[-1])
        if local is None:
            continue
        if protocol == "tcp" and foreign not in {"0.0.0.0:0", "[::]:0"}:
            continue
        if protocol == "udp" and foreign != "*:*":
            continue
        name = (names or {}).get(pid, "System" if pid == 4 else "")
        address, zone, port = local
        found.append(listener(protocol, address, port, interface=zone, owners=[owner(name, pid)]))
    return [item for item in found if item is not None]


def parse_tasklist_csv(text: str) -> dict[int, str]:
    """pid -> image name from ``tasklist /fo csv /nh`` (``"svchost.exe","664","Services","0","12,345 K"``)."""
    names: dict[int, str] = {}
    try:
        rows = list(csv.reader(io.StringIO(text.replace("\x00", ""))))
    except csv.Error:
        return names
    for row in rows:
        if len(row) >= 2 and is_number(row[1].strip()):
            names[int(row[1].strip())] = clean(row[0]).removesuffix(".exe")[:255]
    return names


def parse_route_print(text: str) -> list[DefaultRoute]:
    """Default routes from ``route print`` (Windows 7 has no Get-NetRoute).

    Sample input::

        Network Destination        Netmask          Gateway       Interface  Metric
                  0.0.0.0          0.0.0.0       10.10.10.2      10.10.10.74    266
         If Metric Network Destination      Gateway
         12    266 ::/0                     fe80::1

    IPv4 active rows have five columns (persistent rows four, with no interface); the
    interface is the address of the local adapter. IPv6 rows name the interface index; a
    long gateway may wrap onto the next line. Gateway ``On-link`` (localised) becomes empty.
    """
    routes: list[DefaultRoute] = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        cols = line.split()
        default_v4 = cols[:2] == ["0.0.0.0", "0.0.0.0"]  # noqa: S104 - a route, not a bind
        if len(cols) == 5 and default_v4 and is_number(cols[4]):
            gateway = cols[2] if usable_address(cols[2]) else ""
            routes.append(
                DefaultRoute(family="ipv4", gateway=gateway, interface=cols[3][:255], metric=_int(cols[4]))
            )
        elif len(cols) in {3, 4} and cols[2] == "::/0" and is_number(cols[0]) and is_number(cols[1]):
            gateway = cols[3] if len(cols) == 4 else ""
            if len(cols) == 3 and number + 1 < len(lines) and len(lines[number + 1].split()) == 1:
                gateway = lines[number + 1].split()[0]
            gateway = gateway if ":" in gateway else ""
            routes.append(
                DefaultRoute(family="ipv6", gateway=gateway[:255], interface=cols[0], metric=_int(cols[1]))
            )
    unique: dict[DefaultRoute, None] = dict.fromkeys(routes)  # the persistent IPv6 table repeats rows
    return list(unique)[:64]


def _routes(data: Mapping[str, Any]) -> list[DefaultRoute]:
    routes: list[DefaultRoute] = []
    for item in as_instances(data.get("routes")):
        prefix = _text(item.get("DestinationPrefix"))
        if prefix not in {"0.0.0.0/0", "::/0"}:
            continue
        hop = _text(item.get("NextHop"))
        routes.append(
            DefaultRoute(
                family="ipv6" if prefix == "::/0" else "ipv4",
                gateway="" if hop in {"0.0.0.0", "::", ""} else hop[:255],  # noqa: S104 - on-link
                interface=(_text(item.get("InterfaceAlias")) or _index(item))[:255],
                metric=_int(item.get("RouteMetric")),
                interface_metric=_int(item.get("InterfaceMetric")),
            )
        )
    if not routes and isinstance(data.get("route_print"), str):
        routes = parse_route_print(data["route_print"])
    return routes[:64]


def _adapter_kind(item: Mapping[str, Any]) -> str | None:
    """wired / wireless / cellular / other for a physical adapter; None for a virtual one."""
    text = " ".join(_text(item.get(k)) for k in ("Name", "InterfaceDescription", "NetConnectionID"))
    hardware, virtual = _true(item.get("HardwareInterface")), _true(item.get("Virtual"))
    if virtual is True or hardware is False:
        return None
    # A VM's own NIC ("Microsoft Hyper-V Network Adapter", Virtual=False) is its physical path.
    if hardware is None and virtual is None and _VIRTUAL.search(text):
        return None
    if _CELLULAR.search(text):
        return "cellular"  # USB tethering to a phone shows as 802.3 but is a mobile path
    for key in ("PhysicalMediaType", "NdisPhysicalMedium"):
        kind = _MEDIUM_KIND.get(_text(item.get(key)).lower())
        if kind:
            return kind
    kind = _IF_TYPE_KIND.get(_text(item.get("InterfaceType")))
    if kind:
        return kind
    return "wireless" if _WIRELESS.search(text) else "wired" if hardware or virtual is False else "other"


def _addresses_by_interface(data: Mapping[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in as_instances(data.get("addresses")):
        # IPAddress as selected by POWERSHELL; IPv4Address/IPv6Address in other captures
        address = next(
            (_text(item.get(k)) for k in ("IPAddress", "IPv4Address", "IPv6Address") if _text(item.get(k))),
            "",
        )
        keys = {_index(item), _text(item.get("InterfaceAlias"))} - {""}
        for key in keys:
            found.setdefault(key, []).append(address)
    for item in as_instances(data.get("wmi_configs")):
        values = item.get("IPAddress")
        found.setdefault(_text(item.get("InterfaceIndex")), []).extend(
            _text(v) for v in (values if isinstance(values, list) else [values])
        )
    return found


def _adapters(data: Mapping[str, Any]) -> list[AdapterState] | None:
    addresses = _addresses_by_interface(data)
    states: list[AdapterState] = []
    modern, legacy = as_instances(data.get("adapters")), as_instances(data.get("wmi_adapters"))
    for item in modern:
        kind = _adapter_kind(item)
        name, index = _text(item.get("Name")), _index(item)
        if kind is None or not name:
            continue
        status = _text(item.get("Status")).lower()
        states.append(
            AdapterState(
                name=name,
                kind=kind,
                up=status in {"up", "1"},
                addresses=addresses.get(index) or addresses.get(name) or [],
                description=_text(item.get("InterfaceDescription")),
                mac=normalise_mac(_text(item.get("MacAddress")).replace("-", ":")),
                index=index,
            )
        )
    for item in legacy:
        name = _text(item.get("NetConnectionID"))
        kind = _adapter_kind({**item, "InterfaceDescription": item.get("Name")})
        if kind is None or not name:
            continue
        index = _text(item.get("InterfaceIndex"))
        states.append(
            AdapterState(
                name=name,
                kind=kind,
                up=_text(item.get("NetConnectionStatus")) == "2",  # 2 = Connected
                addresses=addresses.get(index, []),
                description=_text(item.get("Name")),
                mac=normalise_mac(_text(item.get("MACAddress")).replace("-", ":")),
                index=index,
            )
        )
    if not modern and not legacy and "adapters" not in data and "wmi_adapters" not in data:
        return None
    return states


def _tunnels(data: Mapping[str, Any], physical: list[AdapterState]) -> list[TunnelInterface]:
    """Up adapters that are VPN/tunnel drivers, and RAS connections (PPP, built-in VPN) carrying a
    default route: those are interfaces that Get-NetAdapter does not list."""
    addresses = _addresses_by_interface(data)
    tunnels: list[TunnelInterface] = []
    listed = {_text(item.get("Name")) for item in as_instances(data.get("adapters"))}
    listed |= {a.name for a in physical} | {a.index for a in physical}
    for route in _routes(data):
        if "adapters" in data and route.interface and route.interface not in listed:
            listed.add(route.interface)
            tunnels.append(
                TunnelInterface(
                    name=route.interface[:128] or "?",
                    kind="ppp",
                    description="default route through a RAS/VPN connection (not a network adapter)",
                    addresses=[a[:255] for a in addresses.get(route.interface, [])][:64],
                )
            )
    for item in as_instances(data.get("adapters")):
        name, description = _text(item.get("Name")), _text(item.get("InterfaceDescription"))
        if _text(item.get("Status")).lower() not in {"up", "1"} or not name:
            continue
        kind = next((k for pattern, k in _TUNNEL_KINDS if pattern.search(f"{name} {description}")), None)
        if kind is not None:
            found = addresses.get(_index(item)) or addresses.get(name) or []
            tunnels.append(
                TunnelInterface(
                    name=name[:128],
                    kind=kind,
                    description=description[:255],
                    addresses=[a[:255] for a in found][:64],
                )
            )
    return tunnels


def parse_windows_listeners(data: Mapping[str, Any]) -> tuple[list[ListeningSocket], str, bool | None]:
    """Listeners, their source, whether owners are known, from the PowerShell JSON (see POWERSHELL)."""
    owners = _owners(data.get("processes"))
    if "tcp" in data or "udp" in data:
        found = [_endpoint("tcp", item, owners) for item in as_instances(data.get("tcp"))]
        found += [_endpoint("udp", item, owners) for item in as_instances(data.get("udp"))]
        listeners = [item for item in found if item is not None]
        known = bool(owners) and all(item.process_name for item in listeners)
        return listeners, "powershell", known
    netstat = data.get("netstat")
    if isinstance(netstat, str):
        listeners = parse_netstat_ano(netstat, {pid: o.name for pid, o in owners.items()})
        return listeners, "netstat", bool(owners) and all(item.process_name for item in listeners)
    return [], "", None


def parse_windows_exposure(data: Mapping[str, Any]) -> tuple[NetworkExposureFacts, list[SectionError]]:
    """The section and its error entries from the PowerShell JSON (see POWERSHELL).

    Sample input (abridged)::

        {"tcp":[{"LocalAddress":"::","LocalPort":135,"OwningProcess":964}],
         "processes":[{"Id":964,"ProcessName":"svchost","Path":"C:\\Windows\\system32\\svchost.exe"}],
         "routes":[{"DestinationPrefix":"0.0.0.0/0","NextHop":"10.0.0.1","InterfaceAlias":"以太网",
                    "RouteMetric":0,"InterfaceMetric":25}],
         "adapters":[{"Name":"WLAN","Status":"Up","PhysicalMediaType":"Native 802.11","InterfaceIndex":7}],
         "addresses":[{"InterfaceAlias":"WLAN","InterfaceIndex":7,"IPAddress":"192.168.1.23"}],
         "errors":{}}
    """
    listeners, source, known = parse_windows_listeners(data)
    reported = data.get("errors")
    errors = [
        SectionError(source=f"powershell {clean(str(part))[:200]}", message=_text(message)[:1000] or "failed")
        for part, message in (reported.items() if isinstance(reported, dict) else [])
    ]
    adapters = _adapters(data)
    facts = assemble(
        listeners=listeners,
        listeners_source=source,
        processes_known=known,
        routes=_routes(data),
        adapters=adapters,
        tunnels=_tunnels(data, adapters or []),
        notes=[] if adapters is not None else ["adapters not read"],
    )
    return facts, errors


def _legacy(ctx: HostContext, why: str) -> Collected:
    """Windows 7 with PowerShell 2.0: netstat -ano, tasklist and route print."""
    errors = [SectionError(source="powershell", message=f"{why[:800]}; used netstat/route/tasklist")]
    texts: dict[str, str] = {}
    for name, argv in (("netstat", NETSTAT_ARGV), ("tasklist", TASKLIST_ARGV), ("route", ROUTE_ARGV)):
        try:
            result = ctx.run(argv, timeout=60)
        except ReadError as exc:
            errors.append(SectionError(source=" ".join(argv), message=exc.message[:1000]))
            continue
        texts[name] = result.stdout
    if "netstat" not in texts:
        raise ReadError("netstat -ano", "neither PowerShell nor netstat could be run")
    listeners = parse_netstat_ano(texts["netstat"], parse_tasklist_csv(texts.get("tasklist", "")))
    facts = assemble(
        listeners=listeners,
        listeners_source="netstat",
        processes_known="tasklist" in texts and all(item.process_name for item in listeners),
        routes=parse_route_print(texts.get("route", "")),
        adapters=None,
        notes=["PowerShell unusable: adapters not read, uplink flags unknown"],
    )
    return Collected(facts, errors)


def collect_windows(ctx: HostContext) -> Collected:
    try:
        result = ctx.run(POWERSHELL_ARGV, timeout=120)
    except ReadError as exc:
        return _legacy(ctx, exc.message)
    try:
        data = json.loads(result.stdout.lstrip("\ufeff") or "null")
    except ValueError:
        data = None
    if result.returncode != 0 or not isinstance(data, dict):
        return _legacy(ctx, (result.stderr or result.stdout or "no JSON output").strip())
    facts, errors = parse_windows_exposure(data)
    return Collected(facts, errors)
