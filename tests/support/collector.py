"""Helpers to drive a collector app in tests: admins, logins, enrollment, reports."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from collector.services.auth import create_user, generate_password
from collector.services.enrollment import create_enroll_secret
from collector.settings import Settings
from wire import content_hash, state_hash

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SAMPLE_REPORT = json.loads((FIXTURES / "reports" / "debian12-vm-full.json").read_text())


@dataclass
class CollectorUnderTest:
    client: TestClient
    settings: Settings
    sessions: sessionmaker[Session]

    def add_user(self, username: str, role: str = "city_admin", unit: str = "341000") -> str:
        password = generate_password()
        with self.sessions() as session:
            create_user(session, username, password, role=role, unit_code=unit)
            session.commit()
        return password

    def login(self, username: str, password: str) -> dict[str, str]:
        answer = self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def admin_headers(self, unit: str = "341000", role: str = "city_admin") -> dict[str, str]:
        name = f"admin{uuid.uuid4().hex[:8]}"
        return self.login(name, self.add_user(name, role, unit))

    def enroll_secret(self, unit: str = "341000-JSZ", **kwargs: Any) -> str:
        with self.sessions() as session:
            secret = create_enroll_secret(session, unit, **kwargs).secret
            session.commit()
        return secret

    def enroll(self, unit: str = "341000-JSZ", hostname: str = "pc-01") -> tuple[uuid.UUID, str]:
        agent_id = uuid.uuid4()
        answer = self.client.post(
            "/api/v1/enroll",
            json={
                "enroll_secret": self.enroll_secret(unit),
                "agent_id": str(agent_id),
                "agent_version": "test",
                "hostname": hostname,
                "os_family": "linux",
            },
        )
        assert answer.status_code == 200, answer.text
        return agent_id, answer.json()["node_key"]


def make_report(
    agent_id: uuid.UUID,
    *,
    hostname: str | None = None,
    kind: str = "full",
    base: str | None = None,
    sections: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A report built from the captured real one, with fresh ids and consistent hashes."""
    report = copy.deepcopy(SAMPLE_REPORT)
    report["report_id"] = str(uuid.uuid4())
    report["agent_id"] = str(agent_id)
    if sections is not None:
        report["sections"] = sections
    if hostname is not None and report["sections"].get("os"):
        report["sections"]["os"]["data"]["hostname"] = hostname
    for result in report["sections"].values():
        if result and result["status"] == "ok":
            result["content_hash"] = content_hash(result["data"])
    report["kind"] = kind
    report["base_state_hash"] = base
    report["state_hash"] = state_hash(
        {name: r["content_hash"] for name, r in report["sections"].items() if r and r["status"] == "ok"}
    )
    return report


def login(c: CollectorUnderTest, role: str = "city_admin", unit: str = "341000") -> str:
    """Log the test client in as a new user of ``role`` on ``unit`` (session cookie); returns the
    session's CSRF token (the pages' forms and cookie-authenticated API writes need it)."""
    c.client.cookies.clear()
    name = f"{role.replace('_', '')}{unit.replace('-', '')}"
    password = c.add_user(name, role, unit)
    answer = c.client.post("/api/v1/auth/login", json={"username": name, "password": password})
    assert answer.status_code == 200
    return str(answer.json()["csrf_token"])


def node_auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
