"""A real collector for benchmarks: initialised, with an enrollment secret, serving on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class BenchCollector:
    url: str
    secret: str
    credentials: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_collector(
    workdir: Path, database_url: str = "", unit: str = "341000-JSZ"
) -> Iterator[BenchCollector]:
    env = {**os.environ, "WATCHPOST_DATABASE_URL": database_url or f"sqlite:///{workdir}/bench.sqlite3"}
    collector = str(BIN / "watchpost-collector")
    credentials = workdir / "creds"
    subprocess.run(
        [collector, "init", "--admin", "bench", "--credentials-file", str(credentials)],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    secret = subprocess.run(
        [collector, "enroll-secret", "create", "--unit", unit, "--quiet"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    port = free_port()
    server_log = (workdir / "collector.log").open("ab")  # kept for when a benchmark step fails
    server = subprocess.Popen(
        [collector, "serve", "--port", str(port), "--no-access-log"],
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/api/v1/health", timeout=2)  # noqa: S310 - loopback only
                break
            except OSError:
                time.sleep(0.1)
        yield BenchCollector(url, secret, credentials)
    finally:
        server.terminate()
        server.wait(timeout=30)
        server_log.close()
