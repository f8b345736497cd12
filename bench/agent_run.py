#!/usr/bin/env python3
"""Benchmark: the agent as a service. Prints JSON.

Runs a real collector (SQLite, temporary) and a real `watchpost-agent run` with the default
configuration for --minutes (10 by default), sampling the agent's resident memory and CPU
time every few seconds. Reports steady-state RSS (median after the first minute), peak RSS,
average CPU as a percentage of one core, and the bytes a host sends: an unchanged delta,
a full report (both gzipped, as sent), and an estimate per host per day with the default
intervals.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _collector import BIN, running_collector

from agent.host import HostContext
from agent.scan import build_report, scan_sections, section_hashes
from wire import AgentConfig

HTTP_OVERHEAD = 450  # request line, headers and the JSON acknowledgement, measured order of magnitude


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    args = parser.parse_args()

    sections = scan_sections(HostContext())
    full = build_report(__import__("uuid").uuid4(), sections)
    delta = build_report(full.agent_id, sections, acked=section_hashes(sections))
    full_gz = len(gzip.compress(full.model_dump_json().encode(), 6))
    delta_gz = len(gzip.compress(delta.model_dump_json().encode(), 6))
    config = AgentConfig()
    per_day = (
        (86400 / config.heartbeat_seconds) * (delta_gz + HTTP_OVERHEAD)
        + (24 / config.full_report_hours) * (full_gz + HTTP_OVERHEAD)
        + (86400 / config.config_poll_seconds) * HTTP_OVERHEAD
    )

    with tempfile.TemporaryDirectory() as tmp, running_collector(Path(tmp)) as rig:
        agent_cmd = [str(BIN / "watchpost-agent"), "--config", f"{tmp}/agent.toml"]
        subprocess.run(
            [
                *agent_cmd,
                "enroll",
                "--server",
                rig.url,
                "--secret",
                "-",
                "--insecure-http",
                "--data-dir",
                f"{tmp}/data",
            ],
            input=rig.secret,
            text=True,
            check=True,
            capture_output=True,
            timeout=60,
        )
        agent = subprocess.Popen([*agent_cmd, "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc = psutil.Process(agent.pid)
        started = time.monotonic()
        samples: list[tuple[float, int, float]] = []
        try:
            while time.monotonic() - started < args.minutes * 60:
                times = proc.cpu_times()
                samples.append(
                    (time.monotonic() - started, proc.memory_info().rss, times.user + times.system)
                )
                time.sleep(args.sample_seconds)
        finally:
            agent.terminate()
            agent.wait(timeout=30)

    steady = [rss for t, rss, _cpu in samples if t >= 60] or [rss for _t, rss, _cpu in samples]
    elapsed = samples[-1][0] - samples[0][0] if len(samples) > 1 else 1.0
    cpu_used = samples[-1][2] - samples[0][2] if len(samples) > 1 else 0.0
    print(
        json.dumps(
            {
                "benchmark": "agent_run",
                "minutes": args.minutes,
                "samples": len(samples),
                "rss_mib_steady_median": round(statistics.median(steady) / 2**20, 1),
                "rss_mib_peak": round(max(rss for _t, rss, _c in samples) / 2**20, 1),
                "cpu_percent_of_one_core": round(100 * cpu_used / elapsed, 3),
                "cpu_seconds_first_sample": round(samples[0][2], 2),
                "full_report_gzip_bytes": full_gz,
                "unchanged_delta_gzip_bytes": delta_gz,
                "estimated_bytes_per_host_per_day": int(per_day),
                "targets": {"rss_mib": 35, "cpu_percent": 1.0},
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
