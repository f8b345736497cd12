"""Delivery of the queue to the collector: snapshots as reports, events in batches, config.

Reports are built from the oldest queued snapshot against the section hashes the
collector last acknowledged, so each delivered report is a delta on exactly the state
the collector holds. A 409 ``base_mismatch`` turns it into a full report at once. The
collector's refusal of a report or batch as invalid (422) buries it (kept aside in the
spool, counted in the status) instead of blocking the queue forever.

Plain dicts and JSON only: this runs in the resident process, which keeps pydantic out
of its memory (agent/report.py builds the envelope; the collector validates it).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent.report import report_dict
from agent.runtime.config import RuntimeConfig
from agent.runtime.spool import Spool
from agent.transport import Transport, TransportError
from wire.hashing import content_hash

__all__ = ["KeyRefused", "Shipper", "config_etag_of"]

log = logging.getLogger(__name__)

EVENT_BATCH = 500
_HEX64 = frozenset("0123456789abcdef")


class KeyRefused(Exception):
    """The collector refused this agent's node key (revoked or unknown): stop sending."""


_KEY_SHAPE = re.compile(r"[A-Za-z0-9_.~-]{16,256}")


def config_etag_of(config: dict[str, Any]) -> str:
    """The ETag of a served configuration (equals wire.config_etag of the validated model)."""
    return content_hash(config)[:32]


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX64


def _check_ack(answer: object) -> dict[str, Any]:
    """The collector's ReportAck, checked for the fields this agent relies on."""
    if (
        isinstance(answer, dict)
        and _is_hash(answer.get("state_hash"))
        and isinstance(answer.get("section_hashes", {}), dict)
        and all(isinstance(k, str) and _is_hash(v) for k, v in answer.get("section_hashes", {}).items())
    ):
        return answer
    raise TransportError(0, "bad_response", "the collector's acknowledgement is not a ReportAck")


@dataclass
class Shipper:
    spool: Spool
    transport: Transport
    node_key: str
    agent_id: uuid.UUID
    #: The collector asked for a new node key in a report acknowledgement.
    rotate_requested: bool = False

    # -- reports -----------------------------------------------------------------
    def _build(
        self, sections: dict[str, dict[str, Any]], collected_at: float, *, full: bool
    ) -> dict[str, Any]:
        config = RuntimeConfig.from_dict(self.spool.get("config"))
        acked = self.spool.get("acked_sections")
        due_full = time.time() - float(self.spool.get("last_full_at", 0.0)) > config.full_report_hours * 3600
        return report_dict(
            self.agent_id, sections, acked=acked, force_full=full or due_full, collected_at=collected_at
        )

    def _post(self, path: str, body: bytes) -> Any:
        try:
            return self.transport.request("POST", path, body, node_key=self.node_key)
        except TransportError as exc:
            if exc.status in (401, 403) and exc.code in {
                "invalid_node_key",
                "missing_node_key",
                "host_retired",
            }:
                raise KeyRefused(exc.detail) from exc
            raise

    def _store(self, snapshot_id: int, report: dict[str, Any]) -> bytes:
        body = json.dumps(report, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        self.spool.set_report(snapshot_id, str(report["report_id"]), body)
        return body

    def deliver_snapshots(self) -> int:
        """Send queued snapshots in order until the queue is empty. Returns how many were delivered."""
        delivered = 0
        while (snapshot := self.spool.next_snapshot()) is not None:
            if snapshot.report is None:
                report = self._build(snapshot.sections, snapshot.collected_at, full=False)
                body = self._store(snapshot.id, report)
            else:
                self.spool.count_attempt(snapshot.id)
                body = snapshot.report
                report = json.loads(body)
            try:
                ack = _check_ack(self._post("/api/v1/reports", body))
            except TransportError as exc:
                if exc.status == 409 and exc.code == "base_mismatch":
                    log.info("collector holds a different base state; sending a full report")
                    self._store(snapshot.id, self._build(snapshot.sections, snapshot.collected_at, full=True))
                    continue
                if exc.status in (400, 413, 422):
                    log.error("collector refused report %s as invalid: %s", report.get("report_id"), exc)
                    self.spool.bury_snapshot(snapshot.id, str(exc))
                    continue
                raise
            self._acknowledge(snapshot.id, report, ack)
            delivered += 1
            log.info(
                "delivered %s report %s (%d sections)",
                report["kind"],
                report["report_id"],
                len(report["sections"]),
            )
        return delivered

    def _acknowledge(self, snapshot_id: int, report: dict[str, Any], ack: dict[str, Any]) -> None:
        # The collector says which sections it holds and their hashes: the next delta builds on
        # exactly that, whatever this agent believed (a failing probe, a restored database).
        now = time.time()
        state: dict[str, Any] = {
            "acked_sections": dict(ack.get("section_hashes", {})),
            "last_delivery_at": now,
            "last_error": "",
            "collector_config_etag": str(ack.get("config_etag", "")),
        }
        if report["kind"] == "full":
            state["last_full_at"] = now
        if ack.get("rotate_node_key") is True:
            self.rotate_requested = True
        if ack.get("state_hash") != report.get("state_hash"):
            log.info("collector state differs from this agent's view; adopting the collector's")
        self.spool.complete_snapshot(snapshot_id, **state)

    def rotate_key(self) -> str | None:
        """Fetch the new node key an admin asked for (the current key stays valid until the new
        one is used). None when the collector no longer wants a rotation."""
        try:
            answer = self._post("/api/v1/node-key", b"{}")
        except TransportError as exc:
            if exc.status == 409:
                return None
            raise
        key = answer.get("node_key") if isinstance(answer, dict) else None
        if not isinstance(key, str) or not _KEY_SHAPE.fullmatch(key):
            raise TransportError(0, "bad_response", "the collector's node-key answer holds no key")
        return key

    # -- events ------------------------------------------------------------------
    def deliver_events(self) -> int:
        delivered = 0
        self._report_losses()
        while batch := self.spool.next_events(EVENT_BATCH):
            body = json.dumps(
                {"agent_id": str(self.agent_id), "events": [q.event for q in batch]},
                separators=(",", ":"),
                ensure_ascii=False,
            ).encode("utf-8")
            try:
                answer = self._post("/api/v1/events", body)
            except TransportError as exc:
                if exc.status in (400, 413, 422):
                    log.error("collector refused an event batch as invalid: %s", exc)
                    self.spool.bury_events([q.id for q in batch], str(exc))
                    continue
                raise
            if not isinstance(answer, dict) or not isinstance(answer.get("stored"), int):
                raise TransportError(0, "bad_response", "the collector's answer is not an EventAck")
            self.spool.complete_events([q.id for q in batch], last_delivery_at=time.time())
            delivered += len(batch)
        return delivered

    def _report_losses(self) -> None:
        """Queue an event saying what the bound made us coalesce or drop (never a silent loss)."""
        counts = {k: int(self.spool.get(k, 0)) for k in ("coalesced_snapshots", "dropped_events")}
        reported = self.spool.get("reported_losses") or {}
        if all(counts[k] <= int(reported.get(k, 0)) for k in counts):
            return
        self.spool.put_events(
            [
                {
                    "event_id": str(uuid.uuid4()),
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "kind": "agent.spool_overflow",
                    "severity": "medium",
                    "source": "agent:spool",
                    "summary": (
                        f"queue bound reached: {counts['coalesced_snapshots']} inventory snapshots coalesced, "
                        f"{counts['dropped_events']} events dropped in total"
                    ),
                    "data": counts,
                }
            ]
        )
        self.spool.put(reported_losses=counts)

    # -- config ------------------------------------------------------------------
    def fetch_config(self) -> bool:
        """Ask for the config (If-None-Match). Returns True when a new one was applied."""
        etag = self.spool.get("config_etag")
        try:
            answer = self.transport.request("GET", "/api/v1/config", node_key=self.node_key, etag=etag)
        except TransportError as exc:
            if exc.status in (401, 403):
                raise KeyRefused(exc.detail) from exc
            raise
        if answer is None:  # 304 Not Modified
            return False
        if not isinstance(answer, dict):
            raise TransportError(0, "bad_response", "the collector's configuration is not an object")
        self.spool.put(config=answer, config_etag=config_etag_of(answer))
        return True
