"""One delivery cycle and the periodic loop around it.

A cycle scans, builds a full or delta report against what the collector last
acknowledged, sends it, and on acknowledgement records the new state. When the
collector says its base differs (HTTP 409 ``base_mismatch``) the cycle sends a full
report at once. (The durable spool that keeps reports across outages and restarts
is the runtime issue's work; until then a failed delivery is retried next cycle
with a fresh scan.)
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

from agent.host import HostContext
from agent.scan import build_report, scan_sections, section_hashes
from agent.settings import AgentSettings
from agent.state import StateStore
from agent.transport import Transport, TransportError
from wire import AgentConfig, Report, ReportAck

__all__ = ["Delivery", "deliver_once", "prepare_report", "run_loop"]

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    report: Report
    ack: ReportAck


def _config(store: StateStore) -> AgentConfig:
    try:
        return AgentConfig.model_validate(store.load().config or {})
    except ValueError:
        return AgentConfig()


def prepare_report(store: StateStore, ctx: HostContext, *, force_full: bool = False) -> Report:
    """The report the next delivery would send (what ``scan --json`` prints)."""
    state = store.load()
    config = _config(store)
    sections = scan_sections(ctx, config.sections)
    due_full = time.time() - state.last_full_at > config.full_report_hours * 3600
    return build_report(
        store.agent_id(), sections, acked=state.acked_sections, force_full=force_full or due_full
    )


def _send(transport: Transport, key: str, report: Report) -> ReportAck:
    body = report.model_dump_json(exclude_none=False).encode("utf-8")
    return ReportAck.model_validate(transport.request("POST", "/api/v1/reports", body, node_key=key))


def deliver_once(settings: AgentSettings, ctx: HostContext | None = None) -> Delivery:
    """Scan, send, record. Raises TransportError when the collector did not take it."""
    store = StateStore(settings.data_path)
    key = store.node_key()
    if key is None:
        raise TransportError(0, "not_enrolled", "no node key: run 'watchpost-agent enroll' first")
    ctx = ctx or HostContext()
    transport = Transport(settings.server_url, ca_bundle=settings.ca_bundle)
    report = prepare_report(store, ctx)
    try:
        try:
            ack = _send(transport, key, report)
        except TransportError as exc:
            if exc.status != 409 or exc.code != "base_mismatch":
                raise
            log.info("collector holds a different base state; sending a full report")
            report = prepare_report(store, ctx, force_full=True)
            ack = _send(transport, key, report)
    except TransportError as exc:
        _record_error(store, str(exc))
        raise
    state = store.load()
    sections = {name: result.model_dump(mode="json") for name, result in report.sections.present().items()}
    acked = {} if report.kind == "full" else dict(state.acked_sections or {})
    acked.update(section_hashes(sections))
    state.acked_sections = acked
    if report.kind == "full":
        state.last_full_at = time.time()
    state.last_delivery_at = time.time()
    state.last_error = ""
    store.save(state)
    if ack.state_hash != report.state_hash:
        log.warning("collector state differs after ingest; next report will be full")
        state.acked_sections = None
        store.save(state)
    return Delivery(report, ack)


def _record_error(store: StateStore, message: str) -> None:
    state = store.load()
    state.last_error = message[:500]
    store.save(state)


def run_loop(settings: AgentSettings, stop: threading.Event, *, once: bool = False) -> int:
    """Deliver at the configured interval until ``stop`` is set. Returns an exit code."""
    store = StateStore(settings.data_path)
    failures = 0
    while not stop.is_set():
        try:
            delivery = deliver_once(settings)
        except TransportError as exc:
            failures += 1
            log.warning("delivery failed: %s", exc)
            if exc.status in (401, 403):
                log.error("the collector refused this agent's key; re-enroll to continue")
                return 3
            if once:
                return 1
            delay = exc.retry_after or min(60 * 2 ** min(failures, 6), 3600)
        else:
            failures = 0
            log.info(
                "delivered %s report %s (%d sections)",
                delivery.report.kind,
                delivery.report.report_id,
                len(delivery.report.sections.present()),
            )
            if once:
                return 0
            config = _config(store)
            delay = config.report_interval_seconds
            delay += random.uniform(0, config.jitter_seconds)  # noqa: S311 - spreading load only
        stop.wait(delay)
    return 0
