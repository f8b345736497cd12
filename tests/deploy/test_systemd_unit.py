"""The agent's systemd unit passes `systemd-analyze verify` without a single warning."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "linux" / "watchpost-agent.service"


def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    agent = Path(sys.executable).parent / "watchpost-agent"
    unit = tmp_path / "watchpost-agent.service"
    # verify checks that ExecStart exists: point it at this checkout's agent
    unit.write_text(UNIT.read_text().replace("/opt/watchpost-agent/venv/bin/watchpost-agent", str(agent)))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "" and done.stderr.strip() == "", done.stderr


def test_unit_runs_the_agent_as_installed_by_the_script() -> None:
    text = UNIT.read_text()
    assert (
        "ExecStart=/opt/watchpost-agent/venv/bin/watchpost-agent --config /etc/watchpost/agent.toml run"
        in text
    )
    script = (UNIT.parent / "install-agent.sh").read_text()
    assert "prefix=/opt/watchpost-agent" in script and "config=/etc/watchpost/agent.toml" in script
    assert "StateDirectory=watchpost-agent" in text and "data=/var/lib/watchpost-agent" in script
