"""Real VPN daemons produce the logs the agent reads (A9-T2.3 last logins, A9-M3.4 log monitoring,
A9-T1 brute-force events, A9-T2.2 no password leaves the host).

Issue 6 ("Tests with the real daemons") asks the tests to run real VPN servers and clients in
network namespaces they create. This file does it for **ocserv** (the OpenVPN one is in
tests/agent/test_vpn_logs.py): ocserv 1.1 and openconnect 9 from Debian's packages, a throw-away
CA and server certificate made with openssl, a password file made with the real ``ocpasswd``
(alice, bob, and ``olduser`` locked with ``ocpasswd -l``), and real logins: alice once, bob five
times with a mistyped password and then with the right one, an unknown ``admin`` once, the
locked user once. Then the agent's own code reads the log: ``LastLoginStore.ingest`` and
``scan_logs`` must give alice's last login at the time she connected, the failures per account
and per source, ``vpn.bruteforce`` and ``vpn.success_after_failures``, and none of the typed
passwords (nor the ocpasswd hashes) in the database, the events or the agent's log output.

How ocserv's log gets its time stamps. ocserv writes with syslog(3) (and, in the foreground,
a copy without any time on stderr: vpn-notes.md says such lines give no event, and this test
checks that on the real stderr copy). This machine has no syslog daemon, so the test runs
ocserv in a private mount namespace whose ``/dev`` is a tmpfs with links to the real devices
and ``/dev/log`` pointing at a datagram socket the test itself listens on (the host's ``/dev``
is not touched). The listener writes each message the way Debian 12's rsyslog does with its
default ``RSYSLOG_FileFormat``: receive time in RFC 3339 with microseconds and the local offset,
the host name, then ocserv's own ``ocserv[pid]: message`` unchanged (rsyslog's imuxsock also
ignores the client's stamp by default). The raw datagrams, with glibc's own ``Nov 27 16:30:21``
stamp, are kept beside it and the test checks that both times agree.

Network: one namespace for the server (198.18.4.1/24, 198.18.5.1/24) and two for clients
(198.18.4.2 and 198.18.5.2), linked by veth pairs; only 198.18.0.0/15 test addresses, nothing
else is contacted. Root only; the packages are installed with apt when missing; elsewhere the
test skips (a failure under WATCHPOST_STRICT=1). It takes a few seconds. One run's syslog is kept
as tests/fixtures/vpn/ocserv/live-ocserv-2026-11-27.log and read by the last test without root.
strongSwan has its own live lab: tests/agent/test_vpn_live_strongswan.py.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.host import HostContext
from agent.vpn.analysis import (
    AnalysisConfig,
    VpnLogConfig,
    detect,
    failure_counts,
    is_odd_hour,
    scan_logs,
)
from agent.vpn.lastlogin import LastLoginStore, LogSource
from agent.vpn.logs import LogParser, parse_occtl_users
from tests.support.vpnlab import SyslogListener, wait_for
from wire.events import Event

# the passwords typed in this run: none may reach anything the agent stores, sends or logs
ALICE_PW = "Alice-Strong-2024!"
BOB_PW = "Bob-Right-2024"
BOB_TYPO = "Bob-Typo-2024"
OLD_PW = "Old-User-2019"
ADMIN_GUESS = "Admin@123"
TYPED = (ALICE_PW, BOB_PW, BOB_TYPO, OLD_PW, ADMIN_GUESS)
BOB_FAILURES = 5
PORT = 4443
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- shared with the OpenVPN live test (copied, not imported: that file is another's) ----------
def _ensure(binaries: tuple[str, ...], packages: tuple[str, ...]) -> None:
    """The test setup installs the daemons from Debian's packages where it can (root on Debian)."""
    if all(shutil.which(b) for b in binaries):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        opts = ["-o", "DPkg::Lock::Timeout=300", "-qq"]
        subprocess.run(["apt-get", *opts, "update"], env=env, check=False, timeout=600)
        subprocess.run(
            ["apt-get", *opts, "install", "-y", "--no-install-recommends", *packages],
            env=env,
            check=False,
            timeout=600,
        )
    missing = [b for b in binaries if not shutil.which(b)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed and not installable here")


def _sh(*argv: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        argv, input=stdin, check=True, capture_output=True, text=True, timeout=60, start_new_session=True
    )
    return done.stdout


# -- the lab ------------------------------------------------------------------------------------
@dataclass
class OcservLab:
    syslog: Path  # rsyslog-style lines
    raw: Path  # the datagrams as ocserv's libc sent them
    stderr: Path  # ocserv's foreground copy (no time)
    passwd: Path  # the ocpasswd file
    occtl_json: str = ""
    occtl_at: datetime = EPOCH
    alice_window: tuple[datetime, datetime] = (EPOCH, EPOCH)
    bob_window: tuple[datetime, datetime] = (EPOCH, EPOCH)
    seconds: dict[str, float] = field(default_factory=dict)


_PRIVATE_DEV = """set -e
lab="$1"; ns="$2"
mkdir -p "$lab/realdev"
mount --rbind /dev "$lab/realdev"
mount -t tmpfs -o mode=755,size=64k wpdev /dev
for n in null zero full random urandom tty ptmx net pts shm; do ln -s "$lab/realdev/$n" "/dev/$n"; done
ln -s /proc/self/fd /dev/fd
ln -s "$lab/log.sock" /dev/log
exec ip netns exec "$ns" ocserv --foreground --config "$lab/ocserv.conf"
"""


def _ocserv_conf(lab: Path) -> str:
    # the shared lab's ocserv-lab.conf (../shared/fixtures/vpn/ocserv/), paths changed; bans off
    # (max-ban-score = 0) so that bob may log in after his failures, min-reauth-time 0 likewise.
    # No listen-host (ocserv takes only one): it listens on the namespace's two veth addresses.
    return f"""auth = "plain[passwd={lab}/ocpasswd]"
tcp-port = {PORT}
udp-port = {PORT}
run-as-user = nobody
run-as-group = nogroup
socket-file = {lab}/ocserv-socket
occtl-socket-file = {lab}/occtl.socket
server-cert = {lab}/srv.crt
server-key = {lab}/srv.key
isolate-workers = false
max-clients = 16
max-same-clients = 2
rate-limit-ms = 0
keepalive = 32400
dpd = 90
mobile-dpd = 1800
try-mtu-discovery = false
auth-timeout = 240
min-reauth-time = 0
max-ban-score = 0
ban-reset-time = 1200
cookie-timeout = 300
deny-roaming = false
rekey-time = 172800
rekey-method = ssl
use-occtl = true
pid-file = {lab}/ocserv.pid
log-level = 2
device = wpvpns
predictable-ips = true
ipv4-network = 10.20.0.0
ipv4-netmask = 255.255.255.0
route = 10.99.0.0/16
cisco-client-compat = true
dtls-legacy = true
"""


def _make_certs(lab: Path) -> str:
    """A throw-away CA and server certificate; returns openconnect's pin of the server key."""
    ssl = ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _sh(
        *ssl,
        "-x509",
        "-keyout",
        f"{lab}/ca.key",
        "-out",
        f"{lab}/ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=Lab CA",
    )
    _sh(*ssl, "-keyout", f"{lab}/srv.key", "-out", f"{lab}/srv.csr", "-subj", "/CN=vpn.lab.example")
    (lab / "ext.cnf").write_text(
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:198.18.4.1,IP:198.18.5.1\n"
    )
    _sh("openssl", "x509", "-req", "-in", f"{lab}/srv.csr", "-CA", f"{lab}/ca.crt", "-CAkey", f"{lab}/ca.key",
        "-CAcreateserial", "-out", f"{lab}/srv.crt", "-days", "2", "-extfile", f"{lab}/ext.cnf")  # fmt: skip
    pub = subprocess.run(
        ["openssl", "x509", "-in", f"{lab}/srv.crt", "-pubkey", "-noout"],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"],
        input=pub,
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    return "pin-sha256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def ocserv_lab() -> Iterator[OcservLab]:
    """A real ocserv in one network namespace, openconnect clients in two others; yields the logs."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces and a private /dev need root")
    for tool in ("ip", "unshare", "mount"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is missing (iproute2 / util-linux)")
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip(f"`ip netns` is not available: {probe.stderr.decode(errors='replace').strip()}")
    _ensure(("ocserv", "ocpasswd", "occtl", "openconnect", "openssl"), ("ocserv", "openconnect", "openssl"))
    started = time.monotonic()
    # ocserv's workers run as nobody: the lab must be reachable by them (pytest's tmp dirs are 0700)
    lab = Path(tempfile.mkdtemp(prefix="wp-ocserv-", dir="/tmp"))
    lab.chmod(0o755)
    tag = f"wpoc{os.getpid() % 100000}"
    ns = {"srv": f"{tag}s", "c1": f"{tag}c1", "c2": f"{tag}c2"}
    made_ns: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    listener: SyslogListener | None = None
    out = OcservLab(lab / "syslog", lab / "syslog.raw", lab / "ocserv.stderr", lab / "ocpasswd")
    try:
        for name in ns.values():
            _sh("ip", "netns", "add", name)
            made_ns.append(name)
            _sh("ip", "-n", name, "link", "set", "lo", "up")
        for i, client in ((4, ns["c1"]), (5, ns["c2"])):
            _sh("ip", "link", "add", f"{tag}a{i}", "type", "veth", "peer", "name", f"{tag}b{i}")
            _sh("ip", "link", "set", f"{tag}a{i}", "netns", ns["srv"])
            _sh("ip", "link", "set", f"{tag}b{i}", "netns", client)
            _sh("ip", "-n", ns["srv"], "addr", "add", f"198.18.{i}.1/24", "dev", f"{tag}a{i}")
            _sh("ip", "-n", client, "addr", "add", f"198.18.{i}.2/24", "dev", f"{tag}b{i}")
            _sh("ip", "-n", ns["srv"], "link", "set", f"{tag}a{i}", "up")
            _sh("ip", "-n", client, "link", "set", f"{tag}b{i}", "up")
        pin = _make_certs(lab)
        for user, password in (("alice", ALICE_PW), ("bob", BOB_PW), ("olduser", OLD_PW)):
            # ocpasswd asks twice; without a terminal (new session) getpass reads stdin
            _sh("ocpasswd", "-c", str(out.passwd), user, stdin=f"{password}\n{password}\n")
        _sh("ocpasswd", "-c", str(out.passwd), "-l", "olduser")
        (lab / "ocserv.conf").write_text(_ocserv_conf(lab))
        listener = SyslogListener(lab / "log.sock", out.syslog, out.raw)
        with out.stderr.open("wb") as err:
            server = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    _PRIVATE_DEV,
                    "sh",
                    str(lab),
                    ns["srv"],
                ],
                stdout=err,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        procs.append(server)
        wait_for(out.syslog, "main: initialized ocserv")
        out.seconds["setup"] = time.monotonic() - started

        def connect(client: str, user: str, typed: list[str]) -> subprocess.Popen[bytes]:
            address = "198.18.4.1" if client == "c1" else "198.18.5.1"
            argv = ["ip", "netns", "exec", ns[client], "openconnect", "--protocol=anyconnect",
                    "--passwd-on-stdin", "--servercert", pin, "--user", user, "--script", "/bin/true",
                    f"https://{address}:{PORT}"]  # fmt: skip
            log = (lab / f"openconnect-{user}.log").open("ab")
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                start_new_session=True,  # no terminal: the password is read from stdin only
            )
            log.close()
            assert proc.stdin is not None
            proc.stdin.write("".join(f"{p}\n" for p in typed).encode())
            proc.stdin.close()
            return proc

        def fail(client: str, user: str, password: str) -> None:
            # three tries: ocserv logs a failure only when the client gives up after MAX_PASSWORD_TRIES
            proc = connect(client, user, [password] * 3)
            procs.append(proc)
            assert proc.wait(timeout=30) != 0

        t0 = datetime.now(UTC)
        alice_client = connect("c1", "alice", [ALICE_PW])
        procs.append(alice_client)
        wait_for(out.syslog, "user logged in", 1)
        out.alice_window = (t0, datetime.now(UTC))
        for _ in range(BOB_FAILURES):
            fail("c2", "bob", BOB_TYPO)
        fail("c2", "admin", ADMIN_GUESS)  # no such account
        fail("c1", "olduser", OLD_PW)  # its own password, but locked
        wait_for(out.syslog, "failed authentication for", BOB_FAILURES + 2)
        t1 = datetime.now(UTC)
        bob_client = connect("c2", "bob", [BOB_PW])
        procs.append(bob_client)
        wait_for(out.syslog, "user logged in", 2)
        out.bob_window = (t1, datetime.now(UTC))
        time.sleep(1.2)  # so occtl's "_Connected at" is not 0s
        out.occtl_at = datetime.now(UTC)
        out.occtl_json = _sh("occtl", "--socket-file", str(lab / "occtl.socket"), "--json", "show", "users")
        for proc in bob_client, alice_client:  # they say goodbye (BYE packet)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        wait_for(out.syslog, " user disconnected (reason:", 2)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        out.seconds["total"] = time.monotonic() - started
    except BaseException:
        for log in [*sorted(lab.glob("*.log")), out.stderr]:  # shown by pytest with the failure
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:] if log.exists() else ''}")
        _cleanup(procs, listener, made_ns, lab)
        raise
    try:
        yield out
    finally:
        _cleanup(procs, listener, made_ns, lab)


def _cleanup(
    procs: list[subprocess.Popen[bytes]], listener: SyslogListener | None, made_ns: list[str], lab: Path
) -> None:
    """Stop what the lab started (its own process groups), the listener, the namespaces."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # its own session: ocserv's sec-mod and workers too
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
    if listener is not None:
        listener.close()
    for name in made_ns:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False, timeout=30)
    shutil.rmtree(lab, ignore_errors=True)


def test_real_ocserv_logins_feed_last_login_and_events_without_secrets(
    ocserv_lab: OcservLab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lab = ocserv_lab
    text = lab.syslog.read_text(encoding="utf-8")
    print(text)  # shown by pytest when the test fails
    # what ocserv itself wrote: its lines, and no typed password (it never logs them at log-level 2)
    assert "main[alice]:198.18.4.2:" in text and "failed authentication for 'bob'" in text
    assert not any(p in text or p in lab.raw.read_text() or p in lab.stderr.read_text() for p in TYPED)
    # the stderr copy has the same messages without a time: no event at a made-up time
    stderr_lines = lab.stderr.read_text(errors="replace").splitlines()
    assert any("user logged in" in line for line in stderr_lines)
    assert LogParser("syslog").feed_all(stderr_lines) == []
    assert LogParser("ocserv").feed_all(stderr_lines) == []

    root = tmp_path / "host"
    (root / "var/log").mkdir(parents=True)
    shutil.copy(lab.syslog, root / "var/log/syslog")
    config = VpnLogConfig(
        sources=(LogSource("/var/log/syslog", "syslog"),),
        openvpn_status=(),
        occtl=False,  # the daemon is gone: its live sessions were captured while it ran (below)
        swanctl=False,
        analysis=AnalysisConfig(burst_failures=BOB_FAILURES, burst_minutes=10),
    )
    now = datetime.now(UTC)
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    data.mkdir()
    with LastLoginStore(data / "vpn-logins.db") as store:
        stats = store.ingest(config.sources[0], root=root, tz=config.log_tz(), reference=now)
        assert stats.lines == len(text.splitlines())
        events = scan_logs(config, store, now, HostContext(root=root))

        # last logins: at the time each connected (the receive time of "user logged in")
        alice = store.last_login("ocserv", "alice")
        assert alice is not None
        lo, hi = lab.alice_window
        assert lo - timedelta(seconds=1) <= alice <= hi + timedelta(seconds=1)
        bob = store.last_login("ocserv", "bob")
        assert bob is not None and lab.bob_window[0] - timedelta(seconds=1) <= bob <= lab.bob_window[1]
        assert store.last_login("ocserv", "olduser") is None
        assert store.last_login("ocserv", "admin") is None
        assert [a for _, a, _ in store.accounts("ocserv")] == ["alice", "bob"]
        # ... and ocserv's own clock (glibc's stamp in the datagram) says the same second
        stamp = re.search(
            r"<\d+>(\w{3} [ \d]\d \d\d:\d\d:\d\d) ocserv\[\d+\]: main\[alice\]:\S+ user logged in",
            lab.raw.read_text(),
        )
        assert stamp is not None
        local = alice.astimezone()
        daemon = datetime.strptime(f"{local.year} {stamp.group(1)}", "%Y %b %d %H:%M:%S").replace(
            tzinfo=local.tzinfo
        )
        assert abs((daemon - local.replace(microsecond=0)).total_seconds()) <= 1

        # failures: one per gave-up connection (the sec-mod's "plain-auth: error" is not counted twice)
        failures = store.logins(server="ocserv", results=("failure",))
        accounts, sources = failure_counts(failures)
        assert accounts == {"bob": BOB_FAILURES, "admin": 1, "olduser": 1}
        assert sources == {"198.18.5.2": BOB_FAILURES + 1, "198.18.4.2": 1}
        logouts = store.logins(server="ocserv", results=("logout",))
        assert sorted((e.account, e.reason) for e in logouts) == [
            ("alice", "user disconnected"),
            ("bob", "user disconnected"),
        ]

        # live sessions from the real occtl while both were connected
        live = parse_occtl_users(lab.occtl_json, lab.occtl_at)
        assert sorted((s.account, s.src_ip) for s in live) == [("alice", "198.18.4.2"), ("bob", "198.18.5.2")]
        for s in live:
            login = alice if s.account == "alice" else bob
            assert s.since is not None and abs((s.since - login).total_seconds()) <= 2.5
            assert s.virtual_ip and s.virtual_ip.startswith("10.20.0.")
        # one step above bob's count: only the address (bob's 5 + admin's 1) is a burst
        stricter = AnalysisConfig(burst_failures=BOB_FAILURES + 1)
        found = detect(store.logins(server="ocserv", results=None), {}, [], stricter, now)
        assert sorted(
            str(e.data.get("account") or e.data.get("src_ip")) for e in found if e.kind == "vpn.bruteforce"
        ) == ["198.18.5.2"]
        store.add_live_sessions(live, lab.occtl_at)
        # a live session never lowers the last login; occtl counts whole seconds, so it may
        # raise it by a fraction of a second to its own rounded start
        after_live = store.last_login("ocserv", "alice")
        assert after_live is not None and alice <= after_live <= alice + timedelta(seconds=2)
        assert scan_logs(config, store, now, HostContext(root=root)) == []  # nothing new, nothing again
    _assert_events(events, alice, bob, config.analysis, now)

    # no typed password, no ocpasswd hash anywhere the agent wrote or said
    hashes = [line.split(":", 2)[2].lstrip("!") for line in lab.passwd.read_text().splitlines()]
    assert len(hashes) == 3 and all(h.startswith("$5$") for h in hashes)
    stored = b"".join(p.read_bytes() for p in data.iterdir())
    said = "".join(e.model_dump_json() for e in events) + caplog.text
    for secret in (*TYPED, *hashes):
        assert secret.encode() not in stored
        assert secret not in said


def _assert_events(
    events: list[Event], alice: datetime, bob: datetime, cfg: AnalysisConfig, now: datetime
) -> None:
    kinds = sorted(e.kind for e in events)
    brute = {(e.data.get("account") or e.data.get("src_ip")): e for e in events if e.kind == "vpn.bruteforce"}
    assert set(brute) == {"bob", "198.18.5.2"}, kinds
    assert brute["bob"].data["failures"] == BOB_FAILURES
    assert brute["198.18.5.2"].data["failures"] == BOB_FAILURES + 1
    assert brute["198.18.5.2"].data["accounts"] == "admin, bob"
    after = [e for e in events if e.kind == "vpn.success_after_failures"]
    assert [(e.data["account"], e.data["src_ip"], e.occurred_at) for e in after] == [
        ("bob", "198.18.5.2", bob)
    ]
    assert after[0].data["failures"] == BOB_FAILURES + 1
    # the rest depends on the hour the test runs at (Beijing time) and nothing else
    odd = sorted(str(e.data["account"]) for e in events if e.kind == "vpn.odd_hours")
    assert odd == [a for a, ts in (("alice", alice), ("bob", bob)) if is_odd_hour(ts, cfg)]
    day_over = [e for e in events if e.kind == "vpn.failed_logins"]
    assert len(day_over) <= 1
    assert not set(kinds) - {
        "vpn.bruteforce",
        "vpn.success_after_failures",
        "vpn.odd_hours",
        "vpn.failed_logins",
    }, kinds
    assert all(e.occurred_at <= now + timedelta(minutes=5) for e in events)


# -- the same run, saved (for machines where the live test cannot run) ---------------------------
SAVED = Path(__file__).resolve().parents[1] / "fixtures" / "vpn" / "ocserv" / "live-ocserv-2026-11-27.log"


def test_saved_live_ocserv_run_gives_the_same_answers(tmp_path: Path) -> None:
    """The syslog of one run of the live test above (tests/fixtures/SOURCES.md), read without root."""
    root = tmp_path / "host"
    (root / "var/log").mkdir(parents=True)
    shutil.copy(SAVED, root / "var/log/syslog")
    config = VpnLogConfig(
        sources=(LogSource("/var/log/syslog", "syslog"),), openvpn_status=(), occtl=False, swanctl=False
    )
    now = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    with LastLoginStore(tmp_path / "vpn-logins.db") as store:
        events = scan_logs(config, store, now, HostContext(root=root))
        alice = datetime(2026, 11, 27, 16, 37, 10, 188454, tzinfo=UTC)
        bob = datetime(2026, 11, 27, 16, 37, 10, 812477, tzinfo=UTC)
        assert store.accounts("ocserv") == [("ocserv", "alice", alice), ("ocserv", "bob", bob)]
        accounts, sources = failure_counts(store.logins(server="ocserv", results=("failure",)))
    assert accounts == {"bob": BOB_FAILURES, "admin": 1, "olduser": 1}
    assert sources == {"198.18.5.2": BOB_FAILURES + 1, "198.18.4.2": 1}
    _assert_events(events, alice, bob, config.analysis, now)
    # 00:37 on a Saturday in Beijing: odd hours
    assert {e.kind for e in events} == {"vpn.bruteforce", "vpn.success_after_failures", "vpn.odd_hours"}
