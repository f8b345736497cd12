"""A real strongSwan (charon) produces the logs the agent reads (A9-T2.3 last logins, A9-M3.4 log
monitoring, A9-T1 brute-force events, A9-T2.2 no password leaves the host).

Issue 6 ("Tests with the real daemons") asks the tests to run real VPN servers and clients in
network namespaces they create. This file does it for **strongSwan 5.9** from Debian's packages:
``charon-systemd`` (Debian 12 has no ``/usr/lib/ipsec/charon`` without ``strongswan-charon``)
as an IKEv2 server with EAP-MSCHAPv2 users (``secrets { eap-alice { id = alice ... } }`` in
swanctl.conf) and a server certificate made with ``pki`` from a throw-away CA, and a second
``charon-systemd`` as the client, driven with ``swanctl --initiate``. Like Windows' built-in
client, the client's IKE identity is its address (198.18.6.2): the user is only in the EAP
exchange. Runs: alice logs in; bob's client tries a mistyped password five times (each try a new
``swanctl --initiate``, so a new IKE_SA), an unknown ``admin`` once; then bob with the right
password. ``swanctl --list-sas`` is read on the server while both are connected; then both
disconnect and the daemons stop.

Debian 12 ships the pieces in separate packages: EAP-MSCHAPv2 (and XAuth) in
``libcharon-extauth-plugins``, EAP-Identity (needed for ``eap_id = %any``, which makes charon
log ``received EAP identity 'alice'``) and kernel-libipsec in ``libcharon-extra-plugins``, the
openssl plugin (MD4 and DES for MS-CHAPv2 through OpenSSL 3's legacy provider) in
``libstrongswan-standard-plugins``, ``pki`` in ``strongswan-pki``. The test installs what is
missing with apt (root on Debian), else skips (a failure under WATCHPOST_STRICT=1, see
tests/conftest.py). IPsec SAs go through kernel-libipsec (a TUN device in the namespace): the
development VM's kernel answers ``Function not implemented`` to ESP SAs over netlink.

Each charon runs in its own network namespace (server 198.18.6.1/24 with 10.99.0.1 on ``lo``
as the protected network, client 198.18.6.2/24, a veth pair; only 198.18.0.0/15 and 10.x
addresses inside the namespaces, nothing else is contacted) and its own mount namespace with a
tmpfs ``/run`` and a tmpfs ``/dev`` (links to the real devices; the host's are not touched),
``STRONGSWAN_CONF`` naming its own strongswan.conf (explicit plugin list, vici socket in the lab
directory, journal off) and ``SWANCTL_DIR`` its own swanctl directory. The server logs two ways:

* **syslog**, charon's default settings (level 1, no ``ike_name``, so lines carry no
  ``<conn|N>`` and the identity is joined to the IKE_SA by order and address): its
  ``/dev/log`` leads to a datagram socket the test listens on, and each message is written the
  way Debian 12's rsyslog does (receive time in RFC 3339, host, ``charon-systemd: 09[IKE] ...``
  verbatim; the ident is the program name because charon calls no openlog(3) without
  ``syslog.identifier``). The raw datagrams (glibc's ``Nov 27 16:44:00`` stamp) are kept and
  both times are checked to agree.
* **filelog** with ``time_format = %b %e %T`` and ``ike_name = yes`` (``Nov 27 16:44:00
  13[IKE] <rw-eap|1> ...``; local time, whole seconds), the kind ``strongswan`` source.

Both are read by the agent's own code (``LastLoginStore.ingest``, ``scan_logs``) into separate
stores and must give the same answers. One run's logs and ``--list-sas`` output are kept in
tests/fixtures/vpn/strongswan/live-*-2026-11-27.* and read by the last test without root.
"""

from __future__ import annotations

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
from agent.vpn.logs import LiveSession, LoginEvent, parse_swanctl_list_sas
from tests.support.vpnlab import SyslogListener, wait_for
from wire.events import Event

# the passwords typed in this run: none may reach anything the agent stores, sends or logs
ALICE_PW = "Alice-Strong-2024!"
BOB_PW = "Bob-Right-2024"
BOB_TYPO = "Bob-Typo-2024"
ADMIN_GUESS = "Admin@123"
TYPED = (ALICE_PW, BOB_PW, BOB_TYPO, ADMIN_GUESS)
BOB_FAILURES = 5
SERVER, CLIENT = "198.18.6.1", "198.18.6.2"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PLUGINS = "/usr/lib/ipsec/plugins"
# what the lab needs -> the Debian 12 package that has it
NEEDS = {
    "/usr/sbin/charon-systemd": "charon-systemd",
    "/usr/sbin/swanctl": "strongswan-swanctl",
    "/usr/bin/pki": "strongswan-pki",
    f"{PLUGINS}/libstrongswan-eap-mschapv2.so": "libcharon-extauth-plugins",
    f"{PLUGINS}/libstrongswan-eap-identity.so": "libcharon-extra-plugins",
    f"{PLUGINS}/libstrongswan-kernel-libipsec.so": "libcharon-extra-plugins",
    f"{PLUGINS}/libstrongswan-openssl.so": "libstrongswan-standard-plugins",
}
CHARON_LOAD = (
    "random nonce drbg openssl pem pkcs1 pkcs8 x509 constraints pubkey sha1 sha2 hmac kdf attr "
    "kernel-libipsec kernel-netlink socket-default vici eap-identity eap-mschapv2"
)
TOOLS_LOAD = "random nonce drbg openssl pem pkcs1 pkcs8 x509 pubkey sha1 sha2"


# -- copied from tests/agent/test_vpn_live_daemons.py (another's file), adapted ------------------
def _ensure_files(needs: dict[str, str]) -> None:
    """The test setup installs the daemons from Debian's packages where it can (root on Debian)."""
    if all(Path(p).exists() for p in needs):
        return
    packages = sorted({pkg for p, pkg in needs.items() if not Path(p).exists()})
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
    missing = [p for p in needs if not Path(p).exists()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed and not installable here ({', '.join(packages)})")


# -- the lab ------------------------------------------------------------------------------------
# Run inside `ip netns exec NS unshare --mount --propagation private`: the network namespace is
# entered first (`ip netns exec` needs the host's /run/netns), then /dev and /run are replaced.
_PRIVATE_MOUNTS = """set -e
dir="$1"
mkdir -p "$dir/realdev"
mount --rbind /dev "$dir/realdev"
mount -t tmpfs -o mode=755,size=64k wpdev /dev
for n in null zero full random urandom tty ptmx net pts shm; do ln -s "$dir/realdev/$n" "/dev/$n"; done
ln -s /proc/self/fd /dev/fd
if [ -S "$dir/log.sock" ]; then ln -s "$dir/log.sock" /dev/log; fi
mount -t tmpfs -o mode=755,size=1m wprun /run
export STRONGSWAN_CONF="$dir/strongswan.conf"
exec /usr/sbin/charon-systemd
"""


def _strongswan_conf(d: Path, *, syslog: bool) -> str:
    # charon-systemd reads its own section and falls back to `charon`; the journal logger is
    # turned off (there is no journald in the private /run anyway)
    return f"""charon-systemd {{
  load = {CHARON_LOAD}
  # charon keeps an IKE_SA whose EAP failed half-open for half_open_timeout (30 s) and ignores
  # a 6th half-open one from the same address ("per-IP half-open IKE_SA limit of 5 reached",
  # no user name): the default 5 would stall the 6th try here for up to 30 s
  block_threshold = 20
  plugins {{
    vici {{ socket = unix://{d}/charon.vici }}
  }}
  journal {{ default = -1 }}
  {"syslog { daemon { default = 1 } }" if syslog else ""}
  filelog {{
    lab {{
      path = {d}/charon.log
      time_format = %b %e %T
      ike_name = yes
      append = no
      flush_line = yes
      default = 1
    }}
  }}
}}
swanctl {{ load = {TOOLS_LOAD} }}
pki {{ load = {TOOLS_LOAD} }}
"""


def _server_swanctl() -> str:
    return f"""connections {{
  rw-eap {{
    version = 2
    local_addrs = {SERVER}
    pools = rw-pool
    send_certreq = no
    local {{
      auth = pubkey
      certs = srv.crt
      id = vpn.lab.example
    }}
    remote {{
      auth = eap-mschapv2
      eap_id = %any
    }}
    children {{
      rw-eap {{ local_ts = 10.99.0.0/16 }}
    }}
  }}
}}
pools {{
  rw-pool {{ addrs = 10.10.10.0/24 }}
}}
secrets {{
  eap-alice {{
    id = alice
    secret = "{ALICE_PW}"
  }}
  eap-bob {{
    id = bob
    secret = "{BOB_PW}"
  }}
}}
"""


def _client_swanctl(bob_secret: str) -> str:
    conns = "".join(
        f"""  {user} {{
    version = 2
    remote_addrs = {SERVER}
    vips = 0.0.0.0
    local {{
      auth = eap-mschapv2
      eap_id = {user}
    }}
    remote {{
      auth = pubkey
      id = vpn.lab.example
    }}
    children {{
      {user} {{ remote_ts = 10.99.0.0/16 }}
    }}
  }}
"""
        for user in ("alice", "bob", "admin")
    )
    secrets = "".join(
        f'  eap-{user} {{\n    id = {user}\n    secret = "{secret}"\n  }}\n'
        for user, secret in (("alice", ALICE_PW), ("bob", bob_secret), ("admin", ADMIN_GUESS))
    )
    return f"connections {{\n{conns}}}\nsecrets {{\n{secrets}}}\n"


@dataclass
class SwanLab:
    syslog: Path  # rsyslog-style lines (charon's syslog, default settings)
    raw: Path  # the datagrams as charon's libc sent them
    filelog: Path  # charon's filelog (ike_name, time_format)
    others: list[Path]  # the client's log, the daemons' stderr, the swanctl outputs
    list_sas: str = ""
    list_sas_at: datetime = EPOCH
    alice_window: tuple[datetime, datetime] = (EPOCH, EPOCH)
    bob_window: tuple[datetime, datetime] = (EPOCH, EPOCH)
    seconds: dict[str, float] = field(default_factory=dict)


class _Lab:
    """Namespaces, processes and files of one run; ``close`` undoes all of it."""

    def __init__(self) -> None:
        # ocserv-style layout: one throw-away directory under /tmp (charon runs as root here)
        self.dir = Path(tempfile.mkdtemp(prefix="wp-swan-", dir="/tmp"))
        self.tag = f"wpsw{os.getpid() % 100000}"
        self.ns = {"srv": f"{self.tag}s", "cli": f"{self.tag}c"}
        self.made_ns: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.listener: SyslogListener | None = None

    def sh(self, *argv: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            argv,
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} -> {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def network(self) -> None:
        for name in self.ns.values():
            self.sh("ip", "netns", "add", name)
            self.made_ns.append(name)
            self.sh("ip", "-n", name, "link", "set", "lo", "up")
        a, b = f"{self.tag}a", f"{self.tag}b"
        self.sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        self.sh("ip", "link", "set", a, "netns", self.ns["srv"])
        self.sh("ip", "link", "set", b, "netns", self.ns["cli"])
        self.sh("ip", "-n", self.ns["srv"], "addr", "add", f"{SERVER}/24", "dev", a)
        self.sh("ip", "-n", self.ns["cli"], "addr", "add", f"{CLIENT}/24", "dev", b)
        # the protected network behind the server: charon needs a local address in it for the route
        self.sh("ip", "-n", self.ns["srv"], "addr", "add", "10.99.0.1/16", "dev", "lo")
        self.sh("ip", "-n", self.ns["srv"], "link", "set", a, "up")
        self.sh("ip", "-n", self.ns["cli"], "link", "set", b, "up")

    def env(self, role: str) -> dict[str, str]:
        d = self.dir / role
        return {"STRONGSWAN_CONF": str(d / "strongswan.conf"), "SWANCTL_DIR": str(d / "swanctl")}

    def swanctl(self, role: str, *args: str, check: bool = True) -> str:
        uri = f"unix://{self.dir / role / 'charon.vici'}"
        return self.sh("swanctl", *args, "--uri", uri, check=check, env=self.env(role))

    def configure(self) -> None:
        for role in ("srv", "cli"):
            d = self.dir / role
            for sub in ("x509", "x509ca", "ecdsa"):
                (d / "swanctl" / sub).mkdir(parents=True)
            (d / "strongswan.conf").write_text(_strongswan_conf(d, syslog=role == "srv"))
        srv = self.dir / "srv" / "swanctl"
        ca_key, ca_crt, srv_key = self.dir / "ca.key", srv / "x509ca" / "ca.crt", srv / "ecdsa" / "srv.key"
        pub = self.dir / "srv.pub"

        def pki(args: str) -> str:  # the lab's paths have no blanks
            return self.sh("pki", *args.split(), "--outform", "pem", env=self.env("srv"))

        ca_key.write_text(pki("--gen --type ecdsa --size 256"))
        ca_crt.write_text(pki(f"--self --ca --lifetime 2 --in {ca_key} --type ecdsa --dn CN=Lab"))
        srv_key.write_text(pki("--gen --type ecdsa --size 256"))
        pub.write_text(pki(f"--pub --in {srv_key} --type ecdsa"))
        (srv / "x509" / "srv.crt").write_text(
            pki(
                f"--issue --lifetime 2 --in {pub} --type pub --cacert {ca_crt} --cakey {ca_key} "
                "--dn CN=vpn.lab.example --san vpn.lab.example --flag serverAuth --flag ikeIntermediate"
            )
        )
        shutil.copy(ca_crt, self.dir / "cli" / "swanctl" / "x509ca" / "ca.crt")
        (srv / "swanctl.conf").write_text(_server_swanctl())
        (self.dir / "cli" / "swanctl" / "swanctl.conf").write_text(_client_swanctl(BOB_TYPO))

    def start(self, role: str) -> None:
        d = self.dir / role
        with (d / "stderr").open("wb") as err:
            argv = ["ip", "netns", "exec", self.ns[role], "unshare", "--mount", "--propagation", "private"]
            proc = subprocess.Popen(
                [*argv, "sh", "-c", _PRIVATE_MOUNTS, "sh", str(d)],
                stdout=err,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs.append(proc)
        deadline = time.monotonic() + 30
        while not (d / "charon.vici").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"charon ({role}) did not start:\n{(d / 'stderr').read_text()}")
            time.sleep(0.1)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: whatever it started too
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=15)

    def close(self) -> None:
        for proc in self.procs:
            self.stop(proc)
        if self.listener is not None:
            self.listener.close()
        for name in self.made_ns:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def swan_lab() -> Iterator[SwanLab]:
    """A real charon server and client in two network namespaces; yields the server's logs."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces and private /dev and /run mounts need root")
    for tool in ("ip", "unshare", "mount"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is missing (iproute2 / util-linux)")
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip(f"`ip netns` is not available: {probe.stderr.decode(errors='replace').strip()}")
    if not Path("/dev/net/tun").exists():
        pytest.skip("/dev/net/tun is missing (kernel-libipsec needs a TUN device)")
    _ensure_files(NEEDS)
    started = time.monotonic()
    lab = _Lab()
    srv = lab.dir / "srv"
    out = SwanLab(lab.dir / "syslog", lab.dir / "syslog.raw", srv / "charon.log", [])
    try:
        lab.network()
        lab.configure()
        lab.listener = SyslogListener(srv / "log.sock", out.syslog, out.raw)
        lab.start("srv")
        lab.start("cli")
        outputs = [lab.swanctl("srv", "--load-all"), lab.swanctl("cli", "--load-all")]
        out.seconds["setup"] = time.monotonic() - started
        established = "] established between "

        def initiate(user: str) -> subprocess.CompletedProcess[str]:
            uri = f"unix://{lab.dir / 'cli' / 'charon.vici'}"
            return subprocess.run(
                ["swanctl", "--initiate", "--child", user, "--timeout", "30", "--uri", uri],
                capture_output=True,
                text=True,
                timeout=60,
                start_new_session=True,
                env={**os.environ, **lab.env("cli")},
            )

        t0 = datetime.now(UTC)
        done = initiate("alice")
        assert done.returncode == 0, done.stdout + done.stderr
        wait_for(out.syslog, established, 1)
        out.alice_window = (t0, datetime.now(UTC))
        for i in range(BOB_FAILURES):  # each try a new IKE_SA; the client gives up (AUTH_FAILED)
            done = initiate("bob")
            assert done.returncode != 0, done.stdout
            outputs.append(done.stdout)
            wait_for(out.syslog, "EAP-MS-CHAPv2 verification failed", i + 1)
        done = initiate("admin")  # no such account
        assert done.returncode != 0, done.stdout
        outputs.append(done.stdout)
        wait_for(out.syslog, "no EAP key found for hosts")
        wait_for(out.syslog, "EAP-MS-CHAPv2 verification failed", BOB_FAILURES + 1)
        # bob finds his password: the client's credentials are reloaded with the right one
        (lab.dir / "cli" / "swanctl" / "swanctl.conf").write_text(_client_swanctl(BOB_PW))
        outputs.append(lab.swanctl("cli", "--load-creds", "--clear"))
        t1 = datetime.now(UTC)
        done = initiate("bob")
        assert done.returncode == 0, done.stdout + done.stderr
        wait_for(out.syslog, established, 2)
        out.bob_window = (t1, datetime.now(UTC))
        time.sleep(1.2)  # so "established Ns ago" is not 0s
        out.list_sas_at = datetime.now(UTC)
        out.list_sas = lab.swanctl("srv", "--list-sas")
        for user in ("bob", "alice"):  # they say goodbye (INFORMATIONAL DELETE)
            outputs.append(lab.swanctl("cli", "--terminate", "--ike", user, "--timeout", "30"))
        wait_for(out.syslog, "IKE_SA deleted", 2)
        for proc in lab.procs:
            lab.stop(proc)
        (lab.dir / "swanctl-outputs.txt").write_text("\n".join(outputs))
        out.others = [lab.dir / "cli" / "charon.log", srv / "stderr", lab.dir / "cli" / "stderr"]
        out.others.append(lab.dir / "swanctl-outputs.txt")
        out.seconds["total"] = time.monotonic() - started
    except BaseException:
        for log in (out.syslog, out.filelog, lab.dir / "cli" / "charon.log", srv / "stderr"):
            text = log.read_text(errors="replace")[-4000:] if log.exists() else "(missing)"
            print(f"--- {log.name}\n{text}")  # shown by pytest with the failure
        lab.close()
        raise
    try:
        yield out
    finally:
        lab.close()


def _config(path: str, kind: str, log_timezone: str = "") -> VpnLogConfig:
    return VpnLogConfig(
        sources=(LogSource(path, kind),),
        openvpn_status=(),
        occtl=False,
        swanctl=False,  # the daemon is gone: its live sessions were captured while it ran
        log_timezone=log_timezone,  # the filelog's stamps are in the zone charon ran in
        analysis=AnalysisConfig(burst_failures=BOB_FAILURES, burst_minutes=10),
    )


def _read(
    log: Path, path: str, kind: str, data: Path, now: datetime, log_timezone: str = ""
) -> tuple[list[Event], dict[str, datetime], list[LoginEvent]]:
    """Feed one log to a fresh store the way the agent does; the events, the last logins, and
    the failures and logouts."""
    root = data / "host"
    (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(log, root / path.lstrip("/"))
    config = _config(path, kind, log_timezone)
    with LastLoginStore(data / "vpn-logins.db") as store:
        stats = store.ingest(config.sources[0], root=root, tz=config.log_tz(), reference=now)
        assert stats.lines == len(log.read_text(encoding="utf-8").splitlines())
        events = scan_logs(config, store, now, HostContext(root=root))
        last = {account: ts for _, account, ts in store.accounts("strongswan")}
        rows = store.logins(server="strongswan", results=("failure", "logout"))
        # the stricter threshold: only the address (bob's 5 + admin's 1) is a burst
        found = detect(
            store.logins(server="strongswan", results=None),
            {},
            [],
            AnalysisConfig(burst_failures=BOB_FAILURES + 1),
            now,
        )
        assert sorted(
            str(e.data.get("account") or e.data.get("src_ip")) for e in found if e.kind == "vpn.bruteforce"
        ) == [CLIENT]
        assert scan_logs(config, store, now, HostContext(root=root)) == []  # nothing new, nothing again
    return events, last, rows


def _assert_counts(rows: list[LoginEvent]) -> None:
    failures = [e for e in rows if e.result == "failure"]
    accounts, sources = failure_counts(failures)
    assert accounts == {"bob": BOB_FAILURES, "admin": 1}
    assert sources == {CLIENT: BOB_FAILURES + 1}
    assert sorted(e.reason for e in failures if e.account == "admin") == ["unknown user"]
    assert {e.reason for e in failures if e.account == "bob"} == {"wrong password"}
    logouts = sorted((e.account, e.src_ip) for e in rows if e.result == "logout")
    assert logouts == [("alice", CLIENT), ("bob", CLIENT)]


def _assert_events(
    events: list[Event], last: dict[str, datetime], cfg: AnalysisConfig, now: datetime
) -> None:
    kinds = sorted(e.kind for e in events)
    brute = {(e.data.get("account") or e.data.get("src_ip")): e for e in events if e.kind == "vpn.bruteforce"}
    assert set(brute) == {"bob", CLIENT}, kinds
    assert brute["bob"].data["failures"] == BOB_FAILURES
    assert brute[CLIENT].data["failures"] == BOB_FAILURES + 1
    assert brute[CLIENT].data["accounts"] == "admin, bob"
    after = [e for e in events if e.kind == "vpn.success_after_failures"]
    assert [(e.data["account"], e.data["src_ip"], e.occurred_at) for e in after] == [
        ("bob", CLIENT, last["bob"])
    ]
    assert after[0].data["failures"] == BOB_FAILURES + 1
    # the rest depends on the hour the test runs at (Beijing time) and nothing else
    odd = sorted(str(e.data["account"]) for e in events if e.kind == "vpn.odd_hours")
    assert odd == [a for a in ("alice", "bob") if is_odd_hour(last[a], cfg)]
    assert len([e for e in events if e.kind == "vpn.failed_logins"]) <= 1
    assert not set(kinds) - {
        "vpn.bruteforce",
        "vpn.success_after_failures",
        "vpn.odd_hours",
        "vpn.failed_logins",
    }, kinds
    assert all(e.occurred_at <= now + timedelta(minutes=5) for e in events)


def _assert_live(live: list[LiveSession], last: dict[str, datetime], slack: float) -> None:
    assert sorted((s.account, s.src_ip, s.src_port) for s in live) == [
        ("alice", CLIENT, 4500),
        ("bob", CLIENT, 4500),
    ]
    for s in live:
        assert s.since is not None and abs((s.since - last[s.account]).total_seconds()) <= slack
        assert s.virtual_ip and s.virtual_ip.startswith("10.10.10.")
        assert s.session and s.session.startswith("rw-eap[")


def test_real_charon_logins_feed_last_login_and_events_without_secrets(
    swan_lab: SwanLab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lab = swan_lab
    text = lab.syslog.read_text(encoding="utf-8")
    filelog = lab.filelog.read_text(encoding="utf-8")
    print(text)  # shown by pytest when the test fails
    # what charon itself wrote: the EAP user apart from the IKE identity (the client's address)
    assert " charon-systemd: " in text and "<rw-eap|" not in text  # syslog: default, no ike_name
    assert "received EAP identity 'alice'" in text
    assert f"established between {SERVER}[vpn.lab.example]...{CLIENT}[{CLIENT}]" in text
    assert "<rw-eap|1> received EAP identity 'alice'" in filelog
    assert text.count("EAP-MS-CHAPv2 verification failed") == BOB_FAILURES + 1
    for path in (lab.syslog, lab.raw, lab.filelog, *lab.others):
        assert not any(p in path.read_text(errors="replace") for p in TYPED), path.name

    now = datetime.now(UTC)
    caplog.set_level(logging.DEBUG)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    events, last, rows = _read(lab.syslog, "/var/log/syslog", "syslog", tmp_path / "a", now)
    f_events, f_last, f_rows = _read(lab.filelog, "/var/log/charon.log", "strongswan", tmp_path / "b", now)

    # last logins: the EAP users (not the IKE identity 198.18.6.2), at the time each connected
    assert sorted(last) == ["alice", "bob"]
    lo, hi = lab.alice_window
    assert lo - timedelta(seconds=1) <= last["alice"] <= hi + timedelta(seconds=1)
    lo, hi = lab.bob_window
    assert lo - timedelta(seconds=1) <= last["bob"] <= hi + timedelta(seconds=1)
    # ... and charon's own clock (glibc's stamp in the datagram) says the same second
    stamp = re.search(
        r"<\d+>(\w{3} [ \d]\d \d\d:\d\d:\d\d) charon-systemd: \d+\[IKE\] IKE_SA rw-eap\[1\] established",
        lab.raw.read_text(),
    )
    assert stamp is not None
    local = last["alice"].astimezone()
    daemon = datetime.strptime(f"{local.year} {stamp.group(1)}", "%Y %b %d %H:%M:%S").replace(
        tzinfo=local.tzinfo
    )
    assert abs((daemon - local.replace(microsecond=0)).total_seconds()) <= 1
    # the filelog (whole seconds, ike_name join) gives the same accounts at the same seconds
    assert sorted(f_last) == ["alice", "bob"]
    for account in ("alice", "bob"):
        assert (
            f_last[account] == last[account].replace(microsecond=0)
            or abs((f_last[account] - last[account]).total_seconds()) <= 1.0
        )

    # failures: each try of bob's counted (a new IKE_SA each), admin as one; logouts
    _assert_counts(rows)
    _assert_counts(f_rows)

    # events: the same from both logs
    _assert_events(events, last, _config("", "syslog").analysis, now)
    _assert_events(f_events, f_last, _config("", "syslog").analysis, now)
    assert sorted(e.kind for e in events) == sorted(e.kind for e in f_events)

    # the live SAs from the real `swanctl --list-sas` while both were connected
    print(lab.list_sas)
    live = parse_swanctl_list_sas(lab.list_sas, lab.list_sas_at)
    _assert_live(live, last, slack=2.5)

    # no typed password anywhere the agent wrote or said
    stored = b"".join(p.read_bytes() for d in ("a", "b") for p in (tmp_path / d).iterdir() if p.is_file())
    said = "".join(e.model_dump_json() for e in (*events, *f_events)) + caplog.text
    assert "vpn logs:" in caplog.text  # the agent did log (one line per source and the findings)
    for secret in TYPED:
        assert secret.encode() not in stored
        assert secret not in said


# -- the same run, saved (for machines where the live test cannot run) ---------------------------
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vpn" / "strongswan"
SAVED_SYSLOG = FIXTURES / "live-charon-syslog-2026-11-27.log"
SAVED_FILELOG = FIXTURES / "live-charon-filelog-2026-11-27.log"
SAVED_SAS = FIXTURES / "live-swanctl-list-sas-2026-11-27.txt"


def test_saved_live_charon_run_gives_the_same_answers(tmp_path: Path) -> None:
    """The logs of one run of the live test above (tests/fixtures/SOURCES.md), read without root:
    the syslog (receive times in UTC), the filelog (charon ran in UTC) and ``--list-sas``."""
    now = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    events, last, rows = _read(SAVED_SYSLOG, "/var/log/syslog", "syslog", tmp_path / "a", now)
    f_events, f_last, f_rows = _read(
        SAVED_FILELOG, "/var/log/charon.log", "strongswan", tmp_path / "b", now, log_timezone="UTC"
    )
    alice = datetime(2026, 11, 27, 16, 47, 57, 565835, tzinfo=UTC)
    bob = datetime(2026, 11, 27, 16, 48, 9, 784135, tzinfo=UTC)
    assert last == {"alice": alice, "bob": bob}
    assert f_last == {"alice": alice.replace(microsecond=0), "bob": bob.replace(microsecond=0)}
    _assert_counts(rows)
    _assert_counts(f_rows)
    cfg = AnalysisConfig()
    _assert_events(events, last, cfg, now)
    _assert_events(f_events, f_last, cfg, now)
    # 00:47 on a Saturday in Beijing: odd hours
    assert {e.kind for e in events} == {"vpn.bruteforce", "vpn.success_after_failures", "vpn.odd_hours"}
    # the half-open IKE_SAs of the failed tries are listed as CONNECTING, with no user: not sessions
    at = datetime(2026, 11, 27, 16, 48, 10, 986864, tzinfo=UTC)
    _assert_live(parse_swanctl_list_sas(SAVED_SAS.read_text(), at), last, slack=2.5)
    for path in (SAVED_SYSLOG, SAVED_FILELOG, SAVED_SAS):
        text = path.read_text()
        assert not any(p in text for p in TYPED)
