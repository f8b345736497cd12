"""The agent's last-login table (A9-T2.3 zombie accounts need a login history the daemons do
not keep; A9-M3.4 logs kept beyond rotation): incremental reading by inode and head, logrotate's
rename / compress / copytruncate, restarts, ``kill -9`` in the middle of an update, and no
mistyped password from checkpsw.sh's log in the database (A9-T2.2).
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.vpn.lastlogin import LastLoginStore, LogSource, rotated_family
from agent.vpn.logs import LogParser

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "vpn"
SERVER_LOG = (FIX / "openvpn" / "lab2-server-checkpsw.log").read_text()
REF = datetime(2026, 11, 28, tzinfo=UTC)
MISTYPED = ("1234567", "admin123", "Admin@123", "P@ssw0rd", "888888", "zhangwei12")


def store_at(tmp_path: Path) -> LastLoginStore:
    return LastLoginStore(tmp_path / "data" / "vpn-logins.db")


def count(store: LastLoginStore) -> int:
    return len(store.logins(results=None))


def expected_events(text: str, kind: str = "openvpn") -> int:
    return len(LogParser(kind).feed_all(text.splitlines(), REF))


def test_last_login_per_account_and_across_a_restart(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text(SERVER_LOG)
    source = LogSource(str(log), "openvpn")
    with store_at(tmp_path) as store:
        stats = store.ingest(source, reference=REF)
        assert stats.events == expected_events(SERVER_LOG) and stats.lines == SERVER_LOG.count("\n")
    with store_at(tmp_path) as store:  # a new process: nothing is read twice
        assert store.ingest(source, reference=REF).events == 0
        assert store.last_login("openvpn", "alice") == datetime(2026, 11, 27, 14, 5, 1, tzinfo=UTC)
        assert store.last_login("openvpn", "zhangwei") == datetime(2026, 11, 27, 14, 5, 15, tzinfo=UTC)
        assert store.last_login("openvpn", "bob") is None  # bob only failed
        assert [(s, a) for s, a, _ in store.accounts()] == [("openvpn", "alice"), ("openvpn", "zhangwei")]
        assert len(store.logins("openvpn", "alice")) == 2  # renegotiations are not logins
        assert store.integrity_ok()
    assert (tmp_path / "data" / "vpn-logins.db").stat().st_mode & 0o077 == 0


def test_appended_lines_are_read_once_and_half_lines_wait(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    half = len(SERVER_LOG) // 2
    log.write_text(SERVER_LOG[:half])  # ends in the middle of a line
    source = LogSource(str(log), "openvpn")
    with store_at(tmp_path) as store:
        store.ingest(source, reference=REF)
        with log.open("a") as handle:
            handle.write(SERVER_LOG[half:])
        store.ingest(source, reference=REF)
        store.ingest(source, reference=REF)
        assert count(store) == expected_events(SERVER_LOG)


def test_logrotate_rename_compress_and_history_beyond_rotation(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    first = (FIX / "openvpn" / "server-run1-single.log").read_text()
    log.write_text(first)
    source = LogSource(str(log), "openvpn")
    with store_at(tmp_path) as store:
        store.ingest(source, reference=REF)
        before = count(store)
        # rotation 1: server.log -> server.log.1 (same inode), lines were still written to it
        log.rename(tmp_path / "server.log.1")
        with (tmp_path / "server.log.1").open("a") as handle:
            handle.write(
                "2026-11-27 07:15:40 198.18.9.9:1000 [late] Peer Connection Initiated with [AF_INET]198.18.9.9:1000\n"
            )
        log.write_text(SERVER_LOG)
        assert [p.name for p in rotated_family(log)] == ["server.log.1", "server.log"]
        store.ingest(source, reference=REF)
        # the late login, its end when the server started again, and the new file
        assert count(store) == before + 2 + expected_events(SERVER_LOG)
        assert store.last_login("openvpn", "late") is not None
        # rotation 2: .1 -> .2.gz (compressed: a new inode, the same first bytes), log -> .1
        with (
            (tmp_path / "server.log.1").open("rb") as src,
            gzip.open(tmp_path / "server.log.2.gz", "wb") as dst,
        ):
            shutil.copyfileobj(src, dst)
        (tmp_path / "server.log.1").unlink()
        log.rename(tmp_path / "server.log.1")
        log.write_text("")
        assert [p.name for p in rotated_family(log)] == ["server.log.2.gz", "server.log.1", "server.log"]
        total = count(store)
        assert store.ingest(source, reference=REF).events == 0
        assert count(store) == total
        # the logs are gone (rotate 4 weeks); the agent still knows
        for path in tmp_path.glob("server.log*"):
            path.unlink()
        store.ingest(source, reference=REF)
        assert store.prune(datetime(2027, 1, 1, tzinfo=UTC)) == total
        assert store.logins() == []
        assert store.last_login("openvpn", "alice") == datetime(2026, 11, 27, 14, 5, 1, tzinfo=UTC)
        assert store.last_login("openvpn", "late") == datetime(2026, 11, 27, 7, 15, 40, tzinfo=UTC)


def test_a_compressed_file_seen_first_is_read_whole(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "server.log.1.gz", "wt") as handle:
        handle.write(SERVER_LOG.rstrip("\n"))  # no newline at the end: still the last line
    (tmp_path / "server.log").write_text("")
    with store_at(tmp_path) as store:
        store.ingest(LogSource(str(tmp_path / "server.log"), "openvpn"), reference=REF)
        assert count(store) == expected_events(SERVER_LOG)


def test_copytruncate_and_a_replaced_file(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text(SERVER_LOG)
    source = LogSource(str(log), "openvpn")
    other = (FIX / "openvpn" / "server-run1-single.log").read_text()
    with store_at(tmp_path) as store:
        store.ingest(source, reference=REF)
        shutil.copy(log, tmp_path / "server.log.1")  # copytruncate: copy, then truncate in place
        with log.open("r+") as handle:
            handle.truncate(0)
        log.write_text(other)
        store.ingest(source, reference=REF)
        assert count(store) == expected_events(SERVER_LOG) + expected_events(other)


def test_parser_state_survives_a_restart_between_two_lines_of_one_login(tmp_path: Path) -> None:
    text = (FIX / "strongswan" / "charon-server-syslog-default.log").read_text()
    cut = text.index("EAP-MS-CHAPv2 verification failed")
    cut = text.rindex("\n", 0, cut) + 1  # after "received EAP identity 'bob'"
    log = tmp_path / "syslog"
    log.write_text(text[:cut])
    source = LogSource(str(log), "syslog")
    with store_at(tmp_path) as store:
        store.ingest(source, reference=REF)
    with log.open("a") as handle:
        handle.write(text[cut:])
    with store_at(tmp_path) as store:
        store.ingest(source, reference=REF)
        failures = store.logins("strongswan", results=("failure",))
        assert [(e.account, e.reason) for e in failures] == [
            ("bob", "wrong password"),
            ("admin", "unknown user"),
            ("zhangwei", "wrong password"),
        ]


def test_mistyped_passwords_never_reach_the_database(tmp_path: Path) -> None:
    log = tmp_path / "openvpn-password.log"
    shutil.copy(FIX / "openvpn" / "lab2-checkpsw-password.log", log)
    assert all(p in log.read_text() for p in MISTYPED)
    with store_at(tmp_path) as store:
        store.ingest(LogSource(str(log), "openvpn-verify"), reference=REF)
        store.ingest(LogSource(str(log), "syslog"), reference=REF)
        rows = [repr(e) for e in store.logins(results=None)]
        assert len(rows) == 16
        assert not any(p in row for row in rows for p in MISTYPED)
        db = sqlite3.connect(store.path)
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            dump = repr(db.execute(f"SELECT * FROM {table}").fetchall())  # noqa: S608 - test
            assert not any(p in dump for p in MISTYPED), table
        db.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").iterdir())
    for secret in ("Admin@123", "P@ssw0rd", "admin123", "zhangwei12"):  # not hex-like: a raw scan is fair
        assert secret.encode() not in raw


# -- kill -9 in the middle of an update ---------------------------------------------------------------
_CHILD = """
import sys
from datetime import UTC, datetime
from pathlib import Path
import agent.vpn.lastlogin as lastlogin
lastlogin.BLOCK_BYTES = 16 * 1024  # many small commits: the kill lands between or inside them
store = lastlogin.LastLoginStore(Path(sys.argv[1]))
store.ingest(lastlogin.LogSource(sys.argv[2], "openvpn"), reference=datetime(2027, 1, 1, tzinfo=UTC))
print("done", flush=True)
"""


def _big_log(path: Path, lines: int = 60000) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with path.open("w") as handle:
        for i in range(lines):
            ts = (start + timedelta(seconds=7 * i)).strftime("%Y-%m-%d %H:%M:%S")
            ip, port = f"198.18.{i % 200}.{i % 250 + 1}", 1024 + i % 60000
            if i % 3:
                handle.write(
                    f"{ts} {ip}:{port} [user{i % 97}] Peer Connection Initiated with [AF_INET]{ip}:{port}\n"
                )
            else:
                handle.write(
                    f"{ts} {ip}:{port} TLS Auth Error: Auth Username/Password verification failed for peer\n"
                )


def _offset(db_path: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute("SELECT MAX(offset) FROM files").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0
    return int(row[0] or 0) if row else 0


def test_kill_9_during_an_update_leaves_a_clean_store_that_resumes(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    _big_log(log)
    size = log.stat().st_size
    db_path = tmp_path / "killed" / "vpn-logins.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    killed_at = []
    for _round in range(3):
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(db_path), str(log)], env=env)
        floor = _offset(db_path)
        deadline = time.monotonic() + 120
        while child.poll() is None and _offset(db_path) <= floor and time.monotonic() < deadline:
            time.sleep(0.01)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        killed_at.append(_offset(db_path))
        with LastLoginStore(db_path) as store:  # opens clean after every kill
            assert store.integrity_ok()
            offset = _offset(db_path)
            # what is stored is exactly the lines before the committed offset: no half block
            assert count(store) == expected_events(log.read_bytes()[:offset].decode())
    assert any(0 < k < size for k in killed_at), f"never killed in the middle: {killed_at} of {size}"
    with LastLoginStore(db_path) as store:
        store.ingest(LogSource(str(log), "openvpn"), reference=datetime(2027, 1, 1, tzinfo=UTC))
        killed = {(e.ts, e.account, e.result, e.src_ip) for e in store.logins(results=None)}
        killed_last = store.accounts()
    with LastLoginStore(tmp_path / "clean" / "vpn-logins.db") as clean:
        clean.ingest(LogSource(str(log), "openvpn"), reference=datetime(2027, 1, 1, tzinfo=UTC))
        assert {(e.ts, e.account, e.result, e.src_ip) for e in clean.logins(results=None)} == killed
        assert clean.accounts() == killed_last
        assert len(killed) == 60000
