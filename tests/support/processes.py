"""Start the real console scripts as processes, on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.postgres import free_port

BIN = Path(sys.executable).parent


def script(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: install the project into this environment (make venv)")
    return str(path)


class CollectorProcess:
    def __init__(self, database_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "WATCHPOST_DATABASE_URL": database_url}
        self.workdir = workdir
        self.log = workdir / "collector.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [script("watchpost-collector"), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"watchpost-collector {' '.join(args)}: {result.stderr}")
        return result.stdout

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [script("watchpost-collector"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"collector did not answer: {self.log.read_text()}")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
