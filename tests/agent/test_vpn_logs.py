"""VPN log parsers (A9-T2.3 last logins, A9-M3.4 log monitoring, A9-T2.2 no password leaves the host).

Real fixtures (tests/fixtures/SOURCES.md): OpenVPN 2.6.14 server logs, checkpsw.sh logs and
status files, ocserv 1.1.6 syslog and occtl output, charon 5.9.8 syslog, all from the real
daemons in network namespaces; pppd lines quoted from public posts; the PAM plugin lines and
charon's ``ike_name`` filelog transcribed from ../shared/design/vpn-notes.md. A live test runs
a real OpenVPN server and clients in namespaces it creates (root only).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.vpn.analysis import AnalysisConfig, detect, join_attempts
from agent.vpn.lastlogin import LastLoginStore, LogSource
from agent.vpn.logs import (
    KINDS,
    LoginEvent,
    LogParser,
    parse_occtl_users,
    parse_openvpn_status,
    parse_swanctl_list_sas,
    split_line,
)
from agent.vpn.redact import REDACTED, redact

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "vpn"
REF = datetime(2026, 11, 28, tzinfo=UTC)
# what users mistyped in the lab (checkpsw.sh wrote them into its log)
MISTYPED = ("1234567", "admin123", "Admin@123", "P@ssw0rd", "888888", "zhangwei12")


def parse(kind: str, name: str) -> list[LoginEvent]:
    with (FIX / name).open(encoding="utf-8") as handle:
        return LogParser(kind).feed_all(handle, REF)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def summary(events: list[LoginEvent], result: str) -> list[tuple[str, str | None, str | None]]:
    return [(e.ts.strftime("%H:%M:%S"), e.account, e.src_ip) for e in events if e.result == result]


# -- line splitting ---------------------------------------------------------------------------
def test_split_line_reads_every_stamp_the_daemons_write() -> None:
    rfc = split_line(
        "2026-11-27T07:18:02.163811+00:00 vm ovpn-server[11905]: 198.18.2.2:51099 TLS Auth Error"
    )
    assert (rfc.ts, rfc.ident, rfc.pid) == (
        datetime(2026, 11, 27, 7, 18, 2, 163811, UTC),
        "ovpn-server",
        11905,
    )
    assert rfc.message == "198.18.2.2:51099 TLS Auth Error"
    east = split_line("2026-11-27T15:18:02+08:00 vm charon: 06[IKE] x")
    assert east.ts == datetime(2026, 11, 27, 7, 18, 2, tzinfo=UTC) and east.ident == "charon"
    bsd = split_line("Apr  6 12:26:07 vps1 pppd[6298]: PAP peer authentication succeeded for johan", UTC, REF)
    assert (bsd.ts, bsd.ident, bsd.pid) == (datetime(2026, 4, 6, 12, 26, 7, tzinfo=UTC), "pppd", 6298)
    filelog = split_line("Nov 27 07:19:58 08[IKE] <1> 198.18.1.2 is initiating an IKE_SA", UTC, REF)
    assert filelog.ident == "charon" and filelog.message.startswith("08[IKE] <1>")
    shanghai = timezone(timedelta(hours=8))
    plain = split_line("2026-11-27 07:14:09 198.18.1.2:39489 [alice] Peer Connection Initiated", shanghai)
    assert plain.ts == datetime(2026, 11, 26, 23, 14, 9, tzinfo=UTC) and plain.ident is None
    checkpsw = split_line('2026-11-27 14:05:06: Incorrect password: username="bob", password="x".')
    assert checkpsw.message.startswith("Incorrect password:") and checkpsw.ts is not None
    multi = split_line("2026-11-27 07:14:29 MULTI: new connection by client 'alice' will cause")
    assert multi.ident is None and multi.message.startswith("MULTI: new connection")
    ctime = split_line("Sun Feb  5 18:57:10 2017 us=1 1.2.3.4:5 x")
    assert ctime.ts == datetime(2017, 2, 5, 18, 57, 10, tzinfo=UTC)
    bare = split_line("ocserv[8173]: main[alice]:198.18.1.2:59912 user logged in")
    assert (bare.ts, bare.ident, bare.pid) == (None, "ocserv", 8173)


def test_bsd_stamps_take_the_year_that_is_not_in_the_future() -> None:
    january = datetime(2027, 1, 2, tzinfo=UTC)
    assert split_line("Dec 31 23:59:59 h pppd[1]: x", UTC, january).ts == datetime(
        2026, 12, 31, 23, 59, 59, tzinfo=UTC
    )
    assert split_line("Jan  2 08:00:00 h pppd[1]: x", UTC, january).ts == datetime(2027, 1, 2, 8, tzinfo=UTC)


# -- OpenVPN ------------------------------------------------------------------------------------
def test_openvpn_counts_logins_from_peer_connection_initiated_only() -> None:
    events = parse("openvpn", "openvpn/server-run1-single.log")
    assert summary(events, "success") == [
        ("07:14:09", "alice", "198.18.1.2"),
        ("07:14:29", "alice", "198.18.2.2"),
        ("07:14:33", "zhangwei", "198.18.3.2"),
        ("07:15:28", "alice", "198.18.1.2"),
    ]
    # failed passwords: address and port, no user name (OpenVPN prints none)
    assert summary(events, "failure") == [("07:14:16", None, "198.18.2.2"), ("07:14:16", None, "198.18.3.2")]
    # without duplicate-cn the older session of alice is dropped each time
    assert summary(events, "replaced") == [
        ("07:14:29", "alice", "198.18.1.2"),
        ("07:15:28", "alice", "198.18.2.2"),
    ]
    assert summary(events, "logout") == [
        ("07:15:35", "zhangwei", "198.18.3.2"),
        ("07:15:35", "alice", "198.18.1.2"),
    ]


def test_openvpn_renegotiation_is_not_a_login() -> None:
    events = parse("openvpn", "openvpn/lab2-server-checkpsw.log")
    logins = summary(events, "success")
    assert logins == [
        ("14:04:52", "alice", "198.18.1.2"),
        ("14:05:01", "alice", "198.18.2.2"),
        ("14:05:15", "zhangwei", "198.18.3.2"),
    ]
    renegotiations = [e for e in events if e.result == "auth_ok"]
    # reneg-sec 20: "authentication succeeded" at each of the 3 logins and 5 renegotiations
    assert len(renegotiations) == 8
    assert len(summary(events, "failure")) == 8
    ends = [(e.account, e.src_ip, e.reason) for e in events if e.result == "logout"]
    assert ends == [
        ("alice", "198.18.2.2", "delayed-exit"),  # CC-EEN: the client said goodbye
        ("alice", "198.18.1.2", "ping-restart"),  # the client was killed
        ("zhangwei", "198.18.3.2", "server"),  # the server stopped
    ]


def test_verify_script_logs_give_the_names_of_failed_users() -> None:
    events = parse("openvpn-verify", "openvpn/lab2-checkpsw-password.log")
    failures = [(e.account, e.reason) for e in events if e.result == "failure"]
    assert failures == [("bob", "wrong password")] + [("admin", "unknown user")] * 6 + [
        ("zhangwei", "wrong password")
    ]
    assert all(e.result == "auth_ok" for e in events if e.account == "alice")
    lab = parse("openvpn-verify", "openvpn/verify-script-password.log")
    assert [(e.account, e.src_ip) for e in lab if e.result == "failure"][:2] == [
        ("bob", "198.18.2.2"),
        ("admin", "198.18.3.2"),
    ]


def test_failures_are_joined_with_the_names_from_the_verify_script() -> None:
    events = parse("openvpn", "openvpn/lab2-server-checkpsw.log") + parse(
        "openvpn-verify", "openvpn/lab2-checkpsw-password.log"
    )
    failures = [e for e in join_attempts(events) if e.result == "failure"]
    assert [(e.account, e.src_ip, e.reason) for e in failures] == [
        ("bob", "198.18.2.2", "wrong password"),
        *[("admin", "198.18.3.2", "unknown user")] * 6,
        ("zhangwei", "198.18.3.2", "wrong password"),
    ]
    assert all(e.src_port for e in failures)


def test_pam_lines_name_the_user_and_join_with_openvpn() -> None:
    events = parse("syslog", "pam/openvpn-pam-plugin.from-notes.log")
    failures = [(e.origin, e.account, e.src_ip, e.reason) for e in events if e.result == "failure"]
    assert failures == [
        ("pam", "vpnli", "198.18.2.2", "wrong password"),
        ("openvpn-pam", "vpnli", None, "wrong password"),
        ("openvpn", None, "198.18.2.2", "auth"),
        ("openvpn-pam", "nosuchuser", None, "unknown user"),
        ("pam", None, None, "unknown user"),
    ]
    joined = [e for e in join_attempts(events) if e.result == "failure"]
    assert [(e.account, e.src_ip, e.reason) for e in joined] == [
        ("vpnli", "198.18.2.2", "wrong password"),
        ("nosuchuser", None, "unknown user"),
    ]


# -- strongSwan ---------------------------------------------------------------------------------
def test_strongswan_syslog_names_eap_and_xauth_users_not_the_ike_identity() -> None:
    events = parse("syslog", "strongswan/charon-server-syslog-default.log")
    assert summary(events, "success") == [
        ("07:19:28", "alice", "198.18.1.2"),
        ("07:19:58", "alice", "198.18.1.2"),
        ("07:20:02", "zhangwei", "198.18.1.2"),
    ]
    assert [(e.account, e.src_ip, e.reason) for e in events if e.result == "failure"] == [
        ("bob", "198.18.2.2", "wrong password"),
        ("admin", "198.18.2.2", "unknown user"),
        ("zhangwei", "198.18.2.2", "wrong password"),
    ]
    assert summary(events, "logout") == [
        ("07:19:50", "alice", "198.18.1.2"),
        ("07:20:26", "alice", "198.18.1.2"),
        ("07:20:39", "zhangwei", "198.18.1.2"),
    ]


def test_strongswan_filelog_with_ike_name_joins_by_sa() -> None:
    events = parse("strongswan", "strongswan/charon-filelog-ike_name.from-notes.log")
    assert [(e.result, e.account, e.session, e.reason) for e in events] == [
        ("success", "alice", "rw-eap[1]", ""),
        ("failure", "bob", "2", "wrong password"),
        ("failure", "admin", "3", "unknown user"),
        ("success", "zhangwei", "rw-xauth[4]", ""),
        ("failure", "zhangwei", "5", "wrong password"),
    ]
    assert events[0].src_ip == "198.18.1.2" and events[0].ts == datetime(2026, 11, 27, 7, 19, 58, tzinfo=UTC)


def test_strongswan_counts_a_try_dropped_at_the_half_open_limit_by_address() -> None:
    """The line charon 5.9 wrote in the live lab (tests/agent/test_vpn_live_strongswan.py) when a
    sixth try came within half_open_timeout of five failed ones (block_threshold = 5)."""
    line = (
        "2026-11-27T15:02:11.512034+00:00 vpn-gw charon-systemd[4242]: 12[IKE] ignoring IKE_SA setup "
        "from 198.18.6.2, per-IP half-open IKE_SA limit of 5 reached\n"
    )
    [event] = LogParser("syslog").feed_all(io.StringIO(line), REF)
    assert (event.result, event.account, event.src_ip, event.reason) == (
        "failure",
        None,
        "198.18.6.2",
        "half-open limit",
    )


# -- ocserv, pppd -------------------------------------------------------------------------------
def test_ocserv_logins_failures_bans_and_disconnects() -> None:
    events = parse("syslog", "ocserv/lab2-ocserv-syslog.log")
    assert summary(events, "success") == [
        ("14:06:42", "alice", "198.18.1.2"),
        ("14:06:46", "alice", "198.18.2.2"),
        ("14:06:52", "zhangwei", "198.18.3.2"),
    ]
    assert [e.account for e in events if e.result == "failure"] == ["bob"] + ["admin"] * 4
    assert summary(events, "banned") == [("14:06:52", None, "198.18.3.2")]
    assert [(e.account, e.reason) for e in events if e.result == "logout"] == [
        ("alice", "user disconnected"),
        ("zhangwei", "server disconnected"),
        ("alice", "user disconnected"),
    ]


def test_pppd_failures_logins_and_client_addresses() -> None:
    events = parse("syslog", "ppp/ppp-public-log-excerpts.txt")
    assert [(e.result, e.account, e.src_ip) for e in events] == [
        ("failure", "test", "207.109.47.196"),  # pptpd's CTRL line gave pppd's address
        ("success", "johan", None),
        ("logout", "johan", None),
    ]
    # section B has no time stamps: nothing can be placed in time, nothing is made up
    assert all(e.ts.year == 2026 for e in events)


def test_pppd_2_5_success_and_xl2tpd_call_address() -> None:
    lines = [
        "Aug 30 08:36:53 gw xl2tpd[2389]: Call established with 198.18.9.2, PID: 7001, Local: 7715, Remote: 380, Serial: 1",
        "Aug 30 08:36:54 gw pppd[7001]: Peer alice authenticated with MS-CHAP-v2",
        "Aug 30 08:40:00 gw pppd[7001]: Connection terminated.",
    ]
    events = LogParser("syslog").feed_all(lines, REF)
    assert [(e.result, e.account, e.src_ip) for e in events] == [
        ("success", "alice", "198.18.9.2"),
        ("logout", "alice", "198.18.9.2"),
    ]


# -- live sessions ----------------------------------------------------------------------------------
def test_openvpn_status_v1_v2_v3_by_header() -> None:
    v2 = parse_openvpn_status((FIX / "openvpn/status-v2-run1-final.log").read_text())
    assert [(s.account, s.src_ip, s.src_port, s.virtual_ip) for s in v2] == [
        ("alice", "198.18.1.2", 43753, "10.8.0.2"),
        ("zhangwei", "198.18.3.2", 39870, "10.8.0.3"),
    ]
    assert v2[0].since == datetime.fromtimestamp(1795763728, UTC)
    v3 = parse_openvpn_status((FIX / "openvpn/status-v3-via-mgmt.tsv").read_text())
    assert [s.account for s in v3] == ["alice", "zhangwei"]
    v1 = parse_openvpn_status((FIX / "openvpn/status-v1.from-notes.txt").read_text())
    assert [(s.account, s.src_ip, s.since) for s in v1] == [
        ("alice", "198.18.2.2", at("2026-11-27T07:14:29"))
    ]


def test_openvpn_status_skips_half_open_failed_sessions() -> None:
    rows = parse_openvpn_status((FIX / "openvpn/status-v2-lab2-after-failures.log").read_text())
    assert [(s.account, s.src_ip) for s in rows] == [("alice", "198.18.2.2"), ("alice", "198.18.1.2")]


def test_occtl_json_users_with_trailing_commas_and_relative_times() -> None:
    now = at("2026-11-27T14:06:56")
    users = parse_occtl_users((FIX / "ocserv/lab2-occtl-json-show-users.json").read_text(), now)
    assert [(u.account, u.src_ip, u.virtual_ip) for u in users] == [
        ("zhangwei", "198.18.3.2", "10.20.0.43"),
        ("alice", "198.18.2.2", "10.20.0.131"),
        ("alice", "198.18.1.2", "10.20.0.50"),
    ]
    assert users[0].since == now - timedelta(seconds=4)
    # `show sessions all` lists authentication attempts, not connected users
    assert parse_occtl_users((FIX / "ocserv/occtl-sessions.json").read_text(), now) == []


def test_swanctl_list_sas_gives_eap_and_xauth_users_of_established_sas() -> None:
    now = at("2026-11-27T07:20:30")
    sas = parse_swanctl_list_sas((FIX / "strongswan/swanctl-list-sas.txt").read_text(), now)
    assert [(s.account, s.src_ip, s.virtual_ip, s.session) for s in sas] == [
        ("zhangwei", "198.18.1.2", "10.10.10.2", "rw-xauth[4]"),
        ("alice", "198.18.1.2", "10.10.10.1", "rw-eap[1]"),
    ]
    assert sas[0].since == now - timedelta(seconds=21)


# -- redaction -----------------------------------------------------------------------------------
def test_redaction_of_the_fixture_lines() -> None:
    text = (FIX / "openvpn/lab2-checkpsw-password.log").read_text()
    assert all(p in text for p in MISTYPED)  # the real script wrote them
    cleaned = [redact(line) for line in text.splitlines()]
    assert not any(p in line for line in cleaned for p in MISTYPED)
    assert cleaned[2] == f'2026-11-27 14:05:06: Incorrect password: username="bob", password="{REDACTED}".'
    assert redact('x username="a", password="we"ird".') == f'x username="a", password="{REDACTED}".'
    assert redact(">CLIENT:ENV,password=test") == f">CLIENT:ENV,password={REDACTED}"
    assert redact('rcvd [PAP AuthReq id=0x1 user="johan" password=<hidden>]').endswith("password=<hidden>]")
    events = parse("openvpn-verify", "openvpn/lab2-checkpsw-password.log")
    assert not any(p in repr(e) for e in events for p in MISTYPED)


# -- garbage ---------------------------------------------------------------------------------------
@given(st.lists(st.text(max_size=300), max_size=20), st.sampled_from(KINDS))
def test_parsers_survive_garbage(lines: list[str], kind: str) -> None:
    parser = LogParser(kind)
    for event in parser.feed_all(lines, REF):
        assert event.ts.tzinfo is not None
    parser.state()


REAL_LINES = [
    *(FIX / "openvpn/server-run1-single.log").read_text().splitlines(),
    *(FIX / "strongswan/charon-server-syslog-default.log").read_text().splitlines(),
    *(FIX / "ocserv/lab2-ocserv-syslog.log").read_text().splitlines(),
    *(FIX / "ppp/ppp-public-log-excerpts.txt").read_text().splitlines(),
    "garbage",
]


@given(st.lists(st.sampled_from(REAL_LINES), max_size=40))
def test_parsers_survive_real_lines_in_any_order(lines: list[str]) -> None:
    for kind in ("openvpn", "syslog"):
        parser = LogParser(kind)
        parser.feed_all(lines, REF)
        LogParser(kind, state=parser.state()).feed_all(lines, REF)


@given(st.text(max_size=2000))
def test_live_parsers_survive_garbage(text: str) -> None:
    parse_openvpn_status(text)
    parse_occtl_users(text, REF)
    parse_swanctl_list_sas(text, REF)


# -- a real OpenVPN server ----------------------------------------------------------------------
CHECKPSW = FIX / "openvpn" / "lab2-checkpsw.sh"


def _ensure_openvpn() -> None:
    """The test setup installs OpenVPN from Debian's packages where it can (root on Debian)."""
    if shutil.which("openvpn") and shutil.which("openssl"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        opts = ["-o", "DPkg::Lock::Timeout=300", "-qq"]
        subprocess.run(["apt-get", *opts, "update"], env=env, check=False, timeout=600)
        subprocess.run(
            ["apt-get", *opts, "install", "-y", "--no-install-recommends", "openvpn", "openssl"],
            env=env,
            check=False,
            timeout=600,
        )
    if not (shutil.which("openvpn") and shutil.which("openssl")):
        pytest.skip("openvpn/openssl not installed and not installable here")


def _wait_for(path: Path, text: str, count: int = 1, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(
        f"{text!r} did not appear {count}x in {path.name}:\n{path.read_text(errors='replace')[-3000:]}"
    )


@pytest.fixture(scope="module")
def openvpn_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real OpenVPN server (checkpsw.sh, duplicate-cn) in one network namespace and clients in
    two others, linked by veth pairs with 198.18.x.0/24 test addresses; alice connects from both,
    bob mistypes his password. Yields the directory with the server's logs."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("network namespaces need root and iproute2")
    _ensure_openvpn()
    lab = tmp_path_factory.mktemp("ovpn")
    lab.chmod(0o755)
    tag = f"wp{os.getpid() % 100000}"
    ns = {"srv": f"{tag}s", "c1": f"{tag}c1", "c2": f"{tag}c2"}
    procs: list[subprocess.Popen[bytes]] = []

    def sh(*argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True, timeout=60)

    try:
        for name in ns.values():
            sh("ip", "netns", "add", name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        for i, client in ((1, ns["c1"]), (2, ns["c2"])):
            sh("ip", "link", "add", f"{tag}a{i}", "type", "veth", "peer", "name", f"{tag}b{i}")
            sh("ip", "link", "set", f"{tag}a{i}", "netns", ns["srv"])
            sh("ip", "link", "set", f"{tag}b{i}", "netns", client)
            sh("ip", "-n", ns["srv"], "addr", "add", f"198.18.{i}.1/24", "dev", f"{tag}a{i}")
            sh("ip", "-n", client, "addr", "add", f"198.18.{i}.2/24", "dev", f"{tag}b{i}")
            sh("ip", "-n", ns["srv"], "link", "set", f"{tag}a{i}", "up")
            sh("ip", "-n", client, "link", "set", f"{tag}b{i}", "up")
        ssl = ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        sh(
            *ssl,
            "-x509",
            "-keyout",
            str(lab / "ca.key"),
            "-out",
            str(lab / "ca.crt"),
            "-days",
            "2",
            "-subj",
            "/CN=Lab CA",
        )
        sh(
            *ssl,
            "-keyout",
            str(lab / "srv.key"),
            "-out",
            str(lab / "srv.csr"),
            "-subj",
            "/CN=vpn.lab.example",
        )
        (lab / "ext.cnf").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        sh(
            "openssl",
            "x509",
            "-req",
            "-in",
            str(lab / "srv.csr"),
            "-CA",
            str(lab / "ca.crt"),
            "-CAkey",
            str(lab / "ca.key"),
            "-CAcreateserial",
            "-out",
            str(lab / "srv.crt"),
            "-days",
            "2",
            "-extfile",
            str(lab / "ext.cnf"),
        )
        sh("openvpn", "--genkey", "secret", str(lab / "ta.key"))
        script = CHECKPSW.read_text().replace("/tmp/vpnlab/ovpn", str(lab))
        (lab / "checkpsw.sh").write_text(script)
        (lab / "checkpsw.sh").chmod(0o755)
        (lab / "psw-file").write_text("alice   Alice@2024\nbob     Bob-Right-2024\n")
        common = [
            "--ca",
            str(lab / "ca.crt"),
            "--tls-crypt",
            str(lab / "ta.key"),
            "--verb",
            "3",
            "--dev",
            "tun",
            "--proto",
            "udp",
        ]
        server = [
            "openvpn", *common, "--cert", str(lab / "srv.crt"), "--key", str(lab / "srv.key"), "--dh", "none",
            "--topology", "subnet", "--server", "10.8.0.0", "255.255.255.0", "--keepalive", "2", "10",
            "--verify-client-cert", "none", "--username-as-common-name", "--script-security", "3",
            "--auth-user-pass-verify", str(lab / "checkpsw.sh"), "via-env", "--duplicate-cn",
            "--status", str(lab / "status.log"), "1", "--status-version", "2", "--log", str(lab / "server.log"),
        ]  # fmt: skip
        procs.append(subprocess.Popen(["ip", "netns", "exec", ns["srv"], *server]))
        _wait_for(lab / "server.log", "Initialization Sequence Completed")

        def client(i: int, name: str, user: str, password: str, *, keep: bool) -> subprocess.Popen[bytes]:
            cred = lab / f"cred-{name}"
            cred.write_text(f"{user}\n{password}\n")
            cred.chmod(0o600)
            argv = ["openvpn", *common, "--client", "--nobind", "--remote", f"198.18.{i}.1", "1194",
                    "--auth-user-pass", str(cred), "--auth-nocache", "--log", str(lab / f"client-{name}.log")]  # fmt: skip
            proc = subprocess.Popen(["ip", "netns", "exec", ns[f"c{i}"], *argv])
            if keep:
                procs.append(proc)
            return proc

        client(1, "a1", "alice", "Alice@2024", keep=True)
        _wait_for(lab / "server.log", "Peer Connection Initiated", 1)
        client(2, "a2", "alice", "Alice@2024", keep=True)
        _wait_for(lab / "server.log", "Peer Connection Initiated", 2)
        bob = client(2, "bob", "bob", "Bob-Typo-2024", keep=False)
        _wait_for(lab / "openvpn-password.log", "Incorrect password")
        bob.wait(timeout=30)
        _wait_for(lab / "status.log", "CLIENT_LIST,alice", 2)
        shutil.copy(lab / "status.log", lab / "status-two-alices.log")
        for proc in procs[1:]:
            proc.send_signal(signal.SIGTERM)  # explicit-exit-notify is not set: ends by ping timeout
            proc.wait(timeout=30)
        procs[0].send_signal(signal.SIGTERM)
        procs[0].wait(timeout=30)
        yield lab
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for name in ns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False, timeout=30)


def test_real_openvpn_server_logs_parse_join_and_stay_secret(openvpn_lab: Path, tmp_path: Path) -> None:
    server = parse_from(openvpn_lab / "server.log", "openvpn")
    script = parse_from(openvpn_lab / "openvpn-password.log", "openvpn-verify")
    assert [(e.account, e.src_ip) for e in server if e.result == "success"] == [
        ("alice", "198.18.1.2"),
        ("alice", "198.18.2.2"),
    ]
    joined = [e for e in join_attempts(server + script) if e.result == "failure"]
    assert [(e.account, e.src_ip, e.reason) for e in joined] == [("bob", "198.18.2.2", "wrong password")]
    live = parse_openvpn_status((openvpn_lab / "status-two-alices.log").read_text())
    assert sorted(s.src_ip or "" for s in live) == ["198.18.1.2", "198.18.2.2"]
    found = detect(server + script, {}, live, AnalysisConfig(), datetime.now(UTC))
    assert "vpn.concurrent_sessions" in {e.kind for e in found}
    assert "Bob-Typo-2024" in (openvpn_lab / "openvpn-password.log").read_text()
    with LastLoginStore(tmp_path / "logins.db") as store:
        store.ingest(LogSource(str(openvpn_lab / "openvpn-password.log"), "openvpn-verify"), tz=_local())
        store.ingest(LogSource(str(openvpn_lab / "server.log"), "openvpn"), tz=_local())
        assert store.last_login("openvpn", "alice") is not None
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"Bob-Typo-2024" not in stored
    assert not any("Bob-Typo-2024" in e.model_dump_json() for e in found)


def _local() -> timezone:
    offset = datetime.now().astimezone().utcoffset() or timedelta(0)
    return timezone(offset)


def parse_from(path: Path, kind: str) -> list[LoginEvent]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        return LogParser(kind, tz=_local()).feed_all(handle, datetime.now(UTC))
