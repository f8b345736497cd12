"""The agent's own durable state in its data directory.

- ``agent_id``: the agent's identity (a UUID made at first start).
- ``node.key``: the per-host key from enrollment, mode 0600.
- ``state.json``: what the collector acknowledged (section hashes, last full report).

Files are written to a temporary name, flushed and renamed, so a crash leaves the
old or the new version, never half of one.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["AgentState", "StateStore"]


def _write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
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


@dataclass
class AgentState:
    acked_sections: dict[str, str] | None = None
    last_full_at: float = 0.0
    last_delivery_at: float = 0.0
    last_error: str = ""
    unit_code: str = ""
    config: dict[str, object] = field(default_factory=dict)


class StateStore:
    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir

    def agent_id(self) -> uuid.UUID:
        path = self.dir / "agent_id"
        try:
            return uuid.UUID(path.read_text(encoding="ascii").strip())
        except (FileNotFoundError, ValueError):
            new = uuid.uuid4()
            _write_atomic(path, str(new).encode("ascii"), 0o644)
            return new

    def node_key(self) -> str | None:
        try:
            return (self.dir / "node.key").read_text(encoding="ascii").strip() or None
        except FileNotFoundError:
            return None

    def save_node_key(self, key: str) -> None:
        _write_atomic(self.dir / "node.key", key.encode("ascii"), 0o600)

    def load(self) -> AgentState:
        try:
            raw = json.loads((self.dir / "state.json").read_text(encoding="utf-8"))
            return AgentState(**raw)
        except (FileNotFoundError, ValueError, TypeError):
            return AgentState()

    def save(self, state: AgentState) -> None:
        _write_atomic(self.dir / "state.json", json.dumps(asdict(state), indent=1).encode())
