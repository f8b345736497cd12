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


def _function(name: str) -> str:
    script = _script()
    start = script.index(f"function {name}(")
    return script[start : script.index("\n}\n", start)]


def test_a_command_run_twice_gives_its_recorded_output_again() -> None:
    """The generated block runs `reg query HKU` before the per-user steps read its output: the
    second call must return that output, or no loaded hive is exported and the offline mounts
    are numbered differently from the agent's (their argv then misses in a replay)."""
    assert "Invoke-Recorded -Timeout 30 -Argv @('reg', 'query', 'HKU')" in _script().split(BEGIN)[1]
    invoke = _function("Invoke-Recorded")
    repeat = invoke[: invoke.index("$n = ")]
    assert "return (Get-Content -Path (Join-Path $OutDir $known.stdout)" in repeat
    assert "-ceq" in repeat  # the replay matches argv case-sensitively


def test_an_absent_registry_key_does_not_end_the_capture() -> None:
    """Under $ErrorActionPreference = "Stop", Windows PowerShell turns reg.exe's stderr line
    (2>&1) into a terminating error; Export-Recorded relaxes it for its own scope."""
    assert '$ErrorActionPreference = "Stop"' in _script()
    export = _function("Export-Recorded")
    assert export.index('$ErrorActionPreference = "Continue"') < export.index("& reg.exe export")


def _list2cmdline_port(arg: str) -> str:
    """Quote-Argument of collect.ps1, transcribed line by line."""
    quote = len(arg) == 0 or " " in arg or "\t" in arg
    out = '"' if quote else ""
    slashes = 0
    for ch in arg:
        if ch == "\\":
            slashes += 1
            continue
        out += "\\" * (slashes * 2 + 1) + '"' if ch == '"' else "\\" * slashes + ch
        slashes = 0
    out += "\\" * slashes
    return out + ("\\" * slashes + '"' if quote else "")


def test_quote_argument_is_list2cmdline() -> None:
    quote = _function("Quote-Argument")
    assert "$quote = ($arg.Length -eq 0) -or $arg.Contains(' ') -or $arg.Contains(\"`t\")" in quote
    assert "if ($slashes) { [void]$out.Append('\\' * $slashes) }" in quote
    samples = ["", "a b", 'a"b', "a\\", "a b\\", 'a\\"b', "x\ny", "\\\\server\\share x\\", "\t"]
    samples += [argv[-1] for _, argv in windows_sources().commands]
    for sample in samples:
        assert _list2cmdline_port(sample) == subprocess.list2cmdline([sample]), sample


def test_the_manifest_loads_in_any_culture() -> None:
    script = _script()
    assert "[Globalization.CultureInfo]::InvariantCulture" in script.split("$now = ")[1].split("\n")[0]
    assert '$rc = "null"' not in script  # the replay reads returncode with int()
    assert "$OutDir = (Resolve-Path -LiteralPath $OutDir).ProviderPath" in script
