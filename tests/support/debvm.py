"""A real Debian 12 booted under QEMU with systemd as PID 1 (issue 8).

For what only a booted system shows: ``deploy/linux/install-agent.sh`` enabling a unit,
the unit's hardening around a running agent, an upgrade and an uninstall. The image is
made here once with debootstrap from Debian's mirror (about a minute and 500 MB), kept in
``.cache/debvm/`` (or ``$WATCHPOST_VM_CACHE``) and booted from a throw-away qcow2 overlay,
so every boot starts from the same clean system. QEMU emulates the CPU (TCG, both cores)
unless ``WATCHPOST_VM_ACCEL=kvm`` asks for KVM; see ``kvm()``.

At boot the guest's systemd runs ``/mnt/test/run`` from a second, read-only disk the test
fills (a script, wheels, certificates), sends what it prints to the second serial port
(the test's record) and powers the machine off.

Network: QEMU's user-mode network with ``restrict=on``, so the guest reaches nothing at
all but the forwards a test names, each from an address of the guest's network
198.18.9.0/24 (the benchmarking range), to a port on this machine's loopback.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIRROR = os.environ.get("WATCHPOST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "linux-image-cloud-amd64",
    "initramfs-tools",
    "python3",
    "python3-venv",
    "iproute2",
    "procps",
)
NETWORK = "198.18.9.0/24"
GATEWAY = "198.18.9.2"  # QEMU's own address in the guest's network (reaches nothing: restrict=on)
FORWARDED = "198.18.9.100"  # where the guest finds the forwarded ports (see boot)
HOSTNAME = "wp-vm"
TOOLS = ("debootstrap", "qemu-system-x86_64", "qemu-img", "mke2fs", "socat")

# Files written into the image on top of debootstrap's system.
_SETUP: dict[str, str] = {
    "etc/hostname": f"{HOSTNAME}\n",
    "etc/hosts": f"127.0.0.1 localhost\n127.0.1.1 {HOSTNAME}\n",
    "etc/fstab": "LABEL=wp-root / ext4 rw,errors=remount-ro 0 1\n"
    "LABEL=wp-test /mnt/test ext4 ro,noload,nofail 0 0\n",
    "etc/systemd/network/20-wired.network": "[Match]\nName=e*\n\n[Network]\nDHCP=ipv4\n",
    "etc/systemd/system/watchpost-vmtest.service": """[Unit]
Description=The test's script from the second disk; the machine powers off after it
Wants=network-online.target
After=network-online.target
RequiresMountsFor=/mnt/test
ConditionPathExists=/mnt/test/run

[Service]
Type=oneshot
ExecStart=/mnt/test/run
StandardOutput=file:/dev/ttyS1
StandardError=inherit
TimeoutStartSec=infinity
ExecStopPost=/usr/bin/systemctl --no-block poweroff

[Install]
WantedBy=multi-user.target
""",
}
_ENABLE = ("systemd-networkd.service", "watchpost-vmtest.service")
_MASK = ("serial-getty@ttyS0.service", "getty@tty1.service", "apt-daily.timer", "apt-daily-upgrade.timer")


def missing() -> str:
    """Why a VM cannot be made here, or '' when it can."""
    if os.geteuid() != 0:
        return "debootstrap needs root"
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return f"not installed: {', '.join(absent)} (scripts/bootstrap.sh --system installs them)"
    return ""


@dataclass(frozen=True)
class Image:
    disk: Path  # raw ext4 root file system, never written after it is made
    kernel: Path
    initrd: Path


def _cache_dir() -> Path:
    digest = hashlib.sha256(repr((SUITE, PACKAGES, _SETUP, _ENABLE, _MASK)).encode()).hexdigest()[:12]
    return Path(os.environ.get("WATCHPOST_VM_CACHE", ROOT / ".cache" / "debvm")) / f"{SUITE}-{digest}"


def _run(argv: list[str], timeout: float, **kwargs: object) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}... failed ({done.returncode}): {done.stderr[-3000:]}")


def image() -> Image:
    """The cached image, made first if it is not there (debootstrap, about a minute)."""
    where = _cache_dir()
    made = Image(where / "root.raw", where / "vmlinuz", where / "initrd.img")
    where.mkdir(parents=True, exist_ok=True)
    with (where / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if made.disk.exists():
            return made
        root = where / "root"
        shutil.rmtree(root, ignore_errors=True)
        _run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root), MIRROR],
            timeout=1800,
        )
        for relative, text in _SETUP.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text)
        (root / "mnt" / "test").mkdir(parents=True, exist_ok=True)
        _run(["chroot", str(root), "systemctl", "enable", *_ENABLE], timeout=120)
        _run(["chroot", str(root), "systemctl", "mask", *_MASK], timeout=120)
        _run(["chroot", str(root), "passwd", "--lock", "root"], timeout=60)
        for package in (root / "var" / "cache" / "apt" / "archives").glob("*.deb"):
            package.unlink()
        boot = root / "boot"
        shutil.copy(next(boot.glob("vmlinuz-*")), made.kernel)
        shutil.copy(next(boot.glob("initrd.img-*")), made.initrd)
        partial = made.disk.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        _run(
            ["mke2fs", "-q", "-t", "ext4", "-L", "wp-root", "-d", str(root), str(partial), "3G"], timeout=600
        )
        partial.rename(made.disk)
        shutil.rmtree(root)
        return made


@dataclass
class Boot:
    record: str  # what /mnt/test/run printed (the second serial port)
    console: str  # the kernel's and systemd's console (first serial port)
    seconds: float


def kvm() -> bool:
    """KVM only on request ($WATCHPOST_VM_ACCEL=kvm): on the nested machines seen here
    /dev/kvm opens, but QEMU aborts setting an MSR (-cpu host) or never starts the guest."""
    return os.environ.get("WATCHPOST_VM_ACCEL", "tcg") == "kvm" and os.access("/dev/kvm", os.R_OK | os.W_OK)


def boot(
    workdir: Path,
    files: Path,
    forwards: Mapping[int, int],
    timeout: float,
    smbios_serial: str = "",
) -> Boot:
    """Boot a fresh copy of the image with ``files`` as /mnt/test (``files/run`` is run at boot).

    ``forwards`` maps a port on FORWARDED, as the guest sees it, to a port on 127.0.0.1.
    Returns when the guest has powered off; raises with the console's end on a timeout.
    """
    made = image()
    workdir.mkdir(parents=True, exist_ok=True)
    overlay, test_disk = workdir / "root.qcow2", workdir / "test.img"
    console, record = workdir / "console.log", workdir / "record.log"
    _run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(made.disk), str(overlay)],
        timeout=60,
    )
    size = sum(p.stat().st_size for p in files.rglob("*") if p.is_file())
    _run(
        [
            "mke2fs",
            "-q",
            "-t",
            "ext4",
            "-L",
            "wp-test",
            "-d",
            str(files),
            str(test_disk),
            f"{size // 2**20 + 64}M",
        ],
        timeout=300,
    )
    # cmd: runs socat for each connection the guest opens (a tcp: chardev would be a single
    # connection, made when QEMU starts)
    guestfwd = [
        f"guestfwd=tcp:{FORWARDED}:{guest}-cmd:socat STDIO TCP:127.0.0.1:{host}"
        for guest, host in forwards.items()
    ]
    netdev = ",".join(["user", "id=net0", f"net={NETWORK}", f"host={GATEWAY}", "restrict=on", *guestfwd])
    accel = ["-accel", "kvm", "-cpu", "host"] if kvm() else ["-accel", "tcg,thread=multi", "-cpu", "max"]
    argv = [
        "qemu-system-x86_64",
        *accel,
        "-m", "1536",
        "-smp", "2",
        "-nodefaults",
        "-no-user-config",
        "-display", "none",
        "-no-reboot",
        "-kernel", str(made.kernel),
        "-initrd", str(made.initrd),
        "-append", "root=LABEL=wp-root rw console=ttyS0 panic=-1 net.ifnames=0 systemd.show_status=0",
        "-drive", f"file={overlay},if=virtio,format=qcow2",
        "-drive", f"file={test_disk},if=virtio,format=raw,readonly=on",
        "-netdev", netdev,
        "-device", "virtio-net-pci,netdev=net0",
        "-device", "virtio-rng-pci",
        "-serial", f"file:{console}",
        "-serial", f"file:{record}",
    ]  # fmt: skip
    if smbios_serial:
        argv += ["-smbios", f"type=1,manufacturer=QEMU,serial={smbios_serial}"]
    started = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        tail = console.read_text(errors="replace")[-4000:] if console.exists() else ""
        said = record.read_text(errors="replace")[-4000:] if record.exists() else ""
        raise AssertionError(
            f"the VM did not power off in {timeout:.0f} s\n--- record:\n{said}\n--- console:\n{tail}"
        ) from exc
    finally:
        overlay.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"qemu-system-x86_64 failed ({done.returncode}): {done.stderr[-3000:]}")
    return Boot(
        record=record.read_text(errors="replace").replace("\r", ""),
        console=console.read_text(errors="replace").replace("\r", ""),
        seconds=time.monotonic() - started,
    )
