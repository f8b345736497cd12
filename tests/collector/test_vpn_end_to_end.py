"""Issue 6 as it will be checked: real stores made with the real tools, real daemon logs, the
agent's own code reading them, the collector's register and findings (A9-T2.1, A9-T2.2, A9-T2.3,
A9-T1), on SQLite and PostgreSQL.

The stores are made by tests/agent/test_vpn_real_stores.py::build_root (ocpasswd, mkpasswd,
openssl passwd, swanctl.conf, chap-secrets, an OpenVPN password file, /etc/shadow) with known
weak and strong passwords; the logs are the lab logs of tests/fixtures/vpn/ (OpenVPN with
checkpsw.sh, ocserv; origin in tests/fixtures/SOURCES.md) laid out under the same root. The
agent's VPN log reader and its ``vpn`` probe run on that root; their report and events go to a
collector through its HTTP API. Then: exactly the weak accounts are flagged, the last logins are
those in the logs, the zombies are the right ones, and no password or hash is anywhere in the
collector's database.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from agent.host import HostContext
from agent.runtime.spool import Spool
from agent.scan import build_report, scan_sections
from collector.db.base import Base
from collector.db.models import Host, HostEvent, Unit
from collector.db.models_policy import CheckResult, Finding
from collector.db.models_vpn import StaffMember, VpnAccount
from collector.services import vpn_register
from tests.agent.test_vpn_real_stores import EXPECTED, build_root, need_tools
from tests.agent.test_vpn_runner import MISTYPED
from tests.support.collector import CollectorUnderTest, node_auth

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "vpn"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str], dict[str, object]]:
    """The VPN server's files under a root, the agent's data dir after one reader pass and one
    vpn section, the secrets, and that section's result."""
    need_tools()
    base = tmp_path_factory.mktemp("vpn-e2e")
    root = base / "root"
    root.mkdir()
    secrets = build_root(root)
    logs = root / "var/log"
    (logs / "openvpn").mkdir(parents=True, exist_ok=True)
    shutil.copy(FIX / "openvpn/lab2-server-checkpsw.log", logs / "openvpn/server.log")
    shutil.copy(FIX / "openvpn/lab2-checkpsw-password.log", logs / "openvpn-password.log")
    shutil.copy(FIX / "ocserv/lab2-ocserv-syslog.log", logs / "syslog")
    config = base / "vpn-logs.toml"
    config.write_text(
        'occtl = false\nswanctl = false\nopenvpn_status = []\nlog_timezone = "Asia/Shanghai"\n'
        f'[[sources]]\npath = "{logs / "openvpn/server.log"}"\nkind = "openvpn"\n'
        f'[[sources]]\npath = "{logs / "openvpn-password.log"}"\nkind = "openvpn-verify"\n'
        f'[[sources]]\npath = "{logs / "syslog"}"\nkind = "syslog"\n',
        encoding="utf-8",
    )
    data = base / "data"
    data.mkdir()
    argv = [
        sys.executable,
        "-m",
        "agent.cli",
        "vpn-logs",
        "--data-dir",
        str(data),
        "--log-config",
        str(config),
    ]
    done = subprocess.run(
        [*argv, "--now", "2026-11-28T01:00:00+00:00"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WATCHPOST_VPN_HASH_BUDGET", "300")
        env.setenv("WATCHPOST_VPN_LOGINS_DB", str(data / "vpn-logins.db"))
        sections = scan_sections(HostContext(root=root), ["vpn"])
    assert sections["vpn"]["status"] == "ok", sections["vpn"]
    return root, data, secrets + list(MISTYPED), sections


def test_real_stores_and_logs_give_the_right_register_findings_and_no_secret(
    collector: CollectorUnderTest, lab: tuple[Path, Path, list[str], dict[str, object]]
) -> None:
    _root, data, secrets, sections = lab
    agent_id, key = collector.enroll("341021", hostname="vpn-gw")
    report = json.loads(build_report(agent_id, sections).model_dump_json())  # type: ignore[arg-type]
    answer = collector.client.post("/api/v1/reports", json=report, headers=node_auth(key))
    assert answer.status_code == 200, answer.text
    spool = Spool(data / "agent.db")
    try:
        events = [e.event for e in spool.next_events(1000)]
    finally:
        spool.close()
    answer = collector.client.post(
        "/api/v1/events", json={"agent_id": str(agent_id), "events": events}, headers=node_auth(key)
    )
    assert answer.status_code == 200, answer.text

    with collector.sessions() as session:
        host = session.scalar(select(Host).where(Host.agent_id == agent_id))
        assert host is not None
        rows = list(session.scalars(select(VpnAccount).where(VpnAccount.host_id == host.id)))
        by = {(r.store.rsplit("/", 1)[-1], r.account): r for r in rows}
        # exactly the weak accounts flagged (one row per server and account)
        assert {k: r.weak for k, r in by.items()} == {k: v for k, v in EXPECTED.items() if k in by}
        assert set(EXPECTED) - set(by) <= {
            ("swanctl.conf", "psk:%any"),
            ("ipsec.secrets", "psk:%any"),
        }
        # the last logins are those of the logs: ocserv's alice and zhangwei (lab2, 2026-11-27)
        logged = {
            (r.server, r.account): r.last_login.astimezone(UTC).replace(microsecond=0)
            for r in rows
            if r.last_login
        }
        assert logged == {
            ("ocserv", "alice"): datetime(2026, 11, 27, 14, 6, 46, tzinfo=UTC),
            ("ocserv", "zhangwei"): datetime(2026, 11, 27, 14, 6, 52, tzinfo=UTC),
        }
        kinds = {e.kind for e in session.scalars(select(HostEvent).where(HostEvent.host_id == host.id))}
        assert {"vpn.bruteforce", "vpn.success_after_failures"} <= kinds
        # the roster: the owner of wangfang's account left
        unit = session.scalar(select(Unit).where(Unit.code == "341021"))
        assert unit is not None
        session.add(StaffMember(unit_id=unit.id, name="王芳", status="left"))
        session.flush()
        vpn_register.match_owners(session, [unit.id])
        vpn_register.reevaluate(session, [host.id])
        session.commit()
        results = {
            r.check_id: r.status
            for r in session.scalars(select(CheckResult).where(CheckResult.host_id == host.id))
            if r.check_id.startswith("vpn.")
        }
        zombie = session.scalar(
            select(Finding).where(Finding.host_id == host.id, Finding.check_id == "vpn.no_zombie_accounts")
        )
    assert results["vpn.no_weak_passwords"] == "fail"
    assert results["vpn.no_cleartext_store"] == "fail"
    assert zombie is not None
    assert {e["item"]["account"] for e in zombie.evidence if "item" in e} == {"olduser", "wangfang"}

    # no password or hash anywhere at the collector: every row of every table, as text
    dump = []
    with collector.sessions() as session:
        for table in Base.metadata.sorted_tables:
            dump += [repr(tuple(row)) for row in session.execute(select(table))]
    stored = "\n".join(dump)
    assert "olduser" in stored and "wangfang" in stored, "the dump holds the register"
    leaked = [s for s in secrets if s and s in stored]
    assert not leaked, f"{len(leaked)} secrets stored at the collector"
