"""Probe ``security_config``: firewall, screen lock, disk encryption, USB storage, RDP, SMBv1, autorun (A9-T3.5).

This module holds the PROBE and the pure Linux parsers other than the firewall ones
(disk encryption from lsblk, USB storage from modprobe.d, screen lock from dconf,
samba's SMB1 setting, the process list). The Linux reader and the firewall parsers are
in security_config_linux.py, the Windows reader in security_config_windows.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from agent.host import HostContext
from agent.probes.base import Collected, Probe
from wire.sections.security_config import (
    DiskEncryptionFacts,
    EncryptedVolume,
    ScreenLockFacts,
    ScreenLockSetting,
    Smb1Facts,
    UsbStorageFacts,
)

__all__ = [
    "PROBE",
    "desktop_kind",
    "parse_dconf_keyfile",
    "parse_lsblk_json",
    "parse_modprobe_usb",
    "parse_ps_comm",
    "parse_smb_conf",
    "screen_lock_from_dconf",
    "smb1_from_samba",
]


def _clip(value: object, limit: int = 255) -> str:
    return ("" if value is None else str(value)).replace("\x00", "").strip()[:limit]


# -- processes -------------------------------------------------------------------------------
def parse_ps_comm(text: str) -> set[str]:
    """Process names of ``ps -e -o comm=`` (one per line, at most 15 characters).

    Sample input::

        systemd
        smbd
        gnome-shell
    """
    return {line.strip() for line in text.splitlines() if line.strip()}


# -- disk encryption -------------------------------------------------------------------------
def _mounts(node: Mapping[str, Any]) -> list[str]:
    found = [node.get("mountpoint")]
    if isinstance(node.get("mountpoints"), list):
        found.extend(node["mountpoints"])
    return [str(m) for m in found if m]


def parse_lsblk_json(text: str) -> DiskEncryptionFacts:
    """Encrypted block devices and whether / sits on one, from ``lsblk -J -o NAME,TYPE,FSTYPE,MOUNTPOINT``.

    A LUKS partition has FSTYPE crypto_LUKS; its opened mapping is a child of TYPE crypt.
    / is encrypted when the device mounted there is a crypt mapping or lies above one
    (LVM on LUKS). Sample input::

        {"blockdevices": [{"name": "nvme0n1", "type": "disk", "children": [
            {"name": "nvme0n1p2", "type": "part", "fstype": "crypto_LUKS", "children": [
                {"name": "cryptroot", "type": "crypt", "fstype": "ext4", "mountpoint": "/"}]}]}]}
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return DiskEncryptionFacts(source="lsblk (output not JSON)")
    devices = data.get("blockdevices") if isinstance(data, dict) else None
    if not isinstance(devices, list):
        return DiskEncryptionFacts(source="lsblk (no blockdevices)")
    volumes: list[EncryptedVolume] = []
    root: bool | None = None

    def walk(node: Any, under_crypt: bool, depth: int) -> None:
        nonlocal root
        if not isinstance(node, dict) or depth > 32:
            return
        kind = _clip(node.get("type")).lower()
        fstype = _clip(node.get("fstype"))
        crypt = kind == "crypt"
        mounts = _mounts(node)
        if crypt or fstype.lower() in ("crypto_luks", "bitlocker"):
            volumes.append(
                EncryptedVolume(
                    name=_clip(node.get("name"), 128) or "?",
                    mountpoint=_clip(", ".join(mounts)),
                    encrypted=True,
                    protection_on=True if crypt else None,
                    method="crypt" if crypt else fstype,
                    volume_type=kind,
                )
            )
        if "/" in mounts:
            root = under_crypt or crypt
        for child in node.get("children") or []:
            walk(child, under_crypt or crypt, depth + 1)

    for device in devices:
        walk(device, False, 0)
    return DiskEncryptionFacts(system_encrypted=root, volumes=volumes[:256], source="lsblk -J")


# -- USB storage -----------------------------------------------------------------------------
_USB_MODULE = r"usb[-_]storage"


def parse_modprobe_usb(
    files: Mapping[str, str], *, builtin: bool = False, loaded: bool = False
) -> UsbStorageFacts:
    """USB mass-storage policy from modprobe.d files (path -> text).

    ``install usb-storage /bin/false`` (or /bin/true) stops the driver from loading at all;
    ``blacklist usb-storage`` stops it being loaded on plug-in. Neither helps when the
    driver is built into the kernel or already loaded. Sample input::

        # /etc/modprobe.d/usb-storage.conf
        install usb-storage /bin/false
        blacklist usb-storage
    """
    evidence: list[str] = []
    install = blacklist = False
    for path, text in sorted(files.items()):
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if m := re.match(rf"^install\s+{_USB_MODULE}\s+(.*)$", line):
                command = m.group(1).strip()
                if re.search(r"(^|/)(false|true)\b", command) or command in ("/dev/null", ":"):
                    install = True
                    evidence.append(f"{path}: install usb-storage {command}"[:1024])
            elif re.match(rf"^blacklist\s+{_USB_MODULE}\s*$", line):
                blacklist = True
                evidence.append(f"{path}: blacklist usb-storage (plug-in autoload only)"[:1024])
    blocked = install or blacklist
    if blocked and builtin:
        evidence.append("usb-storage is built into the kernel: modprobe rules do not apply")
        blocked = False
    elif blocked and loaded:
        evidence.append("usb-storage is loaded right now despite the rule")
        blocked = False
    if not evidence:
        evidence.append("no modprobe.d rule for usb-storage")
    return UsbStorageFacts(blocked=blocked, evidence=evidence[:64])


# -- screen lock -----------------------------------------------------------------------------
def parse_dconf_keyfile(text: str) -> dict[str, dict[str, str]]:
    """A dconf keyfile (/etc/dconf/db/*.d/*) or gschema override, as section -> key -> raw value.

    Section names are normalised to the dconf path form (``org/gnome/desktop/session``).
    Sample input::

        [org/gnome/desktop/session]
        idle-delay=uint32 300

        [org.gnome.desktop.screensaver]
        lock-enabled=true
    """
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip().replace(".", "/").strip("/")
            current = sections.setdefault(name, {})
            continue
        if current is not None and "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return sections


def _gvariant(value: str | None) -> str:
    text = (value or "").strip()
    text = re.sub(r"^(uint32|int32|uint64|int64|@\w+)\s+", "", text)
    return text.strip("'\"")


def _gv_int(value: str | None) -> int | None:
    try:
        number = int(_gvariant(value))
    except ValueError:
        return None
    return number if 0 <= number < 2**31 else None


def _gv_bool(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get(_gvariant(value).lower())


#: Built-in defaults of the desktops' schemas when nothing overrides them.
_DEFAULTS: dict[str, tuple[int | None, bool | None]] = {
    "gnome": (300, True),  # org.gnome.desktop.session idle-delay 300 s; screensaver lock-enabled true
    "ukui": (300, True),  # org.ukui.screensaver idle-delay 5 (minutes); lock-enabled true
}


def screen_lock_from_dconf(
    desktop: str, layers: Iterable[tuple[str, Mapping[str, Mapping[str, str]]]]
) -> ScreenLockFacts:
    """The screen lock of a Linux desktop from dconf layers, highest precedence first.

    ``layers`` are (source, parsed keyfile) pairs: system dconf databases, then vendor
    gschema overrides. GNOME: org/gnome/desktop/session idle-delay (seconds, 0 = never),
    org/gnome/desktop/screensaver lock-enabled, lock-delay. UKUI (Kylin):
    org/ukui/screensaver idle-delay (minutes), lock-enabled. DDE (UOS):
    com/deepin/dde/power line-power-lock-delay (seconds), screen-black-lock.
    """
    if desktop == "no desktop":
        return ScreenLockFacts(desktop=desktop)
    settings: list[ScreenLockSetting] = []
    for source, sections in layers:
        timeout: int | None = None
        lock: bool | None = None
        if desktop in ("gnome", "other"):
            timeout = _gv_int(sections.get("org/gnome/desktop/session", {}).get("idle-delay"))
            screensaver = sections.get("org/gnome/desktop/screensaver", {})
            lock = _gv_bool(screensaver.get("lock-enabled"))
            delay = _gv_int(screensaver.get("lock-delay"))
            if timeout is not None and delay:
                timeout += delay
        elif desktop == "ukui":
            screensaver = sections.get("org/ukui/screensaver", {})
            minutes = _gv_int(screensaver.get("idle-delay"))
            timeout = None if minutes is None else minutes * 60
            lock = _gv_bool(screensaver.get("lock-enabled"))
        elif desktop == "dde":
            power = sections.get("com/deepin/dde/power", {})
            timeout = _gv_int(power.get("line-power-lock-delay"))
            lock = _gv_bool(power.get("screen-black-lock"))
        if timeout is not None or lock is not None:
            settings.append(
                ScreenLockSetting(
                    scope="system dconf" if source.startswith("/etc/dconf") else "vendor default",
                    timeout_seconds=timeout,
                    lock_enabled=None if lock is None else (lock and timeout != 0),
                    password_on_resume=lock,
                    source=_clip(source, 1024),
                )
            )
    timeout = next((s.timeout_seconds for s in settings if s.timeout_seconds is not None), None)
    password = next((s.password_on_resume for s in settings if s.password_on_resume is not None), None)
    source = ", ".join(dict.fromkeys(s.source for s in settings))
    if desktop in _DEFAULTS:
        default_timeout, default_lock = _DEFAULTS[desktop]
        if timeout is None or password is None:
            source = ", ".join(x for x in (source, f"{desktop} built-in default") if x)
        timeout = default_timeout if timeout is None else timeout
        password = default_lock if password is None else password
    return ScreenLockFacts(
        desktop=desktop,
        timeout_seconds=timeout,
        password_on_resume=password,
        source=_clip(source, 1024),
        settings=settings[:256],
    )


def desktop_kind(sessions: Iterable[str], processes: set[str] | None) -> str:
    """gnome / ukui / dde / other / 'no desktop' from installed session files and running processes.

    ``sessions`` are file names in /usr/share/xsessions and /usr/share/wayland-sessions.
    """
    names = " ".join(sessions).lower() + " " + " ".join(processes or ()).lower()
    if "ukui" in names:
        return "ukui"
    if "deepin" in names or "dde-" in names or "startdde" in names:
        return "dde"
    if "gnome" in names:
        return "gnome"
    if any(s.endswith(".desktop") for s in sessions) or {"Xorg", "Xwayland"} & (processes or set()):
        return "other"
    return "no desktop"


# -- SMBv1 on samba --------------------------------------------------------------------------
def parse_smb_conf(text: str) -> dict[str, str]:
    """The [global] options of smb.conf, keys lower-cased with single spaces.

    Sample input::

        [global]
           workgroup = WORKGROUP
           server min protocol = NT1
    """
    options: dict[str, str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]").strip().lower()
            continue
        if section == "global" and "=" in line:
            key, _, value = line.partition("=")
            options[" ".join(key.lower().split())] = value.strip()
    return options


_SMB1_DIALECTS = {"core", "coreplus", "lanman1", "lanman2", "nt1"}


def smb1_from_samba(
    installed: bool, conf: str | None, version: str | None, running: bool | None
) -> Smb1Facts:
    """SMBv1 on a samba server: `server min protocol` (alias `min protocol`) and the samba version.

    Samba 4.11 and later default to SMB2_02 (no SMBv1); older ones accepted NT1.
    ``version`` is the output of ``smbd --version`` (``Version 4.17.12-Debian``).
    """
    if not installed:
        return Smb1Facts(
            server_enabled=False, server_running=running, evidence=["samba (smbd) not installed"]
        )
    options = parse_smb_conf(conf or "")
    setting = options.get("server min protocol") or options.get("min protocol") or ""
    evidence = [f"server min protocol = {setting}" if setting else "server min protocol not set"]
    enabled: bool | None
    if setting:
        enabled = setting.lower() in _SMB1_DIALECTS
    else:
        m = re.search(r"(\d+)\.(\d+)", version or "")
        enabled = None if m is None else (int(m.group(1)), int(m.group(2))) < (4, 11)
        evidence.append(f"samba {m.group(0)} default" if m else "samba version unknown")
    return Smb1Facts(
        server_enabled=enabled,
        server_running=running,
        server_min_protocol=_clip(setting),
        evidence=evidence,
    )


def _collect_linux(ctx: HostContext) -> Collected:
    from agent.probes.security_config_linux import collect_linux

    return collect_linux(ctx)


def _collect_windows(ctx: HostContext) -> Collected:
    from agent.probes.security_config_windows import collect_windows

    return collect_windows(ctx)


PROBE = Probe(
    section="security_config",
    description="firewall, screen lock, disk encryption, USB storage, RDP, SMBv1, autorun",
    collectors={"linux": _collect_linux, "windows": _collect_windows},
)
