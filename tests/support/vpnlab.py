"""Shared parts of the live VPN daemon labs (tests/agent/test_vpn_live_daemons.py for ocserv,
tests/agent/test_vpn_live_strongswan.py for charon): a ``/dev/log`` stand-in that writes lines
the way Debian 12's rsyslog does, and a bounded wait for a log line."""

from __future__ import annotations

import re
import socket
import threading
import time
from datetime import datetime
from pathlib import Path

__all__ = ["SyslogListener", "wait_for"]


def wait_for(path: Path, text: str, count: int = 1, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(
        f"{text!r} did not appear {count}x in {path.name}:\n"
        f"{path.read_text(errors='replace')[-3000:] if path.exists() else '(missing)'}"
    )


_DATAGRAM = re.compile(
    r"^<(?P<pri>\d{1,3})>(?P<stamp>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<msg>.*)$", re.S
)


class SyslogListener:
    """A unix datagram socket standing in for ``/dev/log``. Each message becomes a line
    ``2026-11-27T16:30:21.183480+00:00 host ocserv[1432]: main: ...`` (rsyslog's default file
    format on Debian 12: receive time, local offset) in ``out``; the raw datagrams go to ``raw``."""

    def __init__(self, path: Path, out: Path, raw: Path) -> None:
        self.path, self.out, self.raw = path, out, raw
        self.host = socket.gethostname().split(".")[0] or "localhost"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        path.chmod(0o666)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="syslog-listener", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with self.out.open("a", encoding="utf-8") as out, self.raw.open("a", encoding="utf-8") as raw:
            while not self.stop.is_set():
                try:
                    data = self.sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                now = datetime.now().astimezone()
                text = data.decode("utf-8", "replace").rstrip("\n")
                raw.write(text + "\n")
                raw.flush()
                m = _DATAGRAM.match(text)
                msg = m.group("msg") if m else text
                out.write(f"{now.isoformat(timespec='microseconds')} {self.host} {msg}\n")
                out.flush()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()
