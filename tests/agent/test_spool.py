"""The agent's durable queue (agent runtime): ordered, acknowledged-only removal, bounded with
counted coalescing and dropping, safe for several writer processes and for kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from agent.runtime.spool import Spool


def _event(n: int) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-11-27T08:00:00Z",
        "kind": "log.test",
        "severity": "info",
        "source": "test",
        "summary": f"event {n}",
        "data": {"n": n},
    }


def test_snapshots_leave_only_when_acknowledged_and_survive_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "agent.db")
    first = spool.put_snapshot({"os": {"status": "ok", "n": 1}})
    spool.put_snapshot({"os": {"status": "ok", "n": 2}})
    head = spool.next_snapshot()
    assert head is not None and head.id == first and head.sections["os"]["n"] == 1
    spool.set_report(head.id, "r-1", b"{}")
    spool.close()

    reopened = Spool(tmp_path / "agent.db")
    head = reopened.next_snapshot()
    assert head is not None and head.id == first and head.report_id == "r-1" and head.report == b"{}"
    reopened.complete_snapshot(head.id, acked_sections={"os": "h1"})
    assert reopened.get("acked_sections") == {"os": "h1"}
    nxt = reopened.next_snapshot()
    assert nxt is not None and nxt.sections["os"]["n"] == 2


def test_events_are_ordered_unique_and_removed_on_ack(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "agent.db")
    events = [_event(n) for n in range(10)]
    assert spool.put_events(events) == 10
    assert spool.put_events(events[:3]) == 0  # a retried write of the same ids adds nothing
    batch = spool.next_events(4)
    assert [q.event["data"]["n"] for q in batch] == [0, 1, 2, 3]
    spool.complete_events([q.id for q in batch])
    assert [q.event["data"]["n"] for q in spool.next_events(100)] == list(range(4, 10))


def test_bound_coalesces_snapshots_before_dropping_events(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "agent.db", max_bytes=6000)
    noise = os.urandom(3000).hex()  # hardly compressible
    for n in range(3):
        spool.put_snapshot({"os": {"n": n, "blob": noise}})
    depth = spool.depth()
    assert depth["snapshots"] == 1 and spool.get("coalesced_snapshots") == 2
    head = spool.next_snapshot()
    assert head is not None and head.sections["os"]["n"] == 2  # the newest state is kept
    assert spool.get("dropped_events", 0) == 0
    spool.put_events([{**_event(n), "summary": os.urandom(400).hex()} for n in range(10)])
    assert spool.depth()["bytes"] <= 6000
    dropped = spool.get("dropped_events")
    assert dropped > 0 and spool.depth()["events"] == 10 - dropped
    # the oldest went first
    assert spool.next_events(1)[0].event["data"]["n"] == dropped


def test_buried_items_are_kept_aside(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "agent.db")
    snap = spool.put_snapshot({"os": {}})
    spool.bury_snapshot(snap, "422 invalid_report")
    spool.put_events([_event(1)])
    spool.bury_events([q.id for q in spool.next_events(10)], "422")
    assert spool.depth() == {"snapshots": 0, "events": 0, "bytes": 0, "dead": 2}


WRITER = """
import sys, uuid
from pathlib import Path
from agent.runtime.spool import Spool
spool = Spool(Path(sys.argv[1]))
n = 0
while True:
    batch = [{"event_id": str(uuid.uuid4()), "occurred_at": "2026-11-27T08:00:00Z", "kind": "log.test",
              "severity": "info", "source": "w", "summary": "x" * 200, "data": {"n": n + i}} for i in range(20)]
    spool.put_events(batch)
    for e in batch:
        print(e["event_id"], flush=True)
    n += 20
"""


def test_kill_9_during_writes_loses_nothing_committed_and_leaves_no_corruption(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    committed: set[str] = set()
    for round_ in range(5):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        time.sleep(0.4 + 0.1 * round_)
        writer.send_signal(signal.SIGKILL)
        out, _ = writer.communicate()
        committed.update(line.strip() for line in out.splitlines() if len(line.strip()) == 36)
    assert len(committed) > 100
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    spool = Spool(db)
    stored = {q.event["event_id"] for q in spool.next_events(1_000_000)}
    # every id printed after its commit is there; a batch killed mid-write is all or nothing
    assert committed <= stored
    assert len(stored) - len(committed) < 20 * 5


def test_two_processes_write_events_at_once(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    Spool(db).close()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for _ in range(2)
    ]
    time.sleep(1.5)
    printed: set[str] = set()
    for writer in writers:
        writer.send_signal(signal.SIGKILL)
        out, _ = writer.communicate()
        printed.update(line.strip() for line in out.splitlines() if len(line.strip()) == 36)
    stored = {q.event["event_id"] for q in Spool(db).next_events(1_000_000)}
    assert printed <= stored and len(printed) > 40
