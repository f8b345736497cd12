"""The agent as a Windows service (pywin32 ServiceFramework; issue 8, service integration).

`watchpost-agent.exe --config <agent.toml> service-host` is the service's command line:
the Service Control Manager (SCM) starts it, it runs the same loop as `watchpost-agent run`
(agent.runtime.service.AgentService) and stops when the SCM asks. deploy/windows/
install-agent.ps1 registers it (`sc.exe create WatchpostAgent ... start= delayed-auto`) with
failure actions, so that a crash, or the agent's own restart above its memory limit (exit 75),
gets a fresh process from the SCM.

How the process ends, and what the SCM then does:

- a stop (or shutdown) from the SCM: the loop's stop event is set and the probe child, if
  one runs, is killed (its Job object ends whatever it started, agent/runtime/winjob.py), so
  the service stops within seconds instead of after the collection's wall-clock timeout; the
  spool survives a killed writer by design. SvcDoRun returns, pywin32 reports SERVICE_STOPPED.
- the memory restart (75), a failure to start (1), or the agent loop ending on its own (its
  exit code, e.g. 2 when not enrolled): the process exits with that code without reporting
  SERVICE_STOPPED; the SCM counts it as a failure and runs the failure actions (restart).
  Never after a stop was asked: the SCM would restart a service being stopped or uninstalled.

The process has no console: everything goes to ``%ProgramData%\\Watchpost\\logs\\agent.log``
(rotated, 5 x 2 MB; never a secret, as everywhere in the agent), opened before the config is
read so that a broken config is logged too. The logic is in `ServiceRunner`, which needs no
pywin32 (tests/agent/test_winservice.py runs it on Linux); the ServiceFramework subclass only
wires it to the SCM.

The frozen bundle (deploy/windows/build-bundle.ps1, PyInstaller >= 6) finds pywin32's
pywintypes311.dll and pythoncom311.dll by itself: PyInstaller's loader adds
``_internal\\pywin32_system32`` to the DLL search path before the first import. The classic
error 1053 of pywin32 services (pythonservice.exe in a virtualenv, whose DLLs are not on
SYSTEM's PATH) does not arise; `service-host` started by hand proves that servicemanager
loaded and exits `NOT_UNDER_SCM` (the build's smoke test runs it with a bare system PATH).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import psutil

    from agent.settings import AgentSettings

__all__ = [
    "NOT_UNDER_SCM",
    "RESTART_EXIT",
    "SERVICE_NAME",
    "ServiceRunner",
    "host_service",
    "log_path",
    "stop_children",
]

SERVICE_NAME = "WatchpostAgent"
DISPLAY_NAME = "Watchpost Agent"
DESCRIPTION = "Watchpost network-security monitoring agent: inventories this PC and reports to the collector."
RESTART_EXIT = 75  # EX_TEMPFAIL, as agent.runtime.service.restart_self returns on Windows
FAILED_EXIT = 1
NOT_UNDER_SCM = 3  # service-host run by hand: pywin32 loaded, but no SCM to talk to
_ERROR_FAILED_SERVICE_CONTROLLER_CONNECT = 1063

log = logging.getLogger("watchpost.agent")


def log_path() -> Path:
    return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Watchpost" / "logs" / "agent.log"


def _file_logging(level: str) -> None:
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


def stop_children(parent: psutil.Process | None = None) -> int:
    """Kill every process started by ``parent`` (default: this one), grandchildren included;
    returns how many were found. Used on a stop: the probe child would otherwise finish its
    collection first, which may take up to its wall-clock timeout (minutes)."""
    import psutil

    try:
        root = parent or psutil.Process()
        children = root.children(recursive=True)
    except psutil.Error:
        return 0
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass  # already gone
    return len(children)


class _Agent(Protocol):
    def run(self) -> int: ...


def _agent_service(settings: AgentSettings, stop: threading.Event) -> _Agent:
    from agent.runtime.service import AgentService

    return AgentService(settings, stop=stop)


class ServiceRunner:
    """The service's work, independent of pywin32: `run` on the service thread, `request_stop`
    from the SCM's control handler (another thread, at any moment, also before `run`)."""

    def __init__(
        self,
        config_path: Path,
        make_agent: Callable[[AgentSettings, threading.Event], _Agent] = _agent_service,
    ) -> None:
        self.config_path = config_path
        self.stop = threading.Event()  # shared with the agent loop: no window in which a stop is lost
        self.finished = threading.Event()
        self._make_agent = make_agent

    def request_stop(self) -> None:
        """Returns at once (the SCM's control handler must); the probe children are ended by a
        helper thread, again each second while the loop winds down, because a collection may
        start between the loop's last look at the stop event and the stop."""
        self.stop.set()
        threading.Thread(target=self._end_children, name="stop-children", daemon=True).start()

    def _end_children(self, rounds: int = 30) -> None:
        for _ in range(rounds):
            killed = stop_children()
            if killed:
                log.info("stop requested: ended %d probe process(es)", killed)
            if self.finished.wait(1.0):
                return

    def run(self) -> int:
        """Run the agent until stopped; returns the exit code the process should end with
        (0 only for a stop the SCM asked for)."""
        try:
            return self._run()
        finally:
            self.finished.set()

    def _run(self) -> int:
        from agent.settings import load_settings

        try:
            _file_logging("info")
        except OSError:
            pass  # no log file (disk full, ACL): the agent still runs
        try:
            settings = load_settings(self.config_path)
            logging.getLogger().setLevel(getattr(logging, settings.log_level.upper(), logging.INFO))
            log.info("%s started, reporting to %s", SERVICE_NAME, settings.server_url)
            code = self._make_agent(settings, self.stop).run()
        except Exception:
            log.exception("the agent service failed")
            code = FAILED_EXIT
        if self.stop.is_set():
            log.info("stopped")
            return 0
        if code == RESTART_EXIT:
            log.info("restarting (memory limit): the service manager starts a fresh process")
        else:
            log.error("the agent loop ended with exit code %d; the service manager restarts it", code)
        return code or FAILED_EXIT


def _exit_process(code: int) -> None:
    logging.shutdown()
    os._exit(code)  # no SERVICE_STOPPED report: the SCM's failure actions start a fresh process


def _service_class(config_path: Path) -> Any:
    import servicemanager
    import win32service
    import win32serviceutil

    class WatchpostAgentService(win32serviceutil.ServiceFramework):  # type: ignore[misc, unused-ignore]
        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = DISPLAY_NAME
        _svc_description_ = DESCRIPTION

        def __init__(self, args: Any) -> None:
            super().__init__(args)
            self.runner = ServiceRunner(config_path)

        def SvcStop(self) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING, waitHint=30_000)
            self.runner.request_stop()

        def SvcShutdown(self) -> None:
            # Accepting SERVICE_CONTROL_SHUTDOWN (pywin32 does when this method exists) closes
            # the spool cleanly at shutdown instead of the process being terminated.
            self.SvcStop()

        def SvcDoRun(self) -> None:
            code = self.runner.run()
            if code != 0:
                try:
                    servicemanager.LogErrorMsg(f"{SERVICE_NAME}: exit {code}, see {log_path()}")
                except Exception:  # the event log is a courtesy; the restart is what matters
                    log.exception("could not write to the event log")
                _exit_process(code)

    return WatchpostAgentService


def host_service(config_path: Path) -> int:
    """Hand this process to the SCM. Returns only when the service has stopped, or at once
    with NOT_UNDER_SCM when run by hand (which proves that pywin32 and its DLLs load)."""
    if sys.platform != "win32":
        print("error: service-host runs only as a Windows service; on Linux use systemd", file=sys.stderr)
        return 2
    try:
        import servicemanager
    except ImportError as exc:
        print(f"error: pywin32 cannot be loaded in this agent build: {exc}", file=sys.stderr)
        return 2
    servicemanager.Initialize()
    servicemanager.PrepareToHostSingle(_service_class(config_path))
    try:
        servicemanager.StartServiceCtrlDispatcher()
    except Exception as exc:  # pywintypes.error; its module is not imported here
        if getattr(exc, "winerror", None) != _ERROR_FAILED_SERVICE_CONTROLLER_CONNECT:
            raise
        print(
            "service-host: pywin32 loaded; this command is started by the Service Control "
            f"Manager (service {SERVICE_NAME}), not by hand",
            file=sys.stderr,
        )
        return NOT_UNDER_SCM
    return 0
