"""Probe ``os`` (A9-M3.3): parsers on captured files, and the live read on this machine."""

from __future__ import annotations

import platform
import socket
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agent.host import HostContext
from agent.probes.os_info import collect_linux, parse_os_release, parse_timezone

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "linux" / "debian12-vm"


def test_parse_os_release_debian12() -> None:
    values = parse_os_release((FIX / "etc_os-release").read_text())
    assert values["NAME"] == "Debian GNU/Linux"
    assert values["VERSION_ID"] == "12"
    assert values["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert values["ID"] == "debian"


def test_parse_os_release_quoting_and_comments() -> None:
    # The quoting rules of os-release(5): shell-style, single or double quotes, # comments.
    text = '# comment\nNAME=\'Example Linux\'\nID_LIKE="debian ubuntu"\nVERSION="V10 \\"SP1\\""\nBROKEN\n'
    values = parse_os_release(text)
    assert values["NAME"] == "Example Linux"
    assert values["ID_LIKE"] == "debian ubuntu"
    assert values["VERSION"] == 'V10 "SP1"'


def test_parse_timezone() -> None:
    assert parse_timezone("Asia/Shanghai\n", "") == "Asia/Shanghai"
    assert parse_timezone(None, "/usr/share/zoneinfo/Asia/Shanghai") == "Asia/Shanghai"
    assert parse_timezone("", "/etc/localtime") == ""


@given(st.text())
def test_parse_os_release_survives_garbage(text: str) -> None:
    parse_os_release(text)


def test_live_os_matches_this_machine() -> None:
    facts = collect_linux(HostContext()).data
    assert facts.family == "linux"  # type: ignore[attr-defined]
    assert facts.hostname == socket.gethostname().split(".")[0]  # type: ignore[attr-defined]
    assert facts.kernel == platform.release()  # type: ignore[attr-defined]
    release = parse_os_release(Path("/etc/os-release").read_text())
    assert facts.pretty_name == release.get("PRETTY_NAME", "")  # type: ignore[attr-defined]
