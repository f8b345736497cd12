"""Linux reader of the ``security_config`` section, and its firewall parsers (pure and total).

nftables (``nft -j list ruleset`` and its text form), ``iptables-save``, ``ufw status
verbose`` and ufw's configuration are read into one shape: base chains with their hook
and policy, and per rule the verdicts and the chains it jumps to. One evaluation then
says whether inbound traffic is filtered: an input-hook filter chain whose policy is
drop, or from which a drop/reject rule is reachable.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from agent.host import CommandResult, HostContext, ReadError
from agent.probes.base import Collected
from agent.probes.security_config import (
    desktop_kind,
    parse_dconf_keyfile,
    parse_lsblk_json,
    parse_modprobe_usb,
    parse_ps_comm,
    screen_lock_from_dconf,
    smb1_from_samba,
)
from wire import SectionError
from wire.sections.security_config import (
    DiskEncryptionFacts,
    FirewallFacts,
    FirewallProfile,
    InboundAction,
    RemoteDesktopFacts,
    ScreenLockFacts,
    SecurityConfigFacts,
    UsbStorageFacts,
)

__all__ = [
    "Chain",
    "collect_linux",
    "evaluate_chains",
    "parse_iptables_save",
    "parse_nft_json",
    "parse_nft_text",
    "parse_ufw",
]

_VERDICTS = ("drop", "reject")


@dataclass
class Rule:
    verdicts: set[str] = field(default_factory=set)  # accept / drop / reject
    jumps: list[str] = field(default_factory=list)  # chains jumped to (jump/goto, -j/-g)
    catch_all: bool = False  # no match: applies to every packet that gets here


@dataclass
class Chain:
    family: str
    table: str
    name: str
    hook: str = ""
    type: str = ""
    policy: str = ""
    rules: list[Rule] = field(default_factory=list)


def _drops(chains: dict[tuple[str, str, str], Chain], start: Chain) -> bool:
    """A drop or reject verdict is reachable from ``start`` through jumps."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        chain = todo.pop()
        if chain.name in seen:
            continue
        seen.add(chain.name)
        for rule in chain.rules:
            if rule.verdicts & set(_VERDICTS):
                return True
            for target in rule.jumps:
                nxt = chains.get((chain.family, chain.table, target))
                if nxt is not None:
                    todo.append(nxt)
    return False


def evaluate_chains(name: str, chains: list[Chain]) -> FirewallProfile:
    """One firewall's verdict from its chains (nftables and iptables alike)."""
    index = {(c.family, c.table, c.name): c for c in chains}
    inputs = [c for c in chains if c.hook == "input" and c.type in ("filter", "")]
    if not chains:
        return FirewallProfile(
            name=name,
            enabled=False,
            inbound_filtered=False,
            detail="no ruleset loaded",
            default_inbound="allow",
        )
    if not inputs:
        return FirewallProfile(
            name=name,
            enabled=True,
            inbound_filtered=False,
            default_inbound="allow",
            detail=f"{len(chains)} chains, none on the input hook",
        )
    details = []
    blocking = False
    filtered = False
    for chain in inputs:
        last = chain.rules[-1] if chain.rules else None
        closes = last is not None and last.catch_all and bool(last.verdicts & set(_VERDICTS))
        blocking = blocking or chain.policy == "drop" or closes
        drops = chain.policy == "drop" or _drops(index, chain)
        filtered = filtered or drops
        details.append(
            f"{chain.family} {chain.table} {chain.name}: policy {chain.policy or '?'}"
            + (", ends in drop/reject" if closes else "")
            + (", drops/rejects some traffic" if drops and chain.policy != "drop" and not closes else "")
        )
    default: InboundAction = "block" if blocking else "allow"
    return FirewallProfile(
        name=name,
        enabled=True,
        default_inbound=default,
        inbound_filtered=filtered,
        detail="; ".join(details)[:1024],
    )


# -- nftables JSON ---------------------------------------------------------------------------
def _walk_verdicts(node: Any, rule: Rule) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("accept", "drop", "reject"):
                rule.verdicts.add(key)
            elif key in ("jump", "goto") and isinstance(value, dict):
                rule.jumps.append(str(value.get("target", "")))
            else:
                _walk_verdicts(value, rule)
    elif isinstance(node, list):
        for item in node:
            _walk_verdicts(item, rule)


def parse_nft_json(text: str) -> list[Chain] | None:
    """Chains of ``nft -j list ruleset``; None when the text is not that JSON.

    Sample input::

        {"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
         {"table": {"family": "inet", "name": "filter", "handle": 1}},
         {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1,
                    "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
         {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 4,
                   "expr": [{"match": {...}}, {"accept": null}]}}]}
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("nftables"), list):
        return None
    chains: dict[tuple[str, str, str], Chain] = {}
    for item in data["nftables"]:
        if not isinstance(item, dict):
            continue
        if isinstance(chain := item.get("chain"), dict):
            key = (str(chain.get("family", "")), str(chain.get("table", "")), str(chain.get("name", "")))
            chains[key] = Chain(
                *key,
                hook=str(chain.get("hook") or ""),
                type=str(chain.get("type") or ""),
                policy=str(chain.get("policy") or ""),
            )
        elif isinstance(rule := item.get("rule"), dict):
            key = (str(rule.get("family", "")), str(rule.get("table", "")), str(rule.get("chain", "")))
            parsed = Rule()
            raw = rule.get("expr")
            exprs: list[Any] = raw if isinstance(raw, list) else []
            _walk_verdicts(exprs, parsed)
            parsed.catch_all = not any(isinstance(e, dict) and "match" in e for e in exprs)
            chains.setdefault(key, Chain(*key)).rules.append(parsed)
    return list(chains.values())


# -- nftables text ---------------------------------------------------------------------------
_TABLE = re.compile(r"^table\s+(\S+)\s+(\S+)\s*\{")
_CHAIN = re.compile(r"^chain\s+(\S+)\s*\{")
_BASE = re.compile(r"type\s+(\w+)\s+hook\s+(\w+)[^;]*;(?:\s*policy\s+(\w+)\s*;)?")
_CATCH_ALL = re.compile(r"^(?:counter(?:\s+packets\s+\d+\s+bytes\s+\d+)?\s+)?(?:log\b.*?\s+)?(drop|reject)\b")


def parse_nft_text(text: str) -> list[Chain]:
    """Chains of ``nft list ruleset`` (text).

    Sample input::

        table inet filter {
            chain input {
                type filter hook input priority filter; policy drop;
                ct state established,related accept
                counter packets 0 bytes 0 reject with icmpx admin-prohibited
            }
        }
    """
    chains: list[Chain] = []
    family = table = ""
    current: Chain | None = None
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if depth == 0 and (m := _TABLE.match(line)):
            family, table, depth = m.group(1), m.group(2), 1
            continue
        if depth == 1 and (m := _CHAIN.match(line)):
            current = Chain(family, table, m.group(1))
            chains.append(current)
            depth = 2
            continue
        if line.endswith("{"):
            depth += 1
            continue
        if line == "}":
            depth = max(depth - 1, 0)
            if depth < 2:
                current = None
            continue
        if current is None or depth != 2:
            continue
        if m := _BASE.search(line):
            current.type, current.hook, current.policy = m.group(1), m.group(2), m.group(3) or "accept"
            continue
        words = set(re.findall(r"[\w-]+", line))
        rule = Rule(verdicts={v for v in ("accept", *_VERDICTS) if v in words})
        rule.jumps = re.findall(r"\b(?:jump|goto)\s+(\S+)", line)
        rule.catch_all = bool(_CATCH_ALL.match(line))
        current.rules.append(rule)
    return chains


# -- iptables-save ---------------------------------------------------------------------------
def parse_iptables_save(text: str) -> list[Chain]:
    """Chains of the ``filter`` table in ``iptables-save`` output.

    Sample input::

        *filter
        :INPUT DROP [0:0]
        :ufw-before-input - [0:0]
        -A INPUT -j ufw-before-input
        -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
        COMMIT
    """
    chains: dict[str, Chain] = {}
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
            continue
        if table != "filter":
            continue
        if line.startswith(":"):
            parts = line[1:].split()
            if parts:
                hook = parts[0].lower() if parts[0] in ("INPUT", "FORWARD", "OUTPUT") else ""
                policy = parts[1].lower() if len(parts) > 1 and parts[1] != "-" else ""
                chains[parts[0]] = Chain(
                    "ip", "filter", parts[0], hook=hook, type="filter" if hook else "", policy=policy
                )
            continue
        if line.startswith("-A "):
            parts = line.split()
            if len(parts) < 2:
                continue
            target = ""
            for flag in ("-j", "-g"):
                if flag in parts[2:]:
                    i = parts.index(flag, 2)
                    target = parts[i + 1] if i + 1 < len(parts) else ""
            rule = Rule()
            if target.lower() in ("accept", *_VERDICTS):
                rule.verdicts.add(target.lower())
            elif target:
                rule.jumps.append(target)
            rule.catch_all = parts[2:3] in (["-j"], ["-g"])
            chains.setdefault(parts[1], Chain("ip", "filter", parts[1])).rules.append(rule)
    return list(chains.values())


# -- ufw -------------------------------------------------------------------------------------
def _ufw_action(word: str) -> InboundAction:
    actions: dict[str, InboundAction] = {
        "deny": "block",
        "reject": "block",
        "drop": "block",
        "allow": "allow",
        "accept": "allow",
    }
    return actions.get(word.strip().strip('"').lower(), "unknown")


def parse_ufw(status: str | None, conf: str | None = None, defaults: str | None = None) -> FirewallProfile:
    """ufw's state from ``ufw status verbose`` (root), else from /etc/ufw/ufw.conf and /etc/default/ufw.

    Sample inputs::

        Status: active
        Logging: on (low)
        Default: deny (incoming), allow (outgoing), disabled (routed)

        ENABLED=no                      (ufw.conf)
        DEFAULT_INPUT_POLICY="DROP"     (/etc/default/ufw)
    """
    enabled: bool | None = None
    inbound: InboundAction = "unknown"
    outbound: InboundAction = "unknown"
    source = "ufw status verbose"
    text = status or ""
    if m := re.search(r"^Status:\s*(\w+)", text, re.M):
        enabled = m.group(1).lower() == "active"
    if m := re.search(r"^Default:\s*(\w+)\s*\(incoming\)(?:,\s*(\w+)\s*\(outgoing\))?", text, re.M):
        inbound = _ufw_action(m.group(1))
        outbound = _ufw_action(m.group(2) or "")
    if enabled is None:
        source = "/etc/ufw/ufw.conf"
        if m := re.search(r"^\s*ENABLED\s*=\s*\"?(\w+)", conf or "", re.M):
            enabled = m.group(1).lower() == "yes"
    if inbound == "unknown" and (
        m := re.search(r"^\s*DEFAULT_INPUT_POLICY\s*=\s*\"?(\w+)", defaults or "", re.M)
    ):
        inbound = _ufw_action(m.group(1))
    filtered = None if enabled is None else (enabled and inbound == "block")
    return FirewallProfile(
        name="ufw",
        enabled=enabled,
        default_inbound=inbound,
        default_outbound=outbound,
        inbound_filtered=filtered,
        detail=source,
    )


# -- the reader ------------------------------------------------------------------------------
_MODPROBE_DIRS = (
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/usr/lib/modprobe.d",
    "/lib/modprobe.d",
)
_REMOTE_DESKTOP = {
    "xrdp": "xrdp",
    "xrdp-sesman": "xrdp",
    "Xvnc": "VNC (Xvnc)",
    "Xtigervnc": "VNC (TigerVNC)",
    "x11vnc": "VNC (x11vnc)",
    "vino-server": "VNC (vino)",
    "gnome-remote-de": "gnome-remote-desktop",
    "krfb": "VNC (krfb)",
}


def _run(ctx: HostContext, argv: list[str], errors: list[SectionError]) -> CommandResult | None:
    try:
        return ctx.run(argv, timeout=30)
    except ReadError as exc:
        errors.append(SectionError(source=" ".join(argv), message=exc.message[:1000]))
        return None


def _firewall(ctx: HostContext, processes: set[str] | None, errors: list[SectionError]) -> FirewallFacts:
    profiles: list[FirewallProfile] = []
    sources: list[str] = []
    unknown = False
    if ctx.which("nft"):
        sources.append("nft -j list ruleset")
        result = _run(ctx, ["nft", "-j", "list", "ruleset"], errors)
        chains = parse_nft_json(result.stdout) if result and result.returncode == 0 else None
        if result is not None and result.returncode == 0 and chains is None:
            text = _run(ctx, ["nft", "list", "ruleset"], errors)
            chains = parse_nft_text(text.stdout) if text and text.returncode == 0 else None
        if chains is None:
            unknown = True
            if result is not None:
                errors.append(
                    SectionError(source="nft list ruleset", message=(result.stderr or "failed")[:1000])
                )
        else:
            profiles.append(evaluate_chains("nftables", chains))
    if ctx.which("iptables-save"):
        sources.append("iptables-save")
        result = _run(ctx, ["iptables-save"], errors)
        if result is not None and result.returncode == 0:
            backend = "iptables (nf_tables)" if "(nf_tables)" in result.stdout else "iptables"
            profile = evaluate_chains(backend, parse_iptables_save(result.stdout))
            # iptables-nft rules live in the nftables ruleset too: counted there already
            if not (backend.endswith("(nf_tables)") and any(p.name == "nftables" for p in profiles)):
                profiles.append(profile)
        else:
            unknown = True
            if result is not None:
                errors.append(
                    SectionError(source="iptables-save", message=(result.stderr or "failed")[:1000])
                )
    else:
        legacy = ctx.read_optional("/proc/net/ip_tables_names")
        if legacy is not None:
            sources.append("/proc/net/ip_tables_names")
            if legacy.strip():
                profiles.append(
                    FirewallProfile(
                        name="iptables",
                        enabled=True,
                        detail="legacy tables loaded: "
                        + ", ".join(legacy.split())[:900]
                        + " (iptables-save not installed)",
                    )
                )
                unknown = True
    if ctx.which("ufw") or ctx.exists("/etc/ufw/ufw.conf"):
        status = _run(ctx, ["ufw", "status", "verbose"], errors) if ctx.which("ufw") else None
        profiles.append(
            parse_ufw(
                status.stdout if status is not None and status.returncode == 0 else None,
                ctx.read_optional("/etc/ufw/ufw.conf"),
                ctx.read_optional("/etc/default/ufw"),
            )
        )
        sources.append("ufw")
    if ctx.which("firewall-cmd") or ctx.exists("/etc/firewalld/firewalld.conf"):
        running = None if processes is None else "firewalld" in processes
        state = _run(ctx, ["firewall-cmd", "--state"], errors) if ctx.which("firewall-cmd") else None
        if state is not None and state.stdout.strip() in ("running", "not running"):
            running = state.stdout.strip() == "running"
        conf = ctx.read_optional("/etc/firewalld/firewalld.conf") or ""
        zone = m.group(1) if (m := re.search(r"^\s*DefaultZone\s*=\s*(\S+)", conf, re.M)) else "public"
        trusting = zone in ("trusted",)
        profiles.append(
            FirewallProfile(
                name="firewalld",
                enabled=running,
                default_inbound="unknown" if running is None else ("allow" if trusting else "block"),
                inbound_filtered=None if running is None else (running and not trusting),
                detail=f"default zone {zone}"[:1024],
            )
        )
        sources.append("firewalld")
    active = [p.name for p in profiles if p.enabled]
    if any(p.enabled and p.inbound_filtered for p in profiles):
        filtered: bool | None = True
    elif unknown or any(p.inbound_filtered is None and p.enabled is not False for p in profiles):
        filtered = None
    else:
        filtered = False
    if not sources:
        sources.append("no firewall tool installed (nft, iptables, ufw, firewalld)")
    return FirewallFacts(
        profiles=profiles, active=active, inbound_filtered=filtered, source="; ".join(sources)[:255]
    )


def _usb(ctx: HostContext, processes: set[str] | None) -> UsbStorageFacts:
    files = {}
    for folder in _MODPROBE_DIRS:
        for name in ctx.listdir(folder):
            if name.endswith(".conf"):
                text = ctx.read_optional(f"{folder}/{name}")
                if text is not None:
                    files[f"{folder}/{name}"] = text
    release = ""
    try:
        release = str(ctx.fact("uname").get("release", ""))
    except (KeyError, AttributeError):
        release = ""
    builtin = bool(release) and "usb-storage.ko" in (
        ctx.read_optional(f"/lib/modules/{release}/modules.builtin") or ""
    )
    facts = parse_modprobe_usb(files, builtin=builtin, loaded=ctx.exists("/sys/module/usb_storage"))
    guard = ctx.read_optional("/etc/usbguard/usbguard-daemon.conf")
    if (
        guard is not None
        and processes is not None
        and "usbguard-daemon" in processes
        and re.search(r"^\s*ImplicitPolicyTarget\s*=\s*block", guard, re.M)
    ):
        return facts.model_copy(
            update={
                "blocked": True,
                "evidence": [*facts.evidence, "usbguard running, ImplicitPolicyTarget=block"],
            }
        )
    return facts


def _screen_lock(ctx: HostContext, processes: set[str] | None) -> ScreenLockFacts:
    sessions = ctx.listdir("/usr/share/xsessions") + ctx.listdir("/usr/share/wayland-sessions")
    desktop = desktop_kind(sessions, processes)
    layers: list[tuple[str, dict[str, dict[str, str]]]] = []
    for db in ctx.listdir("/etc/dconf/db"):
        if db.endswith(".d"):
            for name in reversed(ctx.listdir(f"/etc/dconf/db/{db}")):  # later files win in dconf
                path = f"/etc/dconf/db/{db}/{name}"
                text = ctx.read_optional(path)
                if text is not None:
                    layers.append((path, parse_dconf_keyfile(text)))
    schemas = "/usr/share/glib-2.0/schemas"
    for name in reversed(ctx.listdir(schemas)):  # overrides sort by priority prefix, later wins
        if name.endswith(".gschema.override"):
            text = ctx.read_optional(f"{schemas}/{name}")
            if text is not None:
                layers.append((f"{schemas}/{name}", parse_dconf_keyfile(text)))
    facts = screen_lock_from_dconf(desktop, layers)
    return facts


def collect_linux(ctx: HostContext) -> Collected:
    errors: list[SectionError] = []
    ps = _run(ctx, ["ps", "-e", "-o", "comm="], errors)
    processes = parse_ps_comm(ps.stdout) if ps is not None and ps.returncode == 0 else None
    firewall = _firewall(ctx, processes, errors)
    lsblk = _run(ctx, ["lsblk", "-J", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINT"], errors)
    if lsblk is not None and lsblk.returncode == 0:
        disks = parse_lsblk_json(lsblk.stdout)
    else:
        disks = DiskEncryptionFacts(source="lsblk failed")
        if lsblk is not None:
            errors.append(SectionError(source="lsblk", message=(lsblk.stderr or "failed")[:1000]))
    services = sorted({label for comm, label in _REMOTE_DESKTOP.items() if comm in (processes or set())})
    port = None
    if "xrdp" in services and (
        m := re.search(r"^\s*port\s*=\s*(\d+)", ctx.read_optional("/etc/xrdp/xrdp.ini") or "", re.M)
    ):
        port = int(m.group(1)) if int(m.group(1)) < 65536 else None
    remote = RemoteDesktopFacts(
        enabled=None if processes is None else bool(services),
        port=port,
        services=services,
        source="ps -e -o comm=",
    )
    smbd = ctx.exists("/usr/sbin/smbd")
    version = _run(ctx, ["/usr/sbin/smbd", "--version"], errors) if smbd else None
    smb1 = smb1_from_samba(
        smbd,
        ctx.read_optional("/etc/samba/smb.conf"),
        version.stdout if version is not None else None,
        None if processes is None else "smbd" in processes,
    )
    note = "AutoRun is a Windows setting: not applicable on Linux."
    if processes is None:
        note += " The process list could not be read: remote desktop and service states unknown."
    screen = _screen_lock(ctx, processes)
    if screen.desktop not in ("no desktop", ""):
        note += " Per-user dconf settings (~/.config/dconf/user, binary) are not read."
    return Collected(
        SecurityConfigFacts(
            firewall=firewall,
            screen_lock=screen,
            disk_encryption=disks,
            usb_storage=_usb(ctx, processes),
            remote_desktop=remote,
            smb1=smb1,
            autorun=None,
            note=note,
        ),
        errors,
    )
