"""ingest_lines and the analysis of VPN appliances' syslog, called directly (issue 6: A9-T2.3,
A9-T1, A9-M3.4; review findings C1, P1, S4, S5). On SQLite and PostgreSQL.

Syslog has no resends: identical lines in two batches are two failures (C1). The analysis reads
only the batch's accounts and addresses, a window of max(minutes, success_after_minutes) back,
and continues a longer burst in its event (P1). An address two appliances share stores nothing
(S4). A stored login never carries message text (S5).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from collector.db.models import HostEvent
from collector.db.models_vpn import SyslogTemplate, VpnLogin
from collector.services.vpn_logins import AnalysisConfig, SyslogStats, find_appliance, ingest_lines
from tests.support.collector import CollectorUnderTest

ADDRESS = "198.18.9.1"
FAILURE = "用户 {user} 从 {src_ip} 登录失败{*}"
SUCCESS = "用户 {user} 从 {src_ip} 登录成功"


def _appliance(c: CollectorUnderTest, name: str = "sslvpn-she", unit: str = "341021") -> int:
    headers = c.admin_headers()
    body = {
        "hostname": name,
        "unit": unit,
        "device_type": "vpn appliance",
        "vendor": "Sangfor",
        "ip_addresses": [ADDRESS],
    }
    answer = c.client.post("/api/v1/assets", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    host_id = int(answer.json()["id"])
    for result, template, sample in (
        ("failure", FAILURE, "用户 张伟 从 198.18.2.9 登录失败 密码：<redacted>"),
        ("success", SUCCESS, "用户 张伟 从 198.18.2.9 登录成功"),
    ):
        made = c.client.post(
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
        assert made.status_code == 201, made.text
    return host_id


def _line(text: str, ts: datetime) -> bytes:
    local = ts.astimezone(UTC) + timedelta(hours=8)
    return (
        f"<86>{local.strftime('%b %d %H:%M:%S').replace(' 0', '  ', 1)} sslvpn-she sslvpn[1]: {text}".encode()
    )


@contextmanager
def _loaded(session: Session) -> Iterator[list[VpnLogin]]:
    """The VpnLogin rows the session loads from the database meanwhile."""
    rows: list[VpnLogin] = []

    def loaded(_session: Session, instance: Any) -> None:
        if isinstance(instance, VpnLogin):
            rows.append(instance)

    event.listen(session, "loaded_as_persistent", loaded)
    try:
        yield rows
    finally:
        event.remove(session, "loaded_as_persistent", loaded)


def test_identical_failures_in_two_batches_are_all_stored_and_make_one_burst(
    collector: CollectorUnderTest,
) -> None:
    """C1: 6 + 6 identical lines (second-resolution stamps) over two calls: 12 failures, a burst."""
    host_id = _appliance(collector)
    stamp = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    same = [_line("用户 admin 从 198.18.5.5 登录失败", stamp)] * 6
    now = datetime.now(UTC)
    with collector.sessions() as session:
        first = ingest_lines(session, ADDRESS, same, now)
        second = ingest_lines(session, ADDRESS, same, now)  # even with the same receive time
        assert (first.stored, second.stored) == (6, 6)
        assert len(session.scalars(select(VpnLogin).where(VpnLogin.host_id == host_id)).all()) == 12
        bursts = session.scalars(select(HostEvent).where(HostEvent.kind == "vpn.bruteforce")).all()
        assert len(bursts) == 1 and bursts[0].data["failures"] == 12
        assert bursts[0].data["src_ip"] == "198.18.5.5"
        template = session.scalars(select(SyslogTemplate).where(SyslogTemplate.result == "failure")).one()
        assert template.matched == 12


def test_the_analysis_reads_only_the_batchs_keys_and_a_short_window(collector: CollectorUnderTest) -> None:
    """P1: 300 failures of other addresses and accounts and 200 of the same address two hours
    earlier are not read for a batch; the success after failures is still found."""
    _appliance(collector)
    now = datetime.now(UTC).replace(microsecond=0)
    noise = [
        _line(f"用户 u{i} 从 198.18.7.{i % 250} 登录失败", now - timedelta(minutes=i % 50))
        for i in range(300)
    ]
    old = [_line("用户 bob 从 198.18.5.5 登录失败", now - timedelta(hours=2, seconds=i)) for i in range(200)]
    recent = [
        _line("用户 bob 从 198.18.5.5 登录失败", now - timedelta(minutes=20, seconds=-i)) for i in range(10)
    ]
    with collector.sessions() as session:
        ingest_lines(session, ADDRESS, noise + old + recent, now)
    with collector.sessions() as session, _loaded(session) as rows:
        result = ingest_lines(session, ADDRESS, [_line("用户 bob 从 198.18.5.5 登录成功", now)], now)
        assert result.stored == 1
        assert {(r.account, r.src_ip) for r in rows} <= {("bob", "198.18.5.5")}
        assert len(rows) == 10  # the recent failures only (none of the 500 others)
        kinds = sorted(e.kind for e in session.scalars(select(HostEvent)))
        assert kinds.count("vpn.success_after_failures") == 1


def test_a_burst_longer_than_the_window_stays_one_event_counting_every_failure(
    collector: CollectorUnderTest,
) -> None:
    """P1: only 2 minutes are read back, yet a 15-minute burst over two batches is one event of
    15 failures."""
    _appliance(collector)
    config = AnalysisConfig(failures=3, minutes=2, success_after_minutes=2)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    lines = [_line("用户 eve 从 198.18.6.6 登录失败", start + timedelta(minutes=i)) for i in range(15)]
    now = datetime.now(UTC)
    with collector.sessions() as session:
        ingest_lines(session, ADDRESS, lines[:10], now, config=config)
        ingest_lines(session, ADDRESS, lines[10:], now, config=config)
        bursts = session.scalars(select(HostEvent).where(HostEvent.kind == "vpn.bruteforce")).all()
        by_key = {e.data["key"]: e for e in bursts}
        assert sorted(by_key) == ["src_ip:198.18.6.6"]  # the account's run is the same burst
        burst = by_key["src_ip:198.18.6.6"]
        assert burst.data["failures"] == 15 and burst.occurred_at == start
        assert burst.data["first_at"] == start.isoformat()
        assert burst.data["last_at"] == (start + timedelta(minutes=14)).isoformat()


def test_an_address_of_two_appliances_is_counted_as_ambiguous_not_guessed(
    collector: CollectorUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """S4: two active appliances with the sender's address: nothing stored, counted, logged
    with the address only."""
    caplog.set_level(logging.INFO)
    _appliance(collector)
    _appliance(collector, "sslvpn-xiuning", "341022")
    stats = SyslogStats()
    with collector.sessions() as session:
        assert find_appliance(session, ADDRESS) is None
        lines = [_line("用户 zhao 从 198.18.2.12 登录成功", datetime.now(UTC))] * 3
        result = ingest_lines(session, ADDRESS, lines, datetime.now(UTC), stats=stats)
        assert (result.host_id, result.stored, result.ambiguous) == (None, 0, 3)
        assert session.scalars(select(VpnLogin)).all() == []
    snapshot = stats.snapshot()
    assert snapshot["ambiguous"] == 3 and snapshot["ambiguous_senders"] == {ADDRESS: 3}
    assert snapshot["processed"] == 3 and snapshot["unknown_senders"] == {}
    assert ADDRESS in caplog.text and "zhao" not in caplog.text


def test_stored_logins_never_carry_message_text(collector: CollectorUnderTest) -> None:
    """S5: only account, address, result, time, server and an opaque fingerprint are stored."""
    _appliance(collector)
    secret = "Qx7!hunter"
    lines = [
        _line(f"用户 钱七 从 198.18.2.14 登录失败 密码：{secret}，口令 {secret}2", datetime.now(UTC)),
        _line(f"用户 钱七 从 198.18.2.14 登录失败 password: {secret}3", datetime.now(UTC)),
    ]
    with collector.sessions() as session:
        assert ingest_lines(session, ADDRESS, lines, datetime.now(UTC)).stored == 2
        for row in session.scalars(select(VpnLogin)):
            values = [str(getattr(row, c.key)) for c in VpnLogin.__table__.columns]
            text = "\n".join(values)
            assert secret not in text and "登录失败" not in text and "密码" not in text
            assert row.account == "钱七" and len(row.fingerprint) == 64
