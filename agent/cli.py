"""``watchpost-agent``: enroll, scan, run, status."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import signal
import socket
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from agent import __version__
from agent.host import HostContext
from agent.settings import AgentSettings, SettingsError, default_config_path, load_settings, save_settings
from agent.state import StateStore
from agent.transport import Transport, TransportError

__all__ = ["main"]

log = logging.getLogger("watchpost.agent")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watchpost-agent",
        description="Watchpost agent: inventories this computer and reports to the collector.",
    )
    parser.add_argument(
        "--config", type=Path, help="config file (default: %(default)s)", default=default_config_path()
    )
    parser.add_argument("--version", action="version", version=f"watchpost-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    enroll = sub.add_parser("enroll", help="join the collector with a unit's enrollment secret")
    enroll.add_argument("--server", required=True, help="collector URL, e.g. https://watchpost.example:8443")
    enroll.add_argument(
        "--secret",
        help="enrollment secret ('-' reads it from standard input; default: $WATCHPOST_ENROLL_SECRET)",
    )
    enroll.add_argument("--data-dir", help="where the agent keeps its key and state")
    enroll.add_argument("--ca-bundle", default="", help="PEM file of CA certificates to trust")
    enroll.add_argument(
        "--proxy",
        default="",
        help="HTTP proxy: empty = the system's settings, 'none' = direct, or http://host:port",
    )
    enroll.add_argument(
        "--insecure-http",
        action="store_true",
        help="allow a plain http:// URL (a collector on this machine, for tests)",
    )

    scan = sub.add_parser("scan", help="scan this computer and print the report it would send")
    scan.add_argument("--json", action="store_true", help="print the report as JSON (default)")
    scan.add_argument("--full", action="store_true", help="a full report even if a delta is due")
    scan.add_argument("--section", action="append", help="only this section (repeatable)")
    scan.add_argument(
        "--replay",
        type=Path,
        metavar="DIR",
        help="parse a capture bundle (from 'watchpost-agent capture') instead of this computer",
    )

    cap = sub.add_parser("capture", help="save every raw source a scan reads into a folder (a bundle)")
    cap.add_argument("bundle", type=Path, metavar="DIR", help="an empty or new folder")
    cap.add_argument("--section", action="append", help="only this section (repeatable)")

    vpn = sub.add_parser(
        "vpn-audit",
        help="audit the VPN servers' accounts on this host: weak passwords judged here, only verdicts shown",
    )
    vpn.add_argument("--json", action="store_true", help="print the vpn section as JSON")
    vpn.add_argument(
        "--budget", type=float, default=60.0, help="seconds for hash checks (default: %(default)s)"
    )
    vpn.add_argument("--workers", type=int, default=None, help="hash-check processes (default: one per core)")
    vpn.add_argument(
        "--candidates", type=int, default=800, help="candidates per hashed account (default: %(default)s)"
    )
    vpn.add_argument(
        "--unit-words", default="", help="comma-separated unit abbreviations to try (e.g. sxtjj,xxzx)"
    )
    vpn.add_argument("--root", type=Path, default=None, help="read a copy of a machine's files under DIR")
    vpn.add_argument("--quiet", action="store_true", help="no progress on standard error")

    run = sub.add_parser("run", help="scan and report periodically (the service's main loop)")
    run.add_argument("--once", action="store_true", help="one delivery, then exit")

    worker = sub.add_parser("collect-sections", help=argparse.SUPPRESS)  # the service's child process
    worker.add_argument("--timeout", type=float, default=120.0)
    worker.add_argument("--data-dir", type=Path, required=True)
    worker.add_argument("--memory-mb", type=int, default=768)
    worker.add_argument("--cpu-seconds", type=int, default=300)
    worker.add_argument("--enabled", default="", help="comma-separated enabled sections")
    worker.add_argument("sections", nargs="*")

    logs = sub.add_parser("vpn-logs", help=argparse.SUPPRESS)  # the service's VPN log reader child
    logs.add_argument("--data-dir", type=Path, required=True)
    logs.add_argument(
        "--log-config", type=Path, default=None, help="vpn-logs.toml (default: beside agent.toml)"
    )
    logs.add_argument("--now", default=None, help="(tests) the reader's clock, ISO 8601")
    logs.add_argument("--memory-mb", type=int, default=768)
    logs.add_argument("--cpu-seconds", type=int, default=300)

    sub.add_parser(
        "service-host", help=argparse.SUPPRESS
    )  # the Windows service's entry (agent/winservice.py)
    status = sub.add_parser("status", help="enrollment and last delivery")
    status.add_argument("--json", action="store_true")
    return parser


def _setup_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _read_secret(arg: str | None) -> str:
    if arg == "-":
        return sys.stdin.readline().strip()
    return (arg or os.environ.get("WATCHPOST_ENROLL_SECRET", "")).strip()


_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_.~-]{16,256}")


def cmd_enroll(args: argparse.Namespace) -> int:
    from agent.probes.base import current_platform
    from agent.probes.hardware import clean_dmi
    from wire import EnrollRequest, EnrollResponse

    secret = _read_secret(args.secret)
    if not secret:
        print(
            "error: no enrollment secret (use --secret, --secret - or $WATCHPOST_ENROLL_SECRET)",
            file=sys.stderr,
        )
        return 2
    try:
        settings = AgentSettings(
            server_url=args.server,
            data_dir=args.data_dir or "",
            ca_bundle=args.ca_bundle,
            proxy=args.proxy,
            allow_insecure_http=args.insecure_http,
        )
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = StateStore(settings.data_path)
    ctx = HostContext()

    platform = current_platform()
    if not _SECRET_SHAPE.fullmatch(secret):
        print("error: that is not an enrollment secret (16-256 letters, digits and -_.~)", file=sys.stderr)
        return 2
    request = EnrollRequest(
        enroll_secret=secret,
        agent_id=store.agent_id(),
        agent_version=__version__,
        hostname=(socket.gethostname().split(".", 1)[0] or "unknown")[:128],
        os_family=platform if platform in {"linux", "windows"} else "other",
        system_uuid=clean_dmi(ctx.read_optional("/sys/class/dmi/id/product_uuid")).lower()[:64],
        serial=clean_dmi(ctx.read_optional("/sys/class/dmi/id/product_serial")),
        previous_node_key=store.node_key(),
    )
    try:
        transport = Transport(settings.server_url, ca_bundle=settings.ca_bundle, proxy=settings.proxy)
        answer = EnrollResponse.model_validate(
            transport.request("POST", "/api/v1/enroll", request.model_dump_json().encode())
        )
    except TransportError as exc:
        print(f"error: enrollment failed: {exc}", file=sys.stderr)
        return 1
    from agent.runtime.spool import Spool
    from wire import config_etag

    store.save_node_key(answer.node_key)
    spool = Spool(settings.data_path / "agent.db")
    spool.put(
        unit_code=answer.unit_code,
        config=answer.config.model_dump(mode="json"),
        config_etag=config_etag(answer.config),
        acked_sections=None,
        key_refused=False,
        last_error="",
        enrolled_at=time.time(),
    )
    spool.close()
    save_settings(settings, args.config)
    print(
        f"enrolled as {request.hostname} in {answer.unit_name} ({answer.unit_code}); "
        f"config written to {args.config}"
    )
    return 0


def _load(args: argparse.Namespace) -> AgentSettings:
    try:
        return load_settings(args.config)
    except SettingsError as exc:
        raise SystemExit(f"error: {exc}") from None


def cmd_scan(args: argparse.Namespace) -> int:
    """Print the report the next delivery would send for a scan made now."""
    from agent.runtime.service import open_spool
    from agent.scan import build_report, scan_sections
    from wire import AgentConfig

    try:
        settings: AgentSettings | None = load_settings(args.config)
    except SettingsError:
        settings = None  # not enrolled: a full report from a null identity
    if args.replay is not None:
        from agent.capture import ReplayContext

        try:
            replay = ReplayContext(args.replay)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        sections = scan_sections(replay, args.section, platform=replay.platform)
        report = build_report(uuid.UUID(int=0), sections, force_full=True)
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return 0
    ctx = HostContext()
    if settings is None:
        report = build_report(uuid.UUID(int=0), scan_sections(ctx, args.section), force_full=True)
    else:
        spool = open_spool(settings)
        config = AgentConfig.model_validate(spool.get("config") or {})
        due_full = time.time() - float(spool.get("last_full_at", 0.0)) > config.full_report_hours * 3600
        report = build_report(
            StateStore(settings.data_path).agent_id(),
            scan_sections(ctx, args.section or config.sections, timeout=config.probe_timeout_seconds),
            acked=spool.get("acked_sections"),
            force_full=args.full or due_full or bool(args.section),
        )
        spool.close()
    sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    return 0


def cmd_capture(args: argparse.Namespace) -> int:
    """Scan with a recording context and write the bundle (raw sources only, secrets left out)."""
    from agent.capture import capture
    from agent.probes.base import current_platform
    from agent.scan import scan_sections

    try:
        ctx, recorder = capture(args.bundle, current_platform())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = args.section or None
    sections = scan_sections(ctx, names)
    for name, result in sections.items():
        print(f"  {name:12} {result['status']:8} {result.get('reason', '')}", file=sys.stderr)
    manifest = recorder.write_manifest(__version__)
    files = sum(1 for p in (args.bundle / "files").rglob("*") if p.is_file())
    print(
        f"captured {files} files, {len(recorder.commands)} commands and {len(recorder.registry_keys)} "
        f"registry exports into {args.bundle} ({manifest.name}); parse it anywhere with "
        f"'watchpost-agent scan --replay {args.bundle}'"
    )
    return 0


def cmd_vpn_audit(args: argparse.Namespace) -> int:
    """The ``vpn`` section alone, with progress on stderr (A9-T2.1, A9-T2.2). Never a secret."""
    from agent.vpn.audit import audit, options_from_env

    options = options_from_env()
    options.budget_seconds = max(0.0, args.budget)
    options.workers = args.workers
    options.candidate_limit = max(1, args.candidates)
    words = tuple(w.strip() for w in args.unit_words.split(",") if w.strip())
    options.unit_words = words or options.unit_words
    last = [0.0]

    def say(message: str) -> None:
        if not args.quiet:
            print(f"vpn-audit: {message}", file=sys.stderr, flush=True)

    def hashes(done: int, total: int, matches: int) -> None:
        if time.monotonic() - last[0] >= 1.0 or done >= total:
            last[0] = time.monotonic()
            say(f"hash checks: {done}/{total} candidates tried, {matches} weak found")

    options.say, options.hash_progress = say, hashes
    ctx = HostContext(root=args.root) if args.root is not None else HostContext()
    facts, errors = audit(ctx, options)
    for error in errors:
        say(f"error: {error.source}: {error.message}")
    if args.json:
        sys.stdout.write(facts.model_dump_json(indent=2) + "\n")
        return 0
    for server in facts.servers:
        state = "running" if server.running else "not running" if server.running is False else "state unknown"
        print(f"{server.kind:10} {server.name:28} {state:13} auth: {', '.join(server.auth_methods) or '-'}")
    for account in facts.accounts:
        verdict = {True: "WEAK", False: "ok", None: "?"}[account.weak]
        why = ", ".join(account.reasons) or account.check_note or account.check
        print(f"  {verdict:4} {account.server:22} {account.account:24} {account.secret_form:11} {why}")
    for finding in (v for v in facts.verdicts if not v.account):
        print(f"  STORE {finding.category}: {finding.store}")
    counts = facts.counts
    print(
        f"{counts.accounts} accounts, {counts.weak} weak, {counts.not_checked} not fully checked, "
        f"{counts.cleartext_stores} cleartext stores"
    )
    return 0


def cmd_collect_sections(args: argparse.Namespace) -> int:
    """The service's child: read the sections into the spool's cache; print their fingerprints."""
    from agent.runtime.budget import Budget, apply_budget
    from agent.runtime.collection import collect_into_spool

    for problem in apply_budget(Budget(args.memory_mb, args.cpu_seconds)):
        log.warning("%s", problem)
    enabled = [s for s in args.enabled.split(",") if s] or args.sections
    answer = collect_into_spool(args.data_dir, args.sections, enabled, args.timeout)
    sys.stdout.write(json.dumps(answer))
    return 0


def cmd_vpn_logs(args: argparse.Namespace) -> int:
    """The service's child: read the VPN logs, queue the findings as events (agent/vpn/runner.py)."""
    from datetime import datetime

    from agent.runtime.budget import Budget, apply_budget
    from agent.settings import default_config_path
    from agent.vpn.runner import CONFIG_NAME, run_vpn_logs

    _setup_logging()
    for problem in apply_budget(Budget(args.memory_mb, args.cpu_seconds)):
        log.warning("%s", problem)
    config = args.log_config or default_config_path().with_name(CONFIG_NAME)
    try:
        now = datetime.fromisoformat(args.now) if args.now else None
        done = run_vpn_logs(args.data_dir, config, now=now)
    except ValueError as exc:
        print(f"vpn-logs: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(
        json.dumps({"events": done.events, "queued": done.queued, "configured": done.configured})
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from agent.runtime.service import AgentService

    settings = _load(args)
    _setup_logging(settings.log_level)
    service = AgentService(settings)

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        service.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("watchpost-agent %s reporting to %s", __version__, settings.server_url)
    return service.run(once=args.once)


def cmd_status(args: argparse.Namespace) -> int:
    from agent.runtime.service import open_spool

    settings = _load(args)
    store = StateStore(settings.data_path)
    spool = open_spool(settings)

    def when(ts: float | None) -> str | None:
        return datetime.fromtimestamp(ts, tz=UTC).isoformat() if ts else None

    sections = spool.get("sections_status") or {}
    info = {
        "server_url": settings.server_url,
        "enrolled": store.node_key() is not None,
        "key_refused": bool(spool.get("key_refused")),
        "agent_id": str(store.agent_id()),
        "unit_code": spool.get("unit_code", ""),
        "last_delivery_at": when(spool.get("last_delivery_at")),
        "last_full_report_at": when(spool.get("last_full_at")),
        "last_error": spool.get("last_error", ""),
        "config_etag": spool.get("config_etag", ""),
        "queue": spool.depth(),
        "coalesced_snapshots": int(spool.get("coalesced_snapshots", 0)),
        "dropped_events": int(spool.get("dropped_events", 0)),
        "sections": {
            name: {**value, "at": when(value.get("at"))} for name, value in sorted(sections.items())
        },
    }
    spool.close()
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0
    for key, value in info.items():
        if key == "sections":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        print(f"{key:20} {value if value not in (None, '') else '-'}")
    for name, value in info["sections"].items():
        problems = "; ".join(e["message"] for e in value.get("errors", []))
        print(f"section {name:12} {value['status']:8} {value.get('at') or '-'}  {problems}")
    return 0


def cmd_service_host(args: argparse.Namespace) -> int:
    from agent.winservice import host_service

    return host_service(args.config)


def _tolerant_streams() -> None:
    """Never fail on a character an output stream cannot encode (issue 8, Windows). A
    redirected stdout on Windows encodes with the ANSI code page: on a cp1252 PC the Chinese
    unit name raised UnicodeEncodeError after `enroll` had saved the enrollment, so
    install-agent.ps1 saw exit 1 (found running the Windows build under wine). A redirected
    stderr is UTF-8: the service reads its probe children's messages as UTF-8."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")
    if isinstance(sys.stderr, io.TextIOWrapper) and not sys.stderr.isatty():
        sys.stderr.reconfigure(encoding="utf-8", errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    _tolerant_streams()
    args = _parser().parse_args(argv)
    if args.command != "run":
        _setup_logging("warning")
    handlers = {
        "enroll": cmd_enroll,
        "scan": cmd_scan,
        "run": cmd_run,
        "status": cmd_status,
        "capture": cmd_capture,
        "vpn-audit": cmd_vpn_audit,
        "collect-sections": cmd_collect_sections,
        "vpn-logs": cmd_vpn_logs,
        "service-host": cmd_service_host,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
