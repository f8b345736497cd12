"""Section ``security_config``: firewall, screen lock, disk encryption, USB storage, RDP, SMBv1, autorun (A9-T3.5).

Every yes/no fact is tri-state: ``None`` means the source did not say (not read, not
readable, not applicable), which is never the same as ``False``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wire._base import LongText, Name, ShortText, Text, WireModel

__all__ = [
    "AutorunFacts",
    "DiskEncryptionFacts",
    "EncryptedVolume",
    "FirewallFacts",
    "FirewallProfile",
    "InboundAction",
    "RemoteDesktopFacts",
    "ScreenLockFacts",
    "ScreenLockSetting",
    "SecurityConfigFacts",
    "Smb1Facts",
    "UsbStorageFacts",
]

InboundAction = Literal["allow", "block", "not_configured", "unknown"]


class FirewallProfile(WireModel):
    """One Windows firewall profile, or one Linux firewall that is present."""

    name: Name = Field(
        description="Domain / Private / Public on Windows; nftables, iptables, ufw, firewalld on Linux."
    )
    enabled: bool | None = Field(default=None, description="The profile or firewall is on (Linux: active).")
    default_inbound: InboundAction = Field(
        default="unknown",
        description="What happens to inbound traffic no rule matches: allow, block, not_configured "
        "(Windows then blocks), unknown.",
    )
    default_outbound: InboundAction = Field(default="unknown", description="The same for outbound traffic.")
    inbound_filtered: bool | None = Field(
        default=None,
        description="Inbound traffic is filtered by it: on and blocking by default, or (Linux) an input "
        "hook chain that drops or rejects.",
    )
    detail: Text = Field(
        default="", description="What the verdict rests on, e.g. 'inet filter input policy drop'."
    )


class FirewallFacts(WireModel):
    profiles: list[FirewallProfile] = Field(
        default_factory=list, max_length=32, description="Windows profiles, or the Linux firewalls found."
    )
    active: list[Name] = Field(
        default_factory=list, max_length=16, description="Names of the firewalls/profiles that are on."
    )
    inbound_filtered: bool | None = Field(
        default=None,
        description="Inbound traffic is filtered: every Windows profile filters, or on Linux at least one "
        "active firewall does. False when nothing filters; None when it could not be read.",
    )
    source: ShortText = Field(default="", description="Where this was read (command or files).")


class ScreenLockSetting(WireModel):
    """One place a screen-lock setting lives (a policy, a user's own setting, a desktop default)."""

    scope: ShortText = Field(
        description="machine policy, user policy, user, desktop default, system dconf..."
    )
    user: ShortText = Field(
        default="", description="Account or SID the setting belongs to ('' for machine-wide)."
    )
    timeout_seconds: int | None = Field(
        default=None, ge=0, description="Idle time before the screen saver/lock starts; 0 = never."
    )
    lock_enabled: bool | None = Field(
        default=None, description="The idle screen saver / lock is switched on."
    )
    password_on_resume: bool | None = Field(default=None, description="A password is required to resume.")
    source: Text = Field(description="Registry key or file the values came from.")


class ScreenLockFacts(WireModel):
    desktop: ShortText = Field(
        default="",
        description="windows, gnome, ukui (Kylin), dde (UOS/Deepin), other, or 'no desktop' on a machine "
        "without a graphical session.",
    )
    timeout_seconds: int | None = Field(
        default=None, ge=0, description="Effective idle timeout before locking (policy first); 0 = never."
    )
    password_on_resume: bool | None = Field(
        default=None, description="Effective: a password is asked for when the screen is woken."
    )
    source: Text = Field(default="", description="The setting the effective values come from.")
    settings: list[ScreenLockSetting] = Field(
        default_factory=list, max_length=256, description="Every setting found, in order of precedence."
    )


class EncryptedVolume(WireModel):
    name: Name = Field(description="Drive letter or volume id (Windows), block device name (Linux).")
    mountpoint: ShortText = Field(default="", description="Where it is mounted ('' when not mounted).")
    encrypted: bool | None = Field(
        default=None, description="The volume's data is encrypted (fully or partly)."
    )
    protection_on: bool | None = Field(
        default=None,
        description="Windows: BitLocker protection is on (ProtectionStatus 1). Linux: an open mapping.",
    )
    method: ShortText = Field(default="", description="BitLocker EncryptionMethod, or crypto_LUKS / crypt.")
    status: ShortText = Field(default="", description="BitLocker ConversionStatus as text.")
    volume_type: ShortText = Field(
        default="", description="Windows: os / fixed data / removable. Linux: lsblk TYPE."
    )


class DiskEncryptionFacts(WireModel):
    system_encrypted: bool | None = Field(
        default=None,
        description="The system volume (Windows SystemDrive, Linux /) is on an encrypted and protected device.",
    )
    volumes: list[EncryptedVolume] = Field(default_factory=list, max_length=256, description="Volumes seen.")
    source: ShortText = Field(default="", description="Where this was read.")


class UsbStorageFacts(WireModel):
    blocked: bool | None = Field(
        default=None, description="USB mass storage cannot be used (driver disabled or deny policy)."
    )
    read_only: bool | None = Field(default=None, description="Removable disks may be read but not written.")
    evidence: list[Text] = Field(
        default_factory=list, max_length=64, description="The settings found, e.g. 'USBSTOR Start=4'."
    )


class RemoteDesktopFacts(WireModel):
    enabled: bool | None = Field(default=None, description="Remote desktop connections are accepted.")
    nla_required: bool | None = Field(
        default=None, description="Windows: Network Level Authentication is required (UserAuthentication=1)."
    )
    port: int | None = Field(default=None, ge=0, le=65535, description="Listening port configured for RDP.")
    services: list[Name] = Field(
        default_factory=list,
        max_length=32,
        description="Linux: remote desktop servers running (xrdp, VNC...).",
    )
    source: ShortText = Field(default="", description="Where this was read.")


class Smb1Facts(WireModel):
    server_enabled: bool | None = Field(default=None, description="The SMB server accepts SMBv1.")
    client_enabled: bool | None = Field(
        default=None, description="Windows: the SMBv1 client driver mrxsmb10 can start (Start != 4)."
    )
    feature_installed: bool | None = Field(
        default=None, description="Windows: the SMB1Protocol feature is on."
    )
    server_running: bool | None = Field(default=None, description="Linux: smbd is running.")
    server_min_protocol: ShortText = Field(
        default="", description="Linux: samba 'server min protocol' as set."
    )
    evidence: list[Text] = Field(default_factory=list, max_length=32, description="The values found.")


class AutorunFacts(WireModel):
    disabled_all_drives: bool | None = Field(
        default=None,
        description="AutoRun is off for every drive type (NoDriveTypeAutoRun 0xFF or NoAutorun 1).",
    )
    no_drive_type_autorun: int | None = Field(
        default=None, ge=0, description="The NoDriveTypeAutoRun bit mask in force (machine policy first)."
    )
    no_autorun: int | None = Field(default=None, ge=0, description="The NoAutorun value in force.")
    source: ShortText = Field(default="", description="Registry key of the values in force.")


class SecurityConfigFacts(WireModel):
    """People, technical and physical defence settings of one PC (A9-T3.5)."""

    firewall: FirewallFacts = Field(default_factory=FirewallFacts, description="Host firewall.")
    screen_lock: ScreenLockFacts = Field(default_factory=ScreenLockFacts, description="Idle screen lock.")
    disk_encryption: DiskEncryptionFacts = Field(
        default_factory=DiskEncryptionFacts, description="BitLocker / LUKS."
    )
    usb_storage: UsbStorageFacts = Field(
        default_factory=UsbStorageFacts, description="USB mass-storage policy."
    )
    remote_desktop: RemoteDesktopFacts = Field(
        default_factory=RemoteDesktopFacts, description="RDP / xrdp / VNC."
    )
    smb1: Smb1Facts = Field(default_factory=Smb1Facts, description="SMB version 1.")
    autorun: AutorunFacts | None = Field(
        default=None, description="Windows AutoRun policy; None where it does not apply (Linux)."
    )
    note: LongText = Field(default="", description="What could not be read or does not apply, for the admin.")
