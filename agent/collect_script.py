"""What deploy/windows/collect.ps1 must run, taken from the Windows readers themselves.

collect.ps1 writes a capture bundle on a Windows PC without the agent (Windows 7
included), so every command line and registry key in it must be exactly the one a
Windows reader asks for: replay matches commands by their argv. Rather than keeping two
lists in step by hand, ``windows_sources()`` runs every probe's Windows reader against a
context that answers nothing and notes what was asked; ``render()`` writes those commands
into the generated block of collect.ps1, and a test checks the committed script is
current (regenerate with ``python -m agent.collect_script deploy/windows/collect.ps1``).

The steps that depend on what the PC holds (the Uninstall keys of each user's hive,
loaded or not) are written by hand in collect.ps1, mirroring agent/probes/software_windows.py.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from agent.host import CommandResult, HostContext, ReadError

__all__ = ["BEGIN", "END", "WindowsSources", "render", "windows_sources"]

BEGIN = "# BEGIN GENERATED SOURCES (python -m agent.collect_script; do not edit by hand)"
END = "# END GENERATED SOURCES"


@dataclass
class WindowsSources:
    commands: list[tuple[int, list[str]]] = field(default_factory=list)
    registry_keys: list[str] = field(default_factory=list)


class _Discovery(HostContext):
    """Answers every question with "not here", writing the question down.

    ``wmic`` answers with one empty instance, so that the Windows 7 fallbacks go on to
    the commands they run next (e.g. the ``reg query`` values after ``wmic os``).
    """

    def __init__(self, found: WindowsSources) -> None:
        super().__init__(root=Path("/nonexistent-watchpost-discovery"))
        self.found = found

    def run(self, argv: list[str], *, timeout: float | None = None) -> CommandResult:
        entry = (int(timeout or self.command_timeout), list(argv))
        if all(argv != known for _, known in self.found.commands):
            self.found.commands.append(entry)
        if argv and argv[0] == "wmic":
            return CommandResult(tuple(argv), 0, "Name=discovery\r\n\r\n", "")
        return CommandResult(tuple(argv), 1, "", "discovery")

    def reg_export(self, key: str) -> bytes:
        if key not in self.found.registry_keys:
            self.found.registry_keys.append(key)
        raise ReadError(f"reg export {key}", "discovery")

    def fact(self, name: str) -> object:
        raise ReadError(name, "discovery")


def windows_sources() -> WindowsSources:
    """Every command line and registry key the Windows readers ask for on their own."""
    from agent.probes import PROBES

    found = WindowsSources()
    ctx = _Discovery(found)
    for probe in PROBES.values():
        reader = probe.collectors.get("windows")
        if reader is None:
            continue
        try:
            reader(ctx)
        except Exception:  # noqa: BLE001, S112 - nothing answers here; only the questions matter
            continue
    return found


def _ps_string(text: str) -> str:
    """A PowerShell single-quoted literal (no expansion; a quote is doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _block(found: WindowsSources) -> list[str]:
    lines = [BEGIN, f"$Script:Steps = {len(found.commands) + len(found.registry_keys) + 8}"]
    for timeout, argv in found.commands:
        lines.append(
            f"$null = Invoke-Recorded -Timeout {timeout} -Argv @({', '.join(map(_ps_string, argv))})"
        )
    for key in found.registry_keys:
        lines.append(f"$null = Export-Recorded -Key {_ps_string(key)}")
    lines.append(END)
    return lines


def render(script: str, found: WindowsSources | None = None) -> str:
    """collect.ps1 with its generated block replaced by the readers' current sources."""
    lines = script.split("\n")
    try:
        start, stop = lines.index(BEGIN), lines.index(END)
    except ValueError:
        raise ValueError("the script has no generated block markers") from None
    return "\n".join(lines[:start] + _block(found or windows_sources()) + lines[stop + 1 :])


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/windows/collect.ps1")
    target.write_text(render(target.read_text(encoding="utf-8")), encoding="utf-8", newline="\r\n")
    print(f"wrote {target}")
