"""The VPN account audit: discover, read stores, judge passwords, assemble the ``vpn`` section.

A9-T2.1 (inventory of VPN accounts), A9-T2.2 (weak passwords judged on the host: only verdicts
leave it), A9-T2.3 (facts for zombie accounts: status, certificate expiry, WireGuard handshakes,
last login when the log reader's table exists). Used by agent/probes/vpn.py (section ``vpn``)
and ``watchpost-agent vpn-audit``. Secrets live in :class:`agent.vpn.stores.Secret` objects
inside this function call only; the result holds none.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.host import HostContext, ReadError
from agent.vpn.candidates import DEFAULT_LIMIT, candidates
from agent.vpn.discovery import Discovery, StoreRef, discover, mark_secret
from agent.vpn.hashaudit import HashJob, HashOutcome, ProgressCache, audit_hashes
from agent.vpn.passwords import PasswordData, PasswordPolicy, UserContext, judge
from agent.vpn.store_redact import is_redacted
from agent.vpn.stores import (
    Entry,
    parse_easyrsa_index,
    parse_ocpasswd,
    parse_openvpn_password_file,
    parse_passwd_names,
    parse_ppp_secrets,
    parse_shadow,
)
from agent.vpn.stores_strongswan import parse_ipsec_secrets, parse_swanctl_conf
from agent.vpn.stores_wireguard import parse_wg_conf, parse_wg_latest_handshakes, peer_entries
from wire import SectionError
from wire.sections.vpn import (
    HashAudit,
    VpnAccount,
    VpnCounts,
    VpnFacts,
    VpnServer,
    VpnStore,
    VpnVerdict,
)

__all__ = ["AuditOptions", "audit", "options_from_env"]

LEGACY_SCHEMES = frozenset(
    {
        "md5-crypt",
        "apr1-md5",
        "des-crypt",
        "bsdi-crypt",
        "sun-md5",
        "nt",
        "sha256-hex",
        "sha1-hex",
        "sha1-b64",
    }
)
Say = Callable[[str], None]


@dataclass
class AuditOptions:
    """How hard to try: the hash budget (wall seconds), workers, candidates per account."""

    budget_seconds: float = 60.0
    workers: int | None = None
    candidate_limit: int = DEFAULT_LIMIT
    cache_path: Path | None = None
    unit_words: tuple[str, ...] = ()
    policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    lastlogin_path: Path | None = None
    say: Say | None = None
    hash_progress: Callable[[int, int, int], None] | None = None
    now: datetime | None = None


def options_from_env() -> AuditOptions:
    """Options for the scheduled section: $WATCHPOST_VPN_HASH_BUDGET (s, default 60),
    $WATCHPOST_VPN_CANDIDATES (default 800), $WATCHPOST_VPN_UNIT_WORDS (comma list), and the
    progress file in the agent's data directory (resumes hash checks across runs), and the log
    reader's login table (``<data_dir>/vpn-logins.db`` or $WATCHPOST_VPN_LOGINS_DB)."""

    def number(name: str, default: float) -> float:
        try:
            return max(0.0, float(os.environ.get(name, default)))
        except ValueError:
            return default

    cache: Path | None = None
    logins: Path | None = None
    try:
        from agent.settings import default_config_path, load_settings

        data_path = load_settings(default_config_path()).data_path
        cache, logins = data_path / "vpn-hash-progress.json", data_path / "vpn-logins.db"
    except Exception:  # noqa: BLE001 - not enrolled: no progress file, no login table
        cache = logins = None
    words = tuple(w.strip() for w in os.environ.get("WATCHPOST_VPN_UNIT_WORDS", "").split(",") if w.strip())
    env_db = os.environ.get("WATCHPOST_VPN_LOGINS_DB", "")
    return AuditOptions(
        budget_seconds=number("WATCHPOST_VPN_HASH_BUDGET", 60.0),
        candidate_limit=int(number("WATCHPOST_VPN_CANDIDATES", DEFAULT_LIMIT)),
        cache_path=cache,
        lastlogin_path=Path(env_db) if env_db else logins,
        unit_words=words,
    )


def _clip(text: object, limit: int = 255) -> str:
    return str(text).replace("\x00", "").strip()[:limit]


def _mode(ctx: HostContext, path: str) -> int | None:
    """The file's mode bits: stat on the host (recorded in a capture), the recorded value on a replay."""
    manifest: Any = getattr(ctx, "manifest", None)
    if isinstance(manifest, dict):
        modes = manifest.get("facts", {}).get("vpn_store_modes", {})
        value = modes.get(path) if isinstance(modes, dict) else None
        return value if isinstance(value, int) else None
    try:
        mode = os.stat(ctx.path(path)).st_mode
    except OSError:
        return None
    if ctx.recorder is not None:
        facts = getattr(ctx.recorder, "facts", None)
        modes = dict(facts.get("vpn_store_modes", {})) if isinstance(facts, dict) else {}
        modes[path] = mode
        ctx.recorder.fact("vpn_store_modes", modes)
    return mode


@dataclass
class _Read:
    ref: StoreRef
    entries: list[Entry]
    read: bool
    problem: str = ""
    mode: int | None = None


def _read_store(
    ctx: HostContext, ref: StoreRef, now: datetime, names: dict[str, tuple[int, int, str]]
) -> _Read:
    mark_secret(ctx, ref.path, ref.format)
    try:
        text = ctx.read_text(ref.path)
    except ReadError as exc:
        return _Read(ref, [], False, _clip(exc.message))
    mode = _mode(ctx, ref.path)
    parsers: dict[str, Callable[[str], list[Entry]]] = {
        "openvpn_password_file": parse_openvpn_password_file,
        "easyrsa_index": lambda t: parse_easyrsa_index(t, now),
        "ipsec_secrets": lambda t: parse_ipsec_secrets(t).entries,
        "swanctl_conf": lambda t: parse_swanctl_conf(t).entries,
        "ocpasswd": parse_ocpasswd,
        "chap_secrets": parse_ppp_secrets,
        "pap_secrets": lambda t: parse_ppp_secrets(t, pap=True),
        "shadow": parse_shadow,
    }
    if ref.format == "wireguard_conf":
        interface = Path(ref.path).stem
        handshakes = {}
        if ctx.root == Path("/") and ctx.exists("/usr/bin/wg"):
            try:
                result = ctx.run(["wg", "show", "all", "latest-handshakes"], timeout=10)
                handshakes = parse_wg_latest_handshakes(result.stdout) if result.returncode == 0 else {}
            except ReadError:
                handshakes = {}
        entries = peer_entries(parse_wg_conf(text, interface), handshakes)
    else:
        entries = parsers[ref.format](text)
    if ref.format == "shadow":
        gid_min = int(ref.options.get("gid_min", "0") or 0)
        entries = [
            e
            for e in entries
            if e.form != "none" and (names.get(e.account, (0, 0, ""))[1] >= gid_min or not gid_min)
        ]
    return _Read(ref, entries, True, mode=mode)


def _hash_reasons(outcome: HashOutcome) -> tuple[bool | None, list[str], str, str]:
    """(weak, reasons, check, note) of a tried hash."""
    if outcome.family:
        return True, sorted({"hash_cracked", outcome.family}), "checked", ""
    if outcome.complete:
        return False, [], "checked", ""
    return None, [], "partial" if outcome.tried else "not_checked", outcome.note


@dataclass
class _Row:
    """One account on its way to the wire; ``job`` points at its hash job, if any."""

    fields: dict[str, object]
    servers: list[str]
    storage: list[str]
    job: int | None = None


def _store_facts(read: _Read) -> VpnStore:
    mode = read.mode
    return VpnStore(
        path=_clip(read.ref.path),
        format=read.ref.format,
        servers=[_clip(s) for s in read.ref.servers][:16],
        read=read.read,
        accounts=len(read.entries),
        cleartext_secrets=sum(e.form == "cleartext" for e in read.entries),
        mode=f"{stat.S_IMODE(mode):04o}" if mode is not None else "",
        readable_by_others=bool(mode & stat.S_IROTH) if mode is not None else None,
        problem=_clip(read.problem),
    )


def _row(entry: Entry, ref: StoreRef, full_name: str) -> _Row:
    fields: dict[str, object] = {
        "store": _clip(ref.path),
        "account": _clip(entry.account, 128) or "?",
        "account_type": entry.account_type,
        "full_name": _clip(full_name),
        "status": entry.status,
        "secret_form": entry.form,
        "hash_scheme": _clip(entry.scheme),
        "expires": entry.expires,
    }
    if entry.extra.get("handshake"):
        fields["last_handshake"] = datetime.fromisoformat(entry.extra["handshake"])
    storage = []
    if entry.form == "hash" and entry.scheme in LEGACY_SCHEMES:
        storage.append("legacy_hash_scheme")
    if entry.account_type == "psk" and entry.form == "cleartext":
        storage.append("shared_secret")
    if entry.form in {"external", "unknown"}:
        note = "secret kept elsewhere" if entry.form == "external" else "secret not decodable"
        fields.update(check="not_checked", check_note=note)
    return _Row(fields, list(ref.servers), storage)


def audit(ctx: HostContext, options: AuditOptions | None = None) -> tuple[VpnFacts, list[SectionError]]:
    """The ``vpn`` section of this host (or of the copy under ``ctx.root``)."""
    options = options or AuditOptions()
    say = options.say or (lambda _m: None)
    now = options.now or datetime.now(UTC)
    errors: list[SectionError] = []
    say("discovering VPN servers")
    found: Discovery = discover(ctx)
    names = parse_passwd_names(ctx.read_text("/etc/passwd", default=""))
    data = PasswordData.load()
    notes = list(found.notes)
    if not data.source:
        notes.append("password lists (policies/passwords) not found: list and pattern checks limited")
    reads = []
    for ref in sorted(found.stores.values(), key=lambda r: r.path):
        say(f"reading {ref.path} ({ref.format})")
        read = _read_store(ctx, ref, now, names)
        if not read.read and ctx.exists(ref.path):
            errors.append(
                SectionError(source=_clip(ref.path), message=_clip(read.problem or "unreadable", 1024))
            )
        reads.append(read)
    verdicts: list[VpnVerdict] = []
    jobs: list[HashJob] = []
    rows: list[_Row] = []
    cleartext_stores = 0
    stores = [_store_facts(read) for read in reads]
    for read, store in zip(reads, stores, strict=True):
        first = _clip(read.ref.servers[0] if read.ref.servers else "")
        if any(e.form == "cleartext" and e.secret for e in read.entries):
            cleartext_stores += 1
            verdicts.append(VpnVerdict(server=first, store=store.path, category="cleartext_store"))
        if store.readable_by_others and any(e.form in {"cleartext", "hash"} for e in read.entries):
            verdicts.append(VpnVerdict(server=first, store=store.path, category="store_readable_by_others"))
        say(f"judging {len(read.entries)} entries of {read.ref.path}")
        for entry in read.entries:
            full_name = entry.full_name or names.get(entry.account, (0, 0, ""))[2]
            row = _row(entry, read.ref, full_name)
            user = UserContext(entry.account, full_name, now.year, options.unit_words)
            if entry.form in {"cleartext", "hash"} and is_redacted(entry.secret.reveal()):
                row.fields.update(check="not_checked", check_note="secret redacted in the capture bundle")
            elif entry.form == "cleartext":
                reasons = sorted(judge(entry.secret.reveal(), user, data, options.policy))
                row.fields.update(weak=bool(reasons), reasons=reasons, check="checked")
            elif entry.form == "hash":
                row.job = len(jobs)
                jobs.append(
                    HashJob(
                        row.job,
                        entry.secret,
                        entry.scheme,
                        candidates(user, data, options.candidate_limit),
                        priority=0 if entry.status == "active" else 1,
                    )
                )
            rows.append(row)
    outcomes: dict[int, HashOutcome] = {}
    stats: dict[str, object] = {}
    if jobs:
        say(f"trying candidates against {len(jobs)} hashed secrets (budget {options.budget_seconds:.0f} s)")
        outcomes, stats = audit_hashes(
            jobs,
            options.budget_seconds,
            workers=options.workers,
            progress=options.hash_progress,
            cache=ProgressCache.open(options.cache_path),
        )
    accounts: list[VpnAccount] = []
    for row in rows:
        if row.job is not None:
            outcome = outcomes[row.job]
            weak, reasons, check, note = _hash_reasons(outcome)
            row.fields.update(
                weak=weak,
                reasons=reasons,
                check=check,
                check_note=note,
                candidates_tried=outcome.tried,
                candidates_total=outcome.total,
            )
        password_reasons = row.fields.get("reasons", [])
        assert isinstance(password_reasons, list)
        row.fields["reasons"] = sorted({*password_reasons, *row.storage})
        for server in row.servers or [""]:
            account = VpnAccount.model_validate({**row.fields, "server": _clip(server)})
            accounts.append(account)
            for category in account.reasons:
                verdicts.append(
                    VpnVerdict(
                        server=account.server, store=account.store, account=account.account, category=category
                    )
                )
    facts = _assemble(
        found, stores, accounts, verdicts, jobs, outcomes, stats, options, notes, cleartext_stores
    )
    return facts, errors


#: The log reader's family name of each server kind (agent/vpn/logs.py labels servers so).
_LOG_FAMILY = {"ppp": "pppd"}


def last_logins(path: Path | None, accounts: list[VpnAccount], kinds: dict[str, str]) -> list[VpnAccount]:
    """Accounts with ``last_login`` from the log reader's table (agent/vpn/lastlogin.py), when that
    module is part of this agent and its database exists; else unchanged. The server is looked up
    by its name (a label) and then by its family (``openvpn``, ``strongswan``, ``ocserv``, ``pppd``)."""
    if path is None or not path.is_file() or importlib.util.find_spec("agent.vpn.lastlogin") is None:
        return accounts
    module = importlib.import_module("agent.vpn.lastlogin")
    store_class = getattr(module, "LastLoginStore", None)
    if store_class is None:
        return accounts
    try:
        store = store_class(path)
    except Exception:  # noqa: BLE001 - a broken table must not cost the inventory
        return accounts
    try:
        out = []
        for account in accounts:
            kind = kinds.get(account.server, "")
            when = None
            for server in dict.fromkeys([account.server, _LOG_FAMILY.get(kind, kind)]):
                if server and when is None:
                    when = store.last_login(server, account.account)
            out.append(account.model_copy(update={"last_login": when}) if when is not None else account)
        return out
    except Exception:  # noqa: BLE001
        return accounts
    finally:
        store.close()


def _assemble(
    found: Discovery,
    stores: list[VpnStore],
    accounts: list[VpnAccount],
    verdicts: list[VpnVerdict],
    jobs: list[HashJob],
    outcomes: dict[int, HashOutcome],
    stats: dict[str, object],
    options: AuditOptions,
    notes: list[str],
    cleartext_stores: int,
) -> VpnFacts:
    servers = [
        VpnServer(
            kind=s.kind,
            name=_clip(s.name),
            installed=s.installed,
            configured=s.configured,
            running=s.running,
            enabled=s.enabled,
            units=[_clip(u) for u in s.units][:16],
            config_files=[_clip(c) for c in dict.fromkeys(s.config_files)][:64],
            auth_methods=[_clip(a) for a in dict.fromkeys(s.auth_methods)][:16],
            stores=[_clip(p) for p in s.stores][:64],
            status_files=[_clip(p) for p in s.status_files][:16],
            log_files=[_clip(p) for p in dict.fromkeys(s.log_files)][:16],
        )
        for s in found.servers
    ]
    schemes: dict[str, int] = {}
    for job in jobs:
        schemes[job.scheme] = schemes.get(job.scheme, 0) + 1
    done = [o for o in outcomes.values() if o.complete]
    partial = [o for o in outcomes.values() if not o.complete and o.tried]
    hash_audit = HashAudit(
        budget_seconds=options.budget_seconds,
        workers=int(stats.get("workers", 0) or 0),  # type: ignore[call-overload]
        elapsed_seconds=float(stats.get("elapsed", 0.0) or 0.0),  # type: ignore[arg-type]
        hashes=len(jobs),
        checked=len(done),
        partial=len(partial),
        not_checked=len(outcomes) - len(done) - len(partial),
        candidates_tried=int(stats.get("tried", 0) or 0),  # type: ignore[call-overload]
        schemes={_clip(k): v for k, v in sorted(schemes.items())},
        library=_clip(stats.get("library", "") or ""),
    )
    accounts = last_logins(options.lastlogin_path, accounts, {s.name: s.kind for s in found.servers})
    accounts.sort(key=lambda a: (a.server, a.store, a.account))
    verdicts.sort(key=lambda v: (v.server, v.store, v.account, v.category))
    if stats.get("mode"):
        notes.append(f"hash checks ran as {stats['mode']}")
    if hash_audit.not_checked or hash_audit.partial:
        notes.append(
            f"{hash_audit.not_checked + hash_audit.partial} hashed passwords not fully checked within the "
            f"{options.budget_seconds:.0f} s budget (see hash_audit; later runs resume)"
        )
    counts = VpnCounts(
        servers=len(servers),
        servers_running=sum(bool(s.running) for s in servers),
        accounts=len(accounts),
        weak=sum(a.weak is True for a in accounts),
        not_checked=sum(a.check in {"partial", "not_checked"} for a in accounts),
        cleartext_stores=cleartext_stores,
        locked=sum(a.status in {"locked", "revoked", "expired", "disabled"} for a in accounts),
    )
    return VpnFacts(
        servers=servers[:64],
        stores=stores[:256],
        accounts=accounts[:20000],
        verdicts=verdicts[:50000],
        hash_audit=hash_audit,
        counts=counts,
        sources=[_clip(s) for s in dict.fromkeys([*found.sources, *(s.path for s in stores)])][:64],
        note=_clip("; ".join(dict.fromkeys(notes)), 8192),
    )
