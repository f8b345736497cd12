"""The agent's durable queue and state: one SQLite database in WAL mode.

What it holds:
- ``snapshots``: inventory scans waiting to be delivered, oldest first. A snapshot keeps
  every section's result; the report (full or delta) is built from it at delivery time
  against what the collector last acknowledged, and kept with its id so that a retry
  sends the very same report (the collector stores a report id once).
- ``events``: monitor events waiting to be delivered, oldest first, unique by event id.
  Other processes of the agent (monitors) may add events concurrently.
- ``dead``: what the collector refused as invalid (422), kept for the admin, never retried.
- ``kv``: the agent's state (acknowledged section hashes, last full report, config,
  counters of anything coalesced or dropped).

A record leaves the queue only in the same transaction that records the collector's
acknowledgement, with ``synchronous=FULL``: after ``kill -9`` or a power cut the queue
opens clean, nothing acknowledged is sent again as new, nothing unacknowledged is lost.

The queue is bounded (``max_bytes``). When the bound is hit, undelivered snapshots are
coalesced first (only the newest is kept: it carries the full current state), then the
oldest events are dropped; both are counted and the counts are reported to the collector.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["QueuedEvent", "Snapshot", "Spool"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collected_at REAL NOT NULL,
    sections BLOB NOT NULL,
    size INTEGER NOT NULL,
    report_id TEXT,
    report BLOB,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dead (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    error TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS section_cache (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sections BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Snapshot:
    id: int
    collected_at: float
    sections: dict[str, dict[str, Any]]
    report_id: str | None
    report: bytes | None
    attempts: int


@dataclass(frozen=True)
class QueuedEvent:
    id: int
    event: dict[str, Any]


def _pack(value: Any) -> bytes:
    return gzip.compress(json.dumps(value, separators=(",", ":")).encode("utf-8"), compresslevel=6)


def _unpack(blob: bytes) -> Any:
    return json.loads(gzip.decompress(blob))


class Spool:
    def __init__(self, path: Path, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- state -----------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, **values: Any) -> None:
        with self._tx() as db:
            self._put(db, values)

    @staticmethod
    def _put(db: sqlite3.Connection, values: dict[str, Any]) -> None:
        db.executemany(
            "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, json.dumps(v)) for k, v in values.items()],
        )

    def bump(self, db: sqlite3.Connection, counter: str, by: int) -> None:
        current = db.execute("SELECT value FROM kv WHERE key = ?", (counter,)).fetchone()
        self._put(db, {counter: (json.loads(current[0]) if current else 0) + by})

    # -- snapshots ---------------------------------------------------------------
    def put_snapshot(self, sections: dict[str, dict[str, Any]], collected_at: float | None = None) -> int:
        blob = _pack(sections)
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO snapshots(collected_at, sections, size) VALUES(?, ?, ?)",
                (collected_at or time.time(), blob, len(blob)),
            )
            self._enforce_bound(db)
        return int(cursor.lastrowid or 0)

    def section_cache(self) -> dict[str, dict[str, Any]]:
        """The latest result of every section (written by the collection child process)."""
        row = self._db.execute("SELECT sections FROM section_cache WHERE id = 1").fetchone()
        return _unpack(row[0]) if row else {}

    def set_section_cache(self, sections: dict[str, dict[str, Any]], **state: Any) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO section_cache(id, sections) VALUES(1, ?) "
                "ON CONFLICT(id) DO UPDATE SET sections = excluded.sections",
                (_pack(sections),),
            )
            if state:
                self._put(db, state)

    def snapshot_from_cache(self, collected_at: float) -> int | None:
        """Queue the cached sections as a snapshot without decompressing them here."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO snapshots(collected_at, sections, size) "
                "SELECT ?, sections, length(sections) FROM section_cache WHERE id = 1",
                (collected_at,),
            )
            if not cursor.rowcount:
                return None
            self._enforce_bound(db)
        return int(cursor.lastrowid or 0)

    def next_snapshot(self) -> Snapshot | None:
        row = self._db.execute(
            "SELECT id, collected_at, sections, report_id, report, attempts FROM snapshots ORDER BY id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return Snapshot(row[0], row[1], _unpack(row[2]), row[3], row[4], row[5])

    def latest_sections(self) -> dict[str, dict[str, Any]] | None:
        row = self._db.execute("SELECT sections FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()
        return _unpack(row[0]) if row else None

    def set_report(self, snapshot_id: int, report_id: str, report: bytes) -> None:
        """Remember the report built for a snapshot, so a retry sends exactly the same one."""
        with self._tx() as db:
            db.execute(
                "UPDATE snapshots SET report_id = ?, report = ?, attempts = attempts + 1 WHERE id = ?",
                (report_id, report, snapshot_id),
            )

    def count_attempt(self, snapshot_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE snapshots SET attempts = attempts + 1 WHERE id = ?", (snapshot_id,))

    def complete_snapshot(self, snapshot_id: int, **state: Any) -> None:
        """The collector acknowledged it: record the new state and drop it, in one transaction."""
        with self._tx() as db:
            self._put(db, state)
            db.execute("DELETE FROM snapshots WHERE id = ?", (snapshot_id,))

    def bury_snapshot(self, snapshot_id: int, error: str) -> None:
        """The collector refused it as invalid: keep it aside for the admin, never retry it."""
        with self._tx() as db:
            row = db.execute("SELECT report, sections FROM snapshots WHERE id = ?", (snapshot_id,)).fetchone()
            if row is not None:
                db.execute(
                    "INSERT INTO dead(kind, body, error, at) VALUES('report', ?, ?, ?)",
                    (row[0] or row[1], error[:2000], time.time()),
                )
                db.execute("DELETE FROM snapshots WHERE id = ?", (snapshot_id,))

    # -- events --------------------------------------------------------------------
    def put_events(self, events: Sequence[dict[str, Any]]) -> int:
        """Queue events (wire.Event-shaped dicts). A known event id is ignored. Returns how many were new."""
        rows = [(str(e["event_id"]), blob, len(blob), time.time()) for e in events for blob in [_pack(e)]]
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO events(event_id, body, size, created_at) VALUES(?, ?, ?, ?)", rows
            )
            added = db.total_changes - before
            self._enforce_bound(db)
        return added

    def next_events(self, limit: int) -> list[QueuedEvent]:
        rows = self._db.execute("SELECT id, body FROM events ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [QueuedEvent(row[0], _unpack(row[1])) for row in rows]

    def complete_events(self, ids: Sequence[int], **state: Any) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in ids])
            if state:
                self._put(db, state)

    def bury_events(self, ids: Sequence[int], error: str) -> None:
        with self._tx() as db:
            for event_id in ids:
                row = db.execute("SELECT body FROM events WHERE id = ?", (event_id,)).fetchone()
                if row is not None:
                    db.execute(
                        "INSERT INTO dead(kind, body, error, at) VALUES('event', ?, ?, ?)",
                        (row[0], error[:2000], time.time()),
                    )
            db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in ids])

    # -- accounting --------------------------------------------------------------------
    def depth(self) -> dict[str, int]:
        snapshots, snapshot_bytes = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM snapshots"
        ).fetchone()
        events, event_bytes = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM events"
        ).fetchone()
        dead = self._db.execute("SELECT COUNT(*) FROM dead").fetchone()[0]
        return {
            "snapshots": snapshots,
            "events": events,
            "bytes": snapshot_bytes + event_bytes,
            "dead": dead,
        }

    def _enforce_bound(self, db: sqlite3.Connection) -> None:
        total = db.execute(
            "SELECT (SELECT COALESCE(SUM(size), 0) FROM snapshots) + (SELECT COALESCE(SUM(size), 0) FROM events)"
        ).fetchone()[0]
        if total <= self.max_bytes:
            return
        newest = db.execute("SELECT MAX(id) FROM snapshots").fetchone()[0]
        if newest is not None:
            freed, removed = db.execute(
                "SELECT COALESCE(SUM(size), 0), COUNT(*) FROM snapshots WHERE id < ?", (newest,)
            ).fetchone()
            if removed:
                db.execute("DELETE FROM snapshots WHERE id < ?", (newest,))
                self.bump(db, "coalesced_snapshots", removed)
                total -= freed
        if total <= self.max_bytes:
            return
        dropped = 0
        for event_id, size in db.execute("SELECT id, size FROM events ORDER BY id").fetchall():
            if total <= self.max_bytes:
                break
            db.execute("DELETE FROM events WHERE id = ?", (event_id,))
            total -= size
            dropped += 1
        if dropped:
            self.bump(db, "dropped_events", dropped)
