#!/usr/bin/env python3
"""Benchmark: collector ingest rate and host-list latency with many hosts. Prints JSON.

Starts a real `watchpost-collector serve` on 127.0.0.1 (SQLite in a temporary
directory by default, or --database-url), enrolls --hosts agents, sends one full
report per host (a real scan of this machine, varied per host) from --clients
concurrent clients, then a delta per host, and times GET /api/v1/hosts.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _collector import running_collector

from agent.host import HostContext
from agent.scan import build_report, scan_sections


def call(
    url: str, body: Any = None, token: str | None = None, method: str | None = None, compress: bool = True
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    if data is not None and compress:
        data = gzip.compress(data)
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))  # noqa: S310
    request.add_header("Content-Type", "application/json")
    if data is not None and compress:
        request.add_header("Content-Encoding", "gzip")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - loopback only
        return json.loads(answer.read() or b"null")


def host_sections(base: dict[str, Any], index: int) -> dict[str, Any]:
    sections = json.loads(json.dumps(base))
    sections["os"]["data"]["hostname"] = f"bench-pc-{index:05d}"
    for iface in sections["network"]["data"]["interfaces"]:
        for n, addr in enumerate(iface["addresses"]):
            if "." in addr["address"] and not addr["address"].startswith("127."):
                addr["address"] = f"198.18.{index // 250}.{index % 250 + 1 + n}"
    from wire import content_hash

    for result in sections.values():
        result["content_hash"] = content_hash(result["data"])
    return sections


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as tmp,
        running_collector(Path(tmp), args.database_url, "341021") as rig,
    ):
        base, secret = rig.url, rig.secret
        scanned = scan_sections(HostContext())

        def enroll(i: int) -> tuple[uuid.UUID, str]:
            agent_id = uuid.uuid4()
            answer = call(
                base + "/api/v1/enroll",
                {
                    "enroll_secret": secret,
                    "agent_id": str(agent_id),
                    "agent_version": "bench",
                    "hostname": f"bench-pc-{i:05d}",
                    "os_family": "linux",
                },
            )
            return agent_id, answer["node_key"]

        with ThreadPoolExecutor(args.clients) as pool:
            started = time.perf_counter()
            agents = list(pool.map(enroll, range(args.hosts)))
            enroll_seconds = time.perf_counter() - started

            reports = []
            for i, (agent_id, _key) in enumerate(agents):
                reports.append(build_report(agent_id, host_sections(scanned, i)).model_dump(mode="json"))
            sizes = [len(gzip.compress(json.dumps(r).encode())) for r in reports]

            def send(pair: tuple[dict[str, Any], str]) -> float:
                t0 = time.perf_counter()
                call(base + "/api/v1/reports", pair[0], pair[1])
                return time.perf_counter() - t0

            started = time.perf_counter()
            latencies = list(pool.map(send, zip(reports, [k for _a, k in agents], strict=True)))
            full_seconds = time.perf_counter() - started

            deltas = [
                build_report(
                    a,
                    host_sections(scanned, i),
                    acked={n: r["content_hash"] for n, r in host_sections(scanned, i).items()},
                ).model_dump(mode="json")
                for i, (a, _k) in enumerate(agents)
            ]
            started = time.perf_counter()
            list(pool.map(send, zip(deltas, [k for _a, k in agents], strict=True)))
            delta_seconds = time.perf_counter() - started

        username, password = rig.credentials.read_text().split()
        token = call(
            base + "/api/v1/auth/login", {"username": username, "password": password}, compress=False
        )["token"]
        list_times = []
        for _ in range(5):
            t0 = time.perf_counter()
            total = call(base + "/api/v1/hosts", token=token)["total"]
            list_times.append(time.perf_counter() - t0)
        assert total == args.hosts, total

    print(
        json.dumps(
            {
                "benchmark": "collector_ingest",
                "database": (args.database_url or "sqlite").split(":", 1)[0].split("+")[0],
                "hosts": args.hosts,
                "clients": args.clients,
                "enroll_per_second": round(args.hosts / enroll_seconds, 1),
                "full_reports_per_second": round(args.hosts / full_seconds, 1),
                "full_report_latency_ms_median": round(statistics.median(latencies) * 1000, 1),
                "full_report_latency_ms_p95": round(
                    sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1000, 1
                ),
                "delta_reports_per_second": round(args.hosts / delta_seconds, 1),
                "full_report_gzip_bytes_median": int(statistics.median(sizes)),
                "host_list_all_ms_median": round(statistics.median(list_times) * 1000, 1),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
