"""End to end (A9-T1, A9-M3.3): a real agent process enrolls with a real collector process
on loopback, reports a scan of this machine, and the host shows up through the admin API
with its real hostname, OS, memory and addresses. On SQLite and on PostgreSQL."""

from __future__ import annotations

import ipaddress
import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.probes.hardware import parse_meminfo_total
from agent.probes.os_info import parse_os_release
from agent.runtime.spool import Spool
from tests.support.processes import CollectorProcess, script

pytestmark = pytest.mark.e2e


@pytest.fixture
def running_collector(db_url: str, tmp_path: Path) -> Iterator[CollectorProcess]:
    collector = CollectorProcess(db_url, tmp_path)
    collector.cli("init", "--admin", "cityadmin", "--credentials-file", str(tmp_path / "creds"))
    collector.start()
    yield collector
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why
    assert collector.stop() in (0, -signal.SIGTERM)
    assert "Finished server process" in collector.log.read_text()


def _agent(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [script("watchpost-agent"), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _expected_addresses() -> set[str]:
    links = json.loads(
        subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True, timeout=30).stdout
    )
    return {
        str(ipaddress.ip_address(a["local"]))
        for link in links
        if link["ifname"] != "lo"
        for a in link.get("addr_info", [])
    }


def test_agent_enrolls_reports_and_host_appears(running_collector: CollectorProcess, tmp_path: Path) -> None:
    secret = running_collector.cli("enroll-secret", "create", "--unit", "341022", "--quiet").strip()
    config = tmp_path / "agent.toml"
    enrolled = _agent(
        config,
        "enroll",
        "--server",
        running_collector.url,
        "--secret",
        secret,
        "--insecure-http",
        "--data-dir",
        str(tmp_path / "agent-data"),
    )
    assert enrolled.returncode == 0, enrolled.stderr
    assert "341022" in enrolled.stdout
    assert (tmp_path / "agent-data" / "node.key").stat().st_mode & 0o777 == 0o600
    assert secret not in config.read_text()

    # the long-running service loop delivers at once, and stops cleanly on SIGTERM
    runner = subprocess.Popen(
        [script("watchpost-agent"), "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    username, password = (tmp_path / "creds").read_text().split()
    with httpx.Client(base_url=running_collector.url, timeout=10) as http:
        token = http.post("/api/v1/auth/login", json={"username": username, "password": password}).json()[
            "token"
        ]
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 60
        hosts: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            hosts = http.get("/api/v1/hosts", headers=headers).json()["items"]
            if hosts and hosts[0]["last_seen"]:
                break
            time.sleep(0.3)
    runner.send_signal(signal.SIGTERM)
    _out, err = runner.communicate(timeout=30)
    assert runner.returncode == 0, err
    assert "delivered full report" in err

    (host,) = hosts
    release = parse_os_release(Path("/etc/os-release").read_text())
    assert host["hostname"] == socket.gethostname().split(".")[0]
    assert host["unit_code"] == "341022"
    assert host["os_name"] == release["PRETTY_NAME"]
    assert host["memory_bytes"] == parse_meminfo_total(Path("/proc/meminfo").read_text())
    assert set(host["ip_addresses"]) == _expected_addresses()  # type: ignore[arg-type]
    assert host["status"] == "online"

    # a second delivery is a delta against the acknowledged state
    again = _agent(config, "run", "--once")
    assert again.returncode == 0 and "delivered delta report" in again.stderr
    # the collector's state and the agent's differ (a restored backup): the agent is told
    # so (409 base_mismatch) and sends a full report at once
    spool = Spool(tmp_path / "agent-data" / "agent.db")
    spool.put(acked_sections={**spool.get("acked_sections"), "network": "0" * 64})
    spool.close()
    resync = _agent(config, "run", "--once")
    assert resync.returncode == 0, resync.stderr
    assert "different base state" in resync.stderr and "delivered full report" in resync.stderr

    status = json.loads(_agent(config, "status", "--json").stdout)
    assert status["enrolled"] is True and status["unit_code"] == "341022" and status["last_error"] == ""

    # no secret in any log or output: not the enrollment secret, the node key or the password
    node_key = (tmp_path / "agent-data" / "node.key").read_text().strip()
    said = "\n".join(
        [
            running_collector.log.read_text(),
            enrolled.stdout,
            enrolled.stderr,
            err,
            _out,
            again.stdout,
            again.stderr,
            config.read_text(),
        ]
    )
    for secret_value in (secret, node_key, password):
        assert secret_value not in said
