"""VPN log analysis (A9-T1 active monitoring, A9-T2.3, A9-M3.4): each event kind is raised at its
threshold and not one step below; the runner ``scan_logs`` over the real lab logs; no password
in any event or log line (A9-T2.2).

Boundary cases are built in this file from the shapes of the real events (labelled so); the
end-to-end cases read the real fixtures (tests/fixtures/SOURCES.md).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from agent.host import HostContext
from agent.vpn.analysis import (
    AnalysisConfig,
    VpnLogConfig,
    detect,
    failure_counts,
    find_bursts,
    is_odd_hour,
    scan_logs,
    source_net,
)
from agent.vpn.lastlogin import LastLoginStore, LogSource
from agent.vpn.logs import LiveSession, LoginEvent, Result
from wire.events import Event

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "vpn"
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Shanghai
CFG = AnalysisConfig()
MISTYPED = ("1234567", "admin123", "Admin@123", "P@ssw0rd", "888888", "zhangwei12")


def ev(
    seconds: float,
    result: Result,
    account: str | None = "alice",
    ip: str | None = "198.18.1.2",
    *,
    session: str | None = None,
    reason: str = "",
    server: str = "openvpn",
) -> LoginEvent:
    """A constructed event (the shapes of agent.vpn.logs' output)."""
    return LoginEvent(
        T0 + timedelta(seconds=seconds), server, account, result, ip, None, session, reason, "test"
    )


def kinds(events: Sequence[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


def run(
    events: list[LoginEvent], *, history=None, live=(), cfg: AnalysisConfig = CFG, now=None
) -> list[Event]:  # type: ignore[no-untyped-def]
    return detect(
        sorted(events, key=lambda e: e.ts), history or {}, list(live), cfg, now or T0 + timedelta(hours=1)
    )


# -- brute force --------------------------------------------------------------------------------
def test_bruteforce_at_n_failures_within_the_window_not_below() -> None:
    n, minutes = CFG.burst_failures, CFG.burst_minutes
    window = minutes * 60
    four = [ev(i * (window / (n - 1)), "failure", "admin", "198.18.3.2") for i in range(n - 1)]
    assert kinds(run(four), "vpn.bruteforce") == []
    five = [ev(i * (window / (n - 1)), "failure", "admin", "198.18.3.2") for i in range(n)]
    found = kinds(run(five), "vpn.bruteforce")
    assert {e.data.get("src_ip") or e.data.get("account") for e in found} == {"198.18.3.2", "admin"}
    assert all(e.data["failures"] == n for e in found)
    assert found[0].occurred_at == five[-1].ts  # when the threshold was crossed
    spread = [ev(i * (window / (n - 1)) * 1.01, "failure", f"u{i}", "198.18.3.2") for i in range(n)]
    assert kinds(run(spread), "vpn.bruteforce") == []  # the n-th came a little too late


def test_bruteforce_from_one_address_over_many_accounts_is_high() -> None:
    spray = [ev(i, "failure", f"user{i}", "198.18.3.2") for i in range(6)]
    (found,) = kinds(run(spray), "vpn.bruteforce")
    assert found.severity == "high" and "user0" in str(found.data["accounts"])


def test_bruteforce_in_the_real_lab_log_with_names_from_the_script() -> None:
    events = _lab2_events()
    found = kinds(run(events, now=datetime(2026, 11, 28, tzinfo=UTC)), "vpn.bruteforce")
    assert sorted((e.data.get("src_ip") or e.data.get("account"), e.data["failures"]) for e in found) == [
        ("198.18.3.2", 7),
        ("admin", 6),
    ]


# -- success after failures ------------------------------------------------------------------------
def test_success_after_failures_at_threshold_and_window() -> None:
    n = CFG.burst_failures
    window = CFG.success_after_minutes * 60
    fails = [ev(i, "failure", "admin", "198.18.3.2") for i in range(n)]
    login = ev(window - 1, "success", "zhangwei", "198.18.3.2")  # the first failure is inside the window
    (found,) = kinds(run([*fails, login]), "vpn.success_after_failures")
    assert found.severity == "high" and found.data["failures"] == n and found.data["account"] == "zhangwei"
    assert kinds(run([*fails[1:], login]), "vpn.success_after_failures") == []  # n - 1
    late = ev(window + n, "success", "zhangwei", "198.18.3.2")  # all failures older than the window
    assert kinds(run([*fails, late]), "vpn.success_after_failures") == []
    elsewhere = ev(60, "success", "zhangwei", "198.18.1.2")  # other address, other account
    assert kinds(run([*fails, elsewhere]), "vpn.success_after_failures") == []
    own = [ev(i, "failure", "zhangwei", f"198.18.9.{i}") for i in range(n)]  # same account, any address
    assert len(kinds(run([*own, elsewhere]), "vpn.success_after_failures")) == 1


def test_success_after_failures_in_the_real_lab_log() -> None:
    found = kinds(run(_lab2_events(), now=datetime(2026, 11, 28, tzinfo=UTC)), "vpn.success_after_failures")
    assert [(e.data["account"], e.data["src_ip"], e.data["failures"]) for e in found] == [
        ("zhangwei", "198.18.3.2", 7)
    ]


# -- odd hours ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("local", "odd"),
    [
        ("2026-11-25 06:59:59", True),
        ("2026-11-25 07:00:00", False),
        ("2026-11-25 21:59:59", False),
        ("2026-11-25 22:00:00", True),
        ("2026-11-28 10:00:00", True),  # Saturday
        ("2026-11-29 10:00:00", False),  # Sunday, but a make-up working day (调休) in this config
        ("2026-10-01 10:00:00", True),  # National Day, a holiday in this config
    ],
)
def test_odd_hours_boundaries_in_shanghai(local: str, odd: bool) -> None:
    cfg = AnalysisConfig(
        holidays=frozenset({date(2026, 10, 1)}), extra_workdays=frozenset({date(2026, 11, 29)})
    )
    ts = datetime.fromisoformat(local).replace(tzinfo=cfg.zone())
    assert is_odd_hour(ts.astimezone(UTC), cfg) is odd
    login = LoginEvent(ts.astimezone(UTC), "ocserv", "alice", "success", "198.18.1.2")
    found = kinds(detect([login], {}, [], cfg, ts + timedelta(hours=1)), "vpn.odd_hours")
    assert len(found) == int(odd)
    if odd:
        assert found[0].data["local_time"].startswith(local.replace(" ", "T"))


def test_working_hours_are_configurable() -> None:
    cfg = AnalysisConfig(work_start=time(8, 30), work_end=time(17, 30), workdays=frozenset(range(6)))
    saturday_morning = datetime(2026, 11, 28, 9, 0, tzinfo=cfg.zone())
    assert not is_odd_hour(saturday_morning, cfg)
    assert is_odd_hour(saturday_morning.replace(hour=8, minute=29), cfg)


# -- new source ---------------------------------------------------------------------------------
def test_new_source_needs_history_and_a_new_address() -> None:
    first = ev(0, "success", "alice", "198.18.1.2")
    assert kinds(run([first]), "vpn.new_source") == []  # nothing to compare with
    history = {("openvpn", "alice"): [(T0 - timedelta(days=30), "198.18.1.2")]}
    assert kinds(run([first], history=history), "vpn.new_source") == []  # a known address
    other = ev(60, "success", "alice", "198.18.1.77")
    (found,) = kinds(run([first, other], history=history), "vpn.new_source")
    assert found.data["src_ip"] == "198.18.1.77" and found.data["known_sources"] == 1
    same_net = AnalysisConfig(new_source_prefix_v4=24)
    assert kinds(run([first, other], history=history, cfg=same_net), "vpn.new_source") == []
    assert source_net("198.18.1.77", same_net) == "198.18.1.0/24"
    # the same finding in a later scan is the same event (uuid5 of what was found)
    again = kinds(run([other], history=history), "vpn.new_source")
    assert again[0].event_id == found.event_id


# -- concurrent sessions ------------------------------------------------------------------------------
def test_concurrent_sessions_from_the_real_logs() -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    lab2 = kinds(run(_lab2_events(), now=now), "vpn.concurrent_sessions")
    assert [(e.data["account"], e.data["src_ip"], e.data["other_src_ip"]) for e in lab2] == [
        ("alice", "198.18.2.2", "198.18.1.2")
    ]
    run1 = kinds(
        run(_events("openvpn", "openvpn/server-run1-single.log"), now=now), "vpn.concurrent_sessions"
    )
    assert [(e.data["src_ip"], e.data["other_src_ip"], e.data["replaced"]) for e in run1] == [
        ("198.18.2.2", "198.18.1.2", True),  # without duplicate-cn OpenVPN dropped the older one
        ("198.18.1.2", "198.18.2.2", True),
    ]
    ocserv = kinds(
        run(_events("syslog", "ocserv/lab2-ocserv-syslog.log"), now=now), "vpn.concurrent_sessions"
    )
    assert [(e.data["account"], e.data["src_ip"]) for e in ocserv] == [("alice", "198.18.2.2")]


def test_roaming_is_not_concurrency_but_a_long_overlap_is() -> None:
    grace = CFG.concurrent_grace_minutes * 60
    old = ev(0, "success", "alice", "198.18.1.2", session="a")
    new = ev(100, "success", "alice", "198.18.2.2", session="b")
    timeout = ev(100 + grace - 1, "logout", "alice", "198.18.1.2", session="a", reason="ping-restart")
    assert kinds(run([old, new, timeout]), "vpn.concurrent_sessions") == []  # the old one just timed out
    long = ev(100 + grace, "logout", "alice", "198.18.1.2", session="a", reason="ping-restart")
    assert len(kinds(run([old, new, long]), "vpn.concurrent_sessions")) == 1
    said_goodbye = ev(130, "logout", "alice", "198.18.1.2", session="a", reason="user disconnected")
    assert len(kinds(run([old, new, said_goodbye]), "vpn.concurrent_sessions")) == 1
    alive = ev(110, "auth_ok", "alice", "198.18.1.2", session="a")  # renegotiated after b began
    assert len(kinds(run([old, new, alive, timeout]), "vpn.concurrent_sessions")) == 1
    same_place = ev(100, "success", "alice", "198.18.1.2", session="c")
    assert kinds(run([old, same_place]), "vpn.concurrent_sessions") == []
    # both still open: undecided until the grace has passed
    assert kinds(run([old, new], now=new.ts + timedelta(seconds=grace - 1)), "vpn.concurrent_sessions") == []
    assert len(kinds(run([old, new], now=new.ts + timedelta(seconds=grace)), "vpn.concurrent_sessions")) == 1


def test_concurrent_live_sessions_two_addresses_not_one() -> None:
    two = [
        LiveSession("openvpn", "alice", "198.18.1.2", session="0"),
        LiveSession("openvpn", "alice", "198.18.2.2", session="1"),
    ]
    (found,) = kinds(run([], live=two), "vpn.concurrent_sessions")
    assert found.data["live"] is True and found.data["sessions"] == 2
    one = [two[0], LiveSession("openvpn", "alice", "198.18.1.2", session="2")]
    assert kinds(run([], live=one), "vpn.concurrent_sessions") == []


# -- failed logins per day, bans --------------------------------------------------------------------------
def test_failed_logins_per_account_and_source_once_the_day_is_over() -> None:
    events = [ev(i, "failure", "admin" if i % 2 else None, f"198.18.3.{i % 3}") for i in range(6)]
    assert failure_counts(events) == (
        {"admin": 3, "(unknown)": 3},
        {"198.18.3.0": 2, "198.18.3.1": 2, "198.18.3.2": 2},
    )
    end = datetime(2026, 11, 26, tzinfo=CFG.zone())
    assert kinds(run(events, now=end - timedelta(seconds=1)), "vpn.failed_logins") == []
    (found,) = kinds(run(events, now=end), "vpn.failed_logins")
    assert found.data["failures"] == 6 and found.data["day"] == "2026-11-25" and found.severity == "info"
    assert {found.data["account.1"], found.data["account.2"]} == {"admin", "(unknown)"}


def test_ocserv_ban_is_reported() -> None:
    found = kinds(
        run(_events("syslog", "ocserv/lab2-ocserv-syslog.log"), now=datetime(2026, 11, 28, tzinfo=UTC)),
        "vpn.source_banned",
    )
    assert [e.data["src_ip"] for e in found] == ["198.18.3.2"]


def test_find_bursts_counts_a_run_once() -> None:
    run_ = [ev(i * 30, "failure", None, "198.18.3.2") for i in range(12)]
    (burst,) = find_bursts(run_, 5, timedelta(minutes=10))
    assert (burst.count, burst.first, burst.crossed) == (12, run_[0].ts, run_[4].ts)


# -- the runner ----------------------------------------------------------------------------------
def _lab_root(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    (root / "var/log/openvpn").mkdir(parents=True)
    shutil.copy(FIX / "openvpn/lab2-server-checkpsw.log", root / "var/log/openvpn/server.log")
    shutil.copy(FIX / "openvpn/lab2-checkpsw-password.log", root / "var/log/openvpn-password.log")
    shutil.copy(FIX / "ocserv/lab2-ocserv-syslog.log", root / "var/log/syslog")
    shutil.copy(FIX / "openvpn/status-v2-lab2-duplicate-cn.log", root / "var/log/openvpn/openvpn-status.log")
    return root


def test_scan_logs_reads_judges_remembers_and_keeps_secrets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _lab_root(tmp_path)
    config = VpnLogConfig.from_dict(
        {
            "sources": [
                {"path": "/var/log/openvpn/server.log", "kind": "openvpn"},
                {"path": "/var/log/openvpn-password.log", "kind": "openvpn-verify"},
                {"path": "/var/log/syslog", "kind": "syslog"},
            ],
            "openvpn_status": ["/var/log/openvpn/openvpn-status.log"],
            "occtl": False,
            "swanctl": False,
            "log_timezone": "UTC",
        }
    )
    now = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    caplog.set_level(logging.DEBUG)
    with LastLoginStore(tmp_path / "data" / "vpn-logins.db") as store:
        events = scan_logs(config, store, now, HostContext(root=root))
        found = {e.kind for e in events}
        assert found == {
            "vpn.bruteforce",
            "vpn.success_after_failures",
            "vpn.odd_hours",  # the lab ran at 22:04 Beijing time
            "vpn.new_source",
            "vpn.concurrent_sessions",
            "vpn.failed_logins",
            "vpn.source_banned",
        }
        assert any(e.data.get("live") for e in events)  # two alices in the status file
        assert store.last_login("ocserv", "zhangwei") == datetime(2026, 11, 27, 14, 6, 52, 429820, tzinfo=UTC)
        assert scan_logs(config, store, now, HostContext(root=root)) == []  # nothing new, nothing again
    for e in events:
        Event.model_validate_json(e.model_dump_json())  # valid on the wire
        assert e.source.startswith("vpn-logs:")
    text = "".join(e.model_dump_json() for e in events) + caplog.text
    assert not any(p in text for p in MISTYPED)


def test_a_scanner_that_never_stops_is_reported_once(tmp_path: Path) -> None:
    """A failure every minute for three days (an internet scanner): one burst per address and
    account, though each scan only looks at the last two days."""
    config = VpnLogConfig(sources=(), openvpn_status=(), occtl=False, swanctl=False)
    failures = [ev(i * 60, "failure", "admin", "198.18.3.2") for i in range(3 * 1440)]
    reported: list[Event] = []
    with LastLoginStore(tmp_path / "vpn-logins.db") as store:
        for hour in range(0, 72, 6):
            now = T0 + timedelta(hours=hour)
            store.add_events(f for f in failures if f.ts <= now)
            reported += kinds(scan_logs(config, store, now, HostContext(root=tmp_path)), "vpn.bruteforce")
    assert sorted(e.data.get("src_ip") or e.data.get("account") for e in reported) == ["198.18.3.2", "admin"]


def test_config_from_plain_values_and_its_errors() -> None:
    config = VpnLogConfig.from_dict(
        {
            "sources": [
                {"path": "/var/log/syslog", "kind": "syslog", "labels": {"openvpn": "openvpn:office"}}
            ],
            "analysis": {
                "burst_failures": 3,
                "work_start": "08:30",
                "holidays": ["2026-10-01"],
                "workdays": [0, 1],
            },
        }
    )
    assert config.sources == (LogSource("/var/log/syslog", "syslog", (("openvpn", "openvpn:office"),)),)
    assert config.analysis.burst_failures == 3 and config.analysis.work_start == time(8, 30)
    assert config.analysis.holidays == frozenset({date(2026, 10, 1)})
    assert VpnLogConfig.from_dict({}).sources  # the default Debian/RHEL places
    with pytest.raises(ValueError, match="kind must be one of"):
        VpnLogConfig.from_dict({"sources": [{"path": "/x", "kind": "nginx"}]})
    with pytest.raises(ValueError, match="unknown vpn log analysis settings: nonsense"):
        VpnLogConfig.from_dict({"analysis": {"nonsense": 1}})


# -- helpers -----------------------------------------------------------------------------------------
def _events(kind: str, name: str) -> list[LoginEvent]:
    from agent.vpn.logs import LogParser

    with (FIX / name).open(encoding="utf-8") as handle:
        return LogParser(kind).feed_all(handle, datetime(2026, 11, 28, tzinfo=UTC))


def _lab2_events() -> list[LoginEvent]:
    events = _events("openvpn", "openvpn/lab2-server-checkpsw.log")
    return sorted(
        events + _events("openvpn-verify", "openvpn/lab2-checkpsw-password.log"), key=lambda e: e.ts
    )
