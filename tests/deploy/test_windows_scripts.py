"""deploy/windows: the scripts and the agent agree on names, commands and exit codes (issue 8).

PowerShell does not run on the test machine; what can be checked here is that the
scripts call what the agent really offers. The scripts themselves are exercised on a
Windows build machine (deploy/README.md).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent import __version__
from agent.cli import _parser
from agent.runtime.service import restart_self
from agent.winservice import RESTART_EXIT, SERVICE_NAME, host_service

ROOT = Path(__file__).resolve().parents[2]
WIN = ROOT / "deploy" / "windows"


def _text(name: str) -> str:
    return (WIN / name).read_text(encoding="utf-8")


def test_install_script_registers_the_service_the_agent_hosts() -> None:
    script = _text("install-agent.ps1")
    assert f'$ServiceName = "{SERVICE_NAME}"' in script
    assert "service-host" in script
    subcommands = _parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert "service-host" in subcommands and "enroll" in subcommands


def test_install_script_passes_only_options_that_enroll_accepts() -> None:
    script = _text("install-agent.ps1")
    enroll = _parser()._subparsers._group_actions[0].choices["enroll"]  # type: ignore[union-attr]
    accepted = {opt for action in enroll._actions for opt in action.option_strings}
    used = set(re.findall(r'"(--[a-z-]+)"', script)) - {"--config", "--version"}
    assert used and used <= accepted, used - accepted


def test_version_output_is_what_the_install_script_compares() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--version"], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert re.fullmatch(r"watchpost-agent\s+(.+)", done.stdout.strip()).group(1) == __version__  # type: ignore[union-attr]
    assert r'"watchpost-agent-(.+)-win64\.zip$"' in _text("install-agent.ps1")
    assert "watchpost-agent-$version-win64.zip" in _text("build-bundle.ps1")


def test_self_restart_exit_code_is_the_one_the_service_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    assert restart_self() == RESTART_EXIT  # on Windows the SCM's failure actions start a fresh process


def test_service_host_refuses_to_run_outside_windows(tmp_path: Path) -> None:
    if sys.platform != "win32":
        assert host_service(tmp_path / "agent.toml") == 2


def test_bundle_entry_point_runs_the_cli() -> None:
    entry = _text("watchpost_agent_entry.py")
    assert "from agent.cli import main" in entry and "sys.exit(main())" in entry
    assert "--hidden-import win32timezone" in _text("build-bundle.ps1")  # pywin32 services need it frozen


def test_data_folder_is_kept_on_upgrade_and_locked_down() -> None:
    install, uninstall = _text("install-agent.ps1"), _text("uninstall-agent.ps1")
    assert "Remove-Item -Recurse -Force $DataRoot" not in install
    assert "*S-1-5-18:(OI)(CI)F" in install and "*S-1-5-32-544:(OI)(CI)F" in install
    assert "if ($Purge -and (Test-Path $DataRoot))" in uninstall


def test_the_service_command_line_reaches_sc_exe_whole() -> None:
    """Windows PowerShell 5.1 does not escape quotes inside a native argument, so the quoted
    binPath= goes to sc.exe as one written command line with C-runtime escapes (\\")."""
    script = _text("install-agent.ps1")
    assert not re.search(r"&\s*sc\.exe\s+(create|config)\b[^\n]*binPath=", script)
    assert '$binPath = \'"\\"{0}\\" --config \\"{1}\\" service-host"\' -f $Exe, $Config' in script
    assert 'Start-Process -FilePath "sc.exe" -ArgumentList $arguments' in script


def test_enrollment_output_on_stderr_does_not_abort_the_install() -> None:
    script = _text("install-agent.ps1")
    before = script[: script.index("$output = $secret | & $Exe @enroll 2>&1")]
    assert before.rstrip().endswith("try {") and '$ErrorActionPreference = "Continue"' in before[-400:]
