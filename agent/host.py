"""HostContext: the only door from the probes to the operating system.

Probes read files, list folders, run commands, export registry keys and ask for a few
live facts (host name, boot time, interface addresses) through it, never directly. That
gives two seams:

- ``root``: read a copy of a machine's files laid out under a folder (tests);
- capture and replay (agent/capture.py): a recording context saves every source a probe
  read into a bundle, and a replaying context serves a bundle back, so a scan of a real
  Windows PC can be parsed again on any machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["MAX_READ_BYTES", "CommandResult", "HostContext", "ReadError", "Recorder"]

#: Largest file a probe may read whole; anything bigger is a sign of a wrong path.
MAX_READ_BYTES = 4 * 1024 * 1024
# Windows: the commands a service runs get no console window of their own (0 elsewhere).
NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)


class ReadError(Exception):
    """A source could not be read. ``source`` names it for the section's error list."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class Recorder(Protocol):
    """What a capture keeps of each read (agent/capture.py)."""

    def entry(self, path: str, real: Path, kind: str = "seen", data: bytes | None = None) -> None: ...
    def command(self, result: CommandResult) -> None: ...
    def registry(self, key: str, data: bytes) -> None: ...
    def fact(self, name: str, value: Any) -> None: ...


def _live_fact(name: str) -> Any:
    import platform

    if name == "hostname":
        return socket.gethostname()
    if name == "fqdn":
        return socket.getfqdn()
    if name == "uname":
        uname = platform.uname()
        return {
            "system": uname.system,
            "node": uname.node,
            "release": uname.release,
            "version": uname.version,
            "machine": uname.machine,
        }
    if name == "boot_time":
        import psutil

        return psutil.boot_time()
    if name == "net_if_addrs":
        import psutil

        families = {socket.AF_INET: "inet", socket.AF_INET6: "inet6"}
        return {
            iface: [[families[a.family], a.address, a.netmask] for a in addrs if a.family in families]
            for iface, addrs in psutil.net_if_addrs().items()
        }
    raise KeyError(name)


@dataclass
class HostContext:
    """Reads from the host (or from a copy of its files under ``root``)."""

    root: Path = field(default_factory=lambda: Path("/"))
    command_timeout: float = 30.0
    recorder: Recorder | None = None

    def path(self, path: str) -> Path:
        """The real location of an absolute host path under ``root``."""
        return self.root / path.lstrip("/")

    def _saw(self, path: str, kind: str = "seen", data: bytes | None = None) -> None:
        if self.recorder is not None:
            self.recorder.entry(path, self.path(path), kind, data)

    def exists(self, path: str) -> bool:
        """Whether there is an entry at ``path`` (a dangling symlink counts: sysfs links)."""
        found = os.path.lexists(self.path(path))
        if found:
            self._saw(path)
        return found

    def read_bytes(self, path: str) -> bytes:
        real = self.path(path)
        try:
            with real.open("rb") as handle:
                data = handle.read(MAX_READ_BYTES + 1)
        except OSError as exc:
            raise ReadError(path, exc.strerror or str(exc)) from exc
        if len(data) > MAX_READ_BYTES:
            raise ReadError(path, f"larger than {MAX_READ_BYTES} bytes")
        self._saw(path, "read", data)
        return data

    def read_head(self, path: str, size: int = 512) -> bytes:
        """The first ``size`` bytes of a file of any size (a header: ClamAV databases run to
        hundreds of megabytes). A capture keeps only this head."""
        real = self.path(path)
        try:
            with real.open("rb") as handle:
                data = handle.read(min(size, MAX_READ_BYTES))
        except OSError as exc:
            raise ReadError(path, exc.strerror or str(exc)) from exc
        self._saw(path, "read", data)
        return data

    def read_text(self, path: str, *, default: str | None = None) -> str:
        """Read a text file (UTF-8, undecodable bytes replaced).

        Raises ReadError when it cannot be read and no ``default`` is given.
        """
        try:
            return self.read_bytes(path).decode("utf-8", errors="replace")
        except ReadError:
            if default is not None:
                return default
            raise

    def read_optional(self, path: str) -> str | None:
        """Read a small text file, or None when it is absent or unreadable."""
        try:
            return self.read_text(path)
        except ReadError:
            return None

    def listdir(self, path: str) -> list[str]:
        try:
            names = sorted(os.listdir(self.path(path)))
        except OSError:
            return []
        self._saw(path)
        for name in names:
            self._saw(f"{path.rstrip('/')}/{name}")
        return names

    def mtime(self, path: str) -> float | None:
        try:
            stamp = os.lstat(self.path(path)).st_mtime
        except OSError:
            return None
        self._saw(path)
        return stamp

    def readlink_name(self, path: str) -> str:
        """Basename of a symlink's target ('' when it is no link)."""
        try:
            target = os.readlink(self.path(path))
        except OSError:
            return ""
        self._saw(path, "link")
        return os.path.basename(target)

    def link_target(self, path: str) -> str:
        """Where a symlink points, as written ('' when it is no link)."""
        try:
            target = os.readlink(self.path(path))
        except OSError:
            return ""
        self._saw(path, "link")
        return target

    def which(self, program: str) -> bool:
        return shutil.which(program) is not None

    def fact(self, name: str) -> Any:
        """A live fact of the running system: hostname, fqdn, uname, boot_time, net_if_addrs."""
        value = _live_fact(name)
        if self.recorder is not None:
            self.recorder.fact(name, value)
        return value

    def run(self, argv: list[str], *, timeout: float | None = None) -> CommandResult:
        """Run a command (argument list, never a shell) with a timeout."""
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                timeout=timeout or self.command_timeout,
                check=False,
                creationflags=NO_WINDOW,
                env={**os.environ, "LC_ALL": "C.UTF-8"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReadError(" ".join(argv), str(exc)) from exc
        result = CommandResult(
            tuple(argv),
            proc.returncode,
            proc.stdout.decode("utf-8", errors="replace"),
            proc.stderr.decode("utf-8", errors="replace"),
        )
        if self.recorder is not None:
            self.recorder.command(result)
        return result

    def reg_export(self, key: str) -> bytes:
        """`reg export KEY` as the bytes of the .reg file (UTF-16LE), for agent.regfile."""
        with tempfile.TemporaryDirectory(prefix="watchpost-") as tmp:
            target = os.path.join(tmp, "export.reg")
            try:
                proc = subprocess.run(
                    ["reg", "export", key, target, "/y"],
                    capture_output=True,
                    timeout=self.command_timeout,
                    check=False,
                    creationflags=NO_WINDOW,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ReadError(f"reg export {key}", str(exc)) from exc
            if proc.returncode != 0:
                message = (proc.stderr or proc.stdout).decode("utf-8", errors="replace").strip()
                raise ReadError(f"reg export {key}", message[:500] or "failed")
            with open(target, "rb") as handle:
                data = handle.read(MAX_READ_BYTES * 4)
        if self.recorder is not None:
            self.recorder.registry(key, data)
        return data
