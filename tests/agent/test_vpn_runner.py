"""The VPN log reader as the service runs it (issue 6; A9-T2.3, A9-T1, A9-M3.4).

The service's child ``watchpost-agent vpn-logs`` reads the real lab logs (tests/fixtures/vpn/,
origin in tests/fixtures/SOURCES.md), keeps the last logins and queues its findings in the spool;
a second pass queues nothing new; the ``vpn`` section then reports the last logins; no password
typed into the logs reaches the spool. The service runs the reader only where it matters.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.runtime.service import AgentService
from agent.runtime.spool import Spool
from agent.settings import AgentSettings
from agent.vpn.lastlogin import LastLoginStore
from agent.vpn.runner import load_log_config

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "vpn"
MISTYPED = ("1234567", "admin123", "Admin@123", "P@ssw0rd", "888888", "zhangwei12")
NOW = "2026-11-28T01:00:00+00:00"


def _lab(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIX / "openvpn/lab2-server-checkpsw.log", logs / "server.log")
    shutil.copy(FIX / "openvpn/lab2-checkpsw-password.log", logs / "openvpn-password.log")
    shutil.copy(FIX / "ocserv/lab2-ocserv-syslog.log", logs / "syslog")
    config = tmp_path / "vpn-logs.toml"
    config.write_text(
        f"""
occtl = false
swanctl = false
openvpn_status = []
log_timezone = "Asia/Shanghai"

[[sources]]
path = "{logs / "server.log"}"
kind = "openvpn"

[[sources]]
path = "{logs / "openvpn-password.log"}"
kind = "openvpn-verify"

[[sources]]
path = "{logs / "syslog"}"
kind = "syslog"
""",
        encoding="utf-8",
    )
    return config


def _child(data: Path, config: Path) -> subprocess.CompletedProcess[str]:
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
    return subprocess.run([*argv, "--now", NOW], capture_output=True, text=True, timeout=120, check=False)


def test_the_reader_child_queues_findings_once_and_keeps_last_logins(tmp_path: Path) -> None:
    config = _lab(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    first = _child(data, config)
    assert first.returncode == 0, first.stderr
    answer = json.loads(first.stdout)
    assert answer["configured"] and answer["queued"] == answer["events"] > 0
    spool = Spool(data / "agent.db")
    try:
        queued = [e.event for e in spool.next_events(1000)]
    finally:
        spool.close()
    kinds = {e["kind"] for e in queued}
    assert {"vpn.bruteforce", "vpn.success_after_failures"} <= kinds
    assert all(e["source"].startswith("vpn-logs:") for e in queued)

    again = _child(data, config)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["queued"] == 0, "a finding is queued once"

    with LastLoginStore(data / "vpn-logins.db") as store:
        accounts = store.accounts()
    assert accounts, "the last-login table holds the logins read"

    # nothing typed as a password into the verify script's log reached the spool or the table
    for path in data.iterdir():
        blob = path.read_bytes()
        for secret in MISTYPED:
            assert secret.encode() not in blob, (secret, path.name)
    for secret in MISTYPED:
        assert secret not in first.stderr + again.stderr


def test_a_bad_reader_config_is_refused_with_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "vpn-logs.toml"
    bad.write_text('[[sources]]\npath = "/var/log/x"\nkind = "sangfor"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="kind must be one of"):
        load_log_config(bad)
    data = tmp_path / "data"
    data.mkdir()
    done = _child(data, bad)
    assert done.returncode == 2 and "kind must be one of" in done.stderr


def test_the_service_runs_the_reader_only_where_a_vpn_server_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _lab(tmp_path)
    service = AgentService(AgentSettings(server_url="https://127.0.0.1:9", data_dir=str(tmp_path / "data")))
    monkeypatch.setattr(service, "vpn_log_config", lambda: tmp_path / "absent.toml")
    now = time.time()
    assert not service.vpn_logs_due(now), "no VPN server found, no config: the reader stays off"
    service.spool.put(vpn_servers=2)  # what the collection child records from the vpn section
    assert service.vpn_logs_due(now)
    monkeypatch.setattr(service, "vpn_log_config", lambda: config)
    service.read_vpn_logs(now)
    status = service.spool.get("vpn_logs")
    assert status["ok"] and status["queued"] > 0
    assert service.spool.depth()["events"] == status["queued"]
    assert not service.vpn_logs_due(now + 10), "not again before vpn_logs_seconds"
    assert service.vpn_logs_due(now + service.config.vpn_logs_seconds)
    service.spool.close()
