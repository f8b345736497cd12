"""The agent's identity files in its data directory.

- ``agent_id``: the agent's identity (a UUID made at first start).
- ``node.key``: the per-host key from enrollment, mode 0600.

Everything else the agent remembers (acknowledged state, config, queue) is in the
spool database (``agent.db``, agent/runtime/spool.py). Files are written to a
temporary name, fsynced and renamed, so a crash leaves the old or the new version.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

__all__ = ["StateStore", "write_atomic"]


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class StateStore:
    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir

    def agent_id(self) -> uuid.UUID:
        path = self.dir / "agent_id"
        try:
            return uuid.UUID(path.read_text(encoding="ascii").strip())
        except (FileNotFoundError, ValueError):
            new = uuid.uuid4()
            write_atomic(path, str(new).encode("ascii"), 0o600)
            return new

    def node_key(self) -> str | None:
        try:
            return (self.dir / "node.key").read_text(encoding="ascii").strip() or None
        except FileNotFoundError:
            return None

    def save_node_key(self, key: str) -> None:
        write_atomic(self.dir / "node.key", key.encode("ascii"), 0o600)
