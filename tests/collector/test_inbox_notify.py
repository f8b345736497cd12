"""The inbox and notifications of findings (issue 5; A9-M3.5, P-16): who gets which to-do item,
reading and marking items through the API, e-mail through a real SMTP server with STARTTLS
and login (aiosmtpd on loopback), the signed webhook through a loopback HTTP server, retries,
secrets kept out of logs and the outbox, and the periodic task of the app's lifespan."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient
from sqlalchemy import select

from collector.db.models_inbox import InboxItem, NotificationOutbox
from collector.db.models_policy import FindingEvent
from collector.main import create_app
from collector.services import findings, notify
from collector.settings import Settings
from tests.collector.test_findings import SMB, T0, host, login, result, user_id
from tests.support.collector import CollectorUnderTest
from tests.support.postgres import free_port

PASSWORD = "s3cret-Mail-pw"
SECRET = "webhook-Secret-key-123"


def items(c: CollectorUnderTest, name: str) -> list[tuple[str, int | None]]:
    with c.sessions() as session:
        uid = user_id(c, name)
        rows = session.execute(
            select(InboxItem.kind, InboxItem.finding_id)
            .where(InboxItem.user_id == uid)
            .order_by(InboxItem.id)
        )
        return [(k, f) for k, f in rows]


# -- the inbox ---------------------------------------------------------------------------------
def test_who_gets_an_item_when_a_finding_opens_is_assigned_claimed_and_late(
    collector: CollectorUnderTest,
) -> None:
    city = login(collector, "city.boss", "city_admin", "341000")
    she = login(collector, "she.admin", "district_admin", "341021")
    for name, role, unit in (("xn.admin", "district_admin", "341022"), ("she.auditor", "auditor", "341021"),
                             ("she.inspector", "inspector", "341021")):  # fmt: skip
        collector.add_user(name, role, unit)
    high = result(collector, host(collector), "fail", T0)
    result(collector, host(collector, name="she-pc-02"), "fail", T0, [], SMB)  # medium: under the threshold
    assert items(collector, "city.boss") == items(collector, "she.admin") == [("finding_opened", high)]
    assert (
        items(collector, "xn.admin")
        == items(collector, "she.auditor")
        == items(collector, "she.inspector")
        == []
    )

    post = collector.client.post
    post(
        f"/api/v1/findings/{high}/assign", json={"assignee_id": user_id(collector, "she.admin")}, headers=city
    )
    assert items(collector, "she.admin")[-1] == ("finding_assigned", high)
    post(f"/api/v1/findings/{high}/claim", json={"note": "done"}, headers=she)
    assert items(collector, "she.inspector") == [("claim_pending", high)]
    assert items(collector, "city.boss")[-1] == ("claim_pending", high)
    assert items(collector, "she.admin")[-1] == ("finding_assigned", high)  # not told of their own claim
    post(f"/api/v1/findings/{high}/verify", json={"accept": False, "note": "no"}, headers=city)
    assert items(collector, "she.admin")[-1] == ("claim_rejected", high)
    with collector.sessions() as session:
        assert findings.mark_overdue(session, T0 + timedelta(days=8)) == 1
        session.commit()
    assert items(collector, "she.admin")[-1] == ("finding_overdue", high)
    assert items(collector, "city.boss")[-1] == ("claim_pending", high)  # the assignee is told, not everyone


def test_reading_and_marking_the_inbox_through_the_api(collector: CollectorUnderTest) -> None:
    she = login(collector, "she.admin", "district_admin", "341021")
    other = login(collector, "she.admin2", "district_admin", "341021")
    first = result(collector, host(collector), "fail", T0)
    result(collector, host(collector, name="she-pc-02"), "fail", T0)
    answer = collector.client.get("/api/v1/inbox", params={"lang": "en"}, headers=she).json()
    assert (answer["total"], answer["unread"]) == (2, 2)
    item = answer["items"][-1]
    assert item["text"] == "New finding (high): she-pc-01 · Antivirus signatures out of date"
    assert item["link"] == f"/api/v1/findings/{first}".replace("/api/v1", "")
    assert collector.client.post(f"/api/v1/inbox/{item['id']}/read", headers=other).status_code == 404
    read = collector.client.post(f"/api/v1/inbox/{item['id']}/read", headers=she).json()
    assert read["read_at"] is not None
    assert collector.client.get("/api/v1/inbox", params={"unread": "true"}, headers=she).json()["total"] == 1
    assert collector.client.post("/api/v1/inbox/read-all", headers=she).json() == {"marked": 1}
    assert collector.client.get("/api/v1/inbox", headers=she).json()["unread"] == 0
    assert collector.client.get("/api/v1/inbox", headers=other).json()["unread"] == 2


# -- e-mail and webhook ------------------------------------------------------------------------
class _Mailbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def _authenticate(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"watchpost" and data.password == PASSWORD.encode()
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return server, path


@pytest.fixture
def smtp_server(tls: tuple[ssl.SSLContext, Path]) -> Iterator[tuple[_Mailbox, int]]:
    mailbox, port = _Mailbox(), free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls[0],
        require_starttls=True,
        authenticator=_authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield mailbox, port
    controller.stop()


class _Hook(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    seen: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).seen.append((dict(self.headers.items()), body))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[type[_Hook], str]]:
    handler = type("Hook", (_Hook,), {"answers": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/hooks/watchpost?token=abc"
    server.shutdown()
    server.server_close()


@pytest.fixture
def notifying(db_url: str, tls: tuple[ssl.SSLContext, Path], smtp_server: tuple[_Mailbox, int],
              webhook: tuple[type[_Hook], str]) -> Iterator[CollectorUnderTest]:  # fmt: skip
    settings = Settings(
        database_url=db_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server[1],
        smtp_username="watchpost",
        smtp_password=PASSWORD,  # type: ignore[arg-type]
        smtp_from="watchpost@tjj.local",
        smtp_to="duty@tjj.local, it@tjj.local",
        smtp_ca_file=str(tls[1]),
        webhook_url=webhook[1],
        webhook_secret=SECRET,  # type: ignore[arg-type]
        notify_max_attempts=3,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield CollectorUnderTest(client, settings, app.state.sessionmaker)
    app.state.engine.dispose()


def _deliver(c: CollectorUnderTest, now: datetime) -> dict[str, int]:
    with c.sessions() as session:
        return notify.deliver_pending(session, c.settings, now)


def test_mail_and_webhook_tell_of_a_new_finding(
    notifying: CollectorUnderTest,
    smtp_server: tuple[_Mailbox, int],
    webhook: tuple[type[_Hook], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    webhook[0].answers.append(500)  # the first webhook attempt fails
    fid = result(notifying, host(notifying), "fail", T0)
    now = datetime.now(UTC)
    assert _deliver(notifying, now) == {"sent": 1, "retry": 1, "failed": 0}
    (envelope,) = smtp_server[0].envelopes
    assert (
        envelope.rcpt_tos == ["duty@tjj.local", "it@tjj.local"]
        and envelope.mail_from == "watchpost@tjj.local"
    )
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert mail["Subject"] == "[Watchpost] 新发现问题（高）：she-pc-01 · 防病毒特征库过期"
    assert f"/findings/{fid}" in mail.get_content()  # type: ignore[attr-defined]

    assert _deliver(notifying, now) == {"sent": 0, "retry": 0, "failed": 0}  # not due yet
    assert _deliver(notifying, now + timedelta(minutes=5)) == {"sent": 1, "retry": 0, "failed": 0}
    headers, body = webhook[0].seen[-1]
    stamp = headers["X-Watchpost-Timestamp"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Watchpost-Signature"] == f"sha256={expected}"
    assert headers["X-Watchpost-Event"] == "finding_opened"
    payload = json.loads(body)
    assert payload["finding"]["id"] == fid and payload["finding"]["unit"] == "341021"
    with notifying.sessions() as session:
        rows = session.scalars(select(NotificationOutbox).order_by(NotificationOutbox.id)).all()
        assert [(r.channel, r.status, r.attempts) for r in rows] == [
            ("smtp", "sent", 1),
            ("webhook", "sent", 2),
        ]
        stored = json.dumps([[r.subject, r.body, r.payload, r.last_error] for r in rows], ensure_ascii=False)
    logged = caplog.text
    for secret in (PASSWORD, SECRET):
        assert secret not in stored and secret not in logged
    assert "token=abc" not in logged and "webhook http://127.0.0.1" in logged


def test_undeliverable_messages_are_retried_then_given_up(
    notifying: CollectorUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    notifying.settings.smtp_port = free_port()  # nobody listens there
    notifying.settings.webhook_url = "http://127.0.0.1:9/closed"
    result(notifying, host(notifying), "fail", T0)
    now = datetime.now(UTC)
    outcomes = [_deliver(notifying, now + timedelta(hours=8 * n)) for n in range(4)]
    assert outcomes == [{"sent": 0, "retry": 2, "failed": 0}] * 2 + [{"sent": 0, "retry": 0, "failed": 2}] + [
        {"sent": 0, "retry": 0, "failed": 0}
    ]
    with notifying.sessions() as session:
        rows = session.scalars(select(NotificationOutbox)).all()
        assert {(r.status, r.attempts) for r in rows} == {("failed", 3)}
        assert all(r.last_error and PASSWORD not in r.last_error for r in rows)
    assert PASSWORD not in caplog.text


def test_nothing_is_queued_without_a_channel(collector: CollectorUnderTest) -> None:
    result(collector, host(collector), "fail", T0)
    with collector.sessions() as session:
        assert session.scalars(select(NotificationOutbox)).all() == []


def test_the_lifespan_runs_the_periodic_task(db_url: str) -> None:
    settings = Settings(database_url=db_url, findings_sweep_seconds=0.05)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        c = CollectorUnderTest(client, settings, app.state.sessionmaker)
        fid = result(c, host(c), "fail", datetime.now(UTC) - timedelta(days=30))
        deadline = time.monotonic() + 20
        seen: list[str] = []
        while time.monotonic() < deadline and "overdue" not in seen:
            time.sleep(0.05)
            with c.sessions() as session:
                seen = list(
                    session.scalars(select(FindingEvent.action).where(FindingEvent.finding_id == fid))
                )
        assert "overdue" in seen
    app.state.engine.dispose()
