"""The VPN log reader as the agent's service runs it (issue 6; A9-T2.3, A9-T1, A9-M3.4).

``watchpost-agent vpn-logs`` (hidden; the service's short-lived child, like ``collect-sections``)
reads what is new in the VPN daemons' logs into the last-login table
(``<data_dir>/vpn-logins.db``, agent/vpn/lastlogin.py), runs the log analysis
(agent/vpn/analysis.py) and queues its findings as events in the spool, from where the service
delivers them. The ``vpn`` section then reports each account's last login from the same table.

What it reads: the daemons' default log files (``default_sources()``), or what
``vpn-logs.toml`` beside agent.toml says (``sources``, ``openvpn_status``, ``log_timezone``,
an ``[analysis]`` table with working hours and thresholds; see docs/probes/vpn-logs.md).
Nothing in it is a secret and nothing it stores is one (passwords in log lines are redacted
before parsing).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent.host import HostContext
from agent.runtime.spool import Spool
from agent.vpn.analysis import VpnLogConfig, scan_logs
from agent.vpn.lastlogin import LastLoginStore
from wire.events import Event

__all__ = ["CONFIG_NAME", "VpnLogRun", "load_log_config", "run_vpn_logs"]

CONFIG_NAME = "vpn-logs.toml"


@dataclass(frozen=True)
class VpnLogRun:
    events: int
    queued: int
    configured: bool


def load_log_config(path: Path | None) -> tuple[VpnLogConfig, bool]:
    """The reader's configuration and whether a file gave it. Raises ValueError naming the
    problem (an unreadable file, an unknown setting, a bad source kind)."""
    if path is None or not path.is_file():
        return VpnLogConfig(), False
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    return VpnLogConfig.from_dict(data), True


def run_vpn_logs(
    data_dir: Path,
    config_path: Path | None = None,
    now: datetime | None = None,
    ctx: HostContext | None = None,
) -> VpnLogRun:
    """One pass of the reader: new log lines in, findings queued in the spool."""
    config, configured = load_log_config(config_path)
    now = now or datetime.now(UTC)
    queued = 0
    spool = Spool(data_dir / "agent.db")
    try:

        def deliver(events: list[Event]) -> None:
            nonlocal queued
            queued += spool.put_events([e.model_dump(mode="json") for e in events])

        with LastLoginStore(data_dir / "vpn-logins.db") as store:
            found = scan_logs(config, store, now, ctx or HostContext(), deliver=deliver)
    finally:
        spool.close()
    return VpnLogRun(events=len(found), queued=queued, configured=configured)
