"""Windows reader of the ``security_config`` section: one PowerShell call, parsed here.

The script gathers, each part in its own try/catch: Get-NetFirewallProfile (ActiveStore),
Win32_EncryptableVolume (BitLocker; needs administrator rights), Get-SmbServerConfiguration,
the SMB1Protocol optional feature, the registry values of the settings, and the desktop
values of every loaded user hive (HKEY_USERS\\<SID>), since the agent runs as SYSTEM and
its own HKCU says nothing about the people using the PC.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agent.host import HostContext, ReadError
from agent.probes.base import Collected
from wire import SectionError
from wire.sections.security_config import (
    AutorunFacts,
    DiskEncryptionFacts,
    EncryptedVolume,
    FirewallFacts,
    FirewallProfile,
    InboundAction,
    RemoteDesktopFacts,
    ScreenLockFacts,
    ScreenLockSetting,
    SecurityConfigFacts,
    Smb1Facts,
    UsbStorageFacts,
)

__all__ = [
    "POWERSHELL",
    "POWERSHELL_ARGV",
    "REGISTRY_VALUES",
    "collect_windows",
    "parse_bitlocker",
    "parse_firewall_profiles",
    "parse_format_list",
    "parse_windows_security",
]

_SAVER = "ScreenSaveTimeOut,ScreenSaverIsSecure,ScreenSaveActive,SCRNSAVE.EXE"
_EXPLORER = "NoDriveTypeAutoRun,NoAutorun"
_POLICY_SYSTEM = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System"
_POLICY_DESKTOP = r"HKLM\SOFTWARE\Policies\Microsoft\Windows\Control Panel\Desktop"
_USBSTOR = r"HKLM\SYSTEM\CurrentControlSet\Services\USBSTOR"
_REMOVABLE = r"HKLM\SOFTWARE\Policies\Microsoft\Windows\RemovableStorageDevices"
_REMOVABLE_DISKS = _REMOVABLE + r"\{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}"
_WRITE_PROTECT = r"HKLM\SYSTEM\CurrentControlSet\Control\StorageDevicePolicies"
_TS = r"HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server"
_RDP_TCP = _TS + r"\WinStations\RDP-Tcp"
_TS_POLICY = r"HKLM\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services"
_LANMAN = r"HKLM\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"
_MRXSMB10 = r"HKLM\SYSTEM\CurrentControlSet\Services\mrxsmb10"
_EXPLORER_POLICY = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Explorer"

#: Registry key -> the value names read from it (nothing else is read: no secrets).
REGISTRY_VALUES: dict[str, str] = {
    _POLICY_SYSTEM: "InactivityTimeoutSecs",
    _POLICY_DESKTOP: _SAVER,
    _USBSTOR: "Start",
    _REMOVABLE: "Deny_All",
    _REMOVABLE_DISKS: "Deny_Read,Deny_Write,Deny_Execute",
    _WRITE_PROTECT: "WriteProtect",
    _TS: "fDenyTSConnections",
    _RDP_TCP: "UserAuthentication,PortNumber,SecurityLayer",
    _TS_POLICY: "fDenyTSConnections,UserAuthentication",
    _LANMAN: "SMB1",
    _MRXSMB10: "Start",
    _EXPLORER_POLICY: _EXPLORER,
}

#: One PowerShell call (Windows PowerShell 5.1 and 7); UTF-8 so that Chinese user names survive.
POWERSHELL = (
    "[Console]::OutputEncoding=[Text.Encoding]::UTF8; $ErrorActionPreference='Stop'; $r=@{}; $e=@{}; "
    "function V($k,$n){ $p='Registry::'+($k -replace '^HKLM','HKEY_LOCAL_MACHINE' -replace '^HKU','HKEY_USERS'); "
    "if(-not (Test-Path -LiteralPath $p)){ return $null }; $i=Get-ItemProperty -LiteralPath $p; $o=@{}; "
    "foreach($x in ($n -split ',')){ if($null -ne $i.$x){ $o[$x]=$i.$x } }; $o }; "
    "try { $r.Firewall=@(Get-NetFirewallProfile -PolicyStore ActiveStore | Select-Object Name,"
    "@{n='Enabled';e={[string]$_.Enabled}},@{n='DefaultInboundAction';e={[string]$_.DefaultInboundAction}},"
    "@{n='DefaultOutboundAction';e={[string]$_.DefaultOutboundAction}}) } catch { $e.Firewall=$_.Exception.Message }; "
    "try { $r.BitLocker=@(Get-CimInstance -Namespace 'root\\cimv2\\Security\\MicrosoftVolumeEncryption' "
    "-ClassName Win32_EncryptableVolume | Select-Object DriveLetter,DeviceID,ProtectionStatus,ConversionStatus,"
    "EncryptionMethod,VolumeType) } catch { $e.BitLocker=$_.Exception.Message }; "
    "$r.SystemDrive=$env:SystemDrive; "
    "try { $r.Smb=Get-SmbServerConfiguration | Select-Object EnableSMB1Protocol,EnableSMB2Protocol } "
    "catch { $e.Smb=$_.Exception.Message }; "
    "try { $r.Smb1Feature=@(Get-WindowsOptionalFeature -Online -FeatureName SMB1Protocol | "
    "Select-Object FeatureName,@{n='State';e={[string]$_.State}}) } catch { $e.Smb1Feature=$_.Exception.Message }; "
    "$g=@{}; foreach($k in @("
    + ",".join(f"@('{key}','{names}')" for key, names in REGISTRY_VALUES.items())
    + ")){ try { $g[$k[0]]=V $k[0] $k[1] } catch { $e['registry '+$k[0]]=$_.Exception.Message } }; "
    "$r.Registry=$g; $u=@{}; "
    "try { foreach($s in @(Get-ChildItem -LiteralPath 'Registry::HKEY_USERS' | ForEach-Object { $_.PSChildName } | "
    "Where-Object { $_ -match '^S-1-(5-21|12-1)-[0-9-]+$' })) { $n=''; "
    "try { $n=(New-Object Security.Principal.SecurityIdentifier($s)).Translate([Security.Principal.NTAccount]).Value } "
    "catch {}; "
    f"$u[$s]=@{{Name=$n; Desktop=(V ('HKU\\'+$s+'\\Control Panel\\Desktop') '{_SAVER}'); "
    f"Policy=(V ('HKU\\'+$s+'\\Software\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop') '{_SAVER}'); "
    f"Explorer=(V ('HKU\\'+$s+'\\Software\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer') '{_EXPLORER}')}} }} }} "
    "catch { $e.Users=$_.Exception.Message }; $r.Users=$u; $r.Errors=$e; $r | ConvertTo-Json -Depth 6 -Compress"
)
POWERSHELL_ARGV = [
    "powershell.exe",
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-Command",
    POWERSHELL,
]

_GPO_BOOL = {"true": True, "1": True, "false": False, "0": False}
_ACTIONS: dict[str, InboundAction] = {
    "0": "not_configured",
    "notconfigured": "not_configured",
    "2": "allow",
    "allow": "allow",
    "4": "block",
    "block": "block",
}
_CONVERSION = {
    0: "fully decrypted",
    1: "fully encrypted",
    2: "encryption in progress",
    3: "decryption in progress",
    4: "encryption paused",
    5: "decryption paused",
}
_METHODS = {
    0: "none",
    1: "AES-128 with diffuser",
    2: "AES-256 with diffuser",
    3: "AES-128",
    4: "AES-256",
    5: "hardware",
    6: "XTS-AES-128",
    7: "XTS-AES-256",
}
_VOLUME_TYPES = {0: "os", 1: "fixed data", 2: "removable"}


def _items(value: Any) -> list[dict[str, Any]]:
    """A list, one object, PS 5.1's {"value": [...], "Count": n} wrapper, or null -> list of dicts."""
    if isinstance(value, dict) and isinstance(value.get("value"), list) and "Count" in value:
        value = value["value"]
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    try:
        number = int(str(value).strip(), 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number < 2**32 else None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return _GPO_BOOL.get(str(value).strip().lower()) if value is not None else None


def _text(value: Any, limit: int = 255) -> str:
    return ("" if value is None else str(value)).replace("\x00", "").strip()[:limit]


def parse_format_list(text: str) -> dict[str, str]:
    """``Cmdlet | Format-List`` output (one object) as name -> value text.

    Sample input::

        EnableSMB1Protocol              : True
        EnableSMB2Protocol              : True
    """
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() and " " not in name.strip():
            values[name.strip()] = value.strip()
    return values


def parse_firewall_profiles(value: Any) -> FirewallFacts:
    """Get-NetFirewallProfile objects: Enabled (GpoBoolean True/False/NotConfigured or 1/0/2) and
    DefaultInboundAction (NotConfigured/Allow/Block or 0/2/4); NotConfigured inbound means Block.

    Sample input::

        [{"Name": "Domain", "Enabled": "True", "DefaultInboundAction": "Block",
          "DefaultOutboundAction": "Allow"}]
    """
    profiles = []
    for item in _items(value):
        name = _text(item.get("Name") or item.get("Profile"), 128)
        if not name:
            continue
        enabled = _bool(item.get("Enabled"))
        inbound = _ACTIONS.get(str(item.get("DefaultInboundAction")).strip().lower(), "unknown")
        outbound = _ACTIONS.get(str(item.get("DefaultOutboundAction")).strip().lower(), "unknown")
        filtered = None if enabled is None else (enabled and inbound in ("block", "not_configured"))
        if enabled is True and inbound == "unknown":
            filtered = None
        detail = (
            "not configured (Windows default: on)"
            if str(item.get("Enabled")).lower() in ("2", "notconfigured")
            else ""
        )
        profiles.append(
            FirewallProfile(
                name=name,
                enabled=enabled,
                default_inbound=inbound,
                default_outbound=outbound,
                inbound_filtered=filtered,
                detail=detail,
            )
        )
    states = [p.inbound_filtered for p in profiles]
    overall = None if not states or (None in states and False not in states) else all(states)
    return FirewallFacts(
        profiles=profiles[:32],
        active=[p.name for p in profiles if p.enabled][:16],
        inbound_filtered=overall,
        source="Get-NetFirewallProfile -PolicyStore ActiveStore",
    )


def parse_bitlocker(value: Any, system_drive: str = "C:") -> DiskEncryptionFacts:
    """Win32_EncryptableVolume instances (CIM JSON, Get-WmiObject JSON or wmic /format:list dicts).

    ProtectionStatus 0 off, 1 on, 2 unknown (locked); ConversionStatus 0 decrypted ... 1 encrypted.
    Sample input::

        [{"DriveLetter": "C:", "ProtectionStatus": 1, "ConversionStatus": 1, "EncryptionMethod": 6,
          "VolumeType": 0}]
    """
    volumes = []
    system: bool | None = None
    for item in _items(value):
        if isinstance(item.get("volume"), dict):  # mondoo-style wrapper around the instance
            item = item["volume"]
        letter = _text(item.get("DriveLetter"), 8)
        name = letter or _text(item.get("DeviceID"), 128)
        if not name:
            continue
        protection = _int(item.get("ProtectionStatus"))
        conversion = _int(item.get("ConversionStatus"))
        method = _int(item.get("EncryptionMethod"))
        encrypted = None if conversion is None else conversion != 0
        if encrypted is None and method is not None:
            encrypted = method != 0
        protected = {0: False, 1: True}.get(protection) if protection is not None else None
        volumes.append(
            EncryptedVolume(
                name=name,
                mountpoint=letter,
                encrypted=encrypted,
                protection_on=protected,
                method=_METHODS.get(method, str(method)) if method is not None else "",
                status=_CONVERSION.get(conversion, "") if conversion is not None else "",
                volume_type=_VOLUME_TYPES.get(vtype, "")
                if (vtype := _int(item.get("VolumeType"))) is not None
                else "",
            )
        )
        is_system = letter.upper() == system_drive.strip().upper() if letter else False
        if is_system or (not system_drive and _int(item.get("VolumeType")) == 0):
            system = (
                bool(encrypted and protected) if encrypted is not None and protected is not None else None
            )
            if encrypted is False or protected is False:
                system = False
    return DiskEncryptionFacts(
        system_encrypted=system, volumes=volumes[:256], source="Win32_EncryptableVolume (BitLocker)"
    )


def _reg(registry: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = registry.get(key)
    return value if isinstance(value, dict) else None


def _saver(values: Mapping[str, Any] | None) -> tuple[int | None, bool | None, bool | None]:
    if not values:
        return None, None, None
    timeout = _int(values.get("ScreenSaveTimeOut"))
    active = _bool(values.get("ScreenSaveActive"))
    secure = _bool(values.get("ScreenSaverIsSecure"))
    return timeout, active, secure


def _screen_lock(registry: Mapping[str, Any], users: Mapping[str, Any]) -> ScreenLockFacts:
    settings: list[ScreenLockSetting] = []
    inactivity = _int((_reg(registry, _POLICY_SYSTEM) or {}).get("InactivityTimeoutSecs"))
    if inactivity is not None:
        settings.append(
            ScreenLockSetting(
                scope="machine policy (InactivityTimeoutSecs)",
                timeout_seconds=inactivity,
                lock_enabled=inactivity > 0,
                password_on_resume=True if inactivity > 0 else None,
                source=_POLICY_SYSTEM,
            )
        )
    machine = _reg(registry, _POLICY_DESKTOP)
    if machine:
        timeout, active, secure = _saver(machine)
        settings.append(
            ScreenLockSetting(
                scope="machine policy",
                timeout_seconds=timeout,
                lock_enabled=active,
                password_on_resume=secure,
                source=_POLICY_DESKTOP,
            )
        )
    merged_users: list[ScreenLockSetting] = []
    for sid, entry in sorted(users.items()) if isinstance(users, Mapping) else []:
        if not isinstance(entry, dict):
            continue
        who = _text(entry.get("Name")) or _text(sid)
        own, policy = entry.get("Desktop"), entry.get("Policy")
        for scope, values, key in (
            ("user policy", policy, r"Software\Policies\Microsoft\Windows\Control Panel\Desktop"),
            ("user", own, r"Control Panel\Desktop"),
        ):
            if isinstance(values, dict) and values:
                timeout, active, secure = _saver(values)
                settings.append(
                    ScreenLockSetting(
                        scope=scope,
                        user=who,
                        timeout_seconds=timeout,
                        lock_enabled=active,
                        password_on_resume=secure,
                        source=f"HKU\\{sid}\\{key}"[:1024],
                    )
                )
        # what applies to this user: policy over machine policy over the user's own values
        layers = [v for v in (policy, machine, own) if isinstance(v, dict) and v]
        if layers:
            pick = {
                k: next((layer[k] for layer in layers if k in layer), None)
                for k in ("ScreenSaveTimeOut", "ScreenSaveActive", "ScreenSaverIsSecure", "SCRNSAVE.EXE")
            }
            timeout, active, secure = _saver(pick)
            runs = bool(active) and bool(_text(pick.get("SCRNSAVE.EXE"))) and bool(timeout)
            source = "user policy" if policy else ("machine policy" if machine else "user setting")
            merged_users.append(
                ScreenLockSetting(
                    scope=source,
                    user=who,
                    timeout_seconds=timeout,
                    lock_enabled=runs,
                    password_on_resume=bool(secure) and runs,
                    source=source,
                )
            )
    if inactivity:
        return ScreenLockFacts(
            desktop="windows",
            timeout_seconds=inactivity,
            password_on_resume=True,
            source=f"{_POLICY_SYSTEM}\\InactivityTimeoutSecs",
            settings=settings[:256],
        )
    if merged_users:
        # the weakest user decides: no lock, then no password, then the longest timeout
        worst = max(
            merged_users, key=lambda s: (not s.lock_enabled, not s.password_on_resume, s.timeout_seconds or 0)
        )
        locks = bool(worst.lock_enabled)
        return ScreenLockFacts(
            desktop="windows",
            timeout_seconds=worst.timeout_seconds if locks else 0,
            password_on_resume=worst.password_on_resume,
            source=f"{worst.source} of {worst.user}"[:1024],
            settings=settings[:256],
        )
    if machine:
        timeout, active, secure = _saver(machine)
        return ScreenLockFacts(
            desktop="windows",
            timeout_seconds=timeout if active else 0,
            password_on_resume=secure,
            source=_POLICY_DESKTOP,
            settings=settings[:256],
        )
    return ScreenLockFacts(
        desktop="windows",
        settings=settings[:256],
        source="no policy and no loaded user hive" if users is not None else "",
    )


def _usb(registry: Mapping[str, Any]) -> UsbStorageFacts:
    evidence: list[str] = []
    if _USBSTOR not in registry:
        return UsbStorageFacts(evidence=["registry not read"])
    start = _int((_reg(registry, _USBSTOR) or {}).get("Start"))
    deny_all = _int((_reg(registry, _REMOVABLE) or {}).get("Deny_All"))
    disks = _reg(registry, _REMOVABLE_DISKS) or {}
    deny_read, deny_write = _int(disks.get("Deny_Read")), _int(disks.get("Deny_Write"))
    protect = _int((_reg(registry, _WRITE_PROTECT) or {}).get("WriteProtect"))
    evidence.append(f"USBSTOR Start={start}" if start is not None else "USBSTOR service absent")
    for label, value in (
        ("RemovableStorageDevices Deny_All", deny_all),
        ("removable disks Deny_Read", deny_read),
        ("removable disks Deny_Write", deny_write),
        ("StorageDevicePolicies WriteProtect", protect),
    ):
        if value is not None:
            evidence.append(f"{label}={value}")
    blocked: bool | None = start == 4 or deny_all == 1 or deny_read == 1
    if not blocked and start is None:
        blocked = None  # no USBSTOR key: Windows installs the driver when a disk is plugged in
    return UsbStorageFacts(
        blocked=blocked,
        read_only=(deny_write == 1 or protect == 1) and blocked is not True,
        evidence=evidence,
    )


def _rdp(registry: Mapping[str, Any]) -> RemoteDesktopFacts:
    if _TS not in registry:
        return RemoteDesktopFacts(source="registry not read")
    policy = _reg(registry, _TS_POLICY) or {}
    deny = _int(policy.get("fDenyTSConnections"))
    source = _TS_POLICY if deny is not None else _TS
    if deny is None:
        deny = _int((_reg(registry, _TS) or {}).get("fDenyTSConnections"))
    tcp = _reg(registry, _RDP_TCP) or {}
    nla = _int(policy.get("UserAuthentication"))
    nla = nla if nla is not None else _int(tcp.get("UserAuthentication"))
    port = _int(tcp.get("PortNumber"))
    return RemoteDesktopFacts(
        enabled=None if deny is None else deny == 0,
        nla_required=None if nla is None else nla == 1,
        port=port if port is not None and port < 65536 else None,
        source=source,
    )


def _smb1(data: Mapping[str, Any], registry: Mapping[str, Any]) -> Smb1Facts:
    evidence: list[str] = []
    smb = data.get("Smb") if isinstance(data.get("Smb"), dict) else {}
    server = _bool(smb.get("EnableSMB1Protocol")) if smb else None
    if server is not None:
        evidence.append(f"Get-SmbServerConfiguration EnableSMB1Protocol={server}")
    lanman = _reg(registry, _LANMAN)
    value = _int(lanman.get("SMB1")) if lanman else None
    if value is not None:
        evidence.append(f"LanmanServer SMB1={value}")
        server = server if server is not None else value != 0
    feature = None
    for item in _items(data.get("Smb1Feature")):
        state = str(item.get("State")).strip().lower()
        feature = {
            "enabled": True,
            "2": True,
            "enablepending": True,
            "disabled": False,
            "0": False,
            "disabledwithpayloadremoved": False,
            "6": False,
            "disablepending": False,
        }.get(state)
        evidence.append(f"SMB1Protocol feature State={item.get('State')}")
    if feature is False and server is None:
        server = False
    client = None
    if _MRXSMB10 in registry:
        start = _int((_reg(registry, _MRXSMB10) or {}).get("Start"))
        client = start is not None and start != 4
        evidence.append(f"mrxsmb10 Start={start}" if start is not None else "mrxsmb10 service absent")
    return Smb1Facts(
        server_enabled=server, client_enabled=client, feature_installed=feature, evidence=evidence
    )


def _autorun(registry: Mapping[str, Any], users: Mapping[str, Any]) -> AutorunFacts | None:
    if _EXPLORER_POLICY not in registry:
        return None
    layers = [(_EXPLORER_POLICY, _reg(registry, _EXPLORER_POLICY) or {})]
    for sid, entry in sorted(users.items()):
        if isinstance(entry, dict) and isinstance(entry.get("Explorer"), dict):
            layers.append(
                (
                    f"HKU\\{sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer",
                    entry["Explorer"],
                )
            )
    mask = next(
        (
            (k, _int(v.get("NoDriveTypeAutoRun")))
            for k, v in layers
            if _int(v.get("NoDriveTypeAutoRun")) is not None
        ),
        (None, None),
    )
    off = next((_int(v.get("NoAutorun")) for _, v in layers if _int(v.get("NoAutorun")) is not None), None)
    return AutorunFacts(
        disabled_all_drives=off == 1 or (mask[1] is not None and mask[1] & 0xFF == 0xFF),
        no_drive_type_autorun=mask[1],
        no_autorun=off,
        source=(mask[0] or "not set (Windows default 0x91)")[:255],
    )


def parse_windows_security(data: Mapping[str, Any]) -> SecurityConfigFacts:
    """SecurityConfigFacts from the reader's JSON (keys Firewall, BitLocker, SystemDrive, Smb,
    Smb1Feature, Registry, Users, Errors); any part may be missing."""
    if not isinstance(data, Mapping):
        data = {}
    registry, users = _dict(data.get("Registry")), _dict(data.get("Users"))
    drive = _text(data.get("SystemDrive"), 8) or "C:"
    errors = _dict(data.get("Errors"))
    notes = [f"{k}: {_text(v, 300)}" for k, v in sorted(errors.items())]
    return SecurityConfigFacts(
        firewall=parse_firewall_profiles(data.get("Firewall")),
        screen_lock=_screen_lock(registry, users),
        disk_encryption=parse_bitlocker(data.get("BitLocker"), drive)
        if "BitLocker" in data
        else DiskEncryptionFacts(),
        usb_storage=_usb(registry),
        remote_desktop=_rdp(registry),
        smb1=_smb1(data, registry),
        autorun=_autorun(registry, users),
        note="; ".join(notes)[:8192],
    )


def collect_windows(ctx: HostContext) -> Collected:
    result = ctx.run(POWERSHELL_ARGV, timeout=180)
    if result.returncode != 0 and not result.stdout.strip():
        raise ReadError("powershell security_config", (result.stderr or "failed").strip()[:500])
    try:
        data = json.loads(result.stdout.lstrip("\ufeff") or "{}")
    except ValueError as exc:
        raise ReadError("powershell security_config", f"output is not JSON: {exc}") from exc
    data = data if isinstance(data, dict) else {}
    errors = _dict(data.get("Errors"))
    section_errors = [
        SectionError(source=_text(k, 255) or "?", message=_text(v, 1000) or "failed")
        for k, v in sorted(errors.items())
    ]
    return Collected(parse_windows_security(data), section_errors)
