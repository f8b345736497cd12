"""Issue 8, service integration on Linux (A9-T1.1: the agent on every office PC), on a
booted Debian 12 with systemd as PID 1 (tests/support/debvm.py, QEMU):

``deploy/linux/install-agent.sh`` installs the agent from a wheel into its own virtualenv
under /opt with no package index (``--find-links``), enrolls over HTTPS against a real
collector with a private CA, and enables the unit; the service reports, fenced in by the
unit's hardening, and every probe still works; an upgrade to a newer release keeps the node
key and the queue; ``uninstall-agent.sh`` removes the agent, then ``--purge`` the rest. The
enrollment secret is nowhere on the PC afterwards, nor in its journal.

The guest's side is tests/deploy/guest_install_agent.py; the collector runs on PostgreSQL,
as in production.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from agent import __version__
from tests.support import debvm
from tests.support.databases import postgres_copy
from tests.support.postgres import PostgresServer
from tests.support.processes import CollectorProcess

# Emulated (TCG) on this 2-core machine: 2.5 minutes, and 2 more the first time, to make the image.
pytestmark = [pytest.mark.e2e, pytest.mark.vm, pytest.mark.postgres, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
UPGRADE = f"{__version__}.post1"
SERIAL = "WP-VM-0001"
# CAP_DAC_READ_SEARCH (2) and CAP_NET_RAW (13): the unit's CapabilityBoundingSet
CAPABILITIES = f"{(1 << 2) | (1 << 13):016x}"


def _wheel(source: Path, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    (wheel,) = out.glob("watchpost-*.whl")
    return wheel


@pytest.fixture(scope="module")
def guest_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The second disk: the two releases as wheels, every dependency as a wheel (the PC has
    no package index), the install scripts and the guest's script as /mnt/test/run."""
    if why := debvm.missing():
        pytest.skip(why)
    debvm.image()  # made once, before the collector is started
    work = tmp_path_factory.mktemp("vm-files")
    files = work / "files"
    tree = work / "src"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    for name in ("agent", "collector", "wire", "policies"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    release1 = _wheel(tree, files / "release1")
    # the next release, as a maintainer would cut it: the same code under a higher version
    for name in ("pyproject.toml", "agent/__init__.py"):
        text = (tree / name).read_text()
        (tree / name).write_text(text.replace(f'"{__version__}"', f'"{UPGRADE}"', 1))
    shutil.rmtree(tree / "build", ignore_errors=True)
    _wheel(tree, files / "release2")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--wheel-dir",
            str(files / "wheels"),
            f"{release1}[agent]",
        ],
        check=True,
        timeout=900,
        capture_output=True,
    )
    for own in (files / "wheels").glob("watchpost-*.whl"):
        own.unlink()
    shutil.copytree(ROOT / "deploy" / "linux", files / "deploy" / "linux")
    shutil.copy(Path(__file__).with_name("guest_install_agent.py"), files / "run")
    (files / "run").chmod(0o755)
    return files


@pytest.fixture
def collector(
    postgres_server: PostgresServer, postgres_template: str, tmp_path: Path
) -> Iterator[CollectorProcess]:
    ca = trustme.CA()
    cert = ca.issue_cert("collector.test", "127.0.0.1")  # the name the guest uses; loopback for the test
    chain, key = tmp_path / "collector.pem", tmp_path / "collector.key"
    cert.private_key_pem.write_to_path(str(key))
    cert.cert_chain_pems[0].write_to_path(str(chain))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    running = CollectorProcess(
        postgres_copy(postgres_server, postgres_template), tmp_path, tls=(chain, key, tmp_path / "ca.pem")
    )
    running.cli("init", "--admin", "cityadmin", "--credentials-file", str(tmp_path / "creds"))
    running.start()
    yield running
    running.stop()


def _records(text: str) -> dict[str, dict[str, Any]]:
    steps: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        if line.startswith("{"):
            item = json.loads(line)
            steps[item.pop("step")] = item
    return steps


def test_install_run_upgrade_uninstall_on_a_booted_debian(
    guest_files: Path, collector: CollectorProcess, tmp_path: Path
) -> None:
    running = collector
    files = tmp_path / "files"
    shutil.copytree(guest_files, files)
    secret = running.cli("enroll-secret", "create", "--unit", "341022", "--quiet").strip()
    (files / "secret").write_text(secret + "\n")
    shutil.copy(tmp_path / "ca.pem", files / "ca.pem")

    booted = debvm.boot(tmp_path / "vm", files, {8443: running.port}, timeout=3000, smbios_serial=SERIAL)
    steps = _records(booted.record)
    context = f"\n--- record:\n{booted.record[-6000:]}\n--- console:\n{booted.console[-3000:]}"
    assert "done" in steps and "crashed" not in steps, context

    install = steps["install"]
    assert install["rc"] == 0, context
    assert "enrolled as wp-vm" in install["out"] and "341022" in install["out"], context

    ran = steps["running"]
    status = ran["status"]
    assert not status.get("timed_out") and status["enrolled"] and not status["key_refused"], context
    assert status["last_error"] == "" and status["unit_code"] == "341022", context
    assert status["last_full_report_at"], context
    # every probe works inside the unit's fence (read-only system, no devices, two capabilities)
    failed = {name: s for name, s in status["sections"].items() if s["status"] == "error"}
    assert failed == {}, context
    service = ran["service"]
    assert service["props"]["ActiveState"] == "active" and service["props"]["UnitFileState"] == "enabled"
    assert service["props"]["NRestarts"] == "0", context
    assert service["cap_bounding"] == CAPABILITIES and service["no_new_privs"] == "1"
    assert service["nice"] >= 10  # the unit's Nice=10; the agent lowers itself further
    assert service["root_mount_options"].split(",")[0] == "ro"
    assert service["state_mount_options"].split(",")[0] == "rw"
    assert ran["version"] == f"watchpost-agent {__version__}"
    # the CA file is kept under /etc/watchpost, since the admin's copy was deleted
    assert 'ca_bundle = "/etc/watchpost/ca.pem"' in ran["config"] and ran["ca_pem"]
    assert ran["data_mode"] == oct(0o700) and ran["key_mode"] == oct(0o600)
    assert ran["secret_found_in"] == [], context

    upgrade, upgraded = steps["upgrade"], steps["upgraded"]
    assert upgrade["rc"] == 0 and "already enrolled" in upgrade["out"], context
    assert upgraded["version"] == f"watchpost-agent {UPGRADE}"
    assert upgraded["key"] == ran["key"] and upgraded["spool_inode"] == ran["spool_inode"]
    assert not upgraded["status"].get("timed_out") and upgraded["status"]["last_error"] == "", context
    assert upgraded["service"]["props"]["ActiveState"] == "active"

    uninstall = steps["uninstall"]
    assert uninstall["rc"] == 0 and uninstall["unit"] == "LoadState=not-found", context
    assert not uninstall["venv"] and uninstall["key"] == ran["key"] and uninstall["config"]
    purge = steps["purge"]
    assert purge["rc"] == 0 and not purge["data"] and not purge["config"], context

    # what reached the collector: one host, the upgraded agent, facts only root can read
    username, password = (tmp_path / "creds").read_text().split()
    with httpx.Client(base_url=running.url, verify=str(tmp_path / "ca.pem"), timeout=30) as http:
        token = http.post("/api/v1/auth/login", json={"username": username, "password": password}).json()[
            "token"
        ]
        hosts = http.get("/api/v1/hosts", headers={"Authorization": f"Bearer {token}"}).json()["items"]
    (host,) = hosts
    assert host["hostname"] == "wp-vm" and host["unit_code"] == "341022"
    assert host["agent_version"] == UPGRADE
    assert host["serial"] == SERIAL  # /sys/class/dmi/id/product_serial is 0400 root
    assert host["os_name"] == "Debian GNU/Linux 12 (bookworm)"
    assert any(address.startswith("198.18.9.") for address in host["ip_addresses"])
    assert secret not in running.log.read_text()
