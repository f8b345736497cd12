"""Probe ``network_exposure`` (A9-T1, A9-T3.2): listeners with owners, default routes, uplinks,
Wi-Fi/cellular up and tunnels; real captures from this Debian VM and from Windows machines."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.capture import ReplayContext
from agent.host import HostContext
from agent.probes.hardware import SysfsNetInterface
from agent.probes.network import parse_proc_net_ipv6_route, parse_proc_net_route
from agent.probes.network_exposure import AdapterState, assemble, split_host_port, usable_address
from agent.probes.network_exposure_linux import (
    collect_linux,
    parse_proc_net_sockets,
    parse_ss,
    ss_pids,
    to_default_routes,
    tunnel_kind,
)
from agent.probes.network_exposure_windows import (
    NETSTAT_ARGV,
    POWERSHELL_ARGV,
    ROUTE_ARGV,
    TASKLIST_ARGV,
    parse_netstat_ano,
    parse_route_print,
    parse_tasklist_csv,
    parse_windows_exposure,
)
from agent.scan import scan_sections
from wire.sections.network_exposure import DefaultRoute, ListeningSocket, NetworkExposureFacts

FIX = Path(__file__).resolve().parents[1] / "fixtures"
VM = FIX / "linux" / "debian12-exposure"
WIN = FIX / "windows"


def _keys(listeners: list[ListeningSocket]) -> set[tuple[str, str, int]]:
    return {(item.protocol, item.local_address, item.port) for item in listeners}


def _ps_json(name: str) -> Any:
    return json.loads((WIN / "powershell" / name).read_text(encoding="utf-8-sig"))


# --- Linux: ss and /proc/net, captured on this VM at the same moment ---------------------------


def test_ss_capture_names_owners_scopes_and_bound_devices() -> None:
    text = (VM / "ss_-H_-t_-u_-l_-n_-p.txt").read_text()
    found = {(i.protocol, i.local_address, i.port): i for i in parse_ss(text, {937: "/usr/bin/python3.11"})}
    assert len(found) == 7
    tcp = found[("tcp", "127.0.0.1", 41491)]
    assert (tcp.process_name, tcp.pid, tcp.bind_scope, tcp.family) == ("python", 937, "loopback", "ipv4")
    assert tcp.executable == "/usr/bin/python3.11"
    assert found[("tcp", "::", 38851)].bind_scope == "all" and found[("tcp", "::", 38851)].family == "ipv6"
    assert found[("tcp", "::1", 43577)].bind_scope == "loopback"
    # 0.0.0.0 bound to the loopback device (SO_BINDTODEVICE lo): this host only
    bound = found[("udp", "0.0.0.0", 59060)]
    assert (bound.interface, bound.bind_scope) == ("lo", "loopback")
    assert found[("udp", "0.0.0.0", 53335)].bind_scope == "all"
    # a socket whose owner is outside this PID namespace: listed, owner unknown
    orphan = found[("tcp", "0.0.0.0", 2024)]
    assert (orphan.process_name, orphan.pid) == ("", None)
    assert ss_pids(text) == [937]


def test_proc_net_fallback_finds_the_same_sockets_as_ss_without_owners() -> None:
    from_proc: list[ListeningSocket] = []
    for name, protocol in (("tcp", "tcp"), ("tcp6", "tcp"), ("udp", "udp"), ("udp6", "udp")):
        from_proc += parse_proc_net_sockets((VM / f"proc_net_{name}").read_text(), protocol)
    from_ss = parse_ss((VM / "ss_-H_-t_-u_-l_-n_-p.txt").read_text())
    assert _keys(from_proc) == _keys(from_ss)  # the connected UDP socket to port 9 is in neither
    assert all(item.pid is None and item.process_name == "" for item in from_proc)


def test_ss_owner_column_variants() -> None:
    # lines as printed by `ss -tnlp` / `ss -unlp` on Ubuntu 20.04 (quoted in a public write-up),
    # with the header line ss prints without -H
    text = (
        "State  Recv-Q Send-Q  Local Address:Port  Peer Address:Port Process\n"
        'LISTEN 0      4096          0.0.0.0:111        0.0.0.0:*    users:(("rpcbind",pid=609,fd=4),'
        '("systemd",pid=1,fd=41))\n'
        'LISTEN 0      4096    127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=610,fd=13))\n'
        'UNCONN 0      0      10.0.2.15%eth0:68         0.0.0.0:*    users:(("systemd-network",pid=418,fd=19))\n'
        'LISTEN 0      4096                *:9100             *:*    users:(("node_exporter",pid=634,fd=3))\n'
    )
    found = {(i.protocol, i.local_address, i.port): i for i in parse_ss(text)}
    rpc = found[("tcp", "0.0.0.0", 111)]
    assert (rpc.process_name, rpc.pid) == ("rpcbind", 609)  # the service, not systemd socket activation
    assert [(o.name, o.pid) for o in rpc.other_owners] == [("systemd", 1)]
    resolver = found[("tcp", "127.0.0.53", 53)]
    assert (resolver.interface, resolver.bind_scope) == ("lo", "loopback")
    dhcp = found[("udp", "10.0.2.15", 68)]
    assert (dhcp.interface, dhcp.bind_scope, dhcp.process_name) == ("eth0", "specific", "systemd-network")
    wildcard = found[("tcp", "::", 9100)]  # ss's '*' is the dual-stack wildcard
    assert wildcard.bind_scope == "all" and wildcard.process_name == "node_exporter"


def test_default_routes_agree_with_ip_route() -> None:
    routes = to_default_routes(
        parse_proc_net_route((VM / "proc_net_route").read_text())
        + parse_proc_net_ipv6_route((VM / "proc_net_ipv6_route").read_text())
    )
    by_ip = [
        ("ipv4", r["gateway"], r["dev"], r.get("metric", 0))
        for r in json.loads((VM / "ip_-j_route_show_default.json").read_text())
    ] + [
        ("ipv6", r["gateway"], r["dev"], r.get("metric", 0))
        for r in json.loads((VM / "ip_-6_-j_route_show_default.json").read_text())
    ]
    assert [(r.family, r.gateway, r.interface, r.metric) for r in routes] == by_ip


def test_tunnel_kinds_from_sysfs() -> None:
    # constructed sysfs facts (ARPHRD numbers from include/uapi/linux/if_arp.h)
    assert tunnel_kind(SysfsNetInterface(name="wg0", type="65534", uevent="DEVTYPE=wireguard")) == "wireguard"
    assert tunnel_kind(SysfsNetInterface(name="tun0", type="65534")) == "tun"
    assert tunnel_kind(SysfsNetInterface(name="ppp0", type="512")) == "ppp"
    assert tunnel_kind(SysfsNetInterface(name="tap1", type="1")) == "tap"
    assert tunnel_kind(SysfsNetInterface(name="gre1", type="778")) == "ip-tunnel"
    assert tunnel_kind(SysfsNetInterface(name="eth0", type="1", has_device=True)) is None


# --- the derived facts that a 违规外联 policy tests ----------------------------------------------

_WIRED = AdapterState(name="以太网", kind="wired", up=True, addresses=["10.20.1.15", "fe80::1"], index="12")
_WIFI_UP = AdapterState(name="WLAN", kind="wireless", up=True, addresses=["192.168.43.7"], index="7")


def _facts(adapters: list[AdapterState] | None, routes: Sequence[DefaultRoute] = ()) -> NetworkExposureFacts:
    return assemble(
        listeners=[], listeners_source="ss", processes_known=True, routes=routes, adapters=adapters
    )


def test_wired_plus_wifi_with_addresses_is_two_uplinks() -> None:
    facts = _facts([_WIRED, _WIFI_UP], [DefaultRoute(family="ipv4", gateway="192.168.43.1", interface="7")])
    assert facts.active_uplinks == ["WLAN", "以太网"]
    assert facts.multiple_uplinks is True and facts.wireless_or_cellular_up is True
    wifi = next(a for a in facts.adapters if a.name == "WLAN")
    assert wifi.default_route is True  # matched by interface index
    assert next(a for a in facts.adapters if a.name == "以太网").addresses == ["10.20.1.15"]


def test_wifi_up_without_an_address_is_flagged_but_no_uplink() -> None:
    associated = AdapterState(name="wlan0", kind="wireless", up=True, addresses=["169.254.3.4", "fe80::2"])
    facts = _facts([_WIRED, associated])
    assert facts.active_uplinks == ["以太网"] and facts.multiple_uplinks is False
    assert facts.wireless_or_cellular_up is True


def test_two_default_routes_through_two_adapters_are_multiple_uplinks() -> None:
    modem = AdapterState(name="wwan0", kind="cellular", up=True, addresses=[])
    routes = [
        DefaultRoute(family="ipv4", gateway="10.20.1.1", interface="以太网"),
        DefaultRoute(family="ipv4", gateway="", interface="wwan0"),
    ]
    assert _facts([_WIRED, modem], routes).multiple_uplinks is True


def test_one_wired_uplink_is_clean_and_unread_adapters_are_unknown() -> None:
    clean = _facts([_WIRED, AdapterState(name="WLAN", kind="wireless", up=False)])
    assert (clean.multiple_uplinks, clean.wireless_or_cellular_up) == (False, False)
    unknown = _facts(None)
    assert (unknown.multiple_uplinks, unknown.wireless_or_cellular_up) == (None, None)


def test_address_helpers() -> None:
    assert split_host_port("[fe80::1%12]:9100") == ("fe80::1", "12", 9100)
    assert split_host_port("[fe80::5054:ff:fe12:3456]%eth0:546") == ("fe80::5054:ff:fe12:3456", "eth0", 546)
    assert split_host_port("0.0.0.0:70000") is None and split_host_port("*:*") is None
    assert usable_address("fe80::1%7") is None and usable_address("169.254.9.9") is None
    assert usable_address("fd00::2/64") == "fd00::2"


# --- Windows ------------------------------------------------------------------------------------


def test_netstat_ano_of_a_windows7_pc() -> None:
    text = (WIN / "netstat" / "chatterbox-win7_netstat-ano.txt").read_text()
    found = parse_netstat_ano(text, {664: "svchost", 3988: "AChat"})
    tcp = [i for i in found if i.protocol == "tcp"]
    udp = [i for i in found if i.protocol == "udp"]
    assert (len(tcp), len(udp)) == (19, 17)  # the ESTABLISHED connection is no listener
    chat = next(i for i in tcp if i.port == 9256)
    assert (chat.local_address, chat.bind_scope, chat.process_name, chat.pid) == (
        "10.10.10.74",
        "specific",
        "AChat",
        3988,
    )
    smb = next(i for i in tcp if i.port == 445 and i.family == "ipv6")
    assert (smb.process_name, smb.pid, smb.bind_scope) == ("System", 4, "all")
    assert next(i for i in udp if i.local_address == "::1").bind_scope == "loopback"
    # the same capture with Windows line ends
    assert parse_netstat_ano(text.replace("\n", "\r\n")) == parse_netstat_ano(text)


def test_netstat_ano_in_another_language() -> None:
    # rows of a German `netstat -a -n -o` (public capture, pastebin.com/kDSmMTcd): state words differ
    text = (
        "  Proto  Lokale Adresse         Remoteadresse          Status           PID\n"
        "  TCP    0.0.0.0:135            0.0.0.0:0              ABHÖREN         896\n"
        "  TCP    127.0.0.1:5939         0.0.0.0:0              ABHÖREN         4844\n"
        "  TCP    127.0.0.1:62221        127.0.0.1:62222        HERGESTELLT     12600\n"
    )
    assert _keys(parse_netstat_ano(text)) == {("tcp", "0.0.0.0", 135), ("tcp", "127.0.0.1", 5939)}


def test_route_print_of_a_windows7_pc() -> None:
    routes = parse_route_print((WIN / "netstat" / "chatterbox-win7_route-print.txt").read_text())
    assert routes == [DefaultRoute(family="ipv4", gateway="10.10.10.2", interface="10.10.10.74", metric=266)]
    # constructed: an IPv6 default route whose gateway wraps onto the next line
    wrapped = " 11    266 ::/0\n                                    fe80::9e3d:cfff:fe11:2233\n"
    assert parse_route_print(wrapped) == [
        DefaultRoute(family="ipv6", gateway="fe80::9e3d:cfff:fe11:2233", interface="11", metric=266)
    ]


def test_tasklist_csv() -> None:
    # constructed in the format of `tasklist /fo csv /nh`
    text = '"System","4","Services","0","144 K"\r\n"svchost.exe","664","Services","0","12,345 K"\r\n'
    assert parse_tasklist_csv(text) == {4: "System", 664: "svchost"}


def test_powershell_parts_captured_on_real_machines() -> None:
    data = {
        "tcp": _ps_json("mondoo_windows_tcp_slim.json"),
        "processes": _ps_json("mondoo_get_process_win2019.json"),
        "routes": _ps_json("mondoo_get_netroute.json"),
        "adapters": _ps_json("mondoo_get_netadapter_hyperv_guest.json"),
        "addresses": _ps_json("mondoo_get_netipaddress_hyperv_guest.json"),
    }
    facts, errors = parse_windows_exposure(data)
    assert errors == [] and facts.listeners_source == "powershell"
    (only,) = facts.listeners  # the Established connection (State 5) is dropped
    assert (only.local_address, only.port, only.pid, only.bind_scope) == ("::", 49672, 2136, "all")
    assert facts.processes_known is False  # pid 2136 is not among the captured processes
    assert facts.default_routes == [
        DefaultRoute(family="ipv4", gateway="192.168.64.1", interface="Ethernet", metric=0)
    ]
    (nic,) = facts.adapters  # a Hyper-V guest's own NIC (Virtual=false) is its wired path
    assert (nic.name, nic.kind, nic.up, nic.addresses, nic.mac) == (
        "Ethernet",
        "wired",
        True,
        ["192.168.178.112"],
        "00:15:5d:f2:3b:1d",
    )
    assert nic.default_route and facts.active_uplinks == ["Ethernet"]
    assert (facts.multiple_uplinks, facts.wireless_or_cellular_up) == (False, False)


def test_powershell_get_process_joins_owner_name_and_path() -> None:
    data = {
        "tcp": [{"LocalAddress": "0.0.0.0", "LocalPort": 3389, "OwningProcess": 2736}],  # constructed row
        "processes": _ps_json("mondoo_get_process_win2019.json"),
    }
    facts, _ = parse_windows_exposure(data)
    (rdp,) = facts.listeners
    assert (rdp.process_name, rdp.pid, rdp.executable) == ("cmd", 2736, "c:\\windows\\system32\\cmd.exe")


#: Constructed output of POWERSHELL for a dual-homed office PC: Chinese adapter names, PS 5.1
#: shapes (single objects, numbers as strings), wired + Wi-Fi up, a WireGuard tunnel.
DUAL_HOMED = {
    "tcp": [{"LocalAddress": "0.0.0.0", "LocalPort": 445, "OwningProcess": 4}],
    "udp": {"LocalAddress": "127.0.0.1", "LocalPort": "1900", "OwningProcess": "3092"},
    "processes": [{"Id": 4, "ProcessName": "System", "Path": None}, {"Id": 3092, "ProcessName": "svchost"}],
    "routes": [
        {"DestinationPrefix": "0.0.0.0/0", "NextHop": "10.20.1.1", "InterfaceAlias": "以太网", "RouteMetric": 0,
         "InterfaceMetric": 25, "InterfaceIndex": 12},
        {"DestinationPrefix": "0.0.0.0/0", "NextHop": "192.168.43.1", "InterfaceAlias": "WLAN", "RouteMetric": 0,
         "InterfaceMetric": 35, "InterfaceIndex": 7},
    ],
    "adapters": [
        {"Name": "以太网", "InterfaceDescription": "Intel(R) Ethernet Connection (7) I219-LM", "InterfaceIndex": 12,
         "Status": "Up", "PhysicalMediaType": "802.3", "HardwareInterface": True, "Virtual": False,
         "MacAddress": "98-FA-9B-12-34-56"},
        {"Name": "WLAN", "InterfaceDescription": "Intel(R) Wireless-AC 9560 160MHz", "InterfaceIndex": 7,
         "Status": "Up", "PhysicalMediaType": "Native 802.11", "HardwareInterface": True, "Virtual": False},
        {"Name": "wg-office", "InterfaceDescription": "WireGuard Tunnel", "InterfaceIndex": 30,
         "Status": "Up", "PhysicalMediaType": "Unspecified", "HardwareInterface": False, "Virtual": True},
    ],
    "addresses": [
        {"InterfaceAlias": "以太网", "InterfaceIndex": 12, "IPAddress": "10.20.1.15"},
        {"InterfaceAlias": "WLAN", "InterfaceIndex": 7, "IPAddress": "192.168.43.7"},
        {"InterfaceAlias": "wg-office", "InterfaceIndex": 30, "IPAddress": "10.99.0.2"},
    ],
    "errors": {},
}  # fmt: skip


def _bundle(tmp_path: Path, commands: list[tuple[list[str], int, str]]) -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "commands").mkdir(parents=True)
    entries = []
    for number, (argv, code, out) in enumerate(commands, 1):
        (bundle / "commands" / f"{number:04}.out").write_text(out, encoding="utf-8")
        (bundle / "commands" / f"{number:04}.err").write_text("", encoding="utf-8")
        entries.append(
            {
                "argv": argv,
                "returncode": code,
                "stdout": f"commands/{number:04}.out",
                "stderr": f"commands/{number:04}.err",
            }
        )
    manifest = {"format": 1, "platform": "windows", "facts": {}, "registry": [], "commands": entries}
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return bundle


def test_replay_of_the_powershell_reader_flags_a_dual_homed_pc(tmp_path: Path) -> None:
    output = "\ufeff" + json.dumps(DUAL_HOMED, ensure_ascii=False)
    bundle = _bundle(tmp_path, [(POWERSHELL_ARGV, 0, output)])
    section = scan_sections(ReplayContext(bundle), ["network_exposure"], platform="windows")[
        "network_exposure"
    ]
    assert section["status"] == "ok", section
    data = section["data"]
    assert data["active_uplinks"] == ["WLAN", "以太网"]
    assert data["multiple_uplinks"] is True and data["wireless_or_cellular_up"] is True
    assert [(t["name"], t["kind"]) for t in data["tunnels"]] == [("wg-office", "wireguard")]
    assert [(r["interface"], r["interface_metric"]) for r in data["default_routes"]] == [
        ("以太网", 25),
        ("WLAN", 35),
    ]
    assert {(x["protocol"], x["port"], x["process_name"]) for x in data["listeners"]} == {
        ("tcp", 445, "System"),
        ("udp", 1900, "svchost"),
    }
    assert data["processes_known"] is True


def test_replay_of_windows7_without_convertto_json(tmp_path: Path) -> None:
    """PowerShell 2.0 fails on ConvertTo-Json: netstat, tasklist and route print stand in."""
    bundle = _bundle(
        tmp_path,
        [
            (POWERSHELL_ARGV, 1, ""),
            (NETSTAT_ARGV, 0, (WIN / "netstat" / "chatterbox-win7_netstat-ano.txt").read_text()),
            (TASKLIST_ARGV, 0, '"svchost.exe","664","Services","0","9,000 K"\n'),  # constructed
            (ROUTE_ARGV, 0, (WIN / "netstat" / "chatterbox-win7_route-print.txt").read_text()),
        ],
    )
    section = scan_sections(ReplayContext(bundle), ["network_exposure"], platform="windows")[
        "network_exposure"
    ]
    assert section["status"] == "ok", section
    data = section["data"]
    assert data["listeners_source"] == "netstat" and len(data["listeners"]) == 36
    assert data["processes_known"] is False  # tasklist did not name every owner
    assert data["default_routes"][0]["gateway"] == "10.10.10.2"
    assert data["multiple_uplinks"] is None  # adapters unread: unknown, not "no"
    assert any("netstat" in e["message"] for e in section["errors"])


# --- hypothesis: garbage never raises out of a parser -----------------------------------------

_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
_KEYS = st.sampled_from(["tcp", "udp", "processes", "routes", "adapters", "addresses", "netstat", "errors"])


@given(st.text())
def test_text_parsers_survive_garbage(text: str) -> None:
    parse_ss(text)
    ss_pids(text)
    parse_proc_net_sockets(text, "tcp")
    parse_proc_net_sockets(text, "udp")
    parse_netstat_ano(text)
    parse_route_print(text)
    parse_tasklist_csv(text)
    split_host_port(text)
    usable_address(text)


@given(st.dictionaries(_KEYS, _JSONISH, max_size=8))
def test_powershell_parser_survives_garbage(data: dict[str, Any]) -> None:
    parse_windows_exposure(data)


@given(st.lists(st.lists(st.text(max_size=8), max_size=8), max_size=6))
def test_ss_and_netstat_survive_garbage_columns(rows: list[list[str]]) -> None:
    for prefix in ("tcp LISTEN 0 0 ", "  TCP    ", "udp UNCONN 0 0 "):
        text = "\n".join(prefix + " ".join(row) for row in rows)
        parse_ss(text)
        parse_netstat_ano(text)


# --- live, on this machine -----------------------------------------------------------------------


@pytest.fixture
def own_sockets() -> Iterator[list[tuple[str, str, int]]]:
    """A TCP listener on 127.0.0.1 and a bound UDP socket, held by this process."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        udp.bind(("127.0.0.1", 0))
        yield [("tcp", "127.0.0.1", tcp.getsockname()[1]), ("udp", "127.0.0.1", udp.getsockname()[1])]
    finally:
        tcp.close()
        udp.close()


def _psutil_listening() -> set[tuple[str, str, int]]:
    found = set()
    for conn in psutil.net_connections(kind="inet"):
        protocol = "tcp" if conn.type == socket.SOCK_STREAM else "udp"
        listening = conn.status == psutil.CONN_LISTEN if protocol == "tcp" else not conn.raddr
        if listening and isinstance(conn.laddr, tuple) and len(conn.laddr) == 2:
            ip, port = conn.laddr
            found.add((protocol, str(ip).split("%")[0], int(port)))
    return found


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc")
def test_live_listeners_match_psutil_and_name_this_process(own_sockets: list[tuple[str, str, int]]) -> None:
    before = _psutil_listening()
    facts = collect_linux(HostContext()).data
    after = _psutil_listening()
    assert isinstance(facts, NetworkExposureFacts)
    seen = _keys(facts.listeners)
    # other processes may open or close sockets meanwhile: what was there throughout must be seen,
    # and nothing may be seen that was there at neither moment
    assert before & after <= seen <= before | after
    me = psutil.Process()
    for key in own_sockets:
        (mine,) = [i for i in facts.listeners if (i.protocol, i.local_address, i.port) == key]
        assert (mine.pid, mine.process_name, mine.bind_scope) == (os.getpid(), me.name(), "loopback")
        assert mine.executable == os.readlink("/proc/self/exe")


@pytest.mark.skipif(not os.path.exists("/proc/net/route"), reason="needs Linux /proc")
def test_live_default_routes_match_ip_route() -> None:
    facts = collect_linux(HostContext()).data
    assert isinstance(facts, NetworkExposureFacts)
    expected = []
    for family, flag in (("ipv4", "-4"), ("ipv6", "-6")):
        shown = subprocess.run(
            ["ip", flag, "-j", "route", "show", "default"], capture_output=True, check=True
        )
        expected += [
            (family, r.get("gateway", ""), r.get("dev", ""), r.get("metric", 0))
            for r in json.loads(shown.stdout or b"[]")
            if r.get("dev") != "lo" and r.get("type", "unicast") == "unicast"
        ]
    assert sorted((r.family, r.gateway, r.interface, r.metric) for r in facts.default_routes) == sorted(
        expected
    )
    # every interface with a default route that is physical is an uplink here
    routed = {r.interface for r in facts.default_routes}
    assert {a.name for a in facts.adapters if a.name in routed} <= set(facts.active_uplinks)
