"""Start the real console scripts as processes, on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.postgres import free_port

BIN = Path(sys.executable).parent


def script(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: install the project into this environment (make venv)")
    return str(path)


class _Managed:
    """A child process the tests start, stop with SIGTERM or kill with SIGKILL."""

    proc: subprocess.Popen[bytes] | None = None

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


class CollectorProcess(_Managed):
    """``watchpost-collector serve`` on loopback; with ``tls`` = (certificate chain, key, CA
    file) it speaks HTTPS itself (``--tls-cert``/``--tls-key``) and is checked against the CA."""

    def __init__(self, database_url: str, workdir: Path, tls: tuple[Path, Path, Path] | None = None) -> None:
        self.port = free_port()
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
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
        argv = [script("watchpost-collector"), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.tls:
            argv += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        verify: str | bool = str(self.tls[2]) if self.tls else True
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
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
                if httpx.get(self.url + "/api/v1/health", timeout=2, verify=verify).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        # a fixture whose start fails never reaches its teardown: leave no server behind
        self.proc.kill()
        self.proc.wait(timeout=20)
        raise RuntimeError(f"collector did not answer: {self.log.read_text()}")


class AgentProcess(_Managed):
    """A real `watchpost-agent` with its own config and data directory."""

    def __init__(self, workdir: Path, server_url: str) -> None:
        self.config = workdir / "agent.toml"
        self.data = workdir / "agent-data"
        self.server_url = server_url
        self.log = workdir / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script("watchpost-agent"), "--config", str(self.config), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def enroll(self, secret: str) -> None:
        done = self.cli(
            "enroll",
            "--server",
            self.server_url,
            "--secret",
            "-",
            "--insecure-http",
            "--data-dir",
            str(self.data),
            stdin=secret,
        )
        if done.returncode != 0:
            raise RuntimeError(f"enroll failed: {done.stderr}")

    def start(self) -> None:
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [script("watchpost-agent"), "--config", str(self.config), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def status(self) -> dict[str, Any]:
        done = self.cli("status", "--json")
        return json.loads(done.stdout) if done.returncode == 0 else {}


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
