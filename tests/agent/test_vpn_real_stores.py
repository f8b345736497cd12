"""Real account stores made with the real tools; exactly the weak accounts flagged; no secret in any
payload, log or capture bundle (A9-T2.1, A9-T2.2).

The stores are written under a temporary root as the daemons expect them: ``ocpasswd`` (ocserv),
``openssl passwd -6/-5/-1`` and ``mkpasswd -m yescrypt/bcrypt/nt`` for /etc/shadow and the NTLM
secret, an OpenVPN server with a checkpsw-style verify script (whose password file has an unusual
name) and the PAM plugin, strongSwan's swanctl.conf + conf.d and ipsec.secrets, pppd's
chap-secrets, a WireGuard config. The tools come from Debian packages (scripts/bootstrap.sh
--system installs them as root); where they are missing the test says so and skips.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.capture import BundleRecorder, ReplayContext
from agent.host import HostContext
from agent.scan import build_report, scan_sections
from wire.sections.vpn import VpnFacts

YEAR = datetime.now(UTC).year
TOOLS = {"ocpasswd": "ocserv", "mkpasswd": "whois", "openssl": "openssl"}
PRIVATE_KEY = "oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM="

# (store, account) -> (password, weak?)
PASSWORDS = {
    ("ocpasswd", "alice"): ("Alice@2024", True),
    ("ocpasswd", "zhangwei"): ("zw123456", True),
    ("ocpasswd", "strongoc"): ("Xk9#mQ2v!Lp7wR", False),
    ("ocpasswd", "olduser"): ("123456", True),
    ("users.pw", "carol"): ("Carol123", True),
    ("users.pw", "dave"): ("Tr7$kLm9#Qz2", False),
    ("shadow", "wangfang"): ("wf123456", True),
    ("shadow", "liqiang"): ("Strong#Pass-2x9Kq", False),
    ("shadow", "bcryptuser"): ("Admin@123", True),
    ("shadow", "bob"): ("5201314", True),
    ("swanctl", "alice"): ("Alice@2024", True),
    ("swanctl", "zhangwei"): ("zhangwei123", True),
    ("swanctl", "mike"): ("Blue-Ocean-Tiger-42x", False),
    ("swanctl", "ntuser"): ("Password1", True),
    ("ipsec", "eve"): ("qwer1234", True),
    ("chap", "wang wei"): (f"Wangwei@{YEAR}", True),
    ("chap", "frank"): ("Frank!Qx82-Lm#t", False),
}
GROUP_PSK = "Str0ng-Gr0up-Key-#2026x"


def need_tools() -> None:
    missing = [f"{tool} (Debian package {pkg})" for tool, pkg in TOOLS.items() if not shutil.which(tool)]
    if missing:
        pytest.skip(f"missing {', '.join(missing)}: run scripts/bootstrap.sh --system as root on Debian")


def _run(argv: list[str], stdin: str = "") -> str:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def _write(root: Path, path: str, text: str, mode: int = 0o600) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    target.chmod(mode)


def _pw(store: str, account: str) -> str:
    return PASSWORDS[(store, account)][0]


def build_root(root: Path) -> list[str]:
    """The stores; returns every secret written (passwords, hashes, keys) to look for later."""
    secrets: list[str] = [GROUP_PSK, PRIVATE_KEY, *(p for p, _ in PASSWORDS.values())]
    # ocserv: the real ocpasswd writes the file (sha256-crypt), -l locks
    ocpasswd = root / "etc/ocserv/ocpasswd"
    ocpasswd.parent.mkdir(parents=True)
    for account in ("alice", "zhangwei", "strongoc", "olduser"):
        pw = _pw("ocpasswd", account)
        _run(["ocpasswd", "-c", str(ocpasswd), account], f"{pw}\n{pw}\n")
    _run(["ocpasswd", "-c", str(ocpasswd), "-l", "olduser"])
    secrets += [line.split(":")[2].lstrip("!") for line in ocpasswd.read_text().splitlines()]
    _write(
        root,
        "/etc/ocserv/ocserv.conf",
        'auth = "plain[passwd=/etc/ocserv/ocpasswd]"\ntcp-port = 443\n',
        0o644,
    )
    # OpenVPN: checkpsw-style script naming an unusual password file, plus the PAM plugin
    _write(
        root,
        "/etc/openvpn/server/server.conf",
        "port 1194\nproto udp\ndev tun\nserver 10.8.0.0 255.255.255.0\nverify-client-cert none\n"
        "username-as-common-name\nscript-security 2\n"
        "auth-user-pass-verify /etc/openvpn/server/checkpsw.sh via-file\n"
        "plugin /usr/lib/x86_64-linux-gnu/openvpn/plugins/openvpn-plugin-auth-pam.so openvpn\n"
        f"<tls-crypt>\n{PRIVATE_KEY}\n</tls-crypt>\nstatus /run/openvpn-server/status-server.log\n",
        0o644,
    )
    _write(
        root,
        "/etc/openvpn/server/checkpsw.sh",
        '#!/bin/sh\nPASSFILE="/etc/openvpn/server/users.pw"\nLOG_FILE="/var/log/openvpn-password.log"\n'
        "CORRECT_PASSWORD=$(awk '!/^;/&&!/^#/&&$1==\"'${1}'\"{print $2;exit}' ${PASSFILE})\n",
        0o755,
    )
    _write(
        root,
        "/etc/openvpn/server/users.pw",
        "".join(f"{u} {_pw('users.pw', u)}\n" for u in ("carol", "dave")),
    )
    # local accounts through PAM: /etc/shadow with the real hashing tools
    hashes = {
        "wangfang": _run(["mkpasswd", "-m", "yescrypt", _pw("shadow", "wangfang")]),
        "liqiang": _run(["openssl", "passwd", "-6", _pw("shadow", "liqiang")]),
        "bcryptuser": _run(["mkpasswd", "-m", "bcrypt", "-R", "5", _pw("shadow", "bcryptuser")]),
        "bob": _run(["openssl", "passwd", "-1", _pw("shadow", "bob")]),
    }
    secrets += list(hashes.values())
    shadow = "root:!:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n"
    shadow += "".join(f"{u}:{h}:20000:0:99999:7:::\n" for u, h in hashes.items())
    _write(root, "/etc/shadow", shadow, 0o640)
    passwd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    names = {"wangfang": "王芳", "liqiang": "李强", "bcryptuser": "", "bob": ""}
    passwd += "".join(
        f"{u}:x:{1001 + i}:{1001 + i}:{n},,,:/home/{u}:/bin/bash\n" for i, (u, n) in enumerate(names.items())
    )
    _write(root, "/etc/passwd", passwd, 0o644)
    # strongSwan: swanctl.conf + conf.d (NTLM = NT hash from mkpasswd -m nt), ipsec.secrets
    nt_hex = _run(["mkpasswd", "-m", "nt", _pw("swanctl", "ntuser")]).split("$")[-1]
    secrets.append(nt_hex)
    _write(
        root,
        "/etc/swanctl/swanctl.conf",
        "connections {\n   rw-eap {\n      version = 2\n      remote {\n         auth = eap-mschapv2\n"
        "         eap_id = %any\n      }\n   }\n}\n"
        "secrets {\n"
        f'   eap-alice {{\n      id = alice\n      secret = "{_pw("swanctl", "alice")}"\n   }}\n'
        f"   xauth-zhangwei {{ id = zhangwei\n                    secret = {_pw('swanctl', 'zhangwei')} }}\n"
        f'   ike-group {{\n      secret = "{GROUP_PSK}"\n   }}\n'
        "}\ninclude conf.d/*.conf\n",
    )
    _write(
        root,
        "/etc/swanctl/conf.d/more.conf",
        f'secrets {{\n   eap-mike {{\n      id = mike\n      secret = "{_pw("swanctl", "mike")}"\n   }}\n'
        f"   ntlm-ntuser {{\n      id = ntuser\n      secret = 0x{nt_hex}\n   }}\n}}\n",
    )
    _write(
        root,
        "/etc/ipsec.secrets",
        f'# ipsec.secrets\n%any : PSK "{GROUP_PSK}"\neve : XAUTH "{_pw("ipsec", "eve")}"\ninclude ipsec.d/*.secrets\n',
    )
    _write(root, "/etc/ipsec.d/empty.secrets", "# nothing\n")
    # pppd (pptpd): chap-secrets with a quoted client name
    _write(root, "/etc/pptpd.conf", "option /etc/ppp/pptpd-options\nlogwtmp\n", 0o644)
    _write(root, "/etc/ppp/pptpd-options", "name pptpd\nrequire-mschap-v2\n", 0o644)
    _write(
        root,
        "/etc/ppp/chap-secrets",
        "# Secrets for authentication using CHAP\n# client\tserver\tsecret\t\t\tIP addresses\n"
        f'"wang wei"\tpptpd\t"{_pw("chap", "wang wei")}"\t*\nfrank\t*\t"{_pw("chap", "frank")}"\t*\n',
    )
    # WireGuard: peers named in comments
    _write(
        root,
        "/etc/wireguard/wg0.conf",
        f"[Interface]\nPrivateKey = {PRIVATE_KEY}\nListenPort = 51820\n[Peer]\n# Name = alice\n"
        "PublicKey = eHuVJQ5Yw75x8aDsfBQS4w0X2ervpM3jXnfT32DNCgI=\nAllowedIPs = 10.30.0.2/32\n",
    )
    return secrets


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    need_tools()
    root = tmp_path_factory.mktemp("vpnroot")
    return root, build_root(root)


def _verdicts(facts: VpnFacts) -> dict[tuple[str, str], bool | None]:
    return {(a.store.rsplit("/", 1)[-1], a.account): a.weak for a in facts.accounts}


EXPECTED = {
    ("ocpasswd", "alice"): True,
    ("ocpasswd", "zhangwei"): True,
    ("ocpasswd", "strongoc"): False,
    ("ocpasswd", "olduser"): True,
    ("users.pw", "carol"): True,
    ("users.pw", "dave"): False,
    ("shadow", "wangfang"): True,
    ("shadow", "liqiang"): False,
    ("shadow", "bcryptuser"): True,
    ("shadow", "bob"): True,
    ("swanctl.conf", "alice"): True,
    ("swanctl.conf", "zhangwei"): True,
    ("swanctl.conf", "psk:%any"): False,
    ("more.conf", "mike"): False,
    ("more.conf", "ntuser"): True,
    ("ipsec.secrets", "psk:%any"): False,
    ("ipsec.secrets", "eve"): True,
    ("chap-secrets", "wang wei"): True,
    ("chap-secrets", "frank"): False,
    ("wg0.conf", "alice"): None,
}


def _check_facts(facts: VpnFacts) -> None:
    assert _verdicts(facts) == EXPECTED
    kinds = {(s.kind, s.name) for s in facts.servers}
    assert {
        ("ocserv", "ocserv"),
        ("openvpn", "openvpn-server@server"),
        ("strongswan", "strongswan"),
        ("ppp", "pptpd"),
        ("wireguard", "wg0"),
    } <= kinds
    by = {(a.store.rsplit("/", 1)[-1], a.account): a for a in facts.accounts}
    assert by[("ocpasswd", "olduser")].status == "locked"
    assert (
        "hash_cracked" in by[("shadow", "wangfang")].reasons
        and "name_pinyin" in by[("shadow", "wangfang")].reasons
    )
    assert (
        by[("shadow", "bob")].hash_scheme == "md5-crypt"
        and "legacy_hash_scheme" in by[("shadow", "bob")].reasons
    )
    assert by[("shadow", "liqiang")].check == "checked"
    assert by[("more.conf", "ntuser")].hash_scheme == "nt"
    cleartext = {v.store.rsplit("/", 1)[-1] for v in facts.verdicts if v.category == "cleartext_store"}
    assert cleartext == {"users.pw", "swanctl.conf", "more.conf", "ipsec.secrets", "chap-secrets"}
    assert facts.hash_audit.not_checked == 0 and facts.hash_audit.partial == 0


def _assert_clean(text: str, secrets: list[str], where: str) -> None:
    leaked = [s for s in secrets if s and s in text]
    assert not leaked, f"{where} holds secrets: {len(leaked)} found"


def test_section_flags_exactly_the_weak_accounts_and_sends_no_secret(
    lab: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root, secrets = lab
    monkeypatch.setenv("WATCHPOST_VPN_HASH_BUDGET", "300")
    caplog.set_level(logging.DEBUG)
    sections = scan_sections(HostContext(root=root), ["vpn"])
    assert sections["vpn"]["status"] == "ok", sections["vpn"]
    facts = VpnFacts.model_validate(sections["vpn"]["data"])
    _check_facts(facts)
    report = build_report(uuid.uuid4(), sections).model_dump_json()
    _assert_clean(report, secrets, "the report")
    _assert_clean(json.dumps(sections, default=str), secrets, "the section result")
    _assert_clean(caplog.text, secrets, "the log")


def test_cli_vpn_audit_json_with_progress_and_no_secret(lab: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, secrets = lab
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "vpn-audit", "--json", "--root", str(root), "--budget", "300"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "WATCHPOST_AGENT_CONFIG": str(tmp_path / "none.toml")},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    _check_facts(VpnFacts.model_validate_json(result.stdout))
    assert "vpn-audit: hash checks:" in result.stderr and "vpn-audit: discovering" in result.stderr
    _assert_clean(result.stdout, secrets, "vpn-audit output")
    _assert_clean(result.stderr, secrets, "vpn-audit progress")
    human = subprocess.run(
        [sys.executable, "-m", "agent.cli", "vpn-audit", "--root", str(root), "--budget", "300", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "WATCHPOST_AGENT_CONFIG": str(tmp_path / "none.toml")},
    )
    assert "WEAK" in human.stdout and human.stderr == ""
    _assert_clean(human.stdout, secrets, "vpn-audit table")


def test_capture_bundle_keeps_structure_but_no_secret(
    lab: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, secrets = lab
    monkeypatch.setenv("WATCHPOST_VPN_HASH_BUDGET", "0")
    bundle = tmp_path / "bundle"
    recorder = BundleRecorder(bundle, "linux")
    scan_sections(HostContext(root=root, recorder=recorder), ["vpn"])
    recorder.write_manifest("test")
    files = [p for p in bundle.rglob("*") if p.is_file()]
    assert (bundle / "files/etc/openvpn/server/users.pw").is_file()  # copied, redacted
    for path in files:
        _assert_clean(path.read_bytes().decode("utf-8", errors="replace"), secrets, str(path))
    ocpasswd = (bundle / "files/etc/ocserv/ocpasswd").read_text()
    assert "alice:*:$5$<redacted>" in ocpasswd and "olduser:*:!$5$<redacted>" in ocpasswd
    replayed = scan_sections(ReplayContext(bundle), ["vpn"], platform="linux")["vpn"]
    facts = VpnFacts.model_validate(replayed["data"])
    assert set(_verdicts(facts)) == set(EXPECTED)  # the inventory replays
    assert all(a.check in {"not_checked", "not_applicable"} for a in facts.accounts)
    _assert_clean(json.dumps(replayed), secrets, "the replayed section")


def test_last_login_comes_from_the_log_readers_table_when_it_exists(
    lab: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent/vpn/lastlogin.py (the VPN-log part of issue 6, A9-T2.3) feeds last_login; without it or
    without its database the section is the same minus last_login."""
    import importlib.util

    from agent.vpn.audit import AuditOptions, audit

    root, _secrets = lab
    plain, _ = audit(
        HostContext(root=root), AuditOptions(budget_seconds=0, lastlogin_path=tmp_path / "absent.db")
    )
    assert all(a.last_login is None for a in plain.accounts)
    if importlib.util.find_spec("agent.vpn.lastlogin") is None:
        pytest.skip("agent/vpn/lastlogin.py is not part of this agent")
    from agent.vpn.lastlogin import LastLoginStore
    from agent.vpn.logs import LiveSession

    when = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    store = LastLoginStore(tmp_path / "vpn-logins.db")
    store.add_live_sessions([LiveSession("ocserv", "alice", "198.18.1.2", since=when)], when)
    store.add_live_sessions([LiveSession("pppd", "frank", "198.18.1.3", since=when)], when)
    store.close()
    facts, _ = audit(
        HostContext(root=root), AuditOptions(budget_seconds=0, lastlogin_path=tmp_path / "vpn-logins.db")
    )
    seen = {(a.server, a.account): a.last_login for a in facts.accounts if a.last_login}
    assert seen == {("ocserv", "alice"): when, ("pptpd", "frank"): when}
