"""deploy/windows/collect.ps1 runs exactly what the agent's Windows readers read (issue 3).

PowerShell does not run here: what is checked is that the script's generated block is
the readers' current list of sources (so a bundle it writes replays with the same
readers), that its hand-written part mirrors the software reader's per-user steps, and
that no secret is among its sources.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from agent.collect_script import BEGIN, END, render, windows_sources
from agent.probes import PROBES, software_windows

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "windows" / "collect.ps1"


def _script() -> str:
    return SCRIPT.read_bytes().decode("utf-8").replace("\r\n", "\n")


def test_generated_block_is_current() -> None:
    assert render(_script()) == _script(), "run: python -m agent.collect_script deploy/windows/collect.ps1"


def test_every_windows_reader_is_covered() -> None:
    found = windows_sources()
    block = _script().split(BEGIN)[1].split(END)[0]
    readers = {n for n, p in PROBES.items() if "windows" in p.collectors}
    assert readers == set(PROBES) - {n for n, p in PROBES.items() if "windows" in p.not_applicable}
    powershell = [argv for _, argv in found.commands if argv[0] == "powershell.exe"]
    assert len(powershell) >= len(readers) - 1  # one PowerShell call per section (software has two sources)
    for _, argv in found.commands:
        assert f"@('{argv[0]}', " in block
    for key in found.registry_keys:
        assert f"-Key '{key}'" in block


def test_per_user_steps_mirror_the_software_reader() -> None:
    script = _script()
    assert software_windows.MOUNT == "HKU\\WatchpostScan_{}"
    assert '$mount = "HKU\\WatchpostScan_$number"' in script
    assert f"$Uninstall = '{software_windows.UNINSTALL}'" in script
    assert "Invoke-Recorded -Timeout 30 -Argv @('reg', 'query', 'HKU')" in script
    assert "-Argv @('reg', 'load', $mount, $hive)" in script and "-Argv @('reg', 'unload', $mount)" in script
    assert "[StringComparer]::Ordinal" in script  # the agent numbers mounts in Python's (ordinal) order


def test_no_secret_is_among_the_sources() -> None:
    found = windows_sources()
    secret_keys = re.compile(r"winlogon|\\sam\b|\\security\b|lsa\\secrets", re.I)
    assert not [k for k in found.registry_keys if secret_keys.search(k)]
    text = " ".join(" ".join(argv) for _, argv in found.commands)
    for name in ("BackupProductKeyDefault", "OA3xOriginalProductKey", "DigitalProductId", "DefaultPassword"):
        assert name.lower() not in text.lower()


def test_the_script_is_windows_text() -> None:
    raw = SCRIPT.read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n")  # CRLF throughout
    raw.decode("ascii")  # no BOM needed: PowerShell 2 reads ASCII scripts in any code page


def test_the_generator_runs_from_the_command_line(tmp_path: Path) -> None:
    copy = tmp_path / "collect.ps1"
    copy.write_bytes(SCRIPT.read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "agent.collect_script", str(copy)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert copy.read_bytes() == SCRIPT.read_bytes()
