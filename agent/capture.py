"""Capture bundles: every raw source a scan read, saved to a folder, and served back.

`watchpost-agent capture DIR` scans with a recording HostContext and writes:

    DIR/manifest.json     format, platform, time, agent version, the commands run (argv,
                          return code, output files), the registry keys exported, and the
                          live facts asked for (host name, uname, boot time, addresses)
    DIR/files/...         the files read, at their absolute paths (entries only listed or
                          tested are empty placeholders with the right mtime; symlinks that
                          were read as links are symlinks)
    DIR/commands/NNNN.out, NNNN.err
    DIR/registry/NNNN.reg

`watchpost-agent scan --json --replay DIR` parses such a bundle on any OS with the same
probes (ReplayContext), so a capture from a real Windows PC is a test fixture. Secrets are never
copied: account stores (shadow, ocpasswd, chap-secrets, ipsec.secrets, swanctl.conf, OpenVPN
password files, WireGuard configs...) keep their structure with every secret replaced by
``<redacted>``; key files and other SECRET_PATHS are dropped whole; docs/capture-format.md
describes the layout.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.host import CommandResult, HostContext, ReadError

__all__ = ["FORMAT", "SECRET_PATHS", "BundleRecorder", "ReplayContext", "capture", "load_manifest"]

FORMAT = 1
#: Never copied into a bundle: password hashes, VPN secrets, private keys, the agent's key.
SECRET_PATHS = re.compile(
    r"(^/etc/(g?shadow|security/opasswd)$|ipsec\.secrets$|(chap|pap)-secrets$|ocpasswd$|/swanctl/.*\.conf$"
    r"|\.key$|\.pem$|/node\.key$|psw-file|passwd\.(txt|db)$|/wireguard/[^/]*\.conf$)"
)
SCRUBBED = b"<not captured: this file holds secrets>\n"


@dataclass
class BundleRecorder:
    """Mirrors what a HostContext reads into a bundle folder."""

    bundle: Path
    platform: str
    commands: list[dict[str, Any]] = field(default_factory=list)
    registry_keys: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    #: Files a probe read as secret stores (path -> store format), e.g. the password file an
    #: OpenVPN verify script names: redacted field by field whatever their name.
    secret_formats: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.bundle / "files").mkdir(parents=True, exist_ok=True)

    def _dest(self, path: str) -> Path:
        return self.bundle / "files" / path.lstrip("/")

    def entry(self, path: str, real: Path, kind: str = "seen", data: bytes | None = None) -> None:
        dest = self._dest(path)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if kind == "link" and os.path.islink(real):
                if not os.path.lexists(dest):
                    os.symlink(os.readlink(real), dest)
                return
            if os.path.isdir(real):
                if not os.path.lexists(dest):
                    dest.mkdir(parents=True, exist_ok=True)
                stamp = os.stat(real).st_mtime
                os.utime(dest, (stamp, stamp))
                return
            if os.path.islink(dest) or dest.is_dir():
                return
            if kind == "read" and data is not None:
                dest.write_bytes(self._scrubbed(path, data))
            elif not dest.exists():
                dest.touch()
            stamp = os.lstat(real).st_mtime
            os.utime(dest, (stamp, stamp))
        except OSError:
            pass  # a source that cannot be mirrored is simply absent from the bundle

    def _scrubbed(self, path: str, data: bytes) -> bytes:
        """What a bundle keeps of a file: account stores with each secret replaced (structure
        kept, agent/vpn/store_redact.py), key files and unknown secret files not at all."""
        from agent.vpn.store_redact import redact, redaction_for

        how = self.secret_formats.get(path) or redaction_for(path)
        if how is None:
            return SCRUBBED if SECRET_PATHS.search(path) else data
        return redact(how, data) or SCRUBBED

    def command(self, result: CommandResult) -> None:
        number = len(self.commands) + 1
        folder = self.bundle / "commands"
        folder.mkdir(exist_ok=True)
        (folder / f"{number:04d}.out").write_text(result.stdout, encoding="utf-8")
        (folder / f"{number:04d}.err").write_text(result.stderr, encoding="utf-8")
        self.commands.append(
            {
                "argv": list(result.argv),
                "returncode": result.returncode,
                "stdout": f"commands/{number:04d}.out",
                "stderr": f"commands/{number:04d}.err",
            }
        )

    def registry(self, key: str, data: bytes) -> None:
        number = len(self.registry_keys) + 1
        folder = self.bundle / "registry"
        folder.mkdir(exist_ok=True)
        (folder / f"{number:04d}.reg").write_bytes(data)
        self.registry_keys.append({"key": key, "file": f"registry/{number:04d}.reg"})

    def fact(self, name: str, value: Any) -> None:
        self.facts[name] = value

    def write_manifest(self, agent_version: str) -> Path:
        manifest = {
            "format": FORMAT,
            "platform": self.platform,
            "captured_at": datetime.now(UTC).isoformat(),
            "agent_version": agent_version,
            "facts": self.facts,
            "commands": self.commands,
            "registry": self.registry_keys,
        }
        path = self.bundle / "manifest.json"
        path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        return path


def load_manifest(bundle: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{bundle} is not a capture bundle: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(
            f"{bundle}: unknown capture format {manifest.get('format') if isinstance(manifest, dict) else '?'}"
        )
    return manifest


class ReplayContext(HostContext):
    """A HostContext that serves a capture bundle instead of the live system."""

    def __init__(self, bundle: Path) -> None:
        super().__init__(root=bundle / "files")
        self.bundle = bundle
        self.manifest = load_manifest(bundle)
        self.platform = str(self.manifest.get("platform", "linux"))

    def which(self, program: str) -> bool:
        return any(
            Path(c["argv"][0]).name == program for c in self.manifest.get("commands", []) if c.get("argv")
        )

    def fact(self, name: str) -> Any:
        facts = self.manifest.get("facts", {})
        if name not in facts:
            raise ReadError(name, "not in the capture")
        return facts[name]

    def _inside(self, name: str) -> Path:
        """A file the manifest names, which must lie inside the bundle (no ``..``, no absolute path)."""
        path = (self.bundle / name).resolve()
        if not path.is_relative_to(self.bundle.resolve()):
            raise ReadError(name, "outside the bundle")
        if not path.is_file():
            raise ReadError(name, "missing from the bundle")
        return path

    def run(self, argv: list[str], *, timeout: float | None = None) -> CommandResult:
        for entry in self.manifest.get("commands", []):
            if entry.get("argv") == list(argv):
                read = _decode(self._inside(str(entry["stdout"])).read_bytes())
                err = _decode(self._inside(str(entry["stderr"])).read_bytes())
                return CommandResult(tuple(argv), int(entry.get("returncode", 0)), read, err)
        raise ReadError(" ".join(argv), "not in the capture")

    def reg_export(self, key: str) -> bytes:
        for entry in self.manifest.get("registry", []):
            if str(entry.get("key", "")).lower() == key.lower():
                return self._inside(str(entry["file"])).read_bytes()
        raise ReadError(f"reg export {key}", "not in the capture")


def _decode(data: bytes) -> str:
    """Command output as saved: UTF-8 (with or without BOM) or UTF-16 with BOM (Windows tools)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def capture(bundle: Path, platform: str) -> tuple[HostContext, BundleRecorder]:
    """A recording context writing into ``bundle`` (which must be empty or absent)."""
    if bundle.exists() and any(bundle.iterdir()):
        raise ValueError(f"{bundle} is not empty")
    recorder = BundleRecorder(bundle, platform)
    return HostContext(recorder=recorder), recorder
