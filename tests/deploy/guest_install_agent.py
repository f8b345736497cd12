#!/usr/bin/python3
"""Runs inside the test VM of tests/deploy/test_install_agent_vm.py, as root, under systemd,
at boot. Only the standard library: this is the guest's own Python (Debian 12, 3.11.2).

It does what an admin does on an office PC, with deploy/linux/install-agent.sh from the
second disk (/mnt/test): install and enroll, let the service report, upgrade to a newer
wheel, uninstall, purge. After each step it prints one JSON line of what it saw; the test
on the host reads them, and what reached the collector, and judges.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

TEST = Path("/mnt/test")
SCRIPTS = TEST / "deploy" / "linux"
AGENT = "/opt/watchpost-agent/venv/bin/watchpost-agent"
CONFIG = Path("/etc/watchpost/agent.toml")
DATA = Path("/var/lib/watchpost-agent")
SERVER = "https://collector.test:8443"


def record(step: str, **facts: Any) -> None:
    print(json.dumps({"step": step, **facts}), flush=True)


def run(*argv: str, stdin: str | None = None, timeout: float = 1800) -> dict[str, Any]:
    done = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    return {"rc": done.returncode, "out": done.stdout[-6000:], "err": done.stderr[-6000:]}


def status() -> dict[str, Any]:
    done = run(AGENT, "--config", str(CONFIG), "status", "--json", timeout=120)
    try:
        return json.loads(done["out"]) if done["rc"] == 0 else {"error": done["err"]}
    except ValueError:
        return {"error": done["out"]}


def wait_for_delivery(after: str | None, seconds: float) -> dict[str, Any]:
    """The agent's status once it has delivered since ``after`` and emptied its queue."""
    deadline = time.monotonic() + seconds
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = status()
        queue = seen.get("queue") or {}
        if (
            seen.get("last_delivery_at") not in (None, after)
            and queue.get("snapshots", 1) + queue.get("events", 1) == 0
        ):
            return seen
        time.sleep(3)
    return {**seen, "timed_out": True}


def service_facts() -> dict[str, Any]:
    shown = run("systemctl", "show", "watchpost-agent", "-p", "MainPID,NRestarts,ActiveState,UnitFileState")
    props = dict(line.split("=", 1) for line in shown["out"].splitlines() if "=" in line)
    facts: dict[str, Any] = {"props": props}
    pid = props.get("MainPID", "0")
    if pid != "0":
        proc = Path("/proc") / pid
        fields = dict(
            line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line
        )
        facts["cap_bounding"] = fields.get("CapBnd", "").strip()
        facts["no_new_privs"] = fields.get("NoNewPrivs", "").strip()
        facts["nice"] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[16])
        mounts = [line.split() for line in (proc / "mountinfo").read_text().splitlines()]
        facts["root_mount_options"] = next((m[5] for m in mounts if m[4] == "/"), "")
        facts["state_mount_options"] = next((m[5] for m in mounts if m[4] == str(DATA)), "")
    return facts


def key_digest() -> str:
    key = DATA / "node.key"
    return hashlib.sha256(key.read_bytes()).hexdigest() if key.exists() else ""


def where_is(secret: str) -> list[str]:
    """Files under /etc, /var/lib/watchpost-agent and /opt/watchpost-agent, and the
    journal, that contain the enrollment secret."""
    found = [
        str(path)
        for top in (Path("/etc"), DATA, Path("/opt/watchpost-agent"))
        for path in top.rglob("*")
        if path.is_file() and not path.is_symlink() and secret.encode() in path.read_bytes()
    ]
    if (
        secret
        in run("journalctl", "--no-pager", "-o", "cat")["out"]
        + run("journalctl", "--no-pager", "-o", "cat", "-u", "watchpost-agent")["out"]
    ):
        found.append("journal")
    return found


def main() -> None:
    with open("/etc/hosts", "a") as hosts:
        hosts.write("198.18.9.100 collector.test\n")  # debvm.FORWARDED
    secret = (TEST / "secret").read_text().strip()
    # the admin's copies, as if from a download folder that is cleaned up afterwards
    Path("/root/secret").write_text(secret + "\n")
    shutil.copy(TEST / "ca.pem", "/root/city-ca.pem")
    (release1,) = (TEST / "release1").glob("*.whl")
    (release2,) = (TEST / "release2").glob("*.whl")
    wheels = str(TEST / "wheels")

    started = time.monotonic()
    install = run(
        "bash", str(SCRIPTS / "install-agent.sh"),
        "--server", SERVER, "--secret-file", "/root/secret", "--ca-bundle", "/root/city-ca.pem",
        "--source", str(release1), "--find-links", wheels,
    )  # fmt: skip
    os.remove("/root/secret")
    os.remove("/root/city-ca.pem")
    record("install", **install, seconds=round(time.monotonic() - started, 1))
    if install["rc"] != 0:
        return
    first = wait_for_delivery(None, 900)
    record(
        "running",
        status=first,
        service=service_facts(),
        version=run(AGENT, "--version")["out"].strip(),
        config=CONFIG.read_text(),
        ca_pem=Path("/etc/watchpost/ca.pem").exists(),
        data_mode=oct(DATA.stat().st_mode & 0o777),
        key_mode=oct((DATA / "node.key").stat().st_mode & 0o777),
        key=key_digest(),
        spool_inode=(DATA / "agent.db").stat().st_ino,
        secret_found_in=where_is(secret),
        journal=run("journalctl", "--no-pager", "-o", "cat", "-u", "watchpost-agent")["out"][-3000:],
    )

    started = time.monotonic()
    upgrade = run(
        "bash", str(SCRIPTS / "install-agent.sh"), "--source", str(release2), "--find-links", wheels
    )  # fmt: skip
    record("upgrade", **upgrade, seconds=round(time.monotonic() - started, 1))
    after = wait_for_delivery(first.get("last_delivery_at"), 900)
    record(
        "upgraded",
        status=after,
        service=service_facts(),
        version=run(AGENT, "--version")["out"].strip(),
        key=key_digest(),
        spool_inode=(DATA / "agent.db").stat().st_ino,
    )

    uninstall = run("bash", str(SCRIPTS / "uninstall-agent.sh"))
    record(
        "uninstall",
        **uninstall,
        unit=run("systemctl", "show", "watchpost-agent", "-p", "LoadState")["out"].strip(),
        venv=Path("/opt/watchpost-agent").exists(),
        key=key_digest(),
        config=CONFIG.exists(),
    )
    purge = run("bash", str(SCRIPTS / "uninstall-agent.sh"), "--purge")
    record("purge", **purge, data=DATA.exists(), config=CONFIG.exists())


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001 - the test must see why, not only a missing step
        record("crashed", error=f"{type(exc).__name__}: {exc}")
    record("done")
