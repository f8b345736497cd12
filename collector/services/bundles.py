"""Import of a capture bundle (A9-M3.3): the inventory of a PC that runs no agent.

An inspector runs ``deploy/windows/collect.ps1`` (or ``watchpost-agent capture``) on the PC
and brings the folder (docs/capture-format.md). The collector never imports agent code,
so it takes either

- the wire Report that ``watchpost-agent scan --json --replay <folder>`` prints, or
- the folder as a .zip, which it unpacks safely (no absolute or ``..`` names, bounded
  size and entry count, symbolic links only where they stay inside the bundle) and turns
  into a Report by running that same command as a subprocess, when the agent program is
  installed on the server.

The report's sections are stored on a record of source "bundle" through the ingest code,
on the record with the same hardware UUID or serial in the caller's scope when there is one.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector.db.base import utcnow
from collector.db.models import Host
from collector.services.assets import host_for_write, unit_for_write
from collector.services.audit import record
from collector.services.auth import Principal
from collector.services.duplicates import identity_key
from collector.services.errors import BadRequest, Conflict, DomainError, Invalid
from collector.services.ingest import ingest_report
from wire import Report

__all__ = ["MAX_BUNDLE_BYTES", "BundleResult", "agent_program", "import_bundle", "report_from_zip"]

MAX_BUNDLE_BYTES = 50 * 1024 * 1024
MAX_ENTRIES = 20_000
MAX_UNPACKED = 300 * 1024 * 1024
MAX_REPORT_BYTES = 64 * 1024 * 1024
REPLAY_TIMEOUT = 300
#: Absolute link targets a bundle may hold (/etc/localtime); read as links, never followed.
_SAFE_LINK_PREFIXES = ("/usr/share/zoneinfo/",)


class AgentMissing(DomainError):
    status = 422
    code = "agent_not_installed"


@dataclass(frozen=True)
class BundleResult:
    host: Host
    created: bool
    status: str  # stored | duplicate (this report was imported before)


def agent_program() -> str | None:
    """The ``watchpost-agent`` program next to the collector's Python, or on PATH."""
    beside = Path(sys.executable).parent / "watchpost-agent"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("watchpost-agent")


def _member_path(name: str) -> PurePosixPath | None:
    """The safe relative path of a zip entry, or None for one that must not be written."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise Invalid(f"unsafe name in the zip: {name[:80]!r}", "unsafe_zip")
    return path if path.parts else None


def _unpack(data: bytes, into: Path) -> Path:
    """Extract the zip into ``into``; returns the bundle folder (the one holding manifest.json)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise Invalid("not a zip file", "not_zip") from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ENTRIES:
            raise Invalid(f"more than {MAX_ENTRIES} entries in the zip", "zip_too_large")
        if sum(m.file_size for m in members) > MAX_UNPACKED:
            raise Invalid("the zip unpacks to too much data", "zip_too_large")
        paths = [(member, _member_path(member.filename)) for member in members]  # all checked first
        links: list[tuple[Path, str]] = []
        for member, relative in paths:
            if relative is None:
                continue
            dest = into.joinpath(*relative.parts)
            mode = member.external_attr >> 16
            try:
                if member.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                elif stat.S_ISLNK(mode):
                    links.append((dest, archive.read(member).decode("utf-8", "replace")[:1024]))
                else:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as packed, dest.open("wb") as out:
                        shutil.copyfileobj(packed, out)
            except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError) as exc:
                raise Invalid(f"the zip could not be unpacked: {member.filename[:80]!r}", "bad_zip") from exc
    root = into.resolve()
    for dest, target in links:  # last, so that no file is ever written through a link
        _safe_link(root, dest, target)
    manifests = sorted(into.glob("manifest.json")) + sorted(into.glob("*/manifest.json"))
    if not manifests:
        raise Invalid("no manifest.json in the zip: is it a capture bundle?", "not_a_bundle")
    bundle = manifests[0].parent
    _check_manifest(bundle)
    return bundle


def _safe_link(root: Path, dest: Path, target: str) -> None:
    """Recreate a link the probes read as a link (sysfs driver, /etc/localtime) only when it
    cannot lead a reader out of the bundle; other links are left out."""
    if "\x00" in target or not target:
        return
    if target.startswith("/"):
        if not target.startswith(_SAFE_LINK_PREFIXES) or ".." in PurePosixPath(target).parts:
            return
    else:
        resolved = Path(os.path.normpath(dest.parent / target))
        if not resolved.is_relative_to(root):
            return
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.parent.resolve().is_relative_to(root) or os.path.lexists(dest):
            return
        os.symlink(target, dest)
    except OSError:
        return


def _check_manifest(bundle: Path) -> None:
    """The files a manifest names must be plain files inside the bundle."""
    import json

    try:
        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise Invalid("manifest.json is not valid JSON", "bad_manifest") from exc
    if not isinstance(manifest, dict):
        raise Invalid("manifest.json is not an object", "bad_manifest")
    named: list[object] = []
    for entry in manifest.get("commands") or []:
        named += [entry.get("stdout"), entry.get("stderr")] if isinstance(entry, dict) else [None]
    for entry in manifest.get("registry") or []:
        named.append(entry.get("file") if isinstance(entry, dict) else None)
    root = bundle.resolve()
    for name in named:
        if not isinstance(name, str):
            raise Invalid("manifest.json names a file badly", "bad_manifest")
        path = PurePosixPath(name)
        full = bundle.joinpath(*path.parts)
        if (
            path.is_absolute()
            or ".." in path.parts
            or full.is_symlink()
            or not full.resolve().is_relative_to(root)
        ):
            raise Invalid(f"manifest.json names a file outside the bundle: {name[:80]!r}", "unsafe_manifest")


def report_from_zip(data: bytes) -> Report:
    """Unpack a zipped bundle and replay it with the agent program (a subprocess)."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise Invalid(f"the bundle is larger than {MAX_BUNDLE_BYTES // 1024 // 1024} MB", "file_too_large")
    program = agent_program()
    if program is None:
        raise AgentMissing(
            "the watchpost-agent program is not installed on this server, so a zipped bundle "
            "cannot be read here: run 'watchpost-agent scan --json --replay <folder>' on any "
            "machine with the agent and upload the JSON it prints"
        )
    with tempfile.TemporaryDirectory(prefix="wp-bundle-") as work:
        bundle = _unpack(data, Path(work) / "bundle")
        home = Path(work) / "home"
        home.mkdir()
        try:
            done = subprocess.run(
                [program, "--config", str(home / "agent.toml"), "scan", "--json", "--replay", str(bundle)],
                capture_output=True,
                timeout=REPLAY_TIMEOUT,
                check=False,
                cwd=work,
                env={"PATH": os.defpath, "HOME": str(home), "LANG": "C.UTF-8"},  # no secret inherited
            )
        except subprocess.TimeoutExpired as exc:
            raise Invalid("reading the bundle took too long", "replay_timeout") from exc
        if done.returncode != 0 or len(done.stdout) > MAX_REPORT_BYTES:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise Invalid(f"the bundle could not be read: {tail[0][:300]}", "bad_bundle")
        return parse_report(done.stdout)


def parse_report(data: bytes) -> Report:
    try:
        report = Report.model_validate_json(data)
    except ValidationError as exc:
        raise Invalid(f"not a Watchpost report: {exc.errors()[0]['msg'][:200]}", "not_a_report") from exc
    if report.kind != "full":
        raise Invalid("a bundle report must be a full report", "not_full")
    return report


def _matching_host(session: Session, principal: Principal, report: Report) -> Host | None:
    """The record of the same machine (hardware UUID, else serial) the caller can see."""
    hardware = report.sections.hardware
    if hardware is None or hardware.data is None:
        return None
    query = select(Host).where(Host.status != "merged")
    if principal.visible_units is not None:
        query = query.where(Host.unit_id.in_(principal.visible_units))
    for column, value in ((Host.system_uuid, hardware.data.system_uuid), (Host.serial, hardware.data.serial)):
        if identity_key(value):
            found = session.scalar(query.where(func.lower(column) == value.strip().lower()).order_by(Host.id))
            if found is not None:
                return found
    return None


def import_bundle(
    session: Session, principal: Principal, data: bytes, unit_code: str, *, filename: str = "", ip: str = ""
) -> BundleResult:
    """Store a bundle (zip or report JSON) on a record of source "bundle", audited."""
    unit = unit_for_write(session, principal, unit_code)
    report = report_from_zip(data) if data[:4] == b"PK\x03\x04" else parse_report(data)
    if report.collected_at > utcnow() + timedelta(hours=1):
        raise BadRequest("the capture time of this bundle is in the future", "future_capture")
    host = _matching_host(session, principal, report)
    created = host is None
    if host is None:
        os_facts = report.sections.os
        name = os_facts.data.hostname if os_facts and os_facts.data else ""
        # a fresh agent_id (the column is unique); no node key is ever issued for it
        host = Host(agent_id=uuid.uuid4(), unit_id=unit.id, hostname=name[:128] or "bundle", source="bundle")
        session.add(host)
        session.flush()
    else:
        host = host_for_write(session, principal, host.id)
        if host.source == "agent" and host.status == "active":
            raise Conflict(
                f"this machine has the agent (host {host.id}); its inventory comes from the agent",
                "agent_host",
            )
        host.source = "bundle"
    try:
        ack = ingest_report(session, host, report.model_copy(update={"agent_id": host.agent_id}), len(data))
    except Conflict as exc:
        raise Conflict("this report was already imported for another machine", exc.code) from exc
    host.last_seen = report.collected_at  # when it was captured, not when it was brought in
    host.first_seen = min(host.first_seen or report.collected_at, report.collected_at)
    host.agent_version = ""
    record(
        session,
        principal.username,
        "asset.bundle_import",
        f"host:{host.id}",
        {
            "created": created,
            "unit": host.unit.code if host.unit else unit.code,
            "report_id": str(report.report_id),
            "file": filename[:200],
            "status": ack.status,
        },
        ip,
        principal.user_id,
    )
    session.commit()
    session.refresh(host)
    return BundleResult(host, created, ack.status)
