"""Probe ``network`` on Windows (A9-M3.3 addresses, A9-T3.2 uplinks): the PowerShell reader's JSON
(a real Get-NetRoute output), wmic captures, and replay bundles parsed on Linux."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agent.capture import ReplayContext
from agent.probes.network_windows import (
    POWERSHELL_ARGV,
    parse_windows_network,
    parse_wmic_array,
    windows_network_from_wmic,
)
from agent.scan import scan_sections
from agent.wmi import wmic_argv

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "windows"
ROUTES = json.loads((FIX / "powershell" / "mondoo_get_netroute.json").read_text())

#: Constructed input in the shape of the reader's Win32_NetworkAdapterConfiguration and
#: Win32_NetworkAdapter parts (PowerShell 5.1): a wired adapter named in Chinese, on DHCP,
#: and a static Wi-Fi adapter that is disconnected.
CONFIGURATIONS = [
    {
        "Index": 1,
        "InterfaceIndex": 13,
        "Description": "Intel(R) Ethernet Connection (7) I219-LM",
        "MACAddress": "00:15:5D:0A:0B:0C",
        "IPAddress": ["192.168.64.3", "fe80::9b29:7b8f:bc2:f9bf"],
        "IPSubnet": ["255.255.255.0", "64"],
        "DefaultIPGateway": ["192.168.64.1"],
        "DNSServerSearchOrder": ["192.168.64.1", "114.114.114.114"],
        "DHCPEnabled": True,
        "DHCPServer": "192.168.64.1",
        "DNSDomain": "corp.example",
        "DNSDomainSuffixSearchOrder": ["corp.example", "branch.corp.example"],
        "MTU": None,
    },
    {
        "Index": 7,
        "InterfaceIndex": 21,
        "Description": "Intel(R) Wi-Fi 6 AX201 160MHz",
        "MACAddress": "A0:B1:C2:D3:E4:F5",
        "IPAddress": "10.9.8.7",
        "IPSubnet": "255.0.0.0",
        "DefaultIPGateway": None,
        "DNSServerSearchOrder": None,
        "DHCPEnabled": False,
    },
]
ADAPTERS = [
    {"Index": 1, "NetConnectionID": "以太网", "NetConnectionStatus": 2, "PhysicalAdapter": True},
    {"Index": 7, "NetConnectionID": "WLAN", "NetConnectionStatus": 7, "PhysicalAdapter": True},
]


def _bundle(root: Path, commands: list[tuple[list[str], int, str]]) -> ReplayContext:
    (root / "commands").mkdir(parents=True)
    entries = []
    for number, (argv, code, out) in enumerate(commands, start=1):
        (root / "commands" / f"{number:04d}.out").write_text(out, encoding="utf-8")
        (root / "commands" / f"{number:04d}.err").write_text("", encoding="utf-8")
        entries.append(
            {
                "argv": argv,
                "returncode": code,
                "stdout": f"commands/{number:04d}.out",
                "stderr": f"commands/{number:04d}.err",
            }
        )
    manifest = {"format": 1, "platform": "windows", "facts": {}, "commands": entries, "registry": []}
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return ReplayContext(root)


def test_default_route_out_of_a_real_get_netroute() -> None:
    # 19 routes of a Windows VM (host, broadcast, multicast, link-local...): one is a way out.
    facts = parse_windows_network({"Routes": ROUTES})
    assert [(r.destination, r.gateway, r.interface, r.metric) for r in facts.default_routes] == [
        ("0.0.0.0/0", "192.168.64.1", "Ethernet", 0)
    ]


def test_interfaces_with_addresses_dhcp_gateways_and_dns() -> None:
    facts = parse_windows_network({"Configurations": CONFIGURATIONS, "Adapters": ADAPTERS, "Routes": ROUTES})
    assert [i.name for i in facts.interfaces] == ["WLAN", "以太网"]  # sorted by name
    by_name = {i.name: i for i in facts.interfaces}
    wired, wifi = by_name["以太网"], by_name["WLAN"]
    assert (wired.kind, wired.up, wired.mac, wired.dhcp, wired.dhcp_server) == (
        "wired",
        True,
        "00:15:5d:0a:0b:0c",
        True,
        "192.168.64.1",
    )
    assert [(str(a.address), a.prefix_length, a.scope) for a in wired.addresses] == [
        ("192.168.64.3", 24, "global"),
        ("fe80::9b29:7b8f:bc2:f9bf", 64, "link"),  # an IPv6 "subnet" is a prefix length
    ]
    assert wired.gateways == ["192.168.64.1"] and wired.dns_servers == ["192.168.64.1", "114.114.114.114"]
    assert (wifi.kind, wifi.up, wifi.dhcp, [str(a.address) for a in wifi.addresses]) == (
        "wireless",
        False,  # NetConnectionStatus 7: media disconnected
        False,
        ["10.9.8.7"],
    )
    assert facts.dns_servers == ["192.168.64.1", "114.114.114.114"]
    assert facts.dns_search == ["corp.example", "branch.corp.example"]


def test_route_interface_named_by_index_and_metrics_added() -> None:
    """Constructed Get-NetRoute rows without an alias: route metric + interface metric, as Windows ranks them."""
    routes = [
        {
            "DestinationPrefix": "0.0.0.0/0",
            "NextHop": "192.168.64.1",
            "InterfaceIndex": 13,
            "RouteMetric": 0,
            "InterfaceMetric": 25,
        },
        {
            "DestinationPrefix": "::/0",
            "NextHop": "fe80::1",
            "InterfaceIndex": 13,
            "RouteMetric": 256,
            "InterfaceMetric": 25,
        },
    ]
    facts = parse_windows_network({"Configurations": CONFIGURATIONS, "Adapters": ADAPTERS, "Routes": routes})
    assert [(r.destination, r.gateway, r.interface, r.metric) for r in facts.default_routes] == [
        ("0.0.0.0/0", "192.168.64.1", "以太网", 25),
        ("::/0", "fe80::1", "以太网", 281),
    ]


def test_wmic_arrays() -> None:
    # Lines of `wmic NICCONFIG where "IPEnabled='TRUE'" get ... /value` on a zh-CN PC, transcribed
    # from a public blog post (see tests/fixtures/SOURCES.md).
    assert parse_wmic_array('{"10.18.88.135","fe80::781f:e9d4:fbc5:7c35"}') == [
        "10.18.88.135",
        "fe80::781f:e9d4:fbc5:7c35",
    ]
    assert parse_wmic_array('{"255.255.248.0","64"}') == ["255.255.248.0", "64"]
    assert parse_wmic_array("") == [] and parse_wmic_array(None) == [] and parse_wmic_array("x") == ["x"]


def test_wmic_capture_without_a_route_table_uses_the_gateways() -> None:
    """Constructed wmic /format:list text with the Win32_NetworkAdapterConfiguration property names."""
    config = (
        '\r\n\r\nDefaultIPGateway={"10.18.88.1"}\r\nDescription=Realtek PCIe GBE Family Controller\r\n'
        'DHCPEnabled=TRUE\r\nDNSServerSearchOrder={"10.22.50.5","10.22.50.6"}\r\nIndex=11\r\n'
        'IPAddress={"10.18.88.135","fe80::781f:e9d4:fbc5:7c35"}\r\nIPEnabled=TRUE\r\n'
        'IPSubnet={"255.255.248.0","64"}\r\nMACAddress=30:9C:23:01:02:03\r\n\r\n\r\n'
        "Description=WAN Miniport (IP)\r\nIndex=2\r\nIPEnabled=FALSE\r\n\r\n"
    )
    facts = windows_network_from_wmic({"Configurations": config})
    assert [i.name for i in facts.interfaces] == ["Realtek PCIe GBE Family Controller"]
    assert [(r.destination, r.gateway) for r in facts.default_routes] == [("0.0.0.0/0", "10.18.88.1")]
    assert [a.prefix_length for a in facts.interfaces[0].addresses] == [21, 64]
    assert facts.dns_servers == ["10.22.50.5", "10.22.50.6"]


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=6),
    max_leaves=20,
)
_FIELDS = st.sampled_from(
    [
        "Index",
        "IPAddress",
        "IPSubnet",
        "MACAddress",
        "DefaultIPGateway",
        "DHCPEnabled",
        "DestinationPrefix",
        "NextHop",
        "InterfaceIndex",
        "RouteMetric",
        "NetConnectionStatus",
        "NetConnectionID",
        "Metric1",
        "MTU",
    ]
)


@given(
    st.dictionaries(
        st.sampled_from(["Configurations", "Adapters", "Routes"]),
        _JSONISH | st.lists(st.dictionaries(_FIELDS, _JSONISH), max_size=3),
    ),
    st.text(),
)
def test_parsers_survive_garbage(data: dict[str, Any], text: str) -> None:
    parse_windows_network(data)
    parse_wmic_array(text)
    windows_network_from_wmic({"Configurations": text, "Routes": text})


def test_replay_of_the_powershell_reader(tmp_path: Path) -> None:
    output = json.dumps(
        {"Configurations": CONFIGURATIONS, "Adapters": ADAPTERS, "Routes": ROUTES, "Errors": []}
    )
    replay = _bundle(tmp_path / "b", [(POWERSHELL_ARGV, 0, output)])
    section = scan_sections(replay, ["network"], platform="windows")["network"]
    assert section["status"] == "ok", section
    names = {i["name"]: i for i in section["data"]["interfaces"]}
    assert names["以太网"]["gateways"] == ["192.168.64.1"] and names["以太网"]["dhcp"] is True
    assert section["data"]["default_routes"][0]["gateway"] == "192.168.64.1"


def test_replay_of_a_wmic_capture(tmp_path: Path) -> None:
    """Windows 7 without PowerShell 3: the classes read with wmic (constructed list output)."""
    config = 'Index=3\r\nIPEnabled=TRUE\r\nIPAddress={"192.0.2.7"}\r\nIPSubnet={"255.255.255.0"}\r\n'
    routes = (
        "Destination=0.0.0.0\r\nInterfaceIndex=11\r\nMask=0.0.0.0\r\nMetric1=266\r\nNextHop=192.0.2.1\r\n"
    )
    replay = _bundle(
        tmp_path / "b",
        [
            (wmic_argv("Win32_NetworkAdapterConfiguration"), 0, config),
            (wmic_argv("Win32_IP4RouteTable"), 0, routes),
        ],
    )
    section = scan_sections(replay, ["network"], platform="windows")["network"]
    assert section["status"] == "ok", section
    assert section["data"]["default_routes"] == [
        {"destination": "0.0.0.0/0", "gateway": "192.0.2.1", "interface": "", "metric": 266}
    ]
    assert {e["source"] for e in section["errors"]} >= {"wmic Win32_NetworkAdapter"}


def test_docs_show_the_exact_commands() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs/probes/network.md").read_text(encoding="utf-8")
    assert POWERSHELL_ARGV[-1] in doc and " ".join(wmic_argv("Win32_NetworkAdapterConfiguration")) in doc


def test_the_route_query_survives_a_prefix_without_a_route() -> None:
    """Get-NetRoute reports "no matching MSFT_NetRoute objects" for ::/0 on an IPv4-only network:
    under -ErrorAction Stop that error would throw away the IPv4 default routes too. A static
    gateway is also in the PersistentStore, so only the ActiveStore is asked."""
    script = POWERSHELL_ARGV[-1]
    route = script[script.index("Get-NetRoute") : script.index("Win32_IP4RouteTable")]
    assert "-ErrorAction Stop" not in route and "-ErrorAction SilentlyContinue" in route
    assert "-PolicyStore ActiveStore" in route
