"""Several collector processes against one PostgreSQL (issue 4 "PostgreSQL and scale", P-16):
deploy/compose runs N replicas behind one proxy, which sends each request to any of them.
That works only if no process keeps state in memory another one needs: sessions and CSRF
tokens, an agent's acknowledged state, report idempotency and enrollment-secret use counts
all live in the database. Two real `watchpost-collector serve` processes here, A and B.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from agent.report import report_dict
from collector.db.engine import make_engine, make_sessionmaker
from collector.db.models import EnrollSecret, Host, ReportLog
from tests.support.databases import postgres_copy
from tests.support.postgres import PostgresServer
from tests.support.processes import CollectorProcess
from wire.hashing import content_hash

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "reports" / "debian12-vm-full.json"


@pytest.fixture
def replicas(
    postgres_server: PostgresServer, postgres_template: str, tmp_path: Path
) -> Iterator[tuple[CollectorProcess, CollectorProcess]]:
    url = postgres_copy(postgres_server, postgres_template)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = CollectorProcess(url, tmp_path / "a"), CollectorProcess(url, tmp_path / "b")
    a.cli("init", "--admin", "cityadmin", "--credentials-file", str(tmp_path / "creds"))
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def _credentials(collector: CollectorProcess) -> dict[str, str]:
    user, password = (collector.workdir.parent / "creds").read_text().split()
    return {"username": user, "password": password}


def _count(url: str, query: Any) -> Any:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return session.scalar(query)
    finally:
        engine.dispose()


def test_a_session_made_on_one_process_works_on_the_other(
    replicas: tuple[CollectorProcess, CollectorProcess],
) -> None:
    a, b = replicas
    login = httpx.post(a.url + "/api/v1/auth/login", json=_credentials(a))
    assert login.status_code == 200
    cookie = {"wp_session": login.cookies["wp_session"]}
    csrf = login.json()["csrf_token"]
    with (
        httpx.Client(base_url=a.url, cookies=cookie) as on_a,
        httpx.Client(base_url=b.url, cookies=cookie) as on_b,
    ):
        assert on_b.get("/api/v1/auth/me").json()["username"] == "cityadmin"
        page = on_b.get("/")
        assert page.status_code == 200 and "/login" not in str(page.url)

        # an unsafe request with the cookie on B: refused without A's CSRF token, done with it
        change = {"heartbeat_seconds": 1800}
        path = "/api/v1/units/341021/agent-config"
        assert on_b.put(path, json=change).status_code == 403
        done = on_b.put(path, json=change, headers={"X-CSRF-Token": csrf})
        assert done.status_code == 200, done.text
        # ... and A sees the change B made
        assert on_a.get(path).json()["effective"]["heartbeat_seconds"] == 1800

        # logging out on B ends the session on A too
        assert on_b.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert on_a.get("/api/v1/auth/me").status_code == 401


def _sections(hostname: str) -> dict[str, Any]:
    sections = copy.deepcopy(json.loads(FIXTURE.read_text(encoding="utf-8"))["sections"])
    sections["os"]["data"]["hostname"] = hostname
    sections["os"]["content_hash"] = content_hash(sections["os"]["data"])
    return sections


def test_an_agents_reports_alternate_between_processes_and_arrive_once_each(
    replicas: tuple[CollectorProcess, CollectorProcess],
) -> None:
    a, b = replicas
    secret = a.cli("enroll-secret", "create", "--unit", "341021", "--quiet").strip()
    agent_id = uuid.uuid4()
    enrolled = httpx.post(
        b.url + "/api/v1/enroll",
        json={
            "enroll_secret": secret,
            "agent_id": str(agent_id),
            "agent_version": "0.1.0",
            "hostname": "sx-pc-0001",
            "os_family": "linux",
        },
    )
    assert enrolled.status_code == 200, enrolled.text
    key = {"Authorization": f"Bearer {enrolled.json()['node_key']}"}

    acked: dict[str, str] | None = None
    sent: list[dict[str, Any]] = []
    for n, target in enumerate([a, b, a, b, a, b]):
        # each delta builds on what the *other* process acknowledged last time
        report = report_dict(agent_id, _sections(f"sx-pc-{n:04d}"), acked=acked)
        answer = httpx.post(target.url + "/api/v1/reports", json=report, headers=key)
        assert answer.status_code == 200, answer.text
        ack = answer.json()
        assert ack["status"] == "stored"
        assert ack["state_hash"] == report["state_hash"]
        assert report["kind"] == ("full" if n == 0 else "delta")
        acked = ack["section_hashes"]
        sent.append(report)

    # a retried delivery reaching the other process is recognised, whichever process it reaches
    for report, target in zip(sent, [b, a, b, a, b, a], strict=True):
        again = httpx.post(target.url + "/api/v1/reports", json=report, headers=key)
        assert again.json()["status"] == "duplicate"

    # the same new report delivered to both at once is stored once
    last = report_dict(agent_id, _sections("sx-pc-final"), acked=acked)
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda t: httpx.post(t.url + "/api/v1/reports", json=last, headers=key, timeout=60), [a, b]
            )
        )
    assert sorted(r.json()["status"] for r in answers) == ["duplicate", "stored"]

    url = a.env["WATCHPOST_DATABASE_URL"]
    host_id = _count(url, select(Host.id).where(Host.agent_id == agent_id))
    assert _count(url, select(func.count()).select_from(ReportLog).where(ReportLog.host_id == host_id)) == 7
    assert _count(url, select(Host.hostname).where(Host.id == host_id)) == "sx-pc-final"


def test_enrollment_secret_uses_hold_across_processes(
    replicas: tuple[CollectorProcess, CollectorProcess],
) -> None:
    a, b = replicas
    secret = a.cli("enroll-secret", "create", "--unit", "341022", "--max-uses", "3", "--quiet").strip()

    def enroll(n: int) -> int:
        target = (a, b)[n % 2]
        return httpx.post(
            target.url + "/api/v1/enroll",
            json={
                "enroll_secret": secret,
                "agent_id": str(uuid.uuid4()),
                "agent_version": "0.1.0",
                "hostname": f"xn-pc-{n:04d}",
                "os_family": "windows",
            },
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(enroll, range(8)))
    assert codes.count(200) == 3, codes
    assert all(code in (401, 403) for code in codes if code != 200), codes
    url = a.env["WATCHPOST_DATABASE_URL"]
    assert _count(url, select(EnrollSecret.uses).where(EnrollSecret.max_uses == 3)) == 3
    assert _count(url, select(func.count()).select_from(Host).where(Host.hostname.like("xn-pc-%"))) == 3
