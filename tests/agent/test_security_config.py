"""Section ``security_config`` (A9-T3.5): firewall, screen lock, disk encryption, USB storage, RDP,
SMBv1, autorun - on real captured outputs of Linux tools and Windows PowerShell, a replayed
Windows bundle, and the live machine compared with its own tools."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.capture import ReplayContext
from agent.host import HostContext
from agent.probes.security_config import (
    desktop_kind,
    parse_dconf_keyfile,
    parse_lsblk_json,
    parse_modprobe_usb,
    parse_smb_conf,
    screen_lock_from_dconf,
    smb1_from_samba,
)
from agent.probes.security_config_linux import (
    collect_linux,
    evaluate_chains,
    parse_iptables_save,
    parse_nft_json,
    parse_nft_text,
    parse_ufw,
)
from agent.probes.security_config_windows import (
    POWERSHELL,
    POWERSHELL_ARGV,
    parse_bitlocker,
    parse_firewall_profiles,
    parse_format_list,
    parse_windows_security,
)
from agent.scan import scan_sections
from wire.sections.security_config import SecurityConfigFacts

FIX = Path(__file__).resolve().parents[1] / "fixtures"
LIN = FIX / "linux" / "security_config"
WIN = FIX / "windows" / "powershell"


def _text(name: str) -> str:
    return (LIN / name).read_text(encoding="utf-8")


# -- Linux firewall ----------------------------------------------------------------------------
def test_debian_default_nftables_ruleset_does_not_filter_inbound() -> None:
    """/etc/nftables.conf as Debian ships it: an input chain with policy accept and no rule."""
    for chains in (
        parse_nft_json(_text("nft-j_debian12_default.json")),
        parse_nft_text(_text("nft_debian12_default.txt")),
    ):
        assert chains is not None
        verdict = evaluate_chains("nftables", chains)
        assert verdict.enabled is True and verdict.inbound_filtered is False
        assert verdict.default_inbound == "allow"
        assert "inet filter input: policy accept" in verdict.detail


def test_policy_drop_ruleset_filters_inbound_in_json_and_text_alike() -> None:
    from_json = evaluate_chains("nftables", parse_nft_json(_text("nft-j_policy_drop.json")) or [])
    from_text = evaluate_chains("nftables", parse_nft_text(_text("nft_policy_drop.txt")))
    assert from_json.inbound_filtered is from_text.inbound_filtered is True
    assert from_json.default_inbound == from_text.default_inbound == "block"
    assert from_json.detail == from_text.detail


def test_ufw_active_seen_through_ufw_nftables_and_iptables() -> None:
    ufw = parse_ufw(_text("ufw_status_verbose_active.txt"))
    assert (ufw.enabled, ufw.default_inbound, ufw.default_outbound, ufw.inbound_filtered) == (
        True,
        "block",
        "allow",
        True,
    )
    ipt = evaluate_chains("iptables", parse_iptables_save(_text("iptables-save_ufw_active.txt")))
    assert ipt.inbound_filtered is True and ipt.default_inbound == "block"  # :INPUT DROP
    nft = evaluate_chains("nftables", parse_nft_json(_text("nft-j_ufw_active.json")) or [])
    assert nft.inbound_filtered is True and nft.default_inbound == "block"


def test_ufw_inactive_and_its_config_files() -> None:
    off = parse_ufw(_text("ufw_status_verbose_inactive.txt"))
    assert off.enabled is False and off.inbound_filtered is False
    # without root, `ufw status` fails: the configuration files still say installed-but-off
    files = parse_ufw(None, _text("etc_ufw_ufw.conf"), _text("etc_default_ufw"))
    assert files.enabled is False and files.default_inbound == "block" and files.detail == "/etc/ufw/ufw.conf"
    assert parse_ufw(None).enabled is None


def test_rhel_iptables_accept_policy_closed_by_a_final_reject() -> None:
    """insights-core's real iptables-save: INPUT ACCEPT but the last rule rejects everything else."""
    verdict = evaluate_chains("iptables", parse_iptables_save(_text("insights_iptables-save_rhel6.txt")))
    assert verdict.inbound_filtered is True and verdict.default_inbound == "block"
    assert "ends in drop/reject" in verdict.detail


def test_empty_rulesets_are_a_fact_not_an_unknown() -> None:
    assert evaluate_chains("iptables", parse_iptables_save("")).inbound_filtered is False
    meta_only = (
        '{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}]}'  # nft 1.0.6 here
    )
    verdict = evaluate_chains("nftables", parse_nft_json(meta_only) or [])
    assert verdict.enabled is False and verdict.detail == "no ruleset loaded"
    assert parse_nft_json("Error: Operation not permitted") is None


# -- Linux disks, USB, screen lock, SMB ------------------------------------------------------------
def test_lsblk_root_on_luks_mapping() -> None:
    facts = parse_lsblk_json(_text("lsblk-J_cryptroot_pantherx.json"))
    assert facts.system_encrypted is True
    (volume,) = facts.volumes
    assert (volume.name, volume.mountpoint, volume.volume_type) == ("cryptroot", "/", "crypt")


def test_lsblk_of_the_development_vm_has_no_encryption() -> None:
    facts = parse_lsblk_json(_text("lsblk-J_debian12_vm_plain.json"))
    assert facts.system_encrypted is False and facts.volumes == []


def test_lsblk_luks_partition_not_holding_root() -> None:
    # constructed: a LUKS data partition, opened, mounted on /srv; / on a plain partition
    text = json.dumps(
        {
            "blockdevices": [
                {
                    "name": "sda",
                    "type": "disk",
                    "children": [
                        {"name": "sda1", "type": "part", "fstype": "ext4", "mountpoint": "/"},
                        {
                            "name": "sda2",
                            "type": "part",
                            "fstype": "crypto_LUKS",
                            "children": [
                                {"name": "data", "type": "crypt", "fstype": "ext4", "mountpoint": "/srv"}
                            ],
                        },
                    ],
                }
            ]
        }
    )
    facts = parse_lsblk_json(text)
    assert facts.system_encrypted is False
    assert [(v.name, v.method) for v in facts.volumes] == [("sda2", "crypto_LUKS"), ("data", "crypt")]
    assert parse_lsblk_json("lsblk: not found").system_encrypted is None


def test_usb_storage_modprobe_rules() -> None:
    # constructed, in the form CIS benchmarks prescribe
    rule = {"/etc/modprobe.d/usb-storage.conf": "install usb-storage /bin/false\nblacklist usb-storage\n"}
    assert parse_modprobe_usb(rule).blocked is True
    assert parse_modprobe_usb(rule, loaded=True).blocked is False
    assert parse_modprobe_usb(rule, builtin=True).blocked is False
    debian = {
        "/lib/modprobe.d/fbdev-blacklist.conf": (
            Path("/lib/modprobe.d/fbdev-blacklist.conf").read_text()
            if Path("/lib/modprobe.d/fbdev-blacklist.conf").exists()
            else "blacklist vga16fb\n"
        )
    }
    assert parse_modprobe_usb(debian).blocked is False
    assert parse_modprobe_usb({"x.conf": "# install usb-storage /bin/true\n"}).blocked is False


def test_screen_lock_from_gnome_dconf_policy_and_defaults() -> None:
    # constructed: the keyfile form of GNOME's system administrator guide (lockdown of the screensaver)
    keyfile = parse_dconf_keyfile(
        "[org/gnome/desktop/session]\nidle-delay=uint32 600\n\n[org/gnome/desktop/screensaver]\nlock-enabled=true\n"
        "lock-delay=uint32 0\n"
    )
    facts = screen_lock_from_dconf("gnome", [("/etc/dconf/db/local.d/00-screensaver", keyfile)])
    assert (facts.timeout_seconds, facts.password_on_resume) == (600, True)
    assert facts.source == "/etc/dconf/db/local.d/00-screensaver"
    default = screen_lock_from_dconf("gnome", [])
    assert (default.timeout_seconds, default.password_on_resume) == (300, True)
    assert "built-in default" in default.source
    ukui = screen_lock_from_dconf(
        "ukui", [("x", parse_dconf_keyfile("[org.ukui.screensaver]\nidle-delay=10\n"))]
    )
    assert ukui.timeout_seconds == 600
    none = screen_lock_from_dconf("no desktop", [("x", keyfile)])
    assert none.timeout_seconds is None and none.desktop == "no desktop"


def test_desktop_kind() -> None:
    assert desktop_kind([], {"bash", "sshd"}) == "no desktop"
    assert desktop_kind(["ukui.desktop"], None) == "ukui"
    assert desktop_kind(["deepin.desktop"], set()) == "dde"
    assert desktop_kind([], {"gnome-shell"}) == "gnome"
    assert desktop_kind(["xfce.desktop"], set()) == "other"


def test_samba_smb1() -> None:
    conf = "[global]\n   workgroup = WORKGROUP\n   server min protocol = NT1\n[share]\n   path = /srv\n"
    assert parse_smb_conf(conf)["server min protocol"] == "NT1"
    assert smb1_from_samba(True, conf, "Version 4.17.12-Debian", True).server_enabled is True
    assert smb1_from_samba(True, "[global]\n", "Version 4.17.12-Debian", False).server_enabled is False
    assert smb1_from_samba(True, "[global]\n", "Version 4.9.5-Debian", False).server_enabled is True
    assert smb1_from_samba(True, "", None, None).server_enabled is None
    assert smb1_from_samba(False, None, None, False).server_enabled is False


# -- Windows ---------------------------------------------------------------------------------------
def test_firewall_profiles_of_windows_server_2022() -> None:
    """cnquery's real Get-NetFirewallProfile JSON: enums as numbers, persistent store (NotConfigured)."""
    data = json.loads((WIN / "mondoo_firewall_profiles_win2022.json").read_text(encoding="utf-8"))
    facts = parse_firewall_profiles(data)
    assert [p.name for p in facts.profiles] == ["Domain", "Private", "Public"]
    assert all(p.enabled and p.default_inbound == "not_configured" for p in facts.profiles)
    assert facts.inbound_filtered is True  # NotConfigured inbound = Windows default Block
    assert facts.active == ["Domain", "Private", "Public"]


def test_firewall_profiles_as_the_reader_writes_them() -> None:
    # constructed: the reader's own shape, enums cast to strings; Public switched off
    facts = parse_firewall_profiles(
        [
            {
                "Name": "Domain",
                "Enabled": "True",
                "DefaultInboundAction": "Block",
                "DefaultOutboundAction": "Allow",
            },
            {
                "Name": "Public",
                "Enabled": "False",
                "DefaultInboundAction": "Block",
                "DefaultOutboundAction": "Allow",
            },
        ]
    )
    assert facts.inbound_filtered is False and facts.active == ["Domain"]
    assert parse_firewall_profiles(None).inbound_filtered is None


def test_bitlocker_volumes_os_on_and_removable_off() -> None:
    data = json.loads((WIN / "mondoo_bitlocker_volumes.excerpt.json").read_text(encoding="utf-8"))
    facts = parse_bitlocker(data, "C:")
    assert facts.system_encrypted is True
    c, e = facts.volumes
    assert (c.name, c.encrypted, c.protection_on, c.method, c.status, c.volume_type) == (
        "C:",
        True,
        True,
        "XTS-AES-128",
        "fully encrypted",
        "os",
    )
    assert (e.name, e.encrypted, e.protection_on, e.volume_type) == ("E:", False, False, "removable")
    # suspended protection on an encrypted C: is not protection
    suspended = parse_bitlocker([{"DriveLetter": "C:", "ProtectionStatus": 0, "ConversionStatus": 1}], "C:")
    assert suspended.system_encrypted is False


def test_smb1_from_docs_example_and_optional_feature() -> None:
    values = parse_format_list((WIN / "msdocs_get-smbserverconfiguration_format-list.txt").read_text())
    features = json.loads((WIN / "mondoo_optionalfeatures_smb1.excerpt.json").read_text(encoding="utf-8"))
    smb1 = [f for f in features if f["FeatureName"] == "SMB1Protocol"]
    facts = parse_windows_security({"Smb": values, "Smb1Feature": smb1})
    assert facts.smb1.server_enabled is True  # EnableSMB1Protocol : True in the example
    assert facts.smb1.feature_installed is False  # State 0 = Disabled


def _registry() -> dict[str, Any]:
    """Constructed Get-ItemProperty values as the reader emits them (key -> {value: data} or null)."""
    return {
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System": {},
        r"HKLM\SOFTWARE\Policies\Microsoft\Windows\Control Panel\Desktop": None,
        r"HKLM\SYSTEM\CurrentControlSet\Services\USBSTOR": {"Start": 4},
        r"HKLM\SOFTWARE\Policies\Microsoft\Windows\RemovableStorageDevices": None,
        r"HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server": {"fDenyTSConnections": 0},
        r"HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp": {
            "UserAuthentication": 1,
            "PortNumber": 3389,
        },
        r"HKLM\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services": None,
        r"HKLM\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters": {},
        r"HKLM\SYSTEM\CurrentControlSet\Services\mrxsmb10": None,
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Explorer": {"NoDriveTypeAutoRun": 255},
    }


_USERS = {
    "S-1-5-21-1004336348-1177238915-682003330-1001": {
        "Name": "OFFICE\\张伟",
        "Desktop": {
            "ScreenSaveTimeOut": "900",
            "ScreenSaveActive": "1",
            "ScreenSaverIsSecure": "0",
            "SCRNSAVE.EXE": "C:\\Windows\\system32\\scrnsave.scr",
        },
        "Policy": None,
        "Explorer": None,
    },
    "S-1-5-21-1004336348-1177238915-682003330-1002": {
        "Name": "OFFICE\\li",
        "Desktop": {"ScreenSaveTimeOut": "600", "ScreenSaveActive": "1"},
        "Policy": {"ScreenSaveTimeOut": "300", "ScreenSaverIsSecure": "1", "SCRNSAVE.EXE": "scrnsave.scr"},
        "Explorer": None,
    },
}


def test_registry_settings_rdp_usb_autorun_and_the_weakest_screen_lock() -> None:
    facts = parse_windows_security({"Registry": _registry(), "Users": _USERS})
    assert (facts.remote_desktop.enabled, facts.remote_desktop.nla_required, facts.remote_desktop.port) == (
        True,
        True,
        3389,
    )
    assert facts.usb_storage.blocked is True and "USBSTOR Start=4" in facts.usb_storage.evidence
    assert facts.autorun is not None and facts.autorun.disabled_all_drives is True
    assert facts.smb1.client_enabled is False  # mrxsmb10 absent: the SMBv1 client is not installed
    # 张伟 runs a screen saver without a password: that is what the PC's screen lock amounts to
    lock = facts.screen_lock
    assert (lock.timeout_seconds, lock.password_on_resume) == (900, False)
    assert "张伟" in lock.source
    # a machine inactivity limit is a policy and wins
    registry = _registry()
    registry[r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System"] = {
        "InactivityTimeoutSecs": 600
    }
    strict = parse_windows_security({"Registry": registry, "Users": _USERS}).screen_lock
    assert (strict.timeout_seconds, strict.password_on_resume) == (600, True)
    assert strict.source.endswith("InactivityTimeoutSecs")


def test_unread_parts_stay_unknown() -> None:
    facts = parse_windows_security({"Errors": {"BitLocker": "Access denied"}})
    assert facts.disk_encryption.system_encrypted is None
    assert facts.usb_storage.blocked is None and facts.remote_desktop.enabled is None
    assert facts.autorun is None and facts.firewall.inbound_filtered is None
    assert "BitLocker: Access denied" in facts.note


def test_powershell_command_shape() -> None:
    assert POWERSHELL.startswith("[Console]::OutputEncoding=[Text.Encoding]::UTF8;")
    assert POWERSHELL.endswith("ConvertTo-Json -Depth 6 -Compress")
    assert POWERSHELL_ARGV[:2] == ["powershell.exe", "-NoProfile"] and POWERSHELL_ARGV[-1] == POWERSHELL
    assert "-PolicyStore ActiveStore" in POWERSHELL and "MicrosoftVolumeEncryption" in POWERSHELL


def test_replay_of_a_windows_bundle(tmp_path: Path) -> None:
    firewall = json.loads((WIN / "mondoo_firewall_profiles_win2022.json").read_text(encoding="utf-8"))
    volumes = [v["volume"] for v in json.loads((WIN / "mondoo_bitlocker_volumes.excerpt.json").read_text())]
    output = {
        "Firewall": firewall,
        "BitLocker": volumes,
        "SystemDrive": "C:",
        "Smb": {"EnableSMB1Protocol": False, "EnableSMB2Protocol": True},
        "Registry": _registry(),
        "Users": _USERS,
        "Errors": {"Smb1Feature": "The requested operation requires elevation."},
    }
    bundle = tmp_path / "bundle"
    (bundle / "commands").mkdir(parents=True)
    (bundle / "commands" / "0001.out").write_text(json.dumps(output, ensure_ascii=False), encoding="utf-8")
    (bundle / "commands" / "0001.err").write_text("")
    (bundle / "manifest.json").write_text(
        json.dumps(
            {
                "format": 1,
                "platform": "windows",
                "facts": {},
                "commands": [
                    {
                        "argv": POWERSHELL_ARGV,
                        "returncode": 0,
                        "stdout": "commands/0001.out",
                        "stderr": "commands/0001.err",
                    }
                ],
                "registry": [],
            }
        )
    )
    section = scan_sections(ReplayContext(bundle), ["security_config"], platform="windows")["security_config"]
    assert section["status"] == "ok", section
    data = SecurityConfigFacts.model_validate(section["data"])
    assert data.firewall.inbound_filtered is True and data.disk_encryption.system_encrypted is True
    assert data.smb1.server_enabled is False and data.remote_desktop.enabled is True
    assert [e["source"] for e in section["errors"]] == ["Smb1Feature"]


# -- garbage never raises --------------------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@given(st.text(max_size=400))
def test_text_parsers_are_total(text: str) -> None:
    parse_nft_text(text)
    parse_nft_json(text)
    evaluate_chains("x", parse_iptables_save(text))
    parse_ufw(text, text, text)
    parse_lsblk_json(text)
    parse_modprobe_usb({"f": text})
    screen_lock_from_dconf("gnome", [("f", parse_dconf_keyfile(text))])
    smb1_from_samba(True, text, text, None)
    parse_format_list(text)


@given(_json)
def test_json_parsers_are_total(value: Any) -> None:
    parse_firewall_profiles(value)
    parse_bitlocker(value, "C:")
    parse_windows_security(value if isinstance(value, dict) else {})
    parse_windows_security(
        {"Registry": value, "Users": value, "Smb": value, "Smb1Feature": value, "Firewall": value}
    )
    parse_lsblk_json(json.dumps({"blockdevices": value}))
    parse_nft_json(json.dumps({"nftables": value}))


# -- this machine ----------------------------------------------------------------------------------
def test_live_facts_agree_with_the_system_tools() -> None:
    facts = collect_linux(HostContext()).data
    assert isinstance(facts, SecurityConfigFacts)
    lsblk = subprocess.run(["lsblk", "-J", "-o", "NAME,TYPE"], capture_output=True, text=True, check=True)
    crypt = '"type": "crypt"' in lsblk.stdout.replace('"type":"crypt"', '"type": "crypt"')
    assert bool([v for v in facts.disk_encryption.volumes if v.volume_type == "crypt"]) is crypt
    if shutil.which("nft"):
        ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=False)
        if ruleset.returncode == 0:
            nft = next(p for p in facts.firewall.profiles if p.name == "nftables")
            assert nft.enabled is bool(ruleset.stdout.strip())
            assert nft.inbound_filtered is (
                "policy drop" in ruleset.stdout or " drop" in ruleset.stdout or "reject" in ruleset.stdout
            )
    else:
        assert all(p.name != "nftables" for p in facts.firewall.profiles)
    if not any(shutil.which(t) for t in ("nft", "iptables-save", "ufw", "firewall-cmd")):
        assert facts.firewall.profiles == [] and facts.firewall.inbound_filtered is False
    assert facts.autorun is None


@pytest.mark.skipif(not shutil.which("ps"), reason="needs ps")
def test_live_remote_desktop_and_smbd_match_the_process_list() -> None:
    facts = collect_linux(HostContext()).data
    assert isinstance(facts, SecurityConfigFacts)
    names = set(
        subprocess.run(["ps", "-e", "-o", "comm="], capture_output=True, text=True, check=True).stdout.split()
    )
    assert facts.smb1.server_running is ("smbd" in names)
    assert facts.remote_desktop.enabled is bool(
        names & {"xrdp", "Xvnc", "x11vnc", "vino-server", "Xtigervnc"}
    )
