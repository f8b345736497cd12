"""The syslog receiver for VPN appliances (issue 6: A9-T2.3, A9-T1, A9-M3.4).

An asyncio server on UDP and TCP (``watchpost-collector syslog``):

* UDP: one datagram is one message (at most ``max_message`` bytes are kept, 8 KiB by default;
  longer ones are cut and counted as ``oversize``);
* TCP: RFC 6587 octet counting (``123 <34>1 ...``) and LF framing (a line per message, a trailing
  CR dropped), told apart per message by its first byte; a message longer than ``max_message``
  is skipped (counted); at most ``max_connections`` connections (more are closed at once), and a
  connection idle for ``idle_timeout`` seconds is closed.

Messages are queued (bounded; when full, new ones are dropped and counted) and handed in
batches (every ``batch_seconds`` or ``batch_lines`` messages) to a single worker thread that
calls :func:`collector.services.vpn_logins.ingest_lines` per sender; a sender's batch that
fails is rolled back and tried once more, then one message at a time, and only the messages
that still fail are counted as ``errors``. ``stop()`` closes the
listeners and connections, then ingests what is queued. The counters (``stats``) are written
as JSON to ``stats_file`` (when given) every few seconds, for the page ``/vpn/syslog``; no
message text is ever logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from collector.services.syslog_parse import SHANGHAI
from collector.services.vpn_logins import AnalysisConfig, SyslogStats, ingest_lines
from collector.settings import Settings

__all__ = ["SyslogReceiver", "parse_listen", "read_stats", "run_receiver"]

log = logging.getLogger(__name__)
Batch = list[tuple[str, bytes]]


def parse_listen(text: str, default_port: int = 5514) -> tuple[str, int] | None:
    """``HOST:PORT``, ``[v6]:PORT``, ``HOST`` or ``:PORT``; ``off`` / empty: None."""
    text = text.strip()
    if text.lower() in ("", "off", "none"):
        return None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or str(default_port)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, str(default_port)
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return host or "0.0.0.0", int(port)  # noqa: S104 - ":514" means every address, as written


def read_stats(path: Path) -> dict[str, Any] | None:
    """The counters a receiver last wrote, or None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, receiver: SyslogReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) > self.receiver.max_message:
            self.receiver.stats.add(oversize=1)
            data = data[: self.receiver.max_message]
        self.receiver.put(str(addr[0]), data)


class SyslogReceiver:
    """Receive syslog on UDP and/or TCP and feed the appliances' logins to the database."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        udp: tuple[str, int] | None = ("127.0.0.1", 5514),
        tcp: tuple[str, int] | None = ("127.0.0.1", 5514),
        tz: tzinfo = SHANGHAI,
        batch_lines: int = 500,
        batch_seconds: float = 1.0,
        max_message: int = 8192,
        max_connections: int = 256,
        idle_timeout: float = 300.0,
        queue_size: int = 20_000,
        stats_file: Path | None = None,
        config: AnalysisConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.udp, self.tcp = udp, tcp
        self.tz = tz
        self.batch_lines, self.batch_seconds = batch_lines, batch_seconds
        self.max_message, self.max_connections, self.idle_timeout = max_message, max_connections, idle_timeout
        self.stats = SyslogStats()
        self.stats_file = stats_file
        self.config = config or AnalysisConfig()
        self.clock = clock
        self.udp_port: int | None = None
        self.tcp_port: int | None = None
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(queue_size)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="syslog-ingest")
        self._transport: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._stopping = False

    # -- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.udp:
            transport, _protocol = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=self.udp
            )
            self._transport = transport
            self.udp_port = int(transport.get_extra_info("sockname")[1])
        if self.tcp:
            self._server = await asyncio.start_server(
                self._connection, self.tcp[0], self.tcp[1], limit=self.max_message + 64
            )
            self.tcp_port = int(self._server.sockets[0].getsockname()[1])
        self._flusher = asyncio.create_task(self._flush_loop())
        log.info(
            "syslog receiver listening: udp %s, tcp %s",
            self.udp and (self.udp[0], self.udp_port),
            self.tcp and (self.tcp[0], self.tcp_port),
        )

    async def stop(self) -> None:
        """Stop listening, close connections, ingest what is queued, write the counters."""
        self._stopping = True
        if self._transport is not None:
            self._transport.close()
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        if self._flusher is not None:
            await self._flusher
        self._executor.shutdown(wait=True)
        self._write_stats()
        log.info("syslog receiver stopped: %s", json.dumps(self.stats.snapshot()))

    # -- input ------------------------------------------------------------------------------
    def put(self, sender: str, data: bytes) -> None:
        if self._stopping:
            return
        self.stats.add(received=1)
        self.stats.last_received_at = self.clock()
        try:
            self._queue.put_nowait((sender, data))
        except asyncio.QueueFull:
            self.stats.add(dropped=1, processed=1)

    async def _read(self, reader: asyncio.StreamReader, count: int) -> bytes:
        return await asyncio.wait_for(reader.readexactly(count), self.idle_timeout)

    async def _frame(self, reader: asyncio.StreamReader) -> bytes | None:
        """The next message of a TCP stream (None at its end); oversize ones come back empty."""
        first = await self._read(reader, 1)
        if first.isdigit():  # octet counting: MSG-LEN SP SYSLOG-MSG
            digits = first
            while len(digits) <= 6:
                char = await self._read(reader, 1)
                if char == b" ":
                    break
                if not char.isdigit():  # not a length after all: a line that starts with digits
                    return await self._line(reader, digits + char)
                digits += char
            else:
                raise ConnectionError("octet count too long")
            length = int(digits)
            if length > self.max_message:  # skip it (at most 999 999 bytes)
                while length > 0:
                    length -= len(await self._read(reader, min(65536, length)))
                self.stats.add(oversize=1, received=1, processed=1)
                return b""
            return await self._read(reader, length)
        return await self._line(reader, first)

    async def _line(self, reader: asyncio.StreamReader, start: bytes) -> bytes:
        if start.endswith(b"\n"):
            return start.rstrip(b"\r\n")
        try:
            rest = await asyncio.wait_for(reader.readuntil(b"\n"), self.idle_timeout)
        except asyncio.LimitOverrunError as exc:
            await self._read(reader, exc.consumed)
            while True:  # skip the rest of the over-long line
                try:
                    await asyncio.wait_for(reader.readuntil(b"\n"), self.idle_timeout)
                    break
                except asyncio.LimitOverrunError as more:
                    await self._read(reader, more.consumed)
            self.stats.add(oversize=1, received=1, processed=1)
            return b""
        except asyncio.IncompleteReadError as exc:  # the last line without LF
            rest = exc.partial
            if not rest and not start.strip():
                raise
        return (start + rest).rstrip(b"\r\n")

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= self.max_connections or self._stopping or task is None:
            writer.close()
            return
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        sender = str(peer[0]) if peer else ""
        try:
            while True:
                data = await self._frame(reader)
                if data is None:
                    break
                if data.strip():
                    self.put(sender, data)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # -- batches ----------------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_stats = loop.time()
        while True:
            batch: Batch = []
            deadline = loop.time() + self.batch_seconds
            while len(batch) < self.batch_lines and not self._stopping:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:  # short waits, so that stop() is noticed soon
                    batch.append(await asyncio.wait_for(self._queue.get(), min(timeout, 0.25)))
                except TimeoutError:
                    continue
            if self._stopping:
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
            if batch:
                await loop.run_in_executor(self._executor, self._ingest, batch)
            if loop.time() - last_stats >= 5:
                await loop.run_in_executor(self._executor, self._write_stats)
                last_stats = loop.time()
            if self._stopping and self._queue.empty():
                return

    def _ingest(self, batch: Batch) -> None:
        by_sender: dict[str, list[bytes]] = defaultdict(list)
        for sender, data in batch:
            by_sender[sender].append(data)
        now = self.clock()
        for sender, messages in by_sender.items():
            self._ingest_sender(sender, messages, now)

    def _store(self, sender: str, messages: list[bytes], now: datetime) -> bool:
        """One try to store messages of a sender; False (rolled back) when it raised."""
        try:
            with self.sessions() as session:
                try:
                    ingest_lines(
                        session, sender, messages, now, tz=self.tz, stats=self.stats, config=self.config
                    )
                except Exception:
                    session.rollback()
                    raise
        except Exception as exc:  # noqa: BLE001 - a bad batch must not stop the receiver
            log.warning(
                "syslog: %d message(s) from %s could not be stored: %s",
                len(messages),
                sender,
                type(exc).__name__,
            )
            return False
        return True

    def _ingest_sender(self, sender: str, messages: list[bytes], now: datetime) -> None:
        """Store a sender's messages: the batch, once more (e.g. a unique account another
        writer inserted meanwhile), then one message at a time; what still fails is counted
        as ``errors`` (issue 6 review C4)."""
        if self._store(sender, messages, now) or self._store(sender, messages, now):
            return
        dropped = (
            len(messages)
            if len(messages) == 1
            else sum(0 if self._store(sender, [data], now) else 1 for data in messages)
        )
        if dropped:
            log.error("syslog: %d message(s) from %s dropped after retries", dropped, sender)
            self.stats.add(errors=dropped, processed=dropped)

    def _write_stats(self) -> None:
        if self.stats_file is None:
            return
        try:
            self.stats_file.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.stats_file.parent, prefix=".syslog-stats.")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(
                    {
                        **self.stats.snapshot(),
                        "written_at": self.clock().isoformat(),
                        "udp": self.udp and [self.udp[0], self.udp_port],
                        "tcp": self.tcp and [self.tcp[0], self.tcp_port],
                    },
                    handle,
                )
            os.replace(name, self.stats_file)
        except OSError as exc:
            log.warning("syslog: cannot write %s: %s", self.stats_file, exc)


def run_receiver(settings: Settings, *, udp: str, tcp: str, stats_file: Path | None) -> int:
    """``watchpost-collector syslog``: run until SIGTERM or SIGINT, then stop gracefully."""
    from zoneinfo import ZoneInfo

    from collector.db.engine import make_engine, make_sessionmaker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        udp_at, tcp_at = parse_listen(udp), parse_listen(tcp)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if udp_at is None and tcp_at is None:
        print("error: nothing to listen on (both --udp and --tcp are off)", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)

    async def serve() -> None:
        receiver = SyslogReceiver(
            make_sessionmaker(engine),
            udp=udp_at,
            tcp=tcp_at,
            tz=ZoneInfo(settings.display_timezone),
            stats_file=stats_file,
        )
        await receiver.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await receiver.stop()

    try:
        asyncio.run(serve())
    except OSError as exc:
        print(f"error: cannot listen: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0
