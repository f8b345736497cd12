"""deploy/windows: what the scripts do, read from their structure (issue 8).

PowerShell does not run on the test machine. These tests parse the scripts with the
tree-sitter PowerShell grammar (tests/deploy/powershell_ast.py) and check the properties that
matter on three hundred office PCs: the scripts call what the agent really offers, the
enrollment secret only ever reaches the agent's standard input, the agent reads its own copy of
the CA bundle, a second run at start-up changes nothing and reads no bundle, an upgrade stops
the service before the program folder moves and never touches the data folder, ACLs are set by
SID, and so on. What only Windows can show is listed in docs/windows-agent.md.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from tree_sitter import Node

from agent import __version__
from agent.cli import _parser
from agent.runtime.service import restart_self
from agent.winservice import NOT_UNDER_SCM, RESTART_EXIT, SERVICE_NAME, host_service
from tests.deploy.powershell_ast import Script, ancestors, literal, text, walk

ROOT = Path(__file__).resolve().parents[2]
WIN = ROOT / "deploy" / "windows"
INSTALL = Script(WIN / "install-agent.ps1")
UNINSTALL = Script(WIN / "uninstall-agent.ps1")
BUILD = Script(WIN / "build-bundle.ps1")
SCRIPTS = [INSTALL, UNINSTALL, BUILD]


def _subcommands() -> dict[str, object]:
    return _parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr,return-value]


def _literal_value(assignment_value: Node) -> str:
    found = [literal(n) for n in walk(assignment_value) if n.type == "string_literal"]
    assert found and found[0] is not None
    return found[0]


def _crt_argv(line: str) -> list[str]:
    """Split a command line as the Microsoft C runtime does for a program's arguments
    (what sc.exe, and then the agent started by the service manager, receive)."""
    args: list[str] = []
    current: list[str] = []
    quoted = started = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            n = len(line[i:]) - len(line[i:].lstrip("\\"))
            if line[i + n : i + n + 1] == '"':
                current.append("\\" * (n // 2))
                if n % 2:
                    current.append('"')
                    i += n + 1
                else:
                    i += n
            else:
                current.append("\\" * n)
                i += n
            started = True
            continue
        if ch == '"':
            quoted, started = not quoted, True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            current.append(ch)
            started = True
        i += 1
    if started:
        args.append("".join(current))
    return args


def _offset(script: Script, name: str, *elements: str) -> int:
    """Where the first top-level call of ``name`` with all of ``elements`` is."""
    for command in script.named(name):
        if command.function is None and all(e in command.elements for e in elements):
            return int(command.node.start_byte)
    raise AssertionError(f"no {name} {elements} outside functions in {script.path.name}")


# -- the scripts and the agent agree -------------------------------------------------------


def test_install_script_registers_the_service_the_agent_hosts() -> None:
    (name,) = INSTALL.assignments("$ServiceName")
    assert _literal_value(name.value) == SERVICE_NAME
    assert "service-host" in _subcommands() and "enroll" in _subcommands()


def test_install_script_passes_only_options_that_enroll_accepts() -> None:
    enroll = _subcommands()["enroll"]
    accepted = {opt for action in enroll._actions for opt in action.option_strings}  # type: ignore[attr-defined]
    used = {
        value
        for node in INSTALL.nodes("string_literal")
        if (value := literal(node)) and re.fullmatch(r"--[a-z-]+", value)
    } - {"--config", "--version"}
    assert {"--server", "--secret", "--data-dir", "--ca-bundle", "--proxy"} <= used
    assert used <= accepted, used - accepted


def test_version_output_is_what_the_install_script_compares() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--version"], capture_output=True, text=True, cwd=ROOT, check=True
    )
    said = done.stdout.strip()
    assert re.sub(r"^watchpost-agent\s+", "", said) == __version__  # install-agent.ps1's -replace
    pattern = next(
        literal(n) for n in INSTALL.nodes("string_literal") if "win64" in text(n) and "(.+)" in text(n)
    )
    assert pattern is not None
    match = re.match(pattern, f"watchpost-agent-{__version__}-win64.zip")
    assert match and match.group(1) == __version__
    assert '"watchpost-agent-$version-win64.zip"' in BUILD.source.decode()


def test_self_restart_exit_code_is_the_one_the_service_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    assert restart_self() == RESTART_EXIT  # on Windows the SCM's failure actions start a fresh process


def test_service_host_refuses_to_run_outside_windows(tmp_path: Path) -> None:
    if sys.platform != "win32":
        assert host_service(tmp_path / "agent.toml") == 2


def test_bundle_entry_point_runs_the_cli_after_multiprocessing_had_its_turn() -> None:
    """In a frozen executable a 'spawn' worker (the VPN hash audit's pool) is the executable
    itself with --multiprocessing-fork: freeze_support() must take it before the CLI parses
    the arguments (PyInstaller's documented requirement)."""
    entry = ast.parse((WIN / "watchpost_agent_entry.py").read_text(encoding="utf-8"))
    (main_block,) = [n for n in entry.body if isinstance(n, ast.If)]
    calls = [ast.unparse(n) for n in main_block.body]
    assert calls == ["multiprocessing.freeze_support()", "sys.exit(main())"]
    assert "from agent.cli import main" in ast.unparse(entry)


def test_the_service_command_line_reaches_sc_exe_whole_and_is_what_a_rerun_compares() -> None:
    """Windows PowerShell 5.1 does not escape quotes inside a native argument, so sc.exe gets a
    command line written out with C-runtime escapes; what it stores must be $ServiceCommand
    exactly, which the next run compares with the service's ImagePath to know it has nothing
    to do. Paths with spaces (Program Files) must survive both splits."""
    (command,) = INSTALL.assignments("$ServiceCommand")
    exe, config = r"C:\Program Files\Watchpost\watchpost-agent.exe", r"C:\ProgramData\Watchpost\agent.toml"
    service_command = _literal_value(command.value).format(exe, config)
    (bin_path,) = INSTALL.assignments("$binPath")
    assert text(bin_path.value) == """'"' + $ServiceCommand.Replace('"', '\\"') + '"'"""
    bin_path_value = '"' + service_command.replace('"', '\\"') + '"'
    (create,) = [c for c in INSTALL.named("Invoke-Sc") if "create" in c.elements[0]]
    template = literal(next(n for n in walk(create.node) if n.type == "string_literal"))
    assert template is not None
    argv = _crt_argv(template.format(SERVICE_NAME, bin_path_value))
    assert argv == [
        "create", SERVICE_NAME, "binPath=", service_command, "start=", "delayed-auto",
        "DisplayName=", "Watchpost Agent",
    ]  # fmt: skip
    started = _crt_argv(service_command)
    assert started[0] == exe
    args = _parser().parse_args(started[1:])
    assert args.command == "service-host" and str(args.config) == config
    # The fast path compares the stored command line with this very variable.
    assert any("$service.ImagePath -eq $ServiceCommand" in text(n) for n in INSTALL.nodes("if_statement"))


def test_crt_argv_splits_as_the_c_runtime_does() -> None:
    assert _crt_argv(r'a "b c" d\"e "f\\" g\\h') == ["a", "b c", 'd"e', "f\\", "g\\\\h"]


# -- secrets and trust ----------------------------------------------------------------------


def test_the_enrollment_secret_reaches_the_agent_on_stdin_only() -> None:
    """Never on a command line (visible to every user, in process-creation audit events and a
    logged command), never in install.log or a transcript: the only command that sees the
    secret is the agent, as pipeline input, with '--secret -'."""
    secret_nodes = [v for v in INSTALL.variables() if text(v).lower() == "$secret"]
    assert secret_nodes
    for variable in secret_nodes:
        for up in ancestors(variable):
            assert up.type != "command", f"$secret is an argument of: {text(up)[:80]}"
            assert up.type != "expandable_string_literal", "$secret inside a string"
    (piped,) = [c for c in INSTALL.commands() if c.pipeline[:1] == ["$secret"] and c.invoked]
    assert piped.invoked and piped.name == "$Exe" and piped.elements[0] == "@enroll"
    assert piped.function == "Invoke-Enrollment"
    enroll = next(a for a in INSTALL.assignments("$enroll") if a.operator == "=")
    values = [literal(n) or text(n) for n in walk(enroll.value) if n.type in {"string_literal", "variable"}]
    assert values[values.index("--secret") + 1] == "-"
    (read,) = [a for a in INSTALL.assignments("$secret") if "Get-Content" in text(a.value)]
    assert "-LiteralPath $SecretFile" in text(read.value)
    forbidden = {"Start-Transcript", "Set-Content", "Out-File", "Export-Clixml"}
    assert not [
        c.name for c in INSTALL.commands() if c.name in forbidden and c.function == "Invoke-Enrollment"
    ]


def test_the_agent_reads_its_own_copy_of_the_ca_bundle() -> None:
    """The CA file given at install time (a share, an admin's temp file) is copied into the data
    folder and the config names the copy; a changed CA is copied again on later runs."""
    (copy_path,) = INSTALL.assignments("$CaCopy")
    assert text(copy_path.value).startswith("Join-Path $DataRoot")
    (copy,) = INSTALL.named("Copy-Item")
    assert copy.value_of("-LiteralPath") == "$CaBundle" and copy.value_of("-Destination") == "$CaCopy"
    assert copy.function == "Update-CaCopy"
    given = [
        text(n)
        for a in INSTALL.assignments("$enroll")
        for n in walk(a.value)
        if n.type == "array_literal_expression" and "--ca-bundle" in text(n)
    ]
    assert given and all(re.search(r'"--ca-bundle",\s*\$CaCopy\b', g) for g in given), given
    main = [c.node.start_byte for c in INSTALL.named("Update-CaCopy") if c.function is None]
    assert len(main) == 2  # the nothing-to-do path and the install path
    assert max(main) < _offset(INSTALL, "Invoke-Enrollment")


def test_a_data_folder_the_installer_did_not_make_is_never_trusted() -> None:
    """Standard users may create folders under ProgramData: a pre-created Watchpost folder (with
    a planted node key or config, or a junction) is moved aside, not locked down and used."""
    trusted = text(INSTALL.function("Test-TrustedFolder"))
    assert "GetOwner([Security.Principal.SecurityIdentifier])" in trusted
    assert "$SidSystem" in trusted and "$SidAdmins" in trusted and "Test-Link" in trusted
    init = INSTALL.function("Initialize-DataRoot")
    calls = [c for c in INSTALL.commands() if c.function == "Initialize-DataRoot"]
    order = [c.name for c in calls]
    assert order.index("Move-Item") < order.index("Set-FolderAcl") < order.index("Open-Log")
    assert "Test-TrustedFolder $DataRoot" in text(init)
    fast = _fast_path()
    assert "Test-TrustedFolder $DataRoot" in text(fast)


def test_folders_get_their_acls_by_sid_and_without_recursing() -> None:
    """SIDs, as account names are localised; no /T, which would follow a junction planted
    inside; the program folder does not inherit a parent's write permissions (a custom
    -InstallDir), and Users may only read and run it."""
    for script in (INSTALL,):
        assert "/T" not in [e.strip('"') for c in script.commands() for e in c.elements]
    acl = text(INSTALL.function("Set-FolderAcl"))
    assert '"/setowner", "*$SidAdmins"' in acl and '"/inheritance:r", "/grant:r"' in acl
    sids = {
        a.variable: _literal_value(a.value) for a in INSTALL.assignments() if a.variable.startswith("$Sid")
    }
    assert sids == {"$SidSystem": "S-1-5-18", "$SidAdmins": "S-1-5-32-544", "$SidUsers": "S-1-5-32-545"}
    grants = {c.elements[0]: c.elements[1] for c in INSTALL.named("Set-FolderAcl")}
    assert grants["$DataRoot"] == '@("*${SidSystem}:(OI)(CI)F", "*${SidAdmins}:(OI)(CI)F")'
    assert (
        grants["$Staging"]
        == '@("*${SidSystem}:(OI)(CI)F", "*${SidAdmins}:(OI)(CI)F", "*${SidUsers}:(OI)(CI)RX")'
    )


# -- idempotence, upgrade, uninstall ----------------------------------------------------------


def _fast_path() -> Node:
    (fast,) = [n for n in INSTALL.nodes("if_statement") if "nothing to do" in text(n)]
    return fast


def test_a_rerun_at_startup_on_an_installed_pc_reads_no_bundle_and_exits_0() -> None:
    """A group-policy startup script runs at every boot: same version, enrolled and registered
    means exit 0 before the bundle (on a share, 300 PCs at once) is read or anything stops.
    Not conditional on the service running: with a delayed start it is not yet at that point."""
    fast = _fast_path()
    condition = text(fast)[: text(fast).index("{")]
    for needed in ("-not $Force", "$bundleVersion", "$service.ImagePath -eq $ServiceCommand", "$NodeKey"):
        assert needed in condition
    assert "(Get-InstalledVersion) -eq $bundleVersion" in condition
    assert "Running" not in condition
    body_exits = [text(n) for n in walk(fast) if n.type == "flow_control_statement"]
    assert body_exits[-1] == "exit 0"
    start = int(fast.start_byte)
    for name, elements in [
        ("Test-Path", ("-LiteralPath", "$Bundle")),
        ("Get-FileHash", ("$Bundle",)),
        ("Stop-Agent", ()),
        ("Initialize-DataRoot", ()),
        ("Move-Folder", ("$InstallDir",)),
    ]:
        assert start < _offset(INSTALL, name, *elements), name
    assert all(c.node.start_byte > fast.end_byte for c in INSTALL.named("Get-FileHash") if c.function is None)


def test_upgrade_stops_the_service_before_the_program_folder_moves_and_keeps_the_data() -> None:
    extracted = next(n for n in INSTALL.nodes("invokation_expression") if "ExtractToDirectory" in text(n))
    assert "$Staging" in text(extracted)
    stop = _offset(INSTALL, "Stop-Agent")
    assert extracted.start_byte < stop  # unpacked and checked while the old version still runs
    assert stop < _offset(INSTALL, "Move-Folder", "$InstallDir", "$oldDir")
    assert _offset(INSTALL, "Move-Folder", "$Staging", "$InstallDir") > stop
    move = text(INSTALL.function("Move-Folder"))  # a rename, tried again while a scanner holds a file
    assert "Move-Item -LiteralPath $From -Destination $To" in move and "Start-Sleep" in move
    targets = [c.value_of("-LiteralPath") for c in INSTALL.named("Remove-Item")]
    targets += [c.elements[0] for c in INSTALL.named("Remove-Folder")]
    assert not {"$InstallDir", "$DataRoot", "$DataDir", "$NodeKey"} & set(targets), targets
    # A service that does not stop is ended, and so is whatever runs from the program folder.
    stop_agent = [c.name for c in INSTALL.commands() if c.function == "Stop-Agent"]
    assert "Stop-Process" in stop_agent and "Stop-Stragglers" in stop_agent
    stragglers = text(INSTALL.function("Stop-Stragglers"))
    assert "ExecutablePath.StartsWith($prefix" in stragglers and "Stop-Process" in stragglers


def test_no_parameter_can_hold_a_group_policy_run_at_a_prompt() -> None:
    """A mandatory parameter that is missing makes PowerShell prompt; a startup script has no
    console and would hang the boot until the script timeout."""
    for script in SCRIPTS:
        assert "mandatory" not in script.source.decode().lower(), script.path.name


def test_exit_codes_are_the_documented_ones() -> None:
    """0 done, 1 failed (a later run may succeed), 2 wrong parameters: what GPO and SCCM read."""
    for script in (INSTALL, UNINSTALL):
        exits = {text(n) for n in script.nodes("flow_control_statement") if text(n).startswith("exit")}
        assert exits <= {"exit 0", "exit 1", "exit 2", "exit $code"}, exits
    codes = {c.elements[1] if len(c.elements) > 1 else "1" for c in INSTALL.named("Fail")}
    assert codes == {"1", "2"}
    (fail,) = [n for n in INSTALL.nodes("function_statement") if text(n).startswith("function Fail(")]
    assert "[int]$code = 1" in text(fail) and "exit $code" in text(fail)


def test_uninstall_removes_a_stuck_service_and_keeps_the_data_unless_purge() -> None:
    deletes = [c for c in UNINSTALL.named("Invoke-Native") if '"delete"' in c.elements[1]]
    assert len(deletes) == 1 and deletes[0].function is None
    delete_if = next(a for a in ancestors(deletes[0].node) if a.type == "if_statement")
    assert text(delete_if).startswith("if ($service)")  # whatever the state or start type
    assert "Disabled" not in UNINSTALL.source.decode() and "StartType" not in UNINSTALL.source.decode()
    source = UNINSTALL.source.decode()
    assert "$r.Code -eq 0 -or $r.Code -eq 1072" in source  # already marked for deletion is fine
    assert [c.name for c in UNINSTALL.commands() if c.name == "Stop-Process"]  # a hung service is ended
    (purge,) = [
        c for c in UNINSTALL.named("Remove-Folder") if c.elements == ["$DataRoot"]
    ]  # the data folder goes only with -Purge, and only the one the installer made
    guard = next(a for a in ancestors(purge.node) if a.type == "if_statement")
    assert text(guard).startswith("if ($Purge -and")
    assert "Test-TrustedFolder $DataRoot" in text(guard)


# -- native programs and Windows PowerShell 5.1 -------------------------------------------------


def _sets_continue_before(node: Node) -> bool:
    """Whether a block around ``node`` sets $ErrorActionPreference = "Continue" before it."""
    for up in ancestors(node):
        if up.type != "statement_list":
            continue
        for statement in up.children:
            if statement.start_byte >= node.start_byte:
                break
            if re.fullmatch(r'\$ErrorActionPreference\s*=\s*"Continue"\s*(#.*)?', text(statement).strip()):
                return True
    return False


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.path.name)
def test_native_programs_run_where_their_stderr_cannot_end_the_script(script: Script) -> None:
    """Windows PowerShell 5.1 turns a native program's stderr lines into error records, fatal
    under ErrorActionPreference Stop: icacls, sc.exe, pip, PyInstaller and the agent run where
    the preference is Continue (or through Start-Process), and their exit code decides."""
    natives = [c for c in script.commands() if c.invoked or c.name.lower().endswith(".exe")]
    assert natives
    assert [text(c.node)[:60] for c in natives if not _sets_continue_before(c.node)] == []


def test_build_pins_pyinstaller_6_and_proves_the_service_host_loads_pywin32() -> None:
    """Error 1053 at service start is the classic failure of Python services whose pywin32 DLLs
    (pywintypes311.dll) are not on the service's PATH. PyInstaller >= 6 puts them in
    _internal\\pywin32_system32 and adds that folder to the DLL path; the build proves it by
    starting service-host with only the system folders on PATH."""
    pins = dict(
        line.split("==")
        for line in (WIN / "build-constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert int(pins["pyinstaller"].split(".")[0]) >= 6 and pins["pywin32"]
    (not_under_scm,) = BUILD.assignments("$NotUnderScm")
    assert int(text(not_under_scm.value).split("#")[0]) == NOT_UNDER_SCM
    build = BUILD.source.decode()
    path_set = build.index('$env:PATH = "$env:SystemRoot\\System32;')
    host = build.index('"service-host"')
    assert path_set < host < build.index("if ($hostCode -ne $NotUnderScm)")
    assert '"-c", $constraints' in build and 'if ($pyInfo -ne "3.11 64")' in build
    for option in ('"--noupx"', '"--hidden-import", "win32timezone"', '"--collect-submodules", "agent"'):
        assert option in build
    assert '"--collect-submodules", "wire"' in build  # wire imports its models by name


def test_every_agent_dependency_is_pinned_for_the_windows_build() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = {
        re.split(r"[<>=;\[ ]", dep, maxsplit=1)[0].lower() for dep in pyproject["project"]["dependencies"]
    }
    wanted |= {
        re.split(r"[<>=;\[ ]", dep, maxsplit=1)[0].lower()
        for dep in pyproject["project"]["optional-dependencies"]["agent"]
    }
    pinned = {
        line.split("==")[0].strip().lower()
        for line in (WIN / "build-constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert wanted <= pinned, wanted - pinned
