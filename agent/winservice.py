"""The agent as a Windows service (pywin32 ServiceFramework).

`watchpost-agent.exe service-host` is the service's command line: the Service Control
Manager starts it, it runs the same loop as `watchpost-agent run`
(agent.runtime.service.AgentService) and stops when the SCM asks. deploy/windows/
install-agent.ps1 registers it (`sc.exe create WatchpostAgent ... start= delayed-auto`)
with failure actions, so that when the agent restarts itself above its memory limit
(exit 75, see AgentService) or crashes, the SCM starts it again.

The service has no console: it logs to ``%ProgramData%\\Watchpost\\logs\\agent.log``
(rotated, 5 x 2 MB; never a secret, as everywhere in the agent).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["SERVICE_NAME", "host_service", "log_path"]

SERVICE_NAME = "WatchpostAgent"
DISPLAY_NAME = "Watchpost Agent"
DESCRIPTION = "Watchpost network-security monitoring agent: inventories this PC and reports to the collector."
RESTART_EXIT = 75


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
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


def _service_class(config_path: Path) -> Any:
    import servicemanager
    import win32event
    import win32service
    import win32serviceutil

    from agent.runtime.service import AgentService
    from agent.settings import load_settings

    class WatchpostAgentService(win32serviceutil.ServiceFramework):  # type: ignore[misc, unused-ignore]
        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = DISPLAY_NAME
        _svc_description_ = DESCRIPTION

        def __init__(self, args: Any) -> None:
            super().__init__(args)
            self.agent: AgentService | None = None
            self.stopped = win32event.CreateEvent(None, 0, 0, None)

        def SvcStop(self) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
            if self.agent is not None:
                self.agent.stop.set()
            win32event.SetEvent(self.stopped)

        def SvcDoRun(self) -> None:
            log = logging.getLogger("watchpost.agent")
            try:
                settings = load_settings(config_path)
                _file_logging(settings.log_level)
                servicemanager.LogInfoMsg(f"{SERVICE_NAME}: started, reporting to {settings.server_url}")
                self.agent = AgentService(settings)
                code = self.agent.run()
            except Exception:
                log.exception("the agent service failed")
                servicemanager.LogErrorMsg(f"{SERVICE_NAME}: failed, see {log_path()}")
                os._exit(1)  # not a clean stop: the SCM's failure actions restart us
            if code == RESTART_EXIT:
                log.info("restarting (memory limit): the service manager starts a fresh process")
                logging.shutdown()
                os._exit(RESTART_EXIT)
            log.info("stopped")

    return WatchpostAgentService


def host_service(config_path: Path) -> int:
    """Hand this process to the Service Control Manager (only when started by it)."""
    if sys.platform != "win32":
        print("error: service-host runs only as a Windows service; on Linux use systemd", file=sys.stderr)
        return 2
    try:
        import servicemanager
    except ImportError:
        print("error: pywin32 is missing from this agent build", file=sys.stderr)
        return 2
    servicemanager.Initialize()
    servicemanager.PrepareToHostSingle(_service_class(config_path))
    servicemanager.StartServiceCtrlDispatcher()
    return 0
