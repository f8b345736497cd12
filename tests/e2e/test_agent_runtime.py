"""The agent as a service that loses nothing (agent runtime), with real processes on loopback:
the collector killed and restarted while reports and events pile up, the agent killed with
SIGKILL in the middle of thousands of events, a config change taken without a restart, and a
revoked key that stops sending until the agent is enrolled again. Each on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from agent.runtime.spool import Spool
from collector.db.engine import make_engine, make_sessionmaker
from collector.db.models import HostEvent, ReportLog
from tests.support.processes import AgentProcess, CollectorProcess, wait_for

pytestmark = pytest.mark.e2e

FAST = {
    "heartbeat_seconds": 10,
    "event_flush_seconds": 1,
    "config_poll_seconds": 10,
    "section_intervals": {"os": 10, "hardware": 10, "network": 10},
    "jitter_seconds": 0,
}


@dataclass
class Rig:
    collector: CollectorProcess
    agent: AgentProcess
    admin: httpx.Client
    db_url: str

    def counts(self) -> tuple[int, int]:
        engine = make_engine(self.db_url)
        try:
            with make_sessionmaker(engine)() as session:
                return (
                    int(session.scalar(select(func.count()).select_from(HostEvent)) or 0),
                    int(session.scalar(select(func.count()).select_from(ReportLog)) or 0),
                )
        finally:
            engine.dispose()

    def events_in_order(self) -> list[int]:
        engine = make_engine(self.db_url)
        try:
            with make_sessionmaker(engine)() as session:
                return [int(d["n"]) for d in session.scalars(select(HostEvent.data).order_by(HostEvent.id))]
        finally:
            engine.dispose()

    def queued(self) -> int:
        queue = self.agent.status().get("queue", {})
        return int(queue.get("snapshots", 1)) + int(queue.get("events", 1))


@pytest.fixture
def rig(db_url: str, tmp_path: Path) -> Iterator[Rig]:
    collector = CollectorProcess(db_url, tmp_path)
    collector.cli("init", "--admin", "cityadmin", "--credentials-file", str(tmp_path / "creds"))
    collector.start()
    username, password = (tmp_path / "creds").read_text().split()
    admin = httpx.Client(base_url=collector.url, timeout=10)
    token = admin.post("/api/v1/auth/login", json={"username": username, "password": password}).json()[
        "token"
    ]
    admin.headers["Authorization"] = f"Bearer {token}"
    assert admin.put("/api/v1/units/341000-JSZ/agent-config", json=FAST).status_code == 200
    agent = AgentProcess(tmp_path, collector.url)
    agent.enroll(collector.cli("enroll-secret", "create", "--unit", "341000-JSZ", "--quiet").strip())
    agent.start()
    yield Rig(collector, agent, admin, db_url)
    agent.stop()
    collector.stop()
    admin.close()


def _events(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-11-27T08:00:00Z",
            "kind": "test.burst",
            "severity": "info",
            "source": "test:monitor",
            "summary": f"event {n}",
            "data": {"n": n},
        }
        for n in range(start, start + count)
    ]


def test_collector_down_and_back_everything_arrives_once_in_order(rig: Rig) -> None:
    spool = Spool(rig.agent.data / "agent.db")  # a monitor writing into the agent's queue
    wait_for(lambda: rig.counts()[1] >= 1, 60, "the first report")
    n = 0
    for _ in range(3):
        rig.collector.proc.kill()  # type: ignore[union-attr]  # a crash, not a clean stop
        rig.collector.proc.wait()  # type: ignore[union-attr]
        for _ in range(4):
            spool.put_events(_events(n, 100))
            n += 100
            time.sleep(3)  # the heartbeat (10 s) queues snapshots meanwhile
        rig.collector.start()
        spool.put_events(_events(n, 100))
        n += 100
        time.sleep(2)
    spool.close()
    wait_for(lambda: rig.queued() == 0 and rig.counts()[0] == n, 120, "the queue to drain")
    assert rig.events_in_order() == list(range(n))  # each once, in the order they happened
    log = rig.agent.log.read_text()
    delivered = log.count("delivered full report") + log.count("delivered delta report")
    assert rig.counts()[1] == delivered >= 4  # every report the agent saw acknowledged is stored once


def test_agent_killed_repeatedly_loses_no_event(rig: Rig) -> None:
    spool = Spool(rig.agent.data / "agent.db")
    rng = random.Random(7)
    n = 0
    for _ in range(5):
        for _ in range(6):
            spool.put_events(_events(n, 100))
            n += 100
            time.sleep(0.2)
        time.sleep(rng.uniform(0.1, 1.5))
        rig.agent.kill9()
        rig.agent.start()
    spool.close()
    wait_for(lambda: rig.counts()[0] == n and rig.queued() == 0, 120, "all 3000 events")
    assert sorted(rig.events_in_order()) == list(range(n))
    assert "Traceback" not in rig.agent.log.read_text()


def test_config_change_is_applied_without_restart(rig: Rig) -> None:
    wait_for(lambda: "network" in rig.agent.status().get("sections", {}), 60, "the first scan")
    pid = rig.agent.proc.pid  # type: ignore[union-attr]
    changed = rig.admin.put(
        "/api/v1/units/341000-JSZ/agent-config", json={**FAST, "sections": ["os", "hardware"]}
    )
    assert changed.status_code == 200
    etag = changed.json()["etag"]
    wait_for(lambda: rig.agent.status().get("config_etag") == etag, 60, "the agent to take the new config")
    assert rig.agent.proc.pid == pid and rig.agent.proc.poll() is None  # type: ignore[union-attr]

    def network_gone() -> bool:
        host = rig.admin.get("/api/v1/hosts").json()["items"][0]
        return host["addresses"] == []

    wait_for(network_gone, 60, "the disabled section to be dropped at the collector")


def test_revoked_key_stops_sending_until_enrolled_again(rig: Rig) -> None:
    wait_for(lambda: rig.counts()[1] >= 1, 60, "the first report")
    host_id = rig.admin.get("/api/v1/hosts").json()["items"][0]["id"]
    assert rig.admin.post(f"/api/v1/hosts/{host_id}/revoke-keys").json() == {"revoked": 1}
    spool = Spool(rig.agent.data / "agent.db")
    spool.put_events(_events(0, 50))
    wait_for(lambda: rig.agent.status().get("key_refused") is True, 60, "the agent to notice the revoked key")
    status = rig.agent.status()
    assert "refused" in status["last_error"] and status["queue"]["events"] == 50
    assert rig.counts()[0] == 0
    assert "enrolled again" in rig.agent.log.read_text()

    rig.agent.enroll(rig.collector.cli("enroll-secret", "create", "--unit", "341000-JSZ", "--quiet").strip())
    wait_for(lambda: rig.counts()[0] == 50 and rig.queued() == 0, 60, "sending to resume with the new key")
    assert rig.agent.status()["key_refused"] is False
    spool.close()


def test_key_rotation_is_taken_by_the_running_agent(rig: Rig) -> None:
    """An admin asks for a new node key: the running agent takes it with its next report, keeps
    delivering, and the old key stops working; no key ever appears in the agent's log."""
    wait_for(lambda: rig.counts()[1] >= 1, 60, "the first report")
    old = (rig.agent.data / "node.key").read_text().strip()
    host_id = rig.admin.get("/api/v1/hosts").json()["items"][0]["id"]
    assert rig.admin.post(f"/api/v1/hosts/{host_id}/rotate-key").status_code == 202
    key_file = rig.agent.data / "node.key"
    wait_for(lambda: key_file.read_text().strip() != old, 90, "the agent to take a new key")
    assert key_file.stat().st_mode & 0o777 == 0o600
    spool = Spool(rig.agent.data / "agent.db")
    spool.put_events(_events(0, 20))
    spool.close()
    wait_for(lambda: rig.counts()[0] == 20, 60, "events sent with the new key")
    old_auth = {"Authorization": f"Bearer {old}"}
    assert httpx.get(f"{rig.collector.url}/api/v1/config", headers=old_auth, timeout=10).status_code == 401
    log = rig.agent.log.read_text()
    assert "node key rotated" in log and old not in log and key_file.read_text().strip() not in log
    assert rig.agent.status()["key_refused"] is False
