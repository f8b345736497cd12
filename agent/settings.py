"""Agent settings: a small TOML file, plus the state files in the data directory.

Config file (``agent.toml``)::

    server_url = "https://watchpost.example.internal:8443"
    data_dir = "/var/lib/watchpost-agent"
    ca_bundle = ""              # extra CA certificates (PEM) to trust
    allow_insecure_http = false # plain HTTP: only for a collector on this machine in tests
    proxy = ""                  # "" = system/environment proxy, "none" = direct, or "http://proxy:3128"
    log_level = "info"

The node key lives in ``<data_dir>/node.key`` (mode 0600), never in the config file
and never in a log.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import tomllib
import urllib.parse
from dataclasses import asdict, dataclass, fields
from pathlib import Path

__all__ = ["AgentSettings", "SettingsError", "default_config_path", "load_settings", "save_settings"]


class SettingsError(Exception):
    """The config file is missing, unreadable or wrong; the message says which."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_admin() -> bool:
    return sys.platform != "win32" and hasattr(os, "geteuid") and os.geteuid() == 0


def default_config_path() -> Path:
    env = os.environ.get("WATCHPOST_AGENT_CONFIG")
    if env:
        return Path(env)
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Watchpost" / "agent.toml"
    if _is_admin():
        return Path("/etc/watchpost/agent.toml")
    return Path.home() / ".config" / "watchpost" / "agent.toml"


def default_data_dir() -> str:
    if sys.platform == "win32":
        return str(Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Watchpost" / "data")
    if _is_admin():
        return "/var/lib/watchpost-agent"
    return str(Path.home() / ".local" / "state" / "watchpost-agent")


@dataclass
class AgentSettings:
    server_url: str = ""
    data_dir: str = ""
    ca_bundle: str = ""
    allow_insecure_http: bool = False
    proxy: str = ""
    log_level: str = "info"

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir or default_data_dir()
        if self.log_level not in {"debug", "info", "warning", "error"}:
            raise SettingsError(f"log_level must be debug, info, warning or error, not {self.log_level!r}")
        if self.proxy not in {"", "none"}:
            parts = urllib.parse.urlsplit(self.proxy)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise SettingsError(
                    f'proxy must be "" (system settings), "none" or http://host:port (got {self.proxy!r})'
                )
        if self.server_url and not self.server_url.startswith(("https://", "http://")):
            raise SettingsError(f"server_url must start with https:// (got {self.server_url!r})")
        if self.server_url.startswith("http://"):
            if not self.allow_insecure_http:
                raise SettingsError(
                    "server_url uses plain http://; set allow_insecure_http = true only for a "
                    "collector on this machine in tests"
                )
            if not _is_loopback(urllib.parse.urlsplit(self.server_url).hostname or ""):
                raise SettingsError(
                    "plain http:// is allowed only to a collector on this machine "
                    "(127.0.0.1, ::1, localhost); use https://"
                )

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


def load_settings(path: Path) -> AgentSettings:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"no config file at {path}: run 'watchpost-agent enroll' first") from exc
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    known = {f.name: f.type for f in fields(AgentSettings)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    for key, value in raw.items():
        expected = bool if known[key] == "bool" else str
        if not isinstance(value, expected):
            raise SettingsError(f"{path}: {key} must be a {expected.__name__}")
    return AgentSettings(**raw)


def save_settings(settings: AgentSettings, path: Path) -> None:
    """Write the config file (TOML; strings escaped the JSON way, which TOML accepts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Watchpost agent configuration (written by 'watchpost-agent enroll')."]
    for key, value in asdict(settings).items():
        text = ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)
        lines.append(f"{key} = {text}")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
