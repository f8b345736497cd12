"""The agent's own table of VPN logins: last successful login per account (A9-T2.3, A9-M3.4).

No VPN daemon keeps a durable "last login" and Debian rotates logs away after about four
weeks, so the agent keeps what it read: ``<data_dir>/vpn-logins.db`` (SQLite, WAL,
``synchronous=FULL``), fed incrementally from the log files.

* Every file is followed by identity, not by name: device + inode, and the SHA-256 of its
  first bytes (up to 1 KiB). After ``syslog`` became ``syslog.1`` (same inode) or
  ``syslog.2.gz`` (same first bytes), reading resumes where it stopped; a truncated or
  replaced file is read from its start. Rotated siblings (``.1``, ``.2.gz``, ``-20261127``)
  are read oldest first, so the parsers see the lines in order.
* Only whole lines are consumed. The events of a block, the file's new offset and the
  parsers' state are written in one transaction: after ``kill -9`` the database opens clean
  and the next run goes on from the last committed block; an event read twice is stored
  once (unique fingerprint).
* Lines are redacted (agent.vpn.redact) before they are parsed; no line is stored, only the
  parsed facts (time, server, account, address, result, reason).
* ``last_login`` keeps the newest success per (server, account) for good; the event rows
  are pruned after ``retention_days`` (default 400: the Cybersecurity Law asks six months).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import IO, Any, cast

from agent.vpn.logs import LiveSession, LoginEvent, LogParser, Result

__all__ = ["IngestStats", "LastLoginStore", "LogSource", "rotated_family"]

HEAD_BYTES = 1024
MIN_HEAD_MATCH = 64
BLOCK_BYTES = 1 << 20
MAX_LINE = 16 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
    ts REAL NOT NULL,
    server TEXT NOT NULL,
    account TEXT,
    result TEXT NOT NULL,
    src_ip TEXT,
    src_port INTEGER,
    session TEXT,
    reason TEXT NOT NULL DEFAULT '',
    origin TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
CREATE INDEX IF NOT EXISTS events_account ON events(server, account, ts);
CREATE TABLE IF NOT EXISTS last_login (
    server TEXT NOT NULL,
    account TEXT NOT NULL,
    ts REAL NOT NULL,
    src_ip TEXT,
    PRIMARY KEY (server, account)
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    head_len INTEGER NOT NULL,
    head_hash TEXT NOT NULL,
    offset INTEGER NOT NULL,
    seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_source ON files(source);
CREATE TABLE IF NOT EXISTS parser_state (
    source TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS emitted (
    event_id TEXT PRIMARY KEY,
    at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class LogSource:
    """A log file to follow: its path, its kind (agent.vpn.logs.KINDS) and server labels."""

    path: str
    kind: str
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.path}"


@dataclass
class IngestStats:
    files: int = 0
    bytes: int = 0
    lines: int = 0
    events: int = 0


def _fingerprint(e: LoginEvent) -> str:
    parts = [
        e.ts.isoformat(),
        e.server,
        e.account,
        e.result,
        e.src_ip,
        e.src_port,
        e.session,
        e.reason,
        e.origin,
    ]
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


_ROTATED = re.compile(r"^(?:\.(?P<n>\d{1,4})|-(?P<date>\d{8,10}))(?P<gz>\.gz)?$")


def rotated_family(path: Path) -> list[Path]:
    """The file and its rotated siblings, oldest first: ``x.3.gz, x.2.gz, x.1, x`` or
    ``x-20261113.gz, x-20261120, x`` (logrotate's numbered and ``dateext`` names)."""
    found: list[tuple[tuple[int, str], Path]] = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        names = []
    for name in names:
        if not name.startswith(path.name) or name == path.name:
            continue
        m = _ROTATED.match(name[len(path.name) :])
        if m is None:
            continue
        order = (-int(m.group("n")), "") if m.group("n") else (-(10**9), m.group("date"))
        found.append((order, path.parent / name))
    found.sort(key=lambda item: item[0])
    family = [p for _, p in found]
    if path.exists():
        family.append(path)
    return family


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


class LastLoginStore:
    """``LastLoginStore(path)``: the login table; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LastLoginStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- writing ----------------------------------------------------------------------------
    def add_events(self, events: Iterable[LoginEvent]) -> int:
        """Store events (each once); keep the newest success per account. Returns how many were new."""
        with self._tx() as db:
            return self._insert(db, events)

    @staticmethod
    def _insert(db: sqlite3.Connection, events: Iterable[LoginEvent]) -> int:
        added = 0
        for e in events:
            cursor = db.execute(
                "INSERT OR IGNORE INTO events(fingerprint, ts, server, account, result, src_ip, src_port,"
                " session, reason, origin) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _fingerprint(e),
                    e.ts.timestamp(),
                    e.server,
                    e.account,
                    e.result,
                    e.src_ip,
                    e.src_port,
                    e.session,
                    e.reason[:255],
                    e.origin,
                ),
            )
            added += cursor.rowcount
            if cursor.rowcount and e.result == "success" and e.account:
                LastLoginStore._seen(db, e.server, e.account, e.ts, e.src_ip)
        return added

    @staticmethod
    def _seen(db: sqlite3.Connection, server: str, account: str, ts: datetime, ip: str | None) -> None:
        db.execute(
            "INSERT INTO last_login(server, account, ts, src_ip) VALUES(?, ?, ?, ?) "
            "ON CONFLICT(server, account) DO UPDATE SET ts = excluded.ts, src_ip = excluded.src_ip "
            "WHERE excluded.ts > last_login.ts",
            (server, account, ts.timestamp(), ip),
        )

    def add_live_sessions(self, sessions: Iterable[LiveSession], now: datetime) -> None:
        """A session connected now proves a login at its start (or now, when the start is unknown)."""
        with self._tx() as db:
            for s in sessions:
                self._seen(db, s.server, s.account, s.since or now, s.src_ip)

    def ingest(
        self,
        source: LogSource,
        *,
        root: Path = Path("/"),
        tz: tzinfo = UTC,
        reference: datetime | None = None,
        max_bytes: int = 256 * 1024 * 1024,
    ) -> IngestStats:
        """Read what is new in ``source`` (and its rotated siblings) into the table."""
        stats = IngestStats()
        real = root / source.path.lstrip("/")
        row = self._db.execute("SELECT state FROM parser_state WHERE source = ?", (source.key,)).fetchone()
        try:
            state = json.loads(row[0]) if row else None
        except ValueError:
            state = None  # a damaged state costs the joins in flight, nothing more
        parser = LogParser(source.kind, dict(source.labels), tz, state)
        for path in rotated_family(real):
            if stats.bytes >= max_bytes:
                break
            try:
                self._ingest_file(source, path, parser, reference, stats, max_bytes)
            except (OSError, EOFError, gzip.BadGzipFile, ValueError):
                continue  # unreadable or damaged: the others still count
        self._prune_files(source.key)
        return stats

    def _ingest_file(
        self,
        source: LogSource,
        path: Path,
        parser: LogParser,
        reference: datetime | None,
        stats: IngestStats,
        max_bytes: int,
    ) -> None:
        st = path.stat()
        compressed = path.suffix == ".gz"
        with _open(path) as handle:
            head = handle.read(HEAD_BYTES)
        record = self._match(source.key, st.st_dev, st.st_ino, head, compressed)
        file_id, offset = record if record else (None, 0)
        if not compressed and st.st_size < offset:
            file_id, offset = None, 0  # truncated (copytruncate) or replaced
        stats.files += 1
        with _open(path) as handle:
            _skip(handle, offset)
            pending = b""
            while stats.bytes < max_bytes:
                block = handle.read(BLOCK_BYTES)
                virtual = 0
                if block:
                    data = pending + block
                    cut = data.rfind(b"\n") + 1
                    data, pending = data[:cut], data[cut:]
                    if len(pending) > MAX_LINE:  # a line without end: take it as it is
                        data, pending = data + pending, b""
                elif compressed and pending:  # a finished file: its last line counts
                    data, pending, virtual = pending + b"\n", b"", 1
                else:
                    break
                if not data:
                    continue
                lines = data.decode("utf-8", errors="replace").splitlines()
                events = parser.feed_all(lines, reference)
                offset += len(data) - virtual
                with self._tx() as db:
                    stats.events += self._insert(db, events)
                    file_id = self._save_file(db, source.key, file_id, st, head, offset)
                    db.execute(
                        "INSERT INTO parser_state(source, state) VALUES(?, ?) "
                        "ON CONFLICT(source) DO UPDATE SET state = excluded.state",
                        (source.key, json.dumps(parser.state())),
                    )
                stats.bytes += len(data)
                stats.lines += len(lines)
        if file_id is None:
            with self._tx() as db:
                self._save_file(db, source.key, None, st, head, offset)

    def _match(
        self, source: str, dev: int, ino: int, head: bytes, compressed: bool
    ) -> tuple[int, int] | None:
        rows = self._db.execute(
            "SELECT id, dev, ino, head_len, head_hash, offset FROM files WHERE source = ? ORDER BY id DESC",
            (source,),
        ).fetchall()

        def same_head(length: int, digest: str) -> bool:
            return len(head) >= length and hashlib.sha256(head[:length]).hexdigest() == digest

        if not compressed:
            for file_id, r_dev, r_ino, length, digest, offset in rows:
                if (r_dev, r_ino) == (dev, ino) and same_head(length, digest):
                    return int(file_id), int(offset)
        for file_id, _dev, _ino, length, digest, offset in rows:
            if length >= MIN_HEAD_MATCH and same_head(length, digest):
                return int(file_id), int(offset)
        return None

    @staticmethod
    def _save_file(
        db: sqlite3.Connection, source: str, file_id: int | None, st: os.stat_result, head: bytes, offset: int
    ) -> int:
        digest = hashlib.sha256(head).hexdigest()
        if file_id is None:
            cursor = db.execute(
                "INSERT INTO files(source, dev, ino, head_len, head_hash, offset, seen_at) VALUES(?, ?, ?, ?, ?, ?, ?)",
                (source, st.st_dev, st.st_ino, len(head), digest, offset, time.time()),
            )
            return int(cursor.lastrowid or 0)
        db.execute(
            "UPDATE files SET dev = ?, ino = ?, head_len = ?, head_hash = ?, offset = ?, seen_at = ? WHERE id = ?",
            (st.st_dev, st.st_ino, len(head), digest, offset, time.time(), file_id),
        )
        return file_id

    def _prune_files(self, source: str, keep: int = 64) -> None:
        with self._tx() as db:
            db.execute(
                "DELETE FROM files WHERE source = ? AND id NOT IN "
                "(SELECT id FROM files WHERE source = ? ORDER BY seen_at DESC, id DESC LIMIT ?)",
                (source, source, keep),
            )

    def prune(self, before: datetime) -> int:
        """Drop event rows older than ``before``; last logins stay."""
        with self._tx() as db:
            cursor = db.execute("DELETE FROM events WHERE ts < ?", (before.timestamp(),))
            db.execute("DELETE FROM emitted WHERE at < ?", (before.timestamp(),))
        return cursor.rowcount

    # -- reading ------------------------------------------------------------------------------
    def last_login(self, server: str, account: str) -> datetime | None:
        row = self._db.execute(
            "SELECT ts FROM last_login WHERE server = ? AND account = ?", (server, account)
        ).fetchone()
        return datetime.fromtimestamp(row[0], UTC) if row else None

    def accounts(self, server: str | None = None) -> list[tuple[str, str, datetime]]:
        """Every (server, account, last login) the agent has seen log in, by server and account."""
        rows = self._db.execute(
            "SELECT server, account, ts FROM last_login WHERE (? IS NULL OR server = ?) ORDER BY server, account",
            (server, server),
        ).fetchall()
        return [(r[0], r[1], datetime.fromtimestamp(r[2], UTC)) for r in rows]

    def logins(
        self,
        server: str | None = None,
        account: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        results: Sequence[Result] | None = ("success",),
    ) -> list[LoginEvent]:
        """Stored events in time order (successes by default; ``results=None``: all)."""
        sql = (
            "SELECT ts, server, account, result, src_ip, src_port, session, reason, origin FROM events "
            "WHERE (? IS NULL OR server = ?) AND (? IS NULL OR account = ?) AND ts >= ? AND ts < ?"
        )
        args: list[Any] = [server, server, account, account]
        args += [since.timestamp() if since else float("-inf"), until.timestamp() if until else float("inf")]
        if results is not None:
            sql += f" AND result IN ({','.join('?' * len(results))})"
            args += list(results)
        rows = self._db.execute(sql + " ORDER BY ts, id", args).fetchall()
        return [
            LoginEvent(datetime.fromtimestamp(r[0], UTC), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])
            for r in rows
        ]

    # -- what the analysis already said ----------------------------------------------------------
    def emitted(self, event_ids: Iterable[str]) -> set[str]:
        ids = list(event_ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self._db.execute(
                f"SELECT event_id FROM emitted WHERE event_id IN ({','.join('?' * len(chunk))})",  # noqa: S608 - placeholders
                chunk,
            ).fetchall()
            found.update(r[0] for r in rows)
        return found

    def mark_emitted(self, event_ids: Iterable[str], at: datetime) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO emitted(event_id, at) VALUES(?, ?)",
                [(i, at.timestamp()) for i in event_ids],
            )

    def integrity_ok(self) -> bool:
        return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


def _skip(handle: IO[bytes], offset: int) -> None:
    if offset <= 0:
        return
    try:
        handle.seek(offset)
    except (OSError, ValueError):
        pass
    else:
        if handle.tell() == offset:
            return
    remaining = offset
    while remaining > 0:
        chunk = handle.read(min(remaining, BLOCK_BYTES))
        if not chunk:
            break
        remaining -= len(chunk)
