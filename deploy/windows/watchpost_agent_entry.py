"""PyInstaller entry point of the self-contained Windows agent (deploy/windows/build-bundle.ps1).

The executable is the whole CLI: `watchpost-agent.exe enroll|scan|status|...`, and
`watchpost-agent.exe service-host` when the Service Control Manager starts it.
"""

import sys

from agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
