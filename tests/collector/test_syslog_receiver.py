"""The syslog receiver with real sockets on loopback (issue 6: A9-T2.3, A9-T1, A9-M3.4).

An appliance (a Host of device type "vpn appliance" with address 127.0.0.2) sends its syslog
over UDP and TCP from 127.0.0.2 (the client sockets are bound there, so sender matching is
exercised); the receiver listens on 127.0.0.1 with ephemeral ports. On SQLite and PostgreSQL.
Waits poll the database or the counters with a generous deadline; nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from collector.db.models import AuditLog, HostEvent
from collector.db.models_vpn import SyslogTemplate, VpnAccount, VpnLogin
from collector.services.syslog_receiver import SyslogReceiver, parse_listen, read_stats
from collector.services.vpn_logins import AnalysisConfig
from tests.support.collector import CollectorUnderTest
from tests.support.postgres import free_port
from tests.support.processes import script

APPLIANCE_IP = "127.0.0.2"
SECRET = "Qx7!hunter-2026"
SUCCESS = "用户 {user} 从 {src_ip} 登录成功"
FAILURE = "用户 {user} 从 {src_ip} 登录失败 password={*}"


def local_stamp(ts: datetime) -> str:
    """An RFC 3164 stamp in Asia/Shanghai, as the appliance writes it."""
    shanghai = ts.astimezone(UTC) + timedelta(hours=8)
    return shanghai.strftime("%b %d %H:%M:%S").replace(" 0", "  ", 1)


def wait_for(what: Callable[[], Any], message: str, deadline: float = 30.0) -> Any:
    end = time.monotonic() + deadline
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"waited in vain for {message}")
        time.sleep(0.05)


class Running:
    """A receiver on its own event loop in a thread."""

    def __init__(self, c: CollectorUnderTest, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        options = {"udp": ("127.0.0.1", 0), "tcp": ("127.0.0.1", 0), "batch_seconds": 0.2, **options}
        self.receiver = SyslogReceiver(c.sessions, **options)
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self.loop).result(20)

    def stop(self) -> None:
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.receiver.stop(), self.loop).result(60)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(20)

    def processed(self, count: int) -> None:
        wait_for(lambda: self.receiver.stats.processed >= count, f"{count} messages processed")

    def udp(self, *datagrams: bytes, source: str = APPLIANCE_IP) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((source, 0))
            for data in datagrams:
                sock.sendto(data, ("127.0.0.1", self.receiver.udp_port or 0))

    def tcp(self, payload: bytes, source: str = APPLIANCE_IP) -> None:
        with socket.create_connection(
            ("127.0.0.1", self.receiver.tcp_port or 0), source_address=(source, 0)
        ) as sock:
            sock.sendall(payload)


@pytest.fixture
def appliance(collector: CollectorUnderTest) -> dict[str, Any]:
    """A Sangfor-like appliance of 歙县 at 127.0.0.2 with a login and a failure template."""
    headers = collector.admin_headers()
    body = {
        "hostname": "sslvpn-she",
        "unit": "341021",
        "device_type": "vpn appliance",
        "vendor": "Sangfor",
        "ip_addresses": [APPLIANCE_IP],
    }
    host = collector.client.post("/api/v1/assets", json=body, headers=headers)
    assert host.status_code == 201, host.text
    host_id = host.json()["id"]
    made = {}
    for result, template, sample in (
        ("success", SUCCESS, "用户 张伟 从 198.18.2.9 登录成功"),
        ("failure", FAILURE, "用户 张伟 从 198.18.2.9 登录失败 password=<redacted>"),
    ):
        answer = collector.client.post(
            "/api/v1/vpn/templates",
            json={
                "host_id": host_id,
                "name": result,
                "result": result,
                "template": template,
                "sample": sample,
            },
            headers=headers,
        )
        assert answer.status_code == 201, answer.text
        made[result] = answer.json()["id"]
    return {"host_id": host_id, "templates": made, "headers": headers}


@pytest.fixture
def running(collector: CollectorUnderTest, appliance: dict[str, Any]) -> Iterator[Running]:
    receiver = Running(collector)
    yield receiver
    receiver.stop()


def line(text: str, ts: datetime, encoding: str = "utf-8", pri: int = 86) -> bytes:
    return f"<{pri}>{local_stamp(ts)} sslvpn-she sslvpn[311]: {text}".encode(encoding)


def test_logins_over_udp_and_tcp_reach_the_register(
    collector: CollectorUnderTest, appliance: dict[str, Any], running: Running
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    earlier, later = now - timedelta(hours=2), now - timedelta(minutes=5)
    running.udp(line("用户 张伟 从 198.18.2.9 登录成功", earlier, "gbk"))  # GBK, as Chinese appliances log
    rfc5424 = (
        f"<134>1 {later.isoformat()} sslvpn-she SSLVPN - LOGIN - \ufeff用户 张伟 从 198.18.2.77 登录成功"
    )
    framed = rfc5424.encode()
    octet_counted = str(len(framed)).encode() + b" " + framed
    lf_framed = line("用户 lisi 从 198.18.2.10 登录成功", now).replace(b"[311]", b"[312]") + b"\n"
    running.tcp(octet_counted + lf_framed + b"garbage that no template matches\n")
    running.udp(line("用户 王五 从 198.18.2.11 登录成功", now), source="127.0.0.3")  # an unknown sender
    running.processed(5)

    with collector.sessions() as session:
        logins = {(r.account, r.src_ip): r for r in session.scalars(select(VpnLogin))}
        assert sorted(logins) == [("lisi", "198.18.2.10"), ("张伟", "198.18.2.77"), ("张伟", "198.18.2.9")]
        assert {r.result for r in logins.values()} == {"success"} and {r.server for r in logins.values()} == {
            "sslvpn-she"
        }
        accounts = {a.account: a for a in session.scalars(select(VpnAccount))}
        assert set(accounts) == {"张伟", "lisi"}
        zhang = accounts["张伟"]
        assert zhang.source == "syslog" and zhang.last_login_source == "syslog" and zhang.unit_id is not None
        assert zhang.last_login == later and zhang.last_login_ip == "198.18.2.77"
        success = session.get(SyslogTemplate, appliance["templates"]["success"])
        assert success is not None and success.matched == 3 and success.last_matched_at is not None
    stats = running.receiver.stats.snapshot()
    assert stats["stored"] == 3 and stats["unmatched"] == 1 and stats["unknown_senders"] == {"127.0.0.3": 1}

    running.udp(
        line("用户 张伟 从 198.18.2.9 登录成功", earlier, "gbk")
    )  # the same line again: a login again
    running.processed(6)
    assert running.receiver.stats.stored == 4  # syslog has no resends (review C1)
    with collector.sessions() as session:
        assert len(session.scalars(select(VpnLogin)).all()) == 4


def test_a_brute_force_burst_is_one_event_and_no_password_is_stored(
    collector: CollectorUnderTest,
    appliance: dict[str, Any],
    running: Running,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    failures = [
        line(f'用户 admin 从 198.18.5.5 登录失败 password="{SECRET}{i}"', start + timedelta(seconds=20 * i))
        for i in range(12)
    ]
    running.udp(*failures[:6])
    running.processed(6)
    running.tcp(b"\n".join(failures[6:]) + b"\n")  # the burst goes on in the next batches
    running.processed(12)
    with collector.sessions() as session:
        events = session.scalars(select(HostEvent).where(HostEvent.kind == "vpn.bruteforce")).all()
        assert len(events) == 1
        burst = events[0]
        assert burst.host_id == appliance["host_id"] and burst.severity == "high"
        assert burst.source == "syslog:sslvpn-she" and burst.data["failures"] == 12
        assert burst.data["src_ip"] == "198.18.5.5" and burst.data["accounts"] == ["admin"]
        assert burst.occurred_at == start

    running.udp(line("用户 admin 从 198.18.5.5 登录成功", start + timedelta(minutes=5)))
    running.processed(13)
    running.udp(line("用户 admin 从 198.18.5.5 登录成功", start + timedelta(minutes=5)) + b" ")  # resent
    running.processed(14)
    with collector.sessions() as session:
        kinds = sorted(e.kind for e in session.scalars(select(HostEvent)))
        assert kinds == ["vpn.bruteforce", "vpn.success_after_failures"]
        stored = [
            repr([(r.account, r.src_ip, r.server) for r in session.scalars(select(VpnLogin))]),
            repr([(e.summary, e.data) for e in session.scalars(select(HostEvent))]),
            repr([(a.account, a.last_login_ip, a.store) for a in session.scalars(select(VpnAccount))]),
            repr([(t.template, t.sample, t.pattern) for t in session.scalars(select(SyslogTemplate))]),
            repr([(a.action, a.detail) for a in session.scalars(select(AuditLog))]),
        ]
        assert len(session.scalars(select(VpnLogin).where(VpnLogin.result == "failure")).all()) == 12
    assert SECRET not in "\n".join(stored)
    assert SECRET not in caplog.text and "登录失败" not in caplog.text  # no message text in the log


def test_tcp_framing_limits_and_idle_connections(
    collector: CollectorUnderTest, appliance: dict[str, Any]
) -> None:
    receiver = Running(collector, idle_timeout=0.5, max_message=1024)
    try:
        now = datetime.now(UTC)
        good = line("用户 zhao 从 198.18.2.12 登录成功", now)
        too_long = b"x" * 5000
        counted_long = b"3000 " + b"y" * 3000
        last_without_lf = line("用户 qian 从 198.18.2.13 登录成功", now)
        receiver.tcp(too_long + b"\n" + counted_long + good + b"\r\n" + last_without_lf)
        receiver.processed(4)
        assert receiver.receiver.stats.oversize == 2
        with collector.sessions() as session:
            assert sorted(r.account for r in session.scalars(select(VpnLogin))) == ["qian", "zhao"]
        with socket.create_connection(("127.0.0.1", receiver.receiver.tcp_port or 0)) as idle:
            idle.settimeout(30)
            assert idle.recv(10) == b""  # closed by the receiver once idle
    finally:
        receiver.stop()


def test_stop_ingests_what_is_queued_and_writes_the_counters(
    collector: CollectorUnderTest, appliance: dict[str, Any], tmp_path: Path
) -> None:
    stats_file = tmp_path / "stats.json"
    receiver = Running(collector, batch_seconds=600, batch_lines=10_000, stats_file=stats_file)
    receiver.udp(*(line(f"用户 u{i} 从 198.18.3.{i} 登录成功", datetime.now(UTC)) for i in range(1, 4)))
    wait_for(lambda: receiver.receiver.stats.received >= 3, "3 datagrams received")
    assert receiver.receiver.stats.processed == 0
    receiver.stop()
    with collector.sessions() as session:
        assert len(session.scalars(select(VpnLogin)).all()) == 3
    written = read_stats(stats_file)
    assert written is not None and written["stored"] == 3 and written["received"] == 3


def test_the_analysis_thresholds_are_configurable(
    collector: CollectorUnderTest, appliance: dict[str, Any]
) -> None:
    receiver = Running(collector, config=AnalysisConfig(failures=3, minutes=1))
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        spaced = [
            line(f"用户 bob 从 198.18.6.{i} 登录失败 password=x", start + timedelta(minutes=2 * i))
            for i in range(4)
        ]
        quick = [
            line(f"用户 eve 从 198.18.7.{i} 登录失败 password=x", start + timedelta(seconds=i))
            for i in range(3)
        ]
        receiver.udp(*spaced, *quick)
        receiver.processed(7)
        with collector.sessions() as session:
            events = session.scalars(select(HostEvent)).all()
            assert [(e.kind, e.data.get("account")) for e in events] == [("vpn.bruteforce", "eve")]
    finally:
        receiver.stop()


def test_listen_addresses() -> None:
    assert parse_listen("0.0.0.0:514") == ("0.0.0.0", 514)
    assert parse_listen("[::]:6514") == ("::", 6514)
    assert parse_listen(":514") == ("0.0.0.0", 514)
    assert parse_listen("off") is None
    with pytest.raises(ValueError, match="bad port"):
        parse_listen("127.0.0.1:99999")


def test_the_syslog_command_runs_until_sigterm(
    collector: CollectorUnderTest, appliance: dict[str, Any], tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess

    port = free_port()
    stats_file = tmp_path / "stats.json"
    env = {**os.environ, "WATCHPOST_DATABASE_URL": collector.settings.database_url}
    proc = subprocess.Popen(
        [
            script("watchpost-collector"),
            "syslog",
            "--udp",
            f"127.0.0.1:{port}",
            "--tcp",
            "off",
            "--stats-file",
            str(stats_file),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        assert "syslog receiver listening" in proc.stdout.readline().decode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((APPLIANCE_IP, 0))
            sock.sendto(line("用户 sun 从 198.18.2.20 登录成功", datetime.now(UTC)), ("127.0.0.1", port))

        def stored() -> bool:
            with collector.sessions() as session:
                return session.scalar(select(VpnLogin).where(VpnLogin.account == "sun")) is not None

        wait_for(stored, "the login sent to the command")
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, output
    assert SECRET not in output and "sun" not in output  # counters and addresses only
    written = read_stats(stats_file)
    assert written is not None and written["stored"] == 1


# -- review C4: a failing batch is retried, then stored one message at a time ----------------------
def test_a_batch_that_raises_is_retried_then_stored_line_by_line(
    collector: CollectorUnderTest, appliance: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import IntegrityError

    from collector.services import syslog_receiver

    real = syslog_receiver.ingest_lines
    calls: list[int] = []

    def racing(session: Any, sender: str, messages: list[bytes], now: datetime, **kw: Any) -> Any:
        calls.append(len(messages))
        if len(calls) == 1:  # another writer inserted the same new account meanwhile
            session.add(VpnLogin(fingerprint="x", host_id=appliance["host_id"], server="s", account="a",
                                 result="success", ts=now, src_ip=""))  # fmt: skip
            session.flush()
            raise IntegrityError("INSERT INTO vpn_accounts", {}, Exception("uq_vpn_account"))
        if any(b"poison" in m for m in messages):
            raise IntegrityError("INSERT INTO vpn_accounts", {}, Exception("uq_vpn_account"))
        return real(session, sender, messages, now, **kw)

    monkeypatch.setattr(syslog_receiver, "ingest_lines", racing)
    receiver = SyslogReceiver(collector.sessions, udp=None, tcp=None)
    now = datetime.now(UTC)
    first = [line(f"用户 u{i} 从 198.18.3.{i} 登录成功", now) for i in range(1, 4)]
    receiver._ingest([(APPLIANCE_IP, data) for data in first])
    assert calls == [3, 3]  # failed, rolled back, retried once: all stored
    with collector.sessions() as session:
        assert sorted(r.account for r in session.scalars(select(VpnLogin))) == ["u1", "u2", "u3"]
    assert receiver.stats.errors == 0 and receiver.stats.stored == 3

    calls.clear()
    second = [line(f"用户 v{i} 从 198.18.4.{i} 登录成功", now) for i in range(1, 4)]
    second.insert(1, line("用户 poison 从 198.18.4.9 登录成功", now))
    receiver._ingest([(APPLIANCE_IP, data) for data in second])
    assert calls == [4, 4, 1, 1, 1, 1]  # the batch twice, then one message at a time
    with collector.sessions() as session:
        accounts = sorted(r.account for r in session.scalars(select(VpnLogin)))
        assert accounts == ["u1", "u2", "u3", "v1", "v2", "v3"]
    assert receiver.stats.errors == 1 and receiver.stats.processed == 7
