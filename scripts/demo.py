#!/usr/bin/env python3
"""`make demo`: the collector and a local agent on this machine, on 127.0.0.1.

1. initialise (or reuse) the SQLite database under var/, with the organisation tree
   and a city admin whose generated password is printed once and kept in
   var/demo-credentials (mode 0600, "username password");
2. start the collector on 127.0.0.1:PORT;
3. enroll a local agent into the computing station (计算站) unless it is enrolled;
4. run the agent's service loop, which sends a real scan of this machine at once;
5. print the URL, and wait. Ctrl-C stops the agent and the collector cleanly.

Run it again and it reuses the database, the admin and the agent's enrollment.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
BIN = Path(sys.executable).parent
CREDENTIALS = VAR / "demo-credentials"
AGENT_DIR = VAR / "demo-agent"
AGENT_CONFIG = AGENT_DIR / "agent.toml"
ADMIN = "admin"
UNIT = "341000-JSZ"


def step(message: str) -> None:
    print(f"\033[1m==>\033[0m {message}", flush=True)


def run(*argv: str, input_text: str | None = None) -> str:
    result = subprocess.run(
        list(argv), capture_output=True, text=True, input=input_text, timeout=300, cwd=ROOT, check=False
    )
    if result.returncode != 0:
        sys.exit(
            f"demo: {Path(argv[0]).name} {' '.join(argv[1:3])} failed:\n{result.stderr or result.stdout}"
        )
    return result.stdout


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_json(url: str, body: dict[str, str] | None = None, token: str | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback URL we built
        return json.loads(answer.read())


def wait_for_health(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("demo: the collector exited at start-up; see its messages above")
        try:
            http_json(url + "/api/v1/health")
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    sys.exit("demo: the collector did not answer within a minute")


def enroll(collector: str, url: str) -> None:
    secret = run(
        collector,
        "enroll-secret",
        "create",
        "--unit",
        UNIT,
        "--max-uses",
        "1",
        "--expires-days",
        "1",
        "--label",
        "make demo",
        "--quiet",
    ).strip()
    out = run(
        str(BIN / "watchpost-agent"),
        "--config",
        str(AGENT_CONFIG),
        "enroll",
        "--server",
        url,
        "--secret",
        "-",
        "--insecure-http",
        "--data-dir",
        str(AGENT_DIR / "data"),
        input_text=secret,
    )
    print("    " + out.strip())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8080")))
    args = parser.parse_args()
    # Ctrl-C must work even when started from a shell that ignores SIGINT in background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    url = f"http://127.0.0.1:{args.port}"
    collector = str(BIN / "watchpost-collector")
    os.environ.setdefault("WATCHPOST_DATABASE_URL", f"sqlite:///{VAR / 'watchpost.sqlite3'}")
    VAR.mkdir(exist_ok=True)

    if port_in_use(args.port):
        sys.exit(
            f"demo: something already listens on 127.0.0.1:{args.port}; stop it or use "
            f"'make demo DEMO_PORT=8081'"
        )

    step(f"database {os.environ['WATCHPOST_DATABASE_URL']}")
    init_args = ["init"]
    if not CREDENTIALS.exists():
        init_args += ["--admin", ADMIN, "--credentials-file", str(CREDENTIALS)]
    print("    " + run(collector, *init_args).strip().replace("\n", "\n    "))

    step(f"starting the collector on {url}")
    procs: list[subprocess.Popen[bytes]] = []
    server = subprocess.Popen(
        [collector, "serve", "--host", "127.0.0.1", "--port", str(args.port), "--no-access-log"],
        cwd=ROOT,
        start_new_session=True,
    )
    procs.append(server)

    def stop_all(*_: object) -> None:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    try:
        wait_for_health(url, server)
        if not (AGENT_DIR / "data" / "node.key").exists():
            step(f"enrolling this machine into unit {UNIT} (计算站)")
            enroll(collector, url)
        step("starting the agent: it sends a scan of this machine now, then every hour")
        once = subprocess.run(
            [str(BIN / "watchpost-agent"), "--config", str(AGENT_CONFIG), "run", "--once"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if once.returncode == 3:  # the collector forgot us (database deleted): enroll again
            step("the collector does not know this agent's key; enrolling again")
            enroll(collector, url)
        agent = subprocess.Popen(
            [str(BIN / "watchpost-agent"), "--config", str(AGENT_CONFIG), "run"],
            cwd=ROOT,
            start_new_session=True,
        )
        procs.append(agent)

        username, password = CREDENTIALS.read_text().split()
        token = str(
            http_json(url + "/api/v1/auth/login", {"username": username, "password": password})["token"]
        )  # type: ignore[index]
        deadline = time.monotonic() + 60
        mine = []
        while time.monotonic() < deadline and not mine:
            hosts = http_json(url + "/api/v1/hosts", token=token)["items"]  # type: ignore[index]
            mine = [
                h for h in hosts if h["hostname"] == socket.gethostname().split(".")[0] and h["last_seen"]
            ]
            time.sleep(0.5)
        if mine:
            h = mine[0]
            ips = ", ".join(a for a in h["ip_addresses"] if not a.startswith("fe80")) or "-"
            print(
                f"    {h['hostname']} in {h['unit_name']} ({h['unit_code']}): {h['os_name']}, "
                f"{(h['memory_bytes'] or 0) / 2**30:.1f} GiB, {ips}"
            )
        print()
        print(f"  Open {url}/  and log in as '{username}' (password in var/demo-credentials)")
        print(f"  Admin API: {url}/api/docs     Ctrl-C stops everything.")
        print(flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        dead = [p for p in procs if p.poll() is not None]
        print(f"demo: {'collector' if server in dead else 'agent'} stopped unexpectedly", file=sys.stderr)
        stop_all()
        return 1
    except KeyboardInterrupt:
        stop_all()  # first, so that nothing is left running even if the terminal is gone
        try:
            print()
            step("stopped the agent and the collector")
        except OSError:
            pass
        return 0
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
