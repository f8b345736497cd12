"""The agent's service loop: schedule probes, queue snapshots, deliver, follow the config.

One thread does it all, at low priority: read the sections that are due, put a snapshot
in the spool when anything changed (or a heartbeat is due), deliver the queue with
exponential backoff and jitter while the collector is away, ask for a new config now
and then (ETag), and restart itself cleanly if its memory grows past the limit.
"""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.host import NO_WINDOW, HostContext
from agent.runtime.budget import Budget
from agent.runtime.config import RuntimeConfig
from agent.runtime.scheduler import Scheduler
from agent.runtime.shipper import KeyRefused, Shipper
from agent.runtime.spool import Spool
from agent.settings import AgentSettings
from agent.state import StateStore
from agent.transport import Transport, TransportError

__all__ = ["EXIT_KEY_REFUSED", "EXIT_NOT_DELIVERED", "AgentService", "open_spool"]

log = logging.getLogger(__name__)

EXIT_NOT_DELIVERED = 1
EXIT_NOT_ENROLLED = 2
EXIT_KEY_REFUSED = 3
BACKOFF_FIRST = 5.0
BACKOFF_MAX = 900.0


def open_spool(settings: AgentSettings) -> Spool:
    spool = Spool(settings.data_path / "agent.db")
    config = RuntimeConfig.from_dict(spool.get("config"))
    spool.max_bytes = config.spool_max_mb * 1024 * 1024
    return spool


def release_memory() -> None:
    """Give freed memory back to the OS after building a large report (glibc keeps it otherwise)."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def lower_priority() -> None:
    """Run below normal priority so the PC's user never waits for the agent."""
    try:
        if sys.platform == "win32":
            import psutil

            psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)  # type: ignore[attr-defined,unused-ignore]
        else:
            os.nice(10)
    except (OSError, AttributeError, ImportError):
        pass


@dataclass
class AgentService:
    settings: AgentSettings
    stop: threading.Event = field(default_factory=threading.Event)
    ctx: HostContext = field(default_factory=HostContext)
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.store = StateStore(self.settings.data_path)
        self.spool = open_spool(self.settings)
        self.config = RuntimeConfig.from_dict(self.spool.get("config"))
        self.fingerprints: dict[str, str] = {}
        self.transport: Transport | None = None
        self.agent_id: uuid.UUID | None = None
        self.failures = 0
        self.retry_at = 0.0
        self.next_events = 0.0
        self.next_config = 0.0
        self.last_snapshot_at = 0.0
        self.last_hashes: dict[str, str] = {}
        self.key_mtime = 0.0
        self.next_vpn_logs = 0.0

    # -- collection -----------------------------------------------------------------
    def collect(self, sections: list[str], now: float) -> None:
        """Read the due sections in the child process; keep only their fingerprints here."""
        answer = collect_in_child(
            self.settings.data_path,
            sections,
            self.config.sections,
            self.config.probe_timeout_seconds,
            budget=Budget(self.config.probe_memory_mb, self.config.probe_cpu_seconds),
        )
        if answer is None:
            status = self.spool.get("sections_status") or {}
            for name in sections:
                status[name] = {
                    "status": "error",
                    "reason": "the collection process failed (see the log)",
                    "errors": [],
                    "duration_ms": 0,
                    "at": now,
                }
            self.spool.put(sections_status=status)
            return
        self.fingerprints = answer

    def maybe_snapshot(self, now: float) -> bool:
        heartbeat_due = now - self.last_snapshot_at >= self.config.heartbeat_seconds
        if not self.fingerprints or (self.fingerprints == self.last_hashes and not heartbeat_due):
            return False
        if self.spool.snapshot_from_cache(now) is None:
            return False
        self.last_hashes = dict(self.fingerprints)
        self.last_snapshot_at = now
        return True

    def vpn_log_config(self) -> Path:
        from agent.settings import default_config_path

        return default_config_path().with_name("vpn-logs.toml")

    def vpn_logs_due(self, now: float) -> bool:
        """The VPN log reader runs on Linux where the vpn section found a server, or where
        vpn-logs.toml names the logs to read; never more often than ``vpn_logs_seconds``."""
        if sys.platform == "win32" or not self.config.vpn_logs_seconds or now < self.next_vpn_logs:
            return False
        return bool(self.spool.get("vpn_servers")) or self.vpn_log_config().is_file()

    def read_vpn_logs(self, now: float) -> None:
        self.next_vpn_logs = now + self.config.vpn_logs_seconds
        queued = read_vpn_logs_in_child(
            self.settings.data_path,
            self.vpn_log_config(),
            self.config.probe_timeout_seconds,
            Budget(self.config.probe_memory_mb, self.config.probe_cpu_seconds),
        )
        self.spool.put(vpn_logs={"at": now, "ok": queued is not None, "queued": queued or 0})
        if queued:
            log.info("VPN log reader queued %d events", queued)

    # -- delivery ---------------------------------------------------------------------
    def _shipper(self) -> Shipper | None:
        key = self.store.node_key()
        if key is None:
            return None
        if self.transport is None:
            # One TLS context for the life of the process: building one per cycle (it loads
            # the system CA store) made the resident memory grow by 70 kB a second.
            self.transport = Transport(
                self.settings.server_url, ca_bundle=self.settings.ca_bundle, proxy=self.settings.proxy
            )
        if self.agent_id is None:
            self.agent_id = self.store.agent_id()
        return Shipper(self.spool, self.transport, key, self.agent_id)

    def rotate_key(self, shipper: Shipper) -> None:
        """Take the new node key an admin asked for. Saved (atomically, 0600) before it is used;
        a crash in between leaves the old key, which still works, and the next report asks again."""
        key = shipper.rotate_key()
        if key is None:
            return
        self.store.save_node_key(key)
        self._key_changed()
        shipper.node_key = key
        log.info("node key rotated as the collector asked")

    def _key_changed(self) -> bool:
        try:
            mtime = (self.settings.data_path / "node.key").stat().st_mtime
        except OSError:
            return False
        changed = mtime != self.key_mtime
        self.key_mtime = mtime
        return changed

    def ship(self, now: float, *, force: bool = False) -> None:
        """Deliver what is queued; on failure schedule a retry with backoff and jitter."""
        if self.spool.get("key_refused"):
            if not self._key_changed():
                return
            log.info("a new node key is in place; sending again")
            self.spool.put(key_refused=False, last_error="")
        if not force and now < self.retry_at:
            return
        try:
            shipper = self._shipper()
            if shipper is None:
                self.spool.put(last_error="not enrolled: run 'watchpost-agent enroll'")
                return
            if force or now >= self.next_events:
                shipper.deliver_events()
                self.next_events = now + self.config.event_flush_seconds
            if shipper.deliver_snapshots():
                release_memory()
            if shipper.rotate_requested:
                self.rotate_key(shipper)
            ack_etag = self.spool.get("collector_config_etag")
            if force or now >= self.next_config or (ack_etag and ack_etag != self.spool.get("config_etag")):
                if shipper.fetch_config():
                    self.apply_config(now)
                self.next_config = now + self.config.config_poll_seconds
        except KeyRefused as exc:
            self._key_changed()  # remember the refused key's file time: a new key resumes sending
            log.error(
                "the collector refused this agent's key (%s); not sending until it is enrolled again "
                "with 'watchpost-agent enroll'",
                exc,
            )
            self.spool.put(key_refused=True, last_error=f"node key refused: {exc}")
        except TransportError as exc:
            self.failures += 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(self.failures - 1, 10))
            delay = delay / 2 + self.rng.uniform(0, delay / 2)
            if exc.retry_after:
                delay = max(delay, min(exc.retry_after, 3600.0))
            self.retry_at = now + delay
            log.warning(
                "delivery failed (%s); %d queued, retrying in %.0f s",
                exc,
                self.spool.depth()["snapshots"] + self.spool.depth()["events"],
                delay,
            )
            self.spool.put(last_error=str(exc)[:500])
        except Exception as exc:
            self.failures += 1
            self.retry_at = now + min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(self.failures - 1, 10))
            log.exception("delivery failed unexpectedly; retrying later")
            self.spool.put(last_error=f"{type(exc).__name__}: {exc}"[:500])
        else:
            self.failures = 0
            self.retry_at = 0.0

    def apply_config(self, now: float) -> None:
        self.config = RuntimeConfig.from_dict(self.spool.get("config"))
        self.spool.max_bytes = self.config.spool_max_mb * 1024 * 1024
        self.scheduler.reconfigure(self.config, now)
        log.info("new configuration applied (etag %s)", self.spool.get("config_etag"))

    # -- housekeeping -------------------------------------------------------------------
    def memory_ok(self) -> bool:
        import psutil

        rss = psutil.Process().memory_info().rss
        if rss <= self.config.memory_limit_mb * 1024 * 1024:
            return True
        log.warning(
            "resident memory %.0f MB over the %d MB limit; restarting",
            rss / 2**20,
            self.config.memory_limit_mb,
        )
        return False

    def run(self, *, once: bool = False) -> int:
        if self.store.node_key() is None:
            log.error("not enrolled: run 'watchpost-agent enroll' first")
            return EXIT_NOT_ENROLLED
        lower_priority()
        now = time.time()
        self.scheduler = Scheduler(self.config, now, self.rng)
        self._key_changed()
        while not self.stop.is_set():
            now = time.time()
            due = self.scheduler.due(now)
            if due:
                self.collect(due, now)
                self.scheduler.ran(due, now)
                self.maybe_snapshot(now)
            if self.vpn_logs_due(now):
                self.read_vpn_logs(now)
            self.ship(now, force=once)
            if once:
                depth = self.spool.depth()
                if self.spool.get("key_refused"):
                    return EXIT_KEY_REFUSED
                return EXIT_NOT_DELIVERED if depth["snapshots"] or depth["events"] else 0
            if not self.memory_ok():
                self.spool.close()
                return restart_self()
            wake = min(
                self.scheduler.next_time(),
                self.next_vpn_logs if self.next_vpn_logs > now else float("inf"),
                now + self.config.event_flush_seconds,
                self.retry_at if self.retry_at > now else float("inf"),
            )
            self.stop.wait(max(1.0, min(wake - time.time(), 60.0)))
        self.spool.close()
        return 0


def _worker_argv(command: str = "collect-sections") -> list[str]:
    if getattr(sys, "frozen", False):  # a self-contained bundle: the executable is the agent
        return [sys.executable, command]
    return [sys.executable, "-m", "agent.cli", command]


def read_vpn_logs_in_child(data_dir: Path, log_config: Path, timeout: int, budget: Budget) -> int | None:
    """Run the VPN log reader (agent/vpn/runner.py) in a short-lived child; it queues its findings
    in the spool itself. Returns how many it queued, None when it failed (logged)."""
    argv = [
        *_worker_argv("vpn-logs"),
        "--data-dir",
        str(data_dir),
        "--log-config",
        str(log_config),
        "--memory-mb",
        str(budget.memory_mb),
        "--cpu-seconds",
        str(budget.cpu_seconds),
    ]
    try:
        done = subprocess.run(
            argv, capture_output=True, timeout=timeout, check=False, creationflags=NO_WINDOW
        )
        if done.returncode != 0:
            raise RuntimeError(
                done.stderr.decode("utf-8", "replace").strip()[-500:] or f"exit {done.returncode}"
            )
        answer = json.loads(done.stdout)
        return int(answer["queued"])
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError, RuntimeError) as exc:
        log.error("VPN log reader failed: %s", exc)
        return None


def collect_in_child(
    data_dir: Path,
    sections: list[str],
    enabled: Sequence[str],
    probe_timeout: int,
    budget: Budget | None = None,
) -> dict[str, str] | None:
    """Run the probes in a short-lived child process (agent/runtime/collection.py).

    The child writes the results into the spool's section cache and answers with each
    section's fingerprint. A probe that hangs is really stopped: the child is killed. The
    child runs under a memory and CPU budget (POSIX rlimits, inherited by the commands it runs).
    """
    budget = budget or Budget()
    wall = probe_timeout * len(sections) + 30
    argv = [
        *_worker_argv(),
        "--data-dir",
        str(data_dir),
        "--timeout",
        str(probe_timeout),
        "--memory-mb",
        str(budget.memory_mb),
        "--cpu-seconds",
        str(budget.cpu_seconds),
        "--enabled",
        ",".join(enabled),
        *sections,
    ]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=wall, check=False, creationflags=NO_WINDOW)
        if done.returncode == -getattr(signal, "SIGXCPU", 24):
            raise RuntimeError(
                f"the probes used up their CPU budget ({budget.cpu_seconds} s) and were stopped"
            )
        if done.returncode != 0:
            raise RuntimeError(
                done.stderr.decode("utf-8", "replace").strip()[-500:] or f"exit {done.returncode}"
            )
        answer = json.loads(done.stdout)
        if not isinstance(answer, dict):
            raise RuntimeError("the collection process gave no answer")
    except (OSError, subprocess.TimeoutExpired, ValueError, RuntimeError) as exc:
        log.error("collection process failed: %s", exc)
        return None
    return {str(k): str(v) for k, v in answer.items()}


def restart_self() -> int:
    """Replace this process with a fresh one (POSIX); elsewhere exit for the service manager."""
    if sys.platform != "win32":
        argv = [sys.executable, "-m", "agent.cli", *sys.argv[1:]]
        os.execv(sys.executable, argv)  # noqa: S606 - same interpreter, same arguments
    return 75  # EX_TEMPFAIL: the Windows service restarts us
