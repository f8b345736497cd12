"""The Windows service's logic (agent/winservice.py; issue 8, service integration).

ServiceRunner needs no pywin32 and runs here as it runs under the Service Control Manager:
the real agent loop, real child processes, a real log file. Only the pywin32 modules, which
cannot exist on Linux, are faked, to check how the ServiceFramework subclass and host_service
wire the runner to the SCM; their behaviour is pywin32 312's (win32serviceutil.ServiceFramework:
SvcRun reports SERVICE_RUNNING before SvcDoRun; a SvcShutdown method makes it accept shutdown).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from agent import winservice
from agent.runtime.service import EXIT_NOT_ENROLLED, AgentService
from agent.settings import AgentSettings, save_settings
from agent.winservice import NOT_UNDER_SCM, RESTART_EXIT, SERVICE_NAME, ServiceRunner, stop_children

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _spare_the_test_runners_children(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A stop kills the children of the service process; in these in-process tests that would
    be the test runner's (a database server started for the session). stop_children itself is
    tested on a process tree of its own, and a stop end to end in a separate process. The
    helper threads a stop starts end (their runner has finished) before the real function
    is back."""
    monkeypatch.setattr(winservice, "stop_children", lambda parent=None: 0)
    yield
    for thread in threading.enumerate():
        if thread.name == "stop-children":
            thread.join(timeout=60)
            assert not thread.is_alive()


@pytest.fixture
def program_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """%ProgramData% in a temporary folder; the root logger is put back afterwards."""
    monkeypatch.setenv("PROGRAMDATA", str(tmp_path / "ProgramData"))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield tmp_path / "ProgramData"
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    save_settings(AgentSettings(server_url="https://127.0.0.1:9", data_dir=str(tmp_path / "data")), path)
    return path


class _Agent:
    """An agent loop that ends with ``code`` (or waits for the stop, when ``code`` is None)."""

    def __init__(self, stop: threading.Event, code: int | None) -> None:
        self.stop, self.code = stop, code
        self.stop_seen_at_start: bool | None = None

    def run(self) -> int:
        self.stop_seen_at_start = self.stop.is_set()
        if self.code is None:
            self.stop.wait()
            return 0
        return self.code


def _runner(config: Path, code: int | None) -> tuple[ServiceRunner, list[_Agent]]:
    made: list[_Agent] = []

    def make(_settings: AgentSettings, stop: threading.Event) -> _Agent:
        made.append(_Agent(stop, code))
        return made[-1]

    return ServiceRunner(config, make_agent=make), made


def test_the_service_loop_shares_the_stop_event_with_the_agent(tmp_path: Path, program_data: Path) -> None:
    """A stop that arrives while the agent is being built is not lost: the real AgentService is
    created with the runner's own stop event."""
    runner = ServiceRunner(_config(tmp_path))
    settings = AgentSettings(server_url="https://127.0.0.1:9", data_dir=str(tmp_path / "data"))
    agent = winservice._agent_service(settings, runner.stop)
    assert isinstance(agent, AgentService) and agent.stop is runner.stop
    agent.spool.close()


def test_a_stop_before_the_agent_runs_ends_the_service_cleanly(tmp_path: Path, program_data: Path) -> None:
    runner, made = _runner(_config(tmp_path), code=RESTART_EXIT)
    runner.request_stop()
    assert runner.run() == 0  # a stop is never reported as a failure: the SCM would restart it
    assert made[0].stop_seen_at_start is True


def test_a_stop_during_the_loop_ends_it_with_exit_0(tmp_path: Path, program_data: Path) -> None:
    runner, made = _runner(_config(tmp_path), code=None)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(runner.run()))
    thread.start()
    while not made:  # the loop is built
        threading.Event().wait(0.01)
    runner.request_stop()
    thread.join(timeout=60)
    assert result == [0]


def test_the_memory_restart_leaves_with_75_for_the_failure_actions(
    tmp_path: Path, program_data: Path
) -> None:
    runner, _ = _runner(_config(tmp_path), code=RESTART_EXIT)
    assert runner.run() == RESTART_EXIT
    assert "restarting (memory limit)" in winservice.log_path().read_text(encoding="utf-8")


def test_a_loop_that_ends_by_itself_is_a_failure_the_scm_restarts(tmp_path: Path, program_data: Path) -> None:
    """Not enrolled yet (the real agent loop): the service ends with 2, not 0, so the SCM's
    failure actions keep trying and the agent runs once an admin has enrolled the PC."""
    runner = ServiceRunner(_config(tmp_path))
    assert runner.run() == EXIT_NOT_ENROLLED
    assert "exit code 2" in winservice.log_path().read_text(encoding="utf-8")


def test_a_broken_config_is_logged_in_the_service_log(tmp_path: Path, program_data: Path) -> None:
    """The log file is opened before the config is read: a service with no console that
    cannot start says why in %ProgramData%\\Watchpost\\logs\\agent.log."""
    runner = ServiceRunner(tmp_path / "missing.toml")
    assert runner.run() == winservice.FAILED_EXIT
    assert winservice.log_path() == program_data / "Watchpost" / "logs" / "agent.log"
    log = winservice.log_path().read_text(encoding="utf-8")
    assert "the agent service failed" in log and "no config file at" in log


def test_stop_children_ends_a_whole_process_tree(tmp_path: Path) -> None:
    """The probe child and what it started (PowerShell, WMI helpers) end on a stop."""
    middle = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            "print(child.pid, flush=True)\n"
            "child.wait()\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert middle.stdout is not None
    grandchild = psutil.Process(int(middle.stdout.readline()))
    assert stop_children(psutil.Process(middle.pid)) == 1
    grandchild.wait(timeout=60)  # returns once it has ended (a safety net, not a timing)
    assert not grandchild.is_running()
    assert middle.wait(timeout=60) == 0  # its own child ended, so it finished normally


def test_a_stop_during_a_collection_ends_the_probe_child_and_the_service(tmp_path: Path) -> None:
    """The service process (here: a Python process running ServiceRunner) is asked to stop while
    its probe child is busy for ten minutes: the child is killed, and so is one that starts
    just after the stop, and the service ends with 0 at once instead of after the collection's
    wall-clock timeout (minutes, during which an upgrade or a shutdown would wait)."""
    script = f"""
import json, subprocess, sys, threading
from pathlib import Path
import psutil
from agent.winservice import ServiceRunner

class Collecting:
    def __init__(self, stop):
        self.stop = stop
    def run(self):
        # A collection is under way when the stop comes, and another one starts just after it
        # (the loop had looked at the stop event before): both children must end.
        for _ in range(2):
            subprocess.run([sys.executable, "-c", "import time; time.sleep(600)"], capture_output=True)
        return 0

runner = ServiceRunner(Path({str(tmp_path / "agent.toml")!r}), make_agent=lambda s, stop: Collecting(stop))
result = []
thread = threading.Thread(target=lambda: result.append(runner.run()), daemon=True)
thread.start()
me = psutil.Process()
while not me.children():
    threading.Event().wait(0.02)
child = me.children()[0].pid
runner.request_stop()
thread.join(timeout=60)
print(json.dumps({{"result": result, "child": child, "alive": thread.is_alive(), "left": len(me.children())}}))
"""
    _config(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"PROGRAMDATA": str(tmp_path / "ProgramData"), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["result"] == [0] and not answer["alive"] and answer["left"] == 0
    assert not psutil.pid_exists(answer["child"])
    log = (tmp_path / "ProgramData" / "Watchpost" / "logs" / "agent.log").read_text(encoding="utf-8")
    assert log.count("stop requested: ended 1 probe process") == 2, log


# -- the pywin32 side, with the Windows-only modules faked ------------------------------------


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []


@pytest.fixture
def pywin32(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    """servicemanager, win32service and win32serviceutil as far as agent/winservice.py uses
    them (they exist only on Windows)."""
    seen = _Recorder()

    class ServiceFramework:
        def __init__(self, args: Any) -> None:
            seen.calls.append(("ServiceFramework", args))

        def ReportServiceStatus(self, status: int, waitHint: int = 5000) -> None:
            seen.calls.append(("ReportServiceStatus", (status, waitHint)))

    class DispatcherError(Exception):
        def __init__(self, winerror: int) -> None:
            super().__init__(winerror, "StartServiceCtrlDispatcher")
            self.winerror = winerror

    servicemanager = types.ModuleType("servicemanager")
    servicemanager.Initialize = lambda *a: seen.calls.append(("Initialize", a))  # type: ignore[attr-defined]
    servicemanager.PrepareToHostSingle = lambda klass: seen.calls.append(("PrepareToHostSingle", klass))  # type: ignore[attr-defined]
    servicemanager.LogErrorMsg = lambda msg: seen.calls.append(("LogErrorMsg", msg))  # type: ignore[attr-defined]
    servicemanager.dispatcher_error = 1063  # type: ignore[attr-defined]

    def dispatch() -> None:
        raise DispatcherError(servicemanager.dispatcher_error)  # type: ignore[attr-defined]

    servicemanager.StartServiceCtrlDispatcher = dispatch  # type: ignore[attr-defined]
    win32service = types.ModuleType("win32service")
    win32service.SERVICE_STOP_PENDING = 3  # type: ignore[attr-defined]
    win32serviceutil = types.ModuleType("win32serviceutil")
    win32serviceutil.ServiceFramework = ServiceFramework  # type: ignore[attr-defined]
    for module in (servicemanager, win32service, win32serviceutil):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(sys, "platform", "win32")
    return seen


def _prepared_class(seen: _Recorder) -> Any:
    return next(arg for name, arg in seen.calls if name == "PrepareToHostSingle")


def test_service_host_started_by_hand_says_so_with_its_own_exit_code(
    pywin32: _Recorder, tmp_path: Path
) -> None:
    """The build's smoke test runs service-host outside the SCM: StartServiceCtrlDispatcher
    fails with 1063 once servicemanager and pywin32's DLLs have loaded; that is exit 3, not a
    traceback (which a missing DLL would give)."""
    assert winservice.host_service(tmp_path / "agent.toml") == NOT_UNDER_SCM
    assert [name for name, _ in pywin32.calls] == ["Initialize", "PrepareToHostSingle"]
    sys.modules["servicemanager"].dispatcher_error = 5  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="StartServiceCtrlDispatcher"):
        winservice.host_service(tmp_path / "agent.toml")


def test_the_service_class_stops_and_shuts_down_through_the_runner(
    pywin32: _Recorder, tmp_path: Path
) -> None:
    winservice.host_service(tmp_path / "agent.toml")
    service_class = _prepared_class(pywin32)
    assert service_class._svc_name_ == SERVICE_NAME
    # pywin32 accepts SERVICE_CONTROL_SHUTDOWN when the class has SvcShutdown (GetAcceptedControls).
    assert callable(getattr(service_class, "SvcShutdown", None))
    service = service_class((SERVICE_NAME,))
    assert service.runner.config_path == tmp_path / "agent.toml"
    service.SvcShutdown()
    assert ("ReportServiceStatus", (3, 30_000)) in pywin32.calls
    assert service.runner.stop.is_set()
    service.runner.finished.set()  # as when SvcDoRun returns


@pytest.mark.parametrize("code", [0, RESTART_EXIT, 1, EXIT_NOT_ENROLLED])
def test_the_service_process_exits_with_the_runners_code_except_after_a_stop(
    pywin32: _Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """0 returns to pywin32, which reports SERVICE_STOPPED; anything else ends the process
    without that report, so the SCM's failure actions (sc.exe failure) start a fresh one."""
    winservice.host_service(tmp_path / "agent.toml")
    service = _prepared_class(pywin32)((SERVICE_NAME,))
    monkeypatch.setattr(service.runner, "run", lambda: code)
    exits: list[int] = []
    monkeypatch.setattr(winservice, "_exit_process", exits.append)
    service.SvcDoRun()
    assert exits == ([] if code == 0 else [code])
    assert any(name == "LogErrorMsg" for name, _ in pywin32.calls) == (code != 0)
