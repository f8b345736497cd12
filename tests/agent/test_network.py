"""Probe ``network`` (A9-M3.3 addresses, A9-T3.2 uplinks): parsers on captured procfs files
and the live read compared with ``ip -j addr``."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agent.host import HostContext
from agent.probes.network import (
    RawAddress,
    collect_linux,
    parse_addresses,
    parse_proc_net_ipv6_route,
    parse_proc_net_route,
    parse_resolv_conf,
)
from wire.sections import NetworkFacts

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "linux" / "debian12-vm"


def test_default_ipv4_route_captured() -> None:
    routes = parse_proc_net_route((FIX / "proc_net_route").read_text())
    assert [(r.destination, r.gateway, r.interface) for r in routes] == [("0.0.0.0/0", "192.0.2.1", "eth0")]


def test_default_ipv6_route_captured() -> None:
    routes = parse_proc_net_ipv6_route((FIX / "proc_net_ipv6_route").read_text())
    # the unreachable default on lo (flags without RTF_UP) is not a route out
    assert [(r.destination, r.gateway, r.interface, r.metric) for r in routes] == [
        ("::/0", "fd00::1", "eth0", 1024)
    ]


def test_resolv_conf() -> None:
    servers, search = parse_resolv_conf(
        "# x\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\n"
        "nameserver bogus\nsearch stats.example corp.example\n"
    )
    assert servers == ["192.0.2.53", "fe80::1"]
    assert search == ["stats.example", "corp.example"]
    assert parse_resolv_conf((FIX / "etc_resolv.conf").read_text())[0]


def test_addresses_prefix_and_scope() -> None:
    parsed = parse_addresses(
        [
            RawAddress("inet", "192.0.2.2", "255.255.255.0"),
            RawAddress("inet6", "fe80::fc:ff:fe00:1%eth0", "ffff:ffff:ffff:ffff::"),
            RawAddress("inet", "127.0.0.1", "255.0.0.0"),
            RawAddress("inet", "198.18.0.5", "255.0.255.0"),  # not a mask: treated as a host route
            RawAddress("inet", "not-an-ip", None),
        ]
    )
    # sorted by family and address, so the section's hash is stable
    assert [(str(a.address), a.prefix_length, a.scope) for a in parsed] == [
        ("127.0.0.1", 8, "host"),
        ("192.0.2.2", 24, "global"),
        ("198.18.0.5", 32, "global"),
        ("fe80::fc:ff:fe00:1", 64, "link"),
    ]


@given(st.text())
def test_parsers_survive_garbage(text: str) -> None:
    parse_proc_net_route(text)
    parse_proc_net_ipv6_route(text)
    parse_resolv_conf(text)
    parse_addresses([RawAddress("inet", text, text), RawAddress("inet6", text, None)])


def test_live_addresses_equal_ip_addr() -> None:
    links = json.loads(
        subprocess.run(["ip", "-j", "addr"], capture_output=True, check=True, text=True, timeout=30).stdout
    )
    facts = collect_linux(HostContext()).data
    assert isinstance(facts, NetworkFacts)
    ours = {(i.name, str(a.address), a.prefix_length) for i in facts.interfaces for a in i.addresses}
    theirs = {
        (link["ifname"], str(ipaddress.ip_address(info["local"])), info["prefixlen"])
        for link in links
        for info in link.get("addr_info", [])
    }
    assert ours == theirs
