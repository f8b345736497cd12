"""PyInstaller entry point of the self-contained Windows agent (deploy/windows/build-bundle.ps1).

The executable is the whole CLI: `watchpost-agent.exe enroll|scan|status|...`, and
`watchpost-agent.exe --config <agent.toml> service-host` when the Service Control Manager
starts it (agent/winservice.py).

multiprocessing.freeze_support() comes first: a worker process of the VPN hash audit
(agent/vpn/hashaudit.py, a "spawn" pool) is this same executable started with
`--multiprocessing-fork`; freeze_support runs the worker's task and exits, where the CLI
would refuse the unknown option and the pool would break.
"""

import multiprocessing
import sys

from agent.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
