"""Capture bundles: a scan's raw sources saved and parsed again anywhere (agent capture/replay)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.capture import SCRUBBED, BundleRecorder, ReplayContext, capture
from agent.host import HostContext, ReadError
from agent.probes import PROBES
from agent.scan import scan_sections

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def test_replay_of_a_capture_gives_the_same_facts_as_the_live_scan(tmp_path: Path) -> None:
    ctx, recorder = capture(tmp_path / "bundle", "linux")
    captured = scan_sections(ctx)
    recorder.write_manifest("test")
    replayed = scan_sections(ReplayContext(tmp_path / "bundle"), platform="linux")
    assert {n: r["status"] for n, r in replayed.items()} == {n: r["status"] for n, r in captured.items()}
    assert {n: r.get("content_hash") for n, r in replayed.items()} == {
        n: r.get("content_hash") for n, r in captured.items()
    }
    # Every section with a Linux reader reads this machine; only Windows-only ones skip.
    assert {n for n, r in captured.items() if r["status"] != "ok"} <= {
        n for n in captured if "linux" not in PROBES[n].collectors
    }


def test_files_with_secrets_are_never_copied(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc" / "ppp").mkdir(parents=True)
    (root / "etc" / "shadow").write_text("alice:$6$salt$hash:19000:0:99999:7:::\n")
    (root / "etc" / "ppp" / "chap-secrets").write_text('alice * "Passw0rd!" *\n')
    (root / "etc" / "hostname").write_text("pc-01\n")
    recorder = BundleRecorder(tmp_path / "bundle", "linux")
    ctx = HostContext(root=root, recorder=recorder)
    for path in ("/etc/shadow", "/etc/ppp/chap-secrets", "/etc/hostname"):
        ctx.read_text(path)
    files = tmp_path / "bundle" / "files" / "etc"
    # account stores keep their structure, each secret replaced (issue 6: field-level redaction)
    assert (files / "shadow").read_text() == "alice:$6$<redacted>:19000:0:99999:7:::\n"
    assert (files / "ppp" / "chap-secrets").read_text() == 'alice\t*\t"<redacted>"\t*\n'
    (root / "etc" / "server.key").write_text("-----BEGIN PRIVATE KEY-----\n")
    ctx.read_text("/etc/server.key")
    assert (files / "server.key").read_bytes() == SCRUBBED
    assert (files / "hostname").read_text() == "pc-01\n"


def test_replay_of_a_windows_registry_export(tmp_path: Path) -> None:
    """A bundle holding a real `reg export` of a Windows PC's Uninstall key, parsed on Linux."""
    bundle = tmp_path / "bundle"
    (bundle / "registry").mkdir(parents=True)
    shutil.copy(FIX / "windows/registry/glpi_mssql-Uninstall.reg", bundle / "registry" / "0001.reg")
    (bundle / "manifest.json").write_text(
        json.dumps(
            {
                "format": 1,
                "platform": "windows",
                "facts": {},
                "commands": [],
                "registry": [
                    {
                        "key": r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
                        "file": "registry/0001.reg",
                    }
                ],
            }
        )
    )
    replay = ReplayContext(bundle)
    sections = scan_sections(replay, platform=replay.platform)
    software = sections["software"]
    assert software["status"] == "ok"
    names = {i["name"] for i in software["data"]["items"]}
    assert "Microsoft SQL Server 2017" in names
    assert software["data"]["sources"] == ["HKLM 64-bit"]
    # the user hives were not captured: said, not hidden
    assert any("reg query HKU" in e["source"] for e in software["errors"])
    # a section whose Windows sources are not in the bundle says so (os: PowerShell and wmic both absent)
    assert sections["os"]["status"] == "error" and "not in the capture" in sections["os"]["reason"]


def test_capture_and_replay_from_the_command_line(tmp_path: Path) -> None:
    agent = [sys.executable, "-m", "agent.cli"]
    env = {"WATCHPOST_AGENT_CONFIG": str(tmp_path / "none.toml"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [*agent, "capture", str(tmp_path / "b"), "--section", "os"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "b" / "files" / "etc" / "os-release").exists()
    again = subprocess.run(
        [*agent, "capture", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert again.returncode == 2 and "not empty" in again.stderr
    replay = subprocess.run(
        [*agent, "scan", "--replay", str(tmp_path / "b"), "--section", "os"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert replay.returncode == 0
    assert json.loads(replay.stdout)["sections"]["os"]["status"] == "ok"


def test_not_a_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a capture bundle"):
        ReplayContext(tmp_path)


def test_a_manifest_cannot_point_outside_its_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (tmp_path / "secret.txt").write_text("not yours\n")
    (bundle / "manifest.json").write_text(
        json.dumps(
            {
                "format": 1,
                "platform": "linux",
                "facts": {},
                "commands": [
                    {"argv": ["cat"], "returncode": 0, "stdout": "../secret.txt", "stderr": "/etc/hostname"}
                ],
                "registry": [{"key": "HKLM\\X", "file": "registry/none.reg"}],
            }
        )
    )
    replay = ReplayContext(bundle)
    with pytest.raises(ReadError, match="outside the bundle"):
        replay.run(["cat"])
    with pytest.raises(ReadError, match="missing from the bundle"):
        replay.reg_export("HKLM\\X")
