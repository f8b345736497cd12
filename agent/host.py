"""HostContext: the only door from the probes to the operating system.

Probes read files and run commands through it, never directly, so that a test can
point it at a captured tree (``root``) and a capture can record what was read.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CommandResult", "HostContext", "ReadError"]

#: Largest file a probe may read whole; anything bigger is a sign of a wrong path.
MAX_READ_BYTES = 4 * 1024 * 1024


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


@dataclass
class HostContext:
    """Reads from the host (or from a copy of its files under ``root``)."""

    root: Path = field(default_factory=lambda: Path("/"))
    command_timeout: float = 30.0

    def path(self, path: str) -> Path:
        """The real location of an absolute host path under ``root``."""
        return self.root / path.lstrip("/")

    def exists(self, path: str) -> bool:
        return self.path(path).exists()

    def read_text(self, path: str, *, default: str | None = None) -> str:
        """Read a text file (UTF-8, undecodable bytes replaced).

        Raises ReadError when it cannot be read and no ``default`` is given.
        """
        real = self.path(path)
        try:
            with real.open("rb") as handle:
                data = handle.read(MAX_READ_BYTES + 1)
        except OSError as exc:
            if default is not None:
                return default
            raise ReadError(path, exc.strerror or str(exc)) from exc
        if len(data) > MAX_READ_BYTES:
            raise ReadError(path, f"larger than {MAX_READ_BYTES} bytes")
        return data.decode("utf-8", errors="replace")

    def read_optional(self, path: str) -> str | None:
        """Read a small text file, or None when it is absent or unreadable."""
        try:
            return self.read_text(path)
        except ReadError:
            return None

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(path)))
        except OSError:
            return []

    def readlink_name(self, path: str) -> str:
        """Basename of a symlink's target ('' when it is no link)."""
        try:
            return os.path.basename(os.readlink(self.path(path)))
        except OSError:
            return ""

    def realpath(self, path: str) -> str:
        return os.path.realpath(self.path(path))

    def run(self, argv: list[str], *, timeout: float | None = None) -> CommandResult:
        """Run a command (argument list, never a shell) with a timeout."""
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                timeout=timeout or self.command_timeout,
                check=False,
                env={**os.environ, "LC_ALL": "C.UTF-8"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReadError(" ".join(argv), str(exc)) from exc
        return CommandResult(
            tuple(argv),
            proc.returncode,
            proc.stdout.decode("utf-8", errors="replace"),
            proc.stderr.decode("utf-8", errors="replace"),
        )
