"""Which VPN servers are on this host and which account stores they use (A9-T2.1).

Everything is read through the HostContext (so ``capture`` records it and tests point it at a
folder): config files of OpenVPN (/etc/openvpn/*.conf, /etc/openvpn/server/*.conf and the
``auth-user-pass-verify`` script they name), strongSwan (ipsec.secrets, swanctl.conf), ocserv
(ocserv.conf ``auth``), pptpd/xl2tpd (pppd options, chap/pap-secrets), WireGuard
(/etc/wireguard/*.conf, ``wg show all latest-handshakes``), the daemons' programs, their systemd
units (``systemctl list-unit-files``/``list-units``) and running processes (psutil, live host only).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.host import HostContext, ReadError

__all__ = ["ServerFound", "StoreRef", "discover", "mark_secret", "openvpn_directives"]

_PROGRAMS = {
    "openvpn": ("/usr/sbin/openvpn", "/usr/bin/openvpn", "/usr/local/sbin/openvpn"),
    "strongswan": (
        "/usr/sbin/charon-systemd",
        "/usr/lib/ipsec/charon",
        "/usr/libexec/ipsec/charon",
        "/usr/libexec/strongswan/charon",
        "/usr/sbin/swanctl",
        "/usr/sbin/ipsec",
    ),
    "ocserv": ("/usr/sbin/ocserv", "/usr/local/sbin/ocserv"),
    "pptpd": ("/usr/sbin/pptpd",),
    "xl2tpd": ("/usr/sbin/xl2tpd",),
    "wireguard": ("/usr/bin/wg", "/usr/bin/wireguard-go"),
}
_PROCESSES = {
    "openvpn": "openvpn",
    "charon": "strongswan",
    "charon-systemd": "strongswan",
    "starter": "strongswan",
    "ocserv": "ocserv",
    "ocserv-main": "ocserv",
    "pptpd": "pptpd",
    "xl2tpd": "xl2tpd",
    "pppd": "ppp",
    "wireguard-go": "wireguard",
}
_UNIT_PATTERNS = ("openvpn*", "strongswan*", "ipsec*", "ocserv*", "pptpd*", "xl2tpd*", "wg-quick@*")
_EASYRSA = (
    "/etc/openvpn/easy-rsa/pki/index.txt",
    "/etc/openvpn/server/easy-rsa/pki/index.txt",
    "/etc/openvpn/pki/index.txt",
    "/etc/openvpn/easy-rsa/keys/index.txt",
    "/etc/easy-rsa/pki/index.txt",
    "/root/easy-rsa/pki/index.txt",
    "/usr/share/easy-rsa/pki/index.txt",
)


@dataclass
class StoreRef:
    path: str
    format: str
    servers: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)  # e.g. {"gid_min": "1000"} for ocserv PAM


@dataclass
class ServerFound:
    kind: str
    name: str
    installed: bool = False
    configured: bool = False
    running: bool | None = None
    enabled: bool | None = None
    units: list[str] = field(default_factory=list)
    config_files: list[str] = field(default_factory=list)
    auth_methods: list[str] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)
    status_files: list[str] = field(default_factory=list)
    log_files: list[str] = field(default_factory=list)


@dataclass
class Discovery:
    servers: list[ServerFound] = field(default_factory=list)
    stores: dict[str, StoreRef] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def use(self, server: ServerFound, path: str, fmt: str, **options: str) -> None:
        ref = self.stores.setdefault(path, StoreRef(path, fmt))
        ref.options.update(options)
        if server.name not in ref.servers:
            ref.servers.append(server.name)
        if path not in server.stores:
            server.stores.append(path)


def mark_secret(ctx: HostContext, path: str, fmt: str) -> None:
    """Tell a capture recorder that ``path`` is a secret store of format ``fmt`` *before* it is
    read, so the bundle gets it redacted field by field (agent/capture.py)."""
    formats = getattr(ctx.recorder, "secret_formats", None)
    if isinstance(formats, dict):
        formats[path] = fmt


def _installed(ctx: HostContext, kind: str) -> bool:
    return any(ctx.exists(p) for p in _PROGRAMS[kind])


def _list(ctx: HostContext, folder: str, suffix: str) -> list[str]:
    return [f"{folder.rstrip('/')}/{n}" for n in ctx.listdir(folder) if n.endswith(suffix)]


def _glob(ctx: HostContext, pattern: str) -> list[str]:
    folder, _, name = pattern.rpartition("/")
    regex = re.compile(re.escape(name).replace(r"\*", ".*").replace(r"\?", "."))
    return [f"{folder}/{n}" for n in ctx.listdir(folder or "/") if regex.fullmatch(n)]


def openvpn_directives(text: str) -> dict[str, list[str]]:
    """OpenVPN config directives: name -> the rest of its (last) line, split like a shell."""
    found: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "<")):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        if words:
            found[words[0].lstrip("-")] = words[1:]
    return found


def _absolute(path: str, base: str) -> str:
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(base, path))


_SCRIPT_PATH = re.compile(r"""(?:^|[\s="'(])(/(?:[\w.@+-]+/)*[\w.@+-]+)""")


def _script_files(ctx: HostContext, script: str) -> tuple[list[str], list[str]]:
    """(stores, logs) an auth script refers to: absolute paths of existing files, by heuristic."""
    text = ctx.read_optional(script)
    if text is None or "\x00" in text[:4096]:
        return [], []
    stores, logs = [], []
    for path in dict.fromkeys(_SCRIPT_PATH.findall(text)):
        if path == script or path.startswith(("/dev/", "/proc/", "/bin/", "/usr/", "/sbin/", "/lib")):
            continue
        if path.endswith(".log") or "/log/" in path:
            logs.append(path)
        elif not path.endswith((".sh", ".py", ".pl")) and ctx.exists(path) and ctx.listdir(path) == []:
            stores.append(path)
    return stores, logs


def _openvpn(ctx: HostContext, found: Discovery) -> None:
    installed = _installed(ctx, "openvpn")
    configs = [(p, "openvpn@") for p in _list(ctx, "/etc/openvpn", ".conf")]
    configs += [(p, "openvpn-server@") for p in _list(ctx, "/etc/openvpn/server", ".conf")]
    for path, unit_prefix in configs:
        text = ctx.read_optional(path)
        if text is None:
            found.notes.append(f"{path}: not readable")
            continue
        directives = openvpn_directives(text)
        if "client" in directives or not ({"server", "server-bridge", "mode"} & set(directives)):
            continue
        name = unit_prefix + posixpath.basename(path)[: -len(".conf")]
        server = ServerFound("openvpn", name, installed, True, units=[f"{name}.service"], config_files=[path])
        base = _absolute(directives.get("cd", [posixpath.dirname(path)])[0], posixpath.dirname(path))
        verify = directives.get("auth-user-pass-verify")
        if verify:
            server.auth_methods.append("password_file")
            script = _absolute(verify[0].split()[0], base)
            server.config_files.append(script)
            stores, logs = _script_files(ctx, script)
            server.log_files += logs
            for store in stores:
                found.use(server, store, "openvpn_password_file")
            if not stores:
                found.notes.append(f"{name}: the account store of {script} was not recognised")
        plugin = " ".join(directives.get("plugin", []))
        if "auth-pam" in plugin:
            server.auth_methods.append("pam")
            found.use(server, "/etc/shadow", "shadow")
        elif "radius" in plugin:
            server.auth_methods.append("radius")
        elif "ldap" in plugin:
            server.auth_methods.append("ldap")
        if directives.get("verify-client-cert", ["require"])[0] == "require":
            server.auth_methods.append("certificate")
            ca = directives.get("ca", [""])[0]
            near = [
                posixpath.join(posixpath.dirname(_absolute(ca, base)), rel)
                for rel in ("index.txt", "../index.txt")
            ]
            for index in dict.fromkeys([*(posixpath.normpath(p) for p in near if ca), *_EASYRSA]):
                if ctx.exists(index):
                    found.use(server, index, "easyrsa_index")
                    break
        for key, target in (
            ("status", server.status_files),
            ("log", server.log_files),
            ("log-append", server.log_files),
        ):
            if directives.get(key):
                target.append(_absolute(directives[key][0], base))
        found.servers.append(server)
    if installed and not any(s.kind == "openvpn" for s in found.servers):
        found.servers.append(ServerFound("openvpn", "openvpn", True, False))


def _strongswan(ctx: HostContext, found: Discovery) -> None:
    from agent.vpn.stores_strongswan import parse_ipsec_secrets, parse_swanctl_conf

    server = ServerFound(
        "strongswan",
        "strongswan",
        _installed(ctx, "strongswan"),
        units=["strongswan.service", "strongswan-starter.service", "ipsec.service"],
    )
    for root in ("/etc", "/etc/strongswan"):
        queue = [f"{root}/ipsec.secrets"]
        seen: set[str] = set()
        while queue and len(seen) < 64:
            path = queue.pop(0)
            if path in seen or not ctx.exists(path):
                continue
            seen.add(path)
            mark_secret(ctx, path, "ipsec_secrets")
            text = ctx.read_optional(path)
            if text is None:
                found.use(server, path, "ipsec_secrets")
                continue
            parsed = parse_ipsec_secrets(text)
            server.auth_methods += [e.extra.get("type", "").lower() for e in parsed.entries]
            if parsed.entries or path.endswith("/ipsec.secrets"):
                found.use(server, path, "ipsec_secrets")
            for pattern in parsed.includes:
                queue += _glob(ctx, _absolute(pattern, posixpath.dirname(path)))
    for root in ("/etc/swanctl", "/etc/strongswan/swanctl"):
        queue = [f"{root}/swanctl.conf"]
        seen = set()
        while queue and len(seen) < 64:
            path = queue.pop(0)
            if path in seen or not ctx.exists(path):
                continue
            seen.add(path)
            mark_secret(ctx, path, "swanctl_conf")
            text = ctx.read_optional(path) or ""
            server.config_files.append(path)
            swan = parse_swanctl_conf(text)
            server.auth_methods += [e.extra.get("type", "").lower() for e in swan.entries]
            if swan.entries or "secrets" in text:
                found.use(server, path, "swanctl_conf")
            if re.search(r"\bconnections\s*\{", text):
                server.configured = True
            if "xauth-pam" in text:
                server.auth_methods.append("pam")
                found.use(server, "/etc/shadow", "shadow")
            for pattern in swan.includes:
                queue += _glob(ctx, _absolute(pattern, posixpath.dirname(path)))
    if server.stores or server.installed:
        server.configured = server.configured or bool(server.stores)
        found.servers.append(server)


def _ocserv(ctx: HostContext, found: Discovery) -> None:
    installed = _installed(ctx, "ocserv")
    path = "/etc/ocserv/ocserv.conf"
    text = ctx.read_optional(path)
    if text is None and not installed:
        return
    server = ServerFound(
        "ocserv",
        "ocserv",
        installed,
        text is not None,
        units=["ocserv.service"],
        config_files=[path] if text is not None else [],
    )
    for match in re.finditer(r'^\s*(?:enable-)?auth\s*=\s*"?([^"\n]+)"?', text or "", re.MULTILINE):
        value = match.group(1).strip()
        method = value.split("[", 1)[0].strip()
        server.auth_methods.append(method)
        if method == "plain":
            inner = value.partition("[")[2].rstrip("]")
            passwd = re.sub(r"^passwd=", "", inner.split(",")[0].strip()) or "/etc/ocserv/ocpasswd"
            found.use(server, passwd, "ocpasswd")
        elif method == "pam":
            gid = re.search(r"gid-min=(\d+)", value)
            found.use(server, "/etc/shadow", "shadow", **({"gid_min": gid.group(1)} if gid else {}))
    found.servers.append(server)


def _ppp(ctx: HostContext, found: Discovery) -> None:
    from agent.vpn.stores import parse_ppp_secrets

    daemons = [
        d
        for d in ("pptpd", "xl2tpd")
        if _installed(ctx, d) or ctx.exists(f"/etc/{d}.conf") or ctx.exists(f"/etc/{d}/{d}.conf")
    ]
    paths = ("/etc/ppp/chap-secrets", "/etc/ppp/pap-secrets")
    for path in paths:
        mark_secret(ctx, path, "chap_secrets" if "chap" in path else "pap_secrets")
    secrets = {p: ctx.read_optional(p) for p in paths}
    has_entries = any(
        e.form in {"cleartext", "hash"}
        for p, t in secrets.items()
        for e in parse_ppp_secrets(t or "", pap="pap" in p)
    )
    if not daemons and not has_entries:
        return
    for name in daemons or ["pppd"]:
        server = ServerFound("ppp", name, name == "pppd" or _installed(ctx, name), units=[f"{name}.service"])
        options = [
            p
            for p in (
                f"/etc/{name}.conf",
                f"/etc/{name}/{name}.conf",
                f"/etc/ppp/{name}-options",
                "/etc/ppp/options.xl2tpd",
                "/etc/ppp/options",
            )
            if ctx.exists(p)
        ]
        server.config_files = options
        server.configured = bool(options) or has_entries
        joined = "\n".join(ctx.read_optional(p) or "" for p in options)
        if re.search(r"^\s*\+?login\b|unix authentication\s*=\s*yes", joined, re.MULTILINE):
            server.auth_methods.append("pam")
            found.use(server, "/etc/shadow", "shadow")
        for path, text in secrets.items():
            if text is not None:
                server.auth_methods.append("chap" if "chap" in path else "pap")
                found.use(server, path, "chap_secrets" if "chap" in path else "pap_secrets")
        found.servers.append(server)


def _wireguard(ctx: HostContext, found: Discovery) -> None:
    for path in _list(ctx, "/etc/wireguard", ".conf"):
        name = posixpath.basename(path)[: -len(".conf")]
        server = ServerFound(
            "wireguard",
            name,
            _installed(ctx, "wireguard"),
            True,
            units=[f"wg-quick@{name}.service"],
            config_files=[path],
            auth_methods=["key"],
        )
        found.use(server, path, "wireguard_conf")
        found.servers.append(server)


def _processes(ctx: HostContext) -> set[str] | None:
    """Kinds with a running process: psutil on the live host, the recorded list on a replay."""
    manifest: Any = getattr(ctx, "manifest", None)
    if isinstance(manifest, dict):
        listed = manifest.get("facts", {}).get("vpn_processes")
        return set(listed) if isinstance(listed, list) else None
    if ctx.root != Path("/"):
        return None
    try:
        import psutil

        names = {p.info.get("name") or "" for p in psutil.process_iter(["name"])}
    except Exception:  # noqa: BLE001 - psutil missing or /proc unreadable: unknown
        return None
    kinds = sorted({_PROCESSES[n] for n in names if n in _PROCESSES})
    if ctx.recorder is not None:
        ctx.recorder.fact("vpn_processes", kinds)
    return set(kinds)


def _systemd(ctx: HostContext, found: Discovery) -> tuple[dict[str, str], dict[str, str]] | None:
    if ctx.root != Path("/") and getattr(ctx, "manifest", None) is None:
        return None
    try:
        files = ctx.run(
            ["systemctl", "list-unit-files", "--no-legend", "--no-pager", *_UNIT_PATTERNS], timeout=20
        )
        units = ctx.run(
            ["systemctl", "list-units", "--all", "--no-legend", "--no-pager", "--plain", *_UNIT_PATTERNS],
            timeout=20,
        )
    except ReadError:
        return None
    enabled = {c[0]: c[1] for c in (line.split() for line in files.stdout.splitlines()) if len(c) >= 2}
    active = {c[0]: c[2] for c in (line.split() for line in units.stdout.splitlines()) if len(c) >= 3}
    found.sources.append("systemctl list-unit-files/list-units")
    return enabled, active


def _unit_state(unit: str, enabled: dict[str, str]) -> str | None:
    if unit in enabled:
        return enabled[unit]
    template = re.sub(r"@.*\.service$", "@.service", unit)
    return "template" if template in enabled and template != unit else None


def discover(ctx: HostContext) -> Discovery:
    """The VPN servers of the host, the stores they use, and notes for the admin."""
    found = Discovery()
    for reader in (_openvpn, _strongswan, _ocserv, _ppp, _wireguard):
        reader(ctx, found)
    running = _processes(ctx)
    systemd = _systemd(ctx, found)
    for server in found.servers:
        process_kind = server.name if server.kind == "ppp" and server.name != "pppd" else server.kind
        if running is not None:
            server.running = process_kind in running or (server.kind == "ppp" and "ppp" in running)
        if systemd is not None:
            enabled, active = systemd
            states = [_unit_state(u, enabled) for u in server.units]
            server.enabled = any(s in {"enabled", "static", "alias"} for s in states if s) or any(
                active.get(u) == "active" for u in server.units
            )
            if any(active.get(u) == "active" for u in server.units):
                server.running = True
    found.servers.sort(key=lambda s: (s.kind, s.name))
    return found
